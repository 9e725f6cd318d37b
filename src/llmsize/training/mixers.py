"""Training activations of the token mixers that are not softmax attention: what autograd saves
for the backward pass, in bytes per token, on transformers 5.24's pure-torch paths (the
fused kernels of mamba-ssm and flash-linear-attention recompute their scans in the backward
and save far less; they are not modelled for training).

Read from the modeling code and checked against the tensors alive after one mixer's forward
under ``FakeTensorMode`` (the validation suite measures whole models, ``validation/REPORT.md``)::

    mamba (v1)   14·E·N + 26·E          exp(ΔA) and ΔB (fp32), every step's state in fp32 and
                                        its model-dtype copy for the C product; per channel the
                                        projections, conv, Δ and gate tensors
    mamba (v2)   4·H·(4N + 4Q + 7P) + 4·H·P·N/Q + 16·E + B·(in_proj + conv + E)
    linear       4·H_v·(7d_k + 4d_v + 5Q) + 4·H_v·d_k·d_v/Q + 12·V + B·(3V + 2·conv)
    conv         B·(5d) + the conv's L − 1 padding

E = d_inner, N = d_state, H Mamba-2 heads of P = E/H channels, Q the chunk, H_v value heads of
d_k, d_v, V = H_v·d_v, B bytes per activation. The chunked scans' per-chunk states are spread
over the chunk's tokens (exact when s is a multiple of Q; padding to whole chunks is left out:
at most Q/s of the term), which keeps every line a constant per token (``cost.py`` needs it).
"""

from __future__ import annotations

from ..arch import Architecture

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .activations import ActivationSpec

DELTANET_CHUNK = 64  # transformers ``torch_chunk_gated_delta_rule(chunk_size=64)``
MAMBA1_CHANNEL_BYTES = 26  # per token and channel: in_proj 2·2, conv 2, act 2, Δ 2 + fp32 4, x fp32 4, …


def mamba1_saved(arch: Architecture, w: ActivationSpec) -> float:
    """Mamba's sequential selective scan (transformers ``mamba_selective_scan``): exp(A·Δ) and
    ΔB = Δ·B in fp32 (the products' saved inputs, E·N each), and per step the fp32 state the
    next step's product saves and its model-dtype copy the C matmul saves (E·N each);
    per channel 26 bytes: in_proj's output (2E), the conv output and its activation, softplus Δ,
    Δ + bias and u in fp32, the gate's activation, the step outputs' stack (Gu & Dao 2023,
    arXiv 2312.00752, Alg. 2)."""
    ssm = arch.ssm
    assert ssm is not None, "mamba1_saved needs an SSM"
    E, N = ssm.d_inner, ssm.d_state
    return (4 + 4 + 4 + w.B) * E * N + MAMBA1_CHANNEL_BYTES * E


def mamba2_saved(arch: Architecture, w: ActivationSpec) -> float:
    """Mamba-2's chunked scan (transformers ``mamba2_chunk_scan``; Dao & Gu 2024, arXiv
    2405.21060, Listing 1), fp32: B and C repeated to H heads, B's decayed copy and C's einsum
    copy (4N); L = exp(segsum), G, M and M's einsum copy (4Q); x, x·Δ, the D residual, Y_diag,
    C·states and two einsum copies (7P); the chunk states (b, c + 1, H, P, N); the gated
    RMSNorm's fp32 input, gate, activation and product (4E). Model dtype: in_proj's output
    (2E + 2GN + H), the conv output (E + 2GN) and the norm's output (E)."""
    ssm = arch.ssm
    assert ssm is not None, "mamba2_saved needs an SSM"
    E, N, G, H, Q = ssm.d_inner, ssm.d_state, ssm.n_groups, ssm.n_heads, ssm.chunk_size
    P = E // H
    fp32 = H * (4 * N + 4 * Q + 7 * P) + H * P * N / Q + 4 * E
    return 4 * fp32 + w.B * ((2 * E + 2 * G * N + H) + (E + 2 * G * N) + E)


def deltanet_saved(arch: Architecture, w: ActivationSpec) -> float:
    """Gated DeltaNet's chunked delta rule (transformers ``torch_chunk_gated_delta_rule``; Yang,
    Kautz & Hatamizadeh 2024, arXiv 2412.06464, §3.2), fp32 and repeated to H_v heads: q and k
    cast, padded and decayed, k·β's decayed copy and the solved k_cumdecay (7d_k); v padded,
    v·β, the solved new values and each chunk's v_new (4d_v); the pairwise decay, the UT
    system, the intra-chunk attention and two matmul outputs (5Q); one d_k×d_v state per chunk;
    the gated RMSNorm's fp32 input, gate and activation (3V). Model dtype: the norm's cast, gate
    and product (3V), the conv's input and output (2·conv)."""
    la = arch.linear_attn
    assert la is not None, "deltanet_saved needs linear attention"
    H, dk, dv, Q = la.n_v_heads, la.head_k_dim, la.head_v_dim, DELTANET_CHUNK
    V = la.value_dim
    fp32 = H * (7 * dk + 4 * dv + 5 * Q) + H * dk * dv / Q + 3 * V
    return 4 * fp32 + w.B * (3 * V + 2 * la.conv_dim)


def short_conv_saved(arch: Architecture, w: ActivationSpec) -> float:
    """LFM2's short conv (``Lfm2ShortConv``): in_proj's output (3d), the conv output (over
    s + L − 1 positions: the padding is left out), B·x and C·conv (d each)."""
    return w.B * 6 * arch.d_model


def mixer_saved(arch: Architecture, w: ActivationSpec, kind: str) -> float:
    """Bytes per token a layer's non-attention mixer saves (0 for attention and MLP-only layers)."""
    if kind in ("mamba", "parallel") and arch.ssm is not None:
        return mamba2_saved(arch, w) if arch.ssm.version == 2 else mamba1_saved(arch, w)
    if kind == "linear":
        return deltanet_saved(arch, w)
    if kind == "conv":
        return short_conv_saved(arch, w)
    return 0.0


def mixer_backward(arch: Architecture, w: ActivationSpec, kind: str) -> float:
    """Bytes per token of temporaries at the mixer's backward peak beyond what it saved, read
    off MemTracker-style listings of one mixer's backward with frozen weights (b1, s256; s64 for
    Mamba): Mamba-1, the fp32 gradients of exp(ΔA), ΔB, ΔB·u and the broadcast Δ, (b, E, s, N)
    each (16·E·N); Mamba-2, the gradients of L and G (T·H·Q each) and of x (T·H·P) in fp32;
    Gated DeltaNet, the fp32 gradients of q, k (d_k) and v, the new values (d_v) per value head
    and ∂x; the short conv, the gradient of in_proj's output (3d)."""
    if kind in ("mamba", "parallel") and arch.ssm is not None:
        ssm = arch.ssm
        if ssm.version == 1:
            return 16 * ssm.d_inner * ssm.d_state
        return 4 * ssm.n_heads * (2 * ssm.chunk_size + ssm.d_inner // ssm.n_heads)
    if kind == "linear" and arch.linear_attn is not None:
        la = arch.linear_attn
        return 4 * la.n_v_heads * (2 * la.head_k_dim + 2 * la.head_v_dim) + w.B * arch.d_model
    if kind == "conv":
        return w.B * 3 * arch.d_model
    return 0.0
