"""The layouts a model accepts, and the model-state bytes that bound a training layout from below.

Serving (``serve_layouts``): tp·pp GPUs. Tensor parallelism must split what the engine splits
evenly (vLLM 0.11.0, the rules it enforces when it builds the model):

    attention heads a        a % tp == 0         config/model.py verify_with_parallel_config
    key/value heads k        k % tp == 0, or tp % k == 0 (k < tp: each kv head replicated
                             tp/k times)         model_executor/layers/linear.py QKVParallelLinear
    MLP width I, expert I_e  I % tp == 0         linear.py MergedColumnParallelLinear (divide()),
                                                 fused_moe/layer.py FusedMoE (divide())
    vocabulary V             padded to 64 per rank, no constraint (vocab_parallel_embedding.py)
    layers L                 pp ≤ L; vLLM splits unevenly (distributed/utils.py get_pp_indices)

transformers' ``tp_plan`` shards the same modules, so the hf profile takes the same rule.
llama.cpp's multi-GPU split is not modelled: one GPU, with the layers that do not fit (``-ngl``)
in host memory.

Training (``train_shapes``): a shape is a layout without its data-parallel degree, with the
recompute level; dp is what the search solves for. Degrees searched: tp over the divisors of the
heads (kv rule as above) up to the scale-up domain, with sequence parallelism on (Megatron's
default with tp > 1); pp over powers of two up to L, and interleaving (vpp 2) where the layers
divide; cp over powers of two while each rank keeps ≥ ``MIN_CP_TOKENS`` tokens; ep over powers of
two dividing the experts; ZeRO 0–3 and FSDP full sharding (ZeRO ≥ 2 and FSDP only without pp, as
DeepSpeed's pipeline engine allows); CPU offload only when host memory is given; recompute none,
selective and full.

The lower bound (``StatesBound``): the weights and optimizer states one GPU keeps are fixed by
the layout, and every step holds them at its peak, so a layout whose states alone exceed the GPU
cannot fit whatever the micro-batch. Sharded over g = dp·cp ranks they are U + S/g (U what is not
sharded, S what is; ``zero.py``), so the smallest dp the states allow is a closed form,
⌈S / ((B − U)·cp)⌉, checked on the exact bound.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from ..arch import Architecture
from ..errors import ConfigError
from ..inference.overhead import Overheads, overhead
from ..layout import FsdpStrategy, Layout, Offload, ZeroStage
from ..training.estimate import TrainSpec, rank_slice, stage_states
from ..training.zero import ModelStates, per_gpu_model_states

MIN_CP_TOKENS = 2048  # context parallelism is searched while each rank keeps at least this many tokens
RECOMPUTE = ("none", "selective", "full")


def divisors(n: int, limit: int) -> list[int]:
    return [d for d in range(1, min(n, limit) + 1) if n % d == 0]


def tp_valid(arch: Architecture, tp: int, *, engine: str = "vllm") -> bool:
    """Whether ``engine`` splits ``arch`` over ``tp`` ranks (the module docstring's table)."""
    a, k = arch.n_heads, arch.n_kv_heads or arch.n_heads
    if a % tp or (k % tp and tp % k):
        return False
    if engine == "train":
        return True  # Megatron pads nothing either, but the MLP width is checked by the estimate
    widths = [arch.d_ff] + ([arch.moe.d_ff_expert] if arch.moe else [])
    return all(w % tp == 0 for w in widths if w)


def serve_layouts(arch: Architecture, gpus: int, *, engine: str, max_tp: int) -> list[Layout]:
    """Every (tp, pp) with tp·pp = ``gpus`` that ``engine`` accepts, fewest pipeline stages first."""
    if engine == "llamacpp":
        return [Layout()] if gpus == 1 else []
    return [Layout(tp=tp, pp=gpus // tp) for tp in sorted(divisors(gpus, max_tp), reverse=True)
            if tp_valid(arch, tp, engine=engine) and gpus // tp <= arch.n_layers]


# --- training shapes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """A training layout with dp = 1, and its recompute level: dp is solved for."""

    layout: Layout
    recompute: str

    def with_dp(self, dp: int) -> Layout:
        return replace(self.layout, dp=dp)

    @property
    def gpus_per_replica(self) -> int:
        return self.layout.tp * self.layout.pp * self.layout.cp


def _powers(limit: int) -> list[int]:
    out, p = [], 1
    while p <= limit:
        out.append(p)
        p *= 2
    return out


def _sharding(pp: int, offload: bool) -> list[tuple[ZeroStage, FsdpStrategy, Offload]]:
    out = [(ZeroStage(z), FsdpStrategy.NONE, Offload.NONE) for z in range(4) if z < 2 or pp == 1]
    if pp == 1:
        out.append((ZeroStage.NONE, FsdpStrategy.FULL_SHARD, Offload.NONE))
    if offload:
        out += [(ZeroStage(z), FsdpStrategy.NONE, Offload.OPTIMIZER) for z in (1, 2, 3) if z < 2 or pp == 1]
        if pp == 1:
            out += [(ZeroStage.PARAMETERS, FsdpStrategy.NONE, Offload.PARAMETERS),
                    (ZeroStage.NONE, FsdpStrategy.FULL_SHARD, Offload.PARAMETERS)]
    return out


def train_shapes(arch: Architecture, *, seq: int, max_tp: int, offload: bool,
                 pins: dict[str, object] | None = None) -> list[Shape]:
    """Every valid shape (module docstring); ``pins`` fixes any of tp, pp, cp, ep, zero, fsdp,
    offload, recompute to one value."""
    pins = pins or {}
    tps = [t for t in divisors(arch.n_heads, max_tp) if tp_valid(arch, t, engine="train")]
    pps = _powers(arch.n_layers)
    cps = [c for c in _powers(64) if seq % c == 0 and (c == 1 or seq // c >= MIN_CP_TOKENS)]
    eps = [e for e in _powers(arch.moe.n_experts) if arch.moe.n_experts % e == 0] if arch.moe else [1]
    out = []
    for tp in _pinned(tps, pins.get("tp")):
        for pp in _pinned(pps, pins.get("pp")):
            vpps = [1] + ([2] if pp > 1 and arch.n_layers % (2 * pp) == 0 else [])
            for vpp in _pinned(vpps, pins.get("vpp")):
                for cp in _pinned(cps, pins.get("cp")):
                    for ep in _pinned(eps, pins.get("ep")):
                        for zero, fsdp, off in _sharding(pp, offload):
                            if not _matches(pins, zero=zero, fsdp=fsdp, offload=off):
                                continue
                            layout = Layout(tp=tp, sp=tp > 1, pp=pp, vpp=vpp, cp=cp, ep=ep, dp=ep,
                                            zero=zero, fsdp=fsdp, offload=off)
                            try:
                                layout.check(arch)
                            except ConfigError:
                                continue
                            for r in _pinned(list(RECOMPUTE), pins.get("recompute")):
                                out.append(Shape(replace(layout, dp=1), r))
    return out


def _pinned(values: list[int] | list[str], pin: object) -> list:  # type: ignore[type-arg]
    return list(values) if pin is None else [pin]


def _matches(pins: dict[str, object], **values: object) -> bool:
    return all(pins.get(k) in (None, v) for k, v in values.items())


# --- the lower bound on a training layout's bytes per GPU --------------------------------------


@dataclass(frozen=True)
class StatesBound:
    """Weights + optimizer states + fixed overhead per GPU of one shape as U + S/(dp·cp), and the
    host bytes offload puts per GPU as H_U + H_S/(dp·cp). Shards round up per line (⌈x/g⌉), so
    the fitted U is lowered by ``ROUNDING_SLACK`` to stay a lower bound."""

    unsharded: int
    sharded: int
    host_unsharded: int
    host_sharded: int
    dp_step: int = 1  # dp must be a multiple of this (ep divides dp·cp)

    def gpu_bytes(self, dp: int, cp: int) -> int:
        return self.unsharded + self.sharded // (dp * cp)

    def host_bytes(self, dp: int, cp: int) -> int:
        return self.host_unsharded + self.host_sharded // (dp * cp)

    def min_dp(self, budget: int, cp: int, *, host_budget: int | None = None) -> int | None:
        """The smallest dp whose bound fits ``budget`` (and ``host_budget``); None if none does."""
        dp = 1
        for fixed, shared, room in ((self.unsharded, self.sharded, budget),
                                    (self.host_unsharded, self.host_sharded, host_budget)):
            if room is None:
                continue
            if fixed > room or (fixed == room and shared):
                return None
            if shared:
                dp = max(dp, shared // ((room - fixed + 1) * cp) + 1)
        return -(-dp // self.dp_step) * self.dp_step


ROUNDING_SLACK = 64  # bytes: ≤ 6 lines of ⌈x/g⌉ per stage, each at most 1 byte over x/g


def states_bound(arch: Architecture, spec: TrainSpec, shape: Shape) -> StatesBound:
    """The bound of ``shape`` (its heaviest pipeline stage), fitted at two data-parallel sizes.
    Only the degrees that shard states enter (not vpp, sp or the recompute level)."""
    lay = replace(shape.layout, vpp=1, sp=False)
    return _bound(arch, _states_key(spec), lay)


def _states_key(spec: TrainSpec) -> TrainSpec:
    return TrainSpec(seq=1, recipe=spec.recipe, optimizer=spec.optimizer, optim_bits=spec.optim_bits,
                     step_kernel=spec.step_kernel, lora=spec.lora, beta1=spec.beta1, images=spec.images)


@functools.lru_cache(maxsize=4096)
def _bound(arch: Architecture, spec: TrainSpec, lay: Layout) -> StatesBound:
    from math import gcd

    step = lay.ep // gcd(lay.ep, lay.cp)
    d1, d2 = step, step << 20
    (g1, h1), (g2, h2) = _states_at(arch, spec, lay, d1), _states_at(arch, spec, lay, d2)
    fixed = overhead(Overheads(gpus=lay.tp * lay.pp * lay.cp * d1), activation_bytes=0).value

    def fit(b1: int, b2: int) -> tuple[int, int]:
        # b = U + S/(dp·cp) at d1 and d2: S = (b1 − b2)·cp·d1·d2/(d2 − d1), U = b1 − S/(d1·cp)
        shared = (b1 - b2) * lay.cp * d1 * d2 // (d2 - d1)
        return max(0, b1 - shared // (d1 * lay.cp) - ROUNDING_SLACK), shared

    u, s = fit(g1, g2)
    hu, hs = fit(h1, h2)
    return StatesBound(u + fixed, s, hu, hs, step)


def _states_at(arch: Architecture, spec: TrainSpec, lay: Layout, dp: int) -> tuple[int, int]:
    """(GPU weights + optimizer states, host bytes) of the heaviest stage at data parallel ``dp``."""
    layout = replace(lay, dp=dp)
    gpu, host = 0, 0
    for dense, experts in _stage_slices(arch, spec, lay.tp, lay.pp):
        w, _, s, h = per_gpu_model_states(dense, expert_states=experts, par=layout)
        gpu, host = max(gpu, w.value + s.value), max(host, h.value)
    return gpu, host


@functools.lru_cache(maxsize=256)
def _stage_slices(arch: Architecture, spec: TrainSpec, tp: int, pp: int
                  ) -> tuple[tuple[ModelStates, ModelStates], ...]:
    """(dense, routed experts) model states of the first and last stage on one TP rank, unsharded
    (``estimate.stage_inputs`` splits them the same way)."""
    out = []
    for stage in sorted({0, pp - 1}):
        rank, layers = rank_slice(arch, replace(spec, layout=Layout(tp=tp, pp=pp)), stage)
        st = stage_states(rank, spec, layers, first=stage == 0, last=stage == pp - 1)
        ew, eg, es = st.experts
        dense = ModelStates(st.weights.value - ew, st.grads - eg, st.master + st.states.value - es)
        out.append((dense, ModelStates(ew, eg, es)))
    return tuple(out)
