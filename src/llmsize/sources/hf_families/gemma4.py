"""Gemma 4: how a ``gemma4_text`` config (transformers 5.24 ``models/gemma4/configuration_gemma4.py``)
maps onto ``Architecture``, and the towers of the ``gemma4`` wrapper.

``Gemma4TextConfig.__post_init__`` builds what the modeling code reads:

- ``layer_types`` (default: every 6th layer full) with the last layer forced to full attention;
- ``per_layer_config``: full-attention layers get ``global_head_dim`` (default 512) and, when
  ``attention_k_eq_v``, ``num_global_key_value_heads`` kv heads (when given);
- ``kv_sharing_modes``: the last ``num_kv_shared_layers`` layers reuse K and V; every layer type
  among them must also appear among the earlier layers;
- ``use_bidirectional_attention == "all"`` turns the window w into w // 2 + 1.
"""

from __future__ import annotations

from ...arch import Gemma4Audio, Gemma4Text, Gemma4Vision, MoE
from ...errors import ConfigError
from ..validate import layer_types

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from .keys import Reader

# Gemma4TextConfig's defaults (configuration_gemma4.py, transformers 5.24)
TEXT_DEFAULTS = {
    "vocab_size": 262_144, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 30,
    "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "max_position_embeddings": 131_072,
    "tie_word_embeddings": True, "sliding_window": 512, "vocab_size_per_layer_input": 262_144,
    "hidden_size_per_layer_input": 256, "global_head_dim": 512, "num_kv_shared_layers": 0,
}
# Gemma4VisionConfig's and Gemma4AudioConfig's defaults
VISION_DEFAULTS = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 16,
                   "num_attention_heads": 12, "num_key_value_heads": 12, "head_dim": 64, "patch_size": 16,
                   "position_embedding_size": 10 * 1024}
AUDIO_DEFAULTS = {"hidden_size": 1024, "num_hidden_layers": 12, "num_attention_heads": 8,
                  "subsampling_conv_channels": [128, 32], "conv_kernel_size": 5, "output_proj_dims": 1536}


def _types(r: Reader, n: int) -> tuple[str, ...]:
    """``layer_types`` as written, or every 6th layer full; the last layer is always full."""
    given = layer_types(_label(r), r.get("layer_types"), n)
    types = list(given or ("full" if (i + 1) % 6 == 0 else "sliding" for i in range(n)))
    types[-1] = "full"
    if set(types) - {"full", "sliding"}:
        raise ConfigError(f"{_label(r)}: Gemma 4 layer_types must be full or sliding attention")
    return tuple(types)


def _label(r: Reader) -> str:
    return str(getattr(r, "label", "config.json"))


def gemma4_text(r: Reader, out: dict[str, Any]) -> None:
    """Gemma 4's text model: per-layer-type heads, K = V, KV sharing, per-layer embeddings, MoE."""
    n = out["n_layers"]
    types = _types(r, n)
    shared = r.get("num_kv_shared_layers")
    if not 0 <= shared <= n:
        raise ConfigError(f"{_label(r)}: num_kv_shared_layers is {shared}; it must be in 0..{n}")
    if 0 < shared < n and set(types[n - shared:]) - set(types[:n - shared]):
        raise ConfigError(f"{_label(r)}: the KV-shared layers have a layer type no earlier layer has")
    k_eq_v = bool(r.get("attention_k_eq_v", default=False))
    global_kv = r.get("num_global_key_value_heads") if k_eq_v else None
    global_dh = r.get("global_head_dim")
    r.read.add("per_layer_config")
    if r.raw.get("per_layer_config") is not None:  # what transformers 5.24 writes instead
        global_dh, global_kv = _per_layer_config(r, out, types)
    window = r.get("sliding_window")
    r.read.add("use_bidirectional_attention")  # "vision" or "all", not the flag its name suggests
    if r.raw.get("use_bidirectional_attention") == "all":
        window = window // 2 + 1
    ple = r.get("hidden_size_per_layer_input") or 0
    out.update(layer_types=types, sliding_window=window, gemma4=Gemma4Text(
        global_head_dim=global_dh, global_kv_heads=global_kv or out["n_kv_heads"] or 4,
        k_eq_v=k_eq_v, kv_shared_layers=shared,
        double_wide_mlp=bool(r.get("use_double_wide_mlp", default=False)),
        ple_dim=ple, ple_vocab=r.need("vocab_size_per_layer_input") if ple else 0))
    if r.get("enable_moe_block", default=False):
        out["moe"] = MoE(n_experts=r.need("num_experts"), top_k=r.need("top_k_experts"),
                         d_ff_expert=r.need("moe_intermediate_size"), layers=tuple(range(n)),
                         n_shared_experts=1, d_ff_shared=out["d_ff"])
    r.read.update(("expert_intermediate_size", "vocab_size_per_layer_input", "num_experts",
                   "top_k_experts", "moe_intermediate_size", "num_global_key_value_heads"))


def _per_layer_config(r: Reader, out: dict[str, Any], types: tuple[str, ...]) -> tuple[int, int]:
    """(head_dim, kv heads) of the full-attention layers from ``per_layer_config`` (layer index →
    overrides of head_dim and num_key_value_heads), the form ``Gemma4TextConfig.to_dict`` saves;
    a layer without an entry keeps the model's. Overrides that differ between layers of one
    type, or that change a sliding layer, are refused: llmsize keeps one shape per layer type."""
    raw, label = r.raw["per_layer_config"], _label(r)
    if not isinstance(raw, dict):
        raise ConfigError(f"{label}: per_layer_config must be an object of layer index → overrides")
    base = {"head_dim": out["head_dim"] or 256, "num_key_value_heads": out["n_kv_heads"] or 4}
    shapes: dict[str, set[tuple[int, int]]] = {"full": set(), "sliding": set()}
    for i, kind in enumerate(types):
        entry = raw.get(str(i), {})
        if not isinstance(entry, dict) or set(entry) - set(base):
            raise ConfigError(f"{label}: per_layer_config[{i}] may only override head_dim and "
                              f"num_key_value_heads, got {entry!r:.60}")
        shape = {**base, **entry}
        if not all(type(v) is int and 0 < v < 1 << 20 for v in shape.values()):
            raise ConfigError(f"{label}: per_layer_config[{i}] must hold positive integers")
        shapes[kind].add((shape["head_dim"], shape["num_key_value_heads"]))
    if len(shapes["full"]) > 1 or shapes["sliding"] - {(base["head_dim"], base["num_key_value_heads"])}:
        raise ConfigError(f"{label}: per_layer_config gives layers of one type different shapes; "
                          "llmsize keeps one per layer type")
    return next(iter(shapes["full"]))


def towers(raw: Mapping[str, Any], label: str) -> dict[str, Any]:
    """The ``gemma4_vision`` and ``gemma4_audio`` fields of a ``gemma4`` wrapper config (each
    None when its sub-config is null or absent, as ``Gemma4Model`` builds no tower then)."""
    out: dict[str, Any] = {}
    vision, audio = raw.get("vision_config"), raw.get("audio_config")
    if isinstance(vision, dict):
        v = {**VISION_DEFAULTS, **{k: x for k, x in vision.items() if x is not None}}
        out["gemma4_vision"] = Gemma4Vision(
            n_layers=_int(v, "num_hidden_layers", label), d_model=_int(v, "hidden_size", label),
            n_heads=_int(v, "num_attention_heads", label), n_kv_heads=_int(v, "num_key_value_heads", label),
            head_dim=_int(v, "head_dim", label), d_ff=_int(v, "intermediate_size", label),
            patch_size=_int(v, "patch_size", label), position_rows=_int(v, "position_embedding_size", label))
    if isinstance(audio, dict):
        a = {**AUDIO_DEFAULTS, **{k: x for k, x in audio.items() if x is not None}}
        channels = a["subsampling_conv_channels"]
        if not (isinstance(channels, list) and len(channels) == 2
                and all(isinstance(c, int) and 0 < c < 1 << 16 for c in channels)):
            raise ConfigError(f"{label}: audio_config.subsampling_conv_channels must be two channel counts")
        out["gemma4_audio"] = Gemma4Audio(
            n_layers=_int(a, "num_hidden_layers", label), d_model=_int(a, "hidden_size", label),
            n_heads=_int(a, "num_attention_heads", label), conv_channels=(channels[0], channels[1]),
            conv_kernel=_int(a, "conv_kernel_size", label), output_dim=_int(a, "output_proj_dims", label))
    return out


def _int(cfg: Mapping[str, Any], key: str, label: str) -> int:
    value = cfg[key]
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 1 << 24:
        raise ConfigError(f"{label}: {key} of a Gemma 4 tower must be a positive integer, got {value!r:.40}")
    return value
