"""How training memory is made up, per GPU, and which phase of a step sets the peak.

Model states are a byte budget per parameter, set by the precision recipe (``Recipe``)::

    fp32        weights 4 + gradients 4 + Adam m 4 + v 4                          = 16
    amp         fp32 weights 4 + gradients 4 + Adam 8 (+ bf16 weight copies that
                autocast keeps for backward, counted with the activations)       = 16
    pure-bf16   weights 2 + gradients 2 + Adam m 2 + v 2                          =  8
    megatron    bf16 weights 2 + fp32 main grads 4 + fp32 master params 4 + Adam 8 = 18
    deepspeed   fp16/bf16 weights 2 + grads 2 + fp32 master 4 + Adam 8            = 16

(Adam's 8 become the chosen optimizer's states, ``optimizers.py``.) Activations are what the
forward pass saves for backward (``activations.py``). A step is three phases, and the peak is
the largest of them, never the sum::

    forward    W + S (+ G if gradients persist) + saved activations + the loss's forward peak
    backward   W + S + saved activations still held + gradients produced so far + temporaries;
               its moments: the cross-entropy backward (12·V per token), the head, every
               sub-layer of every layer (last to first), the embedding
    optimizer  W + S + all gradients + the update's temporaries

W weights, S optimizer states (and master weights), G gradients. ``set_to_none=True`` (the
PyTorch default) frees gradients after the step, so the forward holds none unless gradient
accumulation keeps them across micro-steps, or the recipe keeps a persistent gradient buffer
(Megatron's main grads, DeepSpeed's). Terms beyond Korthikanti et al. 2022, each measured: the
fp32 copies transformers' norms and loss make, the logsumexp of flash attention, MoE routing
buffers, the loss's 12·V backward, the backward's own temporaries and gradients, the optimizer
step's temporaries.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from math import prod as _numel  # elements of a shape

from ..arch import Architecture
from ..enums import Documented
from ..errors import ConfigError
from ..formats.tensors import model_tensors
from ..layout import Layout
from ..schemas import versioned
from ..tree import Part, Totalled, group, leaf
from . import activations as act
from .optimizers import Optimizer, StepKernel
from .states import StageStates, grads_by_layer, rank_slice, stage_states
from .zero import Buckets

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..hardware.fit import Verdict
    from ..inference.overhead import Overheads
    from ..perf.figures import Performance
    from .lora import LoraSpec
    from .phases import Moment, StepInputs


class Recipe(Documented):
    """Which copies of the weights and gradients a precision recipe keeps, and in what width."""

    FP32 = "fp32", "Everything fp32: weights 4, gradients 4, optimizer states fp32."
    AMP = "amp", ("PyTorch autocast / HF Trainer bf16=True: fp32 weights 4, gradients 4, fp32 states; "
                  "matmuls run in bf16 on cast copies of the weights, kept for backward.")
    PURE_BF16 = "pure-bf16", "Weights, gradients and optimizer states all bf16: 2 + 2 + 2·2."
    MEGATRON = "megatron", ("Megatron-LM: bf16 weights 2, fp32 main gradients 4 (a persistent buffer), "
                            "fp32 master weights 4 and fp32 Adam 8 = 18.")
    DEEPSPEED = "deepspeed", ("DeepSpeed mixed precision: 16-bit weights 2 and gradients 2 (persistent "
                              "buffers), fp32 master weights 4 and Adam 8 = 16.")


@dataclass(frozen=True)
class Precision:
    """Widths in bits of each copy; 0 means the recipe keeps no such copy."""

    weight_bits: int
    grad_bits: int
    master_bits: int
    state_bits: int
    act_bits: int
    persistent_grads: bool = False


PRECISIONS = {
    Recipe.FP32: Precision(32, 32, 0, 32, 32),
    Recipe.AMP: Precision(32, 32, 0, 32, 16),
    Recipe.PURE_BF16: Precision(16, 16, 0, 16, 16),
    Recipe.MEGATRON: Precision(16, 32, 32, 32, 16, persistent_grads=True),
    Recipe.DEEPSPEED: Precision(16, 16, 32, 32, 16, persistent_grads=True),
}
STATE_NAMES = {Optimizer.ADAMW: ("Adam m", "Adam v"), Optimizer.PAGED_ADAMW: ("Adam m", "Adam v"),
               Optimizer.SGD_MOMENTUM: ("momentum",), Optimizer.LION: ("momentum",),
               Optimizer.MUON: ("momentum (matrices; AdamW m, v elsewhere)",)}


@dataclass(frozen=True)
class TrainSpec:
    """One training step of ``micro_batch`` sequences of ``seq`` tokens per GPU."""

    seq: int
    micro_batch: int = 1
    grad_accum: int = 1
    recipe: Recipe = Recipe.AMP
    optimizer: Optimizer = Optimizer.ADAMW
    optim_bits: int | None = None  # None: the recipe's state width
    step_kernel: StepKernel = StepKernel.FUSED
    recompute: str = "none"  # none | selective | full
    attn: str = "flash"
    lora: LoraSpec | None = None
    layout: Layout = field(default_factory=Layout)
    dropout: act.Dropout = field(default_factory=act.Dropout)
    kernels: act.Kernels = act.CUDA
    capacity_factor: float | None = None
    beta1: bool = False  # Adafactor's optional first moment
    loop: str = "trainer"  # trainer | plain | fused-ce: what the logits cost (loop.py)
    overrides: tuple[str, ...] = ()
    images: int = 0  # images per sequence; 0: a text-only step (``untouched``)

    @classmethod
    def for_measurement(cls, *, seq: int, micro_batch: int = 1, dtype: str = "bf16", attn: str = "sdpa",
                        optimizer: str = "adamw", recompute: str = "none", lora_rank: int | None = None,
                        config: dict[str, object] | None = None, kernels: act.Kernels = act.CPU) -> TrainSpec:
        """The step ``measure.train`` runs: pure ``dtype`` (model, gradients and AdamW states in
        it), torch's per-tensor optimizer loop (``foreach=False``), the CPU kernels' facts, the
        config's dropout (pass ``config``: without it dropout is taken as off), LoRA of
        ``lora_rank`` on ``lora.measurement_targets`` (targets "auto")."""
        from .lora import LoraSpec

        recipe = Recipe.FP32 if dtype == "fp32" else Recipe.PURE_BF16
        lora = LoraSpec(rank=lora_rank, targets=("auto",)) if lora_rank else None
        return cls(seq=seq, micro_batch=micro_batch, recipe=recipe, optimizer=Optimizer(optimizer),
                   step_kernel=StepKernel.FOR_LOOP, recompute=recompute, attn=attn, lora=lora,
                   kernels=kernels, dropout=act.dropout_from_config(config) if config else act.Dropout())

    def __post_init__(self) -> None:
        """Strategies may be given as their values (``recipe="amp"``); bad ones raise OptionError."""
        from ..options import ATTN, LOOPS, RECOMPUTE, choice, enum_option

        object.__setattr__(self, "recipe", enum_option("recipe", self.recipe, Recipe))
        object.__setattr__(self, "optimizer", enum_option("optimizer", self.optimizer, Optimizer))
        object.__setattr__(self, "step_kernel", enum_option("optim_impl", self.step_kernel, StepKernel))
        choice("recompute", self.recompute, RECOMPUTE)
        choice("attn", self.attn, ATTN)
        choice("loop", self.loop, LOOPS)

    @property
    def lazy_states(self) -> bool:
        """Whether a parameter gets gradients and optimizer states only once backward reaches it:
        torch.optim (the fp32, amp and pure-bf16 recipes) makes a parameter's states at its first
        gradient (``torch/optim/adamw.py`` ``_init_group`` skips ``p.grad is None``). Megatron-LM's
        main-grad buffer and DeepSpeed's fp32 partitions are allocated at start for every
        parameter that requires a gradient, used or not."""
        return self.recipe in (Recipe.FP32, Recipe.AMP, Recipe.PURE_BF16)

    @property
    def precision(self) -> Precision:
        p = PRECISIONS[self.recipe]
        return replace(p, state_bits=self.optim_bits) if self.optim_bits else p

    def check(self) -> None:
        for name in ("seq", "micro_batch", "grad_accum"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not isinstance(self.images, int) or isinstance(self.images, bool) or self.images < 0:
            from ..options import OptionError

            raise OptionError("images", f"must be an integer ≥ 0 (images per sequence), got {self.images!r}")
        if self.recompute not in ("none", "selective", "full"):
            raise ConfigError(f"--recompute {self.recompute!r}: choose none, selective or full")
        if self.attn not in ("eager", "sdpa", "flash"):
            raise ConfigError(f"--attn {self.attn!r}: choose eager, sdpa or flash")


def budget_lines(spec: TrainSpec, *, params: int, trainable: int) -> list[tuple[str, float, int]]:
    """The bytes per parameter of the recipe and optimizer, line by line, each with the
    parameters it applies to: (line, bytes per parameter, parameters). Optimizers whose states
    depend on tensor shapes (8-bit blocks, Adafactor's factors) are in the tree's exact total.
    LoRA: the frozen base at its format's nominal width, then the adapters' own lines. A
    text-only step of a multimodal model: the weights no gradient reaches (``states.untouched``),
    then the lines of those it trains."""
    p, lines = spec.precision, []
    if spec.lora is not None:
        from ..formats.dtypes import parse_format

        base = parse_format(spec.lora.base)
        lines.append((f"frozen base weights ({base.name}, nominal)", (base.bits or 16) / 8,
                      params - trainable))
        p = replace(p, weight_bits=spec.lora.adapter_bits, grad_bits=spec.lora.adapter_bits, master_bits=0,
                    state_bits=spec.optim_bits or spec.lora.adapter_bits, persistent_grads=False)
    elif params > trainable:  # a text-only step: the towers and cross layers get no gradients
        lines.append((f"weights a text-only step leaves untouched ({p.weight_bits}-bit)",
                      p.weight_bits / 8, params - trainable))
    who = "adapter " if spec.lora is not None else ""
    lines.append((f"{who}weights ({p.weight_bits}-bit)", p.weight_bits / 8, trainable))
    lines.append((f"{who}gradients ({p.grad_bits}-bit{', persistent' if p.persistent_grads else ''})",
                  p.grad_bits / 8, trainable))
    if p.master_bits:
        lines.append((f"master weights ({p.master_bits}-bit)", p.master_bits / 8, trainable))
    for name in STATE_NAMES.get(spec.optimizer, ()):
        lines.append((f"{who}{name} ({p.state_bits}-bit)", p.state_bits / 8, trainable))
    return lines


# --- the step -------------------------------------------------------------------------------


def activation_spec(arch: Architecture, spec: TrainSpec) -> act.ActivationSpec:
    """The micro-batch one GPU runs: s/cp tokens per sequence, split over tp (and SP)."""
    from .parallel import activation_split

    split = activation_split(spec.layout, seq_len=spec.seq)
    return act.ActivationSpec(batch=spec.micro_batch, seq=split.seq_len, bits=spec.precision.act_bits,
                              attn=spec.attn, recompute=spec.recompute, dropout=spec.dropout,
                              kernels=spec.kernels, tp=spec.layout.tp, sp=spec.layout.sp,
                              capacity_factor=spec.capacity_factor, lora=spec.lora, loop=spec.loop)


def autocast_copies(arch: Architecture, spec: TrainSpec, layer: int) -> int:
    """amp: autocast casts every matmul weight of the layer to bf16 and the matmul saves the
    copy for backward, 2 bytes per matrix parameter; none in a layer a text-only batch skips."""
    if act.skipped(arch, layer):
        return 0
    if spec.recipe is not Recipe.AMP or spec.recompute == "full" or spec.lora is not None:
        return 0  # LoRA's frozen base is stored in the compute dtype (or quantised)
    if spec.layout.shard_level >= 3:
        return 0  # ZeRO-3/FSDP gather each unit in bf16 and free it; backward gathers it again
    return _matrix_params_by_layer(arch).get(layer, 0) * 2


@functools.lru_cache(maxsize=64)
def _matrix_params_by_layer(arch: Architecture) -> dict[int | None, int]:
    """Parameters of each layer's weight matrices (read-only: the dict is shared)."""
    out: dict[int | None, int] = {}
    for t in model_tensors(arch):
        if t.is_matrix:
            out[t.layer] = out.get(t.layer, 0) + t.numel
    return out


@dataclass(frozen=True)
class StageResult:
    """One pipeline stage's model states per GPU and its step moments."""

    stage: int
    weights: Part
    gradients: Part
    optimizer_states: Part
    host: Part
    comm: Part
    moments: list[Moment]
    trainable: int


def run_stage(arch: Architecture, spec: TrainSpec, stage: int) -> StageResult:
    """Model states of pipeline stage ``stage`` on one GPU, and the moments of its step."""
    from .phases import moments

    result, inputs = stage_inputs(arch, spec, stage)
    return replace(result, moments=moments(inputs))


def stage_inputs(arch: Architecture, spec: TrainSpec, stage: int) -> tuple[StageResult, StepInputs]:
    """Model states of pipeline stage ``stage`` on one GPU (no moments yet) and what its step
    walks over. Only ``StepInputs.w`` depends on the micro-batch and the sequence length."""
    from .parallel import in_flight_microbatches
    from .phases import StepInputs
    from .zero import ModelStates, comm_buffers, per_gpu_model_states

    rank, layers = rank_slice(arch, spec, stage)
    first, last = stage == 0, stage == spec.layout.pp - 1
    st = stage_states(rank, spec, layers, first=first, last=last)
    ew, eg, es = st.experts
    dense = ModelStates(st.weights.value - ew, st.grads - eg, st.master + st.states.value - es)
    experts = ModelStates(ew, eg, es)
    w_gpu, g_gpu, s_gpu, host = per_gpu_model_states(dense, expert_states=experts, par=spec.layout)
    if w_gpu.value == st.weights.value:  # unsharded: keep the detailed trees
        w_gpu = st.weights
    if s_gpu.value == st.states.value + st.master:
        s_gpu = group("optimizer_states", [leaf("master weights", st.master), *st.states.parts])
    frac = g_gpu.value / st.grads if st.grads else 0.0
    p = spec.precision
    grad_bits = spec.lora.adapter_bits if spec.lora else p.grad_bits
    sums = _stage_sums(rank, st, grad_bits, layers)
    by_layer, no_grads = sums.by_layer, {"down": 0, "ff": 0, "attention": 0}
    inputs = StepInputs(
        arch=rank, w=activation_spec(rank, spec), layers=layers, first=first, last=last,
        in_flight=in_flight_microbatches(spec.layout, micro_batches=spec.grad_accum, stage=stage),
        grads_total=g_gpu.value, grads_kept=p.persistent_grads or spec.grad_accum > 1,
        head_grads=round(frac * sums.head_grads), embedding_grads=round(frac * sums.embedding_grads),
        layer_grads=lambda i: {k: round(frac * v) for k, v in by_layer.get(i, no_grads).items()},
        step_temporaries=0 if s_gpu.value == 0 else round(st.temporaries * min(1.0, s_gpu.value / max(
            1, st.states.value + st.master))),
        autocast_copies=lambda i: autocast_copies(rank, spec, i),
        layer_class=sums.classes.__getitem__,
    )
    comm = comm_buffers(spec.layout, bucket_params=sums.unit, bits=p.weight_bits, reduce_bits=grad_bits,
                        stage_params=sums.trainable, buckets=_buckets(spec))
    return StageResult(stage, w_gpu, g_gpu, s_gpu, host, comm, [], sums.trainable), inputs


@dataclass(frozen=True)
class _StageSums:
    """What ``stage_inputs`` sums over a stage's tensors, whatever the layout's sharding."""

    by_layer: dict[int | None, dict[str, int]]  # ``grads_by_layer``
    head_grads: int
    embedding_grads: int
    unit: int  # trainable parameters of the largest layer (the unit gathered or reduced at once)
    trainable: int
    classes: dict[int, int]  # per layer: equal classes, equal numbers whatever the layout


_SUMS: dict[tuple[int, int, range], tuple[StageStates, _StageSums]] = {}


def _stage_sums(arch: Architecture, st: StageStates, grad_bits: int, layers: range) -> _StageSums:
    """Cached by the (shared, cached) ``StageStates`` object itself: a layout search builds
    thousands of layouts over a few slices, and the sums over ~1,000 tensors cost milliseconds.
    ``arch`` is the rank's architecture ``st`` was built from."""
    key = (id(st), grad_bits, layers)
    hit = _SUMS.get(key)
    if hit is not None and hit[0] is st:
        return hit[1]
    per_layer: dict[int | None, int] = {}
    for _, shape, _, lay in st.trainable:
        per_layer[lay] = per_layer.get(lay, 0) + _numel(shape)
    by_layer = grads_by_layer(st, grad_bits)
    sums = _StageSums(by_layer, _grads_of(st, ("head", "norm"), None, grad_bits),
                      _grads_of(st, ("embedding",), None, grad_bits),
                      max((per_layer.get(i, 0) for i in layers), default=0), sum(per_layer.values()),
                      _layer_classes(arch, by_layer, layers))
    if len(_SUMS) > 1024:
        _SUMS.clear()
    _SUMS[key] = (st, sums)
    return sums


def _layer_classes(arch: Architecture, by_layer: dict[int | None, dict[str, int]], layers: range
                   ) -> dict[int, int]:
    """Each layer's class: what its compiled numbers depend on besides the layout (``cost.
    _compile_stage``): being the first layer, its type (and window), MoE or dense, its unsharded
    gradients (sharding scales equal ones equally) and its weight matrices (autocast's copies)."""
    matrices = _matrix_params_by_layer(arch)
    ids: dict[tuple[object, ...], int] = {}
    return {i: ids.setdefault((i == 0, arch.layer_types[i], act.ff_line(arch, i),
                               tuple(sorted(by_layer.get(i, {}).items())), matrices.get(i, 0)), len(ids))
            for i in layers}


def _buckets(spec: TrainSpec) -> Buckets:
    """Megatron-LM reduces (and its distributed optimizer reduce-scatters) in place, in the
    contiguous main-grad buffer that is already the gradients line (``megatron/core/distributed/
    param_and_grad_buffer.py``): no separate bucket. DeepSpeed and DDP keep theirs."""
    if spec.recipe is Recipe.MEGATRON:
        return Buckets(reduce_bucket_size=0, ddp_gradient_as_bucket_view=True)
    return Buckets()


def _grads_of(st: StageStates, roles: tuple[str, ...], layer: int | None, bits: int) -> int:
    """Gradient bytes of the non-layer tensors with these roles."""
    return sum(round(_numel(s) * bits / 8) for _, s, r, lay in st.trainable if lay == layer and r in roles)


# --- the report -----------------------------------------------------------------------------

BREAKDOWN = ("weights", "gradients", "optimizer_states", "activations", "comm_buffers", "overhead")


@dataclass(frozen=True)
class TrainReport(Totalled):
    """Per-GPU memory at the step's peak: a tree whose parts sum to ``total_bytes``."""

    name: str
    spec: TrainSpec
    tree: Part
    peak_phase: str
    peak_where: str
    phases: dict[str, int]  # each phase's own peak, without overhead
    budget: list[tuple[str, float, int]]
    parameters: int
    trainable: int
    host: Part
    stage: int
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # from reading the source; not part of the JSON (see api.py)
    verdict: Verdict | None = None  # fits the GPU given or not (set by api.train)
    performance: Performance | None = None  # speed on the GPU given (api.train); None without one
    counted_by: dict[str, object] = field(default_factory=lambda: {"counted_by": "llmsize"})

    def error_bars(self) -> dict[str, str | dict[str, Any]]:
        """Each term's expected error, from the committed validation run (``errorbars.py``)."""
        from ..errorbars import bars

        return bars("train", BREAKDOWN, attn=self.spec.attn, counted_by=str(self.counted_by["counted_by"]))

    def to_dict(self) -> dict[str, object]:
        s, par = self.spec, self.spec.layout
        return versioned({
            "model": self.name, "total_bytes": self.total_bytes, "gpus": par.gpus, "per_gpu": par.gpus > 1,
            "breakdown": {k: self.part(k) for k in BREAKDOWN}, "peak_phase": self.peak_phase,
            "peak_moment": self.peak_where, "phases": self.phases, "stage": self.stage,
            "bytes_per_parameter": [{"line": n, "bytes": b, "parameters": k} for n, b, k in self.budget],
            "parameters": self.parameters, "trainable_parameters": self.trainable,
            "host_bytes": self.host.value,
            "inputs": {"seq": s.seq, "micro_batch": s.micro_batch, "grad_accum": s.grad_accum,
                       "recipe": s.recipe.value, "optimizer": s.optimizer.value,
                       "state_bits": s.precision.state_bits, "step_kernel": s.step_kernel.value,
                       "recompute": s.recompute, "attn": s.attn, "loop": s.loop, "images": s.images,
                       "lora": None if s.lora is None else s.lora.to_dict(),
                       "parallel": {"dp": par.dp, "tp": par.tp, "sp": par.sp, "pp": par.pp, "vpp": par.vpp,
                                    "ep": par.ep, "cp": par.cp, "zero": par.zero.value,
                                    "fsdp": par.fsdp.value, "offload": par.offload.value}},
            "error_bars": self.error_bars(), "tree": self.tree.to_dict(), "notes": list(self.notes),
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
            "performance": None if self.performance is None else self.performance.to_dict(),
            **self.counted_by,
        })


def _peak_of(result: StageResult) -> tuple[Moment, int]:
    from .phases import peak, total

    m = peak(result.moments)
    fixed = result.weights.value + result.optimizer_states.value + result.comm.value
    return m, fixed + total(m)


def estimate_training(arch: Architecture, spec: TrainSpec, *, name: str = "") -> TrainReport:
    """The per-GPU peak of one steady-state training step (the heaviest pipeline stage)."""
    from ..parameters import count_params, counted_by
    from .phases import total

    spec = prepared(arch, spec)
    best, moment = heaviest_stage(arch, spec)
    over = peak_overhead(spec, moment)
    parts = (best.weights, leaf("gradients", moment.gradients), best.optimizer_states,
             moment.activations, best.comm, over)
    tree = Part("per GPU" if spec.layout.gpus > 1 else "total", sum(p.value for p in parts), parts)
    fixed = best.weights.value + best.optimizer_states.value + best.comm.value
    phases = {ph: max(fixed + total(m) for m in best.moments if m.phase == ph)
              for ph in ("forward", "backward", "optimizer")}
    return TrainReport(
        name or arch.name, spec, tree, moment.phase, moment.where, phases,
        budget_lines(spec, params=count_params(arch).total, trainable=trainable_params(arch, spec)),
        count_params(arch).total, best.trainable,
        best.host, best.stage, _notes(arch, spec), counted_by=counted_by(arch))


def prepared(arch: Architecture, spec: TrainSpec) -> TrainSpec:
    """``spec`` checked against the architecture, LoRA's "auto" targets resolved."""
    spec.check()
    spec.layout.check(arch)
    if arch.kind != "decoder":
        raise ConfigError(f"{arch.name} is an {arch.kind} model: "
                          "training estimates cover decoder-only models")
    if spec.lora is not None and spec.lora.targets == ("auto",):
        from .lora import measurement_targets

        spec = replace(spec, lora=replace(spec.lora, targets=measurement_targets(arch)))
    if spec.lora is not None:
        spec.lora.check(arch)
    if spec.images:
        from .states import has_images

        if not has_images(arch):
            from ..options import OptionError

            raise OptionError("images", f"{spec.images}: {arch.name} has no vision tower to take an image")
    return spec


def heaviest_stage(arch: Architecture, spec: TrainSpec) -> tuple[StageResult, Moment]:
    """The pipeline stage (first or last) whose step peaks highest, and its peak moment."""
    return heaviest([run_stage(arch, spec, r) for r in sorted({0, spec.layout.pp - 1})])


def heaviest(results: list[StageResult]) -> tuple[StageResult, Moment]:
    best = max(results, key=lambda r: _peak_of(r)[1])
    return best, _peak_of(best)[0]


def peak_overhead(spec: TrainSpec, moment: Moment) -> Part:
    """The overhead lines at the peak (fragmentation scales with its activations)."""
    from ..inference.overhead import overhead

    return overhead(overheads_of(spec), activation_bytes=moment.activation_bytes)


def overheads_of(spec: TrainSpec) -> Overheads:
    """The overhead lines of one GPU of the layout, with the spec's overrides."""
    from ..inference.overhead import Overheads

    return Overheads(gpus=spec.layout.gpus).with_overrides(list(spec.overrides))


def trainable_params(arch: Architecture, spec: TrainSpec) -> int:
    """Parameters the step gives gradients: every one (the adapters with LoRA) but those a
    text-only step leaves untouched (``states.untouched``). Cached on what it depends on: a
    plan asks once per layout."""
    return _trainable(arch, TrainSpec(seq=1, recipe=spec.recipe, lora=spec.lora, images=spec.images))


@functools.lru_cache(maxsize=64)
def _trainable(arch: Architecture, spec: TrainSpec) -> int:
    from .lora import adapter_tensors
    from .states import touched

    tensors = model_tensors(arch) if spec.lora is None else adapter_tensors(arch, spec.lora)
    return sum(_numel(s) for _, s, _, _ in touched(arch, spec, [(t.name, t.shape, t.role, t.layer)
                                                                  for t in tensors]))


def _notes(arch: Architecture, spec: TrainSpec) -> tuple[str, ...]:
    notes = []
    if spec.attn == "eager":
        notes.append("eager attention saves b·a·s² probabilities per layer (fp32 softmax and its cast)")
    if spec.step_kernel is StepKernel.FOREACH:
        notes.append("foreach optimizer step: one state-width copy of every parameter at the step")
    if spec.layout.pp > 1:
        notes.append(f"pipeline: stage {0} holds the most micro-batches in flight; "
                     "the heaviest stage is reported")
    notes += _image_notes(arch, spec)
    if arch.gemma4:
        notes.append("Gemma 4: activations use the decoder model with the sliding layers' heads in every "
                     "layer; the full layers' wider heads, the per-layer inputs and the K/V the shared "
                     "layers reuse are not modelled")
    from .qlora import checkpointing_hint

    notes += checkpointing_hint(spec.lora, spec.recompute)
    if arch.moe and spec.capacity_factor is None:
        notes.append("MoE dropless routing (every token reaches its top-k experts)")
    if arch.has_state:
        notes.append(TORCH_MIXERS_NOTE)
    return tuple(notes)


def _image_notes(arch: Architecture, spec: TrainSpec) -> list[str]:
    """What a step with or without images trains and saves, for a model with towers. With images
    the activations over the image tokens are left out: measured on llama-3.2-90b-vision-instruct
    cut to 2 layers, b2 s512, one 4-tile image per sequence, 22.1 GB (the tower's 40 layers over
    6,404 tokens per image, the projector, the cross-attention layer): peak −28%."""
    from .states import has_images

    if not (has_images(arch) or arch.gemma4_audio is not None):
        return []
    cross = "cross" in arch.layer_types
    towers = "the towers" if arch.gemma4_audio is not None else "the vision tower"
    parts = f"{towers}, the projector" + (" and the cross-attention layers" if cross else "")
    if spec.images:
        return [f"{spec.images} image(s) per sequence: every parameter trains; NOT modelled: the activations "
                f"of {towers}{' and of the cross-attention layers' if cross else ''} over the image "
                "tokens (the activations are low by them)"]
    skip = "; text-only batches skip the cross-attention layers (no activations)" if cross else ""
    if not spec.lazy_states:
        return [f"text-only step (images 0): {parts} get no gradients, but the {spec.recipe.value} recipe "
                f"allocates their gradient buffers and optimizer states at start, counted{skip}"]
    return [f"text-only step (images 0): {parts} get no gradients and no optimizer states; their "
            f"weights are counted (--images N trains everything){skip}"]


# The path the mixers' activations describe (training/mixers.py), said wherever a model has one.
TORCH_MIXERS_NOTE = ("SSM / linear-attention / conv mixers: activations of transformers' pure-torch paths "
                     "(validated on the CPU); the fused kernels of mamba-ssm, causal-conv1d and "
                     "flash-linear-attention save far less and are not modelled")
