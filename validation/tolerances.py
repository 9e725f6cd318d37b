"""The committed tolerances, in one place: how far an estimate may be from PyTorch's measured
peak before the validation suite (and CI's fast subset) fails.

Relative errors, |estimate / measured − 1|. ``TOTAL`` bounds weights + KV + activations
(inference) or weights + gradients + optimizer states + activations (training) against the
measured peak: the issues' ±5%. The activation term is the only modelled one; its default bound
is tight where the phase model follows the modeling code, and wider per model where a measured
effect is not modelled (the reason is on the line).
"""

from __future__ import annotations

TOTAL = 0.05

ACTIVATIONS = {"infer": 0.02, "train": 0.05}
# Eager attention: each family's ``eager_attention_forward`` keeps a slightly different set of
# s² tensors alive (q/k norms, repeat_kv copies, where the cast happens); the model keeps the
# scores, masked scores and softmax. On the CPU softmax(dtype=fp32) also converts its input.
EAGER_ACTIVATIONS = 0.20

# (mode, model) → activation tolerance, with the reason it is wider than the default.
ACTIVATIONS_BY_MODEL = {
    ("infer", "gemma-3-1b"): 0.06,  # its second (local) rotary table is not modelled
    ("infer", "deepseek-v2-lite"): 0.25,  # fp32 router and expert loop of DeepseekV2Moe not modelled
    ("infer", "t5-base"): 1.6,  # T5's encoder attention is over-estimated (conservative); not modelled
}
# (mode, model) → total tolerance where the activation error dominates a small model.
TOTAL_BY_MODEL = {
    ("infer", "t5-base"): 0.55,  # see above: over-estimates, never under
}


def activation_tolerance(mode: str, model: str, attn: str = "sdpa") -> float:
    bound = ACTIVATIONS_BY_MODEL.get((mode, model), ACTIVATIONS[mode])
    return max(bound, EAGER_ACTIVATIONS) if attn == "eager" else bound


def total_tolerance(mode: str, model: str) -> float:
    return TOTAL_BY_MODEL.get((mode, model), TOTAL)


# Models whose activations are not modelled closely enough to speak for others: they are
# validated and reported, but left out of the error bars llmsize prints.
NOT_IN_ERROR_BARS = {"t5-base": "encoder-decoder attention with relative bias is over-estimated"}
