"""Training activations term by term: Korthikanti et al. 2022 Table 2 reproduced exactly by the
generalised terms, and the per-layer bytes transformers 5.24 saves, as autograd's saved-tensor
hooks counted them under FakeTensorMode (one sequence of 2048 tokens, bf16, CPU kernels)."""

from __future__ import annotations

import pytest

from llmsize.arch import Architecture
from llmsize.sources import catalog
from llmsize.sources.hf_config import from_hf_config
from llmsize.training import activations as act
from llmsize.training.activations import ActivationSpec, Dropout, korthikanti_table2, paper_layer
from llmsize.training.parallel import korthikanti_layer_bytes

ROWS = [(1, False, "none"), (2, False, "none"), (8, False, "none"), (4, True, "none"), (8, True, "none"),
        (4, False, "selective"), (4, True, "selective"), (1, False, "selective"), (1, False, "full"),
        (4, False, "full"), (4, True, "full")]


@pytest.mark.parametrize(("t", "sp", "recompute"), ROWS)
@pytest.mark.parametrize(("s", "b", "h", "a"),
                         [(2048, 1, 4096, 32), (2048, 4, 12288, 96), (4096, 2, 8192, 64)])
def test_table2_exactly(s, b, h, a, t, sp, recompute):
    """Each row of Table 2 (sbh(34 + 5as/h), TP, TP + SP, selective, full) from the terms."""
    expected = korthikanti_table2(s=s, b=b, h=h, a=a, t=t, sp=sp, recompute=recompute)
    assert paper_layer(s=s, b=b, h=h, a=a, t=t, sp=sp, recompute=recompute) == expected


def test_table2_as_printed():
    """sbh(34 + 5as/h) and its parts: attention 11sbh + 5as²b, MLP 19sbh, norms 4sbh (§4.1)."""
    s, b, h, a = 2048, 1, 4096, 32
    sbh = s * b * h
    assert korthikanti_table2 is korthikanti_layer_bytes
    assert paper_layer(s=s, b=b, h=h, a=a) == 34 * sbh + 5 * a * s * s * b
    w = ActivationSpec(b, s, attn="eager", kernels=act.PAPER, dropout=Dropout(0.1, 0.1, 0.1))
    parts = {p.name: p.value for p in act.layer_saved(act.paper_arch(h=h, a=a), w, 0).parts}
    assert parts["norms"] == 4 * sbh
    assert parts["block inputs"] + parts["mlp"] == 2 * sbh + 19 * sbh  # MLP input counted with the inputs
    assert parts["block inputs"] // 2 + parts["attention"] == 11 * sbh + 5 * a * s * s * b


# bytes per layer for (1, 2048) tokens: the sum of the tensors autograd saves in one decoder
# layer (saved_tensors_hooks, storages counted once), transformers 5.24, bf16, CPU kernels
MEASURED_LAYER = {
    "llama-3.1-8b": 411_320_320,  # 16d + 2(2q + kv) + 8I + 4a + 8 per token
    "qwen3-8b": 441_008_128,  # + per-head q/k norms
    "mistral-7b-v0.1": 411_320_320,
    "phi-2": 304_357_376,  # LayerNorm, parallel block, Python GELU, CPU dropout masks in bf16
    "olmo-2-1b": 318_930_944,  # post-norm, fp32 norms, full-width q/k norms
    "gemma-3-1b": 238_153_736,  # sandwich, fp32 norms, MQA, an explicit sliding-window mask
}
UNMODELLED = {"gemma-3-1b": 20_488}  # per layer: six (1 + γ) fp32 copies of γ and a scalar


@pytest.mark.parametrize("name", list(MEASURED_LAYER))
def test_layer_matches_saved_tensors(name):
    cfg = catalog.lookup(name).config
    arch = from_hf_config(cfg, name)[0]
    w = ActivationSpec(1, 2048, kernels=act.CPU, dropout=act.dropout_from_config(cfg))
    assert act.layer_saved(arch, w, 1).value == MEASURED_LAYER[name] - UNMODELLED.get(name, 0)


def test_sliding_window_mask_is_per_layer_from_the_window_on():
    arch = from_hf_config(catalog.lookup("mistral-7b-v0.1").config, "m")[0]
    below = act.layer_saved(arch, ActivationSpec(1, 4095), 0).value / 4095
    at = act.layer_saved(arch, ActivationSpec(1, 4096), 0).value / 4096
    # from s = w on: an additive bf16 mask (2s per token) and K, V repeated to all heads
    assert at - below == pytest.approx(2 * 4096 + 2 * (32 - 8) * 128 * 2, abs=1)


def test_flash_keeps_no_scores_eager_keeps_fp32_softmax():
    arch = Architecture(name="m", n_layers=1, d_model=1024, n_heads=8, d_ff=4096)
    s = 2048
    flash = act.layer_saved(arch, ActivationSpec(1, s, attn="flash"), 0).value
    eager = act.layer_saved(arch, ActivationSpec(1, s, attn="eager"), 0).value
    # eager adds a·s² (4 + 2) bytes (fp32 softmax, its bf16 cast), less the lse and one output copy
    assert eager - flash == 8 * s * s * 6 + (2 * 1024 - 2 * 1024) * s - 4 * 8 * s


def test_selective_recompute_drops_only_the_scores():
    arch = Architecture(name="m", n_layers=1, d_model=1024, n_heads=8, d_ff=4096)
    none = act.layer_saved(arch, ActivationSpec(1, 1024, attn="eager"), 0).value
    sel = act.layer_saved(arch, ActivationSpec(1, 1024, attn="eager", recompute="selective"), 0).value
    assert none - sel == 8 * 1024 * 1024 * 6


def test_gated_mlp_saves_four_intermediates_plain_two():
    gated = Architecture(name="g", n_layers=1, d_model=512, n_heads=8, d_ff=2048)
    plain = gated.with_(gated_mlp=False, activation="gelu")
    w = ActivationSpec(1, 128)
    assert act.mlp_saved(gated, w) == 4 * 2 * 2048
    assert act.mlp_saved(plain, w) == 2 * 2 * 2048
    assert act.mlp_saved(plain.with_(activation="gelu_new"), w) == 5 * 2 * 2048


def test_moe_scales_with_top_k_and_capacity():
    arch = from_hf_config(catalog.lookup("mixtral-8x7b").config, "m")[0]
    one = act.moe_saved(arch, ActivationSpec(1, 128))
    cap = act.moe_saved(arch, ActivationSpec(1, 128, capacity_factor=1.25))
    per_slot = 2 * 2 * 4096 + 4 * 2 * 14336 + 3 * 8 + 4
    assert cap - one == pytest.approx(0.25 * 2 * per_slot)


def test_dropout_masks_only_when_dropout_is_on():
    arch = Architecture(name="m", n_layers=1, d_model=1024, n_heads=8, d_ff=4096)
    off = act.layer_saved(arch, ActivationSpec(1, 256), 0).value
    on = act.layer_saved(arch, ActivationSpec(1, 256, dropout=Dropout(residual=0.1)), 0).value
    assert on - off == 2 * 1024 * 256  # two 1-byte masks (CUDA) of d per token
    cpu_on = ActivationSpec(1, 256, dropout=Dropout(residual=0.1), kernels=act.CPU)
    cpu = act.layer_saved(arch, cpu_on, 0).value
    assert cpu - act.layer_saved(arch, ActivationSpec(1, 256, kernels=act.CPU), 0).value == 2 * 2 * 1024 * 256


def test_logits_and_cross_entropy():
    arch = Architecture(name="m", n_layers=1, d_model=1024, n_heads=8, d_ff=4096, vocab_size=32000)
    w = ActivationSpec(2, 512)
    assert act.logits_forward(arch, w) == 1024 * 32000 * (2 + 4 + 4)
    assert act.logits_backward(arch, w) == 1024 * 32000 * 12
    assert act.logits_forward(arch, ActivationSpec(2, 512, bits=32)) == 1024 * 32000 * (4 + 4)


def test_dropout_from_config():
    gpt2 = act.dropout_from_config(catalog.lookup("gpt2").config)
    assert gpt2 == Dropout(embedding=0.1, attention=0.1, residual=0.1)
    assert act.dropout_from_config(catalog.lookup("llama-3.1-8b").config) == Dropout()
