"""llama.cpp's compute and output buffers: the peak of the graph's live tensors.

ggml-alloc reuses memory as tensors die, so a compute buffer is the largest stage of the
prompt-processing graph reserved for ``n_tokens = min(n_ctx, n_ubatch)`` tokens, every token an
output (``llama_context::graph_reserve``). Three stages compete (F32 = 4 bytes, T tokens)::

    attention  KQ scores n_kv·T·a (F32, only without flash attention) + KQ masks
               + hidden states and queries (two fitted counts, see ``llamacpp.py``)
    FFN        residual d·T + gate, up and the fused SwiGLU output   (MoE: I_e·k_e·T)
    output     logits V·T + final hidden d·T

Blocks left on the host still run their big matmuls on the GPU (op offload), which copies that
block's weights and K/V into the GPU's compute buffer. The host keeps the graph inputs and the
output buffer (one row of logits per sequence). Sources and version: ``llamacpp.py``.
"""

from __future__ import annotations

from ..arch import Architecture
from ..tree import Part, group, leaf
from .llamacpp import (
    ATTN_HIDDEN_TENSORS,
    ATTN_QUERY_TENSORS,
    F16,
    F32,
    I32,
    I64,
    Geometry,
    LlamaCppConfig,
    LlamaCppWeights,
    gpu_layer_count,
    layer_kv_bytes,
    on_gpu,
    uses_swa_cache,
)


def kv_groups(arch: Architecture, geo: Geometry) -> list[int]:
    """KV cells (per stream) of each cache the graph attends to: one KQ mask each."""
    return [geo.cells, geo.swa_cells] if uses_swa_cache(arch) else [geo.cells]


def masks(arch: Architecture, cfg: LlamaCppConfig, geo: Geometry, *, host: bool) -> Part:
    """KQ masks ``[n_kv, T]``: built F32 on the host; with flash attention cast to F16 there too
    (host keeps both), and the GPU gets the one the attention reads."""
    T, parts = geo.n_tokens, []
    for n_kv in kv_groups(arch, geo):
        if host or not cfg.flash:
            parts.append(leaf(f"KQ mask F32 ({n_kv:,} × {T})", n_kv * T * F32))
        if cfg.flash:
            parts.append(leaf(f"KQ mask F16 ({n_kv:,} × {T})", n_kv * T * F16))
    return group("KQ masks", parts)


def q_width(arch: Architecture) -> int:
    """Query width per token: a·d_h; MLA queries the latent, a·(d_c + d^R_h) (absorbed form)."""
    if arch.mla:
        return arch.n_heads * (arch.mla.kv_lora_rank + arch.mla.qk_rope_head_dim)
    return arch.n_heads * arch.head_dim


def attention_stage(arch: Architecture, cfg: LlamaCppConfig, geo: Geometry, *, host: bool,
                    staged_kv: int = 0) -> Part:
    """Live tensors at the attention: without flash attention the F32 scores KQ = a·n_kv·T
    (softmax runs in place), with it nothing of that size; plus the masks and the activations
    ``ATTN_HIDDEN_TENSORS``/``ATTN_QUERY_TENSORS`` (fitted to llama.cpp's printed buffers)."""
    T, d = geo.n_tokens, arch.d_model
    h, q = ATTN_HIDDEN_TENSORS, ATTN_QUERY_TENSORS
    parts = [masks(arch, cfg, geo, host=host),
             leaf(f"hidden states ({h} × {d} × {T} F32)", h * d * T * F32),
             leaf(f"Q and KQV ({q} × {q_width(arch)} × {T} F32)", q * q_width(arch) * T * F32)]
    if not cfg.flash:
        n_kv = geo.cells  # per stream; the T tokens are split over the streams
        parts.insert(0, leaf(f"KQ scores F32 ({n_kv:,} × {T} × {arch.n_heads} heads)",
                             n_kv * T * arch.n_heads * F32))
    parts.append(leaf("host layer's K, V copied in (op offload)", staged_kv))
    return group("attention", parts)


def ffn_stage(arch: Architecture, geo: Geometry, *, staged_weights: int = 0) -> Part:
    """Live tensors at the MLP: residual d·T, normed input d·T while gate and up are computed, then
    gate, up and the fused SwiGLU output (ggml_swiglu_split is not in place): max(2d+2I, d+3I)·T.
    MoE: router logits n_exp·T and the experts' I_e·k_e·T each (mul_mat_id's ``[I_e, k_e, T]``);
    shared experts run after the routed ones and are narrower."""
    T, d = geo.n_tokens, arch.d_model
    width = arch.d_ff
    if arch.moe:
        width = max(arch.d_ff if arch.moe.first_dense_layers else 0, arch.moe.d_ff_expert * arch.moe.top_k)
    mlp = max(2 * d + 2 * width, d + 3 * width) * T * F32
    router = arch.moe.n_experts * T * F32 if arch.moe else 0
    return group("FFN", [leaf(f"residual, gate, up, SwiGLU (I = {width})", mlp),
                         leaf("router logits", router),
                         leaf("host layer's weights copied in (op offload)", staged_weights)])


def output_stage(arch: Architecture, geo: Geometry, *, staged_weights: int = 0) -> Part:
    """The head: logits V·T and the final hidden d·T, all T tokens being outputs in the reserved
    graph; an output layer left on the host is copied in when its matmul is offloaded."""
    T = geo.n_tokens
    return group("output", [leaf(f"logits ({arch.vocab_size} × {T} F32)", arch.vocab_size * T * F32),
                            leaf(f"final hidden ({arch.d_model} × {T} F32)", arch.d_model * T * F32),
                            leaf("output weights copied in (op offload)", staged_weights)])


def graph_inputs(arch: Architecture, cfg: LlamaCppConfig, geo: Geometry) -> Part:
    """Input tensors, allocated on the host: token ids, positions, output ids (I32), K/V slot
    indices (I64, per cache), the embedded tokens (token_embd stays on the CPU) and the masks."""
    T, caches = geo.n_tokens, len(kv_groups(arch, geo))
    return group("graph inputs", [
        leaf(f"input embeddings ({arch.d_model} × {T} F32)", arch.d_model * T * F32),
        masks(arch, cfg, geo, host=True),
        leaf("token ids, positions, output ids, K/V slot indices",
             3 * T * I32 + 2 * caches * T * I64),
    ])


def peak(name: str, stages: list[Part]) -> Part:
    """The compute buffer is the largest stage (ggml-alloc reuses what earlier stages freed)."""
    top = max(stages, key=lambda p: p.value)
    return Part(f"{name} (peak at {top.name})", top.value, top.parts)


def cpu_compute(arch: Architecture, cfg: LlamaCppConfig, geo: Geometry) -> Part:
    """Host compute buffer: with a GPU doing the big matmuls (op offload) only the graph inputs;
    otherwise the host runs the graph too and the buffer is its peak stage (inputs included)."""
    if cfg.op_offload or gpu_layer_count(arch.n_layers, cfg.n_gpu_layers) > arch.n_layers:
        return peak("compute buffer", [graph_inputs(arch, cfg, geo)])
    attention = attention_stage(arch, cfg, geo, host=True)
    ints = graph_inputs(arch, cfg, geo).parts[-1]
    attention = Part(attention.name, attention.value + ints.value, (*attention.parts, ints))
    return peak("compute buffer", [graph_inputs(arch, cfg, geo), attention, ffn_stage(arch, geo),
                                   output_stage(arch, geo)])


def gpu_compute(arch: Architecture, cfg: LlamaCppConfig, geo: Geometry, weights: LlamaCppWeights) -> Part:
    """GPU compute buffer: the peak stage (``gpu_stages``)."""
    return peak("compute buffer", gpu_stages(arch, cfg, geo, weights))


def gpu_stages(arch: Architecture, cfg: LlamaCppConfig, geo: Geometry,
               weights: LlamaCppWeights) -> list[Part]:
    """The GPU graph's stages. Blocks left on the host still run their big matmuls on the GPU
    (ggml-cuda offloads ops of ≥ 32 tokens), copying in that block's K, V and weights, and the
    output layer's weights when it stayed on the host."""
    ngl, L = gpu_layer_count(arch.n_layers, cfg.n_gpu_layers), arch.n_layers
    host_layers = [il for il in range(L) if not on_gpu(il, L, ngl)]
    host_kv = host_layers if cfg.offload_kqv else list(range(L))
    staged_kv = max((layer_kv_bytes(arch, cfg, geo, il) for il in host_kv), default=0)
    staged_w = max((weights.layer_bytes[il] for il in host_layers), default=0)
    staged_out = 0 if on_gpu(L, L, ngl) else weights.output_bytes
    return [attention_stage(arch, cfg, geo, host=False, staged_kv=staged_kv),
            ffn_stage(arch, geo, staged_weights=staged_w),
            output_stage(arch, geo, staged_weights=staged_out)]


def output_buffer(arch: Architecture, cfg: LlamaCppConfig) -> Part:
    """llama-context.cpp ``output_reserve(n_seq_max)``: one row of logits (V floats, plus d_model
    with ``--embeddings``) per sequence, in pinned host memory."""
    row = arch.vocab_size + (arch.d_model if cfg.embeddings else 0)
    return leaf(f"output buffer ({cfg.n_seq} × {row:,} F32)", cfg.n_seq * row * F32)
