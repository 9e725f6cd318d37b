"""Parallel layouts per GPU, against independent published figures and PyTorch's FSDP tracker.

Truths used, each with its source:

* the ZeRO paper's worked example (Rajbhandari et al. 2019, §5 and Figure 1);
* DeepSpeed's ``estimate_zero2_model_states_mem_needs`` (deepspeed/runtime/zero/stage_1_and_2.py,
  deepspeedai/DeepSpeed commit 02aa38c) and ``estimate_zero3_model_states_mem_needs``
  (stage3.py, commit 007cca6), re-expressed below;
* Korthikanti et al. 2022 (arXiv 2205.05198): the §4.1 itemised tensor list, Table 2, the Table 3
  model configurations and the figures quoted in §5 and §6.1;
* Megatron-LM ``megatron/training/theoretical_memory_usage.py`` (NVIDIA/Megatron-LM commit
  00caa53), re-expressed below for dense GQA models;
* PyTorch's ``FSDPMemTracker`` under ``FakeTensorMode`` with the fake process group (the
  torchtitan ``scripts/estimate/estimation.py`` recipe), on FSDP2 ``fully_shard`` of a small MLP
  stack with world sizes 4 and 8: it runs on this CPU build in about a second per layout.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from llmsize.arch import Architecture, MoE
from llmsize.errors import ConfigError
from llmsize.layout import FsdpStrategy, Layout, Offload, ZeroStage
from llmsize.parameters import embedding_part, layer_part
from llmsize.training.parallel import (
    ActivationSplit,
    activation_split,
    in_flight_microbatches,
    korthikanti_layer_bytes,
    stage_layers,
)
from llmsize.training.zero import Buckets, ModelStates, comm_buffers, per_gpu_model_states
from llmsize.tree import Part

GB = 10**9


NO_EXPERTS = ModelStates()


def on_gpu(states: ModelStates, par: Layout, experts: ModelStates = NO_EXPERTS) -> int:
    weights, grads, opt, _ = per_gpu_model_states(states, expert_states=experts, par=par)
    return weights.value + grads.value + opt.value


def host(states: ModelStates, par: Layout, experts: ModelStates = NO_EXPERTS) -> int:
    return per_gpu_model_states(states, expert_states=experts, par=par)[3].value


def assert_sums(tree: Part) -> None:
    for _, node in tree.walk():
        if node.parts:
            assert node.value == sum(p.value for p in node.parts), node.name


# --- enums and the layout -------------------------------------------------------------------


@pytest.mark.parametrize("enum", [ZeroStage, FsdpStrategy, Offload])
def test_every_member_has_its_own_docstring(enum):
    for member in enum:
        assert isinstance(member.__doc__, str) and len(member.__doc__) > 10, member
        assert member.__doc__ != enum.__doc__, member
    assert len({m.__doc__ for m in enum}) == len(enum)


def test_zero_stage_docstrings_say_what_is_sharded():
    assert "optimizer states" in ZeroStage.OPTIMIZER.__doc__
    assert "gradients" in ZeroStage.GRADIENTS.__doc__
    assert "weights are sharded" in ZeroStage.PARAMETERS.__doc__
    assert ZeroStage(2) is ZeroStage.GRADIENTS and FsdpStrategy("full_shard") is FsdpStrategy.FULL_SHARD


def test_gpus_and_groups():
    par = Layout(dp=8, tp=8, pp=16, cp=2, ep=4)
    assert par.gpus == 8 * 8 * 16 * 2
    assert par.data_parallel == 16 and par.expert_data_parallel == 4
    hsdp = Layout(dp=32, fsdp=FsdpStrategy.HYBRID_SHARD, hybrid_group=8)
    assert hsdp.shard_group == 8 and hsdp.shard_level == 3


LLAMA = Architecture(name="tiny-llama", n_layers=8, d_model=256, n_heads=8, n_kv_heads=2, d_ff=512,
                     vocab_size=1000, norm="rmsnorm")
TWELVE_HEADS = LLAMA.with_(name="twelve-heads", d_model=384, n_heads=12, n_kv_heads=6)
MOE = LLAMA.with_(name="tiny-moe", moe=MoE(n_experts=8, top_k=2, d_ff_expert=128, layers=tuple(range(8))))

BAD_LAYOUTS = [
    (Layout(tp=3), LLAMA, "--tp 3 must divide the 8 attention heads"),
    (Layout(tp=4), TWELVE_HEADS, "the 6 key/value heads"),
    (Layout(pp=9), LLAMA, "--pp 9 is more than the 8 layers"),
    (Layout(pp=2, vpp=3), LLAMA, "pp·vpp = 6 equal chunks"),
    (Layout(vpp=2), LLAMA, "--vpp (virtual pipeline stages) needs --pp > 1"),
    (Layout(sp=True), LLAMA, "--sp (sequence parallel) needs --tp > 1"),
    (Layout(dp=8, ep=3), MOE, "--ep 3 must divide dp·cp = 8"),
    (Layout(dp=8, ep=8), LLAMA, "needs a mixture-of-experts model"),
    (Layout(dp=16, ep=16), MOE, "--ep 16 must divide the 8 experts"),
    (Layout(dp=8, zero=ZeroStage.OPTIMIZER, fsdp=FsdpStrategy.FULL_SHARD), LLAMA, "choose one"),
    (Layout(dp=8, offload=Offload.OPTIMIZER), LLAMA, "--offload needs --zero"),
    (Layout(dp=8, zero=ZeroStage.GRADIENTS, offload=Offload.PARAMETERS), LLAMA, "--zero 3"),
    (Layout(dp=8, fsdp=FsdpStrategy.FULL_SHARD, offload=Offload.OPTIMIZER), LLAMA, "together"),
    (Layout(dp=8, pp=2, zero=ZeroStage.PARAMETERS), LLAMA, "ZeRO-1 at most"),
    (Layout(dp=12, fsdp=FsdpStrategy.HYBRID_SHARD, hybrid_group=8), LLAMA, "--hybrid-group 8"),
    (Layout(dp=0), LLAMA, "--dp must be a positive integer"),
]


@pytest.mark.parametrize("par, arch, message", BAD_LAYOUTS, ids=[m for *_, m in BAD_LAYOUTS])
def test_check_rejects_with_one_line(par, arch, message):
    with pytest.raises(ConfigError) as info:
        par.check(arch)
    text = str(info.value)
    assert message in text and "\n" not in text


def test_check_accepts_real_layouts():
    Layout(tp=4).check(LLAMA)  # 2 kv heads on 4 ranks: replicated, as Megatron and vLLM do
    Layout(dp=8, tp=2, sp=True, pp=4, vpp=2, cp=2, zero=ZeroStage.OPTIMIZER).check(LLAMA)
    Layout(dp=4, ep=4, fsdp=FsdpStrategy.FULL_SHARD, offload=Offload.PARAMETERS).check(MOE)
    Layout(dp=64, fsdp=FsdpStrategy.HYBRID_SHARD, hybrid_group=8).check(LLAMA)


# --- the ZeRO paper -------------------------------------------------------------------------


@pytest.mark.parametrize("zero, exact, printed", [
    (ZeroStage.NONE, 120_000_000_000, 120.0),
    (ZeroStage.OPTIMIZER, 31_406_250_000, 31.4),
    (ZeroStage.GRADIENTS, 16_640_625_000, 16.6),
    (ZeroStage.PARAMETERS, 1_875_000_000, 1.9),
])
def test_zero_paper_figure_1(zero, exact, printed):
    """Rajbhandari et al. 2019 §5 / Figure 1: Ψ = 7.5B, N_d = 64, K = 12 (mixed-precision Adam)."""
    psi = 7_500_000_000
    states = ModelStates(weights=2 * psi, gradients=2 * psi, optimizer_states=12 * psi)
    total = on_gpu(states, Layout(dp=64, zero=zero))
    assert total == exact
    assert round(total / GB, 1) == printed


@pytest.mark.parametrize("fsdp, zero", [(FsdpStrategy.FULL_SHARD, ZeroStage.PARAMETERS),
                                        (FsdpStrategy.HYBRID_SHARD, ZeroStage.PARAMETERS)])
def test_full_shard_is_zero3_over_its_shard_group(fsdp, zero):
    states = ModelStates(4_000_003, 4_000_003, 8_000_006)
    hsdp = Layout(dp=32, fsdp=fsdp, hybrid_group=8)
    assert on_gpu(states, hsdp) == on_gpu(states, Layout(dp=hsdp.shard_group, zero=zero))


# --- sharding arithmetic ----------------------------------------------------------------------


def test_shards_round_up():
    states = ModelStates(weights=1001, gradients=1001, optimizer_states=2001)
    w, g, o, _ = per_gpu_model_states(states, par=Layout(dp=8, zero=ZeroStage.PARAMETERS))
    assert (w.value, g.value, o.value) == (126, 126, 251)  # ⌈1001/8⌉, ⌈2001/8⌉
    assert 8 * (w.value + g.value + o.value) >= states.total


LEGAL_ZERO = [(z, o) for z in ZeroStage for o in Offload
              if z is not ZeroStage.NONE or o is Offload.NONE
              if o is not Offload.PARAMETERS or z is ZeroStage.PARAMETERS]


@pytest.mark.parametrize("zero, offload", LEGAL_ZERO)
def test_gpu_plus_host_over_the_group_is_the_replicated_total(zero, offload):
    """Summed over the N ranks of a data-parallel group, GPU + host bytes are the full states
    once for every sharded state and N times for every replicated one."""
    par = Layout(dp=8, zero=zero, offload=offload)
    par.check()
    states = ModelStates(weights=8 * 1000, gradients=8 * 2000, optimizer_states=8 * 6000)
    experts = ModelStates(weights=8 * 400, gradients=8 * 800, optimizer_states=8 * 2400)
    w, g, o, h = per_gpu_model_states(states, expert_states=experts, par=par)
    for tree in (w, g, o, h):
        assert_sums(tree)
    replicas = {"weights": 8 if zero.value < 3 else 1,
                "gradients": 8 if zero.value < 2 and offload is Offload.NONE else 1,
                "optimizer_states": 8 if zero.value < 1 else 1}
    for name in replicas:
        full = getattr(states, name) + getattr(experts, name)
        held = sum(t.find(name).value for t in (w, g, o, h) if t.find(name) is not None)
        assert 8 * held == replicas[name] * full, name


def test_offload_moves_bytes_to_host():
    states = ModelStates(2_000, 4_000, 12_000)
    base = Layout(dp=4, zero=ZeroStage.PARAMETERS)
    opt = Layout(dp=4, zero=ZeroStage.PARAMETERS, offload=Offload.OPTIMIZER)
    params = Layout(dp=4, zero=ZeroStage.PARAMETERS, offload=Offload.PARAMETERS)
    assert (on_gpu(states, base), host(states, base)) == (4_500, 0)
    assert (on_gpu(states, opt), host(states, opt)) == (500, 4_000)
    assert (on_gpu(states, params), host(states, params)) == (0, 4_500)


def test_experts_split_over_ep_then_over_the_expert_data_parallel_group():
    dense = ModelStates(16_000, 32_000, 96_000)
    experts = ModelStates(64_000, 128_000, 384_000)
    par = Layout(dp=16, ep=4, zero=ZeroStage.OPTIMIZER)  # expert-DP = 16/4 = 4
    w, g, o, _ = per_gpu_model_states(dense, expert_states=experts, par=par)
    assert w.find("experts").value == 16_000 and g.find("experts").value == 32_000
    assert o.find("experts").value == 384_000 // 4 // 4
    assert o.find("dense").value == 96_000 // 16


def test_shard_grad_op_keeps_gathered_weights_from_forward_to_backward():
    states = ModelStates(4_000, 4_000, 8_000)
    w, g, o, _ = per_gpu_model_states(states, par=Layout(dp=4, fsdp=FsdpStrategy.SHARD_GRAD_OP))
    assert (w.find("dense").value, w.find("all-gathered for compute").value) == (1_000, 4_000)
    assert (g.value, o.value) == (1_000, 2_000)


# --- DeepSpeed's estimators -----------------------------------------------------------------


def ds_zero2(total_params, num_gpus_per_node=1, num_nodes=1, cpu_offload=True, buffer_factor=1.5):
    """estimate_zero2_model_states_mem_needs (stage_1_and_2.py @ 02aa38c): (cpu, gpu) bytes."""
    gpus = num_nodes * num_gpus_per_node
    if cpu_offload:
        gpu = 2 * total_params
        cpu = total_params * max(4 * gpus, 16) * buffer_factor
    else:  # "2 = params_16bit, 18 = 2_grads_16bit + 4_grads_32bit + 4_params_32bit + 8_optimizer"
        gpu = 2 * total_params + int(18 * total_params / gpus)
        cpu = total_params * 4 * num_gpus_per_node * buffer_factor
    return int(cpu), int(gpu)


def ds_zero3(total_params, largest_layer_params, num_gpus_per_node=1, num_nodes=1, cpu_offload=True,
             cpu_offload_params=True, zero_init=True, buffer_factor=1.5):
    """estimate_zero3_model_states_mem_needs (stage3.py @ 007cca6): (cpu, gpu) bytes."""
    gpus = num_nodes * num_gpus_per_node
    largest = 4 * largest_layer_params
    if cpu_offload and cpu_offload_params:
        gpu = largest
        per_node = 18 if zero_init else max(4 * num_gpus_per_node, 18 / num_nodes) * num_nodes
        cpu = total_params * per_node / num_nodes * buffer_factor
    elif cpu_offload:
        gpu = largest + int(2 * total_params / gpus)
        per_node = 16 if zero_init else max(4 * num_gpus_per_node, 16 / num_nodes) * num_nodes
        cpu = total_params * per_node / num_nodes * buffer_factor
    else:
        gpu = largest + int(18 * total_params / gpus)
        cpu = (largest_layer_params if zero_init else total_params) * 4 * num_gpus_per_node * buffer_factor
    return int(cpu), int(gpu)


LLAMA2_7B = 6_738_415_616  # published parameter count
LLAMA2_7B_LARGEST = 32_000 * 4_096  # embed_tokens (= lm_head): the largest module's own parameters
NODES = [(8, 1), (8, 2), (4, 1), (2, 4)]  # (GPUs per node, nodes)


def _zero3_gathered(largest: int) -> int:
    """Our ZeRO-3 buffers that DeepSpeed's estimator counts: the gathered largest layer and its
    unsharded gradient, both 16-bit (DeepSpeed: 4·largest_layer_params)."""
    tree = comm_buffers(Layout(dp=8, zero=ZeroStage.PARAMETERS), bucket_params=largest, bits=16)
    return tree.find("gathered layer").value + tree.find("gathered layer's gradient").value


@pytest.mark.parametrize("gpn, nodes", NODES)
def test_deepspeed_zero2_without_offload(gpn, nodes):
    p, gpus = LLAMA2_7B, gpn * nodes
    # DeepSpeed's ZeRO-2 row counts 16-bit and 32-bit gradient partitions: 2 + 4 bytes.
    states = ModelStates(weights=2 * p, gradients=6 * p, optimizer_states=12 * p)
    ours = on_gpu(states, Layout(dp=gpus, zero=ZeroStage.GRADIENTS))
    assert abs(ours - ds_zero2(p, gpn, nodes, cpu_offload=False)[1]) <= 2  # ⌈⌉ vs int()


@pytest.mark.parametrize("gpn", [1, 2, 4])
def test_deepspeed_zero2_with_offload(gpn):
    """The GPU keeps the 16-bit weights; the node's host holds 16 bytes per parameter (fp32
    gradients, master weights, moments). DeepSpeed floors the host at 4·G bytes per parameter
    (every process's fp32 copy at start-up) and adds its 1.5 buffer factor: compared where
    4·G ≤ 16."""
    p = LLAMA2_7B
    states = ModelStates(weights=2 * p, gradients=4 * p, optimizer_states=12 * p)
    par = Layout(dp=gpn, zero=ZeroStage.GRADIENTS, offload=Offload.OPTIMIZER)
    cpu, gpu = ds_zero2(p, gpn, 1, cpu_offload=True)
    assert on_gpu(states, par) == gpu
    assert host(states, par) * gpn * 1.5 == pytest.approx(cpu, abs=gpn * 3 * 1.5)


@pytest.mark.parametrize("gpn, nodes", NODES)
@pytest.mark.parametrize("offload", list(Offload))
def test_deepspeed_zero3(gpn, nodes, offload):
    """GPU: our sharded states + the gathered largest layer and its gradient = DeepSpeed's
    4·largest + 18Ψ/G (2Ψ/G with optimizer offload, 0 with parameter offload). Host, per node
    with zero_init: 18Ψ or 16Ψ over the nodes, × 1.5. DeepSpeed leaves out our other ZeRO-3
    buffers (the 1 GB reduce bucket, the prefetch bucket) and, without offload, counts host
    memory for start-up that a training step does not hold."""
    p, largest, gpus = LLAMA2_7B, LLAMA2_7B_LARGEST, gpn * nodes
    states = ModelStates(weights=2 * p, gradients=4 * p, optimizer_states=12 * p)
    par = Layout(dp=gpus, zero=ZeroStage.PARAMETERS, offload=offload)
    cpu, gpu = ds_zero3(p, largest, gpn, nodes, cpu_offload=offload is not Offload.NONE,
                        cpu_offload_params=offload is Offload.PARAMETERS)
    assert abs(on_gpu(states, par) + _zero3_gathered(largest) - gpu) <= 3
    if offload is not Offload.NONE:
        assert host(states, par) * gpn * 1.5 == pytest.approx(cpu, abs=gpn * 3 * 1.5)


def test_deepspeed_bucket_defaults():
    """deepspeed/runtime/zero/config.py: reduce_bucket_size 5e8 elements (one 16-bit buffer, two
    with overlap_comm at ZeRO-1/2), stage3_prefetch_bucket_size 5e7, stage3_max_live_parameters 1e9."""
    z2 = comm_buffers(Layout(dp=8, zero=ZeroStage.GRADIENTS), bucket_params=10**6, bits=16)
    assert z2.value == 10**9
    overlap = comm_buffers(Layout(dp=8, zero=ZeroStage.OPTIMIZER), bucket_params=1, bits=16,
                           buckets=Buckets(overlap_comm=True))
    assert overlap.value == 2 * 10**9
    z3 = comm_buffers(Layout(dp=8, zero=ZeroStage.PARAMETERS), bucket_params=10**8, bits=16,
                      stage_params=10**10)
    assert z3.find("prefetch bucket").value == 2 * 5 * 10**7
    small = comm_buffers(Layout(dp=8, zero=ZeroStage.PARAMETERS), bucket_params=10**6, bits=16,
                         stage_params=3 * 10**6, buckets=Buckets(reduce_bucket_size=4096**2))
    assert small.find("prefetch bucket").value == 2 * 2 * 10**6  # only what is left to fetch
    assert small.find("reduce bucket (ipg)").value == 2 * 4096**2  # HF "auto": h²
    assert_sums(z3)


def test_ddp_buckets_copy_every_gradient_unless_bucket_view():
    par = Layout(dp=8)
    assert comm_buffers(par, bucket_params=1, bits=16, stage_params=10**9).value == 2 * 10**9
    view = Buckets(ddp_gradient_as_bucket_view=True)
    assert comm_buffers(par, bucket_params=1, bits=16, stage_params=10**9, buckets=view).value == 0
    assert comm_buffers(Layout(), bucket_params=1, bits=16, stage_params=10**9).value == 0


# --- Korthikanti et al. 2022 ------------------------------------------------------------------


def itemised_layer_bytes(s, b, h, a, t, *, sp, recompute):
    """§4.1's list of stored tensors (16-bit values, 1-byte masks), divided as §4.2.1–4.2.2 and
    §5 say: TP splits the tensors inside attention and the MLP, SP also the rest; selective
    recomputation drops the core attention (QKᵀ softmax, its dropout mask and output)."""
    sbh, asb = s * b * h, a * s * s * b
    if recompute == "full":
        return 2 * sbh // (t if sp else 1)
    tensors = [  # (bytes, inside the TP region, core attention)
        (2 * sbh, False, False),  # attention: QKV input (after the first LayerNorm)
        (4 * sbh, True, False),  # Q and K for QKᵀ
        (2 * asb, True, True),  # softmax output
        (asb, True, True),  # softmax dropout mask
        (2 * asb, True, True),  # dropout output, input of attention over V
        (2 * sbh, True, False),  # V
        (2 * sbh, True, False),  # input of the output projection
        (sbh, False, False),  # attention dropout mask
        (2 * sbh, False, False),  # MLP input
        (8 * sbh, True, False),  # GeLU input (4h wide)
        (8 * sbh, True, False),  # GeLU output, input of the second linear
        (sbh, False, False),  # MLP dropout mask
        (2 * sbh, False, False), (2 * sbh, False, False),  # the two LayerNorm inputs
    ]
    kept = [(n, tp) for n, tp, core in tensors if not (core and recompute == "selective")]
    return sum(Fraction(n, t) if (tp or sp) else n for n, tp in kept)


# Table 3: model configurations (a, h, L, t, p), sequence 2048, micro-batch 1.
TABLE3 = {"22B": (64, 6144, 48, 8, 1), "175B": (96, 12288, 96, 8, 8),
          "530B": (128, 20480, 105, 8, 35), "1T": (160, 25600, 128, 8, 64)}


@pytest.mark.parametrize("model", TABLE3)
@pytest.mark.parametrize("sp, recompute", [(False, "none"), (True, "none"), (False, "selective"),
                                           (True, "selective"), (False, "full")])
@pytest.mark.parametrize("t", [1, 8])
def test_table2_rows_are_the_itemised_tensors(model, sp, recompute, t):
    a, h, *_ = TABLE3[model]
    if sp and t == 1:  # sequence parallelism over one rank splits nothing: the rows without SP
        expected = itemised_layer_bytes(2048, 1, h, a, 1, sp=False, recompute=recompute)
    else:
        expected = itemised_layer_bytes(2048, 1, h, a, t, sp=sp, recompute=recompute)
    assert korthikanti_layer_bytes(2048, 1, h, a, t, sp=sp, recompute=recompute) == math.ceil(expected)


def test_table2_closed_forms():
    s, b, h, a, t = 2048, 4, 6144, 64, 8
    sbh = s * b * h
    assert korthikanti_layer_bytes(s, b, h, a) == sbh * 34 + 5 * a * s * s * b  # sbh(34 + 5as/h)
    assert korthikanti_layer_bytes(s, b, h, a, t) == sbh * (10 + 24 // t) + 5 * a * s * s * b // t
    assert korthikanti_layer_bytes(s, b, h, a, t, sp=True) == korthikanti_layer_bytes(s, b, h, a) // t
    assert korthikanti_layer_bytes(s, b, h, a, t, recompute="selective") == sbh * (10 + 24 // t)
    assert korthikanti_layer_bytes(s, b, h, a, t, sp=True, recompute="selective") == 34 * sbh // t
    assert korthikanti_layer_bytes(s, b, h, a, t, recompute="full") == 2 * sbh


def test_section5_gpt3_and_mt_nlg():
    """§5: 5as/h = 80 for GPT-3 and 64 for MT-NLG, so selective recomputation saves 70% and 65%
    of the activation memory."""
    for model, five_as_h, saving in (("175B", 80, 0.70), ("530B", 64, 0.65)):
        a, h, *_ = TABLE3[model]
        sbh = 2048 * h
        assert 5 * a * 2048 == five_as_h * h
        full = korthikanti_layer_bytes(2048, 1, h, a)
        selective = korthikanti_layer_bytes(2048, 1, h, a, recompute="selective")
        assert full == sbh * (34 + five_as_h)
        assert round(1 - selective / full, 2) == saving


@pytest.mark.parametrize("model", TABLE3)
def test_section6_sp_plus_selective_cuts_the_tp_baseline_about_5x(model):
    """§6.1 / Figure 7: SP + selective recomputation reduce activation memory ~5× against the
    tensor-parallel baseline (Table 2, row 2), to about 2× what full recomputation keeps."""
    a, h, _, t, _ = TABLE3[model]
    baseline = korthikanti_layer_bytes(2048, 1, h, a, t)
    ours = korthikanti_layer_bytes(2048, 1, h, a, t, sp=True, recompute="selective")
    full = korthikanti_layer_bytes(2048, 1, h, a, t, recompute="full")
    assert 4.9 < baseline / ours < 6.3
    assert 2.0 < ours / full < 2.2


@pytest.mark.parametrize("model", ["175B", "530B", "1T"])
def test_section_4_2_3_first_stage_holds_L_layers_worth(model):
    """§4.2.3: with 1F1B the first stage stores p micro-batches of L/p layers, sbhL/t(34 + 5as/h)
    in all, independent of p; interleaving multiplies that by 1 + (p−1)/(p·m) (m chunks)."""
    a, h, L, t, p = TABLE3[model]
    layer = korthikanti_layer_bytes(2048, 1, h, a, t, sp=True)
    first = len(stage_layers(L, p)[0])
    assert layer * first * in_flight_microbatches(Layout(tp=t, pp=p), micro_batches=4 * p) == layer * L
    chunks = next(v for v in (4, 3, 2) if L % (p * v) == 0)
    par = Layout(tp=t, pp=p, vpp=chunks)
    factor = in_flight_microbatches(par, micro_batches=2 * p) / p
    assert factor == pytest.approx(1 + (p - 1) / (p * chunks), rel=1e-12)


# --- Megatron-LM theoretical_memory_usage.py --------------------------------------------------


def megatron_weight_and_optimizer_bytes(*, h, L, a, groups, kv_channels, ffn, V, tp, pp, dp,
                                        distributed_optimizer, swiglu=True, rmsnorm=True, untied=True):
    """compute_weight_and_optimizer_memory (commit 00caa53), dense GQA models, no MTP."""
    norm = 1 if rmsnorm else 2
    gated = 3 / 2 if swiglu else 1
    attention = 2 * h * h * ((1 + groups / a) * (kv_channels * a / h))
    layer = 2 * h * (ffn * gated + norm) + attention
    block = layer * L + norm * h
    embedding = h * V
    most_loaded = (block / pp + embedding) / tp
    if untied and pp == 1:
        most_loaded += embedding / tp
    per_param = 6 + 12 / dp if distributed_optimizer else 18
    return most_loaded * per_param, layer


def megatron_layer_activations(*, s, b, h, ffn, L, tp, pp, vpp, micro_batches, sp_selective):
    """The transformer-layer part of compute_activation_memory (SP + selective recomputation) or
    compute_activation_memory_without_sp (commit 00caa53), with its pipeline factors; the
    embedding, output-layer and ×1.05 terms are left out (they are not per layer)."""
    if sp_selective:
        memory = s * b * h * (18 + 4 * ffn / h) * L / tp
    else:
        memory = s * b * h * (10 + 24 / tp) * L
    if vpp > 1:
        memory *= 1 + (pp - 1) / (pp * vpp)
    elif pp > 1:
        memory *= min(1, micro_batches / pp)
    return memory


LLAMA_8B = dict(n_layers=32, d_model=4096, n_heads=32, n_kv_heads=8, head_dim=128, d_ff=14336,
                vocab_size=128256, norm="rmsnorm", norm_bias=False, gated_mlp=True)
LAYOUTS = {  # name: (architecture, tp, pp, dp)
    "405B-like": (Architecture(name="405B-like", **{**LLAMA_8B, "n_layers": 128, "d_model": 16384,
                                                   "n_heads": 128, "d_ff": 53248}), 8, 16, 8),
    "Llama-2-70B": (Architecture(name="Llama-2-70B", n_layers=80, d_model=8192, n_heads=64, n_kv_heads=8,
                                 d_ff=28672, vocab_size=32000, norm="rmsnorm", norm_bias=False), 8, 4, 16),
}


@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("zero", [ZeroStage.NONE, ZeroStage.OPTIMIZER])
def test_megatron_weights_and_optimizer(name, zero):
    """18 bytes per parameter (bf16 weights, fp32 main grads, fp32 main weights and Adam), or
    6 + 12/dp with the distributed optimizer (ZeRO-1), on the most loaded shard: the first
    stage's layers and the embedding, on one TP rank. The 405B-like model has 128 layers so that
    pp = 16 divides them, as Megatron's formula assumes."""
    arch, tp, pp, dp = LAYOUTS[name]
    theirs, their_layer = megatron_weight_and_optimizer_bytes(
        h=arch.d_model, L=arch.n_layers, a=arch.n_heads, groups=arch.n_kv_heads, kv_channels=arch.head_dim,
        ffn=arch.d_ff, V=arch.vocab_size, tp=tp, pp=pp, dp=dp,
        distributed_optimizer=zero is ZeroStage.OPTIMIZER)
    layer = layer_part(arch, routed=False).value
    assert layer == their_layer
    rank_params = (len(stage_layers(arch.n_layers, pp)[0]) * layer + embedding_part(arch).value) // tp
    states = ModelStates(weights=2 * rank_params, gradients=4 * rank_params,
                         optimizer_states=12 * rank_params)
    ours = on_gpu(states, Layout(dp=dp, tp=tp, pp=pp, zero=zero))
    assert ours == pytest.approx(theirs, rel=1e-6)  # Megatron also puts 1/pp of the final norm here


MEGATRON_ACT = {  # name: (h, a, L, tp, pp, vpp, s)
    "405B-like": (16384, 128, 128, 8, 16, 1, 8192),
    "405B-like interleaved": (16384, 128, 128, 8, 16, 2, 8192),
    "70B-like": (8192, 64, 80, 8, 4, 1, 4096),
    "70B-like interleaved": (8192, 64, 80, 8, 4, 5, 4096),
}


@pytest.mark.parametrize("name", MEGATRON_ACT)
@pytest.mark.parametrize("sp_selective", [True, False])
@pytest.mark.parametrize("m_over_p", [0.5, 1, 2, 4])
def test_megatron_first_stage_activations(name, sp_selective, m_over_p):
    """Ours: Table 2 per layer × the first stage's layers × in-flight micro-batches; Megatron: per
    layer × L × its schedule factor. GPT-style MLP (ffn = 4h) so both per-layer rows coincide.
    With vpp > 1 and m = pp Megatron's schedule runs every micro-batch as warm-up and holds pp of
    them, while the theoretical factor says pp + (pp − 1)/vpp: we follow the schedule."""
    h, a, L, tp, pp, vpp, s = MEGATRON_ACT[name]
    m = int(m_over_p * pp)
    if vpp > 1 and m % pp:
        pytest.skip("the interleaved schedule refuses m not a multiple of pp (Megatron-Core, apex schedules)")
    par = Layout(tp=tp, sp=sp_selective, pp=pp, vpp=vpp)
    layer = korthikanti_layer_bytes(s, 1, h, a, tp, sp=sp_selective, recompute="selective")
    first = len(stage_layers(L, pp)[0])
    ours = layer * first * in_flight_microbatches(par, micro_batches=m)
    theirs = megatron_layer_activations(s=s, b=1, h=h, ffn=4 * h, L=L, tp=tp, pp=pp, vpp=vpp,
                                        micro_batches=m, sp_selective=sp_selective)
    if vpp > 1 and m == pp:
        # The theoretical formula and the schedule disagree here, and the schedule is what runs:
        # with m = pp every chunk-forward is warm-up (all_warmup_microbatches), so the first
        # stage holds m·vpp chunks of L/(pp·vpp) layers = L layers, not L·(1 + (pp−1)/(pp·vpp)).
        held = layer * L * megatron_first_stage_chunks(pp=pp, vpp=vpp, m=m) / (pp * vpp)
        assert ours == pytest.approx(held, rel=1e-12)
        assert ours < theirs
    else:
        assert ours == pytest.approx(theirs, rel=1e-12)


def megatron_first_stage_chunks(*, pp, vpp, m, rank=0):
    """Chunk-micro-batches stage ``rank`` holds at its peak in Megatron-Core's
    ``forward_backward_pipelining_with_interleaving`` (megatron/core/pipeline_parallel/schedules.py):
    every one when m == pp (``all_warmup_microbatches``), else its warm-up forwards
    2(pp − rank − 1) + (vpp − 1)·pp, capped at m·vpp, and the one before its first backward."""
    total = m * vpp
    if m == pp:
        return total
    return min(min(2 * (pp - rank - 1) + (vpp - 1) * pp, total) + 1, total)


# --- pipeline and activation helpers ----------------------------------------------------------


def test_stage_layers_llama3_405b():
    """Llama 3 (Dubey et al. 2024 §3.3.2): 126 layers on 16 stages, one fewer on the first and
    the last."""
    stages = stage_layers(126, 16)
    assert [len(r) for r in stages] == [7] + [8] * 14 + [7]
    assert stages[0].start == 0 and stages[-1].stop == 126
    assert all(a.stop == b.start for a, b in zip(stages, stages[1:], strict=False))


@pytest.mark.parametrize("L, pp", [(32, 1), (32, 4), (33, 4), (35, 4), (7, 7), (80, 3)])
def test_stage_layers_cover_every_layer_once(L, pp):
    stages = stage_layers(L, pp)
    assert sum(len(r) for r in stages) == L and len(stages) == pp
    assert max(len(r) for r in stages) - min(len(r) for r in stages) <= 1
    assert len(stages[0]) == L // pp


def test_in_flight_microbatches_per_stage():
    par = Layout(pp=4)
    assert [in_flight_microbatches(par, micro_batches=8, stage=r) for r in range(4)] == [4, 3, 2, 1]
    assert in_flight_microbatches(par, micro_batches=2) == 2
    assert in_flight_microbatches(Layout(), micro_batches=64) == 1
    inter = Layout(pp=4, vpp=2)
    assert in_flight_microbatches(inter, micro_batches=8) == 4 + 3 / 2
    assert in_flight_microbatches(inter, micro_batches=4) == 4  # all warm-up
    with pytest.raises(ConfigError):
        in_flight_microbatches(par, micro_batches=0)


def test_activation_split():
    assert activation_split(Layout(tp=8, sp=True, cp=2), seq_len=8192) == ActivationSplit(4096, 8, 8)
    assert activation_split(Layout(tp=8), seq_len=8192) == ActivationSplit(8192, 8, 1)
    with pytest.raises(ConfigError, match="2·cp = 8"):
        activation_split(Layout(cp=4), seq_len=8196)
    with pytest.raises(ConfigError, match="--tp 8"):
        activation_split(Layout(tp=8, sp=True), seq_len=4100)


# --- PyTorch FSDP2 under FakeTensorMode -------------------------------------------------------

WIDTH, UNITS = 64, 4  # each unit: Linear(64, 256) → ReLU → Linear(256, 64), all dims divisible by 8
UNIT_PARAMS = 2 * WIDTH * 4 * WIDTH + 4 * WIDTH + WIDTH
PARAMS = UNITS * UNIT_PARAMS
TENSORS = UNITS * 4  # weight and bias of two Linears per unit


@pytest.fixture(scope="module")
def fsdp_run():
    pytest.importorskip("torch")
    import torch
    import torch.distributed as dist

    if not dist.is_available():
        pytest.skip("torch.distributed is not built")
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.fsdp2_mem_tracker import FSDPMemTracker, _FSDPModState
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    from torch.testing._internal.distributed.fake_pg import FakeStore

    def run(world: int, *, replicas: int = 1, bf16: bool = False, reshard: bool = True) -> dict:
        dist.init_process_group("fake", rank=0, world_size=world, store=FakeStore())
        try:
            shape = (replicas, world // replicas) if replicas > 1 else (world,)
            names = ("replicate", "shard") if replicas > 1 else None
            mesh = init_device_mesh("cpu", shape, mesh_dim_names=names)
            mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 \
                else MixedPrecisionPolicy()
            with FakeTensorMode():
                units = [torch.nn.Sequential(torch.nn.Linear(WIDTH, 4 * WIDTH), torch.nn.ReLU(),
                                             torch.nn.Linear(4 * WIDTH, WIDTH)) for _ in range(UNITS)]
                model = torch.nn.Sequential(*units)
                for unit in model:
                    fully_shard(unit, mesh=mesh, mp_policy=mp, reshard_after_forward=reshard)
                fully_shard(model, mesh=mesh, mp_policy=mp, reshard_after_forward=reshard)
                optim = torch.optim.AdamW(model.parameters(), foreach=False)
                x = torch.randn(64, WIDTH)
                tracker = FSDPMemTracker(model, optim)
                tracker.track_inputs((x,))
                with tracker:
                    for step in range(2):  # the second step starts with optimizer states
                        if step:
                            tracker.reset_mod_stats()
                        optim.zero_grad(set_to_none=False)
                        model(x).sum().backward()
                        optim.step()
                def named(snapshot: dict) -> dict[str, int]:  # the one device's categories
                    return {getattr(k, "name", k): v for k, v in next(iter(snapshot.values())).items()}

                def at(unit, state) -> dict[str, int]:
                    return named(tracker.memory_tracking[unit].snapshots[state][-1])

                return {"current": named(tracker.get_tracker_snapshot("current")),
                        "between": at(model[-1], _FSDPModState.BEF_PRE_BW),  # forward done
                        "unit_peaks": [at(unit, state) for unit in model
                                       for state in (_FSDPModState.PEAK_FW, _FSDPModState.PEAK_BW)]}
        finally:
            dist.destroy_process_group()

    return run


FP32_STATES = ModelStates(weights=4 * PARAMS, gradients=4 * PARAMS, optimizer_states=8 * PARAMS)


@pytest.mark.parametrize("world", [4, 8])
def test_fsdp_full_shard_states_match_fsdp_mem_tracker(fsdp_run, world):
    """FSDP2 keeps fp32 sharded parameters, fp32 sharded gradients and AdamW's two moments per
    shard; AdamW also keeps one 4-byte ``step`` scalar per parameter tensor (foreach=False)."""
    snap = fsdp_run(world)["current"]
    w, g, o, h = per_gpu_model_states(FP32_STATES, par=Layout(dp=world, fsdp=FsdpStrategy.FULL_SHARD))
    assert snap["SHARDED_PARAM"] == w.value
    assert snap["SHARDED_GRAD"] == g.value
    assert snap["OPT"] - 4 * TENSORS == o.value
    assert h.value == 0


COMM = ("ALL_GATHER", "REDUCE_SCATTER", "UNSHARDED_GRAD")


@pytest.mark.parametrize("bf16", [False, True])
def test_fsdp_full_shard_buffers_match_fsdp_mem_tracker(fsdp_run, bf16):
    """The largest communication footprint at any unit's forward or backward peak: the unsharded
    unit plus all-gather outputs and reduce-scatter inputs (reduce_dtype fp32 here)."""
    peaks = fsdp_run(8, bf16=bf16)["unit_peaks"]
    measured = max(p["UNSHARDED_PARAM"] + sum(p[k] for k in COMM) for p in peaks)
    ours = comm_buffers(Layout(dp=8, fsdp=FsdpStrategy.FULL_SHARD), bucket_params=UNIT_PARAMS,
                        bits=16 if bf16 else 32, reduce_bits=32)
    assert measured == ours.value


def test_fsdp_hybrid_shard_matches_fsdp_mem_tracker(fsdp_run):
    snap = fsdp_run(8, replicas=2)["current"]  # 2 replicas × 4-way shard groups
    par = Layout(dp=8, fsdp=FsdpStrategy.HYBRID_SHARD, hybrid_group=4)
    w, g, o, _ = per_gpu_model_states(FP32_STATES, par=par)
    measured = (snap["SHARDED_PARAM"], snap["SHARDED_GRAD"], snap["OPT"] - 4 * TENSORS)
    assert measured == (w.value, g.value, o.value)


def test_fsdp_shard_grad_op_matches_fsdp_mem_tracker(fsdp_run):
    """reshard_after_forward=False: between forward and backward every unit is unsharded."""
    result = fsdp_run(4, reshard=False)
    between = result["between"]
    w, *_ = per_gpu_model_states(FP32_STATES, par=Layout(dp=4, fsdp=FsdpStrategy.SHARD_GRAD_OP))
    assert between["SHARDED_PARAM"] + between["UNSHARDED_PARAM"] == w.value
    buffers = comm_buffers(Layout(dp=4, fsdp=FsdpStrategy.SHARD_GRAD_OP), bucket_params=UNIT_PARAMS,
                           bits=32)
    assert max(sum(p[k] for k in COMM) for p in result["unit_peaks"]) == buffers.value
