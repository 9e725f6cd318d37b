"""How one job is laid out over GPUs: the ``Layout``, for serving and training alike.

A job runs on ``dp · tp · pp · cp`` GPUs (every degree is named; 1 means off)::

    tp   tensor parallel      splits every weight matrix, the attention heads, the MLP width
                              and the vocabulary (Shoeybi et al. 2019 §3)
    pp   pipeline parallel    gives each stage a contiguous slice of the layers
    sp   sequence parallel    training, with tp > 1: also splits the norms' and dropouts'
                              activations along the sequence (Korthikanti et al. 2022 §4.2.2)
    vpp  virtual stages       training: interleaved 1F1B, vpp chunks per stage
    cp   context parallel     training: splits every sequence into cp parts
    dp   data parallel        training: replicas, or a ZeRO / FSDP sharding group
    ep   expert parallel      training: splits the routed experts inside dp·cp

Serving uses tp and pp (vLLM ``--tensor-parallel-size`` / ``--pipeline-parallel-size``); an
inference layout with any other degree or strategy set is refused (``check_inference``).
Training's rules, schedules and model-state sharding are in ``training/parallel.py`` and
``training/zero.py``.

The splits of a model over a layout are here too: one tensor-parallel rank's slice
(``rank_arch``) and the layers of each pipeline stage (``stages``, ``stage_arch``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .enums import Documented
from .errors import ConfigError
from .options import enum_option, positive_int

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .arch import Architecture

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


_FSDP_LEVEL = {FsdpStrategy.NONE: 0, FsdpStrategy.SHARD_GRAD_OP: 2, FsdpStrategy.FULL_SHARD: 3,
               FsdpStrategy.HYBRID_SHARD: 3}  # each strategy as the ZeRO stage it equals


@dataclass(frozen=True)
class Layout:
    """How one job is laid out over GPUs, for serving and training alike. Degrees are named and
    1 means off; see the module docstring."""

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

    def __post_init__(self) -> None:
        """Strategies may be given as their values or names (``zero=3``, ``fsdp="full_shard"``)."""
        object.__setattr__(self, "zero", enum_option("zero", self.zero, ZeroStage))
        object.__setattr__(self, "fsdp", enum_option("fsdp", self.fsdp, FsdpStrategy, FSDP_ALIASES))
        object.__setattr__(self, "offload", enum_option("offload", self.offload, Offload, OFFLOAD_ALIASES))

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
        return max(self.zero.value, _FSDP_LEVEL[self.fsdp])

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

    def check_inference(self) -> None:
        """Raise ConfigError naming the degrees an inference engine cannot use (only tp and pp)."""
        for name in ("tp", "pp"):
            positive_int(name, getattr(self, name))
        off = Layout()
        extra = [name for name in ("dp", "vpp", "ep", "cp", "sp", "zero", "fsdp", "offload")
                 if getattr(self, name) != getattr(off, name)]
        if extra:
            raise ConfigError(f"inference layouts take tp and pp only; {', '.join(extra)} "
                              "are training degrees")

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
        a, k, name = arch.n_heads, arch.n_kv_heads or arch.n_heads, arch.name
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


# CLI spellings of the strategies (``--fsdp full``, ``--offload params``) beside their values.
FSDP_ALIASES = {"full": FsdpStrategy.FULL_SHARD, "shard-grad-op": FsdpStrategy.SHARD_GRAD_OP,
                "hybrid": FsdpStrategy.HYBRID_SHARD}
OFFLOAD_ALIASES = {"params": Offload.PARAMETERS}


# --- the splits of a model over a layout ------------------------------------------------------


_RANKS: dict[tuple[int, int], tuple[Architecture, Architecture]] = {}


def rank_arch(arch: Architecture, tp: int) -> Architecture:
    """The slice of the model one tensor-parallel rank holds (Megatron-LM, Shoeybi et al. 2019
    §3: column-parallel QKV and MLP-in, row-parallel O and MLP-out, vocab-parallel embeddings).
    The same object for the same (architecture object, tp): the caches keyed by architecture
    downstream then find it by identity (a layout search asks hundreds of times)."""
    if tp == 1:
        return arch
    hit = _RANKS.get((id(arch), tp))
    if hit is not None and hit[0] is arch:
        return hit[1]
    if len(_RANKS) > 256:
        _RANKS.clear()
    rank = _rank_arch(arch, tp)
    _RANKS[(id(arch), tp)] = (arch, rank)
    return rank


def _rank_arch(arch: Architecture, tp: int) -> Architecture:
    if arch.n_heads % tp:
        raise ConfigError(f"--tp {tp} must divide the {arch.n_heads} attention heads of {arch.name}")
    moe = arch.moe and replace(arch.moe, d_ff_expert=-(-arch.moe.d_ff_expert // tp),
                               d_ff_shared=-(-arch.moe.d_ff_shared // tp))
    g = arch.gemma4 and replace(arch.gemma4, global_kv_heads=max(1, arch.gemma4.global_kv_heads // tp))
    return arch.with_(n_heads=arch.n_heads // tp, n_kv_heads=max(1, (arch.n_kv_heads or arch.n_heads) // tp),
                      d_ff=-(-arch.d_ff // tp), vocab_size=-(-arch.vocab_size // tp), moe=moe,
                      layer_types=arch.layer_types, gemma4=g or None)


def stages(n_layers: int, pp: int) -> list[range]:
    """Layers of each pipeline stage: ⌈L/pp⌉ to the first stages (vLLM ``get_pp_indices``
    splits evenly and gives the remainder to the last stages; the heaviest stage is the same)."""
    if pp > n_layers:
        raise ConfigError(f"--pp {pp} is more than the {n_layers} layers")
    size, extra = divmod(n_layers, pp)
    out, start = [], 0
    for i in range(pp):
        n = size + (1 if i >= pp - extra else 0)
        out.append(range(start, start + n))
        start += n
    return out


def stage_arch(arch: Architecture, layers: range) -> Architecture:
    """The layers of one stage, for their KV cache (layer types kept in order)."""
    types = tuple(arch.layer_types[i] for i in layers)
    moe = arch.moe and replace(
        arch.moe, layers=tuple(i - layers.start for i in arch.moe.layers if i in layers)
    )
    g = arch.gemma4  # Gemma 4's KV-shared layers are the model's last: this stage's share of them
    if g:
        first_shared = max(layers.start, arch.n_layers - g.kv_shared_layers)
        g = replace(g, kv_shared_layers=max(0, layers.stop - first_shared))
    return arch.with_(n_layers=len(layers), layer_types=types, moe=moe or None, gemma4=g or None)
