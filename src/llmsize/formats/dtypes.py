"""Precisions and weight formats: how many bits a stored weight takes, and what decodes it.

Widths are bits, so 4-bit formats stay exact; bytes come once, at the end, rounding up.

==============  ========  ========  ======================================  ========================  ======
format          bits/w    block     scales (and zeros) stored               kept at ``base`` (bf16)   source
==============  ========  ========  ======================================  ========================  ======
fp32/fp16/bf16  32/16/16  —         —                                       nothing: every tensor     —
fp8 (e4m3)      8 + ε     tensor    one fp32 ``weight_scale`` per matrix    embeddings, head, norms,  [1]
fp8-e5m2        8 + ε     tensor    idem                                    router, biases, vision
fp8-channel     8 + ε     row       one fp32 per output row                 idem                      [1]
fp8-block       8.002     128×128   one fp32 per 128×128 block              idem                      [2]
int8            8 + ε     row       ``SCB`` fp32 per output row             idem                      [3]
nf4 / fp4       4.5       64        ``absmax`` fp32 per 64 + quant_map      idem                      [4]
nf4-dq/fp4-dq   4.127     64 / 256  absmax u8 per 64, fp32 per 256 of them  idem                      [4]
gptq:B:G        B + .16   G inputs  fp16 scales, B-bit zeros per (group,    idem                      [5]
                                    out); int32 ``g_idx`` per input
awq:B:G         B + .16   G inputs  idem, no g_idx                          idem                      [6]
mxfp4           4.25      32        E8M0 (8-bit) scale per 32 values        all but the MoE experts   [7]
Q4_K_M, …       mixture   32 / 256  inside the ggml blocks (``GGML_TYPES``)  llama.cpp's rules        [8]
==============  ========  ========  ======================================  ========================  ======

[1] compressed-tensors / FBGEMM FP8 checkpoints (e.g. neuralmagic ``*-FP8``): ``Linear`` weights in
    the decoder layers, ``ignore: ["lm_head"]``; llm-compressor's MoE recipes also ignore the router
    (``re:.*mlp.gate$``). Activation ``input_scale`` scalars are not counted (4 bytes per matrix).
[2] DeepSeek-V3 ``README_WEIGHTS.md``: e4m3 weights, ``weight_block_size [128, 128]``, a fp32
    ``weight_scale_inv`` per block; embeddings, head, norms and the router stay bf16.
[3] bitsandbytes LLM.int8 (Dettmers et al. 2022, arXiv 2208.07339): int8 weight + fp32 ``SCB`` per
    output row; transformers skips ``lm_head`` (``llm_int8_skip_modules``) and the embeddings, and
    we keep the router too (quantizers such as unsloth list it in the skip modules). The one-byte
    ``weight_format`` older bitsandbytes versions stored per matrix is not counted.
[4] bitsandbytes 4-bit (QLoRA, Dettmers et al. 2023, arXiv 2305.14314, §3): two values per byte,
    absmax per block of 64 (fp32; with double quantization 8-bit, plus one fp32 per 256 absmax).
    Per matrix, the serialized ``QuantState`` is mirrored: ``quant_map`` (16 fp32), with double
    quantization ``nested_quant_map`` (256 fp32), and ``quant_state.bitsandbytes__<type>`` (the JSON
    of ``QuantState.as_dict(packed=True)`` as bytes; its ``nested_offset`` float is counted at
    ``NESTED_OFFSET_CHARS`` characters).
[5] AutoGPTQ / GPTQModel ``QuantLinear``: ``qweight`` int32 (in·B/32, out), ``qzeros`` int32
    (groups, out·B/32), ``scales`` fp16 (groups, out), ``g_idx`` int32 (in); groups = ⌈in/G⌉,
    G = -1 means one group per input row. Only ``Linear`` layers inside the decoder layers
    (``block_name_to_quantize``); the MoE router is commonly left out (``modules_to_not_convert``).
[6] AutoAWQ GEMM: ``qweight`` int32 (in, out·B/32), ``qzeros`` (in/G, out·B/32), ``scales`` fp16.
    (The ``+ .16`` of both is at G = 128: 16/128 for scales, B/128 for zeros, 32/out for g_idx.)
[7] OCP Microscaling Formats (MX) v1.0 §5: E2M1 elements, one E8M0 scale per 32; gpt-oss stores
    ``*_blocks`` (u8, two per byte) and ``*_scales`` (u8) for the expert weights only.
[8] llama.cpp ``src/llama-quant.cpp`` (``llama_tensor_get_type``), commit 007dbbf3fd17, mirrored in
    ``gguf_mixture.py``; block sizes from ggml ``ggml-common.h``. 1-D tensors, norms, the router
    and position tables stay as ``convert_hf_to_gguf.py`` wrote them (F32); output.weight is
    mostly Q6_K; attn_v / ffn_down get more bits in some layers (``use_more_bits``); a row that
    holds no whole block falls back (Q4_K → Q5_0, Q6_K → Q8_0, …). The GGUF's blocks hold their
    own scales, so a GGUF has no separate ``scales`` bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from math import prod

from ..errors import ConfigError, shown
from ..limits import MAX_WIDTH

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:

    from .tensors import TensorSpec

# --- plain precisions -----------------------------------------------------------------------

PRECISION_BITS = {"fp32": 32, "fp16": 16, "bf16": 16, "fp8_e4m3": 8, "fp8_e5m2": 8, "int8": 8, "int4": 4}
PRECISION_ALIASES = {"f32": "fp32", "float32": "fp32", "float": "fp32", "f16": "fp16", "float16": "fp16",
                     "half": "fp16", "bfloat16": "bf16", "fp8": "fp8_e4m3", "e4m3": "fp8_e4m3",
                     "e5m2": "fp8_e5m2", "i8": "int8", "i4": "int4"}
TORCH_NAMES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}  # bitsandbytes' state JSON


def precision_bits(name: str) -> int:
    """The width in bits of a plain precision (``bf16`` → 16, ``int4`` → 4)."""
    key = PRECISION_ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in PRECISION_BITS:
        raise ConfigError(f"unknown precision {name!r}; choose one of: {', '.join(PRECISION_BITS)}")
    return PRECISION_BITS[key]


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def float_bytes(shape: tuple[int, ...], bits: int) -> int:
    """⌈numel · bits / 8⌉: bits become bytes once, for the whole tensor."""
    return _cdiv(prod(shape) * bits, 8)


def _matrices(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(count, out, in) of a 2-D weight or a stack of them (3-D experts: one matrix per expert)."""
    *lead, n_out, n_in = shape
    return prod(lead), n_out, n_in


# --- checkpoint layouts: (stored values, scales + zeros + indices) in bytes -----------------

FP32_BYTES, FP16_BYTES, INT32_BYTES = 4, 2, 4
FP8_BLOCK = 128  # DeepSeek-V3 weight_block_size [128, 128]
BNB_BLOCK, BNB_NESTED_BLOCK = 64, 256  # QLoRA §3: absmax per 64 weights; 256 absmax per fp32
BNB_CODES_4BIT, BNB_CODES_8BIT = 16, 256  # quant_map / nested_quant_map entries (fp32 each)
NESTED_OFFSET_CHARS = 20  # a Python float's repr; it varies by a few characters per matrix
MX_BLOCK = 32  # OCP MX v1.0: 32 elements share one 8-bit E8M0 scale


def fp8_bytes(shape: tuple[int, ...], scale: str) -> tuple[int, int]:
    """8-bit values and fp32 scales: one per matrix (``tensor``), per output row (``channel``) or
    per 128×128 block (``block``: ⌈out/128⌉·⌈in/128⌉, DeepSeek-V3 ``weight_scale_inv``)."""
    n, n_out, n_in = _matrices(shape)
    per_matrix = {"tensor": 1, "channel": n_out,
                  "block": _cdiv(n_out, FP8_BLOCK) * _cdiv(n_in, FP8_BLOCK)}[scale]
    return prod(shape), n * per_matrix * FP32_BYTES


def int8_bytes(shape: tuple[int, ...]) -> tuple[int, int]:
    """LLM.int8: one int8 per weight and an fp32 ``SCB`` absmax per output row."""
    n, n_out, _ = _matrices(shape)
    return prod(shape), n * n_out * FP32_BYTES


def _bnb_state_bytes(n_out: int, n_in: int, quant_type: str, base: str, nested: bool) -> int:
    """Length of the JSON bitsandbytes packs into ``quant_state.bitsandbytes__<type>``."""
    dtype = TORCH_NAMES.get(PRECISION_ALIASES.get(base, base), "bfloat16")
    state: dict[str, object] = {"quant_type": quant_type, "blocksize": BNB_BLOCK, "dtype": dtype,
                                "shape": [n_out, n_in]}
    if nested:
        state |= {"nested_blocksize": BNB_NESTED_BLOCK, "nested_dtype": "float32", "nested_offset": 0.0}
    return len(json.dumps(state)) + (NESTED_OFFSET_CHARS - len("0.0") if nested else 0)


def bnb4_bytes(shape: tuple[int, ...], *, quant_type: str, nested: bool, base: str) -> tuple[int, int]:
    """QLoRA 4-bit: ⌈w/2⌉ bytes of values; per matrix absmax (fp32 per 64, or u8 per 64 + fp32 per
    256 absmax with double quantization), the code tables and the serialized state."""
    n, n_out, n_in = _matrices(shape)
    w = n_out * n_in
    blocks = _cdiv(w, BNB_BLOCK)
    if nested:
        absmax = blocks + _cdiv(blocks, BNB_NESTED_BLOCK) * FP32_BYTES + BNB_CODES_8BIT * FP32_BYTES
    else:
        absmax = blocks * FP32_BYTES
    state = absmax + BNB_CODES_4BIT * FP32_BYTES + _bnb_state_bytes(n_out, n_in, quant_type, base, nested)
    return n * _cdiv(w, 2), n * state


def gptq_bytes(shape: tuple[int, ...], *, bits: int, group_size: int, g_idx: bool) -> tuple[int, int]:
    """GPTQ/AWQ packing: B-bit values in int32 words, fp16 scales and B-bit zeros per (group, out),
    and (GPTQ) an int32 group index per input; groups = ⌈in/G⌉, G = -1: one group per row."""
    n, n_out, n_in = _matrices(shape)
    groups = _cdiv(n_in, n_in if group_size == -1 else group_size)
    qweight = _cdiv(n_in * bits, 32) * n_out * INT32_BYTES
    qzeros = groups * _cdiv(n_out * bits, 32) * INT32_BYTES
    scales = groups * n_out * FP16_BYTES
    return n * qweight, n * (qzeros + scales + (n_in * INT32_BYTES if g_idx else 0))


def mxfp4_bytes(shape: tuple[int, ...]) -> tuple[int, int]:
    """MXFP4: 4-bit E2M1 values (two per byte) and one 8-bit E8M0 scale per 32 values."""
    w = prod(shape)
    return _cdiv(w, 2), _cdiv(w, MX_BLOCK)


# --- GGUF tensor types: (block size, bytes per block), from ggml ggml-common.h structs -------

QK_K = 256  # super-block of the k-quants and i-quants
QK = 32  # block of the legacy quants, IQ4_NL and MXFP4
GGML_TYPES: dict[str, tuple[int, int]] = {
    "F32": (1, 4), "F16": (1, 2), "BF16": (1, 2), "F64": (1, 8),
    "I8": (1, 1), "I16": (1, 2), "I32": (1, 4), "I64": (1, 8),
    "Q4_0": (QK, 2 + QK // 2),  # d, qs
    "Q4_1": (QK, 2 + 2 + QK // 2),  # d, m, qs
    "Q5_0": (QK, 2 + 4 + QK // 2),  # d, qh[4], qs
    "Q5_1": (QK, 2 + 2 + 4 + QK // 2),  # d, m, qh[4], qs
    "Q8_0": (QK, 2 + QK),  # d, qs
    "Q8_1": (QK, 2 + 2 + QK),  # d, s, qs (fp16 each; gguf-py keeps an old 4 + 4 + 32)
    "Q1_0": (128, 2 + 128 // 8),  # d, one bit per weight
    "Q2_K": (QK_K, QK_K // 16 + QK_K // 4 + 2 + 2),  # scales, qs, d, dmin
    "Q3_K": (QK_K, QK_K // 8 + QK_K // 4 + 12 + 2),  # hmask, qs, scales[12], d
    "Q4_K": (QK_K, 2 + 2 + 12 + QK_K // 2),  # d, dmin, scales[12], qs
    "Q5_K": (QK_K, 2 + 2 + 12 + QK_K // 8 + QK_K // 2),  # d, dmin, scales, qh, qs
    "Q6_K": (QK_K, QK_K // 2 + QK_K // 4 + QK_K // 16 + 2),  # ql, qh, scales (int8), d
    "Q8_K": (QK_K, 4 + QK_K + 2 * (QK_K // 16)),  # d (fp32), qs, bsums (int16)
    "IQ1_S": (QK_K, 2 + QK_K // 8 + 2 * (QK_K // 32)),  # d, qs, qh (u16)
    "IQ1_M": (QK_K, QK_K // 8 + QK_K // 16 + QK_K // 32),  # qs, qh, scales
    "IQ2_XXS": (QK_K, 2 + 2 * (QK_K // 8)),  # d, qs (u16)
    "IQ2_XS": (QK_K, 2 + 2 * (QK_K // 8) + QK_K // 32),  # d, qs (u16), scales
    "IQ2_S": (QK_K, 2 + QK_K // 4 + QK_K // 32 + QK_K // 32),  # d, qs, qh, scales
    "IQ3_XXS": (QK_K, 2 + 3 * QK_K // 8),  # d, qs (grid indices + signs)
    "IQ3_S": (QK_K, 2 + QK_K // 4 + QK_K // 32 + QK_K // 8 + QK_K // 64),  # d, qs, qh, signs, scales
    "IQ4_NL": (QK, 2 + QK // 2),  # d, qs
    "IQ4_XS": (QK_K, 2 + 2 + QK_K // 64 + QK_K // 2),  # d, scales_h, scales_l, qs
    "TQ1_0": (QK_K, (QK_K - 4 * QK_K // 64) // 5 + QK_K // 64 + 2),  # qs (5 trits/byte), qh, d
    "TQ2_0": (QK_K, QK_K // 4 + 2),  # qs (2 bits), d
    "MXFP4": (QK, 1 + QK // 2),  # e (E8M0), qs
    "NVFP4": (64, 64 // 16 + 64 // 2),  # d (UE4M3 per 16), qs
}


def ggml_tensor_bytes(shape: tuple[int, ...], ggml_type: str) -> int:
    """rows · (row length / block) · type size; a row (ggml ``ne[0]``, our last dim) holds whole blocks."""
    block, size = GGML_TYPES[ggml_type]
    if shape[-1] % block:
        raise ConfigError(f"a {ggml_type} tensor needs rows divisible by {block}; got shape {shape}")
    return prod(shape[:-1]) * (shape[-1] // block) * size


# llama.cpp file types and the ggml type their tensors default to (llama_ftype_get_default_type).
FILE_TYPES: dict[str, str] = {
    "F32": "F32", "F16": "F16", "BF16": "BF16", "Q4_0": "Q4_0", "Q4_1": "Q4_1", "Q5_0": "Q5_0",
    "Q5_1": "Q5_1", "Q8_0": "Q8_0", "Q1_0": "Q1_0", "Q2_K": "Q2_K", "Q2_K_S": "Q2_K", "Q3_K_S": "Q3_K",
    "Q3_K_M": "Q3_K", "Q3_K_L": "Q3_K", "Q4_K_S": "Q4_K", "Q4_K_M": "Q4_K", "Q5_K_S": "Q5_K",
    "Q5_K_M": "Q5_K", "Q6_K": "Q6_K", "IQ1_S": "IQ1_S", "IQ1_M": "IQ1_M", "IQ2_XXS": "IQ2_XXS",
    "IQ2_XS": "IQ2_XS", "IQ2_S": "IQ2_XS", "IQ2_M": "IQ2_S", "IQ3_XXS": "IQ3_XXS", "IQ3_XS": "IQ3_S",
    "IQ3_S": "IQ3_S", "IQ3_M": "IQ3_S", "IQ4_NL": "IQ4_NL", "IQ4_XS": "IQ4_XS", "TQ1_0": "TQ1_0",
    "TQ2_0": "TQ2_0", "MXFP4_MOE": "MXFP4", "NVFP4": "NVFP4",
}
FILE_TYPE_ALIASES = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}  # tools/quantize QUANT_OPTIONS
# Fallbacks when a row does not hold whole blocks (tensor_type_fallback); F16 if still not.
FALLBACK = {**dict.fromkeys(("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ4_XS"),
                            "IQ4_NL"),
            **dict.fromkeys(("Q2_K", "Q3_K", "TQ1_0", "TQ2_0"), "Q4_0"),
            "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}
# File types that cannot be made without an importance matrix (tensor_requires_imatrix): their
# mixtures are computed with one; every other file type without (llama-quantize's default).
NEEDS_IMATRIX = frozenset({"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "Q2_K_S"})


def fallback_type(ggml_type: str, row: int) -> str:
    """The type llama.cpp stores a tensor in when ``row`` is not a multiple of the block size."""
    if row % GGML_TYPES[ggml_type][0] == 0:
        return ggml_type
    if ggml_type not in FALLBACK:
        raise ConfigError(f"llama.cpp has no fallback for {ggml_type} rows of length {row}")
    fallback = FALLBACK[ggml_type]
    return fallback if row % GGML_TYPES[fallback][0] == 0 else "F16"


# --- formats --------------------------------------------------------------------------------

LINEAR_ROLES = frozenset({"attention", "mlp", "expert", "shared_expert", "ssm"})
GGUF_ROLES = LINEAR_ROLES | {"embedding", "head", "other"}  # 2-D tensors llama-quantize packs


@dataclass(frozen=True)
class WeightFormat:
    """How a checkpoint stores each weight matrix; ``quantized_roles`` are packed, the rest (and
    every bias, norm and 1-D tensor) stay at the ``base`` precision. See the module table."""

    name: str  # canonical spelling: "bf16", "fp8-block", "nf4-dq", "gptq:4:128", "Q4_K_M"
    kind: str  # float | fp8 | int8 | bnb4 | gptq | awq | mxfp4 | gguf
    bits: int  # width of one stored value (0 for GGUF: each tensor has its own type)
    group_size: int = 0  # gptq/awq inputs per group (-1: whole row)
    variant: str = ""  # fp8: tensor|channel|block; bnb4: nf4|fp4; gguf: file type or ggml type
    double_quant: bool = False  # bnb4: quantized absmax
    pure: bool = False  # gguf: ``llama-quantize --pure`` (one type for every quantizable tensor)
    quantized_roles: frozenset[str] = field(default=frozenset(), compare=False)

    def tensor_bytes(self, shape: tuple[int, ...], role: str, *, base: str = "bf16") -> tuple[int, int]:
        """(stored values, scales + zeros) in bytes of a weight matrix of this shape and role.
        For a GGUF file type this is its default type; the per-tensor mixture needs names and
        layers (``gguf_tensor_types``)."""
        if self.kind == "float":
            return float_bytes(shape, self.bits), 0
        if role not in self.quantized_roles:
            return float_bytes(shape, precision_bits(base)), 0
        if self.kind == "fp8":
            return fp8_bytes(shape, self.variant)
        if self.kind == "int8":
            return int8_bytes(shape)
        if self.kind == "bnb4":
            return bnb4_bytes(shape, quant_type=self.variant, nested=self.double_quant, base=base)
        if self.kind in ("gptq", "awq"):
            return gptq_bytes(shape, bits=self.bits, group_size=self.group_size, g_idx=self.kind == "gptq")
        if self.kind == "mxfp4":
            return mxfp4_bytes(shape)
        default = self.variant if self.pure else FILE_TYPES[self.variant]
        return ggml_tensor_bytes(shape, fallback_type(default, shape[-1])), 0


def tensor_bytes_in(fmt: WeightFormat, spec: TensorSpec, *, base: str = "bf16",
                    gguf_type: str | None = None) -> tuple[int, int]:
    """(stored values, scales) of one model tensor: GGUF by its assigned type, a float format at
    its width, anything else packed only if it is a weight matrix."""
    if fmt.kind == "gguf" and gguf_type:
        return ggml_tensor_bytes(spec.shape, gguf_type), 0
    if fmt.kind != "float" and not spec.is_matrix:
        return float_bytes(spec.shape, precision_bits(base)), 0
    return fmt.tensor_bytes(spec.shape, spec.role, base=base)


# --- parsing --------------------------------------------------------------------------------

_SIMPLE: dict[str, WeightFormat] = {
    "fp32": WeightFormat("fp32", "float", 32), "fp16": WeightFormat("fp16", "float", 16),
    "bf16": WeightFormat("bf16", "float", 16),
    "fp8": WeightFormat("fp8", "fp8", 8, variant="tensor", quantized_roles=LINEAR_ROLES),
    "fp8-e5m2": WeightFormat("fp8-e5m2", "fp8", 8, variant="tensor", quantized_roles=LINEAR_ROLES),
    "fp8-channel": WeightFormat("fp8-channel", "fp8", 8, variant="channel", quantized_roles=LINEAR_ROLES),
    "fp8-block": WeightFormat("fp8-block", "fp8", 8, variant="block", quantized_roles=LINEAR_ROLES),
    "int8": WeightFormat("int8", "int8", 8, quantized_roles=LINEAR_ROLES),
    "mxfp4": WeightFormat("mxfp4", "mxfp4", 4, group_size=MX_BLOCK, quantized_roles=frozenset({"expert"})),
    **{f"{q}{dq}": WeightFormat(f"{q}{dq}", "bnb4", 4, group_size=BNB_BLOCK, variant=q, double_quant=bool(dq),
                                quantized_roles=LINEAR_ROLES) for q in ("nf4", "fp4") for dq in ("", "-dq")},
}
_ALIASES = {"float32": "fp32", "f32": "fp32", "float16": "fp16", "f16": "fp16", "half": "fp16",
            "bfloat16": "bf16", "fp8-e4m3": "fp8", "fp8-tensor": "fp8", "llm.int8": "int8",
            "bnb-int8": "int8"}
_GPTQ = re.compile(r"(gptq|awq)(?:-(\d{1,9})bit(?:-g(-?\d{1,9}))?|:(\d{1,9})(?::(-?\d{1,9}))?)?")
CHOICES = ("fp32, fp16, bf16, fp8, fp8-e5m2, fp8-channel, fp8-block, int8, nf4, fp4, nf4-dq, fp4-dq, "
           "gptq[:BITS[:GROUP]], awq[:BITS[:GROUP]], mxfp4, a llama.cpp file type ("
           + ", ".join(t for t in FILE_TYPES if t not in ("F32", "F16", "BF16"))
           + "; gguf:F16, gguf:BF16, gguf:F32 for float GGUFs), gguf-pure:GGML_TYPE")


def _quantizer(kind: str, bits: int, group: int, text: str) -> WeightFormat:
    if not 2 <= bits <= 8 or group == 0 or group < -1 or group > MAX_WIDTH:
        raise ConfigError(f"{shown(text, 40)}: {kind} needs 2–8 bits and a group size in "
                          f"1..{MAX_WIDTH:,} (or -1); "
                          f"choose one of: {CHOICES}")
    return WeightFormat(f"{kind}:{bits}:{group}", kind, bits, group_size=group, quantized_roles=LINEAR_ROLES)


def parse_format(text: str) -> WeightFormat:
    """A weight format from its name, case-insensitively: ``bf16``, ``fp8-block``, ``nf4-dq``,
    ``gptq``, ``gptq-4bit-g128``, ``gptq:3:64``, ``awq:4:128``, ``mxfp4``, ``Q4_K_M``, ``gguf:Q8_0``,
    ``gguf-pure:Q4_K``. Bare ``f16``/``bf16``/``f32`` are the plain precisions (every tensor that
    wide); ``gguf:F16`` is llama.cpp's F16 file (norms and biases F32). An unknown name is a
    one-line ``ConfigError`` listing the choices."""
    low = text.strip().lower()
    low = _ALIASES.get(low, low)
    if low in _SIMPLE:
        return _SIMPLE[low]
    if m := _GPTQ.fullmatch(low):
        kind, b1, g1, b2, g2 = m.groups()
        return _quantizer(kind, int(b1 or b2 or 4), int(g1 or g2 or 128), text)
    upper = low.upper().removeprefix("GGUF:")
    upper = FILE_TYPE_ALIASES.get(upper, upper)
    if upper in FILE_TYPES:
        return WeightFormat(upper, "gguf", 0, variant=upper, quantized_roles=GGUF_ROLES)
    if upper.startswith("GGUF-PURE:") and upper[10:] in GGML_TYPES:
        t = upper[10:]
        return WeightFormat(f"gguf-pure:{t}", "gguf", 0, variant=t, pure=True, quantized_roles=GGUF_ROLES)
    raise ConfigError(f"unknown weight format {shown(text, 40)}; choose one of: {CHOICES}")

