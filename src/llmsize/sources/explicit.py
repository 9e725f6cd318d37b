"""Explicit hyperparameters → Architecture, and flag overrides on any other source.

With no SOURCE, the flags describe a decoder of one ``--family`` (a ``model_type``, ``gpt2`` by
default): the flags become the keys of a ``config.json`` of that type, read through the same family
table as any real config, so a ``--family llama`` model has RMSNorms, rotary positions, a SwiGLU MLP
and ``--num-kv-heads`` grouped kv heads exactly as ``LlamaForCausalLM`` builds them. What the flags
do not give (a MoE's experts, MLA's ranks) takes the transformers config class's default
(``FAMILY_KEYS``, and each family's ``defaults``).

``gpt2`` (Radford et al. 2019; the HF ``gpt2`` modeling code) keeps its own path: LayerNorms with
bias, biased q/k/v/o and MLP projections, a plain 4·d MLP, learned absolute positions (one row per
position of ``--max-position``, 1024 by default, GPT-2's context) and a tied LM head.
``--gated-mlp``, ``--no-tie-embeddings`` and ``--num-kv-heads`` change it into a variant no
transformers class builds, and the result says so.
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


FAMILY_DEFAULT = "gpt2"
# CLI flag name → the config.json key a family reads it from
HF_KEYS = {
    "hidden_size": "hidden_size", "num_layers": "num_hidden_layers", "num_heads": "num_attention_heads",
    "num_kv_heads": "num_key_value_heads", "head_dim": "head_dim", "intermediate_size": "intermediate_size",
    "vocab_size": "vocab_size", "max_position": "max_position_embeddings",
    "tie_embeddings": "tie_word_embeddings",
}
_MLA_V3 = {"kv_lora_rank": 512, "q_lora_rank": 1536, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
           "v_head_dim": 128}
# Keys a family needs that no flag gives, at its transformers 5.24 config class's defaults
# (configuration_deepseek_v3.py, configuration_deepseek_v32.py; DeepseekV2Config leaves
# num_experts_per_tok unset, so DeepSeek-V2's own 6 is used).
FAMILY_KEYS: dict[str, dict[str, Any]] = {
    "deepseek_v2": {**_MLA_V3, "n_routed_experts": 64, "num_experts_per_tok": 6,
                    "moe_intermediate_size": 1407, "n_shared_experts": 2},
    "deepseek_v3": {**_MLA_V3, "n_routed_experts": 256, "num_experts_per_tok": 8,
                    "moe_intermediate_size": 2048, "n_shared_experts": 1, "first_k_dense_replace": 3},
    "deepseek_v32": {**_MLA_V3, "n_routed_experts": 256, "num_experts_per_tok": 8,
                     "moe_intermediate_size": 2048, "n_shared_experts": 1},
    "ernie4_5_moe": {"moe_intermediate_size": 1536},
}
# Families whose config.json does not use the flat keys above
NOT_EXPLICIT = ("dbrx", "t5", "bert", "roberta", "RefinedWeb", "RefinedWebModel")


def families() -> list[str]:
    """The ``--family`` choices: every native ``model_type`` with flat size keys."""
    from .hf_families import FAMILIES

    return sorted(t for t in FAMILIES if t not in NOT_EXPLICIT)


def from_hyperparameters(values: dict[str, Any], name: str = "custom",
                         family: str = FAMILY_DEFAULT) -> tuple[Architecture, tuple[str, ...]]:
    """The architecture the flags (``OVERRIDES`` names) describe in ``family``, and warnings."""
    if family == "gpt2":
        return _gpt2(values, name)
    from ..errors import ConfigError
    from .hf_config import from_hf_config

    if family not in families():
        raise ConfigError(f"--family {family!r}: not a family; choose from {', '.join(families())}")
    cfg = {"model_type": family, **FAMILY_KEYS.get(family, {}),
           **{HF_KEYS[k]: v for k, v in values.items() if k in HF_KEYS and v is not None}}
    if "intermediate_size" not in cfg:
        raise ConfigError(f"--family {family}: give --intermediate-size (only gpt2 defaults it to 4·d)")
    arch, warnings = from_hf_config(cfg, f"{name} ({family})")
    gated = values.get("gated_mlp")
    if gated is not None and gated != arch.gated_mlp:
        built = "with" if arch.gated_mlp else "without"
        arch = arch.with_(gated_mlp=gated)
        warnings.append(f"--{'' if gated else 'no-'}gated-mlp: {family} is built {built} a gated MLP; "
                        "counted as asked, a variant no transformers class builds")
    return arch, tuple(warnings)


def _gpt2(values: dict[str, Any], name: str) -> tuple[Architecture, tuple[str, ...]]:
    """A GPT-2-style architecture from explicit flags, defaults filled in; departures from GPT-2
    (grouped kv heads, a gated MLP) are named in a warning."""
    given = {OVERRIDES[k]: v for k, v in values.items() if v is not None}
    d = given.get("d_model", 768)
    ctx = given.get("max_position", GPT2_CONTEXT)
    fields: dict[str, Any] = dict(
        name=name, model_type="gpt2", norm="layernorm", norm_bias=True, position="learned",
        position_rows=ctx, max_position=ctx, gated_mlp=False, qkv_bias=True, o_bias=True,
        mlp_bias=True, tie_embeddings=True, d_ff=4 * d,
    )
    fields.update(given)
    arch = Architecture(**fields)
    departures = [what for what, on in (
        (f"{arch.n_kv_heads} kv heads for {arch.n_heads} attention heads", arch.n_kv_heads != arch.n_heads),
        ("a gated MLP", arch.gated_mlp),
    ) if on]
    if not departures:
        return arch, ()
    return arch, (f"--family gpt2 with {' and '.join(departures)}, which GPT-2 does not have: this "
                  "counts a GPT-2 variant no transformers class builds (pick --family llama, qwen3, "
                  "… for a real one)",)


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
