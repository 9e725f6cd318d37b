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
from ..errors import LlmsizeError
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


# --- quantization_config → a priced weight format ------------------------------------------
#
# transformers 5.24 quantizers (quantizers/quantizer_*.py, integrations/*.py) replace the
# ``nn.Linear`` modules of the model except ``modules_to_not_convert`` plus the defaults of
# ``quantizers/base.py`` ``get_keys_to_not_convert`` (the output embeddings, tied weights and the
# last module: lm_head). Embeddings, norms and custom router modules are no ``nn.Linear`` and stay
# in the dtype. That is the rule of ``dtypes.LINEAR_ROLES`` (attention, mlp, experts, ssm packed;
# embeddings, head, norms, router kept), so a config maps onto a format name; where a quantizer's
# rule differs, the warning says so.

# modules_to_not_convert / ignore entries the format keeps unquantized anyway
_KEPT = re.compile(r"lm_head|embed|norm|router|(^|\.)gate$|vision|visual|multi_modal|mm_projector|"
                   r"mlp\.gate\$")
_EXPERT_KEYS = ("num_local_experts", "n_routed_experts", "num_experts", "moe_num_experts")


@dataclass(frozen=True)
class ConfigFormat:
    """The weight format (``dtypes.parse_format`` name) a config's ``quantization_config`` names,
    and what was assumed to get there."""

    name: str | None  # None: not quantized, or nothing llmsize prices (then the dtype)
    method: str = "none"
    warnings: tuple[str, ...] = ()


def _int(q: dict[str, Any], *keys: str, default: int) -> int:
    for k in keys:
        if q.get(k) is not None:
            return int(q[k])
    return default


def _fp8(q: dict[str, Any]) -> tuple[str, list[str]]:
    """quantizer_finegrained_fp8.py: ``weight_block_size`` (default (128, 128)) → fp32
    ``weight_scale_inv`` per block; None → one scale per tensor."""
    block = q.get("weight_block_size", (128, 128))
    if block is None:
        return "fp8", []
    if list(block) != [128, 128]:
        return "fp8-block", [f"weight_block_size {list(block)} priced as 128×128 blocks (the scales differ)"]
    return "fp8-block", []


def _fbgemm_fp8(q: dict[str, Any]) -> tuple[str, list[str]]:
    """integrations/fbgemm_fp8.py FbgemmFp8Linear: e4m3 weight, fp32 ``weight_scale`` per output row."""
    return "fp8-channel", []


def _gptq(q: dict[str, Any]) -> tuple[str, list[str]]:
    """quantizer_gptq.py (gptqmodel QuantLinear): int32 qweight, qzeros, fp16 scales, g_idx."""
    return f"gptq:{_int(q, 'bits', default=4)}:{_int(q, 'group_size', default=128)}", []


def _awq(q: dict[str, Any]) -> tuple[str, list[str]]:
    """quantizer_awq.py; AutoAWQ spells the fields w_bit, q_group_size. GEMM packing is priced."""
    name = f"awq:{_int(q, 'bits', 'w_bit', default=4)}:{_int(q, 'group_size', 'q_group_size', default=128)}"
    version = str(q.get("version", "gemm")).lower()
    return name, [] if version == "gemm" else [f"awq version {version!r} priced with GEMM packing"]


def _bitsandbytes(q: dict[str, Any]) -> tuple[str, list[str]]:
    """quantizer_bnb_4bit.py / _8bit.py: ``load_in_4bit`` with ``bnb_4bit_quant_type`` nf4|fp4 and
    ``bnb_4bit_use_double_quant``; ``load_in_8bit`` is LLM.int8."""
    if q.get("load_in_4bit") or str(q.get("_load_in_4bit")).lower() == "true":
        kind = str(q.get("bnb_4bit_quant_type", "fp4")).lower()  # BitsAndBytesConfig's default
        if kind not in ("nf4", "fp4"):
            return "nf4", [f"bnb_4bit_quant_type {kind!r} is unknown; assumed nf4"]
        return kind + ("-dq" if q.get("bnb_4bit_use_double_quant") else ""), []
    if q.get("load_in_8bit") or q.get("_load_in_8bit"):
        return "int8", []
    return "nf4", ["neither load_in_4bit nor load_in_8bit is set; assumed nf4"]


def _compressed_tensors(q: dict[str, Any]) -> tuple[str | None, list[str]]:
    """compressed-tensors schemes (quantizer_compressed_tensors.py): the first config group's
    ``weights`` (num_bits, type int|float, strategy tensor|channel|group|block, group_size)."""
    groups = [g for g in (q.get("config_groups") or {}).values() if isinstance(g, dict) and g.get("weights")]
    if not groups:
        return None, ["compressed-tensors config has no config_groups with weights"]
    w = groups[0]["weights"]
    bits, kind = int(w.get("num_bits", 8)), str(w.get("type", "int"))
    strategy = str(w.get("strategy", "tensor"))
    notes = [f"{len(groups)} config groups; the first is priced for every linear layer"][: len(groups) - 1]
    if kind == "float" and bits == 8:
        return {"channel": "fp8-channel", "block": "fp8-block"}.get(strategy, "fp8"), notes
    if kind == "int" and bits == 8:
        return "int8", notes + ([] if strategy == "channel" else [f"int8 {strategy} scales priced per row"])
    if kind == "int" and strategy == "group":
        sym = "; its symmetric scheme stores no zero points, AWQ counts some" if w.get("symmetric", 1) else ""
        name = f"awq:{bits}:{w.get('group_size') or 128}"
        return name, [*notes, f"pack-quantized int{bits} priced as AWQ{sym}"]
    return None, [f"compressed-tensors {kind}{bits} {strategy} weights are not priced"]


def _hqq(q: dict[str, Any]) -> tuple[str, list[str]]:
    """quantizer_hqq.py HqqConfig: ``quant_config.weight_quant_params`` nbits, group_size (64)."""
    p = ((q.get("quant_config") or {}).get("weight_quant_params") or q)
    name = f"awq:{_int(p, 'nbits', default=4)}:{_int(p, 'group_size', default=64)}"
    return name, ["hqq priced as AWQ packing (hqq's fp16 zero points weigh a little more)"]


_METHODS = {"fp8": _fp8, "fbgemm_fp8": _fbgemm_fp8, "gptq": _gptq, "awq": _awq, "bitsandbytes": _bitsandbytes,
            "compressed-tensors": _compressed_tensors, "hqq": _hqq, "mxfp4": lambda q: ("mxfp4", [])}


_ROLE_OF = (("shared_expert", re.compile(r"shared_expert")), ("expert", re.compile(r"experts")),
            ("attention", re.compile(r"attn|attention|[qkvo]_proj|query_key_value")),
            ("mlp", re.compile(r"mlp|gate_proj|up_proj|down_proj|feed_forward|ffn")),
            ("ssm", re.compile(r"mamba|mixer|linear_attn|in_proj|out_proj")))
_LAYER_NO = re.compile(r"(?:layers|h|blocks?)\.(\d+)(?:\.|$)")


def _kept_roles(q: dict[str, Any], config: dict[str, Any]) -> tuple[set[str], list[str]]:
    """Roles the config's ``modules_to_not_convert`` / ``ignore`` / ``skip_modules`` keep whole:
    named without a layer index, or in at least half the layers. Fewer layers are priced packed
    (a warning counts them); entries the format keeps anyway (head, embeddings, router) pass."""
    listed = [str(m) for k in ("modules_to_not_convert", "ignore", "llm_int8_skip_modules", "skip_modules")
              for m in (q.get(k) or ())]
    text = config.get("text_config") or {}
    n_layers = int(config.get("num_hidden_layers") or text.get("num_hidden_layers") or 0)
    layers: dict[str, set[int | None]] = {}
    unknown = []
    for m in listed:
        if _KEPT.search(m):
            continue
        role = next((r for r, pattern in _ROLE_OF if pattern.search(m)), None)
        if role is None:
            unknown.append(m)
            continue
        found = _LAYER_NO.search(m)
        layers.setdefault(role, set()).add(int(found.group(1)) if found else None)
    kept = {r for r, idx in layers.items() if None in idx or 2 * len(idx) >= n_layers}
    notes = [f"modules_to_not_convert keeps {r} in {len(idx)} of {n_layers} layers; priced packed in all"
             for r, idx in sorted(layers.items()) if r not in kept]
    if unknown:
        more = " …" if len(unknown) > 3 else ""
        notes.append(f"modules_to_not_convert names {', '.join(unknown[:3])}{more}, "
                     "which llmsize cannot place; priced packed")
    return kept, notes


# A skip list given replaces get_keys_to_not_convert's default (lm_head) for these quantizers
# (quantizer_finegrained_fp8.py, quantizer_fbgemm_fp8.py, quantizer_bnb_4bit.py / _8bit.py call
# get_modules_to_not_convert without add_default_skips; quantizer_awq.py adds them back).
_SKIP_KEY = {"fp8": "modules_to_not_convert", "fbgemm_fp8": "modules_to_not_convert",
             "bitsandbytes": "llm_int8_skip_modules"}


def _packs_head(method: str, q: dict[str, Any]) -> bool:
    """The quantizer packs lm_head: its skip list is given and does not name the head."""
    skip = q.get(_SKIP_KEY.get(method, ""))
    return skip is not None and not any(re.search(r"lm_head|output", str(m)) for m in skip)


def stored_format(config: dict[str, Any] | None) -> ConfigFormat:
    """The weight format a ``config.json``'s ``quantization_config`` says its checkpoint is stored
    in, with a warning for whatever had to be assumed (an unknown or invalid config is priced at
    the dtype). gpt-oss: ``"quant_method": "mxfp4"`` (experts as ``*_blocks`` + ``*_scales``)."""
    from .dtypes import parse_format

    q = (config or {}).get("quantization_config")
    if q is None:
        return ConfigFormat(None)
    method = str(q.get("quant_method", "")).lower() if isinstance(q, dict) else ""
    if method not in _METHODS:
        what = f"quant_method {method!r}" if method else "a quantization_config without a quant_method"
        return ConfigFormat(None, method or "unknown",
                            (f"{what} is not priced: weights sized at the dtype; give quant to choose one",))
    try:
        name, notes = _METHODS[method](q)
        name = parse_format(name).name if name else None
    except (LlmsizeError, TypeError, ValueError) as e:
        why = f"invalid {method} quantization_config ({e}): weights sized at the dtype"
        return ConfigFormat(None, method, (why,))
    if name:
        kept, more = _kept_roles(q, config or {})
        notes += more
        roles = parse_format(name).quantized_roles
        if kept & roles:
            name = parse_format(f"{name}~{','.join(sorted(kept & roles))}").name if roles - kept else None
        if name and _packs_head(method, q):
            name = parse_format(f"{name}+head").name
    if method == "bitsandbytes" and any((config or {}).get(k) for k in _EXPERT_KEYS):
        notes.append("transformers 5.24 bitsandbytes replaces nn.Linear only (integrations/bitsandbytes.py); "
                     "its fused MoE experts stay unquantized there, llmsize packs them")
    prefix = f"quantization_config {method} → {name}: "
    return ConfigFormat(name, method, tuple(prefix + n for n in notes))


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
