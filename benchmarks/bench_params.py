"""Benchmark: how fast llmsize counts parameters, against Python start-up and transformers.

Run:  python benchmarks/bench_params.py            (needs the test extra for the transformers row)

Rows:
  cli / python -c pass   wall time of `llmsize params <config.json> --json` as a fresh process,
                         against a bare interpreter start (goal: <= 3x)
  library counts/s       configs parsed and counted per second through the Python API
  transformers meta      the same count through transformers on the meta device, as a ratio
                         (goal: llmsize >= 50x faster)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from timing import process_seconds

from llmsize import count_params, from_hf_config
from llmsize.sources.catalog import lookup

MODELS = ["llama-3.1-8b", "qwen3-30b-a3b", "deepseek-v3", "gemma-3-12b", "t5-base"]


# As after `pip install`: bytecode cached (a PYTHONDONTWRITEBYTECODE=1 shell would recompile each run).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(cmd: list[str], repeat: int = 11) -> float:
    """Median wall time of a fresh process, in seconds, after one warm-up run."""
    return process_seconds(cmd, repeat, env=ENV)


def per_second(fn, budget_s: float = 1.0) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < budget_s:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def transformers_seconds(cfg: dict) -> float | None:
    try:
        import torch
        import transformers
    except ImportError:
        return None
    transformers.logging.set_verbosity_error()
    config = transformers.AutoConfig.for_model(**cfg)
    cls = getattr(transformers, cfg["architectures"][0])
    t0 = time.perf_counter()
    with torch.device("meta"):
        model = cls._from_config(config)
    sum(p.numel() for p in model.parameters())
    return time.perf_counter() - t0


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(lookup("llama-3.1-8b").config))
        bare = wall([sys.executable, "-c", "pass"])
        cli = wall([sys.executable, "-m", "llmsize", "params", str(path)])
    rows.append(("cli `llmsize params config.json`", f"{cli * 1e3:.0f} ms",
                 f"{cli / bare:.1f}x python -c pass ({bare * 1e3:.0f} ms)", "<= 3x"))
    for name in MODELS:
        cfg = lookup(name).config
        rate = per_second(lambda cfg=cfg, name=name: count_params(from_hf_config(cfg, name)[0]))
        hf = transformers_seconds(cfg)
        ratio = f"{hf * rate:,.0f}x faster ({hf * 1e3:,.0f} ms meta)" if hf else "transformers not installed"
        rows.append((f"count {name}", f"{rate:,.0f} /s", ratio, ">= 50x"))
    widths = [max(len(r[i]) for r in rows + [HEADER]) for i in range(4)]
    for r in [HEADER, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


HEADER = ("what", "llmsize", "against", "goal")

if __name__ == "__main__":
    main()
