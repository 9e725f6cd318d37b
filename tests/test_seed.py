"""The blog's `seed` method, its misprint, and the exact GPT-2-style count beside it."""

from __future__ import annotations

import pytest

from llmsize import seed_count, seed_from_params
from llmsize.seed import BLOG_PRINTED
from llmsize.sources.explicit import from_hyperparameters
from llmsize.units import MiB

BLOG = dict(d_model=512, n_layers=12, n_heads=8, vocab_size=50_000)


def test_seed_terms_are_the_formulas_as_written():
    r = seed_count(**BLOG)
    terms = {p.name: p.value for p in r.breakdown.parts}
    # figures stated in the blog post's text (embedding and output: V·d; feed-forward: L·2·d²)
    assert terms == {"embedding": 25_600_000, "attention": 3_145_728,
                     "feed_forward": 6_291_456, "output": 25_600_000}
    assert r.total == sum(terms.values()) == 60_637_184


def test_seed_flags_the_blog_misprint():
    r = seed_count(**BLOG)
    assert BLOG_PRINTED["total"] - r.total == BLOG_PRINTED["attention"] - 3_145_728 == 786_432
    (note,) = r.notes
    assert "3,932,160" in note and "61,423,616" in note and "60,637,184" in note


def test_no_misprint_note_for_other_models():
    assert seed_count(d_model=768, n_layers=12, n_heads=12, vocab_size=50257).notes == ()


def test_seed_bytes_from_the_blogs_own_count():
    r = seed_from_params(61_423_616)
    assert r.bytes_by_dtype == {"fp32": 245_694_464, "fp16": 122_847_232, "int8": 61_423_616}
    # the blog's 234 / 117 / 58.6 MiB
    assert [round(v / MiB, 1) for v in r.bytes_by_dtype.values()] == [234.3, 117.2, 58.6]


@pytest.mark.parametrize("heads", [1, 3, 7, 8])
def test_seed_attention_is_l_d_squared_for_any_head_count(heads):
    r = seed_count(d_model=100, n_layers=3, n_heads=heads, vocab_size=10)
    assert r.breakdown.find("attention").value == 3 * 100 * 100


def test_default_method_is_the_exact_gpt2_block():
    """Explicit hyperparameters give a GPT-2-style model whose count transformers confirms."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    arch, _ = from_hyperparameters({"hidden_size": 512, "num_layers": 12, "num_heads": 8,
                                 "vocab_size": 50_000})
    from llmsize import count_params

    cfg = transformers.GPT2Config(n_embd=512, n_layer=12, n_head=8, vocab_size=50_000, n_positions=1024)
    with torch.device("meta"):
        model = transformers.GPT2LMHeadModel(cfg)
    assert count_params(arch).total == sum(p.numel() for p in model.parameters()) == 63_953_920
