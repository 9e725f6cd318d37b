"""Counts against figures published by model authors (papers, model cards), offline."""

from __future__ import annotations

import pytest

from llmsize import count_params, resolve


def count(name: str):
    return count_params(resolve(name).arch)


def test_exact_published_totals():
    # Llama 2 paper (arXiv 2307.09288) / HF model card: 6,738,415,616; GPT-2 small with tied head
    assert count("llama-2-7b").total == 6_738_415_616
    assert count("gpt2").total == 124_439_808


def approx(value: int, published: float, digits: int) -> bool:
    """``value`` rounds to the published figure at the precision it was printed with."""
    return round(value / 1e9, digits) == published


def near(value: int, published: float, digits: int) -> bool:
    """Within half a unit of the last printed digit, or 2%: authors round activated counts
    loosely (Qwen3-30B-A3B: 3.35B printed as 3.3B; DeepSeek-V3: 37.55B printed as 37B)."""
    return abs(value / 1e9 - published) <= max(0.5 * 10**-digits, 0.02 * published)


# (model, published total B, published active B, decimals, source)
MOE = [
    ("mixtral-8x7b", 47, 13, 0, "Mixtral of Experts, arXiv 2401.04088 §1 (47B, 13B active)"),
    ("qwen3-30b-a3b", 30.5, 3.3, 1, "huggingface.co/Qwen/Qwen3-30B-A3B model card"),
    ("qwen3-235b-a22b", 235, 22, 0, "huggingface.co/Qwen/Qwen3-235B-A22B model card"),
    ("deepseek-v3", 671, 37, 0, "DeepSeek-V3 technical report, arXiv 2412.19437 abstract"),
    ("deepseek-v2.5", 236, 21, 0, "DeepSeek-V2 paper, arXiv 2405.04434 abstract (same architecture)"),
    ("qwen2-57b-a14b", 57, 14, 0, "huggingface.co/Qwen/Qwen2-57B-A14B model card"),
    ("qwen1.5-moe-a2.7b", 14.3, 2.7, 1, "huggingface.co/Qwen/Qwen1.5-MoE-A2.7B model card"),
    ("mixtral-8x22b", 141, 39, 0, "mistral.ai/news/mixtral-8x22b (141B total, 39B active)"),
    ("dbrx-instruct-4bit", 132, 36, 0, "databricks.com/blog/introducing-dbrx-new-state-art-open-llm "
     "(132B total, 36B active)"),
    ("olmoe-1b-7b-0125", 6.9, 1.3, 1, "OLMoE, arXiv 2409.02060 abstract (6.9B total, 1.3B active)"),
]


@pytest.mark.parametrize(("name", "total", "active", "digits", "source"), MOE, ids=[m[0] for m in MOE])
def test_moe_total_and_active(name, total, active, digits, source):
    r = count(name)
    assert approx(r.total, total, digits), (r.total, source)
    assert near(r.active_per_token, active, digits), (r.active_per_token, source)


def test_deepseek_v2_lite_total():
    # arXiv 2405.04434 Appendix B: "15.7B total parameters"
    assert approx(count("deepseek-v2-lite").total, 15.7, 1)


# Qwen3 model cards print "Number of Parameters (Non-Embedding)".
QWEN3_NON_EMBEDDING = [
    ("qwen3-0.6b", 0.44, 2), ("qwen3-1.7b", 1.4, 1), ("qwen3-4b", 3.6, 1),
    ("qwen3-8b", 6.95, 2), ("qwen3-14b", 13.2, 1), ("qwen3-32b", 31.2, 1),
]


@pytest.mark.parametrize(("name", "published", "digits"), QWEN3_NON_EMBEDDING)
def test_qwen3_non_embedding_matches_model_cards(name, published, digits):
    assert approx(count(name).non_embedding, published, digits)


def test_dense_models_have_every_parameter_active():
    r = count("llama-3.1-8b")
    assert r.active_per_token == r.total == r.trainable == 8_030_261_248


def test_tied_head_is_counted_once():
    r = count("gemma-2-2b")
    assert r.breakdown.find("lm_head") is None  # tied: the head adds nothing


# gpt-oss: the MXFP4 checkpoints' model.safetensors.index.json "total_size" (bytes of every tensor:
# bf16 attention, router, embeddings and head; experts as u8 blocks + E8M0 scales), as quoted on
# GitHub (gpt-oss-20b: 13761264768 in copies of the index; gpt-oss-120b: "tensor_bytes" 65248815744
# in a download inventory), and the totals of the model card (arXiv 2508.10925, Table 1: 20.91B and
# 116.83B).
GPT_OSS = [("gpt-oss-20b", 13_761_264_768, 20.91), ("gpt-oss-120b", 65_248_815_744, 116.83)]


@pytest.mark.parametrize(("name", "stored_bytes", "total_b"), GPT_OSS)
def test_gpt_oss_mxfp4_checkpoint_bytes(name, stored_bytes, total_b):
    from llmsize.formats.stored import stored_format
    from llmsize.formats.tensors import weights_bytes

    found = resolve(name)
    assert stored_format(found.config).name == "mxfp4"
    assert weights_bytes(found.arch, "mxfp4").value == stored_bytes
    assert approx(count(name).total, total_b, 2)
