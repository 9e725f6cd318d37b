"""Which measurements set which constants, and the held-out column the error bars come from.

An error bar is honest only if the cases behind it did not set the constants it judges. Every
constant or family rule of a modelled term that was chosen by looking at a MemTracker
measurement is listed in ``CONSTANTS`` with the architecture families (``model_type``) whose
measurements set it. Per mode and term the validation cases then fall in two columns:

    calibration  cases of a family that set a constant of the term (validated on what set it)
    held-out     cases of every other family: their errors are what a new architecture sees

Where a constant is a plain fit that can be re-run (a slope, bytes per routed slot), it is
re-fitted leave-one-family-out from the committed measurements (``results.json``), without
re-measuring: the held-out family's cases are re-estimated with the value the *other* families
give (``refit``), so that family joins the held-out column. A rule that cannot be re-fitted (a
family record in ``arch.MODELING``, a per-family count) keeps its families in the calibration
column by construction. Where the git log does not say which measurement a rule answered, every
grid family the rule changes counts as calibration (the conservative choice).

The exact terms (weights, KV cache, optimizer states) and the gradients have no fitted
constants: every case is held out for them. ``total`` sums every term of the mode, so its
calibration families are the union of the mode's.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .grid import config

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


@dataclass(frozen=True)
class Refit:
    """A constant that is a least-squares fit over cases whose estimate is linear in it:
    x = Σ sᵢ·rᵢ / Σ sᵢ², sᵢ the estimate's change per unit of x, rᵢ = measured − estimate(x = 0),
    over the ``attn`` cases of the families that exercise it, rounded to an integer."""

    module: str
    name: str
    attn: str = "sdpa"


@dataclass(frozen=True)
class Constant:
    where: str  # module and name, or the rule
    mode: str
    term: str
    families: tuple[str, ...]  # model_types whose measurements set it
    how: str
    refit: Refit | None = None


CONSTANTS = (
    # --- inference activations (inference/prefill.py, arch.Modeling) ---
    Constant("inference.prefill.INDEX_BYTES_PER_SLOT = 72", "infer", "activations", ("qwen3_moe",),
             "72.03 B/slot fits qwen3-30b-a3b's three sdpa cases; mixtral-8x7b's give 44",
             Refit("llmsize.inference.prefill", "INDEX_BYTES_PER_SLOT")),
    Constant("arch.Modeling.eager_peak default (3, 1)", "infer", "activations", ("llama",),
             "MemTracker bf16/fp32 growth of the s² tensors, llama-3.1-8b (tests/test_prefill.py)"),
    Constant("arch.MODELING['gpt2'].eager_peak (2, 0)", "infer", "activations", ("gpt2",),
             "measured as above on gpt2"),
    Constant("arch.MODELING['falcon'].eager_peak (4, 0)", "infer", "activations", ("falcon",),
             "measured on falcon-7b and falcon-40b (not in the grid)"),
    Constant("arch.MODELING['gptj'].eager_peak (1, 2)", "infer", "activations", ("gptj",),
             "measured on gpt-j-6b (not in the grid)"),
    Constant("inference.prefill.resident: a third hidden copy with learned positions", "infer", "activations",
             ("gpt2",), "the only learned-position family in the grid"),
    Constant("inference.prefill.mlp_coefficient: 4 for a Python tanh-GELU", "infer", "activations",
             ("phi", "gpt2"), "from NewGELUActivation, checked on the two gelu_new families"),
    Constant("inference.prefill.mlp_phase: post-norm feeds the MLP the un-normed state", "infer",
             "activations", ("olmo2",), "the only post-norm family in the grid"),
    Constant("inference.prefill.window_mask", "infer", "activations", ("mistral", "gemma3_text"),
             "the sliding-window families whose context reaches the window"),
    Constant("inference.prefill.relative_bias", "infer", "activations", ("t5",), "T5 only"),
    Constant("inference.mixers (torch-path scan workspaces, own_state, the layer-0 hidden copy)", "infer",
             "activations", ("mamba", "jamba", "nemotron_h", "qwen3_next", "qwen3_5_text", "lfm2"),
             "tensors alive at each mixer's peak, listed under FakeTensorMode on these families; "
             "falcon_mamba's Mamba-1 was not looked at"),
    Constant("arch.MODELING['qwen3_next'].fused_qkvz", "infer", "activations", ("qwen3_next",),
             "family record"),
    # the newer native families (grid.FAMILIES_NEW): rules read from their modeling code, then
    # checked on (and in places shaped by) their own measurements
    Constant("arch.MODELING['dbrx'] qkv_kept, expert_loop (inference.prefill.output_moment, "
             "expert_loop_phase)", "infer", "activations", ("dbrx",), "measured on dbrx-instruct"),
    Constant("arch.MODELING['gpt_oss'] eager_peak (3, 0), clamped_swiglu (prefill.expert_width)", "infer",
             "activations", ("gpt_oss",), "from modeling_gpt_oss.py, checked on gpt-oss-20b"),
    Constant("arch.MODELING fp32_routing_weights", "infer", "activations",
             ("glm4_moe", "deepseek_v32", "minimax_m2", "dots1"), "from each router's code, checked on each"),
    Constant("inference.prefill.moe_phase: shared experts after the routed ones", "infer", "activations",
             ("dots1", "glm4_moe", "deepseek_v32", "deepseek_v2"),
             "from the MoE blocks' code, found on dots1; every grid family with shared experts it moves"),
    Constant("inference.prefill.mlp_coefficient: 4 for a fused gate-up, 5 + mask for xIELU", "infer",
             "activations", ("glm4", "apertus"), "measured on glm-4-32b and apertus-8b"),
    Constant("inference.prefill.indexer_phase", "infer", "activations", ("deepseek_v32",),
             "measured on deepseek-v3.2 with equal q/v head dims (tests/test_prefill.py)"),
    Constant("inference.prefill.fp32_rotary (tables per position)", "infer", "activations", ("ernie4_5",),
             "from modeling_ernie4_5.py, checked on ernie-4.5-0.3b"),
    Constant("inference.prefill.moe_phase: Llama 4's shared expert after the experts", "infer",
             "activations", ("llama4_text",), "from Llama4TextMoe.forward, checked on Llama-4-Scout"),
    # --- training activations (training/activations.py, training/phases.py, arch.Modeling) ---
    Constant("training.activations.RMS_BACKWARD_FP32_COPIES = 4", "train", "activations", ("llama",),
             "measured on llama-3.1-8b; no grid estimate moves with it (backward norm never the peak)"),
    Constant("arch.MODELING fp32_norm", "train", "activations",
             ("gemma3_text", "olmo2", "nemotron_h", "qwen3_next", "qwen3_5_text"), "family records"),
    Constant("arch.MODELING fp32_logits", "train", "activations", ("nemotron_h", "mamba", "falcon_mamba"),
             "family records (seen on nemotron-h; the same line in mamba and falcon_mamba's code)"),
    Constant("training.mixers (saved tensors, MAMBA1_CHANNEL_BYTES = 26, backward temporaries)", "train",
             "activations", ("mamba", "jamba", "nemotron_h", "qwen3_next", "qwen3_5_text", "lfm2"),
             "tensors alive after one mixer's forward and at its backward peak, listed on these families"),
    Constant("arch.MODELING['olmo2'].fp32_rotary", "train", "activations", ("olmo2",), "family record"),
    Constant("arch.MODELING['deepseek_v2'].fp32_router", "train", "activations", ("deepseek_v2",),
             "family record"),
    Constant("arch.MODELING['phi'].cat_rotary and CPU sdpa_output_like_query", "train", "activations",
             ("phi",), "family record; the CPU kernel's layout, seen on phi-2"),
    Constant("arch.MODELING['gpt2'] (softmax in the model dtype, qkv views)", "train", "activations",
             ("gpt2",), "family record"),
    Constant("training.activations.PYTHON_GELU_SAVED = 5", "train", "activations", ("phi", "gpt2"),
             "from NewGELUActivation, checked on the two gelu_new families"),
    Constant("training.activations.CPU: dropout mask in the activation dtype", "train", "activations",
             ("phi", "gpt2"), "the families with dropout > 0"),
    Constant("training.activations.CPU: LayerNorm stats in the input dtype", "train", "activations",
             ("phi", "gpt2", "starcoder2"), "the LayerNorm families"),
    Constant("training.activations.CPU: math sdpa fallback, MATH_BITS = 32", "train", "activations",
             ("deepseek_v2", "gpt2"), "MLA's unequal head dims; attention dropout"),
    Constant("training.optimizers.for_loop_peak (the previous tensor's denom)", "train", "activations",
             ("dbrx",), "from torch/optim/adam.py, found on dbrx (three equal expert tensors in a row)"),
)
# The reference family: every phase model was first written and checked on Llama.
REFERENCE = "llama"


def calibration_families(mode: str, term: str) -> set[str]:
    """Families that set a constant of ``term`` (of every modelled term for ``total``), less the
    constants re-fitted leave-one-family-out."""
    terms = {c.term for c in CONSTANTS if c.mode == mode} if term == "total" else {term}
    out = {f for c in CONSTANTS if c.mode == mode and c.term in terms and c.refit is None
           for f in c.families}
    return out | ({REFERENCE} if out else set())


def family(model: str) -> str:
    return str(config(model).get("model_type", model))


# --- re-estimating a committed case ---------------------------------------------------------


def estimate(case: dict) -> dict[str, int]:
    """llmsize's estimate of a committed case (no measurement): the terms its row measured."""
    from llmsize.measure.compare import estimate_infer, estimate_train
    cfg = config(case["model"])
    shape = {"batch": case["batch"], "seq": case["seq"], "attn": case["attn"], "layers": case["layers"]}
    if case["mode"] == "infer":
        return estimate_infer(cfg, case["model"], **shape)
    terms, _ = estimate_train(cfg, case["model"], **shape, optimizer=case["optimizer"],
                              recompute=case["recompute"], lora_rank=case["lora_rank"])
    return terms


def errors(row: dict, guess: dict[str, int]) -> dict[str, float | None]:
    """As ``measure.compare.Comparison.errors``: per term, and the total against the peak."""
    out: dict[str, float | None] = {}
    for term, value in row["measured"].items():
        g = guess.get(term, 0)
        out[term] = g / value - 1 if value else (0.0 if g == 0 else None)
    out["total"] = sum(guess.get(t, 0) for t in row["measured"]) / row["peak_bytes"] - 1
    return out


def _with(refit: Refit, value: int, row: dict) -> dict[str, int]:
    module = importlib.import_module(refit.module)
    old = getattr(module, refit.name)
    setattr(module, refit.name, value)
    try:
        return estimate(row["case"])
    finally:
        setattr(module, refit.name, old)


def _slopes(c: Constant, rows: Iterable[dict]) -> list[tuple[dict, float, int]]:
    """(row, estimate change per unit, measured − estimate at 0) for the rows the constant moves."""
    assert c.refit is not None
    value = getattr(importlib.import_module(c.refit.module), c.refit.name)
    out = []
    for r in rows:
        if r["case"]["mode"] != c.mode:
            continue
        at, zero = estimate(r["case"])[c.term], _with(c.refit, 0, r)[c.term]
        if at != zero:
            out.append((r, (at - zero) / value, r["measured"][c.term] - zero))
    return out


def refit(c: Constant, rows: list[dict]) -> dict[str, int]:
    """Per family the constant moves: the value the other families' ``attn`` cases fit."""
    assert c.refit is not None
    moved = _slopes(c, rows)
    fams = {family(r["case"]["model"]) for r, _, _ in moved}
    out = {}
    for held in sorted(fams):
        used = [(s, res) for r, s, res in moved
                if family(r["case"]["model"]) != held and r["case"]["attn"] == c.refit.attn]
        if used:
            out[held] = round(sum(s * res for s, res in used) / sum(s * s for s, _ in used))
    return out


def held_out_errors(rows: list[dict]) -> dict[str, dict[str, float | None]]:
    """label → errors with every re-fitted constant at its leave-one-family-out value (only rows
    a re-fit moves; the others keep their committed errors)."""
    out: dict[str, dict[str, float | None]] = {}
    for c in (c for c in CONSTANTS if c.refit is not None):
        values = refit(c, rows)
        for r in rows:
            v = values.get(family(r["case"]["model"]))
            if r["case"]["mode"] == c.mode and v is not None:
                out[r["label"]] = errors(r, _with(c.refit, v, r))
    return out


def refits(rows: list[dict]) -> list[tuple[str, str, int]]:
    """(constant, held-out family, re-fitted value) for the report."""
    return [(c.where, fam, v) for c in CONSTANTS if c.refit is not None for fam, v in refit(c, rows).items()]


def unfitted(rows: list[dict]) -> dict[tuple[str, str], set[str]]:
    """(mode, term) → families a re-fitted constant moves but no other family can re-fit: they
    stay in the calibration column."""
    out: dict[tuple[str, str], set[str]] = {}
    for c in (c for c in CONSTANTS if c.refit is not None):
        moved = {family(r["case"]["model"]) for r, _, _ in _slopes(c, rows)}
        lonely = moved - set(refit(c, rows))
        for term in (c.term, "total"):
            out.setdefault((c.mode, term), set()).update(lonely)
    return out


def refitted_families(mode: str, term: str) -> set[str]:
    """Families that set a re-fitted constant of ``term`` (all of the mode's for ``total``)."""
    return {f for c in CONSTANTS if c.refit is not None and c.mode == mode
            and (term == "total" or c.term == term) for f in c.families}
