"""Where llama.cpp puts memory, and how many layers ``-ngl`` can offload (placed in ``llamacpp_plan.py``).

llama.cpp allocates a handful of named buffers and prints each one at start-up; this module
sizes the same buffers, on the same side of the PCIe bus::

    GPU (CUDA0)                                  host (CPU RAM)
    ─────────────────────────────────────        ─────────────────────────────────────
    model buffer   last ngl blocks blk.i         model buffer   token_embd (always: the
                   + output layer if ngl > L                    input layer stays on the CPU)
                                                                + the other blocks
                                                                + output layer if ngl ≤ L
    KV buffer      K, V of offloaded blocks      KV buffer      K, V of the other blocks
    compute buffer peak of the graph's live      output buffer  logits: n_seq · V · 4 bytes
                   tensors at n_ubatch tokens    compute buffer graph inputs (embeddings, mask)

``-ngl N`` offloads the *last* N repeating blocks (``i_gpu_start = L − N``); N > L also offloads
the output layer, so ``-ngl L+1`` is full offload ("offloaded 33/33 layers" for 32 blocks).

KV cache, per layer and stream (``llama_kv_cache``: one 3-D tensor ``[n_embd_gqa, cells, n_stream]``)::

    K = row(k·d_h, type_k) · cells · n_stream      V = row(k·d_h, type_v) · cells · n_stream
    cells      = n_ctx padded to 256 (per sequence, padded again, unless --kv-unified)
    SWA cells  = min(cells, pad₂₅₆(n_swa · (n_seq if unified else 1) + n_ubatch))   (iSWA cache)
    MLA        = one K row of d_c + d^R_h per token, no V (DeepSeek-V2 latent, "V-less" cache)

Compute buffer (``llamacpp_compute.py``): ggml-alloc reuses memory as tensors die, so the buffer
is the peak of live tensors over the prompt-processing graph of ``n_tokens = min(n_ctx, n_ubatch)``
tokens with every token an output. Three places compete (F32 = 4 bytes, T = n_tokens, d = d_model)::

    attention  KQ scores n_kv·T·a (F32, only without flash attention) + KQ masks
               + 2·d·T + 2·a·d_h·T hidden states
    FFN        residual d·T + gate, up and fused SwiGLU out 3·I·T   (MoE: 3·I_e·k_e·T)
    output     logits V·T + final hidden d·T

Mirrored: llama.cpp master of early 2026 — after PR #17046 (``n_ctx`` padded to 256 in
``llama_context``) and PR #19067 (2026-01-24, V-less MLA cache), before PR #21277 (2026-04-01,
SWA layers kept in F16); the ``llama-context.cpp`` read is the one ollama vendors at its commit
04db8a0 (llama.cpp 3688c4f). Files: ``src/llama-context.cpp`` (``n_ctx``/``n_ctx_seq`` padding,
``output_reserve(n_seq_max)``, ``sched_reserve`` → ``graph_reserve(n_tokens, n_seqs, n_tokens)``,
``-fa auto`` resolution), ``src/llama-kv-cache.cpp`` (tensor shapes, ``has_v = !is_mla``),
``src/llama-kv-cache-iswa.cpp`` (``size_swa``), ``src/llama-model.cpp`` (``load_tensors`` layer →
device assignment), ``ggml/src/ggml-alloc.c`` (``ggml_op_can_inplace``), ``common/arg.cpp``
(defaults -b 2048, -ub 512, -fa auto, --fit-target 1024). The compute-buffer model is calibrated
on printed logs (``tests/test_llamacpp.py``); the KV and model buffers are exact.

Left out: multi-GPU splits and pipeline-parallel copies, ``--override-tensor``, CUDA context and
cuBLAS/pool memory (outside llama.cpp's buffers), recurrent/SSM state, encoder models, mmproj
towers, the ``n_ctx`` reduction ``--fit`` may apply, and the mmap page cache (a mapped host
buffer spans the tensors' file range, which can exceed the bytes counted here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..arch import Architecture
from ..errors import CheckpointError, ConfigError
from ..tree import Part, group, leaf
from ..units import MiB
from .kvcache import QK, row_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    from ..sources.checkpoint import Checkpoint

    FlashAttn = Literal["auto", "on", "off"]

# llama.cpp cache-type names (-ctk/-ctv) → kvcache.KV_FORMATS names
CACHE_TYPES = {"f32": "fp32", "f16": "fp16", "bf16": "bf16", "q8_0": "q8_0", "q4_0": "q4_0"}
CACHE_TYPE_OF = {ours: theirs for theirs, ours in CACHE_TYPES.items()}  # our KV name → -ctk/-ctv
QUANTIZED_CACHE = ("q8_0", "q4_0")
SWA_PAD = 256  # llama-kv-cache-iswa.cpp: GGML_PAD(n_swa·n_seq + n_ubatch, 256)
F32, F16, I32, I64 = 4, 2, 4, 8  # bytes per element of the graph's tensors
# llama.cpp --fit-target: "target margin per device for --fit option, default: 1024" (MiB),
# common/arg.cpp; the free memory llama_params_fit leaves on each device. Override per config.
FIT_MARGIN_BYTES = 1024 * MiB
# Activations live beside the KQ scores, in units of one F32 [width, n_tokens] tensor: 2 of
# hidden width (residual, attention output) and 2 of query width (Q, KQV). Fitted, not derived:
# Llama-3-8B at -c 8192 prints "CUDA0 compute buffer size = 560.00 MiB" = 512 KQ + 16 mask + 4 × 8
# (ollama log, Aug 2024) and Llama-2-7B on the CPU at -c 2048 "164.01 MiB" = 128 + 4 + 4 × 8.
ATTN_HIDDEN_TENSORS = 2
ATTN_QUERY_TENSORS = 2


@dataclass(frozen=True)
class LlamaCppConfig:
    """The llama.cpp flags that change memory, with llama.cpp's defaults.

    ``n_ctx`` is the whole cache (``-c``, 0 = the model's training context), shared by ``n_seq``
    sequences (``-np``). ``flash_attn="auto"`` is llama.cpp's default: it resolves to on unless a
    backend lacks the kernel for the model's head size, which this model cannot see. ``n_gpu_layers``
    None offloads everything (``-ngl all``). ``mla_v_cache`` restores the 512-wide MLA V row that
    llama.cpp cached before PR #19067.
    """

    n_ctx: int
    n_seq: int = 1
    n_batch: int = 2048
    n_ubatch: int = 512
    cache_type_k: str = "f16"
    cache_type_v: str = "f16"
    flash_attn: FlashAttn = "auto"
    n_gpu_layers: int | None = None
    swa_full: bool = False
    kv_unified: bool = False
    offload_kqv: bool = True  # False: --no-kv-offload
    op_offload: bool = True  # False: --no-op-offload (big host matmuls stay on the CPU)
    embeddings: bool = False  # --embeddings adds n_embd floats per output
    mla_v_cache: bool = False
    gpu_memory_bytes: int | None = None
    fit_margin_bytes: int = FIT_MARGIN_BYTES

    def __post_init__(self) -> None:
        for key in ("cache_type_k", "cache_type_v"):
            if getattr(self, key).lower() not in CACHE_TYPES:
                raise ConfigError(f"{key} {getattr(self, key)!r}: choose from {', '.join(CACHE_TYPES)}")
        if self.flash_attn not in ("auto", "on", "off"):
            raise ConfigError(f"flash_attn {self.flash_attn!r}: choose auto, on or off")
        for key in ("n_seq", "n_batch", "n_ubatch"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be at least 1, got {getattr(self, key)}")
        if self.n_ctx < 0 or (self.n_gpu_layers is not None and self.n_gpu_layers < 0):
            raise ConfigError("n_ctx and n_gpu_layers must not be negative")
        if self.flash_attn == "off" and self.cache_type_v.lower() in QUANTIZED_CACHE:
            raise ConfigError("a quantized V cache needs flash attention (llama.cpp refuses -fa off)")

    @property
    def flash(self) -> bool:
        return self.flash_attn != "off"

    @property
    def type_k(self) -> str:
        return CACHE_TYPES[self.cache_type_k.lower()]

    @property
    def type_v(self) -> str:
        return CACHE_TYPES[self.cache_type_v.lower()]


@dataclass(frozen=True)
class LlamaCppWeights:
    """Stored bytes of the model's parts as llama.cpp places them: one entry per block ``blk.i``,
    the input layer (``token_embd``, kept on the CPU) and the output layer (``output.weight`` and
    ``output_norm``; with tied embeddings llama.cpp loads a copy of ``token_embd`` there)."""

    layer_bytes: tuple[int, ...]
    input_bytes: int
    output_bytes: int
    tied: bool = False  # output_bytes includes the token_embd copy

    @property
    def output_own_bytes(self) -> int:
        """Output bytes not already mapped for the input (the copy shares the mmap on the host)."""
        return self.output_bytes - (self.input_bytes if self.tied else 0)

    @property
    def total(self) -> int:
        return sum(self.layer_bytes) + self.input_bytes + self.output_own_bytes


_BLOCK = re.compile(r"blk\.(\d+)\.")


def weights_from_gguf(ckpt: Checkpoint) -> LlamaCppWeights:
    """Exact bytes per block from a GGUF's tensor infos: ``blk.N.*`` → block N; ``token_*`` and
    ``position_*`` → input; every other tensor (``output*``, ``rope_*``) → output, the split
    gguf-parser-go's ``file_estimate__llamacpp.go`` makes."""
    blocks: dict[int, int] = {}
    input_bytes = output_bytes = 0
    for t in ckpt.tensors:
        if m := _BLOCK.match(t.name):
            blocks[int(m.group(1))] = blocks.get(int(m.group(1)), 0) + t.nbytes
        elif t.name.startswith(("token_", "position_")):
            input_bytes += t.nbytes
        else:
            output_bytes += t.nbytes
    if not blocks:
        raise CheckpointError(f"{ckpt.path}: no blk.N tensors, so no layers to place")
    tied = not any(t.name == "output.weight" for t in ckpt.tensors)
    embd = next((t.nbytes for t in ckpt.tensors if t.name == "token_embd.weight"), 0)
    layers = tuple(blocks.get(i, 0) for i in range(max(blocks) + 1))
    return LlamaCppWeights(layers, input_bytes, output_bytes + (embd if tied else 0), tied and embd > 0)


# --- context geometry -------------------------------------------------------------------------


LLAMACPP_CTX_PAD = 256  # llama_context pads n_ctx (and each stream) to 256 cells (PR #17046)


def _pad(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


@dataclass(frozen=True)
class Geometry:
    """The sizes llama.cpp derives from the flags: padded context, cells per stream, the SWA
    cache, and the token count of the worst-case (prompt) graph."""

    n_ctx: int  # total cells, all streams
    cells: int  # per stream (kv_size)
    n_stream: int
    swa_cells: int  # per stream, SWA layers
    n_ubatch: int
    n_tokens: int  # tokens (and outputs) of the reserved graph


def geometry(arch: Architecture, cfg: LlamaCppConfig) -> Geometry:
    """llama-context.cpp: ``n_batch = min(n_ctx, n_batch)``, ``n_ubatch = min(n_batch, n_ubatch)``
    (before padding); ``n_ctx = pad(n_ctx, 256)``; without ``--kv-unified`` every sequence gets
    its own stream of ``pad(n_ctx / n_seq, 256)`` cells."""
    return Geometry(*geometry_sizes(arch, cfg, n_ctx=cfg.n_ctx, n_seq=cfg.n_seq))


def geometry_sizes(arch: Architecture, cfg: LlamaCppConfig, *, n_ctx: int,
                   n_seq: int) -> tuple[int, int, int, int, int, int]:
    """``geometry``'s fields for ``-c n_ctx -np n_seq``, the other flags as in ``cfg`` (a tuple:
    the compiled cost model calls this per evaluation)."""
    n_ctx = n_ctx or arch.max_position
    n_ubatch = min(cfg.n_ubatch, n_ctx, cfg.n_batch)
    n_ctx = _pad(n_ctx, LLAMACPP_CTX_PAD)
    n_stream = 1 if cfg.kv_unified else n_seq
    cells = n_ctx if cfg.kv_unified else _pad(n_ctx // n_seq, LLAMACPP_CTX_PAD)
    swa = cells
    if arch.sliding_window and not cfg.swa_full:
        per_cache = arch.sliding_window * (n_seq if cfg.kv_unified else 1) + n_ubatch
        swa = min(cells, _pad(per_cache, SWA_PAD))
    return cells * n_stream, cells, n_stream, swa, n_ubatch, min(cells * n_stream, n_ubatch)


def uses_swa_cache(arch: Architecture) -> bool:
    """llama.cpp builds the iSWA cache only for models that mix window and global layers (Gemma-2/3,
    Cohere2); all-sliding configs (Mistral-7B-v0.1, Phi-3) convert without a window and cache fully."""
    return "sliding" in arch.layer_types and "full" in arch.layer_types


# --- placement: which blocks -ngl puts on the GPU ----------------------------------------------


def gpu_layer_count(n_layer: int, n_gpu_layers: int | None) -> int:
    """Effective ``-ngl``: None is everything, i.e. the L blocks plus the output layer."""
    return n_layer + 1 if n_gpu_layers is None else min(n_gpu_layers, n_layer + 1)


def on_gpu(il: int, n_layer: int, ngl: int) -> bool:
    """llama-model.cpp ``load_tensors``: ``i_gpu_start = max(L − ngl, 0)``; block ``il`` (``L`` is
    the output layer) is offloaded when ``il ≥ i_gpu_start`` and ``il − i_gpu_start < min(ngl, L+1)``."""
    start = max(n_layer - ngl, 0)
    return il >= start and il - start < min(ngl, n_layer + 1)


# --- KV cache ---------------------------------------------------------------------------------


def kv_widths(arch: Architecture, cfg: LlamaCppConfig) -> tuple[int, int]:
    """Elements per token and layer in K and V: ``k·d_h`` each; MLA caches the latent
    ``d_c + d^R_h`` as K and, since PR #19067, no V (``has_v = !is_mla``)."""
    if arch.mla:
        d_c, d_r = arch.mla.kv_lora_rank, arch.mla.qk_rope_head_dim
        return d_c + d_r, d_c if cfg.mla_v_cache else 0
    return arch.n_kv_heads * arch.head_dim, arch.n_kv_heads * arch.head_dim


def check_blocks(arch: Architecture, cfg: LlamaCppConfig) -> None:
    """llama.cpp refuses a quantized cache whose head rows are not whole blocks of 32."""
    head = arch.mla.kv_lora_rank + arch.mla.qk_rope_head_dim if arch.mla else arch.head_dim
    quantized = {cfg.cache_type_k.lower(), cfg.cache_type_v.lower()} & set(QUANTIZED_CACHE)
    if quantized and head % QK:
        raise ConfigError(f"{arch.name}: head size {head} is not a multiple of {QK}, as the "
                          f"{', '.join(sorted(quantized))} KV cache needs")


def layer_cells(arch: Architecture, geo: Geometry, il: int) -> int:
    """Cells (all streams) layer ``il`` keeps: the SWA cache for window layers, else the full one."""
    sliding = uses_swa_cache(arch) and arch.layer_types[il] == "sliding"
    return (geo.swa_cells if sliding else geo.cells) * geo.n_stream


def _caches(arch: Architecture, layers: list[int]) -> list[tuple[str, list[int]]]:
    """``layers`` grouped by the cache that holds them: the full cache, and the SWA one if any."""
    if not uses_swa_cache(arch):
        return [("full", layers)]
    return [(label, [il for il in layers if arch.layer_types[il] == kind])
            for label, kind in (("full", "full"), ("SWA", "sliding"))]


def kv_buffer(arch: Architecture, cfg: LlamaCppConfig, geo: Geometry, layers: list[int]) -> Part:
    """K and V of ``layers``: ``row(width, type) · cells`` per layer, one leaf per cache and tensor.
    Layers from ``n_layer_kv_from_start`` on reuse earlier layers' K/V and have none (Gemma 3n:
    llama-model.cpp sets it to n_layer − the shared layers)."""
    k_w, v_w = kv_widths(arch, cfg)
    layers = [il for il in layers if il < arch.n_layers - arch.kv_shared_layers]
    parts = []
    for label, chosen in _caches(arch, layers):
        if not chosen:
            continue
        cells = layer_cells(arch, geo, chosen[0])
        for tensor, width, dtype in (("K", k_w, cfg.type_k), ("V", v_w, cfg.type_v)):
            size = len(chosen) * row_bytes(width, dtype) * cells
            parts.append(leaf(f"{tensor} {label} ({len(chosen)} layers × {cells:,} cells, {dtype})", size))
    return group("KV buffer", parts)


def layer_kv_bytes(arch: Architecture, cfg: LlamaCppConfig, geo: Geometry, il: int) -> int:
    """K + V bytes of one layer."""
    k_w, v_w = kv_widths(arch, cfg)
    return (row_bytes(k_w, cfg.type_k) + row_bytes(v_w, cfg.type_v)) * layer_cells(arch, geo, il)
