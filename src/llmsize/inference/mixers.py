"""The prefill workspace of the token mixers that are not softmax attention.

A state-space or linear-attention layer keeps no KV cache, but its prefill can hold far more
than an attention layer's: transformers' pure-torch paths materialise the scan's discretised
tensors for every position. Two paths, chosen by ``Prefill.mixer_kernels``:

    torch    (default) what transformers 5.24 runs without the fused kernels: on the CPU, and on
             a GPU where mamba-ssm / causal-conv1d / flash-linear-attention are not installed.
             Validated against PyTorch's MemTracker (validation/REPORT.md).
    kernels  the fused kernels (``selective_scan_fn``, ``mamba_chunk_scan_combined``,
             ``chunk_gated_delta_rule``, ``causal_conv1d_fn``) keep the scan's state in on-chip
             memory: only the projections, the conv output and the scan output reach HBM.
             Not validated on a GPU.

Per layer kind, the tensors alive at the mixer's peak (T = b·s tokens; widths in elements;
"fp32" where the torch path upcasts), each read from the modeling code named in its function:

    mamba (v1)   3·T·E·N fp32 (exp(ΔA), ΔB, ΔB·u) + 2·T·E fp32 + 7·T·E       selective scan loop
    mamba (v2)   T'·H·(4N + 3Q + 5P) fp32 + b·(c + 2)·H·P·N fp32 + T·(in_proj + conv)   chunk scan
    linear       T'·H_v·(3d_k + 4d_v + 3Q) fp32 + the wider of the moment before the chunk loop
                 and the loop's step (see ``deltanet_scan``) + T·(conv + V)     gated delta rule
    linear (kda)  T'·H_v·(3Q·d_k + 4d_k + 2d_v + 1) fp32 + T·(conv + V)        Kimi Delta Attention
    conv         T·3d + b·d·(s + L − 1) + 2·T·d                                 LFM2 short conv

T' = b·⌈s/Q⌉·Q, padded to whole chunks of Q positions (c = ⌈s/Q⌉ chunks); E = d_inner,
N = d_state, H Mamba-2 heads of P = E/H channels; H_v value heads. Each kind's phase adds the
layer's normed input (T·d) beside the mixer, as the attention phase does.
"""

from __future__ import annotations

from ..arch import Architecture

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .prefill import Prefill  # prefill.py calls mixer_phase: the type only, no cycle

FP32_BITS = 32
DELTANET_CHUNK = 64  # transformers ``torch_chunk_gated_delta_rule(chunk_size=64)``, as Qwen3-Next calls it


def _bytes(elements: int, bits: int) -> int:
    return -(-elements * bits // 8)


def _padded(p: Prefill, chunk: int) -> tuple[int, int]:
    """(T', chunks): tokens padded to whole chunks, and chunks per sequence."""
    chunks = -(-p.tokens // chunk)
    return p.batch * chunks * chunk, chunks


def own_state(p: Prefill, per_sequence: int) -> int:
    """fp32 elements of the layer's own recurrent state, which the estimate's cache term already
    holds but the peak does not: transformers' cache allocates a layer's state when the scan
    returns it (``cache_utils.LinearAttentionLayer.update_recurrent_state`` → lazy_initialization),
    after the mixer's peak. The torch paths only; subtracted from their workspace."""
    return p.batch * per_sequence


def mamba1_scan(arch: Architecture, p: Prefill) -> int:
    """Mamba's selective scan, torch path (transformers ``mamba_selective_scan``, the sequential
    loop): discrete_A = exp(A·Δ), discrete_B = Δ·B and deltaB_u = discrete_B·u, each
    (b, E, s, N) in fp32, are alive together with the per-step outputs and their stack; the
    skip term u·D and its sum are fp32 (b, E, s). Model dtype: in_proj's output (2E), the conv
    output, its transposed copy, softplus(Δ), the step outputs and their stack (5E).
    Gu & Dao 2023 (arXiv 2312.00752) Alg. 2; kernels: T·(2E + E + E) (in_proj, conv, output)."""
    ssm, T = arch.ssm, p.n_tokens
    assert ssm is not None, "mamba1_scan needs an SSM"
    E, N = ssm.d_inner, ssm.d_state
    if p.mixer_kernels:
        return _bytes(T * 4 * E, p.bits)
    fp32 = T * E * (3 * N + 2) - own_state(p, E * N)
    return fp32 * FP32_BITS // 8 + _bytes(T * 7 * E, p.bits)


def mamba2_scan(arch: Architecture, p: Prefill) -> int:
    """Mamba-2's chunked scan, torch path (transformers ``mamba2_chunk_scan``, the SSD "minimal"
    algorithm of Dao & Gu 2024, arXiv 2405.21060, Listing 1), at the inter-chunk output: B and C
    upcast and repeated to H heads, their decayed copy and C's einsum copy (4N); the intra-chunk
    L = exp(segsum(A)), G = C·Bᵀ and M = G∘L, each (T', H, Q) (3Q); x·Δ, the D residual, Y_diag,
    x's einsum copy and C·states (5P); the chunk states (b, c + 1, H, P, N) and the zero initial
    state. Model dtype: in_proj's output (2E + 2GN + H) and the conv output (E + 2GN).
    Kernels: T·(in_proj + conv + E)."""
    ssm, T = arch.ssm, p.n_tokens
    assert ssm is not None, "mamba2_scan needs an SSM"
    E, N, G, H = ssm.d_inner, ssm.d_state, ssm.n_groups, ssm.n_heads
    P, Q = E // H, ssm.chunk_size
    in_proj, conv = 2 * E + 2 * G * N + H, E + 2 * G * N
    if p.mixer_kernels:
        return _bytes(T * (in_proj + conv + E), p.bits)
    padded, chunks = _padded(p, Q)
    fp32 = padded * H * (4 * N + 3 * Q + 5 * P) + p.batch * (chunks + 2) * H * P * N - own_state(p, E * N)
    return fp32 * FP32_BITS // 8 + _bytes(T * (in_proj + conv), p.bits)


def deltanet_scan(arch: Architecture, p: Prefill) -> int:
    """Gated DeltaNet's chunked delta rule, torch path (transformers
    ``torch_chunk_gated_delta_rule``; Yang, Kautz & Hatamizadeh 2024, arXiv 2412.06464, §3.2): in
    fp32 and repeated to H_v heads, the padded v, v·β, the solved new values and the output
    buffer (4d_v); k·β, its decayed copy and the solved k_cumdecay (3d_k); the pairwise decay, the
    UT system and the intra-chunk attention (T', H_v, Q) each (3Q). Then the wider of two
    moments: the decayed q computed while the padded q and k live (3d_k, and the zero state
    d_k×d_v per head), or the loop over chunks (decayed q and k, 2d_k; the state and the step's
    three d_k×d_v temporaries, two (Q, d_v) step tensors). Model dtype: the conv output
    (2K + V) and z's copy (V), and Qwen3-Next's fused in_proj_qkvz output (2K + 2V), K = H_k·d_k,
    V = H_v·d_v. Kernels: the model-dtype tensors only."""
    la, T = arch.linear_attn, p.n_tokens
    assert la is not None, "deltanet_scan needs linear attention"
    H, dk, dv, Q = la.n_v_heads, la.head_k_dim, la.head_v_dim, DELTANET_CHUNK
    K, V = la.key_dim, la.value_dim
    model_dtype = T * (la.conv_dim + V + (2 * K + 2 * V if arch.modeling.fused_qkvz else 0))
    if p.mixer_kernels:
        return _bytes(model_dtype, p.bits)
    padded, _ = _padded(p, Q)
    if la.variant == "kda":
        return kda_scan(padded * H, dk, dv) * FP32_BITS // 8 + _bytes(model_dtype, p.bits)
    common = padded * H * (3 * dk + 4 * dv + 3 * Q)
    before_loop = padded * H * 3 * dk + p.batch * H * dk * dv
    in_loop = padded * H * 2 * dk + p.batch * H * (4 * dk * dv + 2 * Q * dv)
    fp32 = common + max(before_loop, in_loop) - own_state(p, H * dk * dv)
    return fp32 * FP32_BITS // 8 + _bytes(model_dtype, p.bits)


def kda_scan(rows: int, dk: int, dv: int) -> int:
    """Kimi Delta Attention's chunked rule, torch path (transformers 5.24
    ``chunk_kimi_delta_attention``), fp32 elements at its peak, for ``rows`` = T'·H: the decay is
    per channel, so the pairwise decay and the two products of the intra-chunk system are each
    (T', H, Q, d_k) (3Q·d_k), beside the padded q, k, the cumulative decay g and k·β (4d_k), v
    and v·β (2d_v), and β."""
    return rows * (3 * DELTANET_CHUNK * dk + 4 * dk + 2 * dv + 1)


def short_conv(arch: Architecture, p: Prefill) -> int:
    """LFM2's gated short convolution (transformers ``Lfm2ShortConv.forward``): in_proj's output
    B, C, x (3d), the depthwise conv's output over s + L − 1 positions (padding L − 1), C times
    it, and out_proj's output. The torch and kernel paths keep the same tensors here."""
    sc, T, d = arch.short_conv, p.n_tokens, arch.d_model
    assert sc is not None, "short_conv needs a ShortConv"
    return _bytes(T * 5 * d + p.batch * d * (p.tokens + sc.d_conv - 1), p.bits)


def mixer_phase(arch: Architecture, p: Prefill) -> int:
    """The widest non-attention mixer among the layer kinds present, with the layer's normed
    input beside it (0 for a pure-attention model). The resident hidden states count the
    embedding output and the layer's input as two tensors (``prefill.resident``); in layer 0
    they are one, so a mixer found only there (a cut hybrid) holds T·d less."""
    widths = [(0, False)]
    for kinds, width in _mixers(arch, p):
        only_first = [i for i, t in enumerate(arch.layer_types) if t in kinds] == [0]
        widths.append((width, only_first and arch.n_layers > 1))
    top, first = max(widths)
    normed = _bytes(p.n_tokens * arch.d_model, p.bits)
    return top and top + normed - (normed if first else 0)


def _mixers(arch: Architecture, p: Prefill) -> list[tuple[set[str], int]]:
    """(layer kinds, workspace) of each non-attention mixer the architecture has."""
    kinds, out = set(arch.layer_types), []
    if arch.ssm is not None and kinds & {"mamba", "parallel"}:
        scan = mamba2_scan if arch.ssm.version == 2 else mamba1_scan
        out.append(({"mamba", "parallel"}, scan(arch, p)))
    if arch.linear_attn is not None and "linear" in kinds:
        out.append(({"linear"}, deltanet_scan(arch, p)))
    if arch.short_conv is not None and "conv" in kinds:
        out.append(({"conv"}, short_conv(arch, p)))
    return out
