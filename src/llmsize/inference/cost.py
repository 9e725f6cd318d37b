"""Compiled cost models: an engine profile fixed to one architecture, format and layout, as a
function of (batch, context) that answers in microseconds and can be inverted.

Derive once, query many times (vLLM profiles once and then allocates; torchtitan counts flops
once per model). What depends only on the architecture, the weight format and the layout — the
weights of one GPU, the rank's and the stage's slice of the model, the fixed overhead lines — is
computed when the model is compiled; what depends on the batch b and the context c is evaluated
by the same formulas the full estimate uses, so the two agree to the byte::

    total(b, c) = fixed + kv(b, c) + activations(b, c) + fragmentation(activations)

    fixed        weights of this GPU + CUDA context, cuBLAS, NCCL (overhead.py)
    kv           hf: Σ_layers b · tokens_kept(c) · row; linear in b, and in c up to a window
    activations  resident(b, c) + the widest prefill phase (prefill.py): attention, MLP/MoE or
                 logits; piecewise: the widest phase changes with c (``widest_phase``)

Every term is non-decreasing in b and in c, so the largest context or batch that fits a budget is
exact and tight (the answer fits, one more token or sequence does not; None or 0 when nothing
fits). At a fixed context the total is linear in b, so ``HfCost.max_batch`` is a quotient checked
on the exact total; in c it is piecewise (windows, the widest phase changing, eager's s² scores),
so ``max_context`` searches the integers (``invert.largest``: galloping, then bisection).

vLLM is different: it takes ``gpu_memory_utilization × GPU`` whatever the batch and gives the KV
pool what is left. Its compiled form (``VllmCost``) answers what vLLM reports at start-up for a
``max_model_len`` — the KV capacity in tokens and the maximum concurrency — and its inversions
take the GPU's memory as the budget: the longest ``max_model_len`` vLLM starts with, and how many
sequences of a given length the pool holds at once. llama.cpp (``LlamaCppCost``) sizes its GPU
buffers for ``-c b·c -np b``, as the full estimate does.

``compile_inference(arch, spec)`` picks the profile of ``spec.engine``; ``spec``'s own batch and
context are only the defaults of ``report``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..arch import Architecture
from ..errors import ConfigError
from ..invert import MAX_CONTEXT, Inversions, largest
from ..tree import Part
from .engines import (
    _named,
    _stored_weights,
    estimate,
    llamacpp_config,
    llamacpp_total,
    llamacpp_weights,
    vllm_config,
)
from .estimate import InferenceReport, InferenceSpec, gpu_slice, scaled_weights, weights_tree
from .kvcache import KVRequest, cached_layers, kind_row, kv_cache, token_row, window_tokens
from .llamacpp import Geometry, LlamaCppConfig, geometry_sizes, kv_buffer, on_gpu
from .llamacpp_compute import gpu_stages
from .llamacpp_plan import llamacpp_plan
from .mixers import mixer_phase
from .overhead import FRAGMENTATION_FRACTION, Overheads, overhead
from .prefill import Prefill, attention_phase, logits_phase, mlp_phase, relative_bias, resident, window_mask
from .vllm import (
    KVLayout,
    VllmConfig,
    activation_part,
    check_supported,
    empirical_terms,
    kv_layout,
    request_blocks,
    scheduler_defaults,
    vllm_startup,
    window_blocks,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..sources.checkpoint import Checkpoint
    from .llamacpp import LlamaCppWeights
    from .vllm import VllmStartup

    Source = tuple[Checkpoint, dict[str, object] | None] | None  # a checkpoint and its config.json

class _Profile(Inversions):
    """What every compiled profile shares: the full breakdown tree at (b, c), on demand, built
    by the estimate itself from the same architecture, spec and checkpoint."""

    arch: Architecture
    spec: InferenceSpec
    source: Source

    def report(self, batch: int | None = None, context: int | None = None) -> InferenceReport:
        checkpoint, config = self.source if self.source else (None, None)
        spec = replace(self.spec, batch=batch or self.spec.batch, context=context or self.spec.context)
        return estimate(self.arch, spec, checkpoint=checkpoint, config=config)


def _source(checkpoint: Checkpoint | None, config: dict[str, object] | None) -> Source:
    return (checkpoint, config) if checkpoint is not None else None


# --- transformers generate (hf) ---------------------------------------------------------------


@dataclass(frozen=True)
class HfCost(_Profile):
    """The hf profile of ``estimate_hf`` for one architecture, format and layout."""

    arch: Architecture
    spec: InferenceSpec
    rank: Architecture  # this tensor-parallel rank's slice
    stage: Architecture  # … and the heaviest pipeline stage's layers (for the KV cache)
    weights: Part  # this GPU's weights
    overheads: Overheads
    source: Source = None  # the checkpoint the weights were read from, if any
    fixed_bytes: int = field(init=False)  # weights + the overhead lines that do not scale
    _hidden_per_token: int = field(init=False, repr=False)
    _positions_per_token: int = field(init=False, repr=False)
    _kv_rows: tuple[int, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        fixed = self.weights.value + overhead(self.overheads, activation_bytes=0).value
        object.__setattr__(self, "fixed_bytes", fixed)
        # Per-token coefficients, read off the formulas once: the hidden states the model loop
        # keeps are ∝ b·s, the position tables ∝ s (widths of 16 or 32 bits are whole bytes).
        unit = {p.name: p.value for p in resident(self.rank, self.prefill(1, self.min_context)).parts}
        prompt = self.min_context - self.spec.new_tokens
        object.__setattr__(self, "_hidden_per_token", unit.get("hidden states", 0) // prompt)
        object.__setattr__(self, "_positions_per_token", unit.get("positions", 0) // prompt)
        rows = (0, 0)
        if self.stage.kind == "decoder" and not self.stage.is_hybrid and not self.spec.images:
            n_full, n_swa = cached_layers(self.stage)
            rows = (n_full * kind_row(self.stage, "full", kv_dtype=self.spec.kv),
                    n_swa * token_row(self.stage, kv_dtype=self.spec.kv))
        object.__setattr__(self, "_kv_rows", rows)  # (full, window) bytes per token; (0, 0): general

    @property
    def min_context(self) -> int:
        return self.spec.new_tokens + 1

    def kv_bytes(self, batch: int, context: int) -> int:
        """The KV cache of ``batch`` sequences of ``context`` tokens (this GPU's share)."""
        full, window = self._kv_rows
        if full or window:
            return batch * (full * context + (window and window * window_tokens(self.stage, context)))
        s = self.spec
        if self.arch.kind == "encoder-decoder":
            req = KVRequest(max(s.new_tokens, 1), batch, s.kv, "hf", 1, context - s.new_tokens)
        else:
            req = KVRequest(context, batch, s.kv, "hf", 1, 0, s.images)  # images: a fixed KV per sequence
        return kv_cache(self.stage, req).value

    def kv_bytes_per_token(self) -> int:
        """Bytes one more token of context costs one sequence (a window's layers stop growing at
        its length, and a state-space model's state not at all)."""
        c = self.min_context
        return self.kv_bytes(1, c + 1) - self.kv_bytes(1, c)

    def prefill(self, batch: int, context: int) -> Prefill:
        s = self.spec
        prompt = context - s.new_tokens
        chunk = min(s.chunk or prompt, prompt)
        bits = 32 if s.dtype == "fp32" else 16
        return Prefill(batch, chunk, prompt, bits, s.attn, s.logits, s.mixer_kernels)

    def phases(self, batch: int, context: int) -> dict[str, int]:
        """The prefill's candidate peaks, each on top of what is resident."""
        return self._phases(self.prefill(batch, context))

    def _phases(self, p: Prefill) -> dict[str, int]:
        return {"attention": attention_phase(self.rank, p),
                "MoE" if self.rank.moe else "MLP": mlp_phase(self.rank, p),
                "logits": logits_phase(self.rank, p),
                "mixer": mixer_phase(self.rank, p)}

    def widest_phase(self, batch: int, context: int) -> str:
        """Which phase sets the activation peak at (b, c): the piece of the piecewise function."""
        phases = self.phases(batch, context)
        return max(phases, key=lambda k: phases[k])

    def activation_bytes(self, batch: int, context: int) -> int:
        p = self.prefill(batch, context)
        resident_bytes = (self._hidden_per_token * p.n_tokens + self._positions_per_token * p.tokens
                          + window_mask(self.rank, p) + relative_bias(self.rank, p))
        return resident_bytes + max(self._phases(p).values())

    def total(self, batch: int, context: int) -> int:
        act = self.activation_bytes(batch, context)
        frag = 0 if "fragmentation" in self.overheads.fixed else round(FRAGMENTATION_FRACTION * act)
        return self.fixed_bytes + self.kv_bytes(batch, context) + act + frag

    def max_batch(self, budget_bytes: int, *, context: int, limit: int = 1 << 20) -> int:
        """Closed form: at a fixed context every term is linear in b (each prefill phase is ∝ b,
        so the same phase is widest for every batch), total(b) = t₁ + (b − 1)·slope up to the
        rounding of the fragmentation line; the quotient is then checked, and nudged, on the
        exact total (bisection if it were ever more than a few sequences off)."""
        t1 = self.total(1, context)
        if t1 > budget_bytes:
            return 0
        slope = self.total(2, context) - t1
        b = limit if slope <= 0 else min(limit, 1 + (budget_bytes - t1) // slope)
        for _ in range(4):
            if self.total(b, context) > budget_bytes:
                b -= 1
            elif b < limit and self.total(b + 1, context) <= budget_bytes:
                b += 1
            else:
                return b
        return super().max_batch(budget_bytes, context=context, limit=limit)


def _stored(spec: InferenceSpec, checkpoint: Checkpoint | None,
            config: dict[str, object] | None) -> Part | None:
    return _stored_weights(checkpoint, config) if checkpoint is not None and not spec.quant else None


def compile_hf(arch: Architecture, spec: InferenceSpec, *, checkpoint: Checkpoint | None = None,
               config: dict[str, object] | None = None) -> HfCost:
    """Fix the architecture, format and layout of ``spec`` (its batch and context are free)."""
    spec.check()
    rank, stage, weights = gpu_slice(arch, spec)
    stored = _stored(spec, checkpoint, config)
    if stored is not None:
        weights = scaled_weights(stored, weights.value, weights_tree(arch, spec).value)
    over = Overheads(gpus=spec.layout.gpus).with_overrides(list(spec.overrides))
    source = _source(checkpoint, config)
    return HfCost(arch, spec, rank, stage, weights, over, source)


# --- vLLM -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VllmCost(_Profile):
    """vLLM's start-up for one architecture, format and layout, as a function of
    ``max_model_len`` (the context) and the GPU's memory. The batch does not enter: the KV pool
    is what ``gpu_memory_utilization × GPU`` leaves, and concurrency is the answer."""

    arch: Architecture
    spec: InferenceSpec
    weights_all_gpus: int  # the checkpoint as loaded; each worker holds 1/(tp·pp)
    source: Source = None
    _fast: tuple[int, int, KVLayout, VllmConfig] | None = field(init=False, repr=False, compare=False)

    def startup(self, context: int, gpu_memory_bytes: int | None = None) -> VllmStartup:
        """What vLLM logs at start-up with ``max_model_len=context`` (raises ``ConfigError``
        where vLLM refuses to start)."""
        spec = replace(self.spec, context=context, gpu_mem=gpu_memory_bytes or self.spec.gpu_mem)
        return vllm_startup(self.arch, weights_bytes=self.weights_all_gpus, cfg=vllm_config(spec))

    def __post_init__(self) -> None:
        # The report's total is weights + activation + non-torch + KV pool + graphs, and the pool
        # is what ``requested`` leaves: the sum is requested − reserved + graphs, whatever the
        # context, as long as vLLM starts. Whether it starts depends on the context only through
        # the pages one max_model_len request needs (``request_blocks``), which is kept here
        # with the layout (its window blocks are recomputed per context by ``window_blocks``).
        fast: tuple[int, int, KVLayout, VllmConfig] | None = None
        try:
            cfg = vllm_config(self.spec)
            check_supported(self.arch, cfg)
            non_torch, graphs = empirical_terms(cfg)
            reserved = graphs if cfg.cudagraphs_in_budget else 0
            weights = -(-self.weights_all_gpus // (cfg.tp * cfg.pp))
            available = (cfg.requested_bytes - weights - activation_part(self.arch, cfg).value
                         - non_torch - reserved)
            layout = kv_layout(self.arch, cfg, max_model_len=self.spec.context or self.arch.max_position)
            if available > 0 and isinstance(self.weights_all_gpus, int) and self.weights_all_gpus >= 0:
                fast = (cfg.requested_bytes - reserved + graphs, available, layout, cfg)
        except ConfigError:
            fast = None  # every evaluation raises it again, through the full start-up
        object.__setattr__(self, "_fast", fast)

    def _starts_fast(self, fast: tuple[int, int, KVLayout, VllmConfig], context: int) -> bool:
        """``check_fits`` for ``max_model_len=context``, on the compiled layout."""
        _, available, layout, cfg = fast
        if layout.window_layers:
            tokens = scheduler_defaults(cfg)[0]
            blocks = window_blocks(self.arch, cfg, max_model_len=context, tokens=tokens)
            layout = replace(layout, window_blocks=blocks)
        pages = request_blocks(layout, max_model_len=context, block=cfg.block_size)[1]
        return pages * layout.page_bytes <= available

    def total(self, batch: int, context: int) -> int:
        """The report's total (per GPU): vLLM's split of its budget, whatever ``batch``."""
        fast = self._fast
        if fast is not None and context > 0 and self._starts_fast(fast, context):
            return fast[0]
        s = self.startup(context)  # the exact figure, or the ConfigError vLLM's start-up raises
        return s.weights + s.kv_available + s.activation_peak + s.non_torch + s.cuda_graphs

    def kv_capacity_tokens(self, context: int, gpu_memory_bytes: int | None = None) -> int:
        """"GPU KV cache size: N tokens"."""
        return self.startup(context, gpu_memory_bytes).kv_tokens

    def max_concurrency(self, context: int, gpu_memory_bytes: int | None = None) -> float:
        """"Maximum concurrency for L tokens per request: X×"."""
        return self.startup(context, gpu_memory_bytes).max_concurrency

    def _starts(self, context: int, gpu_memory_bytes: int) -> bool:
        try:
            self.startup(context, gpu_memory_bytes)
        except ConfigError:
            return False
        return True

    def max_context(self, budget_bytes: int, *, batch: int = 1, limit: int = MAX_CONTEXT) -> int | None:
        """The longest ``max_model_len`` vLLM starts with on a GPU of ``budget_bytes`` (torch's
        total), with room for ``batch`` such sequences at once."""
        def fits(c: int) -> bool:
            return self._starts(c, budget_bytes) and self.max_batch(budget_bytes, context=c) >= batch

        return largest(fits, 1, limit)

    def max_batch(self, budget_bytes: int, *, context: int, limit: int = 1 << 20) -> int:
        """How many sequences of ``context`` tokens the KV pool of a GPU of ``budget_bytes`` holds
        at once (⌊max concurrency⌋, as whole blocks); 0 when vLLM does not start."""
        if not self._starts(context, budget_bytes):
            return 0
        return min(limit, int(self.startup(context, budget_bytes).max_concurrency))


def compile_vllm(arch: Architecture, spec: InferenceSpec, *, checkpoint: Checkpoint | None = None,
                 config: dict[str, object] | None = None) -> VllmCost:
    spec.check()
    stored = _stored(spec, checkpoint, config)
    weights = stored.value if stored is not None else weights_tree(arch, spec).value
    return VllmCost(arch, spec, weights, _source(checkpoint, config))


# --- llama.cpp ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LlamaCppCost(_Profile):
    """llama.cpp's GPU buffers for ``-c b·c -np b`` with the weights priced once."""

    arch: Architecture
    spec: InferenceSpec
    weights: LlamaCppWeights
    source: Source = None

    _fast: tuple[int, LlamaCppConfig, tuple[Term, ...], tuple[Term, ...]] | None = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # (b, c) enter only through the geometry of ``-c b·c -np b`` (cells per stream, SWA cells,
        # streams, reserved tokens); each buffer is a polynomial in it (``_fit``), read off the
        # buffer functions themselves at compile time.
        fast = None
        try:
            cfg = llamacpp_config(self.spec)
            plan = llamacpp_plan(self.arch, self.weights, cfg)  # the checks that do not depend on (b, c)
            ngl, L = plan.n_gpu_layers, self.arch.n_layers
            kv_gpu = [il for il in range(L) if on_gpu(il, L, ngl)] if cfg.offload_kqv else []
            fixed = _named(plan.device)[0].value + overhead(Overheads(), activation_bytes=0).value
            kv = _fit(lambda g: kv_buffer(self.arch, cfg, g, kv_gpu).value)
            stages: list[Term | None] = []
            if ngl > 0 or cfg.op_offload:
                def stage(i: int) -> Callable[[Geometry], int]:
                    return lambda g: gpu_stages(self.arch, cfg, g, self.weights)[i].value

                n = len(gpu_stages(self.arch, cfg, plan.geometry, self.weights))
                stages = [_fit(stage(i)) for i in range(n)]
            if kv is not None and all(t is not None for t in stages):
                fast = (fixed, cfg, (kv,), tuple(t for t in stages if t is not None))
        except ConfigError:
            fast = None  # every evaluation raises it again, through the full plan
        object.__setattr__(self, "_fast", fast)

    def total(self, batch: int, context: int) -> int:
        if self._fast is None or batch < 1 or context < 0:
            return llamacpp_total(self.arch, replace(self.spec, batch=batch, context=context), self.weights)
        fixed, cfg, kv, stages = self._fast
        _, cells, streams, swa, _, tokens = geometry_sizes(self.arch, cfg, n_ctx=batch * context, n_seq=batch)
        at = (tokens, cells, swa, streams)
        return fixed + _value(kv[0], at) + max((_value(t, at) for t in stages), default=0)


def compile_llamacpp(arch: Architecture, spec: InferenceSpec, *, checkpoint: Checkpoint | None = None,
                     config: dict[str, object] | None = None) -> LlamaCppCost:
    spec.check()
    weights = llamacpp_weights(arch, spec, checkpoint)
    return LlamaCppCost(arch, spec, weights, _source(checkpoint, config))


# A llama.cpp buffer as a function of the geometry (T tokens, C cells and W SWA cells per stream,
# S streams): c₀ + T·(t₀ + t₁·C + t₂·W) + S·(k₁·C + k₂·W).
Term = tuple[int, int, int, int, int, int]


def _geo(tokens: int, cells: int, swa: int, streams: int) -> Geometry:
    return Geometry(cells * streams, cells, streams, swa, tokens, tokens)


def _value(t: Term, at: tuple[int, int, int, int]) -> int:
    tokens, cells, swa, streams = at
    return t[0] + tokens * (t[1] + t[2] * cells + t[3] * swa) + streams * (t[4] * cells + t[5] * swa)


def _fit(fn: Callable[[Geometry], int]) -> Term | None:
    """The coefficients of ``fn`` read off at unit geometries, checked at two others; None when
    ``fn`` is not of the form (the cost model then evaluates the full plan). Every geometry has
    W ≤ C (``geometry_sizes`` caps the SWA cache at the full one), so the points do too: the host
    layers' K, V staged for op offload are the larger of a full and an SWA layer, i.e. the full."""
    c0 = fn(_geo(0, 0, 0, 0))
    t0 = fn(_geo(1, 0, 0, 0)) - c0
    t1 = fn(_geo(1, 1, 0, 0)) - c0 - t0
    t2 = fn(_geo(1, 1, 1, 0)) - c0 - t0 - t1
    k1 = fn(_geo(0, 1, 0, 1)) - c0
    k2 = fn(_geo(0, 1, 1, 1)) - c0 - k1
    term = (c0, t0, t1, t2, k1, k2)
    for at in ((7, 300, 50, 3), (512, 4352, 4352, 1)):
        if fn(_geo(*at)) != _value(term, at):
            return None
    return term


CostModel = HfCost | VllmCost | LlamaCppCost


def compile_inference(arch: Architecture, spec: InferenceSpec, *, checkpoint: Checkpoint | None = None,
                      config: dict[str, object] | None = None) -> CostModel:
    """The compiled form of ``spec.engine``'s profile (see the module docstring)."""
    if spec.engine == "vllm":
        return compile_vllm(arch, spec, checkpoint=checkpoint, config=config)
    if spec.engine == "llamacpp":
        return compile_llamacpp(arch, spec, checkpoint=checkpoint, config=config)
    return compile_hf(arch, spec, checkpoint=checkpoint, config=config)
