"""llama.cpp single stream: prompt processing (pp) and token generation (tg), with partial offload.

``llama-bench -p 512 -n 128`` prints two rates: ``pp512``, a 512-token prompt in ubatches of
``-ub`` tokens, and ``tg128``, 128 tokens generated one at a time from an empty context. With
``-ngl N`` the last N blocks live on the GPU, the rest in host RAM (``inference/llamacpp.py``
mirrors llama-model.cpp's placement; the output layer goes to the GPU only when N > L)::

                 GPU (η_bw·BW)                         host (η_host·BW_host)
    tg step   Σ_gpu layers (W_l + KV_l) / (η_bw·BW) + Σ_cpu layers (W_l + KV_l) / (η_host·BW_host)
              + T_fixed                                 (roofline.py: memory-bound at batch 1;
                                                         MoE layers read k of N experts)
    pp        Σ_ubatches  max(FLOPs_u / (η_f·F), W_gpu / (η_bw·BW))          compute-bound
              + W_cpu(u) / (η_link·BW_pcie)   when u ≥ 32: ggml's scheduler runs the CPU
                                                layers' matmuls on the GPU, copying their weights
              + max(FLOPs_cpu / F_host, W_cpu / (η_host·BW_host))   when u < 32 (stay on the CPU)
    TTFT      the prompt's time: its last ubatch yields the first token's logits

Which peak F the GPU's matmuls run at (the "compute dtype"):

- NVIDIA with int8 tensor cores, quantized GGUF weights: MMQ, int8 MMA on the weights' integer
  values against q8_1-quantized activations (``ggml/src/ggml-cuda/mmq.cu``
  ``ggml_cuda_should_use_mmq``: every k-quant/legacy type, ``if (int8_mma_available(cc)) return
  true``), so F is the dense int8 tensor peak and η_f is ``mmq_mfu``.
- F16/BF16 weights, AMD CDNA past 64 tokens, GPUs without int8 in the catalog: dequantize to
  fp16 and cuBLAS/hipBLAS GEMM, F the fp16/bf16 peak, η_f ``prefill_mfu``.
- Apple: Metal's simdgroup matmuls at the GPU's ALU rate (fp16 = fp32 rate), η_f ``prefill_mfu``.

The offload rule: ``ggml/src/ggml-cuda/ggml-cuda.cu`` ``ggml_backend_cuda_device_offload_op``
returns ``get_op_batch_size(op) >= 32`` (``min_batch_size``; ne[1] of a MUL_MAT, ne[2] of a
MUL_MAT_ID), and ``ggml/src/ggml-backend.cpp`` ``ggml_backend_sched_backend_id_from_cur`` then
moves an op whose weights sit in host memory to the GPU, copying the weights (``--no-op-offload``
turns this off). On unified memory (Apple: the catalog's host link is None) there is nothing to
copy and no slow side: every layer runs at the GPU's bandwidth whatever ``-ngl`` says.

Host defaults (overridable): ``HOST_BANDWIDTH_BYTES_PER_S`` and ``HOST_MATMUL_FLOPS_PER_S`` below.
Left out: the CPU's own work in a partially offloaded step (norms, attention of CPU layers:
small next to the weights), the two activation copies per token across PCIe, multi-GPU splits,
``--override-tensor`` / ``-ncmoe`` expert placement, KV cache kept on the host (``-nkvo``),
speculative decoding. The KV cache is split evenly over the layers (windows ignored).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arch import Architecture
from ..formats.dtypes import WeightFormat, parse_format
from ..formats.tensors import tensor_bytes
from ..hardware.catalog import Gpu
from ..inference.llamacpp import gpu_layer_count, on_gpu
from ..tree import Part, group, leaf
from .efficiency import Efficiency, PerfError, efficiency
from .figures import Figure, Performance, band
from .roofline import experts_touched
from .traffic import Traffic, compile_traffic

ENGINE = "llamacpp"
NS = 1e9
KV_DTYPE = "fp16"  # llama.cpp's default -ctk/-ctv f16 (common/arg.cpp)
N_BATCH, N_UBATCH = 2048, 512  # llama.cpp's -b / -ub defaults (common/arg.cpp)
UNQUANTIZED_GGUF = ("F32", "F16", "BF16")  # not in ggml_cuda_should_use_mmq's list: cuBLAS instead
OP_OFFLOAD_MIN_BATCH = 32  # ggml-cuda.cu ggml_backend_cuda_device_offload_op: min_batch_size
# Host DRAM, nominal: DDR5-5600 in two channels, 2 × 8 bytes × 5.6e9 transfers/s = 89.6 GB/s
# (JEDEC JESD79-5 data rate × a 64-bit channel; a typical desktop, llmfit and the planning notes
# put dual-channel DDR5 at ~80-90 GB/s). η_host (efficiency.json) scales it.
HOST_BANDWIDTH_BYTES_PER_S = 2 * 8 * 5600e6
# FLOP/s llama.cpp's CPU matmuls reach on a desktop CPU, effective (no η applied): a 13900K ran
# LLaMA-7B pp512 at 55.21 t/s on 32 threads (llama.cpp#34, slaren), × 13.3 GFLOP/token.
HOST_MATMUL_FLOPS_PER_S = 0.73e12


@dataclass(frozen=True)
class Host:
    """The CPU side of a partially offloaded model: nominal DRAM bandwidth and matmul rate."""

    bandwidth_bytes_per_s: float = HOST_BANDWIDTH_BYTES_PER_S
    matmul_flops_per_s: float = HOST_MATMUL_FLOPS_PER_S


@dataclass(frozen=True)
class Block:
    """One repeating block as llama.cpp reads it: its non-expert bytes, all its routed experts'
    bytes, and the matrix parameters one token passes through (experts at k of N)."""

    dense_bytes: int
    expert_bytes: int
    active_params: float


@dataclass(frozen=True)
class LlamaCppCosts:
    """An architecture in a format, per block: what ``-ngl`` moves between GPU and host.
    ``traffic`` gives the KV cache and attention FLOPs; the blocks plus the output layer hold
    every byte ``traffic`` reads (a test checks the sums agree)."""

    traffic: Traffic
    fmt: WeightFormat
    blocks: tuple[Block, ...]
    output_bytes: int  # output norm + head (a tied head reads token_embd)
    output_params: int

    def block_bytes(self, il: int, tokens: int) -> float:
        """Weights block ``il`` reads for ``tokens`` tokens: dense + experts touched (k at one token)."""
        b, moe = self.blocks[il], self.traffic.arch.moe
        if not b.expert_bytes or not moe:
            return float(b.dense_bytes)
        touched = experts_touched(moe.n_experts, moe.top_k, tokens)
        return b.dense_bytes + b.expert_bytes * touched / moe.n_experts

    def block_flops(self, il: int, tokens: int, context: int) -> float:
        """Forward FLOPs of ``tokens`` tokens in block ``il``: 2·P_active + attention over the
        context (``traffic.attention_flops`` shared evenly over the blocks)."""
        attention = self.traffic.attention_flops(context) / len(self.blocks)
        return tokens * (2 * self.blocks[il].active_params + attention)

    def kv_bytes(self, context: int) -> float:
        """One block's share of the KV cache one token reads at ``context``."""
        return self.traffic.kv_bytes(1, context) / len(self.blocks)


def compile_costs(arch: Architecture, fmt: WeightFormat | str) -> LlamaCppCosts:
    """Per-block bytes and parameters from the tensor list priced in ``fmt`` (GGUF mixtures per
    tensor, ``formats.tensors``); the input embedding is a lookup, never read whole."""
    fmt = parse_format(fmt) if isinstance(fmt, str) else fmt
    moe, n = arch.moe, arch.n_layers
    dense, expert, active = [0] * n, [0] * n, [0.0] * n
    out_bytes = out_params = 0
    share = moe.top_k / moe.n_experts if moe else 1.0
    for r in tensor_bytes(arch, fmt):
        s, il = r.spec, r.spec.layer
        if il is None:
            if s.role == "head" or (s.role == "norm" and "output" in s.name) or (
                    arch.tie_embeddings and s.name.startswith("token_embd")):
                out_bytes += r.total
                out_params += s.numel if s.is_matrix or s.role == "embedding" else 0
            continue
        if s.role == "expert":
            expert[il] += r.total
            active[il] += s.numel * share
            continue
        dense[il] += r.total
        active[il] += s.numel if s.is_matrix else 0
    blocks = tuple(Block(d, e, a) for d, e, a in zip(dense, expert, active, strict=True))
    return LlamaCppCosts(compile_traffic(arch, fmt, kv_dtype=KV_DTYPE), fmt, blocks, out_bytes, out_params)


# --- placement and rates --------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Which blocks (and whether the output layer) llama.cpp keeps in GPU memory for ``-ngl``."""

    on_gpu: tuple[bool, ...]
    output_on_gpu: bool
    unified: bool  # one memory: no host side, nothing crosses a link
    n_gpu_layers: int  # effective -ngl (L + 1: everything)

    @property
    def gpu_blocks(self) -> int:
        return sum(self.on_gpu)


def placement(n_layers: int, n_gpu_layers: int | None, gpu: Gpu) -> Placement:
    """``-ngl`` as llama-model.cpp places it (``inference.llamacpp.on_gpu``: the last N blocks,
    the output layer past L); on unified memory everything is at the GPU's bandwidth."""
    ngl = gpu_layer_count(n_layers, n_gpu_layers)
    if gpu.host_link_bytes_per_s is None:
        return Placement((True,) * n_layers, True, True, ngl)
    return Placement(tuple(on_gpu(il, n_layers, ngl) for il in range(n_layers)),
                     on_gpu(n_layers, n_layers, ngl), False, ngl)


def matmul_rate(fmt: WeightFormat, gpu: Gpu, eff: Efficiency) -> tuple[float, str]:
    """η_f · F of the GPU's prompt matmuls, and what it is (see the module docstring)."""
    quantized = fmt.kind == "gguf" and fmt.variant.upper() not in UNQUANTIZED_GGUF
    if quantized and gpu.vendor == "nvidia" and gpu.dense_tflops.get("int8"):
        return gpu.dense_tflops["int8"] * 1e12 * eff.mmq_mfu, f"int8 MMQ ({eff.mmq_mfu:.0%} of the int8 peak)"
    tflops = gpu.peak_tflops("bf16") or gpu.peak_tflops("fp32")
    if not tflops:
        raise PerfError(f"gpu {gpu.key}: no dense bf16/fp16/fp32 TFLOPS in the catalog to run prompt matmuls")
    return tflops * 1e12 * eff.prefill_mfu, f"fp16 dequantize + GEMM ({eff.prefill_mfu:.0%} of the fp16 peak)"


def _output(c: LlamaCppCosts, tokens: int) -> tuple[float, float]:
    """(bytes, FLOPs) of the output layer for ``tokens`` logits rows (llama-bench: the last only)."""
    return float(c.output_bytes), 2.0 * c.output_params * tokens


# --- token generation -------------------------------------------------------------------------


def tg_step(c: LlamaCppCosts, p: Placement, gpu: Gpu, eff: Efficiency, host: Host, *,
            context: int) -> tuple[float, str, Part]:
    """T_tg at ``context`` cached tokens: every block's weights and KV at its side's bandwidth,
    the output layer where it lives, plus the fixed per-token cost. Returns (s, bound, terms ns)."""
    gpu_bw = gpu.bandwidth_bytes_per_s * eff.bandwidth
    host_bw = host.bandwidth_bytes_per_s * eff.host_bandwidth
    kv = c.kv_bytes(context)
    on = [c.block_bytes(il, 1) + kv for il, g in enumerate(p.on_gpu) if g]
    off = [c.block_bytes(il, 1) + kv for il, g in enumerate(p.on_gpu) if not g]
    out = c.output_bytes
    gpu_s = (sum(on) + (out if p.output_on_gpu else 0)) / gpu_bw
    host_s = (sum(off) + (0 if p.output_on_gpu else out)) / host_bw
    fixed = eff.step_overhead_s
    out_gpu, out_host = " + output" * p.output_on_gpu, " + output" * (not p.output_on_gpu)
    terms = group("tg_step", [leaf(f"GPU: {len(on)} blocks{out_gpu}", round(gpu_s * NS)),
                              leaf(f"host: {len(off)} blocks{out_host}", round(host_s * NS)),
                              leaf("fixed per token", round(fixed * NS))])
    return gpu_s + host_s + fixed, "host" if host_s > gpu_s else "memory", terms


# --- prompt processing ------------------------------------------------------------------------


def pp_time(c: LlamaCppCosts, p: Placement, gpu: Gpu, eff: Efficiency, host: Host, *, n_prompt: int,
            n_ubatch: int = N_UBATCH, n_batch: int = N_BATCH,
            op_offload: bool = True) -> tuple[float, str, Part]:
    """T_pp of an ``n_prompt``-token prompt in ubatches of u = min(-ub, -b, n_prompt) tokens;
    (s, what binds, terms ns). Causal attention over the prompt is taken at its middle
    (``traffic.prefill_flops``); llama-bench asks logits of the last token only."""
    u = max(1, min(n_ubatch, n_batch, n_prompt))
    passes = -(-n_prompt // u)
    rate, _ = matmul_rate(c.fmt, gpu, eff)
    offloaded = p.unified or (op_offload and u >= OP_OFFLOAD_MIN_BATCH)
    runs_on_gpu = [g or offloaded for g in p.on_gpu]
    flops = [c.block_flops(il, n_prompt, n_prompt // 2) for il in range(len(c.blocks))]
    resident = sum(c.block_bytes(il, u) for il, g in enumerate(p.on_gpu) if g)
    copied = sum(c.block_bytes(il, u) for il, g in enumerate(p.on_gpu) if not g and runs_on_gpu[il])
    stay = [il for il, g in enumerate(runs_on_gpu) if not g]
    out_gpu, out_host = (c.output_bytes, 0) if p.output_on_gpu else (0, c.output_bytes)
    compute_s = sum(f for f, g in zip(flops, runs_on_gpu, strict=True) if g) / rate
    memory_s = passes * (resident + out_gpu) / (gpu.bandwidth_bytes_per_s * eff.bandwidth)
    gpu_s = max(compute_s, memory_s)
    link = (gpu.host_link_bytes_per_s or 0) * eff.link_efficiency
    copy_s = passes * copied / link if copied else 0.0
    host_bw = host.bandwidth_bytes_per_s * eff.host_bandwidth
    host_s = max(sum(flops[il] for il in stay) / host.matmul_flops_per_s,
                 passes * sum(c.block_bytes(il, u) for il in stay) / host_bw) + passes * out_host / host_bw
    parts = {"GPU compute" if compute_s >= memory_s else "GPU weights read": gpu_s,
             "weights copied to the GPU (PCIe)": copy_s, "host blocks": host_s}
    bound = max(parts, key=lambda k: parts[k])
    first = f" ({passes} × {u}-token ubatch{'es' * (passes > 1)})"
    terms = group("pp", [leaf(name + first * (i == 0), round(v * NS))
                         for i, (name, v) in enumerate(parts.items())])
    label = {"GPU compute": "compute", "GPU weights read": "memory", "host blocks": "host"}
    return gpu_s + copy_s + host_s, label.get(bound, "communication"), terms


# --- the figures ------------------------------------------------------------------------------


def llamacpp_performance(arch: Architecture, fmt: WeightFormat | str, gpu: Gpu, *,
                         n_gpu_layers: int | None = None, n_prompt: int = 512, n_gen: int = 128,
                         host_bandwidth_bytes_per_s: float | None = None, eff: Efficiency | None = None,
                         host_flops_per_s: float | None = None, n_ubatch: int = N_UBATCH,
                         n_batch: int = N_BATCH, op_offload: bool = True) -> Performance:
    """llama-bench's ``pp{n_prompt}`` and ``tg{n_gen}`` for ``arch`` in ``fmt`` on ``gpu`` with
    ``-ngl n_gpu_layers`` (None: all), and the prompt's time as TTFT. tg is taken at the middle
    of its ``n_gen`` tokens (llama-bench generates from an empty context)."""
    if min(n_prompt, n_gen) < 1:
        raise PerfError(f"n_prompt {n_prompt}, n_gen {n_gen}: each must be >= 1")
    if n_gpu_layers is not None and n_gpu_layers < 0:
        raise PerfError(f"n_gpu_layers {n_gpu_layers}: must be >= 0")
    eff = eff or efficiency(ENGINE, gpu.key)
    host = Host(host_bandwidth_bytes_per_s or HOST_BANDWIDTH_BYTES_PER_S,
                host_flops_per_s or HOST_MATMUL_FLOPS_PER_S)
    c = compile_costs(arch, fmt)
    p = placement(arch.n_layers, n_gpu_layers, gpu)
    pp_s, pp_bound, _ = pp_time(c, p, gpu, eff, host, n_prompt=n_prompt, n_ubatch=n_ubatch, n_batch=n_batch,
                                op_offload=op_offload)
    tg_s, tg_bound, terms = tg_step(c, p, gpu, eff, host, context=n_gen // 2)
    pp_band, tg_band = band("llamacpp_pp", ENGINE), band("llamacpp_tg", ENGINE)
    figures = {"pp_tokens_per_s": Figure(n_prompt / pp_s, "tokens/s", pp_band),
               "tg_tokens_per_s": Figure(1 / tg_s, "tokens/s", tg_band),
               "ttft_s": Figure(pp_s, "s", pp_band)}
    _, rate = matmul_rate(c.fmt, gpu, eff)
    side = ("unified memory: every layer at the GPU's bandwidth" if p.unified else
            f"-ngl {p.n_gpu_layers}: {p.gpu_blocks} of {arch.n_layers} blocks on the GPU, "
            f"output layer on the {'GPU' if p.output_on_gpu else 'host'}")
    notes = (side, f"prompt matmuls: {rate}; pp bound by {pp_bound}",
             f"host: {host.bandwidth_bytes_per_s / 1e9:.1f} GB/s DRAM, "
             f"{host.matmul_flops_per_s / 1e12:.2f} TFLOP/s matmuls "
             "(override with host_bandwidth_bytes_per_s, host_flops_per_s)")
    factors = eff.to_dict()
    return Performance(figures, tg_bound, terms, factors, notes)
