"""Every parameter tensor of an ``Architecture``, and what the tensors weigh in a storage format.

``model_tensors(arch)`` lists the tensors the model has, named as llama.cpp names them in a GGUF
(``src/llama-arch.cpp``, ``LLM_TENSOR_NAMES``), with PyTorch shapes ``(out_features, in_features)``
and a role. Its element sum equals ``count_params(arch).total`` exactly: every function below
mirrors one formula of ``parameters.py`` (a tied head is no tensor of its own).

===========================  =========================  ==========================  =============
tensor (``blk.{i}.`` prefix)  shape                      HF name (Llama, DeepSeek)   role
===========================  =========================  ==========================  =============
token_embd.weight            (V, d)                     embed_tokens                embedding
attn_q / attn_k / attn_v     (a·d_h, d) (k·d_h, d)      q_proj k_proj v_proj        attention
attn_output                  (d, a·d_h)                 o_proj                      attention
attn_q_a, attn_q_b           (d'_c, d) (a·d_qk, d'_c)   q_a_proj q_b_proj (MLA)     attention
attn_kv_a_mqa, attn_kv_b     (d_c+d^R, d) (a·(…), d_c)  kv_a_proj_with_mqa kv_b     attention
ffn_gate / ffn_up / ffn_down (I, d) (I, d) (d, I)       gate_proj up_proj down_proj mlp
ffn_gate_inp                 (E, d)                     mlp.gate (router)           router
ffn_{gate,up,down}_exps      (E, I_e, d) … (E, d, I_e)  experts                     expert
ffn_{gate,up,down}_shexp     (I_s, d) …                 shared_experts              shared_expert
attn_norm, ffn_norm, …       (d,)                       input_layernorm, …          norm
ssm_in, ssm_x, ssm_dt, …     (2·d_in, d) …              mixer.in_proj, … (Mamba)    ssm
output_norm / output.weight  (d,) / (V, d)              norm / lm_head              norm / head
v.*, mm.*                    …                          vision_tower, projector     vision
per_layer_token_embd         (V_p, L·p)                 embed_tokens_per_layer      embedding
per_layer_model_proj         (L·p, d)                   per_layer_model_projection  other
altup_proj, altup_unembd_proj (K−1, d, d)               altup_(unembed_)projections other
altup_{predict,correct}_coef (K², K) (K, K)             altup.prediction_coefs, …   router
laurel_l, laurel_r           (r, d) (d, r)              laurel.linear_left, _right  mlp
inp_gate, proj               (p, d) (d, p)              per_layer_input_gate, …     mlp
===========================  =========================  ==========================  =============

A T5 encoder's tensors are ``enc.blk.{i}.…``, its decoder's ``dec.blk.{i}.…`` with
``cross_attn_{q,k,v,o}``; their ``layer`` indices run on across the two stacks (decoder layer 0
is layer ``n_layers``), the order a pipeline runs them in. Biases share their matrix's role.

``weights_bytes(arch, fmt)`` prices every tensor in a ``dtypes.WeightFormat`` and folds the bytes
into a tree (embeddings, layers → attention/mlp/expert/router/norm…, final_norm, head, vision)
whose leaves are ``weights`` (the stored values) and ``scales`` (scales, zero points, g_idx: what
the format adds); ``layer_bytes`` and ``non_layer_bytes`` split the same total for pipeline stages
and llama.cpp's ``-ngl``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..arch import MllamaVision, TensorSpec
from ..parameters import ACTIVATION_PARAMS, rename
from ..tree import Part, group, leaf, times
from .dtypes import WeightFormat, parse_format, precision_bits, tensor_bytes_in
from .gguf_mixture import gguf_tensor_types

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from ..arch import (
        MLA,
        SSM,
        Architecture,
        Gemma4Audio,
        Gemma4Text,
        Gemma4Vision,
        LinearAttention,
        MoE,
        SharedBlocks,
        ShortConv,
        VisionTower,
    )

    T = TypeVar("T")

ROLES = ("embedding", "position", "attention", "mlp", "expert", "shared_expert", "router", "norm",
         "head", "ssm", "vision", "other")
MODULES = ("embeddings", "layers", "final_norm", "head", "vision")


def _linear(name: str, n_in: int, n_out: int, *, bias: bool, role: str, layer: int | None,
            experts: int = 0) -> list[TensorSpec]:
    """W ∈ R^{n_out×n_in} (+ b ∈ R^{n_out}), stacked over ``experts`` when given (params.linear)."""
    lead = (experts,) if experts else ()
    out = [TensorSpec(f"{name}.weight", (*lead, n_out, n_in), role, layer)]
    if bias:
        out.append(TensorSpec(f"{name}.bias", (*lead, n_out), role, layer))
    return out


def _norm(arch: Architecture, name: str, width: int, layer: int | None,
          role: str = "norm") -> list[TensorSpec]:
    """γ (if the norm has a weight) and β (LayerNorm with bias), as params.norm_params."""
    out = []
    if arch.norm_weight:
        out.append(TensorSpec(f"{name}.weight", (width,), role, layer))
    if arch.norm_bias and arch.norm == "layernorm":
        out.append(TensorSpec(f"{name}.bias", (width,), role, layer))
    return out


# --- attention ------------------------------------------------------------------------------

SELF_ATTN = ("attn_q", "attn_k", "attn_v", "attn_output")
CROSS_ATTN = ("cross_attn_q", "cross_attn_k", "cross_attn_v", "cross_attn_o")  # llama.cpp T5


def _attention(arch: Architecture, p: str, i: int, names: tuple[str, ...] = SELF_ATTN, *,
               shared_kv: bool = False) -> list[TensorSpec]:
    """W_Q (a·d_h×d), W_K, W_V (k·d_h×d), W_O (d×a·d_h) and a QK-norm (params.attention_part);
    a layer reusing an earlier layer's K/V (Gemma 3n) has no W_K, W_V or key norm."""
    d, a, k, dh, b = arch.d_model, arch.n_heads, arch.n_kv_heads, arch.head_dim, arch.qkv_bias
    q, kk, v, o = names
    gate = 1 + int(arch.attn_output_gate and names == SELF_ATTN)  # Qwen3-Next: q and its gate
    kv = [] if shared_kv else [*_linear(p + kk, d, k * dh, bias=b, role="attention", layer=i),
                               *_linear(p + v, d, k * dh, bias=b, role="attention", layer=i)]
    out = [*_linear(p + q, d, gate * a * dh, bias=b, role="attention", layer=i), *kv,
           *_linear(p + o, a * dh, d, bias=arch.o_bias, role="attention", layer=i)]
    if arch.attention_sinks:
        out.append(TensorSpec(f"{p}attn_sinks.weight", (a,), "attention", i))
    if arch.qk_norm != "none":
        q_w, k_w = (dh, dh) if arch.qk_norm == "head" else (a * dh, k * dh)
        norms = ((f"{p}{q}_norm", q_w),) + (() if shared_kv else ((f"{p}{kk}_norm", k_w),))
        for name, width in norms:
            out.append(TensorSpec(f"{name}.weight", (width,), "norm", i))
            if arch.qk_norm_bias:
                out.append(TensorSpec(f"{name}.bias", (width,), "norm", i))
    return out


def _cross_attention(arch: Architecture, p: str, i: int) -> list[TensorSpec]:
    """Llama 3.2 Vision's gated cross-attention (params.cross_attention_part): unbiased q k v o,
    RMSNorms of width d_h on q and k, the tanh gates of attention and MLP (one value each)."""
    d, a, k, dh = arch.d_model, arch.n_heads, arch.n_kv_heads, arch.head_dim
    shapes = ((a * dh, d), (k * dh, d), (k * dh, d), (d, a * dh))
    out = [TensorSpec(f"{p}{name}.weight", shape, "attention", i) for name, shape in zip(CROSS_ATTN, shapes,
                                                                                          strict=True)]
    out += [TensorSpec(f"{p}cross_attn_{x}_norm.weight", (dh,), "norm", i) for x in "qk"]
    return out + [TensorSpec(f"{p}cross_attn_{x}_gate", (1,), "attention", i) for x in ("attn", "mlp")]


def _mla(arch: Architecture, mla: MLA, p: str, i: int) -> list[TensorSpec]:
    """DeepSeek-V2 MLA (arXiv 2405.04434 §2.1, params.mla_part): W^{DQ}, norm, W^{UQ} (or one W_Q),
    W^{DKV} with the rotary key, norm, W^{UK,UV}, W^O."""
    d, a, dc, dq, b = arch.d_model, arch.n_heads, mla.kv_lora_rank, mla.q_lora_rank, arch.qkv_bias
    if dq is None:
        q = _linear(p + "attn_q", d, a * mla.qk_head_dim, bias=False, role="attention", layer=i)
    else:
        q = [*_linear(p + "attn_q_a", d, dq, bias=b, role="attention", layer=i),
             *_norm(arch, p + "attn_q_a_norm", dq, i),
             *_linear(p + "attn_q_b", dq, a * mla.qk_head_dim, bias=False, role="attention", layer=i)]
    kv_a, o_in = dc + mla.qk_rope_head_dim, a * mla.v_head_dim
    kv_b = a * (mla.qk_nope_head_dim + mla.v_head_dim)
    if arch.indexer:  # params.indexer_part
        ix, dq_in = arch.indexer, dq or d
        q += [*_linear(p + "indexer.attn_q_b", dq_in, ix.n_heads * ix.head_dim, bias=False,
                       role="attention", layer=i),
              *_linear(p + "indexer.attn_k", d, ix.head_dim, bias=False, role="attention", layer=i),
              TensorSpec(p + "indexer.k_norm.weight", (ix.head_dim,), "norm", i),
              TensorSpec(p + "indexer.k_norm.bias", (ix.head_dim,), "norm", i),
              *_linear(p + "indexer.proj", d, ix.n_heads, bias=False, role="attention", layer=i)]
    return q + [*_linear(p + "attn_kv_a_mqa", d, kv_a, bias=b, role="attention", layer=i),
                *_norm(arch, p + "attn_kv_a_norm", dc, i),
                *_linear(p + "attn_kv_b", dc, kv_b, bias=False, role="attention", layer=i),
                *_linear(p + "attn_output", o_in, d, bias=arch.o_bias, role="attention", layer=i)]


# --- feed-forward ---------------------------------------------------------------------------


def _mlp(arch: Architecture, d_ff: int, p: str, i: int, *, suffix: str = "", role: str = "mlp",
         experts: int = 0, bias: bool | None = None, width: int | None = None) -> list[TensorSpec]:
    """Gate (GLU variants only), up d→I, down I→d and a learned activation's scalars
    (params.mlp_part), per expert when stacked."""
    d, b = width or arch.d_model, arch.mlp_bias if bias is None else bias
    out = [*_linear(f"{p}ffn_up{suffix}", d, d_ff, bias=b, role=role, layer=i, experts=experts),
           *_linear(f"{p}ffn_down{suffix}", d_ff, d, bias=b, role=role, layer=i, experts=experts)]
    if arch.gated_mlp:
        out[:0] = _linear(f"{p}ffn_gate{suffix}", d, d_ff, bias=b, role=role, layer=i, experts=experts)
    lead = (experts,) if experts else ()
    for name in ACTIVATION_PARAMS.get(arch.activation, ()):
        out.append(TensorSpec(f"{p}ffn_act{suffix}.{name}", (*lead, 1), role, i))
    return out


def _moe(arch: Architecture, moe: MoE, p: str, i: int) -> list[TensorSpec]:
    """Router W_r (E×d), E experts stacked into 3-D tensors, shared experts and their sigmoid gate
    (params.moe_part)."""
    d, e, dl = arch.d_model, moe.n_experts, moe.latent_dim
    out = [*_linear(p + "ffn_gate_inp", d, e, bias=moe.router_bias, role="router", layer=i),
           *_mlp(arch, moe.d_ff_expert, p, i, suffix="_exps", role="expert", experts=e,
                 bias=moe.expert_bias, width=dl or None)]
    if dl:  # Nemotron-3: the experts run in a latent between fc1 and fc2 (params.moe_part)
        out += [*_linear(p + "ffn_latent_in", d, dl, bias=arch.mlp_bias, role="expert", layer=i),
                *_linear(p + "ffn_latent_out", dl, d, bias=arch.mlp_bias, role="expert", layer=i)]
    if moe.d_ff_shared:
        out += _mlp(arch, moe.d_ff_shared, p, i, suffix="_shexp", role="shared_expert")
    if moe.shared_expert_gate:
        out += _linear(p + "ffn_gate_inp_shexp", d, 1, bias=False, role="shared_expert", layer=i)
    return out


# --- layers ---------------------------------------------------------------------------------


def _norm_names(arch: Architecture, cross: bool) -> list[str]:
    """One name per norm of params.norms_per_layer: shared parallel (1), sandwich (4), else 2."""
    if arch.parallel_block and arch.shared_block_norm:
        names = ["attn_norm"]
    elif arch.norm_placement == "sandwich":
        names = ["attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"]
    elif arch.parallel_block:
        names = ["attn_norm", "attn_norm_2"]
    elif arch.norm_placement == "post":
        names = ["post_attention_norm", "post_ffw_norm"]
    else:
        names = ["attn_norm", "ffn_norm"]
    return names + (["cross_attn_norm"] if cross else [])


def _ssm(arch: Architecture, ssm: SSM, p: str, i: int) -> list[TensorSpec]:
    """Mamba mixer (params.ssm_part); llama.cpp stores conv1d as (d_in, d_conv) and names A, D
    without a ``.weight`` suffix."""
    if ssm.version == 2:
        return _mamba2(arch, ssm, p, i)
    d, di, n, r = arch.d_model, ssm.d_inner, ssm.d_state, ssm.dt_rank
    out = [*_linear(p + "ssm_in", d, 2 * di, bias=ssm.proj_bias, role="ssm", layer=i),
           TensorSpec(p + "ssm_conv1d.weight", (di, ssm.d_conv), "ssm", i)]
    if ssm.conv_bias:
        out.append(TensorSpec(p + "ssm_conv1d.bias", (di,), "ssm", i))
    out += [*_linear(p + "ssm_x", di, r + 2 * n, bias=False, role="ssm", layer=i),
            *_linear(p + "ssm_dt", r, di, bias=True, role="ssm", layer=i),
            TensorSpec(p + "ssm_a", (di, n), "ssm", i), TensorSpec(p + "ssm_d", (di,), "ssm", i),
            *_linear(p + "ssm_out", di, d, bias=ssm.proj_bias, role="ssm", layer=i)]
    if ssm.inner_norms:  # llama.cpp LLM_ARCH_JAMBA: ssm_dt_norm, ssm_b_norm, ssm_c_norm
        out += [TensorSpec(p + f"ssm_{x}_norm.weight", (w,), "norm", i)
                for x, w in (("dt", r), ("b", n), ("c", n))]
    return out


def _mamba2(arch: Architecture, ssm: SSM, p: str, i: int) -> list[TensorSpec]:
    """Mamba-2 mixer (params.mamba2_part), named as llama.cpp's LLM_ARCH_MAMBA2."""
    d, di, h, conv = arch.d_model, ssm.d_inner, ssm.n_heads, ssm.conv_dim
    out = [*_linear(p + "ssm_in", d, di + conv + h, bias=ssm.proj_bias, role="ssm", layer=i),
           TensorSpec(p + "ssm_conv1d.weight", (conv, ssm.d_conv), "ssm", i)]
    if ssm.conv_bias:
        out.append(TensorSpec(p + "ssm_conv1d.bias", (conv,), "ssm", i))
    out += [TensorSpec(p + "ssm_dt.bias", (h,), "ssm", i), TensorSpec(p + "ssm_a", (h,), "ssm", i),
            TensorSpec(p + "ssm_d", (h,), "ssm", i)]
    if ssm.gated_norm:
        out.append(TensorSpec(p + "ssm_norm.weight", (di,), "norm", i))
    return out + _linear(p + "ssm_out", di, d, bias=ssm.out_bias, role="ssm", layer=i)


def _gated_deltanet(arch: Architecture, la: LinearAttention, p: str, i: int) -> list[TensorSpec]:
    """Gated DeltaNet (params.gated_deltanet_part), named as llama.cpp's LLM_ARCH_QWEN3NEXT."""
    d, hv = arch.d_model, la.n_v_heads
    qkvz = 2 * la.key_dim + 2 * la.value_dim
    return [*_linear(p + "ssm_in", d, qkvz, bias=False, role="ssm", layer=i),
            *_linear(p + "ssm_beta_alpha", d, 2 * hv, bias=False, role="ssm", layer=i),
            TensorSpec(p + "ssm_conv1d.weight", (la.conv_dim, la.d_conv), "ssm", i),
            TensorSpec(p + "ssm_dt.bias", (hv,), "ssm", i), TensorSpec(p + "ssm_a", (hv,), "ssm", i),
            TensorSpec(p + "ssm_norm.weight", (la.head_v_dim,), "norm", i),
            *_linear(p + "ssm_out", la.value_dim, d, bias=False, role="ssm", layer=i)]


def _kda(arch: Architecture, la: LinearAttention, p: str, i: int) -> list[TensorSpec]:
    """Kimi Delta Attention (params.kda_part), named as llama.cpp's LLM_ARCH_KIMI_LINEAR
    (``ssm_f_a``/``ssm_f_b`` the forget gate, ``ssm_g_a``/``ssm_g_b`` the output gate)."""
    d, h, dk, w = arch.d_model, la.n_v_heads, la.head_k_dim, la.value_dim

    def lin(name: str, n_in: int, n_out: int) -> list[TensorSpec]:
        return _linear(p + name, n_in, n_out, bias=False, role="ssm", layer=i)

    return [*lin("attn_q", d, w), *lin("attn_k", d, w), *lin("attn_v", d, w),
            TensorSpec(p + "ssm_conv1d.weight", (la.conv_dim, la.d_conv), "ssm", i),
            *lin("ssm_f_a", d, dk), *lin("ssm_f_b", dk, w),
            TensorSpec(p + "ssm_dt.bias", (w,), "ssm", i), TensorSpec(p + "ssm_a", (h,), "ssm", i),
            *lin("ssm_beta", d, h), *lin("ssm_g_a", d, dk), *lin("ssm_g_b", dk, w),
            TensorSpec(p + "ssm_norm.weight", (dk,), "norm", i), *lin("attn_output", w, d)]


def _shared_blocks(arch: Architecture, sb: SharedBlocks) -> list[TensorSpec]:
    """Zamba2's shared blocks (params.shared_blocks_part): each copy of a block, and the adapters
    of every call that uses it, sit in the layer that holds it, as the checkpoint stores them
    (``model.layers.{first}.shared_transformer…``)."""
    d, a, k, dh = arch.d_model, arch.n_heads, arch.n_kv_heads, arch.head_dim
    ff, r = arch.d_ff, sb.adapter_rank
    calls = [i for i, t in enumerate(arch.layer_types) if t == "parallel"]
    out: list[TensorSpec] = []
    for j, b in sb.owners(len(calls)):
        first = calls[j]
        p = f"blk.{first}.shared."

        def lin(name: str, n_in: int, n_out: int, *, bias: bool = False, role: str = "attention",
                p: str = p, first: int = first) -> list[TensorSpec]:
            return _linear(p + name, n_in, n_out, bias=bias, role=role, layer=first)

        out += [TensorSpec(p + "attn_norm.weight", (2 * d,), "norm", first),
                *lin("attn_q", 2 * d, a * dh), *lin("attn_k", 2 * d, k * dh), *lin("attn_v", 2 * d, k * dh),
                *lin("attn_output", a * dh, d), TensorSpec(p + "ffn_norm.weight", (d,), "norm", first),
                *lin("ffn_gate_up", d, 2 * ff, bias=arch.mlp_bias, role="mlp"),
                *lin("ffn_down", ff, d, bias=arch.mlp_bias, role="mlp")]
        for j in sb.adapter_calls(b, len(calls)):  # the adapters of the calls this block serves
            out += [*lin(f"ffn_gate_up_lora.{j}.a", d, r, role="mlp"),
                    *lin(f"ffn_gate_up_lora.{j}.b", r, 2 * ff, role="mlp")]
            if sb.attention_adapters:
                for x in ("q", "k", "v"):
                    out += [*lin(f"attn_{x}_lora.{j}.a", 2 * d, r), *lin(f"attn_{x}_lora.{j}.b", r, 2 * d)]
    return out


def _short_conv(arch: Architecture, sc: ShortConv, p: str, i: int) -> list[TensorSpec]:
    """LFM2's short convolution (params.short_conv_part), named as llama.cpp's LLM_ARCH_LFM2."""
    d, b = arch.d_model, sc.bias
    out = [*_linear(p + "shortconv.in_proj", d, 3 * d, bias=b, role="ssm", layer=i),
           TensorSpec(p + "shortconv.conv.weight", (d, sc.d_conv), "ssm", i)]
    if b:
        out.append(TensorSpec(p + "shortconv.conv.bias", (d,), "ssm", i))
    return out + _linear(p + "shortconv.out_proj", d, d, bias=b, role="ssm", layer=i)


def _mixer(arch: Architecture, kind: str, p: str, i: int) -> list[TensorSpec]:
    """The token mixer of a layer of ``kind`` (params.mixer_part)."""
    if kind == "mamba" and arch.ssm:
        return _ssm(arch, arch.ssm, p, i)
    if kind == "parallel" and arch.ssm and arch.shared_blocks:  # Zamba2: its own Linear(d, d)
        d = arch.d_model
        return _ssm(arch, arch.ssm, p, i) + _linear(p + "shared_out", d, d, bias=False, role="attention",
                                                    layer=i)
    if kind == "parallel" and arch.ssm:  # Falcon-H1: attention ∥ Mamba-2
        return _attention(arch, p, i) + _ssm(arch, arch.ssm, p, i)
    if kind == "linear" and arch.linear_attn:
        la = arch.linear_attn
        return _kda(arch, la, p, i) if la.variant == "kda" else _gated_deltanet(arch, la, p, i)
    if kind == "conv" and arch.short_conv:
        return _short_conv(arch, arch.short_conv, p, i)
    if kind == "none":
        return []
    if kind == "cross":
        return _cross_attention(arch, p, i)
    shared_kv = arch.is_kv_shared(i)  # Gemma 3n (params.layer_classes)
    return _mla(arch, arch.mla, p, i) if arch.mla else _attention(arch, p, i, shared_kv=shared_kv)


def _ffn(arch: Architecture, p: str, i: int, *, routed: bool) -> list[TensorSpec]:
    if routed and arch.moe:
        return _moe(arch, arch.moe, p, i)
    return _mlp(arch, arch.ff_width(i) if i < arch.n_layers else arch.d_ff, p, i)


def _gemma3n(arch: Architecture, p: str, i: int) -> list[TensorSpec]:
    """AltUp, LAuReL and the per-layer input of a Gemma 3n layer (params.gemma3n_parts), named as
    llama.cpp's LLM_ARCH_GEMMA3N. AltUp's coefficients and router are small routers ("router"),
    LAuReL's and the per-layer input's projections are dense linears of the block ("mlp")."""
    d, k, r, out = arch.d_model, arch.altup_inputs, arch.laurel_rank, []
    if k:
        out += [*_linear(p + "altup_predict_coef", k, k * k, bias=False, role="router", layer=i),
                *_linear(p + "altup_correct_coef", k, k, bias=False, role="router", layer=i),
                *_linear(p + "altup_router", d, k, bias=False, role="router", layer=i),
                *_norm(arch, p + "altup_router_norm", d, i),
                TensorSpec(p + "altup_correct_scale.weight", (d,), "router", i)]
    if r:
        out += [*_linear(p + "laurel_l", d, r, bias=False, role="mlp", layer=i),
                *_linear(p + "laurel_r", r, d, bias=False, role="mlp", layer=i),
                *_norm(arch, p + "laurel_post_norm", d, i)]
    if arch.per_layer_input:
        pd = arch.per_layer_input.d
        out += [*_linear(p + "inp_gate", d, pd, bias=False, role="mlp", layer=i),
                *_linear(p + "proj", pd, d, bias=False, role="mlp", layer=i),
                *_norm(arch, p + "post_norm", d, i)]
    return out


def _layer(arch: Architecture, p: str, i: int, *, routed: bool, cross: bool) -> list[TensorSpec]:
    """One layer (params.layer_part): its mixer (+ cross-attention), MLP or MoE, norms; a
    ``single_block`` layer is one norm and its mixer, or its MLP/MoE when the kind is "none"."""
    kind = arch.layer_types[i] if i < len(arch.layer_types) else "full"
    if arch.single_block:
        body = _ffn(arch, p, i, routed=routed) if kind == "none" else _mixer(arch, kind, p, i)
        return body + _norm(arch, p + "attn_norm", arch.d_model, i)
    out = _mixer(arch, kind, p, i)
    if cross:
        out += _attention(arch, p, i, CROSS_ATTN)
    out += _ffn(arch, p, i, routed=routed)
    for name in _norm_names(arch, cross):
        out += _norm(arch, p + name, arch.d_model, i)
    return out + _gemma3n(arch, p, i)


def _stack(arch: Architecture, prefix: str, n_layers: int, first: int, *, cross: bool) -> list[TensorSpec]:
    """A stack of layers numbered from ``first`` (params.stack_part): T5's relative-position table
    sits in its first layer; the final norm follows the stack."""
    routed = set(arch.moe.layers) if arch.moe else set()
    out: list[TensorSpec] = []
    for j in range(n_layers):
        out += _layer(arch, f"{prefix}blk.{j}.", first + j, routed=j in routed, cross=cross)
    if arch.shared_blocks:
        out += _shared_blocks(arch, arch.shared_blocks)
    if arch.relative_buckets:
        out.append(TensorSpec(f"{prefix}blk.0.attn_rel_b.weight", (arch.relative_buckets, arch.n_heads),
                              "position", first))
    if arch.final_norm:
        out += _norm(arch, prefix + "output_norm", arch.d_model, None)
    return out


# --- embeddings, head, vision ---------------------------------------------------------------


def _embeddings(arch: Architecture) -> list[TensorSpec]:
    """Token table V×E, learned positions, segments, an embedding norm, OPT's E→d projection."""
    v, e, d = arch.padded_vocab + arch.vocab_extra_rows, arch.embed_width, arch.d_model
    out = [TensorSpec("token_embd.weight", (v, e), "embedding")]
    if arch.position == "learned" and arch.position_rows:
        out.append(TensorSpec("position_embd.weight", (arch.position_rows, d), "position"))
    if arch.token_types:
        out.append(TensorSpec("token_types.weight", (arch.token_types, d), "embedding"))
    if arch.embedding_norm:
        out += _norm(arch, "token_embd_norm", d, None)
    if e != d:
        out.append(TensorSpec("project_in.weight", (d, e), "other"))
    if arch.per_layer_input:  # Gemma 3n (params.per_layer_embedding_parts)
        n, ple = arch.n_layers, arch.per_layer_input
        out += [TensorSpec("per_layer_token_embd.weight", (ple.vocab_size, n * ple.d), "embedding"),
                TensorSpec("per_layer_model_proj.weight", (n * ple.d, d), "other"),
                *_norm(arch, "per_layer_proj_norm", ple.d, None)]
    return out + _altup_projections(arch, "altup_proj")


def _altup_projections(arch: Architecture, name: str) -> list[TensorSpec]:
    """AltUp's K − 1 projections d → d, stacked as llama.cpp stores them (params.altup_projection_parts)."""
    k, d = arch.altup_inputs, arch.d_model
    return [TensorSpec(f"{name}.weight", (k - 1, d, d), "other")] if k > 1 else []


def _head(arch: Architecture) -> list[TensorSpec]:
    """The LM head unless tied, its bias, BERT's MLM transform or pooler (params.head_part)."""
    v, e, d = arch.padded_vocab, arch.embed_width, arch.d_model
    if arch.head == "none":
        return _linear("pooler", d, d, bias=True, role="head", layer=None) if arch.token_types else []
    out = _altup_projections(arch, "altup_unembd_proj")
    if e != d:
        out.append(TensorSpec("project_out.weight", (e, d), "other"))
    if arch.head == "mlm":
        out += _linear("output_transform", d, d, bias=True, role="head", layer=None)
        out += _norm(arch, "output_transform_norm", d, None)
    if not arch.tie_embeddings:
        out.append(TensorSpec("output.weight", (v, e), "head"))
    if arch.lm_head_bias or arch.head == "mlm":
        out.append(TensorSpec("output.bias", (v,), "head"))
    if arch.head == "mlm" and not arch.tie_embeddings:  # params.head_part: the untied decoder's own
        out.append(TensorSpec("output.decoder_bias", (v,), "head"))
    return out


def _vision_norm(vt: VisionTower, name: str, width: int) -> list[TensorSpec]:
    """γ, and β for a LayerNorm (params._vision_norm)."""
    out = [TensorSpec(f"{name}.weight", (width,), "vision")]
    if vt.facts.norm == "layernorm":
        out.append(TensorSpec(f"{name}.bias", (width,), "vision"))
    return out


def _vit_layers(vt: VisionTower) -> list[TensorSpec]:
    """The ViT layers (params._vit_layer): biased q k v o, fc1 fc2 or gate up down, two norms."""
    dv, ff, out = vt.d_model, vt.d_ff, []
    mlp = (("ffn_gate", dv, ff), ("ffn_up", dv, ff), ("ffn_down", ff, dv)) if vt.facts.gated_mlp \
        else (("ffn_up", dv, ff), ("ffn_down", ff, dv))
    for j in range(vt.n_layers):
        b = f"v.blk.{j}."
        for name, n_in, n_out in (("attn_q", dv, dv), ("attn_k", dv, dv), ("attn_v", dv, dv),
                                  ("attn_out", dv, dv), *mlp):
            out += _linear(b + name, n_in, n_out, bias=True, role="vision", layer=None)
        out += _vision_norm(vt, b + "ln1", dv) + _vision_norm(vt, b + "ln2", dv)
    return out


def _vision(arch: Architecture, vt: VisionTower | MllamaVision) -> list[TensorSpec]:
    """A ViT tower and its projector (params.vision_part), named as in a llama.cpp mmproj."""
    if isinstance(vt, MllamaVision):
        return _vision_mllama(arch, vt)
    f, dv, p, c = vt.facts, vt.d_model, vt.patch_size, vt.channels
    shape = {"conv2d": (dv, c, p, p), "conv3d": (dv, c, vt.temporal_patch, p, p), "linear": (dv, vt.patch_in)}
    out = [TensorSpec("v.patch_embd.weight", shape[f.patch], "vision")]
    if f.patch_bias:
        out.append(TensorSpec("v.patch_embd.bias", (dv,), "vision"))
    if f.positions == "patches+class":
        out += [TensorSpec("v.class_embd", (dv,), "vision"),
                TensorSpec("v.position_embd.weight", (vt.n_patches + 1, dv), "vision")]
    elif f.positions != "none":
        rows = vt.n_patches if f.positions == "patches" else vt.position_rows
        out.append(TensorSpec("v.position_embd.weight", (rows, dv), "vision"))
    if f.pre_norm:
        out += _vision_norm(vt, "v.pre_ln", dv)
    out += _vit_layers(vt)
    if f.post_norm:
        out += _vision_norm(vt, "v.post_ln", dv)
    return out + _projector(arch, vt)


def _projector(arch: Architecture, vt: VisionTower) -> list[TensorSpec]:
    """Gemma 3's norm and projection, Llama 4's adapter and projection, or Qwen's mergers
    (params._projector)."""
    dv, d, da = vt.d_model, arch.d_model, vt.adapter_dim
    if vt.facts.projector == "gemma3":
        return [TensorSpec("mm.soft_emb_norm.weight", (dv,), "vision"),
                TensorSpec("mm.input_projection.weight", (dv, d), "vision")]
    if vt.facts.projector == "llama4":
        return [TensorSpec("mm.adapter_fc1.weight", (da, vt.d_ff), "vision"),
                TensorSpec("mm.adapter_fc2.weight", (da, da), "vision"),
                TensorSpec("mm.input_projection.weight", (d, vt.output_dim), "vision")]
    wide, out = vt.merged_width, []
    for j in range(-1, vt.deepstack):  # -1: the main merger, normed before the m×m shuffle
        b = "mm." if j < 0 else f"mm.deepstack.{j}."
        out += _vision_norm(vt, b + "norm", dv) if j < 0 else _ln(b + "norm", wide)
        out += _linear(b + "fc1", wide, wide, bias=True, role="vision", layer=None)
        out += _linear(b + "fc2", wide, vt.output_dim, bias=True, role="vision", layer=None)
    return out


def _ln(name: str, width: int) -> list[TensorSpec]:
    return [TensorSpec(f"{name}.weight", (width,), "vision"), TensorSpec(f"{name}.bias", (width,), "vision")]


def _vision_mllama(arch: Architecture, vt: MllamaVision) -> list[TensorSpec]:
    """Llama 3.2 Vision's encoder and projector (params.mllama_vision_part), named as llama.cpp's
    mllama mmproj did (``v.tile_position_embd``, ``v.pre_tile_position_embd``…)."""
    dv, p, c, ff, n_p = vt.d_model, vt.patch_size, vt.channels, vt.d_ff, vt.n_patches
    rows, tiles = vt.n_aspect_ratios + 1, vt.max_num_tiles
    out = [TensorSpec("v.patch_embd.weight", (dv, c, p, p), "vision"),
           TensorSpec("v.class_embd", (dv,), "vision"),
           TensorSpec("v.position_embd.gate", (1,), "vision"),
           TensorSpec("v.position_embd.weight", (n_p, dv), "vision"),
           TensorSpec("v.tile_position_embd.weight", (rows, tiles * n_p * dv), "vision")]
    for name in ("v.pre_tile_position_embd", "v.post_tile_position_embd"):
        out += [TensorSpec(f"{name}.weight", (rows, tiles * dv), "vision"),
                TensorSpec(f"{name}.gate", (1,), "vision")]
    out += _ln("v.pre_ln", dv) + _ln("v.post_ln", dv)
    for stack, n, gated in (("v.blk", vt.n_layers, False), ("v.global.blk", vt.n_global_layers, True)):
        for j in range(n):
            b = f"{stack}.{j}."
            out += [TensorSpec(b + name, (dv, dv), "vision")
                    for name in ("attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_out.weight")]
            out += _linear(b + "ffn_up", dv, ff, bias=True, role="vision", layer=None)
            out += _linear(b + "ffn_down", ff, dv, bias=True, role="vision", layer=None)
            out += _ln(b + "ln1", dv) + _ln(b + "ln2", dv)
            if gated:
                out += [TensorSpec(b + gate, (1,), "vision") for gate in ("attn_gate", "ffn_gate")]
    return out + _linear("mm.input_projection", vt.output_dim, arch.d_model, bias=True, role="vision",
                         layer=None)


# --- Gemma 4 (params.gemma4_*) ----------------------------------------------------------------


def _gemma4_layer(arch: Architecture, g: Gemma4Text, i: int) -> list[TensorSpec]:
    """One Gemma 4 layer (params.gemma4_layer_part): per-layer-type attention, no K/V in KV-shared
    layers, the MLP (doubled there when double-wide), the MoE block, the per-layer input."""
    p, d, kind = f"blk.{i}.", arch.d_model, arch.layer_types[i]
    shared, b = g.shares_kv(arch.n_layers, i), arch.qkv_bias
    dh, k = (g.global_head_dim, g.global_kv_heads) if kind == "full" else (arch.head_dim, arch.n_kv_heads)
    out = [*_linear(p + "attn_q", d, arch.n_heads * dh, bias=b, role="attention", layer=i),
           TensorSpec(p + "attn_q_norm.weight", (dh,), "norm", i)]
    if not shared:
        out += _linear(p + "attn_k", d, k * dh, bias=b, role="attention", layer=i)
        if not (g.k_eq_v and kind == "full"):
            out += _linear(p + "attn_v", d, k * dh, bias=b, role="attention", layer=i)
        out.append(TensorSpec(p + "attn_k_norm.weight", (dh,), "norm", i))
    out += _linear(p + "attn_output", arch.n_heads * dh, d, bias=arch.o_bias, role="attention", layer=i)
    out += _mlp(arch, arch.d_ff * (2 if g.double_wide_mlp and shared else 1), p, i)
    norms = ["attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"]
    if arch.moe:
        e = arch.moe.n_experts
        out += [*_linear(p + "ffn_gate_inp", d, e, bias=False, role="router", layer=i),
                TensorSpec(p + "ffn_gate_inp.scale", (d,), "router", i),
                TensorSpec(p + "ffn_gate_inp.per_expert_scale", (e,), "router", i),
                *_mlp(arch, arch.moe.d_ff_expert, p, i, suffix="_exps", role="expert", experts=e, bias=False)]
        norms += ["post_ffw_norm_1", "pre_ffw_norm_2", "post_ffw_norm_2"]
    if g.ple_dim:
        out += [*_linear(p + "inp_gate", d, g.ple_dim, bias=False, role="other", layer=i),
                *_linear(p + "proj", g.ple_dim, d, bias=False, role="other", layer=i)]
        norms.append("post_norm")
    return out + [TensorSpec(f"{p}{name}.weight", (d,), "norm", i) for name in norms]


def _gemma4_vision(arch: Architecture, vt: Gemma4Vision) -> list[TensorSpec]:
    """Gemma 4's image encoder and projector (params.gemma4_vision_part), as a llama.cpp mmproj."""
    dv, a, k, dh, ff = vt.d_model, vt.n_heads, vt.n_kv_heads, vt.head_dim, vt.d_ff
    out = [TensorSpec("v.patch_embd.weight", (dv, 3 * vt.patch_size ** 2), "vision"),
           TensorSpec("v.position_embd.weight", (2, vt.position_rows, dv), "vision")]
    for j in range(vt.n_layers):
        b = f"v.blk.{j}."
        for name, n_in, n_out in (("attn_q", dv, a * dh), ("attn_k", dv, k * dh), ("attn_v", dv, k * dh),
                                  ("attn_out", a * dh, dv), ("ffn_gate", dv, ff), ("ffn_up", dv, ff),
                                  ("ffn_down", ff, dv)):
            out += _linear(b + name, n_in, n_out, bias=False, role="vision", layer=None)
        out += [TensorSpec(b + name, (w,), "vision") for name, w in (
            ("attn_q_norm.weight", dh), ("attn_k_norm.weight", dh), ("ln1.weight", dv),
            ("attn_post_norm.weight", dv), ("ln2.weight", dv), ("ffn_post_norm.weight", dv))]
    return out + [TensorSpec("mm.input_projection.weight", (arch.d_model, dv), "vision")]


def _gemma4_audio(arch: Architecture, at: Gemma4Audio) -> list[TensorSpec]:
    """Gemma 4's audio encoder and projector (params.gemma4_audio_part); role "vision": the
    towers' role (a module of their own)."""
    da, (c0, c1), h = at.d_model, at.conv_channels, at.n_heads
    inner, lin = h * (da // h), functools.partial(_linear, bias=False, role="vision", layer=None)
    out = [TensorSpec("a.conv1d.0.weight", (c0, 1, 3, 3), "vision"),
           TensorSpec("a.conv1d.0.norm.weight", (c0,), "vision"),
           TensorSpec("a.conv1d.1.weight", (c1, c0, 3, 3), "vision"),
           TensorSpec("a.conv1d.1.norm.weight", (c1,), "vision"),
           *lin("a.input_projection", c0 // 4 * c1, da)]
    for j in range(at.n_layers):
        b = f"a.blk.{j}."
        for f in ("ffn1", "ffn2"):
            out += [*lin(f"{b}{f}_up", da, 4 * da), *lin(f"{b}{f}_down", 4 * da, da)]
            out += [TensorSpec(f"{b}{f}_{n}_norm.weight", (da,), "vision") for n in ("pre", "post")]
        out += [*lin(b + "attn_q", da, inner), *lin(b + "attn_k", da, inner), *lin(b + "attn_v", da, inner),
                *lin(b + "attn_out", da, da), *lin(b + "attn_rel_k", da, inner),
                TensorSpec(b + "attn_per_dim_scale", (da // h,), "vision"),
                *lin(b + "light_in", da, 2 * da), *lin(b + "light_out", da, da),
                TensorSpec(b + "conv_dw.weight", (da, 1, at.conv_kernel), "vision")]
        out += [TensorSpec(f"{b}{n}.weight", (da,), "vision")
                for n in ("light_pre_norm", "conv_norm", "attn_pre_norm", "attn_post_norm", "out_norm")]
    return out + [*_linear("a.output_proj", da, at.output_dim, bias=True, role="vision", layer=None),
                  TensorSpec("mm.a.input_projection.weight", (arch.d_model, at.output_dim), "vision")]


def _gemma4(arch: Architecture, g: Gemma4Text) -> list[TensorSpec]:
    """Every tensor of a Gemma 4 model (params.gemma4_parts)."""
    out = _embeddings(arch)
    if g.ple_dim:
        lp = arch.n_layers * g.ple_dim
        out += [TensorSpec("per_layer_token_embd.weight", (g.ple_vocab, lp), "embedding"),
                TensorSpec("per_layer_model_proj.weight", (lp, arch.d_model), "other"),
                TensorSpec("per_layer_proj_norm.weight", (g.ple_dim,), "norm")]
    for i in range(arch.n_layers):
        out += _gemma4_layer(arch, g, i)
    out += [*_norm(arch, "output_norm", arch.d_model, None), *_head(arch)]
    if arch.gemma4_vision:
        out += _gemma4_vision(arch, arch.gemma4_vision)
    if arch.gemma4_audio:
        out += _gemma4_audio(arch, arch.gemma4_audio)
    return out


@functools.lru_cache(maxsize=64)
def model_tensors(arch: Architecture) -> tuple[TensorSpec, ...]:
    """Every parameter tensor of ``arch``; Σ numel == ``count_params(arch).total``. A model
    counted by transformers has the tensors its meta-device model holds."""
    if arch.transformers:
        return arch.transformers.tensors
    if arch.gemma4:
        return tuple(_gemma4(arch, arch.gemma4))
    out = _embeddings(arch)
    if arch.kind == "encoder-decoder":
        out += _stack(arch, "enc.", arch.n_layers, 0, cross=False)
        out += _stack(arch, "dec.", arch.decoder_layers, arch.n_layers, cross=True)
    else:
        out += _stack(arch, "", arch.n_layers, 0, cross=False)
    out += _head(arch)
    if arch.vision:
        out += _vision(arch, arch.vision)
    return tuple(out)


def n_stacked_layers(arch: Architecture) -> int:
    """Layers in pipeline order: the decoder's, or the encoder's then the decoder's."""
    return arch.n_layers + (arch.decoder_layers if arch.kind == "encoder-decoder" else 0)


# --- bytes in a format ----------------------------------------------------------------------


@dataclass(frozen=True)
class TensorBytes:
    """One tensor priced in a format: the stored values and the scales/zeros that decode them."""

    spec: TensorSpec
    weights: int
    scales: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.scales


def _format(fmt: WeightFormat | str) -> WeightFormat:
    return parse_format(fmt) if isinstance(fmt, str) else fmt


def _cached_per_format(fn: Callable[[Architecture, WeightFormat, str], T]) -> Callable[..., T]:
    """Cache ``fn(arch, fmt, base)``: the bytes depend only on the (frozen) architecture, the format
    and the base precision, and the inference and training estimates ask for them many times per
    call (a 405B model has ~1,100 tensors). The results are immutable (tuples, frozen trees).
    ``quantized_roles`` is part of the key because ``WeightFormat`` leaves it out of ``==``."""
    cached = functools.lru_cache(maxsize=128)(
        lambda arch, fmt, roles, base: fn(arch, fmt, base))

    @functools.wraps(fn)
    def wrapper(arch: Architecture, fmt: WeightFormat | str, *, base: str = "bf16") -> T:
        f = _format(fmt)
        return cached(arch, f, f.quantized_roles, base)

    return wrapper


@_cached_per_format
def tensor_bytes(arch: Architecture, fmt: WeightFormat | str,
                 base: str = "bf16") -> tuple[TensorBytes, ...]:
    """Every tensor of ``arch`` priced in ``fmt``; tensors the format keeps are ``base`` wide.
    GGUF file types go through llama.cpp's per-tensor mixture (``gguf_mixture.gguf_tensor_types``)."""
    fmt, specs = _format(fmt), model_tensors(arch)
    precision_bits(base)  # an unknown base is an error before any arithmetic
    types = gguf_tensor_types(arch, specs, fmt, base=base) if fmt.kind == "gguf" else {}
    return tuple(TensorBytes(s, *tensor_bytes_in(fmt, s, base=base, gguf_type=types.get(s.name)))
                 for s in specs)


def _role_parts(rows: list[TensorBytes]) -> list[Part]:
    """One group per role (in ``ROLES`` order) with ``weights`` and ``scales`` leaves."""
    parts = []
    for role in ROLES:
        mine = [r for r in rows if r.spec.role == role]
        parts.append(group(role, [leaf("weights", sum(r.weights for r in mine)),
                                  leaf("scales", sum(r.scales for r in mine))]))
    return parts


def _ranges(idx: list[int]) -> str:
    """``[0, 1, 2, 5]`` → ``0–2, 5``."""
    runs: list[list[int]] = []
    for i in idx:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)


def _layers_part(rows: list[TensorBytes], n_layers: int) -> Part:
    """Identical layers folded into one node each (``layers ×32``, or ``layers 0–2 ×3`` and
    ``layers 3–60 ×58`` when a mixture or a dense prefix makes them differ)."""
    per_layer: dict[int, list[TensorBytes]] = {i: [] for i in range(n_layers)}
    for r in rows:
        assert r.spec.layer is not None, r.spec.name  # every tensor of "layers" names its layer
        per_layer[r.spec.layer].append(r)
    classes: dict[str, tuple[Part, list[int]]] = {}
    for i, mine in per_layer.items():
        part = group("layer", _role_parts(mine))
        classes.setdefault(repr(part.to_dict()), (part, []))[1].append(i)
    many = len(classes) > 1
    return group("layers", [
        rename(times(part, len(idx)), f"layers {_ranges(idx)} ×{len(idx)}" if many else f"layers ×{len(idx)}")
        for part, idx in classes.values()
    ])


@_cached_per_format
def weights_bytes(arch: Architecture, fmt: WeightFormat | str, base: str = "bf16") -> Part:
    """The weights of ``arch`` in ``fmt`` as a byte tree named "weights" that sums to its total:
    embeddings, layers (identical layers folded), final_norm, head, vision; each split by role into
    ``weights`` and ``scales`` leaves."""
    rows = tensor_bytes(arch, fmt, base=base)
    parts = []
    for module in MODULES:
        mine = [r for r in rows if r.spec.module == module]
        if module == "layers":
            parts.append(_layers_part(mine, n_stacked_layers(arch)))
        else:
            parts.append(group(module, _role_parts(mine)))
    return group("weights", parts)


@_cached_per_format
def layer_bytes(arch: Architecture, fmt: WeightFormat | str, base: str = "bf16") -> tuple[int, ...]:
    """Bytes of each layer in pipeline order (for pipeline stages and llama.cpp ``-ngl``)."""
    out = [0] * n_stacked_layers(arch)
    for r in tensor_bytes(arch, fmt, base=base):
        if r.spec.layer is not None:
            out[r.spec.layer] += r.total
    return tuple(out)


@dataclass(frozen=True)
class NonLayerBytes:
    """Bytes outside the layers: the input side (token/position tables, embedding norm), the output
    side (final norm(s) and head) and a vision tower. A tied head adds nothing to the file; llama.cpp
    loads token_embd a second time as the output when it offloads the output layer, which is the
    inference estimate's to add."""

    input_bytes: int
    output_bytes: int
    vision_bytes: int

    @property
    def total(self) -> int:
        return self.input_bytes + self.output_bytes + self.vision_bytes


@_cached_per_format
def non_layer_bytes(arch: Architecture, fmt: WeightFormat | str, base: str = "bf16") -> NonLayerBytes:
    """The weights outside the layers, split as llama.cpp places them (input on the host, output
    offloaded once ``-ngl`` exceeds the layer count)."""
    by: dict[str, int] = dict.fromkeys(MODULES, 0)
    for r in tensor_bytes(arch, fmt, base=base):
        by[r.spec.module] += r.total
    return NonLayerBytes(by["embeddings"], by["final_norm"] + by["head"], by["vision"])
