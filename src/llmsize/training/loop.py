"""The training loop's share of the step: what the logits and the loss cost.

Three loops, each as users write it::

    trainer    HF ``Trainer.training_step`` (the default): ``compute_loss`` returns the loss
               alone, so the B·V logits are freed before ``backward``; the loss's forward holds
               the logits, their fp32 copy and the fp32 log-softmax (B + 4 + 4)·V per token,
               its backward 12·V, the head's backward the logits' gradient B·V (+ B·d)
    plain      ``outputs = model(**batch); outputs.loss.backward(); opt.step()``: ``outputs``
               (its B·V logits) stays alive through backward and the optimizer step, and until
               the next forward has returned: B·V per token on top of every moment
    fused-ce   a fused linear cross-entropy (Liger Kernel ``LigerFusedLinearCrossEntropyFunction``,
               ``liger_kernel/ops/fused_linear_cross_entropy.py``): no logits at all; in the
               forward, chunks of ⌈B·T / ⌈V/d⌉⌉ rows compute their logits (B·V per row), the
               loss and its gradient in place, and write ∂hidden (B·d, kept for backward) and an
               fp32 loss per row; backward returns the kept ∂hidden

Left out for fused-ce: the chunk's rounding up to a power of two (up to twice the chunk), and,
in full training, that the head's weight gradient is written during the forward.
"""

from __future__ import annotations

from ..arch import Architecture

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .activations import ActivationSpec

LOOPS = ("trainer", "plain", "fused-ce")
LOSS_FP32_BYTES = 4  # Liger's per-row fp32 loss accumulator (``loss_1d``)


def kept_logits_per_token(arch: Architecture, w: ActivationSpec) -> float:
    """A plain loop's ``outputs.logits``, B·V per token, alive across the whole step."""
    return w.B * arch.vocab_size if w.loop == "plain" else 0.0


def fused_chunk_rows_per_token(arch: Architecture) -> float:
    """Rows of one fused-ce chunk per token of the micro-batch: 1/⌈V/d⌉ (Liger's ``inc_factor``)."""
    return 1 / -(-arch.vocab_size // arch.d_model)


def fused_forward_per_token(arch: Architecture, w: ActivationSpec) -> float:
    """fused-ce's forward peak per token beyond the saved activations: ∂hidden B·d, the fp32
    loss per row, one chunk's logits and its ∂hidden product (B·(V + d) per chunk row), and the
    head's input B·d where a frozen head saves none (it is alive while the loss runs)."""
    d, v = arch.d_model, arch.vocab_size
    chunk = fused_chunk_rows_per_token(arch) * w.B * (v + d)
    return w.B * d + LOSS_FP32_BYTES + chunk + w.B * d * w.frozen


def grad_input_kept_per_token(arch: Architecture, w: ActivationSpec) -> float:
    """fused-ce keeps ∂hidden (B·d) from its forward to the head's backward; in full training
    it stands in for the head's input, which the fused function does not save."""
    return w.B * arch.d_model if w.loop == "fused-ce" and w.frozen else 0.0
