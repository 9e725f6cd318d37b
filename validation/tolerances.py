"""The committed tolerances, in one place: how far an estimate may be from PyTorch's measured
peak before the validation suite (and CI's fast subset) fails.

Relative errors, estimate / measured − 1, as (lower, upper) bounds. The rule:

1. ``TOTAL``, ±5%: the issue's bound on weights + KV + activations (inference) or weights +
   gradients + optimizer states + activations (training) against the measured peak. A requirement,
   not a fit.
2. ``ACTIVATIONS``, ±2% inference, ±5% training: where the phase model follows the modeling code
   term by term, the only misses are allocator granularity and small buffers.
3. A named effect the model leaves out (the reason is on its line) widens the bound on one side
   only, the side the effect pushes to, to the smallest step of ``LADDER`` that is at least
   ``HEADROOM`` × the error measured when the effect was named (the case is on the line). The other
   side keeps the default, so a change that flips the effect's sign fails, and so does one that
   makes it half as large again.

These bounds gate regressions. They are not the error bars llmsize prints: those come from the
held-out column of the report (``calibration.py``).
"""

from __future__ import annotations

LADDER = (0.02, 0.05, 0.10, 0.20, 0.50, 1.0, 2.0, 5.0)
HEADROOM = 1.5

TOTAL = 0.05
ACTIVATIONS = {"infer": 0.02, "train": 0.05}


def widened(measured_when_named: float) -> float:
    """Rule 3: the smallest ladder step ≥ HEADROOM × |the error when the effect was named|."""
    need = HEADROOM * abs(measured_when_named)
    return next(step for step in LADDER if step >= need)


# Eager attention: each family's ``eager_attention_forward`` keeps a slightly different set of
# s² tensors alive (q/k norms, repeat_kv copies, where the cast happens); the model keeps the
# scores, masked scores and softmax. On the CPU softmax(dtype=fp32) also converts its input.
# Over-estimates: olmo-2-1b infer b1 s1024 eager +16.86%; under: gemma-3-1b infer b1 s1024 eager −8.60%.
EAGER_ACTIVATIONS = (-widened(-0.0860), widened(0.1686))

# (mode, model) → (lower, upper) activation bounds where a named effect is not modelled.
ACTIVATIONS_BY_MODEL = {
    # a Mamba-2-only stack (Mamba2ForCausalLM, no MLP between mixers) peaks in the backward of the
    # mixer's gated RMSNorm, where fewer of the backward temporaries (read from Nemotron-H's listing,
    # training/mixers.py) are alive than modelled: over; mamba-codestral train b2 s512 sdpa +12.25%
    ("train", "mamba-codestral-7b-v0.1-8bit"): (-ACTIVATIONS["train"], widened(0.1225)),
    # its second (local) rotary table is not modelled: under; gemma-3-1b infer b1 s4096 sdpa −4.60%
    ("infer", "gemma-3-1b"): (-widened(-0.0460), ACTIVATIONS["infer"]),
    # fp32 router and expert loop of DeepseekV2Moe not modelled: under; b16 s256 eager −18.98%
    ("infer", "deepseek-v2-lite"): (-widened(-0.1898), EAGER_ACTIVATIONS[1]),
    # ERNIE's fp32 rotary: with b > 1 fewer fp32 temporaries are alive at the query's rotation than the
    # three modelled (prefill.fp32_rotary; exact at b1): over; ernie-4.5-0.3b-pt infer b4 s256 sdpa +2.17%
    ("infer", "ernie-4.5-0.3b-pt"): (-ACTIVATIONS["infer"], widened(0.0217)),
    # Gemma 3n (tests/test_prefill.py GEMMA3N, E4B widths): its second (local) rotary table and
    # ~2·d per token alive at the MLP's peak are not modelled: under; b1 s2048 sdpa −6.20%
    ("infer", "gemma3n"): (-widened(-0.0620), ACTIVATIONS["infer"]),
    # T5's encoder attention is over-estimated (conservative), never under; b1 s1024 eager +156.29%
    ("infer", "t5-base"): (-ACTIVATIONS["infer"], widened(1.5629)),
}
# (mode, model) → (lower, upper) total bounds where the activation error dominates a small model.
TOTAL_BY_MODEL = {
    ("infer", "t5-base"): (-TOTAL, widened(0.5055)),  # see above: over-estimates; b1 s1024 eager +50.55%
    # DeepseekV2Moe's fp32 router and expert peak (above), once shared experts no longer count beside the
    # routed slots (they run after them): under; deepseek-v2-lite infer b16 s256 eager −5.03%
    ("infer", "deepseek-v2-lite"): (-widened(-0.0503), TOTAL),
}


def activation_bounds(mode: str, model: str, attn: str = "sdpa") -> tuple[float, float]:
    """(lower, upper) bounds on the activation term's relative error; eager takes the wider of
    the model's and eager's on each side."""
    default = (-ACTIVATIONS[mode], ACTIVATIONS[mode])
    lo, hi = ACTIVATIONS_BY_MODEL.get((mode, model), default)
    if attn == "eager":
        lo, hi = min(lo, EAGER_ACTIVATIONS[0]), max(hi, EAGER_ACTIVATIONS[1])
    return lo, hi


def total_bounds(mode: str, model: str) -> tuple[float, float]:
    return TOTAL_BY_MODEL.get((mode, model), (-TOTAL, TOTAL))


def within(error: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= error <= bounds[1]


def show(bounds: tuple[float, float]) -> str:
    return f"[{100 * bounds[0]:+g}%, {100 * bounds[1]:+g}%]"


# Models whose activations are not modelled closely enough to speak for others: they are
# validated and reported, but left out of the error bars llmsize prints.
NOT_IN_ERROR_BARS = {"t5-base": "encoder-decoder attention with relative bias is over-estimated"}
