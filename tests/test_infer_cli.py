"""``llmsize infer`` and ``llmsize SOURCE`` end to end: figures from model cards and papers, the
blog's rule of thumb, per-GPU splits, and bad input as one line with exit code 2."""

from __future__ import annotations

import json

import pytest
from cli_run import cli_json, run

from llmsize.parameters import count_params
from llmsize.sources import catalog
from llmsize.sources.hf_config import from_hf_config

GiB = 2**30


def infer_json(capsys, *argv: str) -> dict:
    return cli_json(capsys, "infer", *argv)


def test_llama_8k_kv_is_exactly_one_gib(capsys):
    """Reference §2.21: 32 · 2 · 8 · 128 · 2 B = 128 KiB per token; 8192 tokens = 1 GiB."""
    d = infer_json(capsys, "llama-3.1-8b", "-c", "8192")
    assert d["breakdown"]["kv_cache"] == 1_073_741_824
    assert d["total_bytes"] == sum(d["breakdown"].values())
    assert d["breakdown"]["weights"] == 8_030_261_248 * 2  # Meta's count, bf16


def test_tree_parts_sum_to_total(capsys):
    d = infer_json(capsys, "qwen3-30b-a3b", "-c", "4096", "-b", "4", "--quant", "fp8")

    def check(node):
        if "parts" in node:
            assert node["value"] == sum(p["value"] for p in node["parts"])
            for p in node["parts"]:
                check(p)

    check(d["tree"])


def test_tensor_parallel_halves_kv_and_shards_weights(capsys):
    one = infer_json(capsys, "llama-3.1-70b-instruct", "-c", "8192")
    two = infer_json(capsys, "llama-3.1-70b-instruct", "-c", "8192", "--tp", "2")
    assert two["breakdown"]["kv_cache"] * 2 == one["breakdown"]["kv_cache"]
    assert abs(two["breakdown"]["weights"] * 2 / one["breakdown"]["weights"] - 1) < 0.001  # norms replicated
    assert two["per_gpu"] and two["gpus"] == 2


def test_pipeline_stage_holds_its_share_of_layers(capsys):
    one = infer_json(capsys, "llama-3.1-8b", "-c", "8192")
    four = infer_json(capsys, "llama-3.1-8b", "-c", "8192", "--pp", "4")
    assert four["breakdown"]["kv_cache"] * 4 == one["breakdown"]["kv_cache"]


def test_kv_heads_replicate_beyond_their_count(capsys):
    eight = infer_json(capsys, "llama-3.1-70b-instruct", "-c", "8192", "--tp", "8")
    assert eight["breakdown"]["kv_cache"] == 80 * 2 * 1 * 128 * 2 * 8192  # one kv head per GPU


def test_quantized_kv_and_weights(capsys):
    bf16 = infer_json(capsys, "llama-3.1-8b", "-c", "8192")
    fp8 = infer_json(capsys, "llama-3.1-8b", "-c", "8192", "--kv-dtype", "fp8", "--quant", "fp8")
    assert fp8["breakdown"]["kv_cache"] * 2 == bf16["breakdown"]["kv_cache"]
    assert fp8["breakdown"]["weights"] < 0.6 * bf16["breakdown"]["weights"]


def test_eager_attention_costs_the_s_squared_scores(capsys):
    sdpa = infer_json(capsys, "llama-3.1-8b", "-c", "8192")
    eager = infer_json(capsys, "llama-3.1-8b", "-c", "8192", "--attn", "eager")
    scores = 32 * 8192 * 8192  # heads · s · s, at 10 bytes each in bf16 (scores, masked, fp32, cast)
    assert eager["breakdown"]["activations"] - sdpa["breakdown"]["activations"] > 9 * scores


def test_scoring_keeps_logits_for_every_position(capsys):
    last = infer_json(capsys, "llama-3.1-8b", "-c", "4096")
    every = infer_json(capsys, "llama-3.1-8b", "-c", "4096", "--logits", "all")
    assert every["breakdown"]["activations"] >= 4096 * 128_256 * 6  # bf16 logits + fp32 copy
    assert last["breakdown"]["activations"] < 4096 * 128_256 * 6


def test_vllm_capacity_line(capsys):
    """llm-d measured 51.38 GiB of KV for Llama-3.1-8B at max_model_len 16000 on an H100 (§2.9)."""
    code, out, _ = run(capsys, "infer", "llama-3.1-8b", "-c", "16000", "--engine", "vllm")
    assert code == 0 and "KV cache capacity:" in out and "max concurrency" in out
    d = infer_json(capsys, "llama-3.1-8b", "-c", "16000", "--engine", "vllm")
    assert abs(d["breakdown"]["kv_cache"] / GiB - 51.38) < 0.1


def test_vllm_refuses_a_context_that_does_not_fit(capsys):
    """Qwen3-32B at 32000 tokens on one H100 does not start (llm-d, §2.9): a does-not-fit verdict
    whose reason is the KV of one request, and vLLM's own message with the CLI's flags beside."""
    code, out, err = run(capsys, "infer", "qwen3-32b", "-c", "32000", "--engine", "vllm")
    assert code == 0 and "Traceback" not in err
    assert "VERDICT: does NOT fit on 1× NVIDIA H100 SXM5 80GB" in out
    assert "KV at 32,000 tokens (one max_model_len request): needs 7.81 GiB" in out
    assert "gpu_memory_utilization (--gpu-util)" in out


def test_llamacpp_reports_largest_ngl(capsys):
    code, out, _ = run(capsys, "infer", "llama-3.1-8b", "--engine", "llamacpp", "--quant", "Q4_K_M",
                       "--gpu-mem", "4GiB")
    assert code == 0 and "largest -ngl that fits" in out
    d = infer_json(capsys, "llama-3.1-8b", "--engine", "llamacpp", "--quant", "Q4_K_M", "--gpu-mem", "4GiB")
    assert 0 < d["llamacpp"]["max_n_gpu_layers"] < 33


def test_seed_rule_of_thumb_with_the_blogs_inputs(capsys):
    """The blog: 234.3 + 200 + 468.6 + 50 = 952.9 MiB (it rounds each part and prints 952 MB)."""
    code, out, _ = run(capsys, "infer", "--method", "seed", "--params", "61423616", "--dtype", "fp32",
                       "--activations", "200MiB", "--input-data", "50MiB", "--json")
    d = json.loads(out)
    parts = d["breakdown"]
    assert parts["parameters"] == 61_423_616 * 4
    assert parts["optimizer states (2× parameters)"] == 2 * 61_423_616 * 4
    assert f"{d['total_bytes'] / 2**20:.1f}" == "952.9"
    code, out, _ = run(capsys, "infer", "--method", "seed", "--params", "61423616", "--dtype", "fp32",
                       "--activations", "200MiB", "--input-data", "50MiB")
    assert "952.9" in out and "952 MB" in out


def test_seed_beside_the_full_estimate(capsys):
    code, out, _ = run(capsys, "infer", "llama-3.1-8b", "-c", "8192", "--method", "seed")
    assert code == 0 and "rule of thumb" in out and "full inference estimate" in out


def test_checkpoint_weights_are_its_header_bytes(capsys, tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    np = pytest.importorskip("numpy")
    from test_cli import llama_cfg  # the small config the CLI tests use

    cfg = llama_cfg(max_position_embeddings=512)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    arch, _ = from_hf_config(cfg)
    n = count_params(arch).total
    tensors = {"model.embed_tokens.weight": np.zeros((n,), dtype=np.float16)}  # same bytes, one tensor
    st.save_file(tensors, str(tmp_path / "model.safetensors"))
    d = infer_json(capsys, str(tmp_path), "-c", "256")
    assert d["breakdown"]["weights"] == n * 2


def test_summary_table_and_json(capsys):
    code, out, _ = run(capsys, "llama-3.1-8b")
    assert code == 0 and "131,072-token" in out and "Q4_K_M" in out
    code, out, _ = run(capsys, "llama-3.1-8b", "--json")
    d = json.loads(out)
    bf16 = next(r for r in d["precisions"] if r["format"] == "bf16")
    assert bf16["weights_bytes"] == 8_030_261_248 * 2
    assert bf16["kv_cache_bytes"] == 131_072 * 131_072  # 128 KiB per token at 128k


@pytest.mark.parametrize(("argv", "needle"), [
    (["infer", "llama-3.1-8b", "--quant", "q9"], "q9"),
    (["infer", "llama-3.1-8b", "--tp", "3"], "--tp 3"),
    (["infer", "llama-3.1-8b", "-c", "100", "--new-tokens", "100"], "--new-tokens"),
    (["infer", "llama-3.1-8b", "--overhead", "warp=1GiB"], "--overhead"),
    (["infer", "llama-3.1-8b", "--gpu-mem", "lots"], "lots"),
    (["infer", "llama-3.1-8b", "--kv-dtype", "int3"], "int3"),
    (["infer", "no-such-model"], "no-such-model"),
    (["infer"], "SOURCE"),
])
def test_bad_input_is_one_line(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert needle in err and err.strip().count("\n") == 0 and "Traceback" not in err


def test_catalog_models_all_size(capsys):
    """Every catalog model gets an hf estimate whose parts sum to the total."""
    from llmsize.inference.engines import estimate
    from llmsize.inference.estimate import InferenceSpec

    for e in catalog.entries():
        arch, _ = from_hf_config(e.config, e.name)
        r = estimate(arch, InferenceSpec(min(arch.max_position, 2048)), name=e.name)
        assert r.total_bytes == sum(r.part(k) for k in ("weights", "kv_cache", "activations", "overhead"))
