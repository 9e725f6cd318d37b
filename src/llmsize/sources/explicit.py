"""Explicit hyperparameters → Architecture, and flag overrides on any other source.

With no SOURCE, the flags describe a GPT-2-style decoder (Radford et al. 2019; the HF ``gpt2``
modeling code): LayerNorms with bias, biased q/k/v/o and MLP projections, a plain 4·d MLP, learned
absolute positions (one row per position of ``--max-position``, 1024 by default, GPT-2's context)
and an LM head tied to the token embedding.  ``--gated-mlp`` and ``--no-tie-embeddings`` change it.
"""

from __future__ import annotations

from dataclasses import replace

from ..arch import Architecture

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

GPT2_CONTEXT = 1024  # GPT-2's n_positions (HF openai-community/gpt2 config.json)

# CLI flag name → Architecture field
OVERRIDES = {
    "hidden_size": "d_model",
    "num_layers": "n_layers",
    "num_heads": "n_heads",
    "num_kv_heads": "n_kv_heads",
    "head_dim": "head_dim",
    "intermediate_size": "d_ff",
    "vocab_size": "vocab_size",
    "max_position": "max_position",
    "tie_embeddings": "tie_embeddings",
    "gated_mlp": "gated_mlp",
}


def from_hyperparameters(values: dict[str, Any], name: str = "custom") -> Architecture:
    """A GPT-2-style architecture from explicit flags (``OVERRIDES`` names), defaults filled in."""
    given = {OVERRIDES[k]: v for k, v in values.items() if v is not None}
    d = given.get("d_model", 768)
    ctx = given.get("max_position", GPT2_CONTEXT)
    fields: dict[str, Any] = dict(
        name=name, model_type="gpt2", norm="layernorm", norm_bias=True, position="learned",
        position_rows=ctx, max_position=ctx, gated_mlp=False, qkv_bias=True, o_bias=True,
        mlp_bias=True, tie_embeddings=True, d_ff=4 * d,
    )
    fields.update(given)
    return Architecture(**fields)


def override(arch: Architecture, values: dict[str, Any]) -> Architecture:
    """``arch`` with the given flags (``OVERRIDES`` names) replacing its values."""
    changes = {OVERRIDES[k]: v for k, v in values.items() if v is not None}
    if not changes:
        return arch
    if "n_layers" in changes and arch.moe:
        # keep the leading dense layers, route the rest (the pattern of every supported family)
        n, first = changes["n_layers"], arch.moe.first_dense_layers
        changes["moe"] = replace(arch.moe, layers=tuple(range(first, n)))
    if "max_position" in changes and arch.position == "learned":
        changes["position_rows"] = changes["max_position"] + arch.position_rows - arch.max_position
    if "n_heads" in changes and "n_kv_heads" not in changes and arch.n_kv_heads == arch.n_heads:
        changes["n_kv_heads"] = changes["n_heads"]
    if "d_model" in changes and "head_dim" not in changes and arch.head_dim == arch.d_model // arch.n_heads:
        changes["head_dim"] = None
    return arch.with_(**changes)
