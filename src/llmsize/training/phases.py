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
from .mixers import mixer_backward

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True)
class Moment:
    """Gradients and everything else non-model-state alive at one moment of the step."""

    phase: str  # forward | backward | optimizer
    where: str
    gradients: int
    held: int  # saved activations (of every micro-batch in flight)
    other: int  # the moment's own temporaries
    other_name: str
    held_line: bool = True  # False: the tree has only the temporaries (the optimizer step)

    @property
    def activation_bytes(self) -> int:
        return self.held + self.other

    @property
    def activations(self) -> Part:
        """The activations line of the report, built only for the moment that is read (the
        walk compares numbers: ``total``)."""
        other = leaf(self.other_name, self.other)
        held = [leaf("saved activations", self.held)] if self.held_line else []
        return group("activations", [*held, other])


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
    # layers of one class have equal numbers in every layout over this slice (type, window, MoE
    # or dense, unsharded gradients, weight matrices); the default makes each layer its own
    layer_class: Callable[[int], int] = lambda layer: layer


def saved(s: StepInputs, layer_saved: dict[int, Part] | None = None) -> tuple[list[int], Part]:
    """Per layer stored bytes (one micro-batch) and the resident tree of this stage
    (``layer_saved``: each layer's ``act.layer_saved``, where the caller has them already)."""
    if layer_saved is not None and s.w.recompute != "full":  # layer_stored is then layer_saved
        stored = [layer_saved[i].value + s.autocast_copies(i) for i in s.layers]
    else:
        stored = [act.layer_stored(s.arch, s.w, i) + s.autocast_copies(i) for i in s.layers]
    r = act.resident(s.arch, s.w)
    keep = {"input ids and labels", "rotary cos, sin", "embedding dropout mask", act.ALTUP_IN}
    parts = [p for p in r.parts if (p.name in keep and s.first) or (p.name not in keep and s.last)]
    return stored, group("outside the layers", parts)


def forward_moment(s: StepInputs, state: tuple[list[int], Part] | None = None) -> Moment:
    stored, resident = state or saved(s)
    held = round(s.in_flight * (sum(stored) + resident.value))
    loss = act.logits_forward(s.arch, s.w) if s.last else 0
    grads = s.grads_total if s.grads_kept else 0
    return Moment("forward", LOSS_FORWARD, grads, held, loss,
                  "logits and loss (forward)")


def backward_moments(s: StepInputs, state: tuple[list[int], Part] | None = None,
                     layer_saved: dict[int, Part] | None = None) -> list[Moment]:
    """The loss, the head, each block of each layer from last to first, and the embedding."""
    stored, resident = state or saved(s, layer_saved)
    others = round((s.in_flight - 1) * (sum(stored) + resident.value))  # other micro-batches in flight
    held = sum(stored) + resident.value
    grads = s.grads_total if s.grads_kept else 0
    T, B, d = s.w.tokens, s.w.B, s.arch.d_model
    out = []
    if s.last:
        out.append(Moment("backward", LOSS_BACKWARD, grads, others + held,
                          act.logits_backward(s.arch, s.w), "loss backward"))
        buffered = head_buffered(s)
        head_tmp = logits_gradient(B, T, s.arch, s.w.loop) + buffered
        out.append(Moment("backward", HEAD, grads + (0 if s.grads_kept else s.head_grads),
                          others + held, head_tmp, "logits' gradient"))
        grads += 0 if s.grads_kept else s.head_grads
        held += buffered - _part(resident, "final norm and head input") - _part(resident, act.ALTUP_OUT)
    grad_h = hidden_gradient(B, T, d)
    for i, stored_i in zip(reversed(s.layers), reversed(stored), strict=True):
        out += _layer_moments(s, i, others + held, grads, grad_h, layer_saved)
        held -= stored_i
        grads += 0 if s.grads_kept else sum(s.layer_grads(i)[k] for k in ("ff", "attention"))
    if s.first:
        # freed by the dropout's backward, and by AltUp's projections' (Gemma 3n)
        held -= _part(resident, "embedding dropout mask") + _part(resident, act.ALTUP_IN)
        out.append(Moment("backward", EMBEDDING, grads, others + held, embedding_temporaries(s) + grad_h,
                          "embedding gradient"))
    return out


LOSS_FORWARD, LOSS_BACKWARD = "loss (logits, fp32 copy, log-softmax)", "loss (cross-entropy backward)"
HEAD, EMBEDDING, OPTIMIZER_STEP = "lm head", "embedding", "optimizer step"


def logits_gradient(B: float, T: int, arch: Architecture, loop: str = "trainer") -> int:  # noqa: N803
    """The head's backward: the logits' gradient B·T·V and the hidden state's gradient B·T·d
    (none for a fused cross-entropy: its forward wrote ∂hidden, ``loop.py``)."""
    return 0 if loop == "fused-ce" else round(B * T * arch.vocab_size + B * T * arch.d_model)


def hidden_gradient(B: float, T: int, d: int) -> int:  # noqa: N803
    """∂hidden, B·T·d: the gradient each layer's backward receives."""
    return round(B * T * d)


def head_buffered(s: StepInputs) -> int:
    """A tied head's gradient waits in autograd's input buffer for the embedding's share."""
    return s.embedding_grads if s.arch.tie_embeddings and s.first else 0


def embedding_temporaries(s: StepInputs) -> int:
    """The embedding's gradient as embedding_dense_backward writes it, before AccumulateGrad
    takes it (MemTracker files it as a temporary then); adding it to an existing gradient (tied
    head, accumulation) also holds the sum for a moment."""
    return (2 if s.arch.tie_embeddings or s.grads_kept else 1) * s.embedding_grads


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


@dataclass(frozen=True)
class BlockForm:
    """A ``Block`` before the micro-batch's tokens T are known: its temporaries are
    round(``temps_per_token`` · T) + ``temps_fixed`` (a dequantised matrix), the rest is fixed."""

    name: str
    grads: int
    peak_grads: int
    temps_per_token: float
    temps_fixed: int = 0


def block_forms(arch: Architecture, w: act.ActivationSpec, layer: int, *,
                grads: dict[str, int]) -> list[BlockForm]:
    """The layer's backward in the order autograd runs it: the MLP's output side (the down
    projection's gradient, then the two gradients of the gated product, 2·B·I per token), its
    input projections (gate-up gradients, the gathered inputs and their gradient for MoE, ∂x),
    its norm (RMSNorm's backward holds four fp32 copies of d), the attention kernel (o_proj's
    input gradient and those of Q, K, V), the input projections (their gradients and ∂x), its
    norm. ``grads``: this layer's weight gradients in bytes (``down``, ``ff`` including down,
    ``attention``). None of it depends on the sequence length."""
    routed = arch.moe is not None and layer in arch.moe.layers
    B, d, n = w.B, arch.d_model, _n_norms(arch)
    q = arch.n_heads * act.head_widths(arch)[0]
    kv = arch.n_kv_heads * 2 * act.head_widths(arch)[0]
    gated = 2 if arch.gated_mlp or routed else 1
    norm_width = act.RMS_BACKWARD_FP32_COPIES * 4 * d if arch.norm == "rmsnorm" else 2 * B * d
    width = _ff_width(arch, w, routed)
    slots = act.routed_slots(arch, w) if routed else 0.0
    dequant = 0
    if w.lora is not None:
        from .lora import dequantized_matrix

        dequant = dequantized_matrix(arch, w.lora, w.bits)
    down, up = grads["down"], grads["ff"] - grads["down"]
    norm = BlockForm("norm", 0, 0, w.outside(norm_width))
    ff, attention, mixer = _has_blocks(arch, layer)
    kernel = (B * (2 * q + kv) if attention else 0.0) + (mixer_backward(arch, w, mixer) if mixer else 0.0)
    return [BlockForm("MLP output", down, down, gated * B * width * ff, dequant),
            BlockForm("MLP input projections", up, up, B * (gated * width + (2 * slots + 2) * d) * ff),
            *[norm] * (n - 1),
            BlockForm("attention kernel" if not mixer else "mixer", 0, 0, kernel, dequant),
            BlockForm("attention projections" if not mixer else "mixer projections", grads["attention"],
                      grads["attention"], 2 * B * d * (attention or bool(mixer))),
            norm]


def _has_blocks(arch: Architecture, layer: int) -> tuple[bool, bool, str]:
    """(an MLP or MoE, softmax attention, the other mixer's kind or "") of a layer: a hybrid's
    single-block layers have one of them (Mamba, Nemotron-H), the others attention or a mixer
    and an MLP."""
    kind = arch.layer_types[layer] if layer < len(arch.layer_types) else "full"
    mixer = kind if kind in ("mamba", "linear", "conv", "parallel") else ""
    return not arch.single_block or kind == "none", act.has_attention(arch, layer), mixer


def block_frees(saved: dict[str, int], *, ff: str, n_norms: int) -> list[int]:
    """What each of ``block_forms`` frees when done, from the layer's saved lines (bytes): the
    MLP's (``ff``: "mlp", or "moe" for a routed layer), half the block inputs (the MLP's), one
    norm's share, the attention's and the adapters' tensors, the other half of the inputs, the
    last norm."""
    inputs, per_norm = saved.get("block inputs", 0), saved.get("norms", 0) // n_norms
    kernel = saved.get("attention", 0) + saved.get("mixer", 0) + saved.get("LoRA adapters", 0)
    return [saved.get(ff, 0), inputs // 2, *[per_norm] * (n_norms - 1), kernel,
            inputs - inputs // 2, per_norm]


def layer_blocks(arch: Architecture, w: act.ActivationSpec, layer: int, *,
                 grads: dict[str, int], layer_saved: Part | None = None) -> list[Block]:
    """``block_forms`` at the micro-batch's tokens, with what each frees (``block_frees``)."""
    saved = {p.name: p.value for p in (layer_saved or act.layer_saved(arch, w, layer)).parts}
    T = w.tokens
    frees = block_frees(saved, ff=act.ff_line(arch, layer), n_norms=_n_norms(arch))
    return [Block(f.name, freed, f.grads, f.peak_grads, round(f.temps_per_token * T) + f.temps_fixed)
            for f, freed in zip(block_forms(arch, w, layer, grads=grads), frees, strict=True)]


def _n_norms(arch: Architecture) -> int:
    from ..parameters import norms_per_layer

    return norms_per_layer(arch)


def _layer_moments(s: StepInputs, i: int, held: int, grads: int, grad_h: int,
                   layer_saved: dict[int, Part] | None = None) -> list[Moment]:
    """Each block of layer i's backward at its own peak (recomputed first under full recompute).
    Gradients that accumulate into kept buffers are temporaries until added in place."""
    mine = layer_saved[i] if layer_saved is not None else None
    if mine is None:
        transient = act.recompute_transient(s.arch, s.w, i)
    else:  # recompute_transient, from the layer's saved tensors already at hand
        transient = mine.value if s.w.recompute == "full" else 0
    run_acts = held + transient + grad_h
    run_grads = grads
    out = []
    for b in layer_blocks(s.arch, s.w, i, grads=s.layer_grads(i), layer_saved=mine):
        new_grads, temps = (0, b.peak_temps + b.peak_grads) if s.grads_kept else (b.peak_grads, b.peak_temps)
        out.append(Moment("backward", f"layer {i} {b.name}", run_grads + new_grads, run_acts, temps,
                          f"layer {i} {b.name} backward"))
        run_grads += 0 if s.grads_kept else b.grads
        run_acts -= b.saved
    return out


def optimizer_moment(s: StepInputs) -> Moment:
    """All gradients and the update's temporaries; a plain loop's logits are still alive."""
    kept = act.kept_logits(s.arch, s.w) if s.last else 0
    return Moment("optimizer", OPTIMIZER_STEP, s.grads_total, kept, s.step_temporaries,
                  "optimizer step temporaries", held_line=kept > 0)


def moments(s: StepInputs) -> list[Moment]:
    """Every moment of the step, in order; each layer's saved tensors are computed once."""
    layer_saved = {i: act.layer_saved(s.arch, s.w, i) for i in s.layers}
    state = saved(s, layer_saved)
    return [forward_moment(s, state), *backward_moments(s, state, layer_saved), optimizer_moment(s)]


def total(m: Moment) -> int:
    return m.gradients + m.held + m.other


def peak(ms: list[Moment]) -> Moment:
    return max(ms, key=total)
