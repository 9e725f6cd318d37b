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

This module holds the layout and its rules (``ParallelSpec``), the pipeline schedule's in-flight
micro-batches, the per-GPU split of activations, and Korthikanti's Table 2 as a reference. The
model-state sharding and the communication buffers are in ``zero.py`` (re-exported here).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..enums import Documented
from ..errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    from ..arch import Architecture

    Recompute = Literal["none", "selective", "full"]


class ZeroStage(Documented):
    """ZeRO-DP stage (Rajbhandari et al. 2019, §5 and Figure 1): which model states are sharded
    over the data-parallel group. DeepSpeed's ``zero_optimization.stage``."""

    NONE = 0, "Plain data parallelism: every GPU keeps all weights, gradients and optimizer states."
    OPTIMIZER = 1, ("P_os: optimizer states (fp32 master weights, Adam moments) are sharded over the "
                    "data-parallel group; weights and gradients are replicated. Megatron's "
                    "--use-distributed-optimizer is this stage.")
    GRADIENTS = 2, ("P_os+g: optimizer states and gradients are sharded; every GPU keeps the "
                    "full weights.")
    PARAMETERS = 3, ("P_os+g+p: weights are sharded too, and all-gathered one layer at a time for "
                     "the forward and backward passes (then freed).")


class FsdpStrategy(Documented):
    """PyTorch FSDP sharding strategy (``torch.distributed.fsdp.ShardingStrategy``; FSDP2
    ``fully_shard`` with ``reshard_after_forward`` and a 2-D mesh for HSDP)."""

    NONE = "none", "No FSDP: the states are kept or sharded as the ZeRO stage says."
    FULL_SHARD = "full_shard", ("≙ ZeRO-3: weights, gradients and optimizer states are sharded; "
                                "each unit (a decoder layer) is all-gathered for forward and again "
                                "for backward, and freed after each.")
    SHARD_GRAD_OP = "shard_grad_op", ("≙ ZeRO-2 at the peak: gradients and optimizer states are "
                                      "sharded; weights are stored sharded but stay all-gathered "
                                      "from forward to backward (reshard_after_forward=False).")
    HYBRID_SHARD = "hybrid_shard", ("HSDP: FULL_SHARD within a group of hybrid_group data-parallel "
                                    "ranks (one node), replicated across groups.")


class Offload(Documented):
    """CPU offload of model states (ZeRO-Offload, Ren et al. 2021; ZeRO-Infinity, Rajbhandari
    et al. 2021; FSDP ``CPUOffload``). What is offloaded lives in host memory, not on the GPU."""

    NONE = "none", "Everything stays on the GPU."
    OPTIMIZER = "optimizer", ("Optimizer states and this GPU's gradient shard go to host memory and "
                              "the optimizer step runs on the CPU (DeepSpeed offload_optimizer, "
                              "ZeRO stage ≥ 1).")
    PARAMETERS = "parameters", ("Implies OPTIMIZER; the weight shards go to host memory too and are "
                                "copied in for compute (DeepSpeed offload_param with ZeRO-3, FSDP "
                                "CPUOffload(offload_params=True)).")


@dataclass(frozen=True)
class ParallelSpec:
    """A training layout. Degrees are named and 1 means off; see the module docstring."""

    dp: int = 1
    tp: int = 1
    sp: bool = False
    pp: int = 1
    vpp: int = 1
    ep: int = 1
    cp: int = 1
    zero: ZeroStage = ZeroStage.NONE
    fsdp: FsdpStrategy = FsdpStrategy.NONE
    offload: Offload = Offload.NONE
    hybrid_group: int = 8  # HSDP: data-parallel ranks per shard group (one 8-GPU node)

    @property
    def gpus(self) -> int:
        """World size: dp · tp · pp · cp (ep is carved out of dp·cp, Megatron-Core)."""
        return self.dp * self.tp * self.pp * self.cp

    @property
    def data_parallel(self) -> int:
        """The group gradients are reduced over: dp · cp (Megatron's dp-with-cp group)."""
        return self.dp * self.cp

    @property
    def expert_data_parallel(self) -> int:
        """Replicas of each expert: dp · cp / ep (Megatron-Core expert-data-parallel group)."""
        return self.data_parallel // self.ep

    @property
    def shard_group(self) -> int:
        """Ranks the sharded dense states are split over: dp·cp, or one HSDP group."""
        return self._shard(self.data_parallel)

    @property
    def expert_shard_group(self) -> int:
        """Ranks the sharded expert states are split over: the expert-data-parallel group."""
        return self._shard(self.expert_data_parallel)

    def _shard(self, group: int) -> int:
        return min(self.hybrid_group, group) if self.fsdp is FsdpStrategy.HYBRID_SHARD else group

    @property
    def shard_level(self) -> int:
        """0–3: which states are sharded, as a ZeRO stage (FSDP mapped onto its equivalent)."""
        by_fsdp = {FsdpStrategy.NONE: 0, FsdpStrategy.SHARD_GRAD_OP: 2,
                   FsdpStrategy.FULL_SHARD: 3, FsdpStrategy.HYBRID_SHARD: 3}
        return max(self.zero.value, by_fsdp[self.fsdp])

    def check(self, arch: Architecture | None = None) -> None:
        """Raise ConfigError, one line naming the flag, if this layout cannot run ``arch``."""
        for name in ("dp", "tp", "pp", "vpp", "ep", "cp", "hybrid_group"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"--{name} must be a positive integer, got {value!r}")
        self._check_strategies()
        self._check_degrees()
        if arch is not None:
            self._check_arch(arch)

    def _check_strategies(self) -> None:
        if self.zero is not ZeroStage.NONE and self.fsdp is not FsdpStrategy.NONE:
            raise ConfigError("--zero and --fsdp are two implementations of sharding: choose one")
        if self.offload is not Offload.NONE and self.shard_level == 0:
            raise ConfigError("--offload needs --zero 1, 2 or 3, or --fsdp")
        if self.offload is Offload.PARAMETERS and self.fsdp is FsdpStrategy.NONE \
                and self.zero is not ZeroStage.PARAMETERS:
            raise ConfigError("--offload parameters needs --zero 3 or --fsdp (DeepSpeed offloads "
                              "parameters only with ZeRO-3)")
        if self.offload is Offload.OPTIMIZER and self.fsdp is not FsdpStrategy.NONE:
            raise ConfigError("--fsdp offloads parameters, gradients and optimizer states together: "
                              "use --offload parameters")
        if self.zero.value >= 2 and self.pp > 1:
            # deepspeed/runtime/pipe/engine.py: "ZeRO-2 and ZeRO-3 are incompatible with pipeline
            # parallelism"; Megatron's distributed optimizer is ZeRO-1.
            raise ConfigError(f"--zero {self.zero.value} cannot be combined with --pp {self.pp}: "
                              "DeepSpeed's pipeline engine supports ZeRO-1 at most")

    def _check_degrees(self) -> None:
        if self.sp and self.tp == 1:
            raise ConfigError("--sp (sequence parallel) needs --tp > 1")
        if self.vpp > 1 and self.pp == 1:
            raise ConfigError("--vpp (virtual pipeline stages) needs --pp > 1")
        if self.data_parallel % self.ep:
            raise ConfigError(f"--ep {self.ep} must divide dp·cp = {self.data_parallel} "
                              "(expert parallelism is carved out of the data-parallel ranks)")
        group = self.data_parallel if self.fsdp is FsdpStrategy.HYBRID_SHARD else 0
        if group and group % self.shard_group:
            raise ConfigError(f"--hybrid-group {self.hybrid_group} must divide dp·cp = {group}")

    def _check_arch(self, arch: Architecture) -> None:
        a, k, name = arch.n_heads, arch.n_kv_heads, arch.name
        if a % self.tp:
            raise ConfigError(f"--tp {self.tp} must divide the {a} attention heads of {name}")
        if k % self.tp and self.tp % k:
            raise ConfigError(f"--tp {self.tp} and the {k} key/value heads of {name} must divide "
                              "one another (kv heads are split, or replicated when fewer than tp)")
        if self.pp > arch.n_layers:
            raise ConfigError(f"--pp {self.pp} is more than the {arch.n_layers} layers of {name}")
        if self.vpp > 1 and arch.n_layers % (self.pp * self.vpp):
            raise ConfigError(f"--vpp {self.vpp}: the {arch.n_layers} layers of {name} must divide "
                              f"into pp·vpp = {self.pp * self.vpp} equal chunks")
        if self.ep > 1 and arch.moe is None:
            raise ConfigError(f"--ep {self.ep} needs a mixture-of-experts model; {name} is dense")
        if arch.moe is not None and arch.moe.n_experts % self.ep:
            raise ConfigError(f"--ep {self.ep} must divide the {arch.moe.n_experts} experts of {name}")


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


def in_flight_microbatches(par: ParallelSpec, *, micro_batches: int, stage: int = 0) -> float:
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


def activation_split(par: ParallelSpec, *, seq_len: int) -> ActivationSplit:
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


_ZERO_NAMES = ("ModelStates", "Buckets", "per_gpu_model_states", "comm_buffers")


def __getattr__(name: str) -> object:
    """Re-export the model-state sharding from ``zero.py`` (imported lazily: zero.py imports
    this module)."""
    if name in _ZERO_NAMES:
        from . import zero

        return getattr(zero, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
