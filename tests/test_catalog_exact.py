"""Every catalog model: llmsize's exact count equals the transformers model on the meta device."""

from __future__ import annotations

import re

import pytest
from hf_truth import hf_config, hf_counts, t5_head_untied_by_checkpoint
from readme_claims import readme_claim

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


# Keys these catalog configs carry that the pinned transformers' modeling code never reads
# (models/apertus, bamba, cohere2, mamba2): changing one changes neither count, and llmsize must
# not warn that it "may change the size".
SIZE_FREE = {
    "apertus-8b-science-expert-r1": ("mlp_bias", "qk_norm", "post_norm"),
    "bamba-9b": ("mamba_dt_rank",),
    "command-r7b-12-2024-abliterated": ("order_of_interleaved_layers",),
    "mamba-codestral-7b-v0.1-8bit": ("norm_before_gate", "rms_norm"),
}


def _flipped(value):
    if isinstance(value, bool):
        return not value
    return value + 1 if isinstance(value, int) else f"{value}-other"


@pytest.mark.parametrize("name, keys", SIZE_FREE.items(), ids=list(SIZE_FREE))
def test_size_free_keys_change_nothing_and_are_no_warning(name, keys):
    entry = catalog.lookup(name)
    _, warnings = from_hf_config(entry.config, entry.name)
    assert not [w for w in warnings if any(f"key {k!r}" in w for k in keys)]
    for key in keys:
        changed = {**entry.config, key: _flipped(entry.config[key])}
        assert hf_counts(changed).total == hf_counts(entry.config).total
        assert count_params(from_hf_config(changed, name)[0]).total == hf_counts(changed).total


def test_bamba_max_position_is_the_config_class_default():
    entry = catalog.lookup("bamba-9b")
    assert "max_position_embeddings" not in entry.config
    expected = hf_config(entry.config).max_position_embeddings  # BambaConfig's own default
    assert from_hf_config(entry.config, entry.name)[0].max_position == expected


def test_readme_states_the_catalog_size():
    assert readme_claim("lists the bundled models (") == str(len(ENTRIES))
    assert readme_claim("real `config.json` files of") == str(len({e.model_type for e in ENTRIES}))
