"""LoRA and QLoRA: a frozen base, low-rank adapters, and what each saves for backward.

LoRA (Hu et al. 2021, arXiv 2106.09685, §4.1) adds to a frozen W ∈ R^{d_out×d_in} the product
B·A with A ∈ R^{r×d_in} and B ∈ R^{d_out×r}, so each targeted linear trains r·(d_in + d_out)
parameters (Llama-2-7B, r = 8 on q and v: 32 · 2 · 8 · (4096 + 4096) = 4,194,304, as peft's
``print_trainable_parameters`` reports). QLoRA (Dettmers et al. 2023, arXiv 2305.14314, §3)
stores the frozen base in 4-bit NF4 with double-quantised scales (``nf4-dq`` in dtypes.py).

Memory, per GPU::

    weights       the base in its format (bf16, fp16, int8, nf4-dq) + the adapters
    gradients     adapters only, in the adapters' dtype (peft keeps them fp32:
                  ``autocast_adapter_dtype=True``)
    optimizer     adapters only
    activations   the frozen path saves only what input gradients need: no norm-weight copies,
                  no inputs of frozen linears, no activation of a frozen down projection, and
                  nothing before the first adapter (the embedding output needs no gradient);
                  each adapter saves its input cast to the adapter dtype (4·d_in per token for
                  fp32 adapters on bf16 activations) or, with LoRA dropout, the mask and the
                  dropped copy, and x·A (r per token); bitsandbytes < 0.43.2 and adapters
                  in the activations' dtype keep some of the base's inputs (qlora.py)

Targets use short names: q, k, v, o, gate, up, down, or all-linear (every linear in the layers
but the routed experts, which transformers ≥ 5 stores as 3-D parameters, not ``nn.Linear``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..arch import Architecture
from ..errors import ConfigError
from ..formats.tensors import TensorSpec, model_tensors
from ..tree import Part, group, leaf

TYPE_CHECKING = False
if TYPE_CHECKING:
    Param = tuple[str, tuple[int, ...], str, int | None]  # name, shape, role, layer

TARGETS = {"q": ("attn_q", "attn_q_b"), "k": ("attn_k",), "v": ("attn_v",), "o": ("attn_output",),
           "gate": ("ffn_gate", "ffn_gate_shexp"), "up": ("ffn_up", "ffn_up_shexp"),
           "down": ("ffn_down", "ffn_down_shexp")}
ALL_LINEAR_ROLES = ("attention", "mlp", "shared_expert", "router")
# Families whose q, k and v come from one Linear (``arch.modeling.fused_qkv``; GPT-2's c_attn is a
# Conv1D, which peft treats alike) get one adapter of width d_in → q + 2·kv instead of three.
BASE_FORMATS = ("bf16", "fp16", "fp32", "int8", "nf4", "nf4-dq", "fp4", "fp4-dq")


@dataclass(frozen=True)
class LoraSpec:
    """Rank, targets, the frozen base's format and the adapters' width in bits."""

    rank: int = 8
    targets: tuple[str, ...] = ("q", "v")
    base: str = "bf16"
    adapter_bits: int = 32
    dropout: float = 0.0
    bnb_keeps_inputs: bool = False  # bitsandbytes < 0.43.2 keeps every 4-bit layer's input (qlora.py)

    def check(self, arch: Architecture) -> None:
        if self.rank < 1:
            raise ConfigError(f"--lora-rank must be at least 1, got {self.rank}")
        if self.rank > arch.d_model:  # B·A has rank ≤ min(r, d): a wider r adds nothing but memory
            raise ConfigError(f"--lora-rank {self.rank} is larger than the model width {arch.d_model} of "
                              f"{arch.name}; a LoRA update cannot have a rank above it")
        unknown = [t for t in self.targets if t not in TARGETS and t not in ("all-linear", "auto")]
        if unknown:
            raise ConfigError(f"--lora-targets {','.join(unknown)}: choose from "
                              f"{', '.join(TARGETS)}, all-linear")
        if self.base not in BASE_FORMATS and not _checkpoint_base(self.base):
            raise ConfigError(f"LoRA base format {self.base!r}: choose one of {', '.join(BASE_FORMATS)} "
                              "(or a quantized checkpoint's gptq, awq, fp8 or mxfp4 format)")
        if not adapter_tensors(arch, self):
            raise ConfigError(f"--lora-targets {','.join(self.targets)} match no linear layer of {arch.name}")

    def to_dict(self) -> dict[str, object]:
        return {"rank": self.rank, "targets": list(self.targets), "base": self.base,
                "adapter_bits": self.adapter_bits, "dropout": self.dropout,
                "bnb_keeps_inputs": self.bnb_keeps_inputs}


def measurement_targets(arch: Architecture) -> tuple[str, ...]:
    """The targets a validation run uses for a given LoRA rank: all-linear, except on MoE models
    (peft ≥ 0.21 then also adapts the 3-D expert parameters through ``ParamWrapper``, which
    llmsize does not model), where q and v."""
    return ("q", "v") if arch.moe is not None else ("all-linear",)


def parse_targets(text: str) -> tuple[str, ...]:
    """``q,v`` → ("q", "v"); peft's spellings (``q_proj``) are accepted too."""
    return tuple(t.strip().removesuffix("_proj") for t in text.split(",") if t.strip())


def is_target(t: TensorSpec, lora: LoraSpec) -> bool:
    """A 2-D weight in a layer that the targets name."""
    if t.layer is None or len(t.shape) != 2 or not t.name.endswith(".weight") or t.role == "norm":
        return False
    if "all-linear" in lora.targets:
        return t.role in ALL_LINEAR_ROLES
    stem = t.name.split(".")[-2]
    return any(stem in TARGETS[name] for name in lora.targets)


def targeted_linears(arch: Architecture, lora: LoraSpec) -> list[tuple[str, int, int, int]]:
    """(name, layer, d_in, d_out) of every linear an adapter sits on, as transformers lays the
    linears out: fused q-k-v and gate-up modules count once, with their summed outputs."""
    fused = {"qkv": arch.modeling.fused_qkv, "gate_up": arch.modeling.fused_gate_up}
    out: dict[tuple[str, int], tuple[int, int]] = {}
    for t in model_tensors(arch):
        if not is_target(t, lora):
            continue
        stem = t.name.removesuffix(".weight")
        kind = stem.split(".")[-1]
        if fused["qkv"] and kind in ("attn_q", "attn_k", "attn_v"):
            stem = stem.rsplit(".", 1)[0] + ".attn_qkv"
        elif fused["gate_up"] and kind in ("ffn_gate", "ffn_up"):
            stem = stem.rsplit(".", 1)[0] + ".ffn_gate_up"
        n_out, n_in = t.shape
        prev = out.get((stem, t.layer or 0), (n_in, 0))
        out[(stem, t.layer or 0)] = (n_in, prev[1] + n_out)
    return [(stem, layer, n_in, n_out) for (stem, layer), (n_in, n_out) in out.items()]


def is_fused_target(arch: Architecture, lora: LoraSpec) -> bool:
    """A fused q-k-v module is adapted when any of q, k, v (or all-linear) is targeted."""
    return arch.modeling.fused_qkv and bool({"q", "k", "v"} & set(lora.targets))


def adapter_tensors(arch: Architecture, lora: LoraSpec) -> list[TensorSpec]:
    """A (r × d_in) and B (d_out × r) for every targeted linear, in its layer."""
    if is_fused_target(arch, lora):
        lora = replace(lora, targets=tuple(sorted(set(lora.targets) | {"q", "k", "v"})))
    out = []
    for stem, layer, n_in, n_out in targeted_linears(arch, lora):
        out += [TensorSpec(f"{stem}.lora_A.weight", (lora.rank, n_in), "adapter", layer),
                TensorSpec(f"{stem}.lora_B.weight", (n_out, lora.rank), "adapter", layer)]
    return out


def adapter_params(arch: Architecture, lora: LoraSpec) -> int:
    """Σ over targeted linears of r·(d_in + d_out) (Hu et al. 2021 §4.1)."""
    return sum(t.numel for t in adapter_tensors(arch, lora))


def adapter_parameters(arch: Architecture, lora: LoraSpec, stage: list[Param]) -> list[Param]:
    """The adapters of the layers a stage holds, as (name, shape, role, layer)."""
    layers = {lay for _, _, _, lay in stage if lay is not None}
    return [(t.name, t.shape, t.role, t.layer) for t in adapter_tensors(arch, lora) if t.layer in layers]


def frozen_weights(arch: Architecture, lora: LoraSpec, stage: list[Param], *, weight_bits: int) -> Part:
    """The stage's frozen base in ``lora.base`` (QLoRA: nf4-dq packs the layers' linears, the
    rest stays in the compute dtype) plus its adapters at ``adapter_bits``."""
    from ..formats.dtypes import parse_format, tensor_bytes_in

    fmt, base = parse_format(lora.base), "bf16" if weight_bits == 16 else "fp32"
    by_name = {t.name: t for t in model_tensors(arch)}
    packed = scales = 0
    for name, _, _, _ in stage:
        # a fused gate_up is one tensor where the model stores it so (the transformers path),
        # else llmsize lists its halves, up and gate
        spec = by_name.get(name)
        halves = (by_name.get(name.replace("gate_up", half)) for half in ("up", "gate"))
        parts = [spec] if spec is not None else [h for h in halves if h is not None and "gate_up" in name]
        for p in parts:
            w, s = tensor_bytes_in(fmt, p, base=base)
            packed, scales = packed + w, scales + s
    mine = adapter_parameters(arch, lora, stage)
    adapters = sum(-(-_numel(s) * lora.adapter_bits // 8) for _, s, _, _ in mine)
    return group("weights", [leaf(f"frozen base ({fmt.name})", packed), leaf("quantization scales", scales),
                             leaf(f"LoRA adapters ({lora.adapter_bits}-bit)", adapters)])


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for x in shape:
        n *= x
    return n


def _checkpoint_base(name: str) -> bool:
    """A pre-quantized checkpoint's format (its ``quantization_config``) can be a frozen LoRA base
    too: peft trains adapters over GPTQ, AWQ and FP8 layers; GGUF files cannot."""
    from ..formats.dtypes import parse_format

    try:
        return parse_format(name).kind not in ("gguf", "float")
    except ConfigError:
        return False


def dequantized_matrix(arch: Architecture, lora: LoraSpec, bits: int) -> int:
    """QLoRA dequantises each frozen 4/8-bit matrix to the compute dtype for its matmul, in
    forward and again in backward: the largest one is a transient (bytes)."""
    if lora.base in ("bf16", "fp16", "fp32"):
        return 0
    sizes = [t.numel for t in model_tensors(arch)
             if t.layer is not None and t.is_matrix and t.role != "expert"]
    return max(sizes, default=0) * bits // 8
