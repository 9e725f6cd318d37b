"""The rule of Gemma 3n's text model (transformers 5.24 ``models/gemma3n``): per-layer embeddings,
AltUp, LAuReL, KV sharing and per-layer MLP widths, with ``Gemma3nTextConfig``'s defaults.
"""

from __future__ import annotations

from ...arch import PerLayerInput
from ...errors import ConfigError

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

    from .keys import Reader

# Gemma3nTextConfig's defaults (configuration_gemma3n.py, transformers 5.24): the E4B shape.
DEFAULTS = {"vocab_size": 262_400, "hidden_size": 2048, "intermediate_size": 16_384, "num_hidden_layers": 35,
            "max_position_embeddings": 32_768,
            "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 256, "sliding_window": 512,
            "tie_word_embeddings": True, "vocab_size_per_layer_input": 262_144,
            "hidden_size_per_layer_input": 256, "altup_num_inputs": 4, "num_kv_shared_layers": 15,
            "laurel_rank": 64, "hidden_activation": "gelu_pytorch_tanh"}
# Keys that change no parameter count: which AltUp copy is active, the coefficient clip, whether the
# corrected output is scaled (``correct_output_scale`` is a parameter either way), and the sparsity
# of the gate's top-k (a cut-off computed from the activations' mean and deviation).
_KINDS = {"sliding_attention": "sliding", "full_attention": "full"}
RUNTIME_KEYS = ("altup_active_idx", "altup_coef_clip", "altup_correct_scale", "altup_lr_multiplier",
                "activation_sparsity_pattern")


def gemma3n(r: Reader, out: dict[str, Any]) -> None:
    """Gemma 3n text (``Gemma3nTextConfig`` / ``Gemma3nTextModel``): ``intermediate_size`` is one
    width or one per layer; ``layer_types`` default to four sliding layers then a full one; the
    last ``num_kv_shared_layers`` layers reuse the keys and values of the last earlier layer of
    their type (``kv_sharing_modes``: every type they use must appear before them)."""
    n, widths = out["n_layers"], out["d_ff"]
    if isinstance(widths, list):
        if len(widths) != n:
            raise ConfigError(f"{r.label}: intermediate_size has {len(widths)} values for {n} layers")
        out["d_ff"] = max(widths)
        out["d_ff_layers"] = tuple(widths) if len(set(widths)) > 1 else ()
    types = r.get("layer_types") or ["full_attention" if (i + 1) % 5 == 0 else "sliding_attention"
                                     for i in range(n)]
    if len(types) != n or set(types) - set(_KINDS):
        raise ConfigError(f"{r.label}: layer_types must be {n} values of {' or '.join(_KINDS)}")
    kinds = tuple(_KINDS[t] for t in types)
    out.update(layer_types=kinds, sliding_window=r.need("sliding_window"))
    shared = r.get("num_kv_shared_layers", default=0)
    if shared and (shared >= n or set(kinds[n - shared:]) - set(kinds[: n - shared])):
        raise ConfigError(f"{r.label}: num_kv_shared_layers {shared} leaves a layer type without an "
                          "earlier layer to share its keys and values")
    out["kv_shared_layers"] = shared
    out["per_layer_input"] = PerLayerInput(d=r.need("hidden_size_per_layer_input"),
                                           vocab_size=r.need("vocab_size_per_layer_input"))
    out["altup_inputs"] = r.need("altup_num_inputs")
    out["laurel_rank"] = r.need("laurel_rank")
    out["norm_placement"] = "sandwich"
    r.read.update(RUNTIME_KEYS)
