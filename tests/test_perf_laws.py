"""The performance model's laws (issue 15, "Done when"), each checked on the model itself:
these are properties any roofline must have, so a break in the formulas shows here before it
shows in the calibration against published runs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from llmsize.hardware.lookup import gpu
from llmsize.perf.efficiency import PerfError, efficiency
from llmsize.perf.roofline import allreduce_s, critical_batch, experts_touched, pipeline_bubble
from llmsize.perf.serving import Machine, decode_step, serving_performance
from llmsize.perf.traffic import compile_traffic
from llmsize.sources.resolve import resolve


def _bare(name: str = "h100", **factors: float) -> Machine:
    """A machine with no fixed cost and no communication, so the roofline shows alone."""
    eff = efficiency("vllm", gpu(name).key).with_(step_overhead_s=0.0, **factors)
    return Machine(gpu(name), eff)


@pytest.fixture(scope="module")
def dense():
    return compile_traffic(resolve("llama-3.1-8b").arch, "bf16")


@pytest.fixture(scope="module")
def moe():
    return compile_traffic(resolve("qwen3-30b-a3b").arch, "bf16")


def test_decode_is_memory_bound_at_batch_1_and_compute_bound_past_the_ridge(dense):
    m = _bare()
    assert decode_step(dense, m, batch=1, context=128)[1] == "memory"
    knee = critical_batch(flops_per_s=m.flops_per_s * m.eff.decode_mfu,
                          bytes_per_s=m.gpu.bandwidth_bytes_per_s * m.eff.bandwidth)
    # the knee is F·η_f / (BW·η_bw) per weight byte at 2 bytes a weight (η: efficiency.json, fitted or not)
    assert knee == pytest.approx(989.4e12 * m.eff.decode_mfu * 2 / (2 * 3.35e12 * m.eff.bandwidth))
    # short context so the KV cache does not keep it memory-bound: past 2× the knee, compute binds
    assert decode_step(dense, m, batch=round(2 * knee), context=16)[1] == "compute"


def test_memory_bound_step_halves_when_bandwidth_doubles(dense):
    m = _bare()
    fast = replace(m, gpu=replace(m.gpu, bandwidth_bytes_per_s=2 * m.gpu.bandwidth_bytes_per_s))
    slow_s, bound, _ = decode_step(dense, m, batch=1, context=4096)
    fast_s, _, _ = decode_step(dense, fast, batch=1, context=4096)
    assert bound == "memory"
    assert fast_s == pytest.approx(slow_s / 2, rel=1e-9)


def test_moe_decode_reads_active_experts_at_batch_1_and_nearly_all_at_large_batch(moe):
    e = moe.arch.moe
    dense_part = moe.dense_bytes
    at_1 = moe.weight_bytes(1) - dense_part
    at_big = moe.weight_bytes(4096) - dense_part
    every = moe.moe_layers * e.n_experts * moe.expert_bytes
    assert at_1 == pytest.approx(moe.moe_layers * e.top_k * moe.expert_bytes)
    assert at_big == pytest.approx(every, rel=1e-3)
    # DERIVED in planning-references §2.2.3 for N=128, k=8
    assert [round(experts_touched(128, 8, b), 1) for b in (1, 8, 32, 128)] == [8.0, 51.6, 111.8, 128.0]


def test_moe_flops_count_active_not_total(moe):
    """2·P_act per token: Qwen3-30B-A3B's model card says 3.3B activated (3.0B without embeddings)."""
    assert 2.9e9 < moe.matmul_flops_per_token / 2 < 3.2e9


def test_tensor_parallel_all_reduce_and_pipeline_bubble_laws():
    assert allreduce_s(message_bytes=1e9, ranks=1, link_bytes_per_s=1e11, latency_s=1e-5) == 0
    # ring: 2·(t−1)/t of the message crosses each link
    ring = allreduce_s(message_bytes=1e9, ranks=8, link_bytes_per_s=1e11, latency_s=0)
    assert ring == pytest.approx(2 * 7 / 8 * 1e-2)
    assert pipeline_bubble(1, 8) == 0
    assert pipeline_bubble(4, 8) == pytest.approx(3 / 11)
    assert pipeline_bubble(4, 8, interleave=2) == pytest.approx(3 / 19)


def test_serving_figures_hang_together(dense):
    m = Machine(gpu("h100"), efficiency("vllm", "h100-sxm"))
    p = serving_performance(dense, m, engine="vllm", input_len=512, output_len=256, batch=16,
                            usd_per_gpu_hour=2.0)
    assert p["e2e_latency_s"] == pytest.approx(p["ttft_s"] + 255 * p["tpot_s"])
    assert p["requests_per_s"] == pytest.approx(16 / p["e2e_latency_s"])
    assert p["usd_per_million_tokens"] == pytest.approx(2.0 * 1e6 / (3600 * p["throughput_tokens_per_s"]))
    assert p.terms is not None and p.terms.value == sum(x.value for x in p.terms.parts)


def test_bad_efficiency_override_is_one_line_error():
    with pytest.raises(PerfError, match="decode_mfu 1.5: must be a share"):
        efficiency("vllm", "h100-sxm").with_(decode_mfu=1.5)


def test_a_text_only_step_skips_llama_3_2_visions_cross_attention_layers():
    """MllamaTextModel.forward skips a cross-attention layer without image states: a text-only
    decode step reads the 80 self-attention layers (855,654,400 parameters each, the count the
    catalog test holds to transformers), the final norm and the head, in bf16; not the 20
    cross-attention layers, the embedding table or the vision model."""
    traffic = compile_traffic(resolve("llama-3.2-90b-vision-instruct").arch, "bf16")
    assert traffic.dense_bytes == 2 * (80 * 855_654_400 + 8192 + 128_256 * 8192)
    assert traffic.matmul_flops_per_token == 2 * (80 * (855_654_400 - 2 * 8192) + 128_256 * 8192)
