"""Every ``config.json`` value is checked as it is read: type, sign and plausibility.

``hf_config._Reader`` passes each value a family adapter reads through ``check``, so a string where a
count belongs, a negative width, a zero divisor (``moe_layer_freq``, ``decoder_sparse_step``), a
10³⁰-wide vocabulary or ``"true"`` where a boolean belongs is an error naming the file and the key,
before any arithmetic. A key is checked by its entry in ``KEYS``, else by its name (``num_*``,
``*_size``, ``use_*``…), so a family added later is checked without a table row.

Kinds: ``pos`` an integer ≥ 1, ``nat`` an integer ≥ 0 (0 means "none"), each with its limit from
``limits.py``; ``bool`` true or false; ``str`` a string; ``ints`` a list of integers ≥ 0;
``strs`` a list of strings; ``posl`` an integer ≥ 1 or a list of them (one per layer);
``auto`` an integer ≥ 1 or the string ``"auto"`` (Mamba's
``time_step_rank``).
"""

from __future__ import annotations

from ..errors import ConfigError, shown
from ..limits import MAX_CONTEXT, MAX_EXPERTS, MAX_HEADS, MAX_LAYERS, MAX_VOCAB, MAX_WIDTH

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

W, L, H, E, C, V = MAX_WIDTH, MAX_LAYERS, MAX_HEADS, MAX_EXPERTS, MAX_CONTEXT, MAX_VOCAB

# key -> (kind, limit); limit None for kinds without one
KEYS: dict[str, tuple[str, int | None]] = {
    # sizes every family shares (hf_families N_LAYERS, D_MODEL, N_HEADS, N_KV_HEADS, D_FF, MAX_POSITION)
    **dict.fromkeys(("num_hidden_layers", "n_layer", "num_layers", "n_layers"), ("pos", L)),
    **dict.fromkeys(("hidden_size", "n_embd", "d_model", "n_embed"), ("pos", W)),
    **dict.fromkeys(("num_attention_heads", "n_head", "num_heads"), ("pos", H)),
    **dict.fromkeys(("num_key_value_heads", "num_kv_heads", "n_head_kv"), ("pos", H)),
    **dict.fromkeys(("n_inner", "ffn_dim", "d_ff", "ffn_hidden_size"), ("pos", W)),
    "intermediate_size": ("posl", W),  # Gemma 3n writes one width per layer
    **dict.fromkeys(("max_position_embeddings", "n_positions", "seq_length", "max_seq_len"), ("pos", C)),
    "head_dim": ("pos", W), "d_kv": ("pos", W), "vocab_size": ("pos", V),
    "num_decoder_layers": ("nat", L), "word_embed_proj_dim": ("nat", W),
    "sliding_window": ("nat", C), "max_window_layers": ("nat", L),
    # EXAONE 4.0 writes a string of L (local) and G (global), one letter per layer, repeated
    "sliding_window_pattern": ("pattern", L), "_sliding_window_pattern": ("pos", L),
    "relative_attention_num_buckets": ("nat", C), "type_vocab_size": ("nat", V),
    "num_ln_in_parallel_attn": ("pos", 2),
    # mixture of experts
    # 0 experts is a dense model to some families (GraniteMoeHybrid); the Architecture refuses an
    # MoE block of 0 experts
    **dict.fromkeys(("num_local_experts", "num_experts"), ("nat", E)), "n_routed_experts": ("pos", E),
    "num_experts_per_tok": ("pos", E), "n_shared_experts": ("nat", E),
    "moe_intermediate_size": ("pos", W), "shared_expert_intermediate_size": ("nat", W),
    "moe_layer_freq": ("pos", L), "decoder_sparse_step": ("pos", L),
    "first_k_dense_replace": ("nat", L), "mlp_only_layers": ("ints", L),
    # multi-head latent attention
    "kv_lora_rank": ("pos", W), "q_lora_rank": ("pos", W), "qk_nope_head_dim": ("pos", W),
    "qk_rope_head_dim": ("pos", W), "v_head_dim": ("pos", W), "num_nextn_predict_layers": ("nat", L),
    # state-space models
    "state_size": ("pos", W), "conv_kernel": ("pos", W), "expand": ("pos", 64),
    "time_step_rank": ("auto", W),
    # vision towers
    "patch_size": ("pos", 2**12), "image_size": ("pos", 2**16), "num_channels": ("pos", 64),
    "in_channels": ("pos", 64), "depth": ("pos", L), "embed_dim": ("pos", W),
    "temporal_patch_size": ("pos", 2**12), "spatial_merge_size": ("pos", 2**12),
    "out_hidden_size": ("pos", W), "num_position_embeddings": ("nat", C),
    "deepstack_visual_indexes": ("ints", L),
    # Llama 3.2 Vision (mllama)
    "cross_attention_layers": ("ints", L), "num_global_layers": ("nat", L), "attention_heads": ("pos", H),
    "max_num_tiles": ("pos", 64), "vision_output_dim": ("pos", W),
    # strings and lists
    "model_type": ("str", None), "hidden_act": ("str", None), "activation_function": ("str", None),
    "hidden_activation": ("str", None), "feed_forward_proj": ("str", None),
    "layer_types": ("strs", None),
    # booleans without a telling name
    **dict.fromkeys(("alibi", "bias", "multi_query", "parallel_attn", "new_decoder_architecture",
                     "qk_layernorm", "layer_norm_elementwise_affine", "_remove_final_layer_norm",
                     "vision_use_head"), ("bool", None)),
}
_BOOL_PREFIXES = ("use_", "tie_", "is_", "do_", "enable_", "apply_")
_COUNT_PREFIXES = ("num_", "n_")
_COUNT_SUFFIXES = ("_size", "_dim", "_heads", "_experts", "_rank")


def kind_of(key: str) -> tuple[str, int | None] | None:
    """How ``key`` is checked: its ``KEYS`` entry, else guessed from its name, else None."""
    if key in KEYS:
        return KEYS[key]
    if key.startswith(_BOOL_PREFIXES) or key.endswith("_bias"):
        return "bool", None
    if key.startswith(_COUNT_PREFIXES) or key.endswith(_COUNT_SUFFIXES):
        return "nat", MAX_WIDTH
    return None


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _what(kind: str, limit: int | None) -> str:
    top = f"{limit or 0:,}"
    return {
        "pos": f"a positive integer (at most {top})", "nat": f"an integer in 0..{top}",
        "bool": "true or false", "str": "a non-empty string", "ints": f"a list of integers in 0..{top}",
        "strs": "a list of strings", "posl": f"a positive integer or a list of them (at most {top})",
        "auto": f'"auto" or a positive integer (at most {top})',
        "pattern": f'a positive integer (at most {top}) or a string of L (local) and G (global) '
                   'layers such as "LLLG"',
    }[kind]


def _ok(kind: str, limit: int | None, value: object) -> bool:
    if kind == "auto":
        return value == "auto" or _ok("pos", limit, value)
    if kind == "pattern":
        is_letters = isinstance(value, str) and 0 < len(value) <= (limit or 0) and set(value) <= set("LG")
        return is_letters or _ok("pos", limit, value)
    if kind == "posl":
        values = value if isinstance(value, list) and value else [value]
        return all(_ok("pos", limit, v) for v in values)
    if kind in ("pos", "nat"):
        low = 1 if kind == "pos" else 0
        return _integer(value) and low <= value <= (limit or 0)  # type: ignore[operator]
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str) and value != ""
    if kind == "ints":
        return isinstance(value, list) and all(_integer(v) and 0 <= v <= (limit or 0) for v in value)
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def check(label: str, key: str, value: Any, *, kind: tuple[str, int | None] | None = None) -> Any:
    """``value`` if it is what ``key`` must hold; else a ``ConfigError`` naming the key, the value and
    what is allowed. ``None`` (the key absent or null) passes: the caller supplies the default."""
    if value is None:
        return value
    if kind is None and key not in KEYS:
        return _guessed(label, key, value)
    kind = kind or KEYS[key]
    return value if _ok(*kind, value) else _refuse(label, key, value, _what(*kind))


def _guessed(label: str, key: str, value: Any) -> Any:
    """A key outside ``KEYS`` (a family added later), checked by its name only where a wrong value
    is unambiguous: a ``use_*`` / ``*_bias`` that is not a boolean; a ``num_*`` / ``*_size`` that is a
    string, an object, a fraction or a negative or absurd integer. Lists, booleans and "auto" pass
    (per-layer values; ``block_auto_adjust_ff_dim``; Jamba's ``mamba_dt_rank``), for the family's
    own rule to read."""
    kind = kind_of(key)
    if kind is None or isinstance(value, (list, bool)) and kind[0] != "bool" or value == "auto":
        return value
    return value if _ok(*kind, value) else _refuse(label, key, value, _what(*kind))


def _refuse(label: str, key: str, value: object, what: str) -> Any:
    raise ConfigError(f"{label}: {key} is {shown(value, 40)}; it must be {what}")


def mapping(label: str, key: str, value: Any) -> Mapping[str, Any] | None:
    """A nested object (``text_config``, ``vision_config``), or None when absent."""
    if value is None or isinstance(value, dict):
        return value
    return _refuse(label, key, value, "a JSON object")


def architectures(label: str, value: Any) -> str:
    """The first class name of ``architectures`` (a list of strings), or ''."""
    if value is None or value == []:
        return ""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return _refuse(label, "architectures", value, "a list of class names")
    return value[0]


# ``layer_types`` values: what transformers accepts (configuration_utils.ALLOWED_LAYER_TYPES and
# the legacy names it remaps, 5.24); full and sliding ones are ours, the rest pass unchanged for a
# family rule that models them (the Architecture refuses any it does not know).
OURS = {"full_attention": "full", "sliding_attention": "sliding", "chunked_attention": "sliding",
        "attention": "full"}
LAYER_TYPES = (
    *OURS, "window_attention", "indexed_attention", "compressed_sparse_attention",
    "heavily_compressed_attention", "minimax_m3_sparse", "conv", "moe", "hybrid", "hybrid_sliding",
    "reference_sliding_attention", "linear_attention", "mamba", "deepseek_sparse_attention",
    "qwen_sparse_attention", "sparse", "dense",
)


def layer_types(label: str, value: Any, n_layers: int) -> tuple[str, ...] | None:
    """``layer_types`` as ours (full / sliding, others unchanged): one known value per layer."""
    if value is None or value == []:
        return None
    check(label, "layer_types", value)
    unknown = [v for v in value if v not in LAYER_TYPES]
    if unknown:
        _refuse(label, "layer_types", unknown[0], "a layer type transformers knows, such as "
                + ", ".join(list(OURS)[:3]))
    if len(value) != n_layers:
        _refuse(label, "layer_types", f"{len(value)} values", f"one per layer ({n_layers})")
    return tuple(OURS.get(v, v) for v in value)


# --- quantization_config -----------------------------------------------------------------------

# transformers' QuantizationMethod values (utils/quantization_config.py, 5.24)
QUANT_METHODS = (
    "bitsandbytes", "gptq", "awq", "aqlm", "vptq", "quanto", "eetq", "higgs", "hqq", "compressed-tensors",
    "fbgemm_fp8", "torchao", "gguf", "bitnet", "spqr", "fp8", "quark", "fp_quant", "auto-round", "mxfp4",
    "nvfp4", "mxfp8", "metal", "fouroversix", "sinq", "gemma",
)
READ_METHODS = ("gptq", "awq", "bitsandbytes", "fp8", "fbgemm_fp8", "mxfp4", "compressed-tensors")


def quantization(label: str, value: Any, warnings: list[str]) -> None:
    """Check that ``quantization_config`` is an object. Its contents (method, bits, group size)
    are read by ``formats.stored.stored_format``, which warns about what it cannot read and says
    what it assumed (issue 12: an unknown or invalid quantization config is a warning)."""
    if value is not None:
        mapping(label, "quantization_config", value)
