"""Every catalog model: llmsize's exact count equals the transformers model on the meta device."""

from __future__ import annotations

import re

import pytest
from hf_truth import hf_counts, t5_head_untied_by_checkpoint

from llmsize import count_params, from_hf_config
from llmsize.sources import catalog

ENTRIES = catalog.entries()


def test_catalog_is_large_and_varied():
    assert len(ENTRIES) >= 60
    assert len({e.model_type for e in ENTRIES}) >= 20
    totals = [count_params(from_hf_config(e.config, e.name)[0]).total for e in ENTRIES]
    assert min(totals) < 150e6 and max(totals) > 670e9


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_catalog_entry_is_sourced(entry):
    assert re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", entry.name)
    assert entry.source == f"https://huggingface.co/{entry.hf_id}/blob/main/config.json"
    assert entry.via and entry.config["model_type"]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_catalog_entry_matches_transformers(entry):
    arch, _ = from_hf_config(entry.config, entry.name)
    report = count_params(arch)
    truth = hf_counts(entry.config)
    expected_total = truth.total
    if t5_head_untied_by_checkpoint(entry.config):
        expected_total += arch.vocab_size * arch.d_model
    assert report.total == expected_total
    assert report.non_embedding == truth.non_embedding
    assert report.breakdown.value == report.total


def test_llama4_without_vision_config_counts_the_default_tower():
    """aiconfigurator's copy of Llama-4-Maverick on its main branch (095f58a) drops the
    vision_config; transformers then builds Llama4VisionConfig's defaults (a 768-wide, 34-layer
    tower, a 7680 → 5120 projection), 455,178,240 parameters that llmsize once left out."""
    cfg = {k: v for k, v in catalog.lookup("llama-4-maverick-17b-128e-instruct").config.items()
           if k != "vision_config"}
    report = count_params(from_hf_config(cfg, "maverick-without-vision")[0])
    truth = hf_counts(cfg)
    assert (report.total, report.non_embedding) == (truth.total, truth.non_embedding)


def test_names_and_ids_are_unique():
    names = [e.name for e in ENTRIES]
    ids = [e.hf_id.lower() for e in ENTRIES]
    assert len(set(names)) == len(names)
    assert len(set(ids)) == len(ids)
