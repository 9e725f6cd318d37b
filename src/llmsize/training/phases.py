"""The moments of one training step on one GPU, and which of them is the peak.

Model states (weights W, optimizer states and master weights S) are alive throughout; what
changes within the step is the saved activations A, the gradients G and the temporaries::

    forward end        A (all layers) + R + logits: B·V, fp32 copy, log-softmax   (+ G if kept)
    loss backward      A + R + log-softmax, its gradient, the logits' gradient 12·V  (+ G if kept)
    head backward      A + R + logits' gradient B·V + head's weight gradient + B·d
    layer i, block j   A(< i) + A_i (recomputed under full recompute) + R
                       + gradients of the head and of layers > i + ∂hidden B·d
                       + Σ_{blocks before j} (their gradients − their saved tensors) + block j's own peak
    embedding          the embedding's gradient + all others; when it adds to an existing gradient
                       (tied head, accumulation) the new one and the sum, AccumulateGrad
                       adding out of place (measured)
    optimizer step     all G + the update's temporaries

Every term is per token times the micro-batch's tokens, except weight gradients. Gradients are
this GPU's share (ZeRO-2/3 and FSDP shard them as they are produced; buckets are counted with
the communication buffers). With pipeline parallelism the stage holds ``in_flight`` micro-batches'
activations and runs the backward of one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arch import Architecture
from ..tree import Part, group, leaf
from . import activations as act

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True)
class Moment:
    """Gradients and everything else non-model-state alive at one moment of the step."""

    phase: str  # forward | backward | optimizer
    where: str
    gradients: int
    activations: Part


@dataclass(frozen=True)
class StepInputs:
    """What a stage holds, for ``moments``: its layers and the non-layer parts it runs."""

    arch: Architecture
    w: act.ActivationSpec
    layers: range
    first: bool
    last: bool
    in_flight: float
    grads_total: int  # this GPU's gradients at the end of backward
    grads_kept: bool  # persistent buffers, or accumulation across micro-steps
    head_grads: int  # gradient bytes of an untied head and the final norm
    embedding_grads: int
    layer_grads: Callable[[int], dict[str, int]]  # per layer: down, ff, attention (this GPU's share)
    step_temporaries: int
    autocast_copies: Callable[[int], int] = lambda layer: 0  # bf16 weight copies autocast saves


def saved(s: StepInputs) -> tuple[list[int], Part]:
    """Per layer stored bytes (one micro-batch) and the resident tree of this stage."""
    stored = [act.layer_stored(s.arch, s.w, i) + s.autocast_copies(i) for i in s.layers]
    r = act.resident(s.arch, s.w)
    keep = {"input ids and labels", "rotary cos, sin", "embedding dropout mask"}
    parts = [p for p in r.parts if (p.name in keep and s.first) or (p.name not in keep and s.last)]
    return stored, group("outside the layers", parts)


def _acts(held: int, other: int, other_name: str) -> Part:
    return group("activations", [leaf("saved activations", held), leaf(other_name, other)])


def forward_moment(s: StepInputs) -> Moment:
    stored, resident = saved(s)
    held = round(s.in_flight * (sum(stored) + resident.value))
    loss = act.logits_forward(s.arch, s.w) if s.last else 0
    grads = s.grads_total if s.grads_kept else 0
    return Moment("forward", "loss (logits, fp32 copy, log-softmax)", grads,
                  _acts(held, loss, "logits and loss (forward)"))


def backward_moments(s: StepInputs) -> list[Moment]:
    """The loss, the head, each block of each layer from last to first, and the embedding."""
    stored, resident = saved(s)
    others = round((s.in_flight - 1) * (sum(stored) + resident.value))  # other micro-batches in flight
    held = sum(stored) + resident.value
    grads = s.grads_total if s.grads_kept else 0
    T, B, d = s.w.tokens, s.w.B, s.arch.d_model
    out = []
    if s.last:
        out.append(Moment("backward", "loss (cross-entropy backward)", grads,
                          _acts(others + held, act.logits_backward(s.arch, s.w), "loss backward")))
        # a tied head's gradient waits in autograd's input buffer for the embedding's share
        buffered = s.embedding_grads if s.arch.tie_embeddings and s.first else 0
        head_tmp = round(B * T * s.arch.vocab_size + B * T * d) + buffered
        out.append(Moment("backward", "lm head", grads + (0 if s.grads_kept else s.head_grads),
                          _acts(others + held, head_tmp, "logits' gradient")))
        grads += 0 if s.grads_kept else s.head_grads
        held += buffered - _part(resident, "final norm and head input")
    grad_h = round(B * T * d)
    for i, stored_i in zip(reversed(s.layers), reversed(stored), strict=True):
        out += _layer_moments(s, i, others + held, grads, grad_h)
        held -= stored_i
        grads += 0 if s.grads_kept else sum(s.layer_grads(i)[k] for k in ("ff", "attention"))
    if s.first:
        # the embedding's gradient as embedding_dense_backward writes it, before AccumulateGrad
        # takes it (MemTracker files it as a temporary then); adding it to an existing gradient
        # (tied head, accumulation) also holds the sum for a moment
        adds = s.arch.tie_embeddings or s.grads_kept
        emb_tmp = (2 if adds else 1) * s.embedding_grads
        held -= _part(resident, "embedding dropout mask")  # freed by the dropout's backward
        out.append(Moment("backward", "embedding", grads, _acts(others + held, emb_tmp + grad_h,
                                                                "embedding gradient")))
    return out


def _part(tree: Part, name: str) -> int:
    return next((p.value for p in tree.parts if p.name == name), 0)


# --- the backward pass through one layer ----------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One step of a layer's backward pass: the saved tensors it frees when done, the weight
    gradients it leaves, and at its own peak the gradients already written (``peak_grads``) and
    the temporaries (``peak_temps``: gradients of its intermediates, less saved tensors it has
    already freed). Derived from the autograd formulas and checked against MemTracker."""

    name: str
    saved: int
    grads: int
    peak_grads: int
    peak_temps: int


def _ff_width(arch: Architecture, w: act.ActivationSpec, routed: bool) -> float:
    """Intermediate elements per token the MLP's backward works on (all routed slots for MoE)."""
    if routed:
        assert arch.moe is not None
        return act.routed_slots(arch, w) * arch.moe.d_ff_expert + arch.moe.d_ff_shared
    return arch.d_ff


def layer_blocks(arch: Architecture, w: act.ActivationSpec, layer: int, *,
                 grads: dict[str, int]) -> list[Block]:
    """The layer's backward in the order autograd runs it: the MLP's output side (the down
    projection's gradient, then the two gradients of the gated product, 2·B·I per token), its
    input projections (gate-up gradients, the gathered inputs and their gradient for MoE, ∂x),
    its norm (RMSNorm's backward holds four fp32 copies of d), the attention kernel (o_proj's
    input gradient and those of Q, K, V), the input projections (their gradients and ∂x), its
    norm. ``grads``: this layer's weight gradients in bytes (``down``, ``ff`` including down,
    ``attention``)."""
    saved = {p.name: p.value for p in act.layer_saved(arch, w, layer).parts}
    routed = arch.moe is not None and layer in arch.moe.layers
    T, B, d, n = w.tokens, w.B, arch.d_model, _n_norms(arch)
    ff_key = "moe" if routed else "mlp"
    inputs = saved.get("block inputs", 0)
    q = arch.n_heads * act.head_widths(arch)[0]
    kv = arch.n_kv_heads * 2 * act.head_widths(arch)[0]
    gated = 2 if arch.gated_mlp or routed else 1
    per_norm = saved.get("norms", 0) // n
    norm_width = act.RMS_BACKWARD_FP32_COPIES * 4 * d if arch.norm == "rmsnorm" else 2 * B * d
    norm_temps = round(w.outside(norm_width) * T)
    width = _ff_width(arch, w, routed)
    slots = act.routed_slots(arch, w) if routed else 0.0
    dequant = 0
    if w.lora is not None:
        from .lora import dequantized_matrix

        dequant = dequantized_matrix(arch, w.lora, w.bits)
    mlp_out = Block("MLP output", saved.get(ff_key, 0), grads["down"], grads["down"],
                    round(gated * B * width * T) + dequant)
    mlp_in = Block("MLP input projections", inputs // 2, grads["ff"] - grads["down"],
                   grads["ff"] - grads["down"], round(B * (gated * width + (2 * slots + 2) * d) * T))
    kernel = Block("attention kernel", saved.get("attention", 0) + saved.get("LoRA adapters", 0), 0, 0,
                   round(B * (2 * q + kv) * T) + dequant)
    proj = Block("attention projections", inputs - inputs // 2, grads["attention"], grads["attention"],
                 round(2 * B * d * T))
    norm = Block("norm", per_norm, 0, 0, norm_temps)
    return [mlp_out, mlp_in, *[norm] * (n - 1), kernel, proj, norm]


def _n_norms(arch: Architecture) -> int:
    from ..parameters import norms_per_layer

    return norms_per_layer(arch)


def _layer_moments(s: StepInputs, i: int, held: int, grads: int, grad_h: int) -> list[Moment]:
    """Each block of layer i's backward at its own peak (recomputed first under full recompute).
    Gradients that accumulate into kept buffers are temporaries until added in place."""
    run_acts = held + act.recompute_transient(s.arch, s.w, i) + grad_h
    run_grads = grads
    out = []
    for b in layer_blocks(s.arch, s.w, i, grads=s.layer_grads(i)):
        new_grads, temps = (0, b.peak_temps + b.peak_grads) if s.grads_kept else (b.peak_grads, b.peak_temps)
        out.append(Moment("backward", f"layer {i} {b.name}", run_grads + new_grads,
                          _acts(run_acts, temps, f"layer {i} {b.name} backward")))
        run_grads += 0 if s.grads_kept else b.grads
        run_acts -= b.saved
    return out


def optimizer_moment(s: StepInputs) -> Moment:
    return Moment("optimizer", "optimizer step", s.grads_total,
                  group("activations", [leaf("optimizer step temporaries", s.step_temporaries)]))


def moments(s: StepInputs) -> list[Moment]:
    return [forward_moment(s), *backward_moments(s), optimizer_moment(s)]


def total(m: Moment) -> int:
    return m.gradients + m.activations.value


def peak(ms: list[Moment]) -> Moment:
    return max(ms, key=total)
