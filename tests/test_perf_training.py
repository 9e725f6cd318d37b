"""Training speed (perf/training.py): FLOPs per token against torchtitan's formula computed here
from the HF config's numbers, the law "time scales as 1/(GPUs·MFU)", the pipeline bubble, LoRA's
missing weight gradients, and Llama 3 405B's published figures (planning-references §2.4 item 3)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from llmsize.hardware.lookup import gpu
from llmsize.layout import Layout
from llmsize.perf.efficiency import PerfError, efficiency
from llmsize.perf.training import (
    causal_keys,
    finetune_flops_per_token,
    full_training_flops,
    training_performance,
)
from llmsize.sources.resolve import resolve
from llmsize.training.estimate import TrainSpec
from llmsize.training.lora import LoraSpec

H100 = gpu("h100")
H100_BF16 = 989.4e12  # dense bf16, the catalog's figure (torchtitan get_peak_flops: 989e12)

# Llama-3.1-8B config.json (huggingface.co/meta-llama/Llama-3.1-8B/blob/main/config.json)
L, D, A, KV, DH, FF, V = 32, 4096, 32, 8, 128, 14336, 128256
# Llama-3.1-405B config.json: num_hidden_layers 126, hidden 16384, heads 128, head_dim 128
L405, D405, A405, DH405 = 126, 16384, 128, 128


def _free(**factors: float):
    """Factors with every communication hidden (ω = 1): the step is compute and bubble only."""
    return efficiency("megatron", H100.key).with_(train_comm_overlap=1.0, **factors)


@pytest.fixture(scope="module")
def llama8b():
    return resolve("llama-3.1-8b").arch


@pytest.fixture(scope="module")
def llama405b():
    return resolve("llama-3.1-405b").arch


def test_flops_per_token_is_torchtitans_with_the_causal_half_of_its_attention_term(llama8b):
    """torchtitan (models/utils.py get_nparams_and_flops): 6·N + 12·l·h·q·t, N without the
    embedding, "do not account for sparsity in causal attention". Ours halves the attention term
    (causal). Tolerance 1e-4: torchtitan's N holds the norms (65·4096 weights, 4e-5 of N), which
    do no matmul and are not in ours."""
    n_layer = D * A * DH + 2 * D * KV * DH + A * DH * D + 3 * D * FF + 2 * D
    n = L * n_layer + D + V * D  # layers, final norm, untied head; no embedding table
    seq = 8192
    torchtitan = 6 * n + 12 * L * A * DH * seq
    ours = full_training_flops(llama8b, seq=seq)
    assert ours.model == pytest.approx(torchtitan - 6 * L * A * DH * seq, rel=1e-4)
    assert ours.backward == pytest.approx(2 * ours.forward)  # Kaplan et al. 2020 §2.1


def test_recompute_full_adds_a_forward_and_selective_the_attention_core(llama8b):
    none = full_training_flops(llama8b, seq=4096)
    full = full_training_flops(llama8b, seq=4096, recompute="full")
    selective = full_training_flops(llama8b, seq=4096, recompute="selective")
    assert full.hardware == pytest.approx(8 / 6 * none.model)  # 8·N·D instead of 6·N·D
    # selective: the attention core once more, 4·a·d_h·S/2 per layer
    assert selective.hardware - selective.model == pytest.approx(2 * L * A * DH * 4096)
    assert full.model == selective.model == none.model  # MFU never counts recompute


def test_causal_keys_with_and_without_a_window():
    assert causal_keys(4096) == 2048
    assert causal_keys(4096, 8192) == 2048
    exact = sum(min(i, 1024) for i in range(1, 8193)) / 8192  # query i sees min(i, w) keys
    assert causal_keys(8192, 1024) == pytest.approx(exact, rel=1e-3)


def test_training_time_scales_as_one_over_gpus_times_mfu(llama8b):
    """The issue's law: with communication hidden, twice the data-parallel GPUs or twice η halve
    the time for the same tokens, and the step's MFU is η."""
    spec = TrainSpec(seq=4096, micro_batch=1, grad_accum=4, layout=Layout(dp=8))
    base = training_performance(llama8b, spec, H100, tokens=1e12, eff=_free(train_mfu=0.3))
    wider = training_performance(llama8b, replace(spec, layout=Layout(dp=16)), H100, tokens=1e12,
                                 eff=_free(train_mfu=0.3))
    faster = training_performance(llama8b, spec, H100, tokens=1e12, eff=_free(train_mfu=0.6))
    assert wider["time_s"] == pytest.approx(base["time_s"] / 2)
    assert faster["time_s"] == pytest.approx(base["time_s"] / 2)
    assert base["gpu_hours"] == pytest.approx(wider["gpu_hours"])
    assert base["mfu"] == pytest.approx(0.3)


def test_pipeline_bubble_adds_p_minus_1_over_m_of_the_busy_time(llama8b):
    """1F1B: four stages share the same step's compute, idling (p − 1)/m of it (Narayanan et
    al. 2021 §2.2)."""
    flat = TrainSpec(seq=2048, grad_accum=8)
    piped = replace(flat, layout=Layout(pp=4))
    one = training_performance(llama8b, flat, H100, eff=_free())
    four = training_performance(llama8b, piped, H100, eff=_free())
    assert four["step_time_s"] == pytest.approx(one["step_time_s"] / 4 * (1 + 3 / 8), rel=1e-6)


def test_communication_terms_grow_with_sharding_and_shrink_with_overlap(llama8b):
    spec = TrainSpec(seq=4096, micro_batch=1, grad_accum=4, layout=Layout(dp=64, zero=1))
    eff = efficiency("megatron", H100.key).with_(train_comm_overlap=0.0)
    z1 = training_performance(llama8b, spec, H100, eff=eff)
    z3 = training_performance(llama8b, replace(spec, layout=Layout(dp=64, zero=3)), H100, eff=eff)
    hidden = training_performance(llama8b, spec, H100, eff=eff.with_(train_comm_overlap=1.0))
    dp = "data-parallel gradients, gathers (exposed)"
    assert z3.terms.find(dp).value > z1.terms.find(dp).value > 0  # type: ignore[union-attr]
    assert hidden["step_time_s"] < z1["step_time_s"]
    tp8 = training_performance(llama8b, replace(spec, layout=Layout(dp=8, tp=8)), H100, eff=eff)
    assert tp8.terms.find("tensor-parallel all-reduces").value > 0  # type: ignore[union-attr]
    for p in (z1, z3, tp8):
        assert p.terms.value == sum(c.value for c in p.terms.parts)


def test_lora_skips_weight_gradients_of_the_frozen_base(llama8b):
    """Frozen matmuls do forward 2 + input gradient 2 of the full 6 (Hu et al. 2021 §4.2;
    Kaplan et al. 2020 §2.1): a tiny adapter's step is 2/3 of full training, plus the
    attention core, which still runs its backward. Adapters cost 6 per parameter, r·(d_in +
    d_out) each (peft)."""
    seq = 2048
    full = full_training_flops(llama8b, seq=seq).model

    def lora(rank: int, *targets: str) -> float:
        return finetune_flops_per_token(llama8b, TrainSpec(seq=seq, lora=LoraSpec(rank, targets))).model

    attention_share = 6 * L * A * DH * seq / full  # 3 · (4·a·d_h·S/2 per layer) of C
    assert 2 / 3 < lora(1, "q") / full < 2 / 3 + attention_share / 3 + 1e-3
    r8, r16 = lora(8, "q", "v"), lora(16, "q", "v")
    per_rank = L * ((D + A * DH) + (D + KV * DH))  # q: d → a·d_h, v: d → k·d_h
    assert r16 - r8 == pytest.approx(6 * 8 * per_rank)
    assert r16 < full
    with pytest.raises(PerfError, match="LoRA"):
        finetune_flops_per_token(llama8b, TrainSpec(seq=seq))


def test_llama3_405b_tokens_per_gpu_is_mfu_times_peak_over_6p(llama405b):
    """planning-references §2.4 item 3: MFU·F/(6·P) = 0.41·989e12/(6·405e9) ≈ 167 tokens/s/GPU.
    Ours adds the attention term at 8K tokens (at most torchtitan's 12·L·H·Q·T share) and drops
    the embedding table (0.5% of P): within [167 / (1 + attention share), 167 · 1.01]."""
    spec = TrainSpec(seq=8192, grad_accum=4, layout=Layout(dp=16))
    p = training_performance(llama405b, spec, H100, eff=_free(train_mfu=0.41))
    shortcut = 0.41 * H100_BF16 / (6 * 405e9)
    share = 12 * L405 * A405 * DH405 * 8192 / (6 * 405e9)
    assert shortcut / (1 + share) < p["tokens_per_s_per_gpu"] < shortcut * 1.01
    assert p["mfu"] == pytest.approx(0.41)


def test_llama31_405b_gpu_hours_against_the_model_card(llama405b):
    """The model card reports 30.84M H100-hours for 15.6T tokens. At a steady 40% MFU the model
    must land below that figure and within 20% of it: the card's hours include long-context
    phases at 38% MFU and the time lost to failures (Llama 3 paper §3.3.4: "higher than 90%
    effective training time"), both of which a steady-state step leaves out."""
    spec = TrainSpec(seq=8192, grad_accum=4, layout=Layout(dp=16))
    p = training_performance(llama405b, spec, H100, tokens=15.6e12, usd_per_gpu_hour=2.0,
                             eff=_free(train_mfu=0.40))
    assert 0.8 < p["gpu_hours"] / 30.84e6 < 1.0
    assert p["cost_usd"] == pytest.approx(2.0 * p["gpu_hours"])
    assert p["time_s"] == pytest.approx(p["gpu_hours"] * 3600 / 16)


def test_moe_training_counts_active_experts():
    """Qwen3-30B-A3B: 3.3B activated of 30.5B (model card), 3.0B without the embedding."""
    arch = resolve("qwen3-30b-a3b").arch
    f = full_training_flops(arch, seq=1)
    assert 2.9e9 < f.model / 6 < 3.2e9


def test_bad_tokens_are_refused(llama8b):
    with pytest.raises(PerfError, match="--tokens"):
        training_performance(llama8b, TrainSpec(seq=2048), H100, tokens=0)
