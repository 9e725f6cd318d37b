"""Model-state budgets, optimizer states, LoRA counts and the phase model, against published
figures and the libraries themselves (peft, bitsandbytes' and transformers' source)."""

from __future__ import annotations

import math

import pytest

from llmsize.arch import Architecture
from llmsize.errors import ConfigError
from llmsize.layout import Layout, ZeroStage
from llmsize.parameters import count_params
from llmsize.sources import catalog
from llmsize.sources.hf_config import from_hf_config
from llmsize.training.estimate import Recipe, TrainSpec, budget_lines, estimate_training
from llmsize.training.lora import LoraSpec, adapter_params, adapter_tensors, parse_targets
from llmsize.training.optimizers import (
    BNB_BLOCK,
    Optimizer,
    StepKernel,
    hf_parameters,
    optimizer_states,
    step_temporaries,
    tensor_state_bytes,
)
from llmsize.tree import Part


def arch_of(name: str) -> Architecture:
    return from_hf_config(catalog.lookup(name).config, name)[0]


# --- recipes ----------------------------------------------------------------------------------

BYTES_PER_PARAM = {Recipe.FP32: 16, Recipe.AMP: 16, Recipe.PURE_BF16: 8, Recipe.MEGATRON: 18,
                   Recipe.DEEPSPEED: 16}


@pytest.mark.parametrize("recipe", list(Recipe))
def test_recipe_bytes_per_parameter(recipe):
    """fp32 4+4+8, amp 4+4+8, pure-bf16 2+2+4, megatron 2+4+4+8, deepspeed 2+2+4+8."""
    lines = budget_lines(TrainSpec(seq=8, recipe=recipe), params=1, trainable=1)
    assert sum(b for _, b, _ in lines) == BYTES_PER_PARAM[recipe]
    assert recipe.__doc__  # every strategy documents itself


def test_megatron_line_by_line():
    lines = [(n.split(" (")[0], b) for n, b, _ in budget_lines(TrainSpec(seq=8, recipe=Recipe.MEGATRON),
                                                                params=1, trainable=1)]
    assert lines == [("weights", 2), ("gradients", 4), ("master weights", 4), ("Adam m", 4), ("Adam v", 4)]


@pytest.mark.parametrize("recipe", list(Recipe))
def test_recipe_states_in_the_estimate(recipe):
    """Weights and optimizer states of the estimate follow the recipe exactly (Adam's step
    counter is one fp32 scalar per tensor)."""
    arch = arch_of("smollm2-135m")
    n, tensors = count_params(arch).total, len(hf_parameters(arch))
    r = estimate_training(arch, TrainSpec(seq=256, recipe=recipe, step_kernel=StepKernel.FUSED))
    p = {Recipe.FP32: (4, 0, 4), Recipe.AMP: (4, 0, 4), Recipe.PURE_BF16: (2, 0, 2),
         Recipe.MEGATRON: (2, 4, 4), Recipe.DEEPSPEED: (2, 4, 4)}[recipe]
    assert r.part("weights") == p[0] * n
    assert r.part("optimizer_states") == p[1] * n + 2 * p[2] * n + 4 * tensors


# --- optimizers -------------------------------------------------------------------------------


def test_every_optimizer_documented():
    for member in (*Optimizer, *StepKernel):
        assert member.__doc__ and member.__doc__ != type(member).__doc__


def test_adam_8bit_blockwise():
    """bitsandbytes Optimizer2State.init_state: uint8 m and v, fp32 absmax per 2048 elements;
    fp32 states under 4096 elements."""
    assert BNB_BLOCK == 2048
    n = 4096 * 14336
    def bnb(shape: tuple[int, ...]) -> int:
        return tensor_state_bytes(Optimizer.ADAM_8BIT, "w", shape, "mlp", state_bits=32)

    assert bnb((14336, 4096)) == 2 * (n + n // 2048 * 4)
    assert bnb((4097,)) == 2 * (4097 + 3 * 4)  # ⌈4097/2048⌉ = 3 blocks
    assert bnb((4095,)) == 2 * 4 * 4095
    arch = arch_of("llama-3.1-8b")
    total = optimizer_states(Optimizer.ADAM_8BIT, hf_parameters(arch), state_bits=32).value
    assert total / count_params(arch).total == pytest.approx(2 * (1 + 4 / 2048), rel=1e-3)


def test_adafactor_factors_matrices():
    """HF Adafactor: exp_avg_sq_row shape[:-1], exp_avg_sq_col shape[:-2] + shape[-1:]."""
    width = 32
    assert tensor_state_bytes(Optimizer.ADAFACTOR, "w", (14336, 4096), "mlp", state_bits=width) == \
        (14336 + 4096) * 4
    assert tensor_state_bytes(Optimizer.ADAFACTOR, "e", (8, 28672, 4096), "expert", state_bits=width) == \
        (8 * 28672 + 8 * 4096) * 4
    assert tensor_state_bytes(Optimizer.ADAFACTOR, "g", (4096,), "norm", state_bits=width) == 4096 * 4
    with_m = tensor_state_bytes(Optimizer.ADAFACTOR, "w", (10, 20), "mlp", state_bits=width, beta1=True)
    assert with_m == (10 + 20 + 200) * 4


def test_muon_momentum_for_hidden_matrices_adamw_elsewhere():
    arch = arch_of("llama-3.1-8b")
    tensors = hf_parameters(arch)
    states = optimizer_states(Optimizer.MUON, tensors, state_bits=32)
    by_role = {p.name: p.value for p in states.parts}
    matrices = sum(math.prod(s) for _, s, r in tensors if r in ("attention", "mlp"))
    assert by_role["attention"] + by_role["mlp"] == 4 * matrices
    emb = 128256 * 4096
    assert by_role["embedding"] == 8 * emb + 4 and by_role["head"] == 8 * emb + 4


def test_lion_and_sgd():
    shape = (1024, 1024)
    assert tensor_state_bytes(Optimizer.LION, "w", shape, "mlp", state_bits=16) == 2 * 1024 * 1024
    assert tensor_state_bytes(Optimizer.SGD_MOMENTUM, "w", shape, "mlp", state_bits=32) == 4 * 1024 * 1024
    assert tensor_state_bytes(Optimizer.SGD, "w", shape, "mlp", state_bits=32) == 0


def test_step_temporaries_by_kernel():
    tensors = [("a", (100, 10), "mlp"), ("b", (3000,), "norm")]
    assert step_temporaries(Optimizer.ADAMW, StepKernel.FUSED, tensors, state_bits=32) == 0
    assert step_temporaries(Optimizer.ADAMW, StepKernel.FOREACH, tensors, state_bits=32) == 4 * 4000
    # the for-loop: √v and the quotient of b beside a's denominator (test below)
    for_loop = step_temporaries(Optimizer.ADAMW, StepKernel.FOR_LOOP, tensors, state_bits=16)
    assert for_loop == 2 * (1000 + 2 * 3000)
    assert step_temporaries(Optimizer.SGD, StepKernel.FOR_LOOP, tensors, state_bits=32) == 0


@pytest.mark.parametrize("sizes", [[1000, 3000], [3000, 1000], [4096, 4096, 4096], [64, 8192, 8192, 32]])
def test_for_loop_adamw_temporaries_as_pytorch_measures_them(sizes):
    """torch's for-loop AdamW (``foreach=False``) on bf16 tensors, tracked by MemTracker under
    FakeTensorMode: what its step holds beyond parameters, gradients, states and step counters
    is ``step_temporaries`` (DBRX's three equal expert tensors in a row hold three copies)."""
    torch = pytest.importorskip("torch")
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    with FakeTensorMode():
        params = [torch.nn.Parameter(torch.empty(n, dtype=torch.bfloat16)) for n in sizes]
        opt = torch.optim.AdamW(params, lr=1e-4, foreach=False)
        for p in params:
            p.grad = torch.zeros_like(p)
        opt.step()  # the states exist before the tracked step
        tracker = MemTracker()
        tracker.track_external(*params, opt)
        with tracker:
            opt.step()
        peak = tracker.get_tracker_snapshot("peak")[torch.device("cpu")]
    counters = sum(s["step"].numel() * s["step"].element_size() for s in opt.state.values())
    states_and_temps = sum(v for k, v in peak.items() if str(k).endswith("OPT"))
    tensors = [(str(i), (n,), "mlp") for i, n in enumerate(sizes)]
    states = 2 * 2 * sum(sizes) + counters
    assert states_and_temps - states == step_temporaries(Optimizer.ADAMW, StepKernel.FOR_LOOP, tensors,
                                                         state_bits=16)


def test_experts_fused_gate_up_as_transformers_stores_them():
    shapes = {n: s for n, s, _ in hf_parameters(arch_of("mixtral-8x7b"))}
    assert shapes["blk.0.ffn_gate_up_exps.weight"] == (8, 2 * 14336, 4096)
    assert "blk.0.ffn_gate_exps.weight" not in shapes


# --- LoRA -------------------------------------------------------------------------------------


def test_lora_llama2_7b_r8_qv():
    """32 layers · (q, v) · 8 · (4096 + 4096) = 4,194,304: peft's print_trainable_parameters
    for Llama-2-7B ("trainable params: 4,194,304 || all params: 6,742,609,920")."""
    arch = arch_of("llama-2-7b")
    n = adapter_params(arch, LoraSpec(rank=8, targets=("q", "v")))
    assert n == 4_194_304
    assert count_params(arch).total + n == 6_742_609_920


def test_lora_shapes_and_targets():
    arch = arch_of("llama-3.1-8b")
    spec = LoraSpec(rank=16, targets=parse_targets("q_proj,k,down"))
    shapes = {t.name: t.shape for t in adapter_tensors(arch, spec) if t.layer == 0}
    assert shapes["blk.0.attn_q.lora_A.weight"] == (16, 4096)
    assert shapes["blk.0.attn_k.lora_B.weight"] == (1024, 16)
    assert shapes["blk.0.ffn_down.lora_A.weight"] == (16, 14336)
    with pytest.raises(ConfigError, match="lora-targets"):
        LoraSpec(targets=("qq",)).check(arch)


def _peft_count(name: str, targets) -> int:
    torch = pytest.importorskip("torch")
    peft = pytest.importorskip("peft")
    from llmsize.measure.harness import build

    with torch.device("meta"):
        model = build(dict(catalog.lookup(name).config), name, dtype="bf16", attn="sdpa")
    model = peft.get_peft_model(model, peft.LoraConfig(r=8, target_modules=targets, task_type="CAUSAL_LM"))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize(("name", "ours", "theirs"), [
    ("llama-3.2-1b-instruct", ("q", "v"), ["q_proj", "v_proj"]),
    ("qwen2.5-0.5b", ("all-linear",), "all-linear"),
    ("gpt2", ("all-linear",), "all-linear"),  # fused c_attn: one adapter of width 3d
    ("phi-2", ("q", "k", "v", "o", "up", "down"), ["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"]),
])
def test_lora_counts_match_peft(name, ours, theirs):
    assert adapter_params(arch_of(name), LoraSpec(rank=8, targets=ours)) == _peft_count(name, theirs)


def test_qlora_base_is_nf4_with_double_quant():
    arch = arch_of("llama-3.1-8b")
    spec = TrainSpec(seq=1024, lora=LoraSpec(rank=16, targets=("all-linear",), base="nf4-dq"))
    r = estimate_training(arch, spec)
    weights = {p.name: p.value for p in r.tree.parts[0].parts}
    layers = count_params(arch).total - 2 * 128256 * 4096 - 4096 - 32 * 2 * 4096
    assert weights["frozen base (nf4-dq)"] == pytest.approx(layers / 2 + 2 * 2 * 128256 * 4096, rel=1e-3)
    assert r.part("optimizer_states") == 8 * adapter_params(arch, spec.lora) + 4 * 2 * 32 * 7


# --- the step -----------------------------------------------------------------------------------


def _sums(tree: Part) -> None:
    for _, node in tree.walk():
        if node.parts:
            assert node.value == sum(p.value for p in node.parts), node.name


def test_report_tree_sums_and_json_keys():
    r = estimate_training(arch_of("qwen3-30b-a3b"), TrainSpec(seq=2048, micro_batch=2, recompute="full"))
    _sums(r.tree)
    d = r.to_dict()
    assert d["total_bytes"] == sum(d["breakdown"].values()) == r.total_bytes
    assert d["peak_phase"] in ("forward", "backward", "optimizer")


def test_peak_is_the_max_of_the_phases_not_their_sum():
    r = estimate_training(arch_of("llama-3.1-8b"), TrainSpec(seq=4096))
    assert r.total_bytes - r.part("overhead") == max(r.phases.values())
    assert r.phases["backward"] > r.phases["forward"]  # the loss's backward adds 2·V per token


def test_full_recompute_and_accumulation():
    arch = arch_of("llama-3.1-8b")
    base = estimate_training(arch, TrainSpec(seq=4096, recipe=Recipe.PURE_BF16))
    full = estimate_training(arch, TrainSpec(seq=4096, recipe=Recipe.PURE_BF16, recompute="full"))
    accum = estimate_training(arch, TrainSpec(seq=4096, recipe=Recipe.PURE_BF16, grad_accum=4))
    assert full.part("activations") < base.part("activations") / 3
    assert accum.part("gradients") == 2 * count_params(arch).total  # kept across micro-steps
    assert accum.total_bytes > base.total_bytes


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_zero_stages_shard_the_deepspeed_budget(stage):
    """ZeRO paper §5 with the deepspeed recipe (2 + 2 + 12): weights 2Ψ (or 2Ψ/N at stage 3),
    optimizer states (fp32 master + Adam) 12Ψ/N."""
    arch = arch_of("llama-3.1-8b")
    psi, n = count_params(arch).total, 8
    par = Layout(dp=n, zero=ZeroStage(stage))
    r = estimate_training(arch, TrainSpec(seq=2048, recipe=Recipe.DEEPSPEED, layout=par))
    assert r.part("weights") == (math.ceil(2 * psi / n) if stage == 3 else 2 * psi)
    states = 12 * psi + 4 * len(hf_parameters(arch))
    assert r.part("optimizer_states") == math.ceil(states / n)


def test_pipeline_first_stage_holds_more_micro_batches():
    arch = arch_of("llama-3.1-8b")
    one = estimate_training(arch, TrainSpec(seq=4096, recompute="selective"))
    pp = estimate_training(arch, TrainSpec(seq=4096, grad_accum=8, recompute="selective",
                                           layout=Layout(pp=4)))
    assert pp.part("weights") < one.part("weights") / 3
    assert pp.stage in (0, 3)


def test_tensor_parallel_splits_activations():
    arch = arch_of("llama-3.1-8b")
    one = estimate_training(arch, TrainSpec(seq=4096, recipe=Recipe.MEGATRON))
    tp = estimate_training(arch, TrainSpec(seq=4096, recipe=Recipe.MEGATRON, layout=Layout(tp=8, sp=True)))
    assert tp.part("activations") < one.part("activations") / 6


@pytest.mark.parametrize("options", [{}, {"recompute": "full"}, {"recompute": "selective", "attn": "eager"},
                                     {"recipe": "pure-bf16"}], ids=["amp", "full", "eager", "bf16"])
def test_text_only_batches_skip_the_cross_attention_layers(options):
    """transformers 5.24 ``MllamaTextModel.forward`` skips a cross-attention layer when there are
    no cross-attention states (``continue``): it saves nothing, no checkpoint and no autocast
    weight copy. What Llama-3.2-90B-Vision's text path stores per layer is then Llama-3.1-70B's,
    layer for layer (the same 80 self-attention layers: d 8192, 64/8 heads, I 28672)."""
    from llmsize.training.estimate import prepared, stage_inputs
    from llmsize.training.phases import saved

    vision, text = arch_of("llama-3.2-90b-vision-instruct"), arch_of("llama-3.1-70b-instruct")
    spec = TrainSpec(seq=1000, micro_batch=2, **options)  # type: ignore[arg-type]
    stored = [saved(stage_inputs(a, prepared(a, spec), 0)[1])[0] for a in (vision, text)]
    kinds = vision.layer_types
    assert kinds.count("cross") == 20 and len(kinds) - 20 == text.n_layers
    assert [n for n, k in zip(stored[0], kinds, strict=True) if k == "cross"] == [0] * 20
    assert [n for n, k in zip(stored[0], kinds, strict=True) if k != "cross"] == stored[1]
