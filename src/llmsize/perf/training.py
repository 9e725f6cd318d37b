"""How long training takes: FLOPs per token, step time, MFU, tokens/s per GPU, GPU-hours and cost.

FLOPs per training token, whole model, from llmsize's own tensor list (not 6·P by hand)::

    C_fwd = 2·N_act + A(S)             N_act: active matrix parameters (``traffic.py``: every matrix
                                       a token passes through, routed experts at k of N, the head;
                                       not the embedding lookup; Kaplan et al. 2020, arXiv
                                       2001.08361 §2.1, C_forward ≈ 2N)
    A(S)  = Σ_attention layers 4·a·d_h·S̄   QKᵀ and A·V, 2·a·d_h per key each (PaLM, arXiv
                                       2204.02311 App. B); S̄ the keys a query sees on average
                                       under the causal mask: S/2, or w − w²/(2S) for a window w < S;
                                       MLA: 2·a·(d_qk + d_v)·S̄
    C     = C_fwd + C_bwd,  C_bwd = 2·C_fwd   (Kaplan et al. 2020 §2.1: backward ≈ 2× forward)
          = 6·N_act + 6·L·a·d_h·S  for a dense model without windows
    C_hw  = C + recompute:  full + C_fwd (8/6 of C),  selective + A(S), the attention core
            (Korthikanti et al. 2022, arXiv 2205.05198 §5)

Convention: the causal mask halves the S² term. torchtitan's ``6·N + 12·L·H·Q·T`` ("do not
account for sparsity in causal attention", ``torchtitan/models/utils.py``) and Megatron-LM's
``num_floating_point_operations`` (its ``s/h`` term) count the full S×S matrix, so their attention
term is twice ours; at 8K tokens on Llama 3 405B that is 4% of C. MFU counts C (model FLOPs, no
recompute: PaLM App. B); HFU counts C_hw.

Step time of a global batch of B_tok = dp · micro_batch · grad_accum · seq tokens on
G = dp·tp·pp·cp GPUs, per GPU (each formula below is one function)::

    T_step    = T_compute + T_bubble + T_tp + (1 − ω)·(T_dp + T_cp + T_pp)
    T_compute = B_tok · C_hw / (G · F · η)         η = ``train_mfu``: the compute's share of peak
    T_bubble  = (T_compute + T_tp) · (p − 1)/(v·m)  1F1B, m = grad_accum micro-batches, v = vpp
    T_tp      = m · (L/p) · n · allreduce(b·s/cp·d·2 bytes over t)   n = 4 (Megatron: 2 forward, 2
                backward), 6 with full recompute; always exposed
    T_dp      = data-parallel gradient all-reduce, or ZeRO's reduce-scatter + gathers (ZeRO §7)
    T_cp      = ring attention's K and V passes (and their gradients) over cp
    T_pp      = activations and their gradients sent to the next stage, 2·v·m sends
    tokens/s per GPU = B_tok / (T_step · G);   MFU = tokens/s per GPU · C / F

η is not the published MFU: a published MFU already contains the bubble and the communication,
which are modelled here. With ω = 1, p = 1, t = 1 and no recompute, MFU = η exactly. Links: a
group whose GPUs fit in one scale-up domain (Megatron's rank order tp, cp, dp, pp from the
inside out) uses the scale-up link, else the NICs of its members in each node
(``inter_node_bytes_per_s`` each; ``group_link``), both times ``link_efficiency``.

Example, Llama 3 405B pre-training (arXiv 2407.21783 Table 4: 8,192 H100, TP8 CP1 PP16 DP64,
sequence 8,192, 32 sequences per data-parallel rank, 16M tokens a step; 430 TFLOPS, 43% MFU)::

    >>> from llmsize.hardware.lookup import gpu
    >>> from llmsize.layout import Layout
    >>> from llmsize.sources.resolve import resolve
    >>> from llmsize.training.estimate import TrainSpec
    >>> spec = TrainSpec(seq=8192, micro_batch=1, grad_accum=32, recipe="megatron",
    ...                  layout=Layout(dp=64, tp=8, sp=True, pp=16, zero=1))
    >>> p = training_performance(resolve("llama-3.1-405b").arch, spec, gpu("h100"), tokens=15.6e12)
    >>> round(p["mfu"], 2), round(p["tflops_per_gpu"]), round(p["gpu_hours"] / 1e6, 1)
    (0.28, 276, 39.7)

At the η of ``efficiency.json`` (0.46, fitted by ``validation/perf_calibration.py``) this
under-predicts the published 430 TFLOPS: the run interleaved its pipeline stages (v > 1, which
``Layout`` cannot express for 126 layers over 16 stages), so the 1F1B bubble here (32% of the
step) is too large for it. The numbers above change whenever the calibration refits η.

Left out: expert-parallel all-to-all, load imbalance across stages (the head and embedding on
end stages), document masking, FP8 training, failures and restarts (whole-run GPU-hours above the
steady-state step), state-space and linear-attention mixers' own FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..arch import Architecture
from ..formats.tensors import model_tensors
from ..hardware.catalog import Gpu
from ..training.estimate import TrainSpec, prepared
from ..tree import Part, group, leaf
from .efficiency import Efficiency, PerfError, efficiency
from .figures import Performance, banded
from .roofline import allreduce_s, pipeline_bubble
from .traffic import compile_traffic

ACT_BYTES = 2  # bf16 activations cross the tensor-, context- and pipeline-parallel links
NODE_GPUS = 8  # GPUs one server holds where no scale-up fabric joins them (PCIe cards)
NS = 1e9


# --- FLOPs per token ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StepFlops:
    """FLOPs per training token, whole model: forward, backward, and what recompute adds."""

    forward: float
    backward: float
    recompute: float
    attention: float  # A(S), the forward attention core (inside ``forward``)

    @property
    def model(self) -> float:
        """C: forward + backward, the MFU numerator."""
        return self.forward + self.backward

    @property
    def hardware(self) -> float:
        """C_hw: what the GPUs execute, recompute included (HFU)."""
        return self.model + self.recompute


def causal_keys(seq: int, window: int | None = None) -> float:
    """S̄, the keys a query attends to on average under a causal mask: S/2 (query i sees i of S,
    continuous form), or w − w²/(2S) when a sliding window w < S caps each query at w keys."""
    s, w = seq, window
    if w is None or w >= s:
        return s / 2
    return w - w * w / (2 * s)


def attention_flops_by_layer(arch: Architecture, seq: int) -> list[float]:
    """Forward attention-core FLOPs per token of each layer: 4·a·d_h·S̄ (QKᵀ and A·V, 2·a·d_h
    per key each; PaLM App. B), MLA 2·a·(d_qk + d_v)·S̄; 0 for layers without attention."""
    a, mla = arch, arch.mla
    per_key = 2 * a.n_heads * ((mla.qk_head_dim + mla.v_head_dim) if mla else 2 * a.head_dim)
    full, windowed = causal_keys(seq), causal_keys(seq, a.sliding_window)
    keys = {"full": full, "parallel": full, "sliding": windowed}
    return [per_key * keys.get(t, 0.0) for t in a.layer_types]


@lru_cache(maxsize=64)
def active_matrix_params(arch: Architecture) -> float:
    """N_act: the matrix parameters one token passes through (routed experts at k of N, the
    head), from the tensor list (``traffic.compile_traffic``)."""
    return compile_traffic(arch, "bf16").matmul_flops_per_token / 2


def full_training_flops(arch: Architecture, *, seq: int, recompute: str = "none") -> StepFlops:
    """C_fwd = 2·N_act + A(S); C_bwd = 2·C_fwd (Kaplan et al. 2020 §2.1); recompute: full adds
    C_fwd, selective the attention core A(S) (Korthikanti et al. 2022 §5)."""
    n, attn = active_matrix_params(arch), sum(attention_flops_by_layer(arch, seq))
    fwd = 2 * n + attn
    extra = {"none": 0.0, "selective": attn, "full": fwd}[recompute]
    return StepFlops(forward=fwd, backward=2 * fwd, recompute=extra, attention=attn)


def _layer_matrix_params(arch: Architecture) -> dict[int, float]:
    """Active matrix parameters of each decoder layer (routed experts at k of N)."""
    moe = arch.moe
    out: dict[int, float] = {}
    for t in model_tensors(arch):
        if t.layer is None or not t.is_matrix or t.role == "vision":
            continue
        share = moe.top_k / moe.n_experts if moe and t.role == "expert" else 1.0
        out[t.layer] = out.get(t.layer, 0.0) + t.numel * share
    return out


def finetune_flops_per_token(arch: Architecture, spec: TrainSpec) -> StepFlops:
    """FLOPs per token of a LoRA / QLoRA step (``spec.lora``), whole model.

    A linear y = x·Wᵀ costs 2 FLOPs per weight for the forward, 2 for the input gradient
    dx = dy·W and 2 for the weight gradient dW = dyᵀ·x: the 2 : 4 forward : backward split of
    Kaplan et al. 2020 §2.1. LoRA freezes W: "we do not need to calculate the gradients or
    maintain the optimizer states for most parameters" (Hu et al. 2021, arXiv 2106.09685 §4.2),
    so every frozen matrix does 2 + 2 and no weight gradient; the adapters A and B do all
    2 + 2 + 2 at their own size r·(d_in + d_out) (``lora.adapter_tensors``). Below the lowest
    adapted layer nothing needs a gradient (the embedding output needs none): those layers run
    the forward only. The attention core of the other layers runs forward and backward. So::

        C_fwd = 2·N_act + A + 2·N_lora
        C_bwd = 2·(N_act − N_below) + 2·(A − A_below) + 4·N_lora    ≈ 2/3 of 6·N_act for small r

    QLoRA dequantizes each 4-bit matrix to bf16 before its forward and input-gradient matmuls;
    that is elementwise, memory-bound work, not matmul FLOPs, and is not counted (its time
    shows as a lower η on QLoRA runs)."""
    from ..training.lora import adapter_params, adapter_tensors

    if spec.lora is None:
        raise PerfError("finetune_flops_per_token: the spec has no LoRA adapters (--lora-rank)")
    lora = spec.lora
    n, n_lora = active_matrix_params(arch), adapter_params(arch, lora)
    attn = attention_flops_by_layer(arch, spec.seq)
    first = min((t.layer for t in adapter_tensors(arch, lora) if t.layer is not None), default=0)
    per_layer = _layer_matrix_params(arch)
    n_below = sum(v for layer, v in per_layer.items() if layer < first)
    a_below = sum(attn[:first])
    fwd = 2 * n + sum(attn) + 2 * n_lora
    bwd = 2 * (n - n_below) + 2 * (sum(attn) - a_below) + 4 * n_lora
    extra = {"none": 0.0, "selective": sum(attn), "full": fwd}[spec.recompute]
    return StepFlops(forward=fwd, backward=bwd, recompute=extra, attention=sum(attn))


def training_flops(arch: Architecture, spec: TrainSpec) -> StepFlops:
    """The step's FLOPs per token: a LoRA step when ``spec.lora`` is set, else full training."""
    if spec.lora is not None:
        return finetune_flops_per_token(arch, spec)
    return full_training_flops(arch, seq=spec.seq, recompute=spec.recompute)


# --- time --------------------------------------------------------------------------------------


def compute_s(*, tokens: float, flops_per_token: float, gpus: int, flops_per_s: float, eta: float) -> float:
    """T_compute = B_tok · C_hw / (G · F · η): the step's FLOPs spread evenly over G GPUs, each
    reaching η of its dense peak F (Narayanan et al. 2021, arXiv 2104.04473 §5.1, Eq. 3 read
    the other way: training time ≈ 8·T·P / (n·X), X the achieved FLOP/s per GPU)."""
    return tokens * flops_per_token / (gpus * flops_per_s * eta)


def bubble_s(busy_s: float, *, stages: int, micro_batches: int, interleave: int = 1) -> float:
    """T_bubble = T_busy · (p − 1)/(v·m): a 1F1B pipeline idles (p − 1)/(v·m) of its busy time
    (Narayanan et al. 2021 §2.2; ``roofline.pipeline_bubble`` b is the same as a share of the
    whole step: b/(1 − b) = (p − 1)/(v·m))."""
    b = pipeline_bubble(stages, micro_batches, interleave)
    return busy_s * b / (1 - b)


def group_link(gpu: Gpu, eff: Efficiency, *, inner: int, size: int) -> float:
    """The one-way rate per GPU of a ring collective over a parallel group of ``size`` GPUs whose
    ranks lie ``inner`` apart (Megatron order tp, cp, dp, pp), × link efficiency:

    - the group fits one scale-up domain (inner·size GPUs): the scale-up link;
    - PCIe cards in one server (no scale-up fabric, inner·size ≤ 8): the host link;
    - else the NICs: NCCL runs one ring channel per NIC and each channel crosses a node once,
      so a group with k = node GPUs / inner members in each node moves k NICs' worth,
      k · ``inter_node_bytes_per_s``, capped by the scale-up link (DERIVED; nccl-tests
      ``doc/PERFORMANCE.md`` bus bandwidth; a data-parallel group strided by tp = 8 has k = 1)."""
    span, node = inner * size, gpu.scale_up_domain if gpu.scale_up_domain > 1 else NODE_GPUS
    if gpu.scale_up_bytes_per_s and span <= gpu.scale_up_domain:
        rate = float(gpu.scale_up_bytes_per_s)
    elif span <= NODE_GPUS and gpu.host_link_bytes_per_s and gpu.scale_up_domain == 1:
        rate = float(gpu.host_link_bytes_per_s)
    else:
        per_node = max(1, min(size, node // inner))
        intra = gpu.scale_up_bytes_per_s or gpu.host_link_bytes_per_s or eff.inter_node_bytes_per_s
        rate = min(per_node * eff.inter_node_bytes_per_s, float(intra))
    return rate * eff.link_efficiency


def tp_comm_s(arch: Architecture, spec: TrainSpec, gpu: Gpu, eff: Efficiency) -> float:
    """T_tp = m · (L/p) · n · allreduce(b·(s/cp)·d·2 bytes over t): n = 4 all-reduces per layer
    and micro-batch, 2 forward and 2 backward (Shoeybi et al. 2019, arXiv 1909.08053 §3, Fig. 4);
    6 when full recompute repeats the forward. Sequence parallelism swaps each for a
    reduce-scatter + all-gather of the same volume (Korthikanti et al. 2022 §4.2.2)."""
    lay = spec.layout
    if lay.tp <= 1:
        return 0.0
    n = 6 if spec.recompute == "full" else 4
    msg = spec.micro_batch * spec.seq / lay.cp * arch.d_model * ACT_BYTES
    link = group_link(gpu, eff, inner=1, size=lay.tp)
    one = allreduce_s(message_bytes=msg, ranks=lay.tp, link_bytes_per_s=link,
                      latency_s=eff.allreduce_latency_s)
    return spec.grad_accum * arch.n_layers / lay.pp * n * one


def dp_comm_s(arch: Architecture, spec: TrainSpec, gpu: Gpu, eff: Efficiency) -> float:
    """T_dp over the g = dp·cp data-parallel GPUs, Ψ parameters per GPU (÷ tp·pp, experts ÷ ep),
    ring collectives moving (g − 1)/g of the buffer (ZeRO, Rajbhandari et al. 2019, arXiv
    1910.02054 §7: DP and ZeRO-1/2 move 2Ψ, ZeRO-3 3Ψ)::

        plain DP     all-reduce of the gradients once a step          2·(g−1)/g · Ψ·grad bytes
        ZeRO-1/2     reduce-scatter the gradients, all-gather the      (g−1)/g · Ψ·(grad + weight bytes)
                     updated weights (Megatron's distributed optimizer)
        ZeRO-3/FSDP  reduce-scatter the gradients; the weights are     (g−1)/g · Ψ·(grad + 2·m·weight bytes)
                     all-gathered for the forward and again for the
                     backward of each of the m micro-batches

    LoRA reduces only the adapters' gradients; its ZeRO-3 gathers the frozen base too. With
    pipeline stages, FSDP keeps the gathered weights across the micro-batches (torchtitan's
    default ``reshard_after_forward_policy``: reshard only when PP is off) and gathers once."""
    lay = spec.layout
    g = lay.data_parallel
    if g <= 1:
        return 0.0
    psi, trainable = _params_per_gpu(arch, spec)
    prec = spec.precision
    grad_bits = spec.lora.adapter_bits if spec.lora is not None else prec.grad_bits
    grad_b, weight_b = trainable * grad_bits / 8, psi * prec.weight_bits / 8
    ring = (g - 1) / g
    if lay.shard_level == 0:
        volume = 2 * ring * grad_b
    elif lay.shard_level < 3:
        volume = ring * (grad_b + trainable * prec.weight_bits / 8)
    else:
        gathers = 1 if lay.pp > 1 else 2 * spec.grad_accum
        volume = ring * (grad_b + gathers * weight_b)
    return volume / group_link(gpu, eff, inner=lay.tp * lay.cp, size=g)


@lru_cache(maxsize=64)
def _param_counts(arch: Architecture) -> tuple[int, int]:
    """(all parameters, routed-expert parameters) of ``arch``: one walk of its tensor list per
    architecture (a plan times a thousand layouts of one model)."""
    tensors = model_tensors(arch)
    return sum(t.numel for t in tensors), sum(t.numel for t in tensors if t.role == "expert")


def _params_per_gpu(arch: Architecture, spec: TrainSpec) -> tuple[float, float]:
    """(Ψ, Ψ_trainable): the parameters one tensor-parallel rank of one stage holds."""
    lay = spec.layout
    total, expert = _param_counts(arch)
    psi = (total - expert + expert / lay.ep) / (lay.tp * lay.pp)
    from ..training.estimate import trainable_params

    trainable = trainable_params(arch, spec)
    if spec.lora is None:  # a text-only step leaves a multimodal model's towers without gradients
        return psi, psi * trainable / total
    return psi, trainable / (lay.tp * lay.pp)


def cp_comm_s(arch: Architecture, spec: TrainSpec, gpu: Gpu, eff: Efficiency) -> float:
    """T_cp: ring attention passes every other rank's K and V chunk around the cp group in the
    forward, and K, V and their gradients in the backward: 3·(cp − 1)/cp · b·s·2·k·d_h·2 bytes
    per attention layer and micro-batch (Megatron-Core context parallelism; Liu et al. 2023,
    arXiv 2310.01889, Ring Attention)."""
    lay = spec.layout
    if lay.cp <= 1:
        return 0.0
    a = arch
    kv_width = (a.mla.kv_lora_rank + a.mla.qk_rope_head_dim) if a.mla else 2 * a.n_kv_heads * a.head_dim
    layers = sum(t in ("full", "parallel", "sliding") for t in a.layer_types) / lay.pp
    volume = 3 * (lay.cp - 1) / lay.cp * spec.micro_batch * spec.seq * kv_width * ACT_BYTES / lay.tp
    return spec.grad_accum * layers * volume / group_link(gpu, eff, inner=lay.tp, size=lay.cp)


def pp_comm_s(arch: Architecture, spec: TrainSpec, gpu: Gpu, eff: Efficiency) -> float:
    """T_pp: each micro-batch's activations go to the next stage and their gradients come back,
    2·v·m sends of b·(s/cp)·d·2 bytes (÷ t with sequence parallelism) per GPU (Narayanan et al.
    2021 §4.1)."""
    lay = spec.layout
    if lay.pp <= 1:
        return 0.0
    msg = spec.micro_batch * spec.seq / lay.cp * arch.d_model * ACT_BYTES / (lay.tp if lay.sp else 1)
    link = group_link(gpu, eff, inner=lay.tp * lay.cp * lay.dp, size=lay.pp)
    return 2 * lay.vpp * spec.grad_accum * (eff.allreduce_latency_s + msg / link)


# --- the result --------------------------------------------------------------------------------


def tokens_per_step(spec: TrainSpec) -> int:
    """B_tok = dp · micro_batch · grad_accum · seq (cp splits each sequence, adds none)."""
    return spec.layout.dp * spec.micro_batch * spec.grad_accum * spec.seq


def step_terms(arch: Architecture, spec: TrainSpec, gpu: Gpu, eff: Efficiency, flops: StepFlops, *,
               compute_dtype: str = "bf16") -> Part:
    """T_step's terms in nanoseconds, a tree whose parts sum to the step (module docstring)."""
    lay, f = spec.layout, _peak(gpu, compute_dtype)
    tokens = tokens_per_step(spec)
    model = compute_s(tokens=tokens, flops_per_token=flops.model, gpus=lay.gpus, flops_per_s=f,
                      eta=eff.train_mfu)
    redo = compute_s(tokens=tokens, flops_per_token=flops.recompute, gpus=lay.gpus, flops_per_s=f,
                     eta=eff.train_mfu)
    tp = tp_comm_s(arch, spec, gpu, eff)
    bubble = bubble_s(model + redo + tp, stages=lay.pp, micro_batches=spec.grad_accum, interleave=lay.vpp)
    exposed = (1 - eff.train_comm_overlap) * NS
    return group("step", [
        group("compute", [leaf("forward and backward", round(model * NS)),
                          leaf("recompute", round(redo * NS))]),
        leaf("pipeline bubble", round(bubble * NS)),
        leaf("tensor-parallel all-reduces", round(tp * NS)),
        leaf("data-parallel gradients, gathers (exposed)", round(exposed * dp_comm_s(arch, spec, gpu, eff))),
        leaf("context-parallel K/V passes (exposed)", round(exposed * cp_comm_s(arch, spec, gpu, eff))),
        leaf("pipeline sends (exposed)", round(exposed * pp_comm_s(arch, spec, gpu, eff))),
    ])


def _peak(gpu: Gpu, dtype: str) -> float:
    """F: the dense peak of the matmul dtype (fp8 for Float8 linears, torchao / Transformer Engine)."""
    tflops = gpu.peak_tflops(dtype)
    if not tflops:
        raise PerfError(f"gpu {gpu.key}: no dense {dtype} TFLOPS in the catalog")
    return tflops * 1e12


def training_performance(arch: Architecture, spec: TrainSpec, gpu: Gpu, *, tokens: float | None = None,
                         usd_per_gpu_hour: float | None = None, eff: Efficiency | None = None,
                         engine: str = "megatron", compute_dtype: str = "bf16") -> Performance:
    """Step time, tokens/s per GPU, MFU and TFLOPS per GPU (model FLOPs), and HFU, of ``spec``
    on ``spec.layout.gpus`` ``gpu``s with matmuls in ``compute_dtype`` (MFU against its peak);
    with ``tokens`` (D) the run's wall-clock time D / (tokens/s per GPU · G), its GPU-hours and,
    with ``usd_per_gpu_hour``, its cost."""
    spec = prepared(arch, spec)
    eff = eff or efficiency(engine, gpu.key)
    flops, peak = training_flops(arch, spec), _peak(gpu, compute_dtype)
    terms = step_terms(arch, spec, gpu, eff, flops, compute_dtype=compute_dtype)
    step, g = terms.value / NS, spec.layout.gpus
    per_gpu = tokens_per_step(spec) / (step * g)
    values = {"step_time_s": (step, "s"), "tokens_per_s_per_gpu": (per_gpu, "tokens/s"),
              "mfu": (per_gpu * flops.model / peak, ""),
              "tflops_per_gpu": (per_gpu * flops.model / 1e12, "TFLOP/s"),
              "hfu": (per_gpu * flops.hardware / peak, "")}
    if tokens is not None:
        if tokens <= 0:
            raise PerfError(f"--tokens {tokens:g}: must be a positive number of training tokens")
        seconds = tokens / (per_gpu * g)
        values |= {"time_s": (seconds, "s"), "gpu_hours": (seconds * g / 3600, "GPU-h")}
        if usd_per_gpu_hour is not None:
            values["cost_usd"] = (seconds * g / 3600 * usd_per_gpu_hour, "USD")
    comm = sum(p.value for p in terms.parts if p.name not in ("compute", "pipeline bubble"))
    bound = "communication" if comm > terms.parts[0].value else "compute"
    return Performance(banded("training", engine, values), bound, terms, eff.to_dict(), _notes(flops, spec))




def _notes(flops: StepFlops, spec: TrainSpec) -> tuple[str, ...]:
    share = 3 * flops.attention / flops.model
    notes = [f"{flops.model:.4g} model FLOPs per token (forward {flops.forward:.4g}, backward "
             f"{flops.backward:.4g}); attention {share:.1%} of it at {spec.seq:,} tokens, causal "
             "(torchtitan and Megatron-LM count twice this attention term)"]
    if flops.recompute:
        notes.append(f"{spec.recompute} recompute adds {flops.recompute:.4g} FLOPs per token: "
                     "in HFU and step time, not in MFU")
    if spec.lora is not None and spec.lora.base not in ("bf16", "fp16", "fp32"):
        notes.append(f"{spec.lora.base} base: dequantization before each frozen matmul is not counted "
                     "in FLOPs; it lowers the achieved η")
    return tuple(notes)

