"""The laws of the performance model: small formulas, each with its source.

A step of a transformer reads bytes (weights, KV cache) and does FLOPs; on a GPU it takes at
least the longer of the two at the rates the GPU reaches (the roofline, Williams et al. 2009,
CACM 52(4)). With F the dense peak, BW the HBM bandwidth and η their achieved shares::

    T_step = max( FLOPs / (η_f · F),  bytes / (η_bw · BW) ) + T_comm + T_fixed

A [B, d] × [d, f] matmul does 2·B·d·f FLOPs on d·f weights: about B FLOPs per weight byte at
2 bytes a weight, so decode is bandwidth-bound until the batch passes F/BW ("the critical
batch", 295 on an H100 SXM in bf16: 989 TFLOP/s / 3.35 TB/s; Scaling Book, "All About
Transformer Inference"). Prefill of S tokens is compute-bound for S past the same ratio.
"""

from __future__ import annotations


def roofline_s(*, flops: float, bytes_read: float, flops_per_s: float,
               bytes_per_s: float) -> tuple[float, str]:
    """T = max(FLOPs / F_eff, bytes / BW_eff), and which side binds ("compute" or "memory").
    Rates are already multiplied by their efficiency factors."""
    compute, memory = flops / flops_per_s, bytes_read / bytes_per_s
    return (compute, "compute") if compute > memory else (memory, "memory")


def critical_batch(*, flops_per_s: float, bytes_per_s: float, bytes_per_weight: float = 2.0) -> float:
    """The batch at which a decode matmul turns compute-bound: B* = F · (bytes per weight) / (2 · BW)
    (2·B FLOPs per weight read; Scaling Book, inference chapter: 240 for a TPU v5e in bf16)."""
    return flops_per_s * bytes_per_weight / (2 * bytes_per_s)


def experts_touched(n_experts: int, top_k: int, tokens: int) -> float:
    """Expected distinct routed experts a MoE layer reads for ``tokens`` tokens under uniform
    routing: N · (1 − ((N − k)/N)^B) (BLIS ``roofline.go``, inference-sim; an upper bound, real
    routing is skewed). N=128, k=8: 8 at B=1, 51.6 at B=8, 111.8 at B=32, ≈128 at B=128."""
    n, k, b = n_experts, top_k, tokens
    return n * (1 - ((n - k) / n) ** b)


def allreduce_s(*, message_bytes: float, ranks: int, link_bytes_per_s: float, latency_s: float) -> float:
    """One ring all-reduce of ``message_bytes`` over ``ranks`` GPUs: α + 2·(t−1)/t · m / BW_link
    (each rank sends and receives 2·(t−1)/t of the message: Patarasuk & Yuan 2009; the same
    expression in llm-analysis ``get_latency_fwd_per_tp_comm``, with its 8 µs floor as α).
    0 on one GPU."""
    t, m = ranks, message_bytes
    if t <= 1:
        return 0.0
    return latency_s + 2 * (t - 1) / t * m / link_bytes_per_s


def pipeline_bubble(stages: int, micro_batches: int, interleave: int = 1) -> float:
    """Idle share of a 1F1B pipeline step: (p − 1) / (v · m + p − 1) of the step is bubble
    (Narayanan et al. 2021, arXiv 2104.04473 §2.2: bubble time fraction (p−1)/m, over the
    step's (m + p − 1) slots; interleaving v chunks per stage divides it by v)."""
    p, m, v = stages, micro_batches, interleave
    if p <= 1:
        return 0.0
    return (p - 1) / (v * m + p - 1)


def littles_law_rate(*, concurrency: float, latency_s: float) -> float:
    """Requests per second a server sustains holding ``concurrency`` requests that each take
    ``latency_s``: λ = L / W (Little 1961, Operations Research 9(3))."""
    return concurrency / latency_s


def usd_per_million_tokens(*, usd_per_gpu_hour: float, gpus: int, tokens_per_s: float) -> float:
    """$ per 10⁶ tokens: price · GPUs · 10⁶ / (3600 · tokens/s) (llm-analysis ``cost_per_1k_tokens``
    × 1000)."""
    return usd_per_gpu_hour * gpus * 1e6 / (3600 * tokens_per_s)
