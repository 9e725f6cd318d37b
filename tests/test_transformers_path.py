"""Every causal-LM model_type the pinned transformers maps is counted exactly, by one path or the
other: llmsize's own adapters, or the transformers-backed path (``sources/transformers_path.py``).

The truth is the class transformers maps the type to, built on the meta device from the same
config (``hf_truth.hf_counts``). Each type gets a seeded random config: its config class's own
defaults with the layer count drawn in 1..3, a small vocabulary, and the size-changing booleans
(``*bias*``, ``tie_word_embeddings``) drawn from {True, False}. A type whose class transformers
itself cannot build from its defaults is skipped with transformers' reason, and listed in
``KNOWN_UNBUILDABLE`` so that a new failure is not silently skipped.
"""

from __future__ import annotations

import builtins
import random
import sys
from typing import Any

import pytest
from hf_truth import hf_counts
from test_random_configs import GENERATORS, valid_case

from llmsize import LlmsizeError, params
from llmsize.sources.hf_config import supported_model_types

transformers = pytest.importorskip("transformers")
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES  # noqa: E402

NATIVE = set(supported_model_types())
LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
# transformers 5.24 cannot build these causal-LM classes from their own config defaults (the reason
# is the test's skip message); neither path can count what transformers cannot build
KNOWN_UNBUILDABLE = {
    "cohere_compass_text", "dots3_note", "emu3", "gemma3n", "gemma4_assistant", "lfm2_moe",
    "musicgen", "musicgen_melody", "nemotron", "reformer", "qwen4_exp",
}


def random_config(model_type: str, seed: int, *, draw: bool = True, shrink: bool = True) -> dict[str, Any]:
    """The config class's defaults with, when ``shrink``, 1..3 layers (every per-layer list cut to
    match) and, with ``draw``, a small vocabulary and the size-changing booleans drawn."""
    rng = random.Random(f"{model_type}-{seed}")
    cfg = transformers.AutoConfig.for_model(model_type).to_dict()
    text = cfg["text_config"] if isinstance(cfg.get("text_config"), dict) else cfg
    key = next((k for k in LAYER_KEYS if isinstance(text.get(k), int)), None)
    if key is not None and shrink:
        old, n = text[key], rng.randint(1, 3)
        for k, v in list(text.items()):
            if isinstance(v, list) and len(v) == old:
                text[k] = v[:n]
        text[key] = n
    if draw:
        if isinstance(text.get("vocab_size"), int):
            text["vocab_size"] = rng.randint(64, 300)
        for k, value in list(text.items()):
            if isinstance(value, bool) and ("bias" in k or k == "tie_word_embeddings"):
                text[k] = rng.random() < 0.5
    cfg.update(model_type=model_type, architectures=[MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type]])
    return cfg


def _counted(model_type: str, seed: int) -> tuple[dict[str, Any], Any]:
    """A config of ``model_type`` transformers builds, and its counts: a native type's from
    ``test_random_configs``' generator, another's drawn, else its defaults with fewer layers."""
    if model_type == "gemma3":
        pytest.skip("gemma3 (a SigLIP tower) is checked on the catalog's Gemma 3 (test_catalog_exact)")
    if model_type in GENERATORS:  # with the classes llmsize's adapters name (see NATIVE_HEAD_GAPS)
        cfg, _ = valid_case(model_type, seed)
        return cfg, hf_counts(cfg)
    error: Exception | None = None
    for draw, shrink in ((True, True), (False, True), (False, False)):
        try:
            cfg = random_config(model_type, seed, draw=draw, shrink=shrink)
            return cfg, hf_counts(cfg)
        except Exception as e:  # noqa: BLE001 - a draw transformers refuses: try the defaults
            error = error or e
    assert error is not None
    if model_type not in KNOWN_UNBUILDABLE:
        raise error
    reason = (str(error) or type(error).__name__).splitlines()[0][:120]
    pytest.skip(f"transformers cannot build {model_type}: {reason}")


CASES = sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)


@pytest.mark.parametrize("model_type", CASES)
def test_every_causal_lm_type_counts_exactly(model_type: str):
    cfg, truth = _counted(model_type, 0)
    assert model_type not in KNOWN_UNBUILDABLE, f"{model_type} builds now: drop it from KNOWN_UNBUILDABLE"
    report = params(cfg)
    assert report.to_dict()["counted_by"] == ("llmsize" if model_type in NATIVE else "transformers")
    assert report.total == truth.total, (model_type, report.arch.counted_by)
    assert report.non_embedding == truth.non_embedding, (model_type, report.arch.counted_by)
    assert report.breakdown.value == report.total
    if report.arch.counted_by == "transformers":
        assert report.to_dict()["transformers_version"] == transformers.__version__


def test_native_types_are_counted_by_llmsize():
    cfg = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
           "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100}
    assert params(cfg).to_dict()["counted_by"] == "llmsize"


@pytest.fixture
def without_transformers(monkeypatch):
    """transformers and torch hidden, as on a machine without the measure extra."""
    real_import = builtins.__import__

    def hidden(name, *args, **kwargs):
        if name.split(".")[0] in ("torch", "transformers"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    for mod in [m for m in sys.modules if m.split(".")[0] in ("torch", "transformers")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", hidden)


@pytest.fixture
def native_case(model_type: str) -> tuple[dict[str, Any], Any]:
    """A random config of a native type and its transformers truth, taken before hiding them."""
    cfg, _ = valid_case(model_type, 0)
    return cfg, hf_counts(cfg)


@pytest.mark.parametrize("model_type", sorted(GENERATORS))
def test_native_types_without_transformers(native_case, without_transformers, model_type: str):
    cfg, truth = native_case
    report = params(cfg)
    assert report.arch.counted_by == "llmsize"
    if model_type != "t5":  # transformers 5 ties T5's head whatever the config (hf_truth)
        assert (report.total, report.non_embedding) == (truth.total, truth.non_embedding)
    assert "transformers" not in sys.modules and "torch" not in sys.modules


def test_unsupported_type_without_transformers_is_one_line(without_transformers):
    cfg = {"model_type": "codegen", "architectures": ["CodeGenForCausalLM"], "n_embd": 64}
    with pytest.raises(LlmsizeError) as e:
        params(cfg)
    message = str(e.value)
    assert "\n" not in message
    assert "codegen" in message and "llmsize[measure]" in message and "not supported natively" in message
