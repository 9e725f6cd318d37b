"""How a parallel layout divides training memory over GPUs.

A job runs on ``dp · tp · pp · cp`` GPUs (every degree is named; 1 means off)::

    tp   tensor parallel      splits every weight matrix and the activations inside the
                              attention heads and MLP width (Shoeybi et al. 2019 §3)
    sp   sequence parallel    with tp > 1: also splits the norms' and dropouts' activations
                              along the sequence (Korthikanti et al. 2022 §4.2.2)
    pp   pipeline parallel    gives each stage a contiguous slice of the layers; the first
                              stage holds the most micro-batches in flight (§4.2.3)
    vpp  virtual stages       interleaved 1F1B: vpp chunks of L/(pp·vpp) layers per stage
                              (Narayanan et al. 2021 §2.2.2)
    cp   context parallel     splits every sequence into cp parts (Megatron-Core; Ring
                              Attention, Liu et al. 2023)
    dp   data parallel        replicas, or a ZeRO / FSDP sharding group (see zero.py)
    ep   expert parallel      splits the routed experts; it lives inside dp·cp as in
                              Megatron-Core (ep must divide dp·cp), so it adds no GPUs

One GPU's share of the model states, with data-parallel group N = dp·cp (Megatron's distributed
optimizer shards over the data-parallel group *with* context parallelism)::

                  weights      gradients    optimizer
    no ZeRO       ██████████   ██████████   ██████████
    ZeRO-1        ██████████   ██████████   █░░░░░░░░░   P_os      (Rajbhandari et al. 2019 §5)
    ZeRO-2        ██████████   █░░░░░░░░░   █░░░░░░░░░   P_os+g
    ZeRO-3        █░░░░░░░░░   █░░░░░░░░░   █░░░░░░░░░   P_os+g+p  (= FSDP FULL_SHARD)
                  █ on this GPU   ░ on the other N−1

The layout itself, its strategies and its rules are ``layout.Layout`` (shared with serving).
This module holds the pipeline schedule's in-flight micro-batches, the per-GPU split of
activations, and Korthikanti's Table 2 as a reference. The model-state sharding and the
communication buffers are in ``zero.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    from ..layout import Layout

    Recompute = Literal["none", "selective", "full"]


# --- pipeline -------------------------------------------------------------------------------


def stage_layers(n_layers: int, pp: int) -> list[range]:
    """The layers of each pipeline stage, in order.

    ⌊L/pp⌋ each; the L mod pp extra layers go to the middle stages first, then the last, then
    the first. The first stage holds the most micro-batches in flight and the embeddings, the
    last the head: Llama 3 (Dubey et al. 2024 §3.3.2) runs 126 layers on 16 stages as 7 + 14×8
    + 7, which is what this gives. Megatron-LM needs pp | L unless told otherwise
    (``--decoder-first/last-pipeline-num-layers``).
    """
    if not 1 <= pp <= n_layers:
        raise ConfigError(f"--pp {pp} must be between 1 and the {n_layers} layers")
    base, extra = divmod(n_layers, pp)
    order = list(range(1, pp - 1)) + [pp - 1, 0] if pp > 1 else [0]
    sizes = [base] * pp
    for i in order[:extra]:
        sizes[i] += 1
    out, start = [], 0
    for n in sizes:
        out.append(range(start, start + n))
        start += n
    return out


def in_flight_microbatches(par: Layout, *, micro_batches: int, stage: int = 0) -> float:
    """Micro-batches whose activations one pipeline stage holds at its peak, as a multiple of
    one micro-batch's activations of *that stage's own layers* (L/pp of them).

    No PP: 1 (gradient accumulation frees each micro-batch's activations before the next).
    1F1B (Narayanan et al. 2021 §2.2.1): stage r runs pp − r − 1 warm-up forwards, then one more
    before its first backward: min(pp − r, m).
    Interleaved (vpp chunks of L/(pp·vpp) layers, §2.2.2): stage r runs
    W = 2(pp − r − 1) + (vpp − 1)·pp warm-up chunk-forwards, all m·vpp of them when W ≥ m·vpp
    (Megatron-Core ``forward_backward_pipelining_with_interleaving``), so it holds
    min(W + 1, m·vpp) chunk-micro-batches = min(W + 1, m·vpp)/vpp stage-micro-batches.

    For the first stage and m > pp this is pp + (pp − 1)/vpp = pp·(1 + (pp−1)/(pp·vpp)): the
    factor of Korthikanti et al. 2022 §4.2.3 and Megatron's ``theoretical_memory_usage.py``,
    who multiply L layers' (= pp stages') activations by (1 + (pp−1)/(pp·vpp)). With m = pp
    the schedule runs everything as warm-up and holds pp, a little less than that factor.
    """
    p, v, m = par.pp, par.vpp, micro_batches
    if m < 1 or not 0 <= stage < p:
        raise ConfigError(f"micro-batches must be ≥ 1 and the stage in 0..{p - 1}")
    if p == 1:
        return 1.0
    if v == 1:
        return float(min(p - stage, m))
    warmup = 2 * (p - stage - 1) + (v - 1) * p
    return min(warmup + 1, m * v) / v


# --- activations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivationSplit:
    """How one GPU's share of a layer's activations relates to the whole layer's.

    ``seq_len`` is the tokens of one sequence this GPU processes (s/cp); tensors inside the
    tensor-parallel region (Q, K, V, scores, MLP intermediates) are divided by ``sharded`` (tp);
    those outside it (norm inputs, dropout masks, residual stream) by ``replicated``: tp with
    sequence parallelism, else 1 (Korthikanti et al. 2022 §4.2.1–4.2.2).
    """

    seq_len: int
    sharded: int
    replicated: int


def activation_split(par: Layout, *, seq_len: int) -> ActivationSplit:
    """The per-GPU split of activations for sequences of ``seq_len`` tokens.

    Context parallelism gives each GPU s/cp tokens of every sequence; Megatron-Core with
    Transformer Engine balances the causal mask by cutting the sequence into 2·cp chunks, so
    2·cp must divide s. Sequence parallelism then splits those tokens over tp, so tp must divide
    s/cp (Megatron-LM ``arguments.py``).
    """
    s, cp, tp = seq_len, par.cp, par.tp
    if cp > 1 and s % (2 * cp):
        raise ConfigError(f"--cp {cp}: sequence length {s} must be divisible by 2·cp = {2 * cp}")
    if par.sp and (s // cp) % tp:
        raise ConfigError(f"--sp: the {s // cp} tokens per context-parallel rank must divide by --tp {tp}")
    return ActivationSplit(seq_len=s // cp, sharded=tp, replicated=tp if par.sp else 1)


def korthikanti_layer_bytes(s: int, b: int, h: int, a: int, t: int = 1, *, sp: bool = False,
                            recompute: Recompute = "none") -> int:
    """Activation bytes one transformer layer stores for backward, on one TP rank.

    Korthikanti et al. 2022 (arXiv 2205.05198), Table 2; GPT layer with 16-bit activations,
    1-byte dropout masks, MLP width 4h, GeLU; s sequence, b micro-batch, h hidden, a heads, t TP::

        no parallelism            sbh (34 + 5as/h)                  (Eq. 1, t = 1)
        tensor parallel           sbh (10 + 24/t + 5as/(ht))        (Eq. 2)
        tensor + sequence par.    sbh/t (34 + 5as/h)                (Eq. 4)
        selective recompute       the 5as/h term dropped            (§5, Eq. 6)
        full recompute            2sbh, the layer input only        (§5)

    Left out, as in the paper: the norms' mean/variance, GQA, gated MLPs, flash attention
    (which never stores the s² scores). With SP the recomputed layer's input is the
    sequence-sharded one, 2sbh/t. Exact, rounded up to whole bytes.
    """
    sbh = s * b * h
    if recompute == "full":
        return -(-2 * sbh // t) if sp else 2 * sbh
    scores = 0 if recompute == "selective" else 5 * a * s * s * b  # 5as/h · sbh
    if sp:
        return -(-(34 * sbh + scores) // t)
    return -(-(10 * sbh * t + 24 * sbh + scores) // t)

