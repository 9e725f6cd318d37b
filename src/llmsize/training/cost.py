"""The training estimate compiled for one architecture, recipe and layout, as a function of the
micro-batch b and the sequence length s::

    total(b, s) = model states + comm buffers + fixed overhead          fixed: no b, no s
                + max over the step's moments (gradients + activations)  the peak (phases.py)
                + fragmentation of that moment's activations

The model states (weights, gradients, master weights, optimizer states) and the communication
buffers depend only on the architecture, the recipe and the layout; they are computed once
(``estimate.stage_states`` is cached) and ``fixed_bytes`` reports them. The peak is piecewise: the
moment that sets it moves (the loss at short sequences and large vocabularies, a layer's backward
at long ones, the optimizer step for tiny micro-batches), and ``peak(b, s)`` says which.

``total`` runs the estimate's own walk over the moments (numbers only: no report, no trees; each
layer's saved tensors computed once), so it equals the report's ``total_bytes`` exactly. The walk
still visits every block of every layer, so an evaluation takes milliseconds rather than the
microseconds of the inference models (~2.5 ms for Llama-3.1-8B's 32 layers on a 2-core machine,
see ``benchmarks/bench_api.py``): the ≥ 100,000/s goal is not met for training. What is left is a
closed form of the walk: per layer the moments are affine in the layer index over runs of equal
layers, so only each run's ends can peak, and each term is round(per-token · b·s) with a
per-token cost affine in s.

Every term grows with b and with s, so the longest sequence and the largest micro-batch that fit
a budget are found exactly by integer bisection (``max_context``, ``max_batch`` from
``invert.Inversions``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..arch import Architecture
from ..invert import Inversions
from .estimate import (
    StageResult,
    TrainReport,
    TrainSpec,
    activation_spec,
    estimate_training,
    heaviest,
    peak_overhead,
    prepared,
    stage_inputs,
)
from .phases import StepInputs, moments
from .phases import total as moment_total


@dataclass(frozen=True)
class TrainCost(Inversions):
    """``estimate_training`` with the micro-batch and the sequence length free."""

    arch: Architecture
    spec: TrainSpec
    _prepared: TrainSpec = field(init=False, repr=False, compare=False)
    _stages: tuple[tuple[StageResult, StepInputs], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Everything but the walk over the step's moments is fixed: the model states, the
        # communication buffers and what the walk reads (``stage_inputs``), per stage.
        spec = prepared(self.arch, self.spec)
        object.__setattr__(self, "_prepared", spec)
        stages = tuple(stage_inputs(self.arch, spec, r) for r in sorted({0, spec.layout.pp - 1}))
        object.__setattr__(self, "_stages", stages)

    def report(self, batch: int | None = None, context: int | None = None) -> TrainReport:
        """The full report (breakdown tree, peak moment) at micro-batch ``batch`` and sequence
        length ``context``; the spec's own values where not given."""
        spec = replace(self.spec, micro_batch=batch or self.spec.micro_batch, seq=context or self.spec.seq)
        return estimate_training(self.arch, spec)

    def total(self, batch: int, context: int) -> int:
        """The report's ``total_bytes`` at (b, s), from the walk alone."""
        spec = replace(self._prepared, micro_batch=batch, seq=context)
        spec.check()
        results = [replace(result, moments=moments(replace(inputs, w=activation_spec(inputs.arch, spec))))
                   for result, inputs in self._stages]
        best, moment = heaviest(results)
        fixed = best.weights.value + best.optimizer_states.value + best.comm.value
        return fixed + moment_total(moment) + peak_overhead(spec, moment).value

    def peak(self, batch: int, context: int) -> tuple[str, str]:
        """(phase, moment) of the step's peak at (b, s): the piece of the piecewise function."""
        r = self.report(batch, context)
        return r.peak_phase, r.peak_where

    @property
    def fixed_bytes(self) -> int:
        """Weights, optimizer states (master weights included) and communication buffers of the
        heaviest stage, plus the overhead lines that do not scale with activations."""
        r = self.report(1, 1)
        moment_and_fragmentation = r.part("gradients") + r.part("activations") + _fragmentation(r)
        return r.total_bytes - moment_and_fragmentation


def _fragmentation(r: TrainReport) -> int:
    over = next((p for p in r.tree.parts if p.name == "overhead"), None)
    frag = over.find("fragmentation") if over else None
    return frag.value if frag else 0


def compile_training(arch: Architecture, spec: TrainSpec) -> TrainCost:
    """Fix everything in ``spec`` but the micro-batch and the sequence length (checked here)."""
    estimate_training(arch, spec)  # validates the spec against the architecture, warms the caches
    return TrainCost(arch, spec)
