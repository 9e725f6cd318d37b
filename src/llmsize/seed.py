"""The ``seed`` method: the simplified count of the blog post "Sizing an LLM: Parameters".

The post that started llmsize counts, for model width d, L layers, ``heads`` attention heads and a
vocabulary of V tokens::

    embedding     V · d
    attention     L · heads · (d · d / heads)
    feed-forward  L · 2 · d²
    output        d · V

and sizes the parameters at 4 / 2 / 1 bytes each (FP32 / FP16 / INT8).  It leaves out biases,
norms, position embeddings, the 4·d MLP width of real blocks (it has 2·d²), and weight tying.

Its worked example (d=512, L=12, heads=8, V=50,000) prints 3,932,160 for attention and 61,423,616
in total.  The formula gives 12 · 8 · (512 · 512 / 8) = 3,145,728 for attention, so 60,637,184 in
total: the printed figures carry an arithmetic slip of 786,432.  llmsize reports what the formula
gives and flags the misprint.
"""

from __future__ import annotations

from dataclasses import dataclass

from .schemas import nested, versioned
from .tree import Part, group, leaf

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .inference.estimate import InferenceReport

SEED_BYTES_PER_PARAM = {"fp32": 4, "fp16": 2, "int8": 1}  # the blog's widths, 32/16/8 bits

# The blog's worked example and the figures it printed, kept to flag the slip.
BLOG_EXAMPLE = {"d_model": 512, "n_layers": 12, "n_heads": 8, "vocab_size": 50_000}
BLOG_PRINTED = {"attention": 3_932_160, "total": 61_423_616}


@dataclass(frozen=True)
class SeedReport:
    breakdown: Part
    total: int
    bytes_by_dtype: dict[str, int]
    notes: tuple[str, ...]
    warnings: tuple[str, ...] = ()  # from reading the source; not part of the JSON (see api.py)

    def to_dict(self) -> dict[str, object]:
        return versioned({
            "method": "seed",
            "total": self.total,
            "breakdown": self.breakdown.to_dict(),
            "bytes": self.bytes_by_dtype,
            "notes": list(self.notes),
        })


def seed_attention(*, d_model: int, n_layers: int, n_heads: int) -> int:
    """Attention as the blog writes it: L · heads · (d · d / heads) (one d×d matrix per layer)."""
    d, L, h = d_model, n_layers, n_heads
    return L * (h * d * d) // h  # heads · (d²/heads) is d² exactly, whatever heads is


def seed_bytes(params: int) -> dict[str, int]:
    """Parameters × 4 / 2 / 1 bytes (FP32 / FP16 / INT8), as in the blog."""
    return {dtype: params * width for dtype, width in SEED_BYTES_PER_PARAM.items()}


def seed_count(*, d_model: int, n_layers: int, n_heads: int, vocab_size: int) -> SeedReport:
    """The blog's four terms and their sum, with a note where its printed figures differ."""
    d, L, V = d_model, n_layers, vocab_size
    parts = [
        leaf("embedding", V * d),
        leaf("attention", seed_attention(d_model=d, n_layers=L, n_heads=n_heads)),
        leaf("feed_forward", L * 2 * d * d),
        leaf("output", d * V),
    ]
    root = group("seed", parts)
    return SeedReport(root, root.value, seed_bytes(root.value), _slip_notes(root, d, L, n_heads, V))


def seed_from_params(params: int) -> SeedReport:
    """The blog's byte sizing for a given parameter count (``--params N``)."""
    root = leaf("given", params)
    return SeedReport(root, params, seed_bytes(params), ())


def _slip_notes(root: Part, d: int, L: int, heads: int, V: int) -> tuple[str, ...]:
    if {"d_model": d, "n_layers": L, "n_heads": heads, "vocab_size": V} != BLOG_EXAMPLE:
        return ()
    attn = root.find("attention")
    assert attn is not None
    return (
        f"the blog prints attention {BLOG_PRINTED['attention']:,} and total "
        f"{BLOG_PRINTED['total']:,}; its own formula gives {L}·{heads}·({d}·{d}/{heads}) = "
        f"{attn.value:,}, so the total is {root.value:,} (an arithmetic slip of "
        f"{BLOG_PRINTED['attention'] - attn.value:,})",
    )


# --- the blog's memory rule of thumb --------------------------------------------------------

ADAM_STATES_PER_PARAM = 2  # the blog: "optimizer states (2× parameters for Adam)"


@dataclass(frozen=True)
class SeedMemory:
    """The blog's rule of thumb: total ≈ parameters + activations + optimizer states + input data."""

    breakdown: Part
    bits: int
    given: tuple[str, ...]  # which parts came from the user rather than llmsize's model
    estimate: InferenceReport | None = None  # llmsize's own estimate beside the rule, when sized
    warnings: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.breakdown.value

    def to_dict(self) -> dict[str, object]:
        return versioned({
            "method": "seed",
            "rule": "parameters + activations + optimizer states (2× parameters) + input data",
            "total_bytes": self.total, "bits_per_param": self.bits,
            "breakdown": {p.name: p.value for p in self.breakdown.parts}, "given": list(self.given),
            **({"estimate": nested(self.estimate.to_dict())} if self.estimate else {}),
        })


def seed_memory(params: int, *, bits: int, activations: int, input_data: int,
                given: tuple[str, ...] = ()) -> SeedMemory:
    """P·w + activations + 2·P·w + input data, with w = bits/8 bytes per parameter, as the blog
    adds them (its Adam states are two more copies of the parameters at the same width)."""
    weights = params * bits // 8
    parts = [leaf("parameters", weights), leaf("activations", activations),
             leaf("optimizer states (2× parameters)", ADAM_STATES_PER_PARAM * weights),
             leaf("input data", input_data)]
    return SeedMemory(group("seed rule of thumb", parts), bits, given)
