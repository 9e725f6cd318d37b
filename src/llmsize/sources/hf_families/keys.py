"""The config keys every family shares, and what a family rule is.

One alias table per size key, most common spelling first (``hf_config.py`` reads each through
them), and the ``Reader`` a rule reads a config through: ``Derive`` is a rule's type.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, Protocol

    class Reader(Protocol):
        """What a rule reads a config through (``hf_config._Reader``, which records each key)."""

        raw: Mapping[str, Any]
        read: set[str]
        label: str

        def get(self, *keys: str, default: Any = None) -> Any: ...

        def need(self, *keys: str) -> int: ...

    Derive = Callable[[Reader, dict[str, Any]], None]

# One alias table for the size keys every family shares, most common spelling first.
N_LAYERS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
D_MODEL = ("hidden_size", "n_embd", "d_model", "n_embed")
N_HEADS = ("num_attention_heads", "n_head", "num_heads", "n_heads")
N_KV_HEADS = ("num_key_value_heads", "num_kv_heads", "n_head_kv")
D_FF = ("intermediate_size", "n_inner", "ffn_dim", "d_ff", "ffn_hidden_size")
MAX_POSITION = ("max_position_embeddings", "n_positions", "seq_length", "max_seq_len")


def size_free(*keys: str) -> Derive:
    """A rule that marks ``keys`` as read: keys a family's config carries but its modeling code
    never reads (checked in the pinned transformers), so they are no "not understood" warning."""

    def rule(r: Reader, out: dict[str, Any]) -> None:
        r.read.update(keys)

    rule.__doc__ = f"{', '.join(keys)}: in the config, never read by the modeling code."
    return rule
