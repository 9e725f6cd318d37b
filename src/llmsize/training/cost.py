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

The walk over the moments (``phases.moments``) visits every block of every layer. Compiled, it
keeps a handful of numbers per kind of layer, and an evaluation is a few dozen integer
operations whatever the depth (≥ 100,000 per second on a 2-core machine, ``benchmarks/
bench_api.py``). With T = b·s/cp tokens per micro-batch on this GPU:

* Every term of the walk is round(p · T) with p in bytes per token, or a constant (weight
  gradients, a dequantised matrix). p does not depend on s, except for the attention kernel's
  tensors, which are affine in s: c₀ + c₁·s, one pair without and one with a sliding window's
  mask (from ``activations.mask_from`` on). The p are the very floats the walk computes, taken
  from the same functions (``layer_per_token``, ``resident_per_token``, ``block_forms``): the
  kernel's c₀ + c₁·s is exact (whole numbers of bytes times the dtype width), so round(p·T)
  equals the walk's to the byte, float rounding included.
* Layers are grouped by kind: two layers whose compiled numbers are equal (``_Layer``) give the
  same moments, less what the layers after them (in backward order) freed and plus the
  gradients they left. Within a layer the best block is the same for every layer of a kind.
* The backward visits layers from last to first; cut into segments where a pattern of kinds
  repeats (all equal; Gemma's sliding and global alternating; a dense first layer), a block's
  moment changes by the same amount each period, (gradients left − activations freed), so it
  peaks at the segment's first or last period: only those are evaluated, in walk order, and
  the first maximum wins as in ``phases.peak``.

Every term grows with b and with s, so the longest sequence and the largest micro-batch that fit
a budget are found exactly by integer bisection over the fast total (``max_context``,
``max_batch`` from ``invert.Inversions``); ``report(b, s)`` builds the full tree when someone
will read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..arch import Architecture
from ..inference.overhead import FRAGMENTATION_FRACTION, overhead
from ..invert import MAX_CONTEXT, Inversions, largest
from ..parameters import norms_per_layer
from . import activations as act
from .estimate import TrainReport, TrainSpec, estimate_training, overheads_of, prepared, stage_inputs
from .parallel import activation_split
from .phases import (
    EMBEDDING,
    HEAD,
    LOSS_BACKWARD,
    LOSS_FORWARD,
    OPTIMIZER_STEP,
    BlockForm,
    StepInputs,
    block_forms,
    block_frees,
    embedding_temporaries,
    head_buffered,
    hidden_gradient,
    logits_gradient,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# a peak's label: (phase, where) of a moment outside the layers; (layer, kind, block) in them
Label = tuple[str, str] | tuple[int, int, int]


@dataclass(frozen=True)
class _Layer:
    """One kind of layer, compiled: what it saves per token (the attention kernel as c₀ + c₁·s,
    without and with a sliding window's mask), what it keeps under full recompute, its autocast
    weight copies, the weight gradients it leaves (0 when gradients are kept in a buffer) and its
    backward blocks (``phases.block_forms``)."""

    lines: tuple[tuple[str, float], ...]  # the saved lines but attention, bytes per token
    attention_side: float
    kernel: tuple[float, float]
    kernel_masked: tuple[float, float] | None
    mask_from: int | None
    checkpoint: float | None  # bytes per token kept under full recompute, else None
    autocast: int
    grads: int
    blocks: tuple[BlockForm, ...]
    kept: bool  # gradients go to a kept buffer: a block's new ones are temporaries
    ff: str
    n_norms: int

    @property
    def steps(self) -> tuple[tuple[float, int, int, int, int], ...]:
        """Per block: temporaries per token and fixed, the gradients at its peak, those its
        activations count (kept buffers: the new ones are temporaries), those it leaves."""
        kept = self.kept
        return tuple((f.temps_per_token, f.temps_fixed, f.peak_grads, f.peak_grads if kept else 0,
                      0 if kept else f.grads) for f in self.blocks)

    def at(self, T: int, s: int, grad_h: int, steps: tuple[tuple[float, int, int, int, int], ...]  # noqa: N803
           ) -> tuple[int, int, int, int]:
        """(stored, the best block's moment less the layer's start, its activations likewise,
        the block) for T tokens of sequences of s (``phases._layer_moments``); ``steps``: ours."""
        c0, c1 = self.kernel if self.kernel_masked is None or s < (self.mask_from or 0) else self.kernel_masked
        saved = {name: round(p * T) for name, p in self.lines}
        saved["attention"] = round((self.attention_side + (c0 + c1 * s)) * T)
        value = sum(saved.values())
        stored = self.autocast + (value if self.checkpoint is None else round(self.checkpoint * T))
        run_grads = 0
        run_acts = grad_h + (0 if self.checkpoint is None else value)  # recomputed: held again
        best = best_act = best_j = -1
        frees = block_frees(saved, ff=self.ff, n_norms=self.n_norms)
        for j, (p, fixed, peak_grads, act_grads, grads) in enumerate(steps):
            temps = round(p * T) + fixed
            if run_grads + run_acts + temps + peak_grads > best:
                best, best_act, best_j = run_grads + run_acts + temps + peak_grads, run_acts + temps + act_grads, j
            run_grads += grads
            run_acts -= frees[j]
        return stored, best, best_act, best_j


def _affine(f: Callable[[int], float], what: str) -> tuple[float, float]:
    """(c₀, c₁) of a function of s that is affine, checked at a long sequence."""
    c1 = f(2) - f(1)
    c0 = f(1) - c1
    if f(1 << 20) != c0 + c1 * (1 << 20):
        raise AssertionError(f"{what} is not affine in the sequence length")
    return c0, c1


def _compile_layer(s: StepInputs, i: int) -> _Layer:
    arch, w = s.arch, s.w
    at = [replace(w, seq=n) for n in (1, 1 << 20)]
    lines = [(*((n, p) for n, p in act.layer_per_token(arch, v, i) if n != "attention"),
              ("attention side", act.attention_side_saved(arch, v, i))) for v in at]
    if lines[0] != lines[1]:
        raise AssertionError(f"layer {i}: a saved line besides attention depends on the sequence length")

    def kernel(masked: bool) -> tuple[float, float]:
        return _affine(lambda n: act.kernel_saved(arch, replace(w, seq=n), masked=masked, layer=i), "the kernel")

    start = act.mask_from(arch, i)
    grads = s.layer_grads(i)
    return _Layer(
        lines=lines[0][:-1], attention_side=act.attention_side_saved(arch, w, i), kernel=kernel(False),
        kernel_masked=kernel(True) if start is not None else None, mask_from=start,
        checkpoint=act.checkpoint_per_token(arch, w) if w.recompute == "full" else None,
        autocast=s.autocast_copies(i), grads=0 if s.grads_kept else grads["ff"] + grads["attention"],
        blocks=tuple(block_forms(arch, w, i, grads=grads)), kept=s.grads_kept, ff=act.ff_line(arch, i),
        n_norms=norms_per_layer(arch))


def _segments(kinds: list[int], longest: int = 8) -> tuple[tuple[int, tuple[int, ...], int], ...]:
    """The sequence of kinds cut into (start, pattern, repeats): greedily the pattern (up to
    ``longest``) that covers the most layers from each start."""
    out, k = [], 0
    while k < len(kinds):
        best = (1, 1)
        for p in range(1, min(longest, len(kinds) - k) + 1):
            reps = 1
            while kinds[k + reps * p:k + (reps + 1) * p] == kinds[k:k + p]:
                reps += 1
            if p * reps > best[0] * best[1]:
                best = (p, reps)
        p, reps = best
        out.append((k, tuple(kinds[k:k + p]), reps))
        k += p * reps
    return tuple(out)


@dataclass(frozen=True)
class _Stage:
    """One pipeline stage's step, compiled: its fixed bytes and every number the walk reads."""

    fixed: int  # weights + optimizer states + comm buffers
    inputs: StepInputs
    kinds: tuple[_Layer, ...]
    counts: tuple[int, ...]  # layers of each kind
    segments: tuple[tuple[int, tuple[int, ...], int], ...]  # in backward order (last layer first)
    resident: tuple[float, float, float, float]  # per token: what the first stage keeps (ids,
    #                 rotary cos and sin, embedding dropout mask), what the last (final norm, head input)
    logits_forward: float  # per token
    logits_backward: int  # per token
    head_buffered: int
    embedding_temporaries: int
    steps: tuple[tuple[tuple[float, int, int, int, int], ...], ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(k.steps for k in self.kinds))

    def moment(self, T: int, s: int) -> tuple[int, int, Label]:  # noqa: N803
        """(the peak moment's bytes, its activations, its label) at T tokens of sequences of s:
        ``phases.moments`` and ``phases.peak`` over the compiled form."""
        x, kinds = self.inputs, self.kinds
        B, kept, first, last = x.w.B, x.grads_kept, x.first, x.last  # noqa: N806
        grad_h = hidden_gradient(B, T, x.arch.d_model)
        forms = [k.at(T, s, grad_h, steps) for k, steps in zip(kinds, self.steps, strict=True)]
        held = sum([n * f[0] for n, f in zip(self.counts, forms, strict=True)])
        ids, rotary, embedding_mask, final = self.resident
        if first:
            held += round(ids * T) + round(rotary * T) + round(embedding_mask * T)
        if last:
            held += round(final * T)
        grads = x.grads_total if kept else 0
        m = round(x.in_flight * held) + (round(self.logits_forward * T) if last else 0)
        best, best_act, label = grads + m, m, ("forward", LOSS_FORWARD)
        held += round((x.in_flight - 1) * held)  # and the other micro-batches in flight
        if last:
            m = round(self.logits_backward * T)
            if grads + held + m > best:
                best, best_act, label = grads + held + m, held + m, ("backward", LOSS_BACKWARD)
            grads += 0 if kept else x.head_grads
            m = logits_gradient(B, T, x.arch) + self.head_buffered
            if grads + held + m > best:
                best, best_act, label = grads + held + m, held + m, ("backward", HEAD)
            held += self.head_buffered - round(final * T)
        top = x.layers.stop - 1
        for k0, pattern, reps in self.segments:
            freed = sum([forms[c][0] for c in pattern])
            left = sum([kinds[c].grads for c in pattern])
            for t in (0, reps - 1) if reps > 1 else (0,):
                h, g = held - t * freed, grads + t * left
                for j, c in enumerate(pattern):
                    stored, m, m_act, block = forms[c]
                    if h + g + m > best:
                        best, best_act, label = h + g + m, h + m_act, (top - k0 - t * len(pattern) - j, c, block)
                    h, g = h - stored, g + kinds[c].grads
            held, grads = held - reps * freed, grads + reps * left
        if first:
            held -= round(embedding_mask * T)
            m = self.embedding_temporaries + grad_h
            if grads + held + m > best:
                best, best_act, label = grads + held + m, held + m, ("backward", EMBEDDING)
        m = x.step_temporaries
        if x.grads_total + m > best:
            best, best_act, label = x.grads_total + m, m, ("optimizer", OPTIMIZER_STEP)
        return best, best_act, label


def _compile_stage(arch: Architecture, spec: TrainSpec, stage: int) -> _Stage:
    result, x = stage_inputs(arch, spec, stage)
    forms: list[_Layer] = []
    walk: list[int] = []
    for i in reversed(x.layers):
        form = _compile_layer(x, i)
        if form not in forms:
            forms.append(form)
        walk.append(forms.index(form))
    ids, rotary, embedding_mask, final = (p for _, p in act.resident_per_token(x.arch, x.w))
    return _Stage(
        fixed=result.weights.value + result.optimizer_states.value + result.comm.value, inputs=x,
        kinds=tuple(forms), counts=tuple(walk.count(k) for k in range(len(forms))), segments=_segments(walk),
        resident=(ids, rotary, embedding_mask, final),
        logits_forward=act.logits_forward_per_token(x.arch, x.w),
        logits_backward=act.logits_backward_per_token(x.arch), head_buffered=head_buffered(x),
        embedding_temporaries=embedding_temporaries(x))


@dataclass(frozen=True)
class TrainCost(Inversions):
    """``estimate_training`` with the micro-batch and the sequence length free."""

    arch: Architecture
    spec: TrainSpec
    _prepared: TrainSpec = field(init=False, repr=False, compare=False)
    _stages: tuple[_Stage, ...] = field(init=False, repr=False, compare=False)
    _overhead: tuple[int, bool] = field(init=False, repr=False, compare=False)
    _split: tuple[int, bool] = field(init=False, repr=False, compare=False)  # cp; s must split evenly

    def __post_init__(self) -> None:
        spec = prepared(self.arch, self.spec)
        object.__setattr__(self, "_prepared", spec)
        stages = tuple(_compile_stage(self.arch, spec, r) for r in sorted({0, spec.layout.pp - 1}))
        object.__setattr__(self, "_stages", stages)
        over = overheads_of(spec)  # fixed lines, and whether fragmentation scales (not overridden)
        object.__setattr__(self, "_overhead", (overhead(over, activation_bytes=0).value,
                                               "fragmentation" not in over.fixed))
        object.__setattr__(self, "_split", (spec.layout.cp, spec.layout.cp > 1 or spec.layout.sp))

    def report(self, batch: int | None = None, context: int | None = None) -> TrainReport:
        """The full report (breakdown tree, peak moment) at micro-batch ``batch`` and sequence
        length ``context``; the spec's own values where not given."""
        spec = replace(self.spec, micro_batch=batch or self.spec.micro_batch, seq=context or self.spec.seq)
        return estimate_training(self.arch, spec)

    def _peak(self, batch: int, context: int) -> tuple[_Stage, int, int, Label]:
        """The heaviest stage at (b, s), its peak moment's bytes and activations, and its label."""
        cp, check = self._split
        if batch < 1 or context < 1:
            replace(self._prepared, micro_batch=batch, seq=context).check()  # raises, naming it
        if check:
            activation_split(self._prepared.layout, seq_len=context)  # raises unless s splits evenly
        s = context // cp
        T = batch * s  # noqa: N806 - the tokens of the micro-batch on this GPU
        stage = self._stages[0]
        m, m_act, label = stage.moment(T, s)
        for other in self._stages[1:]:  # the first heaviest stage, as estimate.heaviest
            o_m, o_act, o_label = other.moment(T, s)
            if other.fixed + o_m > stage.fixed + m:
                stage, m, m_act, label = other, o_m, o_act, o_label
        return stage, m, m_act, label

    def total(self, batch: int, context: int) -> int:
        """The report's ``total_bytes`` at (b, s)."""
        stage, m, m_act, _ = self._peak(batch, context)
        fixed_over, scales = self._overhead
        return stage.fixed + m + fixed_over + (round(FRAGMENTATION_FRACTION * m_act) if scales else 0)

    def peak(self, batch: int, context: int) -> tuple[str, str]:
        """(phase, moment) of the step's peak at (b, s): the piece of the piecewise function."""
        stage, _, _, label = self._peak(batch, context)
        if isinstance(label[0], str):
            return label[0], str(label[1])
        layer, kind, block = label
        return "backward", f"layer {layer} {stage.kinds[kind].blocks[block].name}"

    @property
    def fixed_bytes(self) -> int:
        """Weights, optimizer states (master weights included) and communication buffers of the
        heaviest stage at (1, 1), plus the overhead lines that do not scale with activations."""
        return self._peak(1, self.min_context)[0].fixed + self._overhead[0]

    @property
    def min_context(self) -> int:
        """The shortest sequence the layout splits evenly; the others are its multiples (2·cp
        divides s with context parallelism, tp divides s/cp with sequence parallelism)."""
        layout = self._prepared.layout
        step = 2 * layout.cp if layout.cp > 1 else 1
        return next(s for s in range(step, step * layout.tp + 1, step)
                    if not layout.sp or (s // layout.cp) % layout.tp == 0)

    def max_context(self, budget_bytes: int, *, batch: int = 1, limit: int = MAX_CONTEXT) -> int | None:
        """The longest sequence the layout splits evenly (a multiple of ``min_context``) whose
        total fits ``budget_bytes``; None when not even the shortest one does."""
        step = self.min_context
        n = largest(lambda k: self.total(batch, k * step) <= budget_bytes, 1, limit // step)
        return None if n is None else n * step


def compile_training(arch: Architecture, spec: TrainSpec) -> TrainCost:
    """Fix everything in ``spec`` but the micro-batch and the sequence length (checked here)."""
    estimate_training(arch, spec)  # validates the spec against the architecture, warms the caches
    return TrainCost(arch, spec)
