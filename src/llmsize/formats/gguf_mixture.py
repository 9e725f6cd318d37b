"""llama.cpp's file types as the per-tensor mixtures ``llama-quantize`` actually assigns.

A file type such as Q4_K_M names a default ggml type (Q4_K) and a set of rules that give some
tensors more bits: ``output.weight`` usually Q6_K, ``attn_v`` and ``ffn_down`` Q6_K in the layers
``use_more_bits`` picks, 1-D tensors, norms and the router kept as converted (F32), and a type
whose block does not divide a row falls back (Q4_K → Q5_0, Q6_K → Q8_0, …). Mirrored from
llama.cpp ``src/llama-quant.cpp`` (``llama_tensor_get_type``, ``tensor_allows_quantization``,
``tensor_type_fallback``) at commit 007dbbf3fd17, including the loader's tensor order (by
``blk.N``, then name) that the per-category counters depend on. Checked against the sizes
``tools/quantize/quantize.cpp`` prints for Llama-3-8B (``tests/test_dtypes.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import ConfigError
from .dtypes import FILE_TYPES, GGML_TYPES, NEEDS_IMATRIX, PRECISION_ALIASES, WeightFormat, fallback_type

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..arch import Architecture
    from .tensors import TensorSpec


ATTN_V_LIKE = ("attn_v", "attn_qkv", "attn_kv_b")  # category_is_attn_v
IQ_LOW = ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M")
_CATEGORIES = (("attn_qkv.weight", "attn_qkv"), ("attn_kv_b.weight", "attn_kv_b"),
               ("attn_v.weight", "attn_v"), ("attn_k.weight", "attn_k"), ("attn_q.weight", "attn_q"),
               ("attn_output.weight", "attn_output"), ("ffn_up", "ffn_up"), ("ffn_gate", "ffn_gate"),
               ("ffn_down", "ffn_down"))


def _category(name: str) -> str:
    """tensor_get_category: broad categories by substring, first match wins."""
    if name == "output.weight":
        return "output"
    if name == "token_embd.weight":
        return "token_embd"
    return next((cat for key, cat in _CATEGORIES if key in name), "other")


def _blk(name: str) -> int:
    """The ``blk.N.`` index (sscanf "blk.%d."), -1 when the name does not start with it."""
    m = re.match(r"blk\.(\d+)\.", name)
    return int(m.group(1)) if m else -1


def use_more_bits(i: int, n: int) -> bool:
    """The first and last eighth of the layers, and every third one between, get more bits."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


@dataclass
class _Mixture:
    """What llama_tensor_get_type_impl reads: file type, model shape and its running counters."""

    ftype: str
    n_layer: int
    n_gqa: int
    n_expert: int
    falcon: bool
    is_70b: bool  # LLM_TYPE_70B: a llama with 80 layers and GQA (llama_quant_model_from_metadata)
    tied: bool
    n_attn_v: int
    imatrix: bool
    counters: dict[str, int] = field(default_factory=lambda: {"ffn_down": 0, "ffn_gate": 0, "ffn_up": 0})
    i_attn_v: int = 0

    def ffn_layer(self, cat: str, name: str) -> int:
        """layer_info: the name's block for MoE models (experts are not consecutive), else the
        count of this category's tensors seen so far; the count moves on either way."""
        i = _blk(name) if self.n_expert > 1 else self.counters[cat]
        self.counters[cat] += 1
        return i


def _output_type(m: _Mixture, new: str, row: int) -> str:
    """output.weight (and a tied token_embd): Q6_K, Q8_0 when rows do not hold whole blocks."""
    if m.ftype == "MXFP4_MOE" or m.falcon or row % GGML_TYPES[new][0]:
        return "Q8_0"
    if m.ftype in IQ_LOW or m.ftype == "IQ3_XXS":
        return "Q5_K"
    return new if new == "Q8_0" else "Q6_K"


def _token_embd_type(m: _Mixture, new: str) -> str:
    f = m.ftype
    if f in ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"):
        return "Q2_K"
    if f in ("IQ2_S", "IQ2_M", "IQ3_XXS"):
        return "IQ3_S"
    return "Q4_K" if f in ("TQ1_0", "TQ2_0") else new


def _iq_low_type(m: _Mixture, cat: str, new: str) -> str:
    """The 1–2 bit i-quant file types (IQ1_*, IQ2_*)."""
    s_or_m = m.ftype in ("IQ2_S", "IQ2_M")
    if cat in ATTN_V_LIKE:
        m.i_attn_v += 1
        return "Q4_K" if m.n_gqa >= 4 or m.n_expert >= 4 else "IQ3_S" if s_or_m else "Q2_K"
    if m.n_expert == 8 and cat == "attn_k":
        return "Q4_K"
    if cat == "ffn_down":
        i, m.counters["ffn_down"] = m.counters["ffn_down"], m.counters["ffn_down"] + 1
        return ("IQ3_S" if s_or_m else "Q2_K") if i < m.n_layer // 8 else new
    if cat == "attn_output":
        if m.n_expert == 8:
            return "Q5_K"
        return "IQ2_XXS" if m.ftype in ("IQ1_S", "IQ1_M") else "IQ3_S" if s_or_m else new
    return new


def _attn_v_type(m: _Mixture, new: str) -> str:
    """attn_v (and attn_kv_b): more bits for GQA models and, in Q4_K_M/Q5_K_M, some layers."""
    f, gqa = m.ftype, m.n_gqa
    rules = {"Q2_K": "Q4_K" if gqa >= 4 else "Q3_K", "IQ3_M": "Q4_K", "Q3_K_L": "Q5_K",
             "Q3_K_M": "Q5_K" if m.i_attn_v < 2 else "Q4_K",
             "IQ3_XXS": "Q4_K" if gqa >= 4 else "IQ3_XXS" if m.imatrix else "IQ3_S"}
    if f in rules:
        new = rules[f]
    elif gqa >= 4 and f in ("Q2_K_S", "IQ3_XS", "IQ3_S"):
        new = "Q4_K"
    elif gqa >= 4 and f in ("IQ4_NL", "IQ4_XS"):
        new = "Q5_K"
    elif f in ("Q4_K_M", "Q5_K_M") and use_more_bits(m.i_attn_v, m.n_attn_v):
        new = "Q6_K"
    elif f == "Q4_K_S" and m.i_attn_v < 4:
        new = "Q5_K"
    if m.is_70b and new in ("Q3_K", "Q4_K"):
        new = "Q5_K"
    m.i_attn_v += 1
    return "Q8_0" if m.n_expert == 8 else new


def _ffn_down_type(m: _Mixture, name: str, new: str) -> str:
    """ffn_down (and its expert and shared-expert stacks), by layer i of n."""
    f, i, n = m.ftype, m.ffn_layer("ffn_down", name), m.n_layer
    more = use_more_bits(i, n)
    if f == "Q2_K":
        return "Q3_K"
    if f == "Q2_K_S":
        return "Q4_K" if i < n // 8 else new
    if f == "IQ3_XXS" and not m.imatrix:
        return "Q4_K" if i < n // 8 else "Q3_K"
    if f == "Q3_K_M":
        return "Q5_K" if i < n // 16 else "Q4_K" if not m.falcon or more else "Q3_K"
    if f == "IQ3_M" and (i < n // 8 or (m.n_expert == 8 and more)):
        return "Q4_K"
    if f == "Q3_K_L":
        return "Q4_K" if m.falcon else "Q5_K"
    if f == "Q4_K_M":
        if m.falcon:
            return "Q6_K" if i < n // 16 else "Q5_K" if more else "Q4_K"
        return "Q6_K" if more else new
    if i < n // 8 and f in ("IQ4_NL", "IQ4_XS") and not m.imatrix:
        return "Q5_K"
    if f == "Q5_K_M" and more:
        return "Q6_K"
    if f == "Q4_K_S" and not m.falcon and i < n // 8:
        return "Q5_K"
    if f in ("Q4_0", "Q5_0") and m.imatrix and i < n // 8:
        return "Q4_1" if f == "Q4_0" else "Q5_1"
    return new


def _attn_output_type(m: _Mixture, new: str) -> str:
    f = m.ftype
    if m.falcon:
        return "Q4_K" if f == "Q3_K_L" else new
    if m.n_expert == 8:
        eight = ("Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ3_S",
                 "IQ3_M", "IQ4_XS")
        return "Q5_K" if f in eight else new
    rules = {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K", "IQ3_M": "Q4_K"}
    return rules.get(f, new)


def _mixture_type(m: _Mixture, spec: TensorSpec, new: str) -> str:
    """llama_tensor_get_type_impl: the type a file type gives one quantizable tensor. (Its
    attn_qkv branch is unreachable there, attn_qkv being attn_v-like; so it is here.)"""
    cat, name = _category(spec.name), spec.name
    if cat == "output" or (m.tied and cat == "token_embd"):
        return _output_type(m, new, spec.shape[-1])
    if m.ftype == "MXFP4_MOE":
        return "MXFP4" if len(spec.shape) == 3 and spec.shape[0] > 1 else "Q8_0"
    if cat == "token_embd":
        return _token_embd_type(m, new)
    if m.ftype in IQ_LOW:
        return _iq_low_type(m, cat, new)
    if cat in ATTN_V_LIKE:
        return _attn_v_type(m, new)
    if cat in ("attn_k", "attn_q"):
        if cat == "attn_k" and m.n_expert == 8:
            return "Q8_0"
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(m.ftype, new)
    if cat == "ffn_down":
        return _ffn_down_type(m, name, new)
    if cat == "attn_output":
        return _attn_output_type(m, new)
    if cat in ("ffn_gate", "ffn_up"):
        i, n = m.ffn_layer(cat, name), m.n_layer
        return "IQ3_XXS" if m.ftype == "IQ3_XS" and n // 8 <= i < 7 * n // 8 else new
    return new


def _ggml_n_dims(shape: tuple[int, ...]) -> int:
    """ggml_n_dims: dims up to the last one longer than 1, counted fastest-first (ne[0] = last)."""
    return max((i + 1 for i, n in enumerate(reversed(shape)) if n > 1), default=1)


def allows_quantization(spec: TensorSpec) -> bool:
    """tensor_allows_quantization: 2-D+ ``…weight`` tensors, except norms, the router, position and
    segment tables, Mamba's conv1d and T5's relative-position table."""
    name = spec.name
    excluded = ("_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d", "attn_rel_b.weight")
    return (_ggml_n_dims(spec.shape) >= 2 and name.endswith("weight") and not any(e in name for e in excluded)
            and name not in ("position_embd.weight", "token_types.weight"))


def converted_type(spec: TensorSpec, base_type: str) -> str:
    """The type convert_hf_to_gguf.py writes before quantization: F32 for 1-D tensors, norms, the
    router, position and segment tables, conv1d and anything not ending ``.weight``; else base."""
    name = spec.name
    f32_keys = ("ffn_gate_inp.weight", "position_embd.weight", "token_types.weight", "ssm_conv1d.weight")
    f32 = len(spec.shape) <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight")
    return "F32" if f32 or any(k in name for k in f32_keys) else base_type


def _mixture_state(arch: Architecture, fmt: WeightFormat, specs: list[TensorSpec]) -> _Mixture:
    names = {s.name for s in specs}
    llama = arch.modeling.llamacpp_arch == "llama"
    return _Mixture(
        ftype=fmt.variant, n_layer=arch.n_layers, n_gqa=arch.n_heads // arch.n_kv_heads,
        n_expert=arch.moe.n_experts if arch.moe else 0, falcon=arch.modeling.llamacpp_arch == "falcon",
        is_70b=llama and arch.n_layers == 80 and arch.n_kv_heads != arch.n_heads and not arch.moe,
        tied="output.weight" not in names,
        n_attn_v=sum(_category(n) in ATTN_V_LIKE for n in names),
        imatrix=fmt.variant in NEEDS_IMATRIX)


def gguf_tensor_types(arch: Architecture, specs: Iterable[TensorSpec], fmt: WeightFormat, *,
                      base: str = "bf16") -> dict[str, str]:
    """The ggml type of every tensor in a GGUF of ``fmt``, as llama-quantize assigns them to a
    ``base``-precision conversion (llama_tensor_get_type, in the model loader's tensor order:
    by ``blk.N`` then name). The vision tower (a separate mmproj file) stays as converted."""
    src = {"bf16": "BF16", "fp16": "F16", "fp32": "F32"}.get(PRECISION_ALIASES.get(base, base))
    if src is None:
        raise ConfigError(f"a GGUF is converted from fp32, fp16 or bf16, not {base!r}")
    specs = list(specs)
    text = sorted((s for s in specs if s.role != "vision"), key=lambda s: (_blk(s.name), s.name))
    m = _mixture_state(arch, fmt, text)
    default = fmt.variant if fmt.pure else FILE_TYPES[fmt.variant]
    out = {s.name: converted_type(s, src) for s in specs}
    for s in text:
        if not allows_quantization(s):
            continue
        t = default
        if GGML_TYPES[default][0] > 1:  # ggml_is_quantized: mixtures only for quantized defaults
            t = fallback_type(t if fmt.pure else _mixture_type(m, s, t), s.shape[-1])
        out[s.name] = t
    return out


