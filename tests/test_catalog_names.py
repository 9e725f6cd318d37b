"""The model names users type resolve to the right catalog entry, or list the candidates.

The truth here is the catalog's own HF ids: ``meta-llama/Llama-3.1-70B-Instruct`` is the entry a
user means by ``llama-3.1-70b`` (base and instruct share config.json's shapes), and an ambiguous
prefix must never be resolved silently.
"""

from __future__ import annotations

import pytest

import llmsize
from llmsize.errors import LlmsizeError
from llmsize.sources.catalog import entries, match, tokens


@pytest.mark.parametrize("typed, hf_id", [
    ("llama-3.1-70b", "meta-llama/Llama-3.1-70B-Instruct"),
    ("Llama-3.1-70B-Instruct", "meta-llama/Llama-3.1-70B-Instruct"),
    ("qwen2.5-7b", "Qwen/Qwen2.5-7B"),
    ("Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B"),
    ("Meta-Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B"),
    ("meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B"),
    ("llama3.1-8b", "meta-llama/Llama-3.1-8B"),
    ("LLAMA_3.1_8B", "meta-llama/Llama-3.1-8B"),
    ("gemma-3-12b", "google/gemma-3-12b-it"),
    ("falcon-mamba", "tiiuae/falcon-mamba-7b"),
])
def test_typed_names_resolve(typed, hf_id):
    entry, note = match(typed)
    assert entry.hf_id == hf_id
    assert (note == "") == (typed.lower() in (entry.name, entry.hf_id.lower()))


@pytest.mark.parametrize("typed, candidates", [
    ("mistral-7b", ["mistral-7b-v0.1", "mistral-7b-v0.3"]),
    ("llama-3", ["llama-3-8b", "llama-3-70b"]),
    ("gemma-2", ["gemma-2-2b", "gemma-2-9b", "gemma-2-27b"]),
])
def test_an_ambiguous_prefix_lists_the_candidates_on_one_line(typed, candidates):
    with pytest.raises(LlmsizeError) as e:
        match(typed)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{typed} is ambiguous")
    assert all(c in message for c in candidates)


def test_unknown_names_get_close_matches_never_a_guess():
    with pytest.raises(LlmsizeError, match="did you mean: qwen3-8b"):
        match("qwen3-8")  # "8" is not "8b": no prefix at a token boundary


def test_every_entry_is_found_by_its_own_names():
    for e in entries():
        assert match(e.name)[0] is e and match(e.hf_id)[0] is e


def test_llama_3_is_not_llama_3_1():
    assert tokens("llama-3") != tokens("llama-3.1")[:2]


def test_the_api_warns_which_entry_it_used():
    r = llmsize.params("llama-3.1-70b")
    assert r.total == llmsize.params("llama-3.1-70b-instruct").total
    assert any("sized as catalog entry llama-3.1-70b-instruct" in w for w in r.warnings)
