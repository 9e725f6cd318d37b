"""Model states per GPU under ZeRO, FSDP and CPU offload, and the buffers they communicate through.

The ZeRO paper (Rajbhandari et al. 2019, §5, Figure 1) with Ψ parameters, K bytes of optimizer
state per parameter (12 for mixed-precision Adam: fp32 master weights, momentum, variance) and a
data-parallel group of N_d GPUs::

    baseline        (2 + 2 + K)·Ψ           16Ψ  = 120 GB   (Ψ = 7.5B, N_d = 64)
    P_os   ZeRO-1   2Ψ + 2Ψ + K·Ψ/N_d               31.4 GB
    P_os+g ZeRO-2   2Ψ + (2 + K)·Ψ/N_d              16.6 GB
    P_os+g+p ZeRO-3 (2 + 2 + K)·Ψ/N_d                1.9 GB

``per_gpu_model_states`` applies the same rule to any budget (``ModelStates``: weights, gradients
and optimizer states in bytes, as a precision recipe defines them) over the groups of a
``Layout``. The caller has already divided the dense states by tp and pp (the slice one
stage holds on one TP rank); routed experts are divided by ep here and then sharded over the
expert-data-parallel group dp·cp/ep. Shards round up, ⌈x/N⌉: ZeRO and FSDP pad their flat buffers
so that every rank holds the same number of elements.

Which bytes a "weight" is depends on the implementation, and the caller's recipe should follow
it: DeepSpeed ZeRO and Megatron keep 16-bit weights and put the fp32 master copy in the optimizer
states (2 + 12 bytes); FSDP2 keeps one sharded fp32 parameter and casts each unit to the compute
dtype when it all-gathers it (4 + 8 bytes, the cast copy being a communication buffer here).

Offloaded states live in host memory (the fourth tree, per GPU process). ZeRO-Offload (Ren et al.
2021 §4.1) partitions gradients before it moves them, so offloading shards them even at ZeRO-1.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..layout import FsdpStrategy, Layout, Offload
from ..tree import Part, group, leaf


@dataclass(frozen=True)
class ModelStates:
    """Bytes of the three model states of one model slice, before any sharding."""

    weights: int = 0
    gradients: int = 0
    optimizer_states: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer_states


NO_STATES = ModelStates()

# The stage at which each state is sharded (ZeRO paper §5: P_os, P_os+g, P_os+g+p).
_SHARDED_FROM = {"weights": 3, "gradients": 2, "optimizer_states": 1}


def shard_bytes(total: int, n: int) -> int:
    """One rank's shard of ``total`` bytes split over ``n`` ranks: ⌈total/n⌉."""
    return -(-total // n)


def _state_share(par: Layout, state: str, total: int, *, experts: bool) -> int:
    """Bytes of one state that one GPU is responsible for (on the GPU or offloaded)."""
    n = par.expert_shard_group if experts else par.shard_group
    if experts:
        total = shard_bytes(total, par.ep)
    offloaded_grads = state == "gradients" and par.offload is not Offload.NONE
    stored_sharded = state == "weights" and par.fsdp is FsdpStrategy.SHARD_GRAD_OP
    if par.shard_level >= _SHARDED_FROM[state] or offloaded_grads or stored_sharded:
        return shard_bytes(total, n)
    return total


def _on_host(par: Layout, state: str) -> bool:
    if par.offload is Offload.NONE:
        return False
    return state != "weights" or par.offload is Offload.PARAMETERS


def per_gpu_model_states(states: ModelStates, *, expert_states: ModelStates = NO_STATES,
                         par: Layout) -> tuple[Part, Part, Part, Part]:
    """(weights, gradients, optimizer_states, host_offload) trees for one GPU.

    ``states``: the dense bytes of the slice one pipeline stage holds on one TP rank;
    ``expert_states``: the routed experts' bytes of that stage on one TP rank (all experts). Each
    state is sharded over the data-parallel group from its ZeRO stage on (module docstring);
    FSDP SHARD_GRAD_OP also keeps the all-gathered weights from forward to backward, an
    unsharded copy of the stored weights (exact when the compute dtype is the stored one).
    """
    trees: dict[str, list[Part]] = {name: [] for name in _SHARDED_FROM}
    host: dict[str, list[Part]] = {name: [] for name in _SHARDED_FROM}
    for state in _SHARDED_FROM:
        for label, source, experts in (("dense", states, False), ("experts", expert_states, True)):
            share = _state_share(par, state, getattr(source, state), experts=experts)
            (host if _on_host(par, state) else trees)[state].append(leaf(label, share))
    if par.fsdp is FsdpStrategy.SHARD_GRAD_OP:
        gathered = states.weights + shard_bytes(expert_states.weights, par.ep)
        trees["weights"].append(leaf("all-gathered for compute", gathered))
    gpu = tuple(group(name, parts) for name, parts in trees.items())
    offloaded = group("host_offload", [group(name, parts) for name, parts in host.items()])
    return gpu[0], gpu[1], gpu[2], offloaded


# --- communication buffers ------------------------------------------------------------------
# DeepSpeed counts buckets in elements, not bytes. Defaults from deepspeed/runtime/zero/config.py
# (DeepSpeedZeroConfig, deepspeedai/DeepSpeed commit 1b88ac3); HF Trainer's "auto" replaces them
# with h² (reduce), 0.9·h² (prefetch) and 10·h (persistence threshold).

DS_REDUCE_BUCKET_SIZE = 500_000_000
"""``reduce_bucket_size`` (elements): the contiguous gradient buffer ("ipg" bucket) DeepSpeed
allocates in the 16-bit dtype, twice when ``overlap_comm`` (stage_1_and_2.py ``backward``), once
at ZeRO-3 (stage3.py ``__ipg_bucket_flat_buffer``): 1 GB in bf16 for the default."""

DS_ALLGATHER_BUCKET_SIZE = 500_000_000
"""``allgather_bucket_size`` (elements): the chunk size of ZeRO-1/2's all-gather of updated
weights. Not an allocation: the all-gather writes into the flat 16-bit weights in place, so it
adds nothing here (EleutherAI's cookbook counts it as a buffer; we do not)."""

DS_PREFETCH_BUCKET_SIZE = 50_000_000
"""``stage3_prefetch_bucket_size`` (elements): ZeRO-3 parameters fetched ahead of use."""

DS_MAX_LIVE_PARAMETERS = 1_000_000_000
"""``stage3_max_live_parameters`` (elements): a cap on all-gathered ZeRO-3 parameters."""

DS_PARAM_PERSISTENCE_THRESHOLD = 100_000
"""``stage3_param_persistence_threshold`` (elements): ZeRO-3 leaves smaller parameters (norms,
biases) unsharded on every GPU. Not modelled: at most a few MB on today's models."""


@dataclass(frozen=True)
class Buckets:
    """Bucket settings, each overridable (``Buckets(reduce_bucket_size=...)``).

    ``overlap_comm``: None is DeepSpeed's default, on for ZeRO-3 only (config.py validator).
    ``ddp_gradient_as_bucket_view``: PyTorch DDP's flag, off by default, so DDP's buckets hold a
    copy of every gradient ("the saved memory size will be equal to the total gradients size",
    DistributedDataParallel docs); ``bucket_cap_mb`` (25) sets how many buckets, not their total.
    Megatron's DDP reduces in its contiguous main-grad buffer, which *is* the gradients: pass True.
    """

    reduce_bucket_size: int = DS_REDUCE_BUCKET_SIZE
    prefetch_bucket_size: int = DS_PREFETCH_BUCKET_SIZE
    max_live_parameters: int = DS_MAX_LIVE_PARAMETERS
    overlap_comm: bool | None = None
    ddp_gradient_as_bucket_view: bool = False


def _bytes(elements: int, bits: int) -> int:
    return -(-elements * bits // 8)


def comm_buffers(par: Layout, *, bucket_params: int, bits: int, reduce_bits: int | None = None,
                 stage_params: int = 0, buckets: Buckets = Buckets()) -> Part:
    """The named communication buffers one GPU holds at the peak of a step.

    ``bucket_params``: the parameters, on this rank, of the largest unit gathered or reduced at
    once: one decoder layer under the usual per-layer FSDP wrapping, DeepSpeed's
    ``largest_layer_params`` (the largest module's own parameters) for ZeRO-3.
    ``bits``: the compute dtype of all-gathered weights; ``reduce_bits``: that of gradients being
    reduced (default ``bits``); ``stage_params``: this rank's parameters (DDP, prefetch cap).

    DDP         gradient buckets: a copy of all gradients unless gradient_as_bucket_view
    ZeRO-1/2    the reduce ("ipg") bucket, ×2 with overlap_comm
    ZeRO-3      the ipg bucket; the largest layer gathered and its unsharded gradient
                (DeepSpeed's estimator counts these two as 4·largest_layer_params bytes);
                the prefetch bucket, capped by max_live_parameters
    FSDP        the unsharded unit, the next unit's all-gather (prefetch) and one unit's
                reduce-scatter input (FSDP2, as FSDPMemTracker measures them); with
                SHARD_GRAD_OP the weights stay gathered (counted as weights), leaving two
                all-gather outputs in forward or one reduce-scatter input in backward
    """
    rbits = reduce_bits or bits
    if par.fsdp is not FsdpStrategy.NONE:
        return group("comm_buffers", _fsdp_buffers(par, bucket_params, bits, rbits))
    if par.zero.value == 3:
        return group("comm_buffers", _zero3_buffers(bucket_params, bits, rbits, stage_params, buckets))
    if par.zero.value > 0:
        copies = 2 if buckets.overlap_comm else 1
        return group("comm_buffers", [leaf("reduce bucket (ipg)",
                                           copies * _bytes(buckets.reduce_bucket_size, rbits))])
    if par.data_parallel > 1 and not buckets.ddp_gradient_as_bucket_view:
        return group("comm_buffers", [leaf("DDP gradient buckets", _bytes(stage_params, rbits))])
    return group("comm_buffers", [])


def _zero3_buffers(unit: int, bits: int, rbits: int, stage_params: int, b: Buckets) -> list[Part]:
    room = max(0, b.max_live_parameters - unit)
    ahead = min(b.prefetch_bucket_size, room, max(0, stage_params - unit) if stage_params else room)
    return [
        leaf("reduce bucket (ipg)", _bytes(b.reduce_bucket_size, rbits)),  # one, overlap or not
        leaf("gathered layer", _bytes(unit, bits)),
        leaf("gathered layer's gradient", _bytes(unit, rbits)),
        leaf("prefetch bucket", _bytes(ahead, bits)),
    ]


def _fsdp_buffers(par: Layout, unit: int, bits: int, rbits: int) -> list[Part]:
    # FSDPMemTracker (FSDP2): forward holds the unsharded unit and up to two all-gather outputs
    # (this unit's, the next unit's prefetch); backward the unsharded unit, one all-gather output
    # and one reduce-scatter input. The third line is whichever of the last two is larger.
    if par.fsdp is FsdpStrategy.SHARD_GRAD_OP:  # the unsharded weights are counted as weights
        return [leaf("all-gather outputs (forward) or reduce-scatter input (backward)",
                     max(2 * _bytes(unit, bits), _bytes(unit, rbits)))]
    return [leaf("unsharded unit", _bytes(unit, bits)),
            leaf("all-gather of the next unit", _bytes(unit, bits)),
            leaf("reduce-scatter input (or a second all-gather output)",
                 max(_bytes(unit, rbits), _bytes(unit, bits)))]
