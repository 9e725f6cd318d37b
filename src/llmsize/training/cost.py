"""The training estimate compiled for one architecture, recipe and layout, as a function of the
micro-batch b and the sequence length s::

    total(b, s) = model states + comm buffers + fixed overhead          fixed: no b, no s
                + max over the step's moments (gradients + activations)  the peak (phases.py)
                + fragmentation of that moment's activations

The model states (weights, gradients, master weights, optimizer states) and the communication
buffers depend only on the architecture, the recipe and the layout; they are computed once
(``states.stage_states`` is cached) and ``fixed_bytes`` reports them. The peak is piecewise: the
moment that sets it moves (the loss at short sequences and large vocabularies, a layer's backward
at long ones, the optimizer step for tiny micro-batches), and ``peak(b, s)`` says which.

The walk over the moments (``phases.moments``) visits every block of every layer: ~2 ms for
Llama-3.1-8B, 470–600 evaluations per second. Compiled, an evaluation is a few integer
polynomials whatever the depth (≥ 100,000 per second on a 2-core machine, ``benchmarks/
bench_api.py``). It is compiled in three steps, with T = b·s/cp tokens per micro-batch on this
GPU and s the tokens of one sequence on it:

1. Every term of the walk is round(p·T), p in bytes per token, or a constant (weight gradients,
   a dequantised matrix). p does not depend on s, except the attention kernel's tensors: affine
   in s, c₀ + c₁·s, one pair without and one with a sliding window's mask (from
   ``activations.mask_from`` on). The p are the floats the walk itself computes, from the same
   functions (``layer_per_token``, ``resident_per_token``, ``block_forms``); c₀ + c₁·s is exact
   (whole bytes times the dtype width), so round(p·T) is the walk's, float rounding included.
2. Layers of one kind (equal compiled numbers, ``_Layer``) give the same moments, less the
   activations the later layers freed and plus the gradients they left. The backward visits
   layers last to first; cut into segments where a pattern of kinds repeats (all equal; Gemma's
   sliding and global layers alternating; a dense first layer), a block's moment changes by
   the same amount each period, so only a segment's first and last periods can peak
   (``_Stage.candidates``, in the walk's order: the first maximum wins, as in ``phases.peak``).
3. Where every p (and the pipeline's micro-batches in flight) is a whole number, each candidate
   is exactly k + a·T + c·s·T with integers k, a, c, as long as the bytes stay below 2⁵³
   (``EXACT``): found by running the compiled walk at three (T, s) points per range of s
   between window edges (``_Piece``) and checked at two more; a candidate that another beats
   everywhere is dropped (Llama-3.1-8B keeps 9 of 17). ``total`` evaluates those and adds the
   overhead lines; elsewhere (sequence parallelism over a tp that leaves fractions, a capacity
   factor, interleaved pipelines, petabytes) the compiled walk answers, still exact. The fit
   costs about five walks, so it waits for a cost model's fifth question (``FIT_AFTER``): a
   layout search asks most layouts one.

Compiling is shared across layouts: a layer's numbers do not depend on dp or the ZeRO stage
except through its gradients' sharding, so each class of equal layers of a slice
(``estimate._layer_classes``) is compiled once per (rank architecture, micro-batch spec,
gradients) and reused by every layout that gives it the same numbers (``_layer_of``).

Every term grows with b and with s, so the longest sequence and the largest micro-batch that fit
a budget are found exactly by integer bisection over the fast total (``max_context`` steps over
the sequence lengths the layout splits evenly, ``max_batch`` from ``invert.Inversions``);
``report(b, s)`` builds the full tree when someone will read it.
"""

from __future__ import annotations

import functools
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
    from collections.abc import Callable, Iterator

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

    def at(self, T: int, s: int, grad_h: int) -> tuple[int, list[tuple[int, int]]]:  # noqa: N803
        """(stored, each block's moment and activations less the layer's start) for T tokens of
        sequences of s (``phases._layer_moments``)."""
        masked = self.kernel_masked is not None and s >= (self.mask_from or 0)
        c0, c1 = self.kernel_masked if masked and self.kernel_masked else self.kernel
        saved = {name: round(p * T) for name, p in self.lines}
        saved["attention"] = round((self.attention_side + (c0 + c1 * s)) * T)
        value = sum(saved.values())
        stored = self.autocast + (value if self.checkpoint is None else round(self.checkpoint * T))
        run_grads = 0
        run_acts = grad_h + (0 if self.checkpoint is None else value)  # recomputed: held again
        out = []
        for f, freed in zip(self.blocks, block_frees(saved, ff=self.ff, n_norms=self.n_norms), strict=True):
            temps = round(f.temps_per_token * T) + f.temps_fixed
            # into kept buffers, the block's new gradients are temporaries until added in place
            out.append((run_grads + run_acts + temps + f.peak_grads,
                        run_acts + temps + (f.peak_grads if self.kept else 0)))
            run_grads += 0 if self.kept else f.grads
            run_acts -= freed
        return stored, out

    def per_token(self) -> list[float]:
        """Every per-token factor it multiplies by T (and c₀, c₁ by s·T)."""
        kernels = [*self.kernel, *(self.kernel_masked or ())]
        return [p for _, p in self.lines] + [self.attention_side, *kernels, self.checkpoint or 0.0] \
            + [f.temps_per_token for f in self.blocks]


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
        return _affine(lambda n: act.kernel_saved(arch, replace(w, seq=n), masked=masked, layer=i),
                       "the attention kernel")

    skipped = act.skipped(arch, i)  # saves nothing (``act.layer_per_token``): no attention either
    start = None if skipped else act.mask_from(arch, i)
    grads = s.layer_grads(i)
    return _Layer(
        lines=lines[0][:-1], attention_side=0.0 if skipped else act.attention_side_saved(arch, w, i),
        kernel=(0.0, 0.0) if skipped else kernel(False),
        kernel_masked=kernel(True) if start is not None else None, mask_from=start,
        checkpoint=(0.0 if skipped else act.checkpoint_per_token(arch, w)) if w.recompute == "full" else None,
        autocast=s.autocast_copies(i), grads=0 if s.grads_kept else grads["ff"] + grads["attention"],
        blocks=tuple(block_forms(arch, w, i, grads=grads)), kept=s.grads_kept, ff=act.ff_line(arch, i),
        n_norms=norms_per_layer(arch))


@functools.lru_cache(maxsize=256)
def _segments(kinds: tuple[int, ...], longest: int = 8) -> tuple[tuple[int, tuple[int, ...], int], ...]:
    """The sequence of kinds cut into (start, pattern, repeats): greedily the pattern (up to
    ``longest``) that covers the most layers from each start (cached: a layout search meets the
    same few sequences hundreds of times)."""
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
    resident: tuple[float, ...]  # per token: what the first stage keeps (ids, rotary cos and sin,
    #   embedding dropout mask, AltUp's input side), what the last (final norm, head input, AltUp's
    #   output side; kept logits): activations.resident_per_token's lines in order
    logits_forward: float  # per token
    logits_backward: int  # per token
    head_buffered: int
    embedding_temporaries: int

    def candidates(self, T: int, s: int) -> Iterator[tuple[int, int, Label]]:  # noqa: N803
        """The moments that can be the step's peak at T tokens of sequences of s, in the walk's
        order (``phases.moments``): (bytes, activations, label). In a segment of repeated
        layers only the first and last period can peak."""
        x, kinds = self.inputs, self.kinds
        B, kept, first, last = x.w.B, x.grads_kept, x.first, x.last  # noqa: N806
        grad_h = hidden_gradient(B, T, x.arch.d_model)
        forms = [k.at(T, s, grad_h) for k in kinds]
        held = sum([n * f[0] for n, f in zip(self.counts, forms, strict=True)])
        ids, rotary, embedding_mask, altup_in, final, altup_out, logits = self.resident
        if first:
            held += round(ids * T) + round(rotary * T) + round(embedding_mask * T) + round(altup_in * T)
        if last:
            held += round(final * T) + round(altup_out * T) + round(logits * T)
        grads = x.grads_total if kept else 0
        m = round(x.in_flight * held) + (round(self.logits_forward * T) if last else 0)
        yield grads + m, m, ("forward", LOSS_FORWARD)
        held += round((x.in_flight - 1) * held)  # and the other micro-batches in flight
        if last:
            m = round(self.logits_backward * T)
            yield grads + held + m, held + m, ("backward", LOSS_BACKWARD)
            grads += 0 if kept else x.head_grads
            m = logits_gradient(B, T, x.arch, x.w.loop) + self.head_buffered
            yield grads + held + m, held + m, ("backward", HEAD)
            held += self.head_buffered - round(final * T) - round(altup_out * T)
        top = x.layers.stop - 1
        for k0, pattern, reps in self.segments:
            freed = sum([forms[c][0] for c in pattern])
            left = sum([kinds[c].grads for c in pattern])
            for t in (0, reps - 1) if reps > 1 else (0,):
                h, g = held - t * freed, grads + t * left
                for j, c in enumerate(pattern):
                    stored, blocks = forms[c]
                    layer = top - k0 - t * len(pattern) - j
                    for block, (m, m_act) in enumerate(blocks):
                        yield h + g + m, h + m_act, (layer, c, block)
                    h, g = h - stored, g + kinds[c].grads
            held, grads = held - reps * freed, grads + reps * left
        if first:
            held -= round(embedding_mask * T) + round(altup_in * T)
            m = self.embedding_temporaries + grad_h
            yield grads + held + m, held + m, ("backward", EMBEDDING)
        step = x.step_temporaries + (round(logits * T) if last else 0)  # a plain loop's logits too
        yield x.grads_total + step, step, ("optimizer", OPTIMIZER_STEP)

    def integral(self) -> bool:
        """Whether every factor of T (and of s·T) is a whole number of bytes: then each term is
        exactly an integer polynomial in T and s·T (below 2⁵³, where floats are exact)."""
        x = self.inputs
        factors = [x.in_flight, x.w.B * x.arch.vocab_size, x.w.B * x.arch.d_model, *self.resident,
                   self.logits_forward, *(f for k in self.kinds for f in k.per_token())]
        return all(float(f).is_integer() for f in factors)


_LAYERS: dict[tuple[object, ...], _Layer] = {}


def _compile_stage(arch: Architecture, spec: TrainSpec, stage: int) -> _Stage:
    result, x = stage_inputs(arch, spec, stage)
    order = list(map(x.layer_class, reversed(x.layers)))  # the walk's order: last layer first
    first = dict(zip(reversed(order), x.layers, strict=True))  # each class: the layer the walk meets first
    of_class = {c: _layer_of(x, first[c]) for c in dict.fromkeys(order)}
    forms: list[_Layer] = []
    index: dict[int, int] = {}  # id of a form -> its place in forms (classes may share one)
    for f in of_class.values():
        if id(f) not in index:
            index[id(f)] = len(forms)
            forms.append(f)
    walk = list(map({c: index[id(f)] for c, f in of_class.items()}.__getitem__, order))
    resident = tuple(p for _, p in act.resident_per_token(x.arch, x.w))
    return _Stage(
        fixed=result.weights.value + result.optimizer_states.value + result.comm.value, inputs=x,
        kinds=tuple(forms), counts=tuple(walk.count(k) for k in range(len(forms))),
        segments=_segments(tuple(walk)),
        resident=resident,
        logits_forward=act.logits_forward_per_token(x.arch, x.w),
        logits_backward=act.logits_backward_per_token(x.arch, x.w), head_buffered=head_buffered(x),
        embedding_temporaries=embedding_temporaries(x))


def _layer_of(x: StepInputs, i: int) -> _Layer:
    """Layer ``i`` compiled, shared by every layout and stage that give it equal numbers. A
    layer's numbers depend on its index only through the key (activations.py, phases.py: the
    first layer of a frozen base, the layer type and its window, MoE or dense, its gradients
    and autocast copies) besides the rank's architecture and the micro-batch's spec, so equal
    layers are compiled once (a layout search compiles hundreds of layouts of 126-layer models,
    and their layers differ mostly in the gradients' sharding)."""
    grads = x.layer_grads(i)
    key = (x.arch, x.w, x.grads_kept, i == 0, x.arch.layer_types[i], act.ff_line(x.arch, i),
           tuple(sorted(grads.items())), x.autocast_copies(i))
    form = _LAYERS.get(key)
    if form is None:
        if len(_LAYERS) > 4096:
            _LAYERS.clear()
        form = _LAYERS[key] = _compile_layer(x, i)
    return form


EXACT = 1 << 52
"""Below this many bytes every float the walk computes holds whole bytes exactly (2⁵³, halved)."""

Moment = tuple[int, int, int, int, int, int, int, Label]  # bytes k + a·T + c·s·T, activations
#                                                           likewise, the stage, the label


@dataclass(frozen=True)
class _Piece:
    """Sequences of s in [lo, hi) tokens per GPU, where every factor is whole: the moments that
    can peak there (of every stage, the stage's fixed bytes included), in the walk's order, as
    integer polynomials in T and s·T, found by evaluating the walk at three points (and checked
    at two more), less those another moment always beats."""

    lo: int
    hi: int
    moments: tuple[Moment, ...]


def _walk(stages: tuple[_Stage, ...], T: int, s: int) -> list[tuple[int, int, tuple[int, Label]]]:  # noqa: N803
    """Every stage's candidate moments, its fixed bytes added, in order (``estimate.heaviest``
    takes the first stage whose peak is highest, ``phases.peak`` its first highest moment)."""
    return [(st.fixed + m, acts, (i, label))
            for i, st in enumerate(stages) for m, acts, label in st.candidates(T, s)]


def _fit(stages: tuple[_Stage, ...], lo: int, hi: int) -> _Piece | None:
    s1, s2 = lo, lo + 1
    if s2 >= hi:
        return None
    v1, v2, v3 = _walk(stages, 1, s1), _walk(stages, 2, s1), _walk(stages, 1, s2)
    moments: list[Moment] = []
    for (m1, a1, (i, label)), (m2, a2, _), (m3, a3, _) in zip(v1, v2, v3, strict=True):
        c, ca = m3 - m1, a3 - a1
        a, aa = m2 - m1 - c * s1, a2 - a1 - ca * s1
        moments.append((2 * m1 - m2, a, c, 2 * a1 - a2, aa, ca, i, label))
    for T, s in ((7, min(hi - 1, s1 + 1000)), (1000, s2)):  # noqa: N806
        at = [(k + a * T + c * s * T, ka + aa * T + ca * s * T) for k, a, c, ka, aa, ca, _, _ in moments]
        if at != [(m, act) for m, act, _ in _walk(stages, T, s)]:
            return None
    return _Piece(lo, hi, tuple(_prune(moments, lo)))


def _prune(moments: list[Moment], lo: int) -> list[Moment]:
    """Drop each moment that another beats at every T ≥ lo, s·T ≥ lo² (T = b·s, s ≥ lo): one
    before it by at least as much, or one after it by more; it can then never be the first
    highest (and those it loses to, lost to others in turn, by the same argument)."""
    def beaten(i: int) -> bool:
        k, a, c = moments[i][:3]
        for j, (kj, aj, cj, *_) in enumerate(moments):
            if j != i and aj >= a and cj >= c:
                margin = kj - k + (aj - a) * lo + (cj - c) * lo * lo
                if margin > 0 or (margin == 0 and j < i):
                    return True
        return False

    return [m for i, m in enumerate(moments) if not beaten(i)]


def _pieces(stages: tuple[_Stage, ...]) -> tuple[_Piece, ...]:
    """The compiled pieces, cut where a sliding window's mask starts; none where a factor is
    not whole (sequence parallelism over an odd tp, a capacity factor): the walk answers there."""
    if not all(st.integral() for st in stages):
        return ()
    cuts = sorted({k.mask_from for st in stages for k in st.kinds if k.mask_from and k.mask_from > 1})
    bounds = [1, *cuts, 1 << 62]
    fitted = (_fit(stages, lo, hi) for lo, hi in zip(bounds, bounds[1:], strict=False))
    return tuple(p for p in fitted if p is not None)


FIT_AFTER = 4
"""Questions a cost model answers by the walk before it fits its closed form: the fit costs
about five walks, and a layout search asks most layouts one question (``plan/train.py``)."""


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

    @functools.cached_property
    def _pieces(self) -> tuple[_Piece, ...]:
        """The closed form, fitted when first needed (``FIT_AFTER``)."""
        return _pieces(self._stages)

    def _closed_form(self) -> tuple[_Piece, ...]:
        """The pieces once fitted; none (the walk answers) for the first ``FIT_AFTER`` questions.
        Both give the same bytes (``_fit`` checks it), so this only moves the cost."""
        fitted: tuple[_Piece, ...] | None = self.__dict__.get("_pieces")
        if fitted is not None:
            return fitted
        walks = self.__dict__.get("_walks", 0)
        if walks >= FIT_AFTER:
            return self._pieces
        self.__dict__["_walks"] = walks + 1  # a count, not state: frozen fields stay as they are
        return ()

    def report(self, batch: int | None = None, context: int | None = None) -> TrainReport:
        """The full report (breakdown tree, peak moment) at micro-batch ``batch`` and sequence
        length ``context``; the spec's own values where not given."""
        spec = replace(self.spec, micro_batch=batch or self.spec.micro_batch, seq=context or self.spec.seq)
        return estimate_training(self.arch, spec)

    def _peak(self, batch: int, context: int) -> tuple[int, int, tuple[int, Label]]:
        """The step's peak at (b, s): its bytes (the stage's fixed bytes included), its
        activations, and (stage, label)."""
        cp, check = self._split
        if batch < 1 or context < 1:
            replace(self._prepared, micro_batch=batch, seq=context).check()  # raises, naming it
        if check:
            activation_split(self._prepared.layout, seq_len=context)  # raises unless s splits evenly
        s = context // cp
        T = batch * s  # noqa: N806 - the tokens of the micro-batch on this GPU
        for piece in self._closed_form():
            if piece.lo <= s < piece.hi:
                sT, best, win = s * T, -1, piece.moments[0]  # noqa: N806
                for moment in piece.moments:
                    k, a, c = moment[:3]
                    if k + a * T + c * sT > best:
                        best, win = k + a * T + c * sT, moment
                if best < EXACT:
                    return best, win[3] + win[4] * T + win[5] * sT, (win[6], win[7])
        best_walk = None
        for m, acts, label in _walk(self._stages, T, s):
            if best_walk is None or m > best_walk[0]:
                best_walk = (m, acts, label)
        assert best_walk is not None
        return best_walk

    def total(self, batch: int, context: int) -> int:
        """The report's ``total_bytes`` at (b, s)."""
        m, acts, _ = self._peak(batch, context)
        fixed_over, scales = self._overhead
        return m + fixed_over + (round(FRAGMENTATION_FRACTION * acts) if scales else 0)

    def peak(self, batch: int, context: int) -> tuple[str, str]:
        """(phase, moment) of the step's peak at (b, s): the piece of the piecewise function."""
        _, _, (stage, label) = self._peak(batch, context)
        if isinstance(label[0], str):
            return label[0], str(label[1])
        layer, kind, block = label
        return "backward", f"layer {layer} {self._stages[stage].kinds[kind].blocks[block].name}"

    @property
    def fixed_bytes(self) -> int:
        """Weights, optimizer states (master weights included) and communication buffers of the
        heaviest stage at (1, 1), plus the overhead lines that do not scale with activations."""
        return self._stages[self._peak(1, self.min_context)[2][0]].fixed + self._overhead[0]

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
