"""Benchmark: how fast llmsize answers a memory question, against measuring it with PyTorch.

Run:  python benchmarks/bench_memory.py        (needs the test extra for the measured column)

For each model (reduced to 4 layers, same shapes) and each question, it prints the time of
llmsize's estimate through the Python API (the median of repeated calls) and of the same step
measured by MemTracker under FakeTensorMode on the CPU (``llmsize measure``), and their ratio.
Goal: an estimate answers in under 50 ms, at least 100× faster than the measurement it matches.
"""

from __future__ import annotations

import time
from functools import partial

from timing import median_seconds

from llmsize.inference.engines import estimate
from llmsize.inference.estimate import InferenceSpec
from llmsize.measure.harness import scaled_config
from llmsize.sources.catalog import lookup
from llmsize.sources.hf_config import from_hf_config
from llmsize.training.estimate import TrainSpec, estimate_training

MODELS = ["llama-3.1-8b", "qwen3-30b-a3b", "deepseek-v2-lite", "gemma-3-1b"]
LAYERS = 4


def once_seconds(fn) -> float | None:
    t0 = time.perf_counter()
    try:
        fn()
    except ImportError:
        return None
    return time.perf_counter() - t0


def cases(name: str) -> list[tuple[str, object, object]]:
    """(question, llmsize's estimate, the MemTracker measurement) for one model."""
    from llmsize.measure.compare import compare_infer, compare_train

    cfg = scaled_config(dict(lookup(name).config), LAYERS)
    arch = from_hf_config(cfg, name)[0]
    attn = "eager" if name == "deepseek-v2-lite" else "sdpa"  # CPU sdpa runs MLA as math
    train = TrainSpec.for_measurement(seq=512, micro_batch=2, attn=attn, config=cfg)
    return [
        ("infer b4 × 1024, hf", partial(estimate, arch, InferenceSpec(1024, 4, attn=attn)),
         partial(compare_infer, cfg, name, batch=4, seq=1024, attn=attn, estimate=False)),
        ("train b2 × 512, pure-bf16", partial(estimate_training, arch, train),
         partial(compare_train, cfg, name, batch=2, seq=512, attn=attn, estimate=False)),
    ]


def main() -> None:
    try:  # import torch and transformers before timing, so the first row does not pay for it
        import transformers  # noqa: F401
    except ImportError:
        pass
    print(f"{'model':18s} {'question':28s} {'llmsize':>10s} {'MemTracker':>11s} {'ratio':>8s}  goal")
    for name in MODELS:
        for label, ours, theirs in cases(name):
            fast = median_seconds(ours)
            slow = once_seconds(theirs)
            ratio = f"{slow / fast:,.0f}×" if slow else "—"
            ok = fast < 0.05 and (slow is None or slow / fast >= 100)
            shown = f"{slow:.2f} s" if slow else "n/a"
            print(f"{name:18s} {label:28s} {1000 * fast:8.2f} ms {shown:>11s} {ratio:>8s}  "
                  f"{'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
