"""``--family``: explicit hyperparameters counted as the family's transformers class builds them."""

from __future__ import annotations

import pytest
from cli_run import run
from hf_truth import hf_counts

from llmsize import LlmsizeError, params
from llmsize.sources.explicit import FAMILY_KEYS, HF_KEYS

SMALL = dict(hidden_size=64, num_layers=3, num_heads=8, num_kv_heads=2, intermediate_size=96,
             vocab_size=300, max_position=128)
CLASSES = {"llama": "LlamaForCausalLM", "qwen3": "Qwen3ForCausalLM", "mistral": "MistralForCausalLM",
           "mixtral": "MixtralForCausalLM", "gemma2": "Gemma2ForCausalLM", "olmo2": "Olmo2ForCausalLM",
           "gpt_oss": "GptOssForCausalLM", "glm4_moe": "Glm4MoeForCausalLM"}


@pytest.mark.parametrize("family", list(CLASSES))
def test_family_equals_its_transformers_class(family):
    """The same numbers written as that family's config.json, built on the meta device."""
    report = params(None, family=family, **SMALL)
    cfg = {"model_type": family, "architectures": [CLASSES[family]], "pad_token_id": 0,
           **FAMILY_KEYS.get(family, {}), **{HF_KEYS[k]: v for k, v in SMALL.items()}}
    truth = hf_counts(cfg)
    assert report.total == truth.total
    assert report.non_embedding == truth.non_embedding
    assert not report.warnings


def test_deepseek_v3_flags_reach_the_published_size():
    """DeepSeek-V3's widths as flags, the rest from DeepseekV3Config's defaults: 671B (arXiv
    2412.19437, abstract; the MTP module is not part of the HF class)."""
    report = params(None, family="deepseek_v3", hidden_size=7168, num_layers=61, num_heads=128,
                    intermediate_size=18432, vocab_size=129280)
    assert round(report.total / 1e9) == 671


def test_gpt2_is_the_default_and_departures_are_named():
    plain = params(None, hidden_size=768, num_layers=12, num_heads=12, vocab_size=50257)
    assert plain.total == 124_439_808 and not plain.warnings  # GPT-2 small, tied head
    grouped = params(None, hidden_size=768, num_layers=12, num_heads=12, num_kv_heads=4, vocab_size=50257)
    assert any("no transformers class builds" in w for w in grouped.warnings)


def test_bad_family_is_one_line(capsys):
    with pytest.raises(LlmsizeError, match="--family 'nope': not a family"):
        params(None, family="nope", **SMALL)
    with pytest.raises(LlmsizeError, match="give --intermediate-size"):
        params(None, family="llama", hidden_size=64, num_layers=2, num_heads=8, vocab_size=300)
    code, out, err = run(capsys, "params", "--family", "nope", *_flags(SMALL))
    assert code != 0 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_family_with_a_source_is_refused():
    with pytest.raises(LlmsizeError, match="a SOURCE has its own family"):
        params("llama-3.1-8b", family="qwen3")


def test_help_names_the_default(capsys):
    code, out, _ = run(capsys, "params", "--help")
    assert code == 0 and "--family" in out and "default: gpt2" in " ".join(out.split())


def _flags(values: dict[str, int]) -> list[str]:
    return [x for k, v in values.items() for x in (f"--{k.replace('_', '-')}", str(v))]
