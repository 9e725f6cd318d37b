"""Hugging Face ``config.json`` → ``Architecture``.

Each supported ``model_type`` is a ``Family`` (``hf_families.py``): the structural facts of its
``transformers`` modeling code and the config keys that switch them, with the defaults of the
``transformers`` config class. Size keys common to all families are looked up through one alias
table (``n_layer`` / ``num_hidden_layers`` / ``num_layers`` …).

A ``_Reader`` records every key the adapter reads and checks each value it hands out
(``validate.py``: type, sign, plausibility), so a family rule only ever sees sane values. Keys left
unread whose names suggest they could change the size (``*_size``, ``num_*``, ``*bias*``,
``*experts*``…) are reported as warnings, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..arch import Architecture, MllamaVision, VisionTower
from ..errors import ConfigError, shown, shown_path
from . import validate
from .hf_families import (
    D_FF,
    D_MODEL,
    FAMILIES,
    MAX_POSITION,
    MULTIMODAL,
    N_HEADS,
    N_KV_HEADS,
    N_LAYERS,
    REMOTE_CODE_TYPES,
    TOWERS_LEFT_OUT,
    Family,
    Multimodal,
)
from .hf_families.gemma4 import towers as gemma4_towers
from .hf_families.mllama import mllama_vision

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

# Keys that never change the parameter count (runtime, tokenizer, init, numerics, rope scaling),
# as substrings, prefixes and whole names. Plain string tests: a regex alternation this long costs
# ~5 ms to compile, a fifth of Python's start-up.
_IRRELEVANT_PARTS = (
    "_token_id", "_eps", "epsilon", "dropout", "pdrop", "init", "rope", "rotary", "_act", "activation",
    "dtype", "multiplier", "scale", "softcap", "logit", "group", "_implementation", "_version",
)
_IRRELEVANT_PREFIXES = (
    "topk", "routed_scaling", "aux_loss", "router_aux", "output_router", "attn_impl", "bos_", "eos_",
    "pad_", "sep_", "decoder_start", "torchscript", "tokenizer", "chunk_size", "transformers",
    "classifier", "summary_", "partial_rotary", "sliding_window", "final_logit", "query_pre_attn",
    "skip_bias_add", "scale_attn", "reorder_and_upcast",
)
_IRRELEVANT_NAMES = frozenset((
    "architectures", "model_type", "use_cache", "auto_map", "_name_or_path", "task_specific_params",
    "id2label", "label2id", "quantization_config", "max_window_layers", "norm_topk_prob",
    "scoring_func", "use_sliding_window", "pretraining_tp", "is_encoder_decoder", "use_return_dict",
    "return_dict", "prefix", "problem_type", "gradient_checkpointing", "position_embedding_type",
    "use_mla", "ep_size", "moe_layer_freq", "first_k_dense_replace", "qk_head_dim", "layer_types",
    "cache_implementation", "n_ctx", "n_special", "apply_residual_connection_post_layernorm",
    "offset_alibi", "slow_but_exact", "use_parallel_residual", "is_decoder",
    "dim_model_base",  # MiniCPM's muP width base: the logits scale hidden / dim_model_base
    # generation settings transformers 4.x wrote into every (sub-)config (Llama 3.2 Vision's)
    "num_beams", "num_return_sequences", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size",
    "pruned_heads", "tie_encoder_decoder", "cross_attention_hidden_size",
))
_SIZE_HINTS = ("size", "dim", "num_", "layers", "heads", "expert", "rank", "vocab", "bias", "norm",
               "tie", "proj", "inner", "ff")


def _may_change_size(key: str) -> bool:
    """A key whose name suggests a size (``*_size``, ``num_*``, ``*bias*``…) and that is not known
    to be irrelevant to the parameter count."""
    if key in _IRRELEVANT_NAMES or key.startswith(_IRRELEVANT_PREFIXES):
        return False
    if any(part in key for part in _IRRELEVANT_PARTS):
        return False
    return key.startswith("n_") or any(hint in key for hint in _SIZE_HINTS)


class _Reader:
    """A config dict that remembers which keys were read, with a family's defaults behind it."""

    def __init__(self, raw: Mapping[str, Any], defaults: Mapping[str, Any], label: str) -> None:
        self.raw, self.defaults, self.label = raw, defaults, label
        self.read: set[str] = set()

    def get(self, *keys: str, default: Any = None) -> Any:
        """The first of ``keys`` (aliases of one value) the config gives, else the family default;
        all of them count as read, so an alias written beside the key it stands for is no warning."""
        self.read.update(keys)
        for key in keys:
            if self.raw.get(key) is not None:
                return validate.check(self.label, key, self.raw[key])
        for key in keys:
            if self.defaults.get(key) is not None:
                return self.defaults[key]
        return default

    def need(self, *keys: str) -> int:
        value = self.get(*keys)
        if value is None:
            raise ConfigError(f"{self.label}: missing required key {keys[0]!r}")
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{self.label}: {keys[0]} must be an integer, got {value!r}")
        return value

    def unread_size_keys(self) -> list[str]:
        return sorted(
            k for k in self.raw
            if k not in self.read and _may_change_size(k)
        )


# Heads named by ``architectures[0]``'s suffix, first match wins.
_HEADS = (
    ("ForMaskedLM", "mlm"), ("ForCausalLM", "lm"), ("LMHeadModel", "lm"),
    ("ForConditionalGeneration", "lm"), ("Model", "none"),
)




def with_model_type(cfg: Mapping[str, Any]) -> Mapping[str, Any]:
    """``cfg`` with the ``model_type`` its remote-code configuration class declares, where the
    file leaves it out (``REMOTE_CODE_TYPES``); otherwise ``cfg`` unchanged."""
    names = cfg.get("architectures")
    if "model_type" in cfg or "auto_map" not in cfg or not isinstance(names, list) or not names:
        return cfg
    found = REMOTE_CODE_TYPES.get(names[0]) if isinstance(names[0], str) else None
    return {**cfg, "model_type": found} if found else cfg

def read_config_file(path: str) -> dict[str, Any]:
    """Parse a ``config.json`` (a regular file under the size cap, no duplicate keys, bounded
    nesting: ``files.read_json``); errors name the file and the problem."""
    from .files import read_json

    data = read_json(path, "config.json", ConfigError)
    if not isinstance(data, dict):
        raise ConfigError(f"{shown_path(path)}: expected a JSON object, got {_json_type(data)}")
    return data


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def supported_model_types() -> list[str]:
    return sorted(set(FAMILIES) | set(MULTIMODAL))


def _head(arch_name: str, warnings: list[str], label: str) -> str:
    for suffix, head in _HEADS:
        if arch_name.endswith(suffix):
            return head
    if arch_name:
        warnings.append(f"{label}: the head of {arch_name} is counted as a language-model head")
    return "lm"


def _common(r: _Reader, family: Family) -> dict[str, Any]:
    return {
        "n_layers": r.need(*N_LAYERS),
        "d_model": r.need(*D_MODEL),
        "n_heads": r.need(*N_HEADS) if family.attention else r.get(*N_HEADS),
        "n_kv_heads": r.get(*N_KV_HEADS),
        "head_dim": r.get("head_dim", "d_kv"),
        "d_ff": r.get(*D_FF),
        "vocab_size": r.need("vocab_size"),
        "max_position": r.get(*MAX_POSITION, default=2048),
        "tie_embeddings": bool(r.get("tie_word_embeddings", default=False)),
    }


def _layer_types(r: _Reader, n_layers: int) -> tuple[str, ...] | None:
    """``layer_types`` as written (Gemma 2/3, Qwen3, GPT-OSS…); chunked attention counts as sliding."""
    return validate.layer_types(r.label, r.get("layer_types"), n_layers)


def _vision(raw: Mapping[str, Any], label: str, wrapper: Multimodal) -> VisionTower | MllamaVision:
    """The vision tower of ``wrapper``'s kind, read with its vision config class's defaults."""
    kind = wrapper.vision
    if kind == "mllama":
        return mllama_vision(_Reader(raw, wrapper.vision_defaults, f"{label} vision_config"))
    r = _Reader(raw, {"num_channels": 3, **wrapper.vision_defaults}, f"{label} vision_config")
    if kind.startswith("qwen"):
        return _qwen_vision(r, kind)
    if r.get("vision_use_head", default=True) and r.get("model_type") == "siglip_vision_model":
        raise ConfigError(f"{label}: a SigLIP tower with vision_use_head=true is not supported")
    extra: dict[str, Any] = {}
    if kind == "llama4":
        if r.need("projector_input_dim") != r.need("projector_output_dim"):
            raise ConfigError(f"{label}: Llama 4's adapter needs projector_input_dim == projector_output_dim")
        extra = dict(adapter_dim=r.need("projector_input_dim"), output_dim=r.need("vision_output_dim"))
    return VisionTower(
        n_layers=r.need(*N_LAYERS), d_model=r.need(*D_MODEL), n_heads=r.need(*N_HEADS),
        d_ff=r.need(*D_FF), patch_size=r.need("patch_size"), image_size=r.need("image_size"),
        channels=r.get("num_channels"), kind=kind, **extra,  # type: ignore[arg-type]
    )


def _qwen_vision(r: _Reader, kind: str) -> VisionTower:
    """A Qwen ViT (Qwen2VLVisionConfig, Qwen2_5_VLVisionConfig, Qwen3VLVisionConfig and
    Qwen3.5's): ``depth`` layers of width ``embed_dim`` (Qwen2-VL, whose ``hidden_size`` is the
    merger's output and whose MLP is ``int(embed_dim · mlp_ratio)`` wide) or ``hidden_size``, and
    the merger's output ``out_hidden_size``."""
    if kind == "qwen2_vl":
        width, out = r.need("embed_dim"), r.need("hidden_size")
        ratio = r.get("mlp_ratio")
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or ratio <= 0:
            raise ConfigError(f"{r.label}: mlp_ratio is {ratio!r}; it must be a positive number")
        d_ff = int(width * ratio)  # Qwen2VLVisionBlock: int(config.embed_dim * config.mlp_ratio)
    else:
        width, out, d_ff = r.need("hidden_size"), r.need("out_hidden_size"), r.need("intermediate_size")
    deepstack = r.get("deepstack_visual_indexes", default=[])
    return VisionTower(
        n_layers=r.need("depth", "num_hidden_layers"), d_model=width,
        n_heads=r.need("num_heads", "num_attention_heads"), d_ff=d_ff, patch_size=r.need("patch_size"),
        channels=r.need("in_channels"), kind=kind, output_dim=out,  # type: ignore[arg-type]
        temporal_patch=r.need("temporal_patch_size"), merge=r.need("spatial_merge_size"),
        position_rows=r.get("num_position_embeddings", default=0), deepstack=len(deepstack),
    )


def _native_summary() -> str:
    """The native types in a line that fits an error message: how many, and the ten the catalog
    holds most configs of (the README lists them all)."""
    from collections import Counter

    from . import catalog

    native = supported_model_types()
    common = Counter(e.model_type for e in catalog.entries() if e.model_type in native).most_common(10)
    return (f"{len(native)} model types are supported natively (the README lists them), the most "
            f"common in the catalog: {', '.join(sorted(t for t, _ in common))}")


def _text_and_vision(
    cfg: Mapping[str, Any], name: str, warnings: list[str]
) -> tuple[Mapping[str, Any], VisionTower | MllamaVision | None]:
    """Split a multimodal config into its text model and, where supported, its vision tower.

    The wrappers in ``MULTIMODAL`` (Gemma 3, Llama 4, Llama 3.2 Vision, Qwen2-VL, Qwen2.5-VL,
    Qwen3-VL, Qwen3.5 and their MoE variants) are counted with their towers and projectors (not
    for ``MllamaForCausalLM``, which builds the text model only); for other multimodal configs
    (LLaVA…) the text model is counted and a warning names what is left out."""
    model_type = validate.check(name, "model_type", cfg.get("model_type"))
    text = validate.mapping(name, "text_config", cfg.get("text_config"))
    vision = validate.mapping(name, "vision_config", cfg.get("vision_config"))
    wrapper = MULTIMODAL.get(str(model_type))
    if wrapper is not None:
        if text is None and wrapper.flat:  # the text keys at the top level
            text = {k: v for k, v in cfg.items() if k not in _WRAPPER_KEYS}
        text = {**(text or {}), "model_type": wrapper.text}
        tie = _tie(cfg, text, wrapper, name)
        if tie is not None:
            text["tie_word_embeddings"] = tie
        if model_type in TOWERS_LEFT_OUT:
            warnings.append(f"{name}: {model_type}: only the text model is counted; "
                            f"{TOWERS_LEFT_OUT[model_type]} are left out")
            return text, None
        if model_type == "gemma4":  # its towers are read by hf_families/gemma4.py (from_hf_config)
            return text, None
        if validate.architectures(name, cfg.get("architectures")) == "MllamaForCausalLM":
            return text, None
        return text, _vision(vision or {}, name, wrapper) if vision or wrapper.vision_defaults else None
    if text is not None or vision is not None:
        warnings.append(f"{name}: multimodal {model_type!r}: only the text model is counted; "
                        "its vision tower and projector are left out")
        return {**cfg, **(text or {})}, None
    return cfg, None


# The wrapper's own keys, not its text model's, in a flat Qwen2-VL config
_WRAPPER_KEYS = ("model_type", "architectures", "vision_config", "text_config")


def _tie(cfg: Mapping[str, Any], text: Mapping[str, Any], wrapper: Multimodal, name: str) -> bool | None:
    """Whether the LM head is tied, by the wrapper's rule (``Multimodal.tie``); None: the text
    family's default decides."""
    top = validate.check(name, "tie_word_embeddings", cfg.get("tie_word_embeddings"))
    inner = validate.check(name, "tie_word_embeddings", text.get("tie_word_embeddings"))
    if wrapper.tie == "wrapper":
        return bool(top)
    if wrapper.tie == "either":
        return bool(top) or bool(inner)
    return inner if inner is not None else top


def _family(model_type: object, name: str) -> Family:
    if model_type is None:
        raise ConfigError(f"{name}: missing required key 'model_type'")
    family = FAMILIES.get(validate.check(name, "model_type", model_type))
    if family is None:
        raise ConfigError(f"{name}: model_type {shown(model_type, 40)} is not supported")
    return family


def is_native(cfg: Mapping[str, Any]) -> bool:
    """Whether llmsize's own adapters count this config (else the transformers-backed path does,
    when it is installed): its model_type is a native family or multimodal wrapper."""
    model_type = cfg.get("model_type")
    if not isinstance(model_type, str) or not model_type.replace("-", "_").isidentifier():
        return True  # a missing or malformed model_type is the native reader's one-line error
    return model_type in FAMILIES or model_type in MULTIMODAL


def _text_is_native(cfg: Mapping[str, Any]) -> bool:
    """A wrapper whose text model is native: counted without its towers when transformers is
    missing (``_text_and_vision`` warns what is left out)."""
    text = cfg.get("text_config")
    return isinstance(text, Mapping) and text.get("model_type") in FAMILIES


def from_hf_config(cfg: Mapping[str, Any], name: str = "config.json") -> tuple[Architecture, list[str]]:
    """An ``Architecture`` and the warnings met on the way, from a parsed ``config.json``."""
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{name}: expected a JSON object, got {type(cfg).__name__}")
    cfg = with_model_type(cfg)
    if not is_native(cfg):
        from .transformers_path import TransformersMissing, UnknownToTransformers, from_transformers

        validate.architectures(name, cfg.get("architectures"))
        try:
            return from_transformers(cfg, name)
        except UnknownToTransformers as e:
            raise ConfigError(f"{e}; {_native_summary()}") from None
        except TransformersMissing:
            if not _text_is_native(cfg):
                raise
    warnings: list[str] = []
    arch_name = validate.architectures(name, cfg.get("architectures"))
    validate.quantization(name, cfg.get("quantization_config"), warnings)
    text, vision = _text_and_vision(cfg, name, warnings)
    family = _family(text.get("model_type"), name)
    r = _Reader(text, family.defaults, name)
    out: dict[str, Any] = {"name": name, "model_type": text["model_type"], **family.fixed}
    out.update(_common(r, family))
    for ours, (key, default) in family.flags.items():
        out[ours] = bool(r.get(key, default=default))
    for rule in family.derive:
        rule(r, out)
    act = r.get("hidden_act", "activation_function", "hidden_activation", "feed_forward_proj")
    out["activation"] = str(act or ("silu" if out.get("gated_mlp", True) else "gelu")).removeprefix("gated-")
    types = _layer_types(r, out["n_layers"])
    if types and "sliding" in types and "layer_types" not in out:
        window = out.get("sliding_window") or r.get("sliding_window", default=4096)
        out.update(layer_types=types, sliding_window=window)
    if out["d_ff"] is None:
        raise ConfigError(f"{name}: missing required key 'intermediate_size'")
    if isinstance(out["d_ff"], list):  # one width per layer is Gemma 3n's alone (its rule reads it)
        got = shown(out["d_ff"], 40)
        raise ConfigError(f"{name}: intermediate_size must be a positive integer, got {got}")
    out.update(head=_head(arch_name, warnings, name), vision=vision)
    if cfg.get("model_type") == "gemma4":
        out.update(gemma4_towers(cfg, name))
    for key in r.unread_size_keys():
        warnings.append(f"{name}: key {key!r} = {text[key]!r} is not understood and may change the size")
    return Architecture(**out), warnings
