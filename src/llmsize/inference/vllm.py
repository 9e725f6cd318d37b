"""How vLLM sizes its KV cache at start-up (``vllm serve``, V1 engine), mirrored from vLLM 0.11.0
(``vllm_versions.py``: what later releases change, and the custom all-reduce buffers).

vLLM does not compute a KV budget from the model; it measures one. On every GPU worker::

    requested   = total · gpu_memory_utilization        v1/worker/gpu_worker.py  init_device
    profile run = one dummy forward of max_num_batched_tokens tokens spread over
                  min(tokens, max_num_seqs) requests, then the sampler on one row per request
                                                        v1/worker/gpu_model_runner.py  profile_run
    available   = requested − weights − activation_peak − non_torch
                                                        v1/worker/gpu_worker.py  determine_available_memory
    num_blocks  = available // page_size // layers_per_group     v1/core/kv_cache_utils.py  get_num_blocks

    ┌──────────────────────── requested = total · util ────────────────────────┐
    │ weights │ activation peak │ non-torch │ KV cache: num_blocks pages / layer │ rounding │
    └───────────────────────────────────────────────────────────────────────────┘  + CUDA graphs

``activation_peak`` is torch's ``allocated_bytes.all.peak`` increase during the profile run
(``vllm/utils/__init__.py`` ``memory_profiling``); ``non_torch`` is what the process holds outside
torch's allocator (NCCL, cuBLAS handles). CUDA graphs are captured *after* the KV cache is
allocated (``compile_or_warm_up_model``), so in 0.11 they sit outside ``requested``, in the
``1 − util`` headroom; later releases can reserve an estimate inside it (``cudagraphs_in_budget``).

The profile run's peak is usually the sampler, not the forward pass: one ``V``-wide row of logits per
request, sorted for top-k/top-p. At vLLM's H100 defaults (8192 tokens, 1024 requests) Llama-3.1-8B's
sampler holds 4.7 GiB while its forward pass holds under 1 GiB.

KV pages (``vllm/v1/kv_cache_interface.py``): full attention ``2 · block · k_rank · d_h · bytes``
with ``k_rank = max(1, k / tp)``; MLA ``block · (d_c + d^R_h) · bytes`` (one latent, every rank).
A model with both sliding-window and full layers is split into KV groups of equal layer count
(``_get_kv_cache_groups_uniform_page_size``); a sliding layer holds only its window per request
(``SlidingWindowSpec``: ``min(w − 1 + max_num_batched_tokens, max_model_len)`` tokens + 1 block),
while every group draws on one block pool. Left out: Mamba state, encoder-decoder and cross-attention
specs, ``fp8_ds_mla``, ``--kv-cache-memory`` and speculative decoding.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arch import Architecture
from ..errors import ConfigError
from ..tree import Part, group, leaf
from ..units import GiB
from .kvcache import kv_heads_per_gpu, token_row
from .overhead import CUBLAS_WORKSPACE_BYTES
from .vllm_versions import DEFAULT_VERSION, PROFILES, VllmProfile, non_torch_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    Sampler = Literal["torch", "flashinfer"]
    UsageContext = Literal["serve", "llm"]

# --- empirical constants (each has an override field in VllmConfig) -----------------------------
# llm-d-benchmark config_explorer/empirical-vllm-memory-results.md: H100 80GB, vLLM 0.10–0.11 logs.
NON_TORCH_TP1_BYTES = round(0.13 * GiB)  # non-torch at tp=1: 0.13 GiB in 4 runs, 0.14 in 2
NON_TORCH_TPN_BYTES = round(0.55 * GiB)  # at tp≥2 NCCL adds its buffers: 0.55 and 0.54 GiB
CUDAGRAPH_BYTES = round(1.03 * GiB)  # largest graph-pool delta there (gpt-oss-120b); range −0.88…1.03
# The cuBLAS workspace (overhead.py's CUBLAS_WORKSPACE_BYTES; PyTorch 2.8 is vLLM 0.11.0's pin) is
# taken from torch's caching allocator. It is counted here as first allocated by the profile run's
# first GEMM: it is the 32–38 MiB the H100 logs hold beyond the terms below.

# --- vLLM 0.11.0 defaults --------------------------------------------------------------------------
VLLM_VERSION = DEFAULT_VERSION
BLOCK_SIZES = (1, 8, 16, 32, 64, 128)  # vllm/config/cache.py BlockSize
# --kv-cache-dtype → our KV format name; "auto" is the model dtype, taken as bf16
KV_DTYPES = {"auto": "bf16", "bf16": "bf16", "bfloat16": "bf16", "fp16": "fp16", "half": "fp16",
             "fp32": "fp32", "fp8": "fp8", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8"}
LARGE_GPU_BYTES = 70 * GiB  # arg_utils.py: "device_memory >= 70 * GiB_bytes and 'a100' not in name"
# (large GPU, usage context) → (max_num_batched_tokens, max_num_seqs):
# vllm/engine/arg_utils.py EngineArgs._set_default_args ("serve" = UsageContext.OPENAI_API_SERVER)
SCHEDULER_DEFAULTS = {
    (True, "serve"): (8192, 1024), (True, "llm"): (16384, 1024),
    (False, "serve"): (2048, 256), (False, "llm"): (8192, 256),
}


@dataclass(frozen=True)
class VllmConfig:
    """The ``vllm serve`` flags that decide the memory split, with vLLM 0.11.0's defaults.

    ``gpu_memory_bytes`` is the total torch reports (``torch.cuda.mem_get_info()[1]``: an H100 80GB
    reports 79.18 GiB). ``None`` for ``max_num_batched_tokens``/``max_num_seqs`` takes what vLLM
    picks for the GPU and usage context; ``None`` for ``max_model_len`` takes the model's.
    ``sampler``: "torch" is vLLM's PyTorch top-k/top-p path (what ``pip install vllm`` runs: FlashInfer
    is the ``vllm[flashinfer]`` extra); "flashinfer" is its kernel, used when FlashInfer imports.
    """

    gpu_memory_bytes: int
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    block_size: int = 16
    tp: int = 1
    pp: int = 1
    kv_dtype: str = "bf16"
    enforce_eager: bool = False
    hybrid_kv_cache: bool = True  # False = --disable-hybrid-kv-cache-manager: windows cached in full
    cudagraphs_in_budget: bool | None = None  # reserve the graph pool inside `requested`; None: the version's
    version: str = DEFAULT_VERSION  # which release's accounting (vllm_versions.PROFILES)
    custom_all_reduce: bool = True  # False = --disable-custom-all-reduce
    sampler: Sampler = "torch"
    usage_context: UsageContext = "serve"
    gpu_name: str = ""  # vLLM keeps the small defaults on any "A100", whatever its memory
    act_bytes: int = 2  # model dtype (bf16/fp16) of activations and logits
    # overrides for the empirical terms (bytes)
    non_torch_bytes: int | None = None
    cudagraph_bytes: int | None = None
    activation_bytes: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ConfigError(f"gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}")
        if self.block_size not in BLOCK_SIZES:
            raise ConfigError(f"block_size {self.block_size}: vLLM allows {', '.join(map(str, BLOCK_SIZES))}")
        if self.tp < 1 or self.pp < 1:
            raise ConfigError(f"tp and pp must be ≥ 1, got tp={self.tp} pp={self.pp}")
        if self.kv_dtype.lower() not in KV_DTYPES:
            raise ConfigError(f"kv_dtype {self.kv_dtype!r}: vLLM takes {', '.join(KV_DTYPES)}")
        if self.version not in PROFILES:
            raise ConfigError(f"vLLM version {self.version!r}: profiles exist for {', '.join(PROFILES)}")

    @property
    def profile(self) -> VllmProfile:
        return PROFILES[self.version]

    @property
    def graphs_reserved(self) -> bool:
        """Whether the CUDA-graph pool is taken out of ``requested`` (the version's default unless set)."""
        if self.cudagraphs_in_budget is None:
            return self.profile.cudagraphs_in_budget
        return self.cudagraphs_in_budget

    @property
    def cache_dtype(self) -> str:
        return KV_DTYPES[self.kv_dtype.lower()]

    @property
    def requested_bytes(self) -> int:
        """total · util; vLLM keeps a float and truncates only ``available``, as ``int()`` here."""
        return int(self.gpu_memory_bytes * self.gpu_memory_utilization)


def scheduler_defaults(cfg: VllmConfig) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) as vLLM 0.11.0 sets them (``_set_default_args``):
    the larger pair on GPUs of ≥ 70 GiB that are not A100s, and max_num_seqs ≤ max_num_batched_tokens.
    V1 always chunks prefills for generative models, so max_model_len does not enter."""
    large = cfg.gpu_memory_bytes >= LARGE_GPU_BYTES and "a100" not in cfg.gpu_name.lower()
    tokens, seqs = SCHEDULER_DEFAULTS[(large, cfg.usage_context)]
    tokens = cfg.max_num_batched_tokens or tokens
    return tokens, cfg.max_num_seqs or min(seqs, tokens)


def check_supported(arch: Architecture, cfg: VllmConfig) -> None:
    """What vLLM itself refuses (``ModelConfig.verify_with_parallel_config``), and what is not
    modelled here."""
    if arch.is_hybrid or arch.kind != "decoder":
        raise ConfigError(f"{arch.name}: the vLLM profile models decoder-only attention models only "
                          "(state-space and linear-attention layers are not modelled yet)")
    if arch.gemma4:
        raise ConfigError(f"{arch.name}: the vLLM profile does not model Gemma 4's KV groups yet (full "
                          "layers with their own head width, KV-shared layers); use --engine hf")
    if "cross" in arch.layer_types:
        raise ConfigError(f"{arch.name}: the vLLM profile does not model Llama 3.2 Vision (vLLM ran it "
                          "on its V0 encoder-decoder runner, removed in v0.11 by PR #24907)")
    if arch.n_heads % cfg.tp:
        raise ConfigError(f"{arch.name}: total number of attention heads ({arch.n_heads}) must be "
                          f"divisible by tensor parallel size ({cfg.tp})")


# --- the profile run: forward pass ------------------------------------------------------------------


def attention_scratch(arch: Architecture, *, tokens: int, tp: int, e: int) -> int:
    """Live attention intermediates of N tokens on one rank: the fused QKV output
    N·(a/tp + 2·k_rank)·d_h and the attention output N·(a/tp)·d_h (vLLM ``QKVParallelLinear``;
    in the profile run the kernel itself is skipped, ``attn_metadata`` is None). MLA: the query
    N·(a/tp)·(d^nope + d^R), the latent N·(d_c + d^R) and the output N·(a/tp)·d^v."""
    n, a = tokens, arch.n_heads // tp
    if arch.mla:
        m = arch.mla
        return n * (a * m.qk_head_dim + m.kv_lora_rank + m.qk_rope_head_dim + a * m.v_head_dim) * e
    k, d_h = kv_heads_per_gpu(arch, tp), arch.head_dim
    return n * (a + 2 * k + a) * d_h * e


def mlp_scratch(arch: Architecture, *, tokens: int, tp: int, e: int) -> int:
    """Live MLP intermediates: gated, the merged gate-up output N·2I/tp and the activation N·I/tp
    (vLLM ``MergedColumnParallelLinear`` + ``SiluAndMul``); plain, N·I/tp twice."""
    n, i = tokens, arch.d_ff // tp
    return n * (3 * i if arch.gated_mlp else 2 * i) * e


def moe_scratch(arch: Architecture, *, tokens: int, tp: int, e: int) -> int:
    """Fused-MoE workspaces (vLLM 0.11.0 ``fused_moe.py`` ``fused_experts_impl``, chunks of 32768
    tokens): cache13 M·k_e·max(2I_e/tp, d) and cache2 M·k_e·I_e/tp, plus the router logits N·E and
    a shared-expert MLP of width I_s."""
    moe, d = arch.moe, arch.d_model
    assert moe is not None, "moe_scratch needs an MoE architecture"
    m, ie = min(tokens, 32768), moe.d_ff_expert // tp
    fused = m * moe.top_k * (max(2 * ie, d) + ie) * e
    shared = tokens * 3 * (moe.d_ff_shared // tp) * e
    return fused + tokens * moe.n_experts * e + shared


def forward_terms(arch: Architecture, *, tokens: int, tp: int, e: int) -> list[Part]:
    """The forward pass's peak: the residual stream and the layer input (2·N·d) plus the larger of
    one attention block's and one MLP/MoE block's intermediates (each layer frees its own)."""
    attn = attention_scratch(arch, tokens=tokens, tp=tp, e=e)
    mlp = mlp_scratch(arch, tokens=tokens, tp=tp, e=e)
    ff = max(mlp, moe_scratch(arch, tokens=tokens, tp=tp, e=e)) if arch.moe else mlp
    return [
        leaf(f"residual + layer input (2 × {tokens:,} × {arch.d_model})", 2 * tokens * arch.d_model * e),
        leaf("attention intermediates" if attn >= ff else "MLP intermediates", max(attn, ff)),
        leaf("cuBLAS workspace", CUBLAS_WORKSPACE_BYTES),
    ]


# --- the profile run: sampler warm-up ---------------------------------------------------------------


def sort_scratch_per_logit(rows: int) -> int:
    """Scratch bytes per element while ``torch.sort`` sorts ``rows`` rows of V logits (PyTorch 2.8
    ``aten/src/ATen/native/cuda/Sort.cu`` ``launch_stable_sort_kernel``): ≥ 128 rows or one row,
    int64 source indices (8) + cub's alternate key (4) and value (8) buffers; 2–127 rows,
    ``segmented_sort_pairs_by_full_sort``'s two int2 arrays (16) + cub's alternates (4 + 8)."""
    if rows == 1 or rows >= 128:
        return 8 + 4 + 8
    return 16 + 4 + 8


def sampler_bytes_per_logit(rows: int, *, sampler: Sampler, e: int) -> int:
    """Bytes per logit (rows × V) alive at the sampler's peak (vLLM 0.11.0 ``_dummy_sampler_run``
    with top_k = V − 1, top_p = 0.9): the model-dtype logits (e) and their fp32 copy (4,
    ``Sampler.forward``); then "torch": sorted values (4), int64 indices (8) and the sort's scratch
    (``topk_topp_sampler.apply_top_k_top_p``); "flashinfer": masked logits (4) and probabilities
    (4) (flashinfer 0.3.1 ``top_k_top_p_sampling_from_logits``)."""
    if sampler == "flashinfer":
        return e + 4 + 4 + 4
    return e + 4 + 4 + 8 + sort_scratch_per_logit(rows)


def sampler_terms(arch: Architecture, *, tokens: int, rows: int, cfg: VllmConfig) -> list[Part]:
    """The sampler phase: the forward pass's N×d hidden states are still held by ``profile_run``,
    plus the sampled rows' hidden states and their ``rand_like`` copy (2·rows·d) and the logits."""
    e, v, d = cfg.act_bytes, arch.vocab_size, arch.d_model
    per_logit = sampler_bytes_per_logit(rows, sampler=cfg.sampler, e=e)
    return [
        leaf(f"hidden states ({tokens:,} × {d})", tokens * d * e),
        leaf(f"sampled hidden states (2 × {rows:,} × {d})", 2 * rows * d * e),
        leaf(f"sampler, {cfg.sampler} ({rows:,} × {v:,} logits × {per_logit} B)", rows * v * per_logit),
        leaf("cuBLAS workspace", CUBLAS_WORKSPACE_BYTES),
    ]


def activation_part(arch: Architecture, cfg: VllmConfig) -> Part:
    """torch's peak increase during the profile run: the larger of its two phases, the dummy forward
    pass (``_dummy_run(max_num_batched_tokens)``) and the sampler (``_dummy_sampler_run``) on
    min(max_num_seqs, max_num_batched_tokens) rows, on the last pipeline stage."""
    if cfg.activation_bytes is not None:
        return group("activation peak", [leaf("activation peak (given)", cfg.activation_bytes)])
    tokens, seqs = scheduler_defaults(cfg)
    rows = min(tokens, seqs)
    forward = forward_terms(arch, tokens=tokens, tp=cfg.tp, e=cfg.act_bytes)
    fwd = group("activation peak: forward pass", forward)
    smp = group("activation peak: sampler", sampler_terms(arch, tokens=tokens, rows=rows, cfg=cfg))
    return smp if smp.value >= fwd.value else fwd


# --- KV cache layout --------------------------------------------------------------------------------


@dataclass(frozen=True)
class KVLayout:
    """How one worker's KV memory is cut into blocks (``get_kv_cache_config_from_groups``)."""

    page_bytes: int  # one block of one layer
    full_layers: int  # on this worker
    window_layers: int
    group_size: int  # layers per KV group; one tensor of num_blocks pages per group slot
    n_groups: int
    window_blocks: int  # blocks a sliding layer needs per request (0 without one)


def page_bytes(arch: Architecture, cfg: VllmConfig) -> int:
    """One block of one layer: ``AttentionSpec.page_size_bytes`` = 2·block·k_rank·d_h·bytes;
    ``MLAAttentionSpec`` = block·(d_c + d^R_h)·bytes."""
    return cfg.block_size * token_row(arch, kv_dtype=cfg.cache_dtype, tp=cfg.tp)


def window_blocks(arch: Architecture, cfg: VllmConfig, *, max_model_len: int, tokens: int) -> int:
    """``SlidingWindowSpec.max_memory_usage_bytes`` in blocks: ⌈min(w − 1 + T, L) / block⌉ + 1
    (chunked prefill keeps w − 1 computed tokens plus T scheduled; +1 as the window straddles)."""
    w = arch.sliding_window
    assert w is not None, "sliding layers have a window (Architecture checks it)"
    return -(-min(w - 1 + tokens, max_model_len) // cfg.block_size) + 1


def kv_layout(arch: Architecture, cfg: VllmConfig, *, max_model_len: int) -> KVLayout:
    """KV groups (``get_kv_cache_groups``): one group of every layer when all are alike; with full
    and sliding layers, groups of min(n_full, n_window) layers each. Pipeline stages hold ⌈n / pp⌉
    layers of each kind (vLLM's ``get_pp_indices`` splits within one layer of this). Layers that
    reuse an earlier layer's K/V (Gemma 3n, ``kv_sharing_target_layer_name``) get no KV spec."""
    kinds = arch.kv_layer_types
    n_window = sum(t == "sliding" for t in kinds)
    if not cfg.hybrid_kv_cache and n_window < len(kinds):
        n_window = 0  # unify_hybrid_kv_cache_specs: windows become full-attention specs
    n_full = len(kinds) - n_window
    tokens, _ = scheduler_defaults(cfg)
    blocks = window_blocks(arch, cfg, max_model_len=max_model_len, tokens=tokens) if n_window else 0
    size = min(n for n in (n_full, n_window) if n)
    n_groups = -(-n_full // size) + -(-n_window // size)
    per_stage = [-(-n // cfg.pp) for n in (n_full, n_window, size)]
    return KVLayout(page_bytes(arch, cfg), per_stage[0], per_stage[1], per_stage[2], n_groups, blocks)


def request_blocks(layout: KVLayout, *, max_model_len: int, block: int) -> tuple[int, int]:
    """(blocks one max_model_len request needs per group slot summed over groups, as
    ``get_max_concurrency_for_kv_cache_config`` counts them; pages it needs over all layers, as
    ``check_enough_kv_cache_memory`` counts them)."""
    full = -(-max_model_len // block)
    n_full_groups = -(-layout.full_layers // layout.group_size) if layout.full_layers else 0
    n_window_groups = layout.n_groups - n_full_groups
    per_request = n_full_groups * full + n_window_groups * layout.window_blocks
    return per_request, layout.full_layers * full + layout.window_layers * layout.window_blocks


def max_model_len_that_fits(layout: KVLayout, *, available: int, max_model_len: int, block: int) -> int:
    """``estimate_max_model_len``: the longest length whose one request fits (binary search). The
    sliding layers' blocks are held at their value for ``max_model_len``, a slight overcount."""
    lo, hi, best = 1, max_model_len, 0
    while lo <= hi:
        mid = (lo + hi) // 2
        if request_blocks(layout, max_model_len=mid, block=block)[1] * layout.page_bytes <= available:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return best


class VllmWontStart(ConfigError):
    """vLLM refuses to start: one ``max_model_len`` request's KV pages (``needed_bytes``) do not fit
    in what ``requested`` leaves (``available_bytes``, ≤ 0 when nothing is left)."""

    def __init__(self, message: str, *, available_bytes: int, needed_bytes: int, fits_tokens: int) -> None:
        super().__init__(message)
        self.available_bytes, self.needed_bytes, self.fits_tokens = available_bytes, needed_bytes, fits_tokens


def check_fits(layout: KVLayout, *, available: int, max_model_len: int, block: int) -> None:
    """vLLM's start-up failures (``check_enough_kv_cache_memory``), as one line; vLLM's own
    parameter names, with llmsize's flags beside them."""
    needed = request_blocks(layout, max_model_len=max_model_len, block=block)[1] * layout.page_bytes
    if available <= 0:
        raise VllmWontStart(
            f"vLLM: no memory left for the KV cache ({available / GiB:.2f} GiB after weights, activation "
            "and non-torch memory); try increasing gpu_memory_utilization (--gpu-util) or tp (--tp)",
            available_bytes=available, needed_bytes=needed, fits_tokens=0)
    if needed > available:
        fit = max_model_len_that_fits(layout, available=available, max_model_len=max_model_len, block=block)
        raise VllmWontStart(
            f"vLLM: max_model_len {max_model_len} needs {needed / GiB:.2f} GiB of KV cache but only "
            f"{available / GiB:.2f} GiB is available (about {fit} tokens would fit); try increasing "
            "gpu_memory_utilization (--gpu-util) or decreasing max_model_len (--ctx-size)",
            available_bytes=available, needed_bytes=needed, fits_tokens=fit)


# --- the start-up report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VllmStartup:
    """What one vLLM 0.11.0 worker logs at start-up, in bytes: the split of ``requested`` and the
    KV pool it leaves ("GPU KV cache size: N tokens", "Maximum concurrency for L tokens: X×")."""

    requested: int
    weights: int
    activation_peak: int
    non_torch: int
    cuda_graphs: int  # the graph pool; inside `requested` only when cudagraphs_in_budget
    kv_available: int
    num_blocks: int
    kv_tokens: int
    max_concurrency: float
    max_model_len: int
    max_num_batched_tokens: int
    max_num_seqs: int
    kv_bytes: int  # num_blocks pages in every group slot: what is allocated of kv_available
    activation: Part
    cudagraphs_in_budget: bool = False
    version: str = DEFAULT_VERSION

    @property
    def in_use(self) -> int:
        """Device memory the engine holds once serving: ``requested`` plus a graph pool outside it."""
        return self.requested + (0 if self.cudagraphs_in_budget else self.cuda_graphs)

    def tree(self) -> Part:
        """``requested`` as a tree: weights, activation, non-torch, [CUDA graphs], KV cache."""
        graphs = self.cuda_graphs if self.cudagraphs_in_budget else 0
        return group(f"vLLM {self.version} requested memory", [
            leaf("weights", self.weights),
            self.activation,
            leaf("non-torch (NCCL, cuBLAS, CUDA)", self.non_torch),
            leaf("CUDA graphs (reserved)", graphs),
            leaf(f"KV cache ({self.num_blocks:,} blocks, {self.kv_tokens:,} tokens)", self.kv_bytes),
            leaf("KV rounding (less than one block per group slot)", self.kv_available - self.kv_bytes),
        ])

    to_part = tree


def empirical_terms(cfg: VllmConfig) -> tuple[int, int]:
    """(non-torch bytes, CUDA graph pool bytes): the named constants, moved by the version and the
    custom all-reduce (``vllm_versions.non_torch_bytes``), unless overridden; no graphs under
    ``enforce_eager``."""
    non_torch = cfg.non_torch_bytes
    if non_torch is None:
        non_torch = non_torch_bytes(cfg.profile, tp=cfg.tp, tp1_bytes=NON_TORCH_TP1_BYTES,
                                    tpn_bytes=NON_TORCH_TPN_BYTES, custom_all_reduce=cfg.custom_all_reduce)
    graphs = CUDAGRAPH_BYTES if cfg.cudagraph_bytes is None else cfg.cudagraph_bytes
    return non_torch, 0 if cfg.enforce_eager else graphs


@dataclass(frozen=True)
class StartupNeeds:
    """What vLLM takes out of ``requested`` before the KV pool, and the least pool it accepts:
    the KV pages of one ``max_model_len`` request (``check_enough_kv_cache_memory``)."""

    weights: int
    activation: Part
    non_torch: int
    reserved_graphs: int  # the CUDA graph pool when it is inside ``requested``
    min_kv: int
    max_model_len: int

    def parts(self) -> list[tuple[str, int]]:
        """(label, bytes) in vLLM's order: weights, profile run, non-torch, graphs, one request's KV."""
        return [("weights", self.weights), ("activations (profile run)", self.activation.value),
                ("non-torch memory (NCCL, cuBLAS, CUDA)", self.non_torch),
                ("CUDA graphs", self.reserved_graphs),
                (f"KV at {self.max_model_len:,} tokens (one max_model_len request)", self.min_kv)]


def startup_needs(arch: Architecture, *, weights_bytes: int, cfg: VllmConfig) -> StartupNeeds:
    """vLLM starts when ``sum(parts) ≤ requested`` (``check_fits``, the same arithmetic)."""
    max_len = cfg.max_model_len or arch.max_position
    non_torch, graphs = empirical_terms(cfg)
    layout = kv_layout(arch, cfg, max_model_len=max_len)
    min_kv = request_blocks(layout, max_model_len=max_len, block=cfg.block_size)[1] * layout.page_bytes
    return StartupNeeds(-(-weights_bytes // (cfg.tp * cfg.pp)), activation_part(arch, cfg), non_torch,
                        graphs if cfg.graphs_reserved else 0, min_kv, max_len)


def vllm_startup(arch: Architecture, *, weights_bytes: int, cfg: VllmConfig) -> VllmStartup:
    """Mirror one vLLM worker's start-up (0.11.0 unless ``cfg.version``); raises ``ConfigError``
    where vLLM refuses to start.

    ``weights_bytes`` is the whole checkpoint as loaded (quantized layers at their stored width);
    each worker holds 1/(tp·pp) of it (vocab-parallel embedding and head shard like the rest)."""
    check_supported(arch, cfg)
    if not isinstance(weights_bytes, int) or weights_bytes < 0:
        raise ConfigError(f"weights_bytes must be a whole number of bytes, got {weights_bytes!r}")
    tokens, seqs = scheduler_defaults(cfg)
    max_len = cfg.max_model_len or arch.max_position
    weights = -(-weights_bytes // (cfg.tp * cfg.pp))
    activation = activation_part(arch, cfg)
    non_torch, graphs = empirical_terms(cfg)
    reserved = graphs if cfg.graphs_reserved else 0
    available = cfg.requested_bytes - weights - activation.value - non_torch - reserved
    layout = kv_layout(arch, cfg, max_model_len=max_len)
    check_fits(layout, available=available, max_model_len=max_len, block=cfg.block_size)
    num_blocks = available // layout.page_bytes // layout.group_size
    per_request = request_blocks(layout, max_model_len=max_len, block=cfg.block_size)[0]
    return VllmStartup(
        requested=cfg.requested_bytes, weights=weights, activation_peak=activation.value,
        non_torch=non_torch, cuda_graphs=graphs, kv_available=available, num_blocks=num_blocks,
        kv_tokens=num_blocks // layout.n_groups * cfg.block_size,
        max_concurrency=num_blocks / per_request, max_model_len=max_len,
        max_num_batched_tokens=tokens, max_num_seqs=seqs,
        kv_bytes=num_blocks * layout.page_bytes * layout.group_size,
        activation=activation, cudagraphs_in_budget=cfg.graphs_reserved, version=cfg.version,
    )

