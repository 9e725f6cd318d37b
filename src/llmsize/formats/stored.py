"""Stored elements are not parameters: a checkpoint's logical parameters and stored bytes.

A quantized checkpoint stores its weights packed, next to the tensors that decode them::

    GPTQ / AWQ       W (in×out) → qweight I32 (8 four-bit values per element) + scales F16
                     + qzeros I32 per group of g inputs (+ g_idx I32 per input, GPTQ)
    bitsandbytes 4b  W → weight U8 (two values per byte) + absmax per block of 64
                     + quant_map (+ nested_absmax, nested_quant_map with double quantization)
                     + quant_state.bitsandbytes__nf4 (the serialized state)
    bitsandbytes 8b  W → weight I8 + SCB F32 per output row (LLM.int8, Dettmers et al. 2022)
    FP8              W → weight F8_E4M3 + weight_scale (per tensor, channel or 128×128 block;
                     DeepSeek-V3 calls it weight_scale_inv) + input_scale
    compressed-t.    W → weight_packed I32 + weight_scale + weight_zero_point + weight_shape
    MXFP4            W → *_blocks U8 (two values per byte) + *_scales U8 per 32 values

Counting stored elements (as ``huggingface_hub``'s ``parameter_count`` does) reports 1/8 of a GPTQ
model's weights and counts every scale as a weight. Here a packed tensor is unpacked to the
logical weights it holds, decoding tensors are counted as overhead bytes (not parameters), and the
effective bits per weight is stored bytes × 8 / logical parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..arch import Architecture
from ..sources.checkpoint import Checkpoint, TensorInfo
from ..sources.safetensors import DTYPE_BITS
from ..tree import Part, group, leaf

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Tensors that decode quantized weights: bytes the GPU loads, but no parameters of the model.
OVERHEAD_SUFFIXES = (
    ".qzeros", ".scales", ".g_idx", ".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map",
    ".quant_state.bitsandbytes__nf4", ".quant_state.bitsandbytes__fp4", ".SCB", ".weight_format",
    ".weight_scale", ".weight_scale_inv", ".input_scale", ".weight_zero_point", ".weight_shape",
    ".weight_global_scale", ".input_global_scale", ".k_scale", ".v_scale", "_scales",
)
# Tensors that are buffers, stored by some checkpoints but no parameters (rotary tables, masks).
BUFFER_SUFFIXES = (".inv_freq", ".masked_bias", ".attn.bias", ".e_score_correction_bias")
PACKED_SUFFIXES = (".qweight", ".weight_packed", "_blocks")


@dataclass(frozen=True)
class Quantization:
    """The checkpoint's ``quantization_config``, reduced to what sizing needs."""

    method: str = "none"  # gptq, awq, bitsandbytes, fp8, compressed-tensors, mxfp4, none
    bits: int = 16  # width of one quantized weight
    group_size: int | None = None

    @property
    def label(self) -> str:
        width = f" {self.bits}-bit" if self.bits < 16 else ""
        group_text = f", group {self.group_size}" if self.group_size else ""
        return f"{self.method}{width}{group_text}"


def quantization_of(config: dict[str, Any] | None) -> Quantization:
    """Read ``quantization_config`` (transformers' ``quant_method`` names) from a ``config.json``."""
    q = (config or {}).get("quantization_config") or {}
    method = str(q.get("quant_method", "none")).lower()
    if method in ("gptq", "awq"):
        bits = int(q.get("bits", q.get("w_bit", 4)))  # AutoAWQ spells them w_bit, q_group_size
        return Quantization(method, bits, q.get("group_size", q.get("q_group_size")))
    if method == "bitsandbytes":
        return Quantization(method, 4 if q.get("load_in_4bit") else 8, 64 if q.get("load_in_4bit") else None)
    if method in ("fp8", "fbgemm_fp8"):
        block = q.get("weight_block_size")
        return Quantization("fp8", 8, block[0] if block else None)
    if method == "mxfp4":
        return Quantization(method, 4, 32)
    if method == "compressed-tensors":
        groups = q.get("config_groups") or {}
        weights = next((g.get("weights") or {} for g in groups.values() if isinstance(g, dict)), {})
        return Quantization(method, int(weights.get("num_bits") or 8), weights.get("group_size"))
    return Quantization(method, 16) if method != "none" else Quantization()


def stored_format(config: dict[str, Any] | None) -> str | None:
    """The weight format (``dtypes.parse_format`` name) a ``config.json``'s ``quantization_config``
    says its checkpoint is stored in, where llmsize prices that layout per tensor; else None.
    gpt-oss: ``"quant_method": "mxfp4"`` (MoE expert matrices as ``*_blocks`` + ``*_scales``; the
    rest, listed in ``modules_to_not_convert``, in bf16)."""
    return "mxfp4" if quantization_of(config).method == "mxfp4" else None


def role(t: TensorInfo, names: frozenset[str]) -> str:
    """``weight`` (holds parameters as stored), ``packed`` (holds several per element),
    ``overhead`` (decodes a quantized weight) or ``buffer`` (no parameters)."""
    if t.name.endswith(BUFFER_SUFFIXES):
        return "buffer"
    if t.name.endswith(OVERHEAD_SUFFIXES):
        return "overhead"
    if t.name.endswith(PACKED_SUFFIXES):
        return "packed"
    if t.dtype == "U8" and t.name + ".absmax" in names:  # bitsandbytes 4-bit weight
        return "packed"
    return "weight"


def logical_params(t: TensorInfo, kind: str, q: Quantization) -> int:
    """Parameters a stored tensor holds: elements × storage bits / quantized bits when packed."""
    if kind in ("overhead", "buffer"):
        return 0
    if kind == "packed":
        # MXFP4 blocks are 4-bit by definition; without a quantization_config, assume 4-bit too
        bits = 4 if t.name.endswith("_blocks") or q.bits >= 16 else q.bits
        return t.elements * DTYPE_BITS.get(t.dtype, 8) // bits
    return t.elements


# --- where a tensor sits in the model, from its name ----------------------------------------

_LAYER = re.compile(r"(?:^|\.)(?:layers|h|blocks?|layer|blk)\.(\d+)\.")
# First match wins: norms before attention and MLP ("attn_norm", "post_attention_layernorm").
_SUBMODULES = (
    ("norms", ("norm", "ln_")),
    ("experts", ("experts", "_exps", "_shexp", "shared_expert")),
    ("router", ("mlp.gate.", "router", "ffn_gate_inp", "block_sparse_moe.gate.")),
    ("attention", ("attn", "attention", "q_proj", "k_proj", "v_proj", "o_proj", "query_key_value")),
    ("mlp", ("mlp", "ffn", "feed_forward", "fc1", "fc2", "dense_h_to_4h", "dense_4h_to_h")),
)


def module_of(name: str) -> tuple[str, str]:
    """(group, part) of a tensor: embeddings, layers/<attention|mlp|experts|router|norms>, head…"""
    if re.search(r"vision|visual|image|mm_|multi_modal", name):
        return "vision", "tower"
    if _LAYER.search(name):
        return "layers", next((sub for sub, keys in _SUBMODULES if any(k in name for k in keys)), "other")
    if re.search(r"lm_head|embed_out|^output\.", name):
        return "head", "lm_head"
    if re.search(r"embed|wte|wpe|word_embeddings|token_embd|^shared\.", name):
        return "embeddings", "tables"
    if "norm" in name or "ln_f" in name:
        return "final_norm", "norm"
    return "other", "other"


def layer_index(name: str) -> int | None:
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


# --- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightsReport:
    """Logical parameters against stored bytes for one checkpoint; both trees sum to their totals."""

    checkpoint: Checkpoint
    quantization: Quantization
    params: Part  # logical parameters by module
    stored: Part  # stored bytes by module, quantization overhead included
    overhead_bytes: int
    buffers: tuple[str, ...]
    per_layer_bytes: tuple[int, ...]

    @property
    def logical_params(self) -> int:
        return self.params.value

    @property
    def stored_bytes(self) -> int:
        return self.stored.value

    @property
    def bits_per_weight(self) -> float:
        return 8 * self.stored_bytes / self.logical_params if self.logical_params else 0.0

    def tensor_rows(self) -> list[tuple[TensorInfo, str, int]]:
        return classify(self.checkpoint, self.quantization)

    def by_dtype(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for t in self.checkpoint.tensors:
            row = out.setdefault(t.dtype, {"tensors": 0, "elements": 0, "bytes": 0})
            row["tensors"] += 1
            row["elements"] += t.elements
            row["bytes"] += t.nbytes
        return out


def classify(ckpt: Checkpoint, quant: Quantization) -> list[tuple[TensorInfo, str, int]]:
    """Every stored tensor with its role and the logical parameters it holds."""
    names = frozenset(t.name for t in ckpt.tensors)
    rows = []
    for t in ckpt.tensors:
        kind = role(t, names)
        rows.append((t, kind, logical_params(t, kind, quant)))
    return rows


def weights_report(ckpt: Checkpoint, quant: Quantization) -> WeightsReport:
    """Classify every stored tensor and fold it into the parameter and byte trees."""
    params: dict[tuple[str, str], int] = {}
    stored: dict[tuple[str, str], int] = {}
    per_layer: dict[int, int] = {}
    overhead, buffers = 0, []
    for t, kind, logical in classify(ckpt, quant):
        where = module_of(t.name)
        params[where] = params.get(where, 0) + logical
        stored[where] = stored.get(where, 0) + t.nbytes
        overhead += t.nbytes if kind == "overhead" else 0
        if kind == "buffer":
            buffers.append(t.name)
        if (i := layer_index(t.name)) is not None:
            per_layer[i] = per_layer.get(i, 0) + t.nbytes
    layers = tuple(per_layer.get(i, 0) for i in range(max(per_layer, default=-1) + 1))
    return WeightsReport(ckpt, quant, _tree("parameters", params), _tree("stored bytes", stored),
                         overhead, tuple(buffers), layers)


def _tree(name: str, values: dict[tuple[str, str], int]) -> Part:
    groups: dict[str, list[Part]] = {}
    for (g, sub), v in sorted(values.items()):
        groups.setdefault(g, []).append(leaf(sub, v))
    order = ("embeddings", "layers", "final_norm", "head", "vision", "other")
    return group(name, [group(g, groups[g]) for g in order if g in groups])


@dataclass(frozen=True)
class CrossCheck:
    """The checkpoint's logical parameters against the architecture's exact count."""

    architecture_params: int
    delta: int  # logical − architecture
    explained: tuple[tuple[str, int], ...]  # (reason, parameters) accounting for the delta

    @property
    def unexplained(self) -> int:
        return self.delta - sum(n for _, n in self.explained)


def cross_check(report: WeightsReport, arch: Architecture, arch_total: int) -> CrossCheck:
    """Explain known differences: a tied head stored twice, layers the model class does not build
    (DeepSeek-V3's multi-token prediction), a vision tower the text count leaves out."""
    reasons: list[tuple[str, int]] = []
    head = report.params.find("head")
    if arch.tie_embeddings and head:
        reasons.append(("lm_head is stored although the model ties it to the embedding", head.value))
    extra = sum(
        logical for t, _, logical in report.tensor_rows()
        if (i := layer_index(t.name)) is not None and i >= arch.n_layers and module_of(t.name)[0] == "layers"
    )
    if extra:
        reasons.append((f"layers ≥ {arch.n_layers} are stored (multi-token prediction) but not built", extra))
    vision = report.params.find("vision")
    if vision and not arch.vision:
        reasons.append(("a vision tower is stored; the text-model count leaves it out", vision.value))
    return CrossCheck(arch_total, report.logical_params - arch_total, tuple(reasons))
