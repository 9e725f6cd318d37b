"""The independent truth for parameter counts: transformers models built on the meta device."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
from llmsize.measure.harness import loose_config  # noqa: E402


def hf_config(cfg: dict[str, Any]):
    """The transformers config object a ``config.json`` with this content would load as.

    An old ``rope_scaling`` that transformers 5 refuses (Phi-3 128k's ``"su"``) is dropped and
    the load retried: rope scaling changes the rotary buffers, never a parameter. ``LOOSE_BOOLS``
    and ``LOOSE_FLOATS`` are retyped (as ``llmsize measure`` does).
    """
    cfg = loose_config(cfg)
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


@dataclass(frozen=True)
class HFCounts:
    total: int  # unique parameters: parameters() yields a tied tensor once
    excluding_input_embeddings: int  # num_parameters(exclude_embeddings=True)
    untied_output_embedding: int  # an LM head that is not the input embedding, else 0

    @property
    def non_embedding(self) -> int:
        return self.excluding_input_embeddings - self.untied_output_embedding


@functools.lru_cache(maxsize=64)
def _counts(key: str) -> HFCounts:
    model = hf_model(json.loads(key))
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    inp = model.get_input_embeddings()
    untied = out is not None and out.weight is not inp.weight
    return HFCounts(
        total=sum(p.numel() for p in model.parameters()),
        excluding_input_embeddings=model.num_parameters(exclude_embeddings=True),
        untied_output_embedding=out.weight.numel() if untied else 0,
    )


def hf_counts(cfg: dict[str, Any]) -> HFCounts:
    """Counts of the transformers model this config instantiates."""
    return _counts(json.dumps(cfg, sort_keys=True))


def t5_head_untied_by_checkpoint(cfg: dict[str, Any]) -> bool:
    """transformers >= 5 ties T5's lm_head to the shared embedding whatever ``tie_word_embeddings``
    says (models/t5/configuration_t5.py: "we tie weights always"). T5 v1.1 and Flan-T5 checkpoints
    still store their own ``lm_head.weight`` (V × d), which llmsize counts."""
    return cfg.get("model_type") == "t5" and cfg.get("tie_word_embeddings") is False
