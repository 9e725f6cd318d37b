"""The training estimate compiled for one architecture, recipe and layout, as a function of the
micro-batch b and the sequence length s::

    total(b, s) = model states + comm buffers + fixed overhead          fixed: no b, no s
                + max over the step's moments (gradients + activations)  the peak (phases.py)
                + fragmentation of that moment's activations

The model states (weights, gradients, master weights, optimizer states) and the communication
buffers depend only on the architecture, the recipe and the layout; they are computed once
(``estimate.stage_states`` is cached) and ``fixed_bytes`` reports them. The peak is piecewise: the
moment that sets it moves (the loss at short sequences and large vocabularies, a layer's backward
at long ones, the optimizer step for tiny micro-batches), and ``peak(b, s)`` says which. It is
evaluated by the estimate's own walk over the moments, so ``total`` equals the report's
``total_bytes`` exactly; the walk visits every layer, so an evaluation takes milliseconds
(~5 ms for Llama-3.1-8B's 32 layers, ~18 ms for 405B's 126 on a 2-core machine; see
``benchmarks/bench_api.py``), not the microseconds of the inference models.

Every term grows with b and with s, so the longest sequence and the largest micro-batch that fit
a budget are found exactly by integer bisection (``max_context``, ``max_batch`` from
``invert.Inversions``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..arch import Architecture
from ..invert import Inversions
from .estimate import TrainReport, TrainSpec, estimate_training


@dataclass(frozen=True)
class TrainCost(Inversions):
    """``estimate_training`` with the micro-batch and the sequence length free."""

    arch: Architecture
    spec: TrainSpec

    def report(self, batch: int | None = None, context: int | None = None) -> TrainReport:
        """The full report (breakdown tree, peak moment) at micro-batch ``batch`` and sequence
        length ``context``; the spec's own values where not given."""
        spec = replace(self.spec, micro_batch=batch or self.spec.micro_batch, seq=context or self.spec.seq)
        return estimate_training(self.arch, spec)

    def total(self, batch: int, context: int) -> int:
        return self.report(batch, context).total_bytes

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
