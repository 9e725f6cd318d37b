"""Exact parameter counts, as a tree whose parts sum to ``total``.

"Exact" means: equal to the number of unique parameters of the ``transformers`` class the model's
config names, instantiated on the ``meta`` device (tied weights counted once; buffers such as rotary
``inv_freq`` or DeepSeek-V3's ``e_score_correction_bias`` are not parameters).

One decoder layer of a dense pre-norm transformer (Vaswani et al. 2017 §3; GPT-2, Llama)::

    x ─┬─ norm ─ attention (q k v o) ─(+)─┬─ norm ─ MLP (gate up down) ─(+)─▶
       └──────────────────────────────────┘ └─────────────────────────────┘

A parallel block (GPT-J, Falcon, Phi-2) feeds one input to both branches and adds both outputs.
Each formula below is one function; its first line unpacks the architecture into the symbols of
the paper it cites.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .arch import (
    ATTENTION_KINDS,
    MLA,
    SSM,
    Architecture,
    Gemma4Audio,
    Gemma4Text,
    Gemma4Vision,
    Indexer,
    LinearAttention,
    MllamaVision,
    MoE,
    SharedBlocks,
    ShortConv,
    TransformersModel,
    VisionTower,
)
from .schemas import nested, versioned
from .tree import Part, group, leaf, times

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .seed import SeedReport


def linear(n_in: int, n_out: int, *, bias: bool) -> int:
    """A dense projection W ∈ R^{n_in×n_out} (+ b ∈ R^{n_out})."""
    return n_in * n_out + (n_out if bias else 0)


def norm_params(arch: Architecture, width: int) -> int:
    """LayerNorm (Ba et al. 2016) has γ and β; RMSNorm (Zhang & Sennrich 2019) has γ only."""
    return width * (int(arch.norm_weight) + int(arch.norm_bias and arch.norm == "layernorm"))


# --- attention ------------------------------------------------------------------------------


def attention_part(arch: Architecture, *, shared_kv: bool = False) -> Part:
    """Multi-head attention with ``k`` key/value heads (Vaswani et al. 2017 §3.2.2; GQA,
    Ainslie et al. 2023 §2): W_Q ∈ R^{d×a·d_h}, W_K, W_V ∈ R^{d×k·d_h}, W_O ∈ R^{a·d_h×d}.
    QK-norm (Dehghani et al. 2023; Qwen3, Gemma 3, OLMo 2) adds a norm on queries and keys.
    An output gate (Qwen3-Next, ``Qwen3NextAttention``) doubles W_Q: o = W_O (attn ⊙ σ(g)).
    A layer that reuses an earlier layer's keys and values (``shared_kv``, Gemma 3n) has no W_K,
    W_V or key norm (``Gemma3nTextAttention``: "Layers sharing kv states don't need any weight
    matrices")."""
    d, a, k, dh = arch.d_model, arch.n_heads, arch.n_kv_heads, arch.head_dim
    b, gate = arch.qkv_bias, 1 + int(arch.attn_output_gate)  # Qwen3-Next: q and its gate
    kv = 0 if shared_kv else linear(d, k * dh, bias=b)
    parts = [
        leaf("q_proj", linear(d, gate * a * dh, bias=b)),
        leaf("k_proj", kv),
        leaf("v_proj", kv),
        leaf("o_proj", linear(a * dh, d, bias=arch.o_bias)),
    ]
    if arch.attention_sinks:
        # gpt-oss (modeling_gpt_oss.py GptOssAttention.sinks): a learned logit per head that joins
        # the softmax's denominator (Xiao et al. 2023, "attention sinks", arXiv 2309.17453)
        parts.append(leaf("sinks", a))
    return group("attention", parts + qk_norm_parts(arch, shared_kv=shared_kv))


def qk_norm_parts(arch: Architecture, *, shared_kv: bool = False) -> list[Part]:
    """QK-norm: ``head`` normalises each head with one shared γ of width d_h; ``full`` has a γ per
    head (OLMo 2, Cohere, StableLM: widths a·d_h and k·d_h). Gemma 3n's value norm has no γ."""
    a, k, dh = arch.n_heads, arch.n_kv_heads, arch.head_dim
    if arch.qk_norm == "none":
        return []
    q_w, k_w = (dh, dh) if arch.qk_norm == "head" else (a * dh, k * dh)
    per = 1 + int(arch.qk_norm_bias)
    return [leaf("q_norm", q_w * per), leaf("k_norm", 0 if shared_kv else k_w * per)]


def mla_part(arch: Architecture, mla: MLA) -> Part:
    """Multi-head latent attention, DeepSeek-V2 (arXiv 2405.04434) §2.1.2–2.1.3, Eq. 9–19:
    c^Q = W^{DQ} h (d → d'_c), q = W^{UQ} c^Q (d'_c → a·(d^nope_h + d^R_h));
    [c^{KV}; k^R] = W^{DKV} h (d → d_c + d^R_h); [k^C; v] = W^{UK,UV} c^{KV} (d_c → a·(d^nope_h + d^v_h));
    o = W^O v (a·d^v_h → d). RMSNorms sit on c^Q and c^{KV}."""
    d, a, dc, dq = arch.d_model, arch.n_heads, mla.kv_lora_rank, mla.q_lora_rank
    b = arch.qkv_bias
    if dq is None:
        q = [leaf("q_proj", linear(d, a * mla.qk_head_dim, bias=False))]
    else:
        q = [
            leaf("q_a_proj", linear(d, dq, bias=b)),
            leaf("q_a_norm", norm_params(arch, dq)),
            leaf("q_b_proj", linear(dq, a * mla.qk_head_dim, bias=False)),
        ]
    kv = [
        leaf("kv_a_proj", linear(d, dc + mla.qk_rope_head_dim, bias=b)),
        leaf("kv_a_norm", norm_params(arch, dc)),
        leaf("kv_b_proj", linear(dc, a * (mla.qk_nope_head_dim + mla.v_head_dim), bias=False)),
        leaf("o_proj", linear(a * mla.v_head_dim, d, bias=arch.o_bias)),
    ]
    if arch.indexer:
        kv.append(indexer_part(arch, mla, arch.indexer))
    return group("attention (MLA)", q + kv)


def indexer_part(arch: Architecture, mla: MLA, ix: Indexer) -> Part:
    """DeepSeek-V3.2's lightning indexer (transformers 5.24 ``DeepseekV32Indexer``): queries from
    the query latent W^{IQ} (d'_c → n_I·d_I), one key W^{IK} (d → d_I) with a LayerNorm (γ, β),
    and per-head weights W^{w} (d → n_I); no biases."""
    d, dq, n, dh = arch.d_model, mla.q_lora_rank or arch.d_model, ix.n_heads, ix.head_dim
    return group("indexer", [
        leaf("wq_b", linear(dq, n * dh, bias=False)),
        leaf("wk", linear(d, dh, bias=False)),
        leaf("k_norm", 2 * dh),
        leaf("weights_proj", linear(d, n, bias=False)),
    ])


def self_attention(arch: Architecture, *, shared_kv: bool = False) -> Part:
    return mla_part(arch, arch.mla) if arch.mla else attention_part(arch, shared_kv=shared_kv)


# --- feed-forward ---------------------------------------------------------------------------


# Activations with learned scalars, by HF ``hidden_act``: xIELU (Huang et al. 2025, arXiv
# 2411.13010; transformers ``activations.XIELUActivation``) learns α_p and α_n, one value each.
ACTIVATION_PARAMS: dict[str, tuple[str, ...]] = {"xielu": ("alpha_p", "alpha_n")}


def mlp_part(arch: Architecture, d_ff: int, name: str = "mlp", *, bias: bool | None = None,
             width: int | None = None) -> Part:
    """Position-wise feed-forward (Vaswani et al. 2017 §3.3): up d→I, down I→d; gated variants
    (GLU, Shazeer 2020 "GLU Variants Improve Transformer", Eq. 6) add a gate d→I. ``bias``
    defaults to the architecture's ``mlp_bias``, ``width`` (d) to its ``d_model``; a learned
    activation adds its scalars."""
    d, ff, b = width or arch.d_model, d_ff, arch.mlp_bias if bias is None else bias
    parts = [leaf("up_proj", linear(d, ff, bias=b)), leaf("down_proj", linear(ff, d, bias=b))]
    if arch.gated_mlp:
        parts.insert(0, leaf("gate_proj", linear(d, ff, bias=b)))
    if arch.activation in ACTIVATION_PARAMS:
        parts.append(leaf("act_fn", len(ACTIVATION_PARAMS[arch.activation])))
    return group(name, parts)


def expert_part(arch: Architecture, moe: MoE) -> Part:
    """One routed expert: an MLP of width I_e on the model width d, or on the MoE latent width
    (Nemotron-3 ``NemotronHExperts``: in = out = ``moe_latent_size``)."""
    return mlp_part(arch, moe.d_ff_expert, "experts", bias=moe.expert_bias,
                    width=moe.latent_dim or None)


def moe_part(arch: Architecture, moe: MoE) -> Part:
    """Routed experts (Shazeer et al. 2017; Switch, Fedus et al. 2021 §2.1): a router W_r ∈ R^{d×E}
    and E expert MLPs of width I_e; shared experts (DeepSeekMoE, arXiv 2401.06066 §3.2) of total
    width I_s see every token, optionally behind a sigmoid gate Linear(d, 1) (Qwen-MoE).
    Nemotron-3 routes in a latent d_L: fc1 (d → d_L) before the experts, fc2 (d_L → d) after
    (transformers 5.24 ``NemotronHMoE.fc1_latent_proj``, biased when ``mlp_bias``)."""
    d, e, dl = arch.d_model, moe.n_experts, moe.latent_dim
    parts = [
        leaf("router", linear(d, e, bias=moe.router_bias)),
        times(expert_part(arch, moe), e),
    ]
    if dl:
        b = arch.mlp_bias
        parts.append(leaf("latent_proj", linear(d, dl, bias=b) + linear(dl, d, bias=b)))
    if moe.d_ff_shared:
        parts.append(mlp_part(arch, moe.d_ff_shared, "shared_experts"))
    if moe.shared_expert_gate:
        parts.append(leaf("shared_expert_gate", linear(d, 1, bias=False)))
    return group("moe", parts)


# --- layers ---------------------------------------------------------------------------------


def norms_per_layer(arch: Architecture) -> int:
    """Norms in one self-attention layer: pre/post-norm has one per sub-layer (2), a parallel block
    sharing its input norm has 1, the sandwich of Gemma 2/3 has a norm before and after each (4),
    a single-block layer (Mamba, Nemotron-H) has one."""
    if arch.single_block or (arch.parallel_block and arch.shared_block_norm):
        return 1
    return 4 if arch.norm_placement == "sandwich" else 2


def ssm_part(arch: Architecture, ssm: SSM) -> Part:
    """Mamba mixer (Gu & Dao 2023, arXiv 2312.00752, §3.4 Fig. 3; HF ``MambaMixer``):
    in_proj d → 2·d_in, a depthwise conv (d_in · d_conv + d_in), x_proj d_in → r + 2N,
    dt_proj r → d_in (+ bias), A ∈ R^{d_in×N}, D ∈ R^{d_in}, out_proj d_in → d; Jamba's
    ``JambaMambaMixer`` adds RMSNorms of widths r, N, N on Δ, B and C."""
    if ssm.version == 2:
        return mamba2_part(arch, ssm)
    d, di, n, r = arch.d_model, ssm.d_inner, ssm.d_state, ssm.dt_rank
    parts = [
        leaf("in_proj", linear(d, 2 * di, bias=ssm.proj_bias)),
        leaf("conv1d", di * ssm.d_conv + (di if ssm.conv_bias else 0)),
        leaf("x_proj", linear(di, r + 2 * n, bias=False)),
        leaf("dt_proj", linear(r, di, bias=True)),
        leaf("A_log", di * n),
        leaf("D", di),
        leaf("out_proj", linear(di, d, bias=ssm.proj_bias)),
    ]
    if ssm.inner_norms:
        parts.append(leaf("dt_b_c_norms", r + 2 * n))
    return group("mixer (SSM)", parts)


def mamba2_part(arch: Architecture, ssm: SSM) -> Part:
    """Mamba-2 mixer (Dao & Gu 2024, arXiv 2405.21060, §7.1 Fig. 6; HF ``Mamba2Mixer``): one
    in_proj d → d_in + (d_in + 2GN) + H yields z, (x, B, C) and Δ; a depthwise conv over the
    d_in + 2GN channels of x, B, C; per head Δ bias, A and D; a gated RMSNorm over d_in;
    out_proj d_in → d."""
    d, di, h, conv = arch.d_model, ssm.d_inner, ssm.n_heads, ssm.conv_dim
    parts = [
        leaf("in_proj", linear(d, di + conv + h, bias=ssm.proj_bias)),
        leaf("conv1d", conv * ssm.d_conv + (conv if ssm.conv_bias else 0)),
        leaf("dt_bias, A_log, D", 3 * h),
        leaf("norm", di if ssm.gated_norm else 0),
        leaf("out_proj", linear(di, d, bias=ssm.out_bias)),
    ]
    return group("mixer (Mamba-2)", parts)


def gated_deltanet_part(arch: Architecture, la: LinearAttention) -> Part:
    """Gated DeltaNet (Yang et al. 2024, arXiv 2412.06464, §3.2; HF ``Qwen3NextGatedDeltaNet``):
    in_proj_qkvz d → 2·H_k·d_k + 2·H_v·d_v (q, k, v and the output gate z), in_proj_ba d → 2·H_v
    (β and the decay's input), a depthwise conv over q, k, v without bias, per value head a Δ bias
    and A, a gated RMSNorm of width d_v, out_proj H_v·d_v → d."""
    d, hv, conv = arch.d_model, la.n_v_heads, la.conv_dim
    parts = [
        leaf("in_proj_qkvz", linear(d, 2 * la.key_dim + 2 * la.value_dim, bias=False)),
        leaf("in_proj_ba", linear(d, 2 * hv, bias=False)),
        leaf("conv1d", conv * la.d_conv),
        leaf("dt_bias, A_log", 2 * hv),
        leaf("norm", la.head_v_dim),
        leaf("out_proj", linear(la.value_dim, d, bias=False)),
    ]
    return group("mixer (Gated DeltaNet)", parts)


def kda_part(arch: Architecture, la: LinearAttention) -> Part:
    """Kimi Delta Attention (Kimi Linear, arXiv 2510.26692, §3; HF ``KimiLinearDeltaAttention``):
    q, k, v projections d → H·d_k, a depthwise conv over the 3·H·d_k channels without bias, the
    forget gate f_b(f_a(x)) (d → d_k → H·d_k) with a per-channel Δ bias and a per-head A, β from
    d → H, the output gate g_b(g_a(x)) (d → d_k → H·d_k), a gated RMSNorm of width d_k and
    out_proj H·d_k → d; no biases."""
    d, h, dk, width = arch.d_model, la.n_v_heads, la.head_k_dim, la.value_dim
    parts = [
        leaf("q_proj, k_proj, v_proj", 3 * linear(d, width, bias=False)),
        leaf("conv1d", la.conv_dim * la.d_conv),
        leaf("forget_gate", linear(d, dk, bias=False) + linear(dk, width, bias=False) + width + h),
        leaf("b_proj", linear(d, h, bias=False)),
        leaf("output_gate", linear(d, dk, bias=False) + linear(dk, width, bias=False)),
        leaf("norm", la.head_v_dim),
        leaf("out_proj", linear(width, d, bias=False)),
    ]
    return group("mixer (Kimi Delta Attention)", parts)


def short_conv_part(arch: Architecture, sc: ShortConv) -> Part:
    """LFM2's gated short convolution (HF ``Lfm2ShortConv``): in_proj d → 3d, a depthwise conv
    of width L over d channels, out_proj d → d (biases when ``conv_bias``)."""
    d = arch.d_model
    parts = [
        leaf("in_proj", linear(d, 3 * d, bias=sc.bias)),
        leaf("conv", d * sc.d_conv + (d if sc.bias else 0)),
        leaf("out_proj", linear(d, d, bias=sc.bias)),
    ]
    return group("mixer (short conv)", parts)


def cross_attention_part(arch: Architecture) -> Part:
    """Llama 3.2 Vision's gated cross-attention (transformers 5.24 ``MllamaTextCrossAttention``
    and ``MllamaCrossAttentionDecoderLayer``): queries from the text, keys and values from the
    image tokens, W_Q ∈ R^{d×a·d_h}, W_K, W_V ∈ R^{d×k·d_h}, W_O, no biases, an RMSNorm of
    width d_h on q and on k, and two scalar gates: h += tanh(g_attn)·attn, h += tanh(g_mlp)·mlp."""
    a, k, dh = arch.n_heads, arch.n_kv_heads, arch.head_dim
    d = arch.d_model
    return group("cross-attention", [
        leaf("q_proj", linear(d, a * dh, bias=False)),
        leaf("k_proj", linear(d, k * dh, bias=False)),
        leaf("v_proj", linear(d, k * dh, bias=False)),
        leaf("o_proj", linear(a * dh, d, bias=False)),
        leaf("q_norm, k_norm", 2 * dh),
        leaf("tanh gates (attention, MLP)", 2),
    ])


def mixer_part(arch: Architecture, kind: str, *, shared_kv: bool = False) -> Part:
    """The token mixer of a layer of ``kind`` (``arch.LAYER_KINDS``)."""
    if kind == "cross":
        return cross_attention_part(arch)
    if kind == "parallel" and arch.ssm and arch.shared_blocks:
        # Zamba2HybridLayer: a shared block's output goes through this layer's own Linear(d, d)
        return group("mixer (shared block → Mamba-2)", [
            ssm_part(arch, arch.ssm),
            leaf("shared_block_proj", linear(arch.d_model, arch.d_model, bias=False))])
    if kind == "parallel" and arch.ssm:  # Falcon-H1: attention ∥ Mamba-2 on the same input
        return group("mixer (attention ∥ Mamba-2)", [self_attention(arch), ssm_part(arch, arch.ssm)])
    if kind in ATTENTION_KINDS:
        return self_attention(arch, shared_kv=shared_kv)
    mixers = {"mamba": arch.ssm, "linear": arch.linear_attn, "conv": arch.short_conv}
    mixer = mixers.get(kind)
    if isinstance(mixer, SSM):
        return ssm_part(arch, mixer)
    if isinstance(mixer, LinearAttention):
        return kda_part(arch, mixer) if mixer.variant == "kda" else gated_deltanet_part(arch, mixer)
    if isinstance(mixer, ShortConv):
        return short_conv_part(arch, mixer)
    return group("mixer", [])


def shared_blocks_part(arch: Architecture, sb: SharedBlocks, calls: int) -> Part:
    """Zamba2's shared blocks (arXiv 2411.15242 §2; HF ``Zamba2AttentionDecoderLayer``), counted
    once each: min(M, calls) blocks of an RMSNorm (2d), q k v from 2d (a·d_h, k·d_h, d_h = 2d/a),
    o (a·d_h → d), an RMSNorm (d), gate_up d → 2I and down I → d (biased when ``add_bias_linear``);
    then one adapter set per call: gate_up's d → r → 2I and, with attention adapters, q, k and v's
    2d → r → 2d (transformers ties the blocks, never the adapters; ``SharedBlocks.tied``)."""
    d, a, k, dh = arch.d_model, arch.n_heads, arch.n_kv_heads, arch.head_dim
    ff, r = arch.d_ff, sb.adapter_rank
    b, owners = arch.mlp_bias, sb.owners(calls)
    adapters = sum(len(sb.adapter_calls(block, calls)) for _, block in owners)
    block = group("block", [
        leaf("input_norm", norm_params(arch, 2 * d)),
        leaf("attention", linear(2 * d, a * dh, bias=False) + 2 * linear(2 * d, k * dh, bias=False)
             + linear(a * dh, d, bias=False)),
        leaf("pre_ff_norm", norm_params(arch, d)),
        leaf("mlp", linear(d, 2 * ff, bias=b) + linear(ff, d, bias=b)),
    ])
    qkv = 3 * (linear(2 * d, r, bias=False) + linear(r, 2 * d, bias=False)) if sb.attention_adapters else 0
    adapter = group("adapters", [leaf("gate_up", linear(d, r, bias=False) + linear(r, 2 * ff, bias=False)),
                                 leaf("q, k, v", qkv)])
    return group("shared blocks", [rename(times(block, len(owners)), f"blocks ×{len(owners)}"),
                                   rename(times(adapter, adapters), f"adapters ×{adapters}")])


def ffn_part(arch: Architecture, *, routed: bool, d_ff: int | None = None) -> Part:
    return moe_part(arch, arch.moe) if routed and arch.moe else mlp_part(arch, d_ff or arch.d_ff)


def altup_part(arch: Architecture) -> Part:
    """AltUp (Baykal et al. 2023, "Alternating Updates for Efficient Transformers", NeurIPS, §3;
    transformers ``Gemma3nTextAltUp``) around one layer of a model that carries K copies of its
    hidden state: the prediction coefficients W_p ∈ R^{K×K²} and correction coefficients
    W_c ∈ R^{K×K} (Linear without bias, fed by a router W_r ∈ R^{d×K} behind an RMSNorm of width
    d), and the corrected output's scale (d)."""
    d, k = arch.d_model, arch.altup_inputs
    return group("altup", [
        leaf("prediction_coefs", linear(k, k * k, bias=False)),
        leaf("correction_coefs", linear(k, k, bias=False)),
        leaf("modality_router", linear(d, k, bias=False)),
        leaf("router_norm, correct_output_scale", norm_params(arch, d) + d),
    ])


def laurel_part(arch: Architecture) -> Part:
    """LAuReL's low-rank residual (Menghani et al. 2024, "LAuReL: Learned Augmented Residual
    Layer", arXiv 2411.07501, §2.2 "LAuReL-LR"; ``Gemma3nTextLaurelBlock``): x + norm(B A x) with
    A ∈ R^{r×d}, B ∈ R^{d×r} without biases and an RMSNorm of width d."""
    d, r = arch.d_model, arch.laurel_rank
    return group("laurel", [leaf("linear_left", linear(d, r, bias=False)),
                            leaf("linear_right", linear(r, d, bias=False)),
                            leaf("post_laurel_norm", norm_params(arch, d))])


def per_layer_input_part(arch: Architecture) -> Part:
    """A Gemma 3n layer's per-layer input (``Gemma3nTextDecoderLayer``): a gate d → p, the product
    with the layer's slice of the per-layer embeddings, a projection p → d and an RMSNorm of width d."""
    ple = arch.per_layer_input
    assert ple is not None, "per_layer_input_part needs per-layer inputs"
    d, p = arch.d_model, ple.d
    return group("per_layer_input", [leaf("per_layer_input_gate", linear(d, p, bias=False)),
                                     leaf("per_layer_projection", linear(p, d, bias=False)),
                                     leaf("post_per_layer_input_norm", norm_params(arch, d))])


def gemma3n_parts(arch: Architecture) -> list[Part]:
    """What a Gemma 3n layer adds to a Gemma 3 layer: AltUp, LAuReL and its per-layer input."""
    parts = [altup_part(arch)] if arch.altup_inputs else []
    if arch.laurel_rank:
        parts.append(laurel_part(arch))
    if arch.per_layer_input:
        parts.append(per_layer_input_part(arch))
    return parts


def layer_part(arch: Architecture, *, routed: bool, cross_attention: bool = False,
               kind: str = "full", shared_kv: bool = False, d_ff: int | None = None) -> Part:
    """One transformer layer: its mixer (attention, + cross-attention in a decoder of an
    encoder-decoder), the MLP (of width ``d_ff`` where layers differ) or MoE, and its norms; a
    ``single_block`` layer (Mamba, Nemotron-H) is one norm and one mixer, or one MLP/MoE when its
    kind is "none"; Gemma 3n adds AltUp, LAuReL and a per-layer input (``gemma3n_parts``)."""
    d = arch.d_model
    if arch.single_block:
        body = ffn_part(arch, routed=routed) if kind == "none" else mixer_part(arch, kind)
        return group("layer", [body, leaf("norms", norm_params(arch, d))])
    n_norms = norms_per_layer(arch) + int(cross_attention)
    parts = [mixer_part(arch, kind, shared_kv=shared_kv)]
    if cross_attention:
        parts.append(group("cross_attention", attention_part(arch).parts))
    parts.append(ffn_part(arch, routed=routed, d_ff=d_ff))
    parts.append(leaf("norms", n_norms * norm_params(arch, d)))
    return group("layer", parts + gemma3n_parts(arch))


# One distinct layer shape: (mixer kind, routed, reuses an earlier layer's K/V, MLP width)
LayerClass = tuple[str, bool, bool, int]


def layer_classes(arch: Architecture, n_layers: int) -> list[tuple[LayerClass, int]]:
    """Each distinct layer shape in the first ``n_layers`` with its count, in order of first
    appearance; attention kinds count as one shape (same parameters)."""
    routed = set(arch.moe.layers) if arch.moe else set()
    counts: dict[LayerClass, int] = {}
    for i in range(n_layers):
        kind = arch.layer_types[i] if i < len(arch.layer_types) else "full"
        key = ("full" if kind in ("full", "sliding") else kind, i in routed, arch.is_kv_shared(i),
               arch.ff_width(i) if i < arch.n_layers else arch.d_ff)
        counts[key] = counts.get(key, 0) + 1
    return list(counts.items())


def _class_label(cls: LayerClass, n: int, *, hybrid: bool, many: bool, widths: bool) -> str:
    kind, routed, shared, d_ff = cls
    extra = (" sharing K/V" if shared else "") + (f" (MLP {d_ff:,})" if widths else "")
    if hybrid and many:
        ffn = " + moe" if routed else ""
        return f"{'attention' if kind == 'full' else kind}{ffn} layers{extra} ×{n}"
    if many:
        return f"moe layers ×{n}" if routed else f"dense layers ×{n}"
    return f"layers{extra} ×{n}"


def stack_part(arch: Architecture, name: str, n_layers: int, *, cross: bool = False) -> Part:
    """``n_layers`` layers, folded into one node per distinct layer shape (mixer kind, routed,
    sharing K/V, MLP width)."""
    classes = layer_classes(arch, n_layers)
    hybrid = (arch.is_hybrid or "cross" in arch.layer_types) and arch.kind == "decoder"
    many = len(classes) > 1 if hybrid else any(c[1] for c, _ in classes)
    if not hybrid:
        classes.sort(key=lambda c: c[0][1])  # dense layers before routed ones
    parts = [
        rename(times(layer_part(arch, routed=c[1], cross_attention=cross, kind=c[0], shared_kv=c[2],
                                d_ff=c[3]), n),
               _class_label(c, n, hybrid=hybrid, many=many, widths=bool(arch.d_ff_layers)))
        for c, n in classes
    ]
    calls = arch.layer_types[:n_layers].count("parallel")
    if arch.shared_blocks and calls:
        parts.append(shared_blocks_part(arch, arch.shared_blocks, calls))
    if arch.relative_buckets:
        # T5: the first layer of each stack owns the relative position bias table (buckets × a)
        parts.append(leaf("relative_attention_bias", arch.relative_buckets * arch.n_heads))
    if arch.final_norm:
        parts.append(leaf("final_norm", norm_params(arch, arch.d_model)))
    return group(name, parts)


def rename(part: Part, name: str) -> Part:
    return Part(name, part.value, part.parts, part.repeat)


# --- embeddings, head, towers ---------------------------------------------------------------


def embedding_part(arch: Architecture) -> Part:
    """Token embedding V×E (E = d unless OPT projects it), a learned position table, BERT's segment
    table, an embedding norm (BLOOM, BERT) and OPT's E→d projection."""
    v, e, d = arch.padded_vocab + arch.vocab_extra_rows, arch.embed_width, arch.d_model
    parts = [
        leaf("token_embedding", v * e),
        leaf("position_embedding", arch.position_rows * d if arch.position == "learned" else 0),
        leaf("token_type_embedding", arch.token_types * d),
        leaf("embedding_norm", norm_params(arch, d) if arch.embedding_norm else 0),
        leaf("project_in", e * d if e != d else 0),
    ]
    extra = per_layer_embedding_parts(arch) + altup_projection_parts(arch, "altup_projections")
    return group("embeddings", parts + extra)


def per_layer_embedding_parts(arch: Architecture) -> list[Part]:
    """Gemma 3n's per-layer embeddings (``Gemma3nTextModel``): a table V_p × L·p (an
    ``nn.Embedding``, so an embedding here and in transformers' ``exclude_embeddings``), the model
    projection d → L·p and its RMSNorm of width p."""
    ple = arch.per_layer_input
    if ple is None:
        return []
    d, n, p = arch.d_model, arch.n_layers, ple.d
    return [leaf("per_layer_embedding", ple.vocab_size * n * p),
            leaf("per_layer_model_projection", linear(d, n * p, bias=False)),
            leaf("per_layer_projection_norm", norm_params(arch, p))]


def altup_projection_parts(arch: Architecture, name: str) -> list[Part]:
    """AltUp's K − 1 projections d → d that make the extra copies of the embeddings
    (``altup_projections``) and fold them back before the final norm (``altup_unembed_projections``)."""
    k, d = arch.altup_inputs, arch.d_model
    return [leaf(name, (k - 1) * linear(d, d, bias=False))] if k > 1 else []


def head_part(arch: Architecture) -> Part:
    """The output head: an LM head E×V unless tied to the token embedding (Press & Wolf 2017),
    its bias (GPT-J, Phi), BERT's MLM transform (dense d×d + norm, then a bias on the tied decoder;
    an untied decoder has a second bias), or BERT's pooler when no head is named."""
    v, e, d = arch.padded_vocab, arch.embed_width, arch.d_model
    if arch.head == "none":
        pooler = linear(d, d, bias=True) if arch.token_types else 0
        return group("head", [leaf("pooler", pooler)])
    parts = [
        *altup_projection_parts(arch, "altup_unembed_projections"),
        leaf("project_out", d * e if e != d else 0),
        leaf("mlm_transform", linear(d, d, bias=True) + norm_params(arch, d) if arch.head == "mlm" else 0),
        leaf("lm_head", 0 if arch.tie_embeddings else e * v),
        leaf("lm_head_bias", v if arch.lm_head_bias or arch.head == "mlm" else 0),
        # BERT/RoBERTa MLM: the decoder's bias is the head's ``bias`` only while the decoder is
        # tied; an untied decoder keeps a bias of its own (BertLMPredictionHead._tie_weights)
        leaf("decoder_bias", v if arch.head == "mlm" and not arch.tie_embeddings else 0),
    ]
    return group("head", parts)


def vision_part(arch: Architecture, vt: VisionTower | MllamaVision) -> Part:
    """A ViT tower and its projector (Dosovitskiy et al. 2021 §3.1), as the family ``vt.kind``
    builds it (``arch.VISION_KINDS``): patch embedding, positions, L_v layers, norms, projector;
    Llama 3.2 Vision's tiled encoder is a record of its own (``mllama_vision_part``)."""
    if isinstance(vt, MllamaVision):
        return mllama_vision_part(arch, vt)
    tower = group("vision_tower", [
        *_patch_and_positions(vt),
        leaf("pre_norm", _vision_norm(vt, vt.d_model) if vt.facts.pre_norm else 0),
        rename(times(_vit_layer(vt), vt.n_layers), f"layers ×{vt.n_layers}"),
        leaf("post_norm", _vision_norm(vt, vt.d_model) if vt.facts.post_norm else 0),
    ])
    return group("vision", [tower, _projector(arch, vt)])


def _vision_norm(vt: VisionTower, width: int) -> int:
    """The tower's norm: LayerNorm γ and β, or RMSNorm γ (Qwen2.5-VL)."""
    return width * (2 if vt.facts.norm == "layernorm" else 1)


def _patch_and_positions(vt: VisionTower) -> list[Part]:
    """The patch embedding W ∈ R^{C·p²(·t)×d_v} (+ b), then the learned positions: one row per
    patch (an nn.Embedding, SigLIP), per patch and a class token (nn.Parameters, Llama 4: counted
    as non-embedding, as transformers does), or a table of ``position_rows`` (Qwen3-VL)."""
    f, dv = vt.facts, vt.d_model
    rows = {"patches": vt.n_patches, "table": vt.position_rows}.get(f.positions, 0)
    class_token = f.positions == "patches+class"
    return [
        leaf("patch_embedding", linear(vt.patch_in, dv, bias=f.patch_bias)),
        leaf("class_embedding", dv if class_token else 0),
        leaf("positional_embedding_vlm", (vt.n_patches + 1) * dv if class_token else 0),
        leaf("position_embedding", rows * dv),
    ]


def _vit_layer(vt: VisionTower) -> Part:
    """One pre-norm ViT layer: biased q k v o, an MLP with biases (fc1 fc2, or Qwen2.5-VL's
    gate up down), two norms."""
    dv, ff = vt.d_model, vt.d_ff
    mlp = (3 if vt.facts.gated_mlp else 2) * dv * ff + (2 if vt.facts.gated_mlp else 1) * ff + dv
    return group("layer", [
        leaf("attention", 4 * linear(dv, dv, bias=True)),
        leaf("mlp", mlp),
        leaf("norms", 2 * _vision_norm(vt, dv)),
    ])


def _projector(arch: Architecture, vt: VisionTower) -> Part:
    """Into the text model's width d. Gemma 3 (arXiv 2503.19786 §2.1): an RMSNorm on d_v and
    W ∈ R^{d_v×d}. Llama 4: the pixel-shuffle adapter fc1 (I_v → d_a), fc2 (d_a → d_a) and
    W ∈ R^{d_out×d}, no biases. Qwen's PatchMerger: a norm on d_v, then fc1 (m²d_v → m²d_v) and
    fc2 (m²d_v → d_out) with biases; Qwen3-VL adds one merger per DeepStack level whose LayerNorm
    sits after the m×m shuffle (width m²d_v)."""
    dv, d, projector = vt.d_model, arch.d_model, vt.facts.projector
    if projector == "gemma3":
        return group("projector", [leaf("norm", dv), leaf("projection", dv * d)])
    if projector == "llama4":
        return group("projector", [leaf("adapter", vt.d_ff * vt.adapter_dim + vt.adapter_dim ** 2),
                                   leaf("projection", vt.output_dim * d)])
    wide = vt.merged_width
    mlp = linear(wide, wide, bias=True) + linear(wide, vt.output_dim, bias=True)
    return group("projector", [
        leaf("merger", _vision_norm(vt, dv) + mlp),
        leaf("deepstack_mergers", vt.deepstack * (2 * wide + mlp)),
    ])


# --- Gemma 4 --------------------------------------------------------------------------------


def gemma4_attention_part(arch: Architecture, g: Gemma4Text, kind: str, *, shared: bool) -> Part:
    """Gemma 4's attention (transformers 5.24 ``Gemma4TextAttention``): W_Q (d → a·d_h) and its
    norm (d_h) in every layer; W_K (d → k·d_h), W_V (unless K = V) and a k norm (d_h; v_norm has
    no weight) unless the layer shares an earlier layer's KV; W_O (a·d_h → d). Full-attention
    layers have d_h = ``global_head_dim`` and k = ``global_kv_heads``."""
    d, a, b = arch.d_model, arch.n_heads, arch.qkv_bias
    dh, k = (g.global_head_dim, g.global_kv_heads) if kind == "full" else (arch.head_dim, arch.n_kv_heads)
    parts = [leaf("q_proj", linear(d, a * dh, bias=b)), leaf("q_norm", dh)]
    if not shared:
        parts += [leaf("k_proj", linear(d, k * dh, bias=b)),
                  leaf("v_proj", 0 if g.k_eq_v and kind == "full" else linear(d, k * dh, bias=b)),
                  leaf("k_norm", dh)]
    parts.append(leaf("o_proj", linear(a * dh, d, bias=arch.o_bias)))
    return group("attention", parts)


def gemma4_layer_part(arch: Architecture, g: Gemma4Text, kind: str, *, shared: bool) -> Part:
    """One Gemma 4 decoder layer (``Gemma4TextDecoderLayer``): attention, a GeGLU MLP (2·I wide
    in KV-shared layers with ``use_double_wide_mlp``), four sandwich RMSNorms; with the MoE block
    a router (W_r d → E, a d-wide scale, a scale per expert), E experts and three more norms;
    with per-layer embeddings a gate d → p, a projection p → d and its norm."""
    d = arch.d_model
    wide = 2 if g.double_wide_mlp and shared else 1
    parts = [gemma4_attention_part(arch, g, kind, shared=shared), mlp_part(arch, wide * arch.d_ff)]
    norms = 4
    if arch.moe:
        e = arch.moe.n_experts
        parts += [leaf("router", linear(d, e, bias=False) + d + e),
                  times(mlp_part(arch, arch.moe.d_ff_expert, "experts", bias=False), e)]
        norms += 3
    if g.ple_dim:
        p = g.ple_dim
        parts.append(leaf("per_layer_input", linear(d, p, bias=False) + linear(p, d, bias=False) + d))
    parts.append(leaf("norms", norms * d))
    return group("layer", parts)


def gemma4_stack_part(arch: Architecture, g: Gemma4Text) -> Part:
    """The decoder layers, one node per (layer type, KV shared) shape, and the final norm."""
    counts: dict[tuple[str, bool], int] = {}
    for i, kind in enumerate(arch.layer_types):
        key = (kind, g.shares_kv(arch.n_layers, i))
        counts[key] = counts.get(key, 0) + 1
    parts = [rename(times(gemma4_layer_part(arch, g, kind, shared=sh), n),
                    f"{kind}{' KV-shared' if sh else ''} layers ×{n}")
             for (kind, sh), n in counts.items()]
    return group("layers", [*parts, leaf("final_norm", arch.d_model)])


def gemma4_ple_part(arch: Architecture, g: Gemma4Text) -> Part:
    """Per-layer embeddings (``Gemma4TextModel``): a table V_p × L·p (an nn.Embedding), the
    projection d → L·p of the token embedding and an RMSNorm of width p."""
    lp = arch.n_layers * g.ple_dim
    return group("per_layer_inputs", [
        leaf("per_layer_embedding", g.ple_vocab * lp),
        leaf("per_layer_projection", linear(arch.d_model, lp, bias=False)),
        leaf("per_layer_norm", g.ple_dim),
    ])


def gemma4_vision_part(arch: Architecture, vt: Gemma4Vision) -> Part:
    """Gemma 4's image encoder and projector (``Gemma4VisionModel``, ``Gemma4MultimodalEmbedder``;
    see ``arch.Gemma4Vision``): patch Linear(3·p², d_v), positions 2 × P × d_v (an nn.Parameter,
    non-embedding for transformers), L_v layers, and the projection d_v → d."""
    dv, a, k, dh, ff = vt.d_model, vt.n_heads, vt.n_kv_heads, vt.head_dim, vt.d_ff
    layer = group("layer", [
        leaf("attention", linear(dv, a * dh, bias=False) + 2 * linear(dv, k * dh, bias=False)
             + linear(a * dh, dv, bias=False) + 2 * dh),
        leaf("mlp", 3 * linear(dv, ff, bias=False)),
        leaf("norms", 4 * dv),
    ])
    tower = group("vision_tower", [
        leaf("patch_embedding", linear(3 * vt.patch_size ** 2, dv, bias=False)),
        leaf("position_table", 2 * vt.position_rows * dv),
        rename(times(layer, vt.n_layers), f"layers ×{vt.n_layers}"),
    ])
    return group("vision", [tower, group("projector", [leaf("projection", dv * arch.d_model)])])


def gemma4_audio_part(arch: Architecture, at: Gemma4Audio) -> Part:
    """Gemma 4's audio encoder and projector (``Gemma4AudioModel``; see ``arch.Gemma4Audio``):
    the subsampling convs with their LayerNorms (γ only) and input projection, L_a Conformer
    layers, the output projection d_a → d_out with bias, and the projection d_out → d."""
    da, (c0, c1), h = at.d_model, at.conv_channels, at.n_heads
    inner = h * (da // h)
    ffw = linear(da, 4 * da, bias=False) + linear(4 * da, da, bias=False) + 2 * da
    layer = group("layer", [
        leaf("feed_forwards", 2 * ffw),
        leaf("attention", 3 * linear(da, inner, bias=False) + linear(da, da, bias=False)
             + linear(da, inner, bias=False) + da // h),
        leaf("light_conv", linear(da, 2 * da, bias=False) + linear(da, da, bias=False)
             + da * at.conv_kernel + 2 * da),
        leaf("norms", 3 * da),
    ])
    tower = group("audio_tower", [
        leaf("subsampling", 9 * c0 + c0 + 9 * c0 * c1 + c1 + linear(c0 // 4 * c1, da, bias=False)),
        rename(times(layer, at.n_layers), f"layers ×{at.n_layers}"),
        leaf("output_projection", linear(da, at.output_dim, bias=True)),
    ])
    return group("audio", [tower, group("projector", [leaf("projection", at.output_dim * arch.d_model)])])


def gemma4_parts(arch: Architecture, g: Gemma4Text) -> list[Part]:
    """The parts of a Gemma 4 model, in the order of ``count_params``'s tree."""
    parts = [embedding_part(arch)]
    if g.ple_dim:
        parts.append(gemma4_ple_part(arch, g))
    parts += [gemma4_stack_part(arch, g), head_part(arch)]
    if arch.gemma4_vision:
        parts.append(gemma4_vision_part(arch, arch.gemma4_vision))
    if arch.gemma4_audio:
        parts.append(gemma4_audio_part(arch, arch.gemma4_audio))
    return parts


def _mllama_vit_layer(vt: MllamaVision, *, gated: bool) -> Part:
    """One MllamaVisionEncoderLayer: unbiased q k v o, biased fc1 fc2, two LayerNorms; a global
    layer adds its tanh gates on attention and MLP (one scalar each)."""
    dv, ff = vt.d_model, vt.d_ff
    return group("layer", [
        leaf("attention", 4 * linear(dv, dv, bias=False)),
        leaf("mlp", linear(dv, ff, bias=True) + linear(ff, dv, bias=True)),
        leaf("norms", 2 * 2 * dv),
        leaf("gates", 2 if gated else 0),
    ])


def mllama_vision_part(arch: Architecture, vt: MllamaVision) -> Part:
    """Llama 3.2 Vision's encoder and projector (transformers 5.24 ``MllamaVisionModel``,
    ``MllamaModel.multi_modal_projector``): patch embedding Conv2d(C, d_v, p) without bias, a
    class token, a tanh gate on n_p learned positions (n_p = (S/p)² + 1 with the class token)
    and tile positions (R + 1) × T·n_p·d_v, pre- and post-tile tables (R + 1) × T·d_v with a gate
    each, LayerNorms before and after the L local layers, L_g gated global layers, and the
    projector W ∈ R^{d_out×d} + b. The three (R + 1)-row tables are ``nn.Embedding``s (embedding
    parameters, as ``num_parameters(exclude_embeddings=True)`` counts them); the learned
    positions are a plain ``nn.Parameter``."""
    dv, p, c, n_p = vt.d_model, vt.patch_size, vt.channels, vt.n_patches
    rows, tiles = vt.n_aspect_ratios + 1, vt.max_num_tiles
    tower = group("vision_tower", [
        leaf("patch_embedding", c * p * p * dv),
        leaf("class_embedding", dv),
        leaf("gated_positions", n_p * dv + 1),
        leaf("tile_position_embedding", rows * tiles * n_p * dv + 2 * rows * tiles * dv),
        leaf("tile_gates", 2),
        leaf("pre_post_norms", 2 * 2 * dv),
        rename(times(_mllama_vit_layer(vt, gated=False), vt.n_layers), f"local layers ×{vt.n_layers}"),
        rename(times(_mllama_vit_layer(vt, gated=True), vt.n_global_layers),
               f"global layers ×{vt.n_global_layers}"),
    ])
    projector = group("projector", [leaf("projection", linear(vt.output_dim, arch.d_model, bias=True))])
    return group("vision", [tower, projector])


# --- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamReport:
    """Parameter counts of one architecture; ``breakdown`` sums to ``total``."""

    arch: Architecture
    breakdown: Part
    total: int
    trainable: int
    non_embedding: int
    active_per_token: int
    warnings: tuple[str, ...] = field(default=())
    seed: SeedReport | None = None  # the blog's count beside, for explicit hyperparameters

    def to_dict(self) -> dict[str, object]:
        seed = {} if self.seed is None else {"seed": nested(self.seed.to_dict())}
        return versioned({
            "name": self.arch.name,
            "method": "exact",
            **counted_by(self.arch),
            "total": self.total,
            "trainable": self.trainable,
            "non_embedding": self.non_embedding,
            "active_per_token": self.active_per_token,
            "breakdown": self.breakdown.to_dict(),
            "warnings": list(self.warnings),
            **seed,
        })


def counted_by(arch: Architecture) -> dict[str, object]:
    """Which path counted ``arch`` (``"llmsize"`` or ``"transformers"``), with the transformers
    version and class where transformers did: every ``--json`` result carries it."""
    tm = arch.transformers
    if tm is None:
        return {"counted_by": "llmsize"}
    return {"counted_by": "transformers", "transformers_version": tm.version, "model_class": tm.model_class}


# Tree leaves that are embedding matrices: nn.Embedding tables and an untied output embedding.
EMBEDDING_LEAVES = ("token_embedding", "position_embedding", "token_type_embedding",
                    "relative_attention_bias", "lm_head", "tile_position_embedding", "per_layer_embedding")


def embedding_params(breakdown: Part) -> int:
    """Parameters in embedding matrices, input and output: token, position and segment tables,
    T5's relative-position buckets, the vision tower's position table, Gemma 3n's per-layer
    embedding table (V_p × L·p), and an untied LM head (a tied head is no leaf of its own, so it
    is not counted twice).

    This is the "non-embedding" convention of Kaplan et al. 2020 (arXiv 2001.08361 §2.1) as model
    cards apply it (Qwen3-8B: 8.2B total, 6.95B non-embedding, so both V×d matrices are out).
    ``transformers``' ``num_parameters(exclude_embeddings=True)`` leaves out only the input tables.
    """
    return sum(p.value for _, p in breakdown.walk() if not p.parts and p.name in EMBEDDING_LEAVES)


def inactive_expert_params(arch: Architecture) -> int:
    """Routed-expert parameters a token does not use: Σ_moe layers (E − k_e) · P_expert."""
    moe = arch.moe
    if not moe:
        return 0
    per_expert = expert_part(arch, moe).value
    return len(moe.layers) * (moe.n_experts - moe.top_k) * per_expert


def tensors_part(arch: Architecture, tm: TransformersModel) -> Part:
    """The parameter tree of a model counted by transformers: its tensors summed by where they
    sit (embeddings, layers, final_norm, head, vision, as ``TensorSpec.module``) and by role."""
    modules: dict[str, dict[str, int]] = {}
    for t in tm.tensors:
        roles = modules.setdefault(t.module, {})
        roles[t.role] = roles.get(t.role, 0) + t.numel
    parts = [group(f"layers ×{arch.n_layers}" if module == "layers" else module,
                   [leaf(role, n) for role, n in roles.items()])
             for module, roles in modules.items()]
    return group(arch.name, parts)


def count_params(arch: Architecture, warnings: tuple[str, ...] = ()) -> ParamReport:
    """The exact parameter tree of ``arch``: llmsize's formulas, or the tensors of the
    transformers model for an architecture counted by transformers."""
    if arch.transformers:
        tm, root = arch.transformers, tensors_part(arch, arch.transformers)
        return ParamReport(arch=arch, breakdown=root, total=root.value, trainable=root.value,
                           non_embedding=root.value - tm.embedding_params,
                           active_per_token=tm.active_params, warnings=warnings)
    if arch.gemma4:
        return _report(arch, gemma4_parts(arch, arch.gemma4), warnings)
    parts = [embedding_part(arch)]
    if arch.kind == "encoder-decoder":
        parts.append(stack_part(arch, "encoder", arch.n_layers))
        parts.append(stack_part(arch, "decoder", arch.decoder_layers, cross=True))
    else:
        parts.append(stack_part(arch, "layers" if arch.kind == "decoder" else "encoder", arch.n_layers))
    parts.append(head_part(arch))
    if arch.vision:
        parts.append(vision_part(arch, arch.vision))
    return _report(arch, parts, warnings)


def _report(arch: Architecture, parts: list[Part], warnings: tuple[str, ...]) -> ParamReport:
    root = group(arch.name, parts)
    return ParamReport(
        arch=arch,
        breakdown=root,
        total=root.value,
        trainable=root.value,
        non_embedding=root.value - embedding_params(root),
        active_per_token=root.value - inactive_expert_params(arch),
        warnings=warnings,
    )
