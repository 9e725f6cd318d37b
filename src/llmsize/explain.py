"""How an estimate was computed, term by term: the method, the user's numbers, the sources of the
constants and the error bar. The web page's "how this was computed" panel shows these rows.

Each row is read off the report (its tree, spec and error bars), never recomputed: where an
equation is printed with the user's numbers (the KV cache's 2·k·d_h·w per token and layer, the
training budget's bytes per parameter), it is printed only when its product equals the report's
bytes, so the panel cannot disagree with the estimate it explains.
"""

from __future__ import annotations

from .errorbars import text
from .units import GiB

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .arch import Architecture

OVERHEAD_SOURCES = (
    "CUDA context 500 MiB (300–600 MiB on A100/H100 with PyTorch 2.x and lazy module loading)",
    "cuBLAS workspace 32 MiB (NVIDIA's recommended size on Hopper)",
    "NCCL 0.42 GiB when tp·pp > 1 (vLLM's non-torch memory in the llm-d H100 runs)",
    "fragmentation 5% of the transient activations (the caching allocator's rounding)",
)
HOW = {  # (mode, term) -> (method, where it lives and what checks it)
    ("infer", "weights"): ("every tensor's elements × its format's bits ÷ 8, summed (the checkpoint's "
                           "header bytes when a checkpoint is read)",
                           "formats/tensors.py, formats/dtypes.py; checked against safetensors, gguf files"),
    ("infer", "kv_cache"): ("2 (K and V) × kv heads k × head_dim d_h × bytes per element, per token and "
                            "attention layer, × context × batch (windows, MLA, SSM state by layer type)",
                            "inference/kvcache.py; equals the bytes of transformers' cache objects"),
    ("infer", "activations"): ("the widest phase of the prefill (attention, MLP/MoE or logits) on top of the "
                               "hidden states the model loop keeps",
                               "inference/prefill.py; validated with MemTracker (validation/REPORT.md)"),
    ("infer", "overhead"): ("named defaults, each overridable: " + "; ".join(OVERHEAD_SOURCES),
                            "inference/overhead.py"),
    ("train", "weights"): ("parameters × the recipe's bytes per weight copy, sharded by the layout",
                           "training/estimate.py, training/zero.py; ZeRO paper and DeepSpeed's estimators"),
    ("train", "gradients"): ("the gradients alive at the peak moment, in the recipe's gradient dtype",
                             "training/phases.py"),
    ("train", "optimizer_states"): ("per tensor, from its shape: the optimizer's states in their dtype",
                                    "training/optimizers.py"),
    ("train", "activations"): ("what the forward pass saves for backward (Korthikanti et al. 2022 Table 2, "
                               "generalised), at the step's peak moment",
                               "training/activations.py, training/phases.py; validated with MemTracker"),
    ("train", "comm_buffers"): ("ZeRO/FSDP reduce and prefetch buckets (named defaults)", "training/zero.py"),
    ("train", "overhead"): ("named defaults, each overridable: " + "; ".join(OVERHEAD_SOURCES),
                            "inference/overhead.py"),
}


def explain(report: Any, arch: Architecture | None = None) -> list[dict[str, object]]:
    """One row per top-level term: bytes, method, the user's numbers, source, error bar, parts."""
    mode = "train" if hasattr(report, "peak_phase") else "infer"
    errors = report.error_bars()
    rows = []
    for term in report.tree.parts:
        how, source = HOW.get((mode, term.name), ("", ""))
        rows.append({
            "term": term.name, "bytes": term.value, "gib": round(term.value / GiB, 2), "how": how,
            "numbers": _numbers(mode, term.name, term.value, report, arch), "source": source,
            "error_bar": text(errors[term.name]) if term.name in errors else "",
            "parts": [[p.name, p.value] for p in term.parts],
        })
    return rows


def _numbers(mode: str, term: str, value: int, report: Any, arch: Architecture | None) -> str:
    if mode == "infer" and term == "weights" and isinstance(report.extra.get("parameters"), int):
        return f"{report.extra['parameters']:,} parameters in {report.spec.quant or report.spec.dtype}"
    if mode == "infer" and term == "kv_cache" and arch is not None:
        return _kv_numbers(value, report, arch)
    if mode == "train" and term in ("weights", "gradients", "optimizer_states"):
        lines = [f"{name}: {b:g} B × {n:,}" for name, b, n in report.budget]
        return "bytes per parameter (whole model, before sharding): " + "; ".join(lines)
    if mode == "train" and term == "activations":
        return f"peak: {report.peak_phase} ({report.peak_where})"
    return ""


def _kv_numbers(value: int, report: Any, arch: Architecture) -> str:
    """``2 × k × d_h × w B × L layers × s tokens × b`` when that product is the report's KV bytes."""
    from .inference.kvcache import kv_format

    s = report.spec
    elements, block = kv_format(s.kv)
    k, d_h, n = arch.n_kv_heads, arch.head_dim, arch.n_layers
    product = 2 * k * d_h * n * s.context * s.batch * block
    if product % elements or product // elements != value:
        return ""
    width = f"{block}/{elements}" if elements > 1 else f"{block}"
    return (f"2 × {k} kv heads × {d_h} head_dim × {width} B ({s.kv}) × {n} layers × {s.context:,} tokens "
            f"× {s.batch} sequences = {value:,} B")
