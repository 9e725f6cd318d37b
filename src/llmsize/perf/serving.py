"""Serving speed: prefill, decode, time to first token, time per output token, throughput, cost.

One model replica on ``tp`` GPUs (tensor parallel) decodes a batch of B sequences at context c.
Per GPU (``traffic.py`` gives the bytes and FLOPs)::

    T_step(B, c) = max( B·(2·P_act + attn(c)) / t / (η_f,decode · F),
                        (W(B) + KV(B, c)) / (η_bw · BW) )                    roofline.py
                 + 2·L · allreduce(B·d·2 bytes over t GPUs)                   Megatron TP: 2 per layer
                 + T_fixed                                                    scheduling, launches
    TPOT = T_step;  decode tok/s (one sequence) = 1 / T_step(1, c);  aggregate = B / T_step(B, c)

    T_prefill(S) = Σ_chunks max( FLOPs(chunk) / t / (η_f,prefill · F), (W + KV) / (η_bw · BW) )
                 + 2·L · allreduce(chunk·d·2 bytes) + T_fixed,prefill
    TTFT = T_prefill(input) (no queueing)

An offline run of B requests of (input, output) tokens runs ``output`` steps whose forward
passes also carry the prompts' chunks (chunked prefill): each step takes max(decode compute +
1/output of the prefill compute, the bytes it reads), with the context growing from input to
input + output (evaluated at its middle); aggregate output rate = B·output / that time.
Pipeline stages (p) run one after another for a token: latency as one GPU's worth of stages
plus (p − 1) hops; more batches in flight would raise throughput, which this model does not
claim.

What is left out: queueing and scheduling policy (vidur, BLIS simulate them), prefill–decode
interference in mixed batches, speculative decoding, prefix caching, skewed expert routing
(uniform is the upper bound of experts touched).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..hardware.catalog import Gpu
from ..tree import Part, group, leaf
from .efficiency import Efficiency, PerfError
from .figures import Performance, banded
from .roofline import allreduce_s, critical_batch, littles_law_rate, roofline_s, usd_per_million_tokens
from .traffic import Traffic

ACT_BYTES = 2  # bf16/fp16 activations cross the all-reduce
NS = 1e9


@dataclass(frozen=True)
class Machine:
    """One replica's hardware: ``gpu`` × ``tp`` (× ``pp`` stages), the matmul dtype and the factors."""

    gpu: Gpu
    eff: Efficiency
    tp: int = 1
    pp: int = 1
    compute_dtype: str = "bf16"

    @property
    def flops_per_s(self) -> float:
        tflops = self.gpu.peak_tflops(self.compute_dtype) or self.gpu.peak_tflops("bf16")
        if not tflops:
            raise PerfError(f"gpu {self.gpu.key}: no dense {self.compute_dtype} TFLOPS in the catalog")
        return tflops * 1e12

    @property
    def link_bytes_per_s(self) -> float:
        """The one-way rate between the tp GPUs: the scale-up link, else the host link (PCIe)."""
        g = self.gpu
        rate = g.scale_up_bytes_per_s if g.scale_up_bytes_per_s and self.tp <= g.scale_up_domain else None
        return (rate or g.host_link_bytes_per_s or 32e9) * self.eff.link_efficiency


def compute_dtype(fmt_kind: str, gpu: Gpu) -> str:
    """The matmul dtype a format runs at: fp8 weights run fp8 GEMMs where the GPU has them (vLLM's
    W8A8 FP8 path); every weight-only format (int4/int8, GGUF, bnb, mxfp4 on older GPUs)
    dequantizes to bf16 first."""
    return "fp8" if fmt_kind == "fp8" and gpu.peak_tflops("fp8") else "bf16"


def _comm_s(t: Traffic, m: Machine, tokens: int) -> float:
    """Two all-reduces per layer of ``tokens`` × d activations (Megatron-LM, Shoeybi et al. 2019,
    arXiv 1909.08053 §3: one after attention, one after the MLP)."""
    if m.tp <= 1:
        return 0.0
    one = allreduce_s(message_bytes=tokens * t.arch.d_model * ACT_BYTES, ranks=m.tp,
                      link_bytes_per_s=m.link_bytes_per_s, latency_s=m.eff.allreduce_latency_s)
    return 2 * t.arch.n_layers * one


def _hops_s(t: Traffic, m: Machine, tokens: int) -> float:
    """(p − 1) stage-to-stage sends of ``tokens`` × d activations."""
    if m.pp <= 1:
        return 0.0
    return (m.pp - 1) * (m.eff.allreduce_latency_s + tokens * t.arch.d_model * ACT_BYTES / m.link_bytes_per_s)


def decode_knee(t: Traffic, m: Machine) -> float:
    """The batch past which a decode step's matmuls, not its weight reads, bound it: the critical
    batch at the factors ``m`` uses and the bytes per weight of ``t``'s active matrices."""
    return critical_batch(flops_per_s=m.flops_per_s * m.eff.decode_mfu,
                          bytes_per_s=m.gpu.bandwidth_bytes_per_s * m.eff.bandwidth,
                          bytes_per_weight=t.bytes_per_weight)


def decode_step(t: Traffic, m: Machine, *, batch: int, context: int) -> tuple[float, str, Part]:
    """T_step(B, c) in seconds, its binding side, and its terms in nanoseconds (a tree summing to it)."""
    flops = t.decode_flops(batch, context) / m.tp
    weights, kv = t.weight_bytes(batch), t.kv_bytes(batch, context)
    core, bound = roofline_s(flops=flops, bytes_read=weights + kv,
                             flops_per_s=m.flops_per_s * m.eff.decode_mfu,
                             bytes_per_s=m.gpu.bandwidth_bytes_per_s * m.eff.bandwidth)
    comm = _comm_s(t, m, batch) + _hops_s(t, m, batch)
    fixed = m.eff.step_overhead_s
    if bound == "memory":
        share = weights / (weights + kv) if weights + kv else 1.0
        core_part = group("memory", [leaf("weights read", round(core * share * NS)),
                                     leaf("KV cache read", round(core * (1 - share) * NS))])
    else:
        core_part = leaf("compute", round(core * NS))
    terms = group("decode_step", [core_part, leaf("communication", round(comm * NS)),
                                  leaf("fixed per step", round(fixed * NS))])
    if comm > core:
        bound = "communication"
    return core + comm + fixed, bound, terms


def offline_s(t: Traffic, m: Machine, *, batch: int, input_len: int, output_len: int) -> float:
    """Wall time of an offline run of ``batch`` requests of (input, output) tokens served
    together with chunked prefill: the prompts' chunks ride in the decode steps (BLIS models a
    mixed step as one forward pass: weights read once, compute summed), so each of the
    ``output_len`` steps takes max(decode compute + its share of the prefill compute, the
    decode's bytes) + communication + the fixed cost. While decode is memory-bound the prefill
    is nearly free; once the compute side binds, the prompts cost their FLOPs."""
    ctx = input_len + output_len // 2
    decode = t.decode_flops(batch, ctx) / m.tp / (m.flops_per_s * m.eff.decode_mfu)
    prefill = batch * t.prefill_flops(input_len) / m.tp / (m.flops_per_s * m.eff.prefill_mfu)
    bytes_read = t.weight_bytes(batch) + t.kv_bytes(batch, ctx)
    memory = bytes_read / (m.gpu.bandwidth_bytes_per_s * m.eff.bandwidth)
    step = max(decode + prefill / output_len, memory)
    return output_len * (step + _comm_s(t, m, batch) + _hops_s(t, m, batch) + m.eff.step_overhead_s)


def prefill_s(t: Traffic, m: Machine, *, tokens: int, chunk: int | None = None, batch: int = 1) -> float:
    """T_prefill of ``batch`` prompts of ``tokens`` each, run in forward passes of ``chunk``
    tokens (vLLM's max_num_batched_tokens; None: one prompt per pass). Every pass reads the
    weights the tokens it holds touch; the FLOPs are each prompt's own (causal attention
    within a prompt), spread evenly over the passes."""
    total_tokens = tokens * batch
    per_pass = max(1, min(chunk or tokens, total_tokens))
    passes = -(-total_tokens // per_pass)
    flops = batch * t.prefill_flops(tokens) / m.tp / passes
    bytes_read = t.weight_bytes(per_pass) + t.kv_bytes(1, tokens)
    core, _ = roofline_s(flops=flops, bytes_read=bytes_read, flops_per_s=m.flops_per_s * m.eff.prefill_mfu,
                         bytes_per_s=m.gpu.bandwidth_bytes_per_s * m.eff.bandwidth)
    return passes * (core + _comm_s(t, m, per_pass) + _hops_s(t, m, per_pass) + m.eff.prefill_overhead_s)


def serving_performance(t: Traffic, m: Machine, *, engine: str, input_len: int, output_len: int,
                        batch: int = 1, chunk: int | None = None, usd_per_gpu_hour: float | None = None,
                        target_rps: float | None = None) -> Performance:
    """Every serving figure for ``batch`` concurrent requests of (``input_len``, ``output_len``)."""
    if min(input_len, output_len, batch) < 1:
        raise PerfError(f"input_len {input_len}, output_len {output_len}, batch {batch}: each must be >= 1")
    mid = input_len + output_len // 2
    ttft = prefill_s(t, m, tokens=input_len, chunk=chunk)
    one, _, _ = decode_step(t, m, batch=1, context=mid)
    tpot, bound, terms = decode_step(t, m, batch=batch, context=mid)
    throughput = batch * output_len / offline_s(t, m, batch=batch, input_len=input_len, output_len=output_len)
    e2e = ttft + (output_len - 1) * tpot
    values = {
        "prefill_tokens_per_s": (input_len / ttft, "tokens/s"), "ttft_s": (ttft, "s"),
        "decode_tokens_per_s": (1 / one, "tokens/s"), "tpot_s": (tpot, "s"),
        "throughput_tokens_per_s": (throughput, "tokens/s"), "e2e_latency_s": (e2e, "s"),
        "requests_per_s": (littles_law_rate(concurrency=batch, latency_s=e2e), "requests/s"),
    }
    gpus = m.tp * m.pp
    if usd_per_gpu_hour is not None:
        values["usd_per_million_tokens"] = (usd_per_million_tokens(
            usd_per_gpu_hour=usd_per_gpu_hour, gpus=gpus, tokens_per_s=throughput), "USD")
    if target_rps is not None:
        values["replicas"] = (float(math.ceil(target_rps / values["requests_per_s"][0])), "replicas")
    figures = banded("serving", engine, values)
    knee = decode_knee(t, m)
    notes = (f"decode turns compute-bound near batch {knee:,.0f} on {m.gpu.key} "
             "(η_f·F / η_bw·BW per weight byte)",
             f"context taken at the middle of each request: {mid:,} tokens")
    return Performance(figures, bound, terms, m.eff.to_dict(), notes)


def throughput_curve(t: Traffic, m: Machine, *, input_len: int, output_len: int, max_batch: int,
                     chunk: int | None = None) -> list[dict[str, object]]:
    """Aggregate output tokens/s and TPOT at batch 1, 2, 4, … up to ``max_batch`` (the KV
    capacity): the curve rises ~linearly while memory-bound and flattens past the knee."""
    out, b = [], 1
    while True:
        b = min(b, max_batch)
        p = serving_performance(t, m, engine="*", input_len=input_len, output_len=output_len, batch=b,
                                chunk=chunk)
        out.append({"batch": b, "throughput_tokens_per_s": p["throughput_tokens_per_s"],
                    "tpot_s": p["tpot_s"], "bound": p.bound})
        if b >= max_batch:
            return out
        b *= 2
