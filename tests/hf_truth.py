"""The independent truth for parameter counts: transformers models built on the meta device."""

from __future__ import annotations

import functools
import json
from typing import Any

torch = __import__("pytest").importorskip("torch")
transformers = __import__("pytest").importorskip("transformers")
transformers.logging.set_verbosity_error()


def hf_config(cfg: dict[str, Any]):
    """The transformers config object a ``config.json`` with this content would load as.

    An old ``rope_scaling`` that transformers 5 refuses (Phi-3 128k's ``"su"``) is dropped and
    the load retried: rope scaling changes the rotary buffers, never a parameter.
    """
    try:
        return transformers.AutoConfig.for_model(**cfg)
    except (ValueError, KeyError, TypeError):
        if "rope_scaling" not in cfg:
            raise
        return transformers.AutoConfig.for_model(**{k: v for k, v in cfg.items() if k != "rope_scaling"})


def hf_model(cfg: dict[str, Any]):
    """The class named by ``architectures[0]`` (AutoModelForCausalLM otherwise) on the meta device."""
    config = hf_config(dict(cfg))
    names = cfg.get("architectures") or []
    cls = getattr(transformers, names[0], None) if names else None
    with torch.device("meta"):
        if cls is None:
            return transformers.AutoModelForCausalLM.from_config(config)
        return cls._from_config(config)


@functools.lru_cache(maxsize=256)
def _counts(key: str) -> tuple[int, int]:
    model = hf_model(json.loads(key))
    total = sum(p.numel() for p in model.parameters())  # parameters() yields tied tensors once
    return total, model.num_parameters(exclude_embeddings=True)


def hf_counts(cfg: dict[str, Any]) -> tuple[int, int]:
    """(unique parameters, parameters outside nn.Embedding modules) of the transformers model."""
    return _counts(json.dumps(cfg, sort_keys=True))
