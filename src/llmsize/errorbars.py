"""Error bars: how far each term of an estimate can be off, and on what evidence.

``validation/run.py`` measures a grid of cases with PyTorch and writes ``catalog/error_bars.json``:
per mode (infer, train), attention kernel and term, the mean and max |relative error| over two
columns (``validation/calibration.py``): the *calibration* cases, whose architecture family set a
constant of the term, and the *held-out* cases, whose family set none. The bar printed is the
held-out column's: what a new architecture should expect. Every bar says what it was measured on:

    CPU   MemTracker under FakeTensorMode: PyTorch's CPU kernels, pure bf16, AdamW foreach=False;
          not validated on GPU (CUDA's flash kernels, fused optimizers and AMP were not run)
    GPU   ``validation/gpu_results.csv`` (torch.cuda.max_memory_allocated), once it is committed:
          its held-out column replaces the CPU one, device named

Exact terms (weights from headers or formats, the KV cache, optimizer states) say "exact"; the
gradients alive at a training step's peak depend on the moment, so they carry their validated
error; overheads and communication buffers are named defaults, not measured. vLLM's KV pool is
not exact: vLLM sizes it as what remains of the budget after weights, the profiled activation
peak and non-torch memory, so their errors land on it; its bar is their sum in bytes.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

EXACT = "exact"
EXACT_TERMS = {"infer": ("weights", "kv_cache"), "train": ("weights", "optimizer_states")}
DEFAULTS = "named defaults, not measured (±50%)"
# A model_type counted by transformers (sources/transformers_path.py): its activations come from
# llmsize's generic decoder model on the config's widths, never validated on that family
TRANSFORMERS_PATH = "generic model for a family llmsize does not model (±50%, not validated)"
TRANSFORMERS_PATH_TERMS = ("activations", "gradients")
CPU_KERNELS = "CPU-kernel measurements (MemTracker under FakeTensorMode); not validated on GPU"
GIB = 2**30
# Engines validated against published start-up logs rather than MemTracker, per engine version:
# each term's largest miss on those logs (tests/test_vllm.py, tests/test_llamacpp.py).
VLLM_PROFILES: dict[str, dict[str, Any]] = {
    "0.11.0": {
        "runs": "vLLM 0.11.0 start-up logs, 8 llm-d H100 runs (tests/test_vllm.py)",
        "weights_bytes": round(0.1 * GIB),  # bf16/FP8 checkpoints: vLLM also counts buffers and scales
        "weights_mxfp4_fraction": 0.07,  # gpt-oss: ours 4–7% below vLLM's Hopper MXFP4 layout
        "activations_bytes": round(0.02 * GIB),  # the seven text runs
        "activations_note": "; 0.24 GiB with a vision encoder (Mistral, profiled on dummy images)",
        "non_torch_bytes": round(0.011 * GIB),
    },
}
ENGINE_BARS = {
    "llamacpp": "within 0.41% of 6 llama.cpp logs (tests/test_llamacpp.py)",
}
_PATH = os.path.join(os.path.dirname(__file__), "catalog", "error_bars.json")


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    try:
        with open(_PATH, encoding="utf-8") as f:
            doc: dict[str, Any] = json.load(f)
            return doc
    except (OSError, ValueError):
        return {}


def load() -> dict[str, Any]:
    """The committed validation summary per mode (CPU measurements), or {} before the first run."""
    modes: dict[str, Any] = _document().get("modes", {})
    return modes


def _stats(summary: Mapping[str, Any], column: str, attn: str, term: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = summary.get(column, {}).get("by_attn", {}).get(attn, {}).get(term)
    return found


def validated(mode: str, term: str, attn: str = "sdpa") -> str | dict[str, Any]:
    """The held-out errors of one term and attention kernel (flash is validated as sdpa: neither
    keeps the scores): from the GPU run when there is one, else from the CPU run; the calibration
    column, labelled so, where no family was held out."""
    kernel = "sdpa" if attn == "flash" else attn
    gpu = _document().get("gpu", {}).get(mode, {})
    t = _stats(gpu, "held_out", kernel, term)
    if t:
        return {**t, "column": "held-out", "measured_on": gpu["measured_on"],
                "source": "validation/REPORT.md"}
    summary = load().get(mode, {})
    for column in ("held_out", "calibration"):
        t = _stats(summary, column, kernel, term)
        if t:
            label = column.replace("_", "-")
            return {**t, "column": label, "measured_on": CPU_KERNELS, "source": "validation/REPORT.md"}
    return "modelled, not yet validated"


def vllm_bar(term: str, *, version: str | None, sizes: Mapping[str, int],
             quant: str = "") -> str | dict[str, Any]:
    """vLLM's terms against its start-up logs for one profile version; the KV pool as the remainder,
    its bound the sum of the other terms' (|ΔKV| ≤ |ΔW| + |ΔA| + |ΔNT|)."""
    profile = VLLM_PROFILES.get(version or "")
    if profile is None:
        return f"vLLM {version} profile: not validated against logs"
    weights = round(profile["weights_mxfp4_fraction"] * sizes.get("weights", 0)) if "mxfp4" in quant \
        else profile["weights_bytes"]
    bounds = {"weights": weights, "activations": profile["activations_bytes"],
              "non_torch": profile["non_torch_bytes"]}
    if term in bounds:
        note = profile["activations_note"] if term == "activations" else ""
        return f"±{bounds[term] / GIB:.2f} GiB{note} on {profile['runs']}"
    kv = sizes.get("kv_cache", 0)
    total = sum(bounds.values())
    return {"remainder": "kv_cache = budget − weights − activations − non-torch", "max_bytes": total,
            "max": round(total / kv, 4) if kv else 0.0, "from": sorted(bounds),
            "measured_on": profile["runs"], "source": "tests/test_vllm.py"}


def bar(mode: str, term: str, *, engine: str = "hf", attn: str = "sdpa", kind: str = "decoder",
        version: str | None = None, sizes: Mapping[str, int] | None = None,
        quant: str = "", unmodelled_scans: str = "", counted_by: str = "llmsize") -> str | dict[str, Any]:
    """The error bar of one term: "exact", the named-defaults line, an engine's logs (per
    version), the transformers path's wider bar, or the validated errors of that mode and
    attention kernel."""
    if term in ("overhead", "comm_buffers"):
        return DEFAULTS
    if counted_by == "transformers" and term in TRANSFORMERS_PATH_TERMS:
        return TRANSFORMERS_PATH
    if engine == "vllm":
        return vllm_bar(term, version=version, sizes=sizes or {}, quant=quant)
    if term in EXACT_TERMS[mode]:
        return EXACT
    if engine in ENGINE_BARS:
        return ENGINE_BARS[engine]
    if kind == "encoder-decoder":
        return "modelled, over-estimates (encoder-decoder; see validation/REPORT.md)"
    if unmodelled_scans and term == "activations":
        return f"not validated: the {unmodelled_scans} layers' fused-kernel prefill (mixer_kernels)"
    return validated(mode, term, attn)


def text(b: str | dict[str, Any]) -> str:
    """One short cell: ``±3.3% max, 0.4% mean (15 held-out cases, CPU)``."""
    if isinstance(b, str):
        return b
    if "remainder" in b:
        return f"remainder: ±{b['max_bytes'] / GIB:.2f} GiB (±{100 * b['max']:.1f}%), from the other terms"
    where = "CPU" if b.get("measured_on") == CPU_KERNELS else "GPU"
    cases = f"{b['cases']} {b['column']} cases, {where}"
    return f"±{100 * b['max']:.1f}% max, {100 * b['mean']:.1f}% mean ({cases})"


def footnote(bars: Mapping[str, str | dict[str, Any]]) -> str | None:
    """The line under a table saying what the validated bars were measured on."""
    on = sorted({b["measured_on"] for b in bars.values() if isinstance(b, dict)
                 and "remainder" not in b and "measured_on" in b})
    return "error bars: " + "; ".join(on) if on else None


def bars(mode: str, terms: tuple[str, ...], *, engine: str = "hf", attn: str = "sdpa",
         kind: str = "decoder", version: str | None = None, sizes: Mapping[str, int] | None = None,
         quant: str = "", unmodelled_scans: str = "", counted_by: str = "llmsize",
         ) -> dict[str, str | dict[str, Any]]:
    return {t: bar(mode, t, engine=engine, attn=attn, kind=kind, version=version, sizes=sizes, quant=quant,
                   unmodelled_scans=unmodelled_scans, counted_by=counted_by)
            for t in terms}


def relative(b: str | dict[str, Any]) -> float | None:
    """The bar as a fraction of the term, for drawing: 0 when exact, the validated max, 0.5 for
    named defaults; None when the bar is a sentence with no single fraction (an engine's)."""
    if b == EXACT:
        return 0.0
    if b in (DEFAULTS, TRANSFORMERS_PATH):
        return 0.5
    return float(b["max"]) if isinstance(b, dict) else None
