"""Error bars: how far each term of an estimate can be off, from the committed validation run.

``validation/run.py`` measures a grid of cases with PyTorch (MemTracker under FakeTensorMode)
and writes ``catalog/error_bars.json``: per mode (infer, train) and term, the mean and max
|relative error| and the number of cases. Exact terms (weights from headers or formats, the
KV cache, optimizer states) say "exact"; the gradients alive at a training step's peak depend
on the moment, so they carry their validated error; overheads and communication buffers are
named defaults, not measured.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

EXACT = "exact"
EXACT_TERMS = {"infer": ("weights", "kv_cache"), "train": ("weights", "optimizer_states")}
DEFAULTS = "named defaults, not measured (±50%)"
ENGINE_BARS = {  # engines validated against published measurements rather than MemTracker
    "vllm": "within 0.01 GiB on 7 llm-d H100 runs, 0.24 GiB on the 8th (tests/test_vllm.py)",
    "llamacpp": "within 0.41% of 6 llama.cpp logs (tests/test_llamacpp.py)",
}
_PATH = os.path.join(os.path.dirname(__file__), "catalog", "error_bars.json")


@lru_cache(maxsize=1)
def load() -> dict[str, Any]:
    """The committed validation summary, or {} before the first full run."""
    try:
        with open(_PATH, encoding="utf-8") as f:
            return json.load(f).get("modes", {})
    except (OSError, ValueError):
        return {}


def bar(mode: str, term: str, *, engine: str = "hf", attn: str = "sdpa",
        kind: str = "decoder", unmodelled_scans: str = "") -> str | dict[str, Any]:
    """The error bar of one term: "exact", the named-defaults line, or the validated errors of
    that mode and attention kernel (flash is validated as sdpa: neither keeps the scores)."""
    if term in ("overhead", "comm_buffers"):
        return DEFAULTS
    if term in EXACT_TERMS[mode]:
        return EXACT
    if engine in ENGINE_BARS:
        return ENGINE_BARS[engine]
    if kind == "encoder-decoder":
        return "modelled, over-estimates (encoder-decoder; see validation/REPORT.md)"
    if unmodelled_scans and term == "activations":
        return f"under-estimates: {unmodelled_scans} scan workspace not modelled"
    summary = load().get(mode, {})
    t = summary.get("by_attn", {}).get("sdpa" if attn == "flash" else attn, {}).get(term)
    if not t:
        return "modelled, not yet validated"
    return {"mean": t["mean"], "max": t["max"], "cases": t["cases"], "source": "validation/REPORT.md"}


def text(b: str | dict[str, Any]) -> str:
    """One short cell: ``±3.3% max, 0.4% mean (51 cases)``."""
    if isinstance(b, str):
        return b
    return f"±{100 * b['max']:.1f}% max, {100 * b['mean']:.1f}% mean ({b['cases']} cases)"


def bars(mode: str, terms: tuple[str, ...], *, engine: str = "hf", attn: str = "sdpa",
         kind: str = "decoder", unmodelled_scans: str = "") -> dict[str, str | dict[str, Any]]:
    return {t: bar(mode, t, engine=engine, attn=attn, kind=kind, unmodelled_scans=unmodelled_scans)
            for t in terms}
