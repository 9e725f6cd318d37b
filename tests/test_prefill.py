"""The prefill estimate against PyTorch's own measurement of the same step.

Each architecture is built by transformers from its catalog config under ``FakeTensorMode``,
reduced to three layers (every per-layer term is unchanged; activations become a larger share
of the total, so the check is stricter than at full depth), and one prefill runs in bf16 with
``use_cache=True``, ``logits_to_keep=1`` and sdpa under ``MemTracker``. llmsize's
weights + KV cache + activations (``total − overhead`` of the hf profile) must be within ±5% of
the measured peak, and the activation term within its own tolerance below.

``pytest -s`` prints the error table.
"""

from __future__ import annotations

import pytest

from llmsize.inference.estimate import InferenceSpec, estimate_hf
from llmsize.sources import catalog
from llmsize.sources.hf_config import from_hf_config

pytest.importorskip("torch")
pytest.importorskip("transformers")
from readme_claims import readme_claim  # noqa: E402

from llmsize.measure.harness import measure_prefill, scaled_config  # noqa: E402
from validation.tolerances import activation_bounds, total_bounds, within  # noqa: E402

LAYERS = 3
POINTS = [(1, 4096), (4, 1024), (16, 256)]  # (batch, context)
# The tolerances live in one place, shared with the validation suite (validation/tolerances.py).
MODELS = ["llama-3.1-8b", "qwen3-8b", "qwen2.5-7b", "mistral-7b-v0.1", "gemma-3-1b", "phi-2", "gpt2",
          "starcoder2-7b", "olmo-2-1b", "qwen3-30b-a3b", "mixtral-8x7b", "deepseek-v2-lite", "glm-4.5-air"]
# CPU sdpa runs DeepSeek's MLA (q/k head dim 192, v head dim 128) through the math kernel, which
# materialises the scores; CUDA's kernels do not. It is measured with eager, which both model.
ATTN = {"deepseek-v2-lite": "eager"}

ROWS: list[tuple[str, float]] = []  # (printed line, total error)



def _case(name: str, batch: int, context: int):
    cfg = scaled_config(dict(catalog.lookup(name).config), LAYERS)
    arch = from_hf_config(cfg, name)[0]
    attn = ATTN.get(name, "sdpa")
    measured = measure_prefill(cfg, name, batch=batch, tokens=context, attn=attn)
    report = estimate_hf(arch, InferenceSpec(context, batch, attn=attn))
    return measured, report


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(("batch", "context"), POINTS)
def test_prefill_within_tolerance(name, batch, context):
    measured, report = _case(name, batch, context)
    estimate = report.total_bytes - report.part("overhead")
    total_err = estimate / measured.peak_bytes - 1
    act_err = report.part("activations") / measured.activation_bytes - 1
    line = (f"{name:18s} b={batch:<3d} s={context:<5d} measured {measured.peak_bytes / 2**20:9.1f} MiB  "
            f"estimate {estimate / 2**20:9.1f} MiB  total {100 * total_err:+6.2f}%  "
            f"activations {100 * act_err:+6.1f}%  @ {measured.peak_module.rsplit('.', 2)[-2:]}")
    ROWS.append((line, total_err))
    assert report.part("kv_cache") == measured.kv_cache_bytes
    assert within(total_err, total_bounds("infer", name))
    assert within(act_err, activation_bounds("infer", name, ATTN.get(name, "sdpa")))


def test_print_table():
    """Runs after the cases: the error table (shown with ``pytest -s``), and the README's figure
    for the largest error is the one this table shows."""
    expected = len(MODELS) * len(POINTS)
    if len(ROWS) < expected:
        pytest.skip(f"only {len(ROWS)} of the {expected} cases ran: no table to check the README against")
    print("\nprefill: llmsize (weights + KV + activations) against MemTracker's peak, bf16, sdpa")
    print("\n".join(line for line, _ in ROWS))
    worst = max(abs(err) for _, err in ROWS)
    assert f"{100 * worst:.1f}" == readme_claim("tests/test_prefill.py` enforces; largest error")


# One family per row of ``arch.Modeling.eager_peak``: llama (the default), GPT-2 and Falcon (softmax
# in the model dtype), GPT-J (scores in fp32).
EAGER_FAMILIES = ["llama-3.1-8b", "gpt2", "falcon-7b-instruct", "gpt-j-6b"]


@pytest.mark.parametrize("name", EAGER_FAMILIES)
def test_eager_bytes_per_score_match_the_family(name):
    """Eager attention's s² tensors, per score: the growth of the measured activation peak from
    s to 2s (b = 1, where the attention phase is the widest), less its part linear in s, against
    the family's ``eager_peak``."""
    from llmsize.inference.prefill import eager_score_bits

    cfg = scaled_config(dict(catalog.lookup(name).config), 2)
    arch = from_hf_config(cfg, name)[0]
    s1, s2 = 2048, 4096
    act = {s: measure_prefill(cfg, name, batch=1, tokens=s, attn="eager").activation_bytes for s in (s1, s2)}
    per_score = (act[s2] / s2 - act[s1] / s1) / (arch.n_heads * (s2 - s1))
    assert per_score == pytest.approx(eager_score_bits(arch, 16) / 8, abs=0.25)


def test_sparse_attention_indexer_scores():
    """DeepSeek-V3.2's indexer (``DeepseekV32Indexer``) scores every (query, key) pair per index
    head in fp32 before attention runs: with q and v head dims made equal (CPU sdpa then runs a
    fused kernel that keeps no s² scores, as CUDA's do with MLA) its scores are the prefill's
    peak, and the estimate's ``indexer_phase`` must follow them."""
    cfg = dict(catalog.lookup("deepseek-v3.2").config)
    cfg = scaled_config({**cfg, "v_head_dim": cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]}, LAYERS)
    arch = from_hf_config(cfg, "deepseek-v3.2")[0]
    measured = measure_prefill(cfg, "deepseek-v3.2", batch=1, tokens=2048, attn="sdpa")
    report = estimate_hf(arch, InferenceSpec(2048, 1, attn="sdpa"))
    assert measured.peak_module.endswith("self_attn.indexer")
    assert within(report.part("activations") / measured.activation_bytes - 1, activation_bounds("infer", "x"))


# Gemma 3n has no catalog config yet (no verbatim copy of google/gemma-3n-E*B's config.json was
# found): its E4B widths (Gemma3nTextConfig's defaults, d 2048, I 16384, K 4 AltUp copies, p 256)
# on four layers with a small vocabulary, so that the layers, not the logits, set the peak.
GEMMA3N = dict(model_type="gemma3n_text", architectures=["Gemma3nForCausalLM"], num_hidden_layers=4,
               num_kv_shared_layers=0, vocab_size=4096, vocab_size_per_layer_input=4096, pad_token_id=0,
               layer_types=["sliding_attention"] * 3 + ["full_attention"])


@pytest.mark.parametrize(("batch", "context"), [(1, 2048), (4, 512)])
def test_gemma3n_prefill_within_tolerance(batch, context):
    """AltUp's 3K hidden copies, the per-layer inputs and the six d-wide states beside a kept
    gate at the MLP's peak (``prefill.altup_copies``, ``Modeling.mlp_live_hidden``)."""
    arch = from_hf_config(GEMMA3N, "gemma3n")[0]
    measured = measure_prefill(GEMMA3N, "gemma3n", batch=batch, tokens=context, attn="sdpa")
    report = estimate_hf(arch, InferenceSpec(context, batch, attn="sdpa"))
    total_err = (report.total_bytes - report.part("overhead")) / measured.peak_bytes - 1
    act_err = report.part("activations") / measured.activation_bytes - 1
    assert report.part("kv_cache") == measured.kv_cache_bytes
    assert within(total_err, total_bounds("infer", "gemma3n")), total_err
    assert within(act_err, activation_bounds("infer", "gemma3n")), act_err
