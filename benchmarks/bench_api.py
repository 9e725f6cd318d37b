"""Benchmark: how fast the Python API answers, with the goal beside each figure (issue 10).

Run:  python benchmarks/bench_api.py [--venv DIR] [--no-startup]

Rows:
  full estimate     one ``estimate``/``estimate_training`` with its breakdown tree, as a dict
                    (``report.to_dict()``), median of repeated calls after a warm-up, for
                    Llama-3.1-8B and -405B per profile (goal: <= 1 ms for the 405B inference
                    profiles; training is reported beside them)
  cost model        ``compile_inference(...).total(b, c)`` evaluations per second over a sweep of
                    (batch, context) for Llama-3.1-8B's hf, vllm and llamacpp profiles, and
                    ``compile_training(...).total(micro_batch, seq)`` (goal: >= 100,000/s each)
  start-up          ``llmsize params llama-3.1-8b`` (the console script) against a bare
                    ``python -c pass`` from a normal, non-editable install (goal: <= 3x). The
                    benchmark builds that install itself in a temporary venv (``python -m venv``
                    + ``pip install --no-deps`` of this checkout: the core has no dependencies),
                    or uses the venv given with ``--venv DIR`` (one where llmsize is installed).

Needs no torch. Medians of many runs; the machine and the date go with the figures in the README.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import median_seconds, process_seconds

from llmsize.inference.cost import compile_inference
from llmsize.inference.engines import estimate
from llmsize.inference.estimate import InferenceSpec
from llmsize.layout import Layout
from llmsize.sources.catalog import lookup
from llmsize.sources.hf_config import from_hf_config
from llmsize.training.cost import compile_training
from llmsize.training.estimate import TrainSpec, estimate_training
from llmsize.units import GiB

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
# 405B does not fit one 80 GB GPU in vLLM: eight H200s (141 GiB each, as torch reports 139.8 GiB)
VLLM_405B = {"layout": Layout(tp=8), "gpu_mem": 141 * GiB}
GOAL_RATE = ">= 100,000 /s"


def median_ms(fn, repeat: int = 51) -> float:
    return 1e3 * median_seconds(fn, repeat)


def arch_of(name: str):
    return from_hf_config(lookup(name).config, name)[0]


def specs(name: str) -> dict[str, InferenceSpec]:
    big = "405b" in name
    return {"hf": InferenceSpec(8192),
            "vllm": InferenceSpec(8192, engine="vllm", **(VLLM_405B if big else {})),
            "llamacpp": InferenceSpec(8192, engine="llamacpp")}


def estimate_rows() -> list[tuple[str, str, str]]:
    rows = []
    for name in ("llama-3.1-8b", "llama-3.1-405b"):
        arch = arch_of(name)
        goal = "<= 1 ms" if "405b" in name else "-"
        for engine, spec in specs(name).items():
            ms = median_ms(lambda arch=arch, spec=spec: estimate(arch, spec).to_dict())
            rows.append((f"full estimate {name} {engine}", f"{ms:.2f} ms", goal))
        ms = median_ms(lambda arch=arch: estimate_training(arch, TrainSpec(seq=4096)).to_dict(), repeat=11)
        rows.append((f"full estimate {name} train", f"{ms:.2f} ms", "(reported)"))
    return rows


def per_second(fn, points: list[tuple[int, int]], budget_s: float = 1.0) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < budget_s:
        for b, c in points:
            fn(b, c)
        n += len(points)
    return n / (time.perf_counter() - t0)


def cost_rows() -> list[tuple[str, str, str]]:
    arch = arch_of("llama-3.1-8b")
    points = [(b, c) for b in (1, 2, 4, 8, 16, 32) for c in range(512, 131072, 4096)]
    rows = []
    for engine, spec in specs("llama-3.1-8b").items():
        cost = compile_inference(arch, spec)
        rate = per_second(cost.total, points if engine != "vllm" else [(1, c) for _, c in points])
        rows.append((f"cost model llama-3.1-8b {engine}", f"{rate:,.0f} /s", GOAL_RATE))
    train = compile_training(arch, TrainSpec(seq=4096))
    rate = per_second(train.total, [(1, 1024), (2, 4096), (4, 8192)], budget_s=0.5)
    rows.append(("cost model llama-3.1-8b train", f"{rate:,.0f} /s", GOAL_RATE))
    hf = compile_inference(arch, specs("llama-3.1-8b")["hf"])
    ms = median_ms(lambda: hf.max_context(80 * GiB, batch=8))
    rows.append(("max_context llama-3.1-8b hf, 80 GiB, b=8", f"{ms * 1e3:.0f} us", "(reported)"))
    ms = median_ms(lambda: train.max_context(200 * GiB, batch=8))
    rows.append(("max_context llama-3.1-8b train, 200 GiB, b=8", f"{ms * 1e3:.0f} us", "(reported)"))
    return rows


FLOOR = "import re, argparse, json, dataclasses, enum"  # what the CLI needs before any llmsize code


def startup_rows(venv: Path | None, repeat: int = 41) -> list[tuple[str, str, str]]:
    """Bare start, the standard-library floor and the CLI, run in turn ``repeat`` times (so
    that a change of load hits all three alike); medians."""
    with tempfile.TemporaryDirectory() as tmp:
        if venv is None:
            venv = Path(tmp) / "venv"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(ROOT)]
            subprocess.run(pip, check=True, env=ENV)
        python = str(venv / "bin" / "python")
        cmds = {"bare": [python, "-c", "pass"], "floor": [python, "-c", FLOOR],
                "cli": [str(venv / "bin" / "llmsize"), "params", "llama-3.1-8b"]}
        ms: dict[str, list[float]] = {k: [] for k in cmds}
        for _ in range(repeat):
            for k, cmd in cmds.items():
                ms[k].append(1e3 * process_seconds(cmd, 1, env=ENV))
    bare, floor, cli = (statistics.median(ms[k]) for k in cmds)
    return [("python -c pass (same venv)", f"{bare:.1f} ms", "-"),
            (f"python -c '{FLOOR}'", f"{floor:.1f} ms = {floor / bare:.2f}x bare", "(the floor)"),
            ("llmsize params llama-3.1-8b", f"{cli:.1f} ms = {cli / bare:.2f}x bare", "<= 3x")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--venv", type=Path, help="a venv with llmsize installed (default: build one)")
    ap.add_argument("--no-startup", action="store_true", help="skip the start-up rows")
    args = ap.parse_args()
    rows = estimate_rows() + cost_rows()
    if not args.no_startup:
        rows += startup_rows(args.venv)
    width = max(len(r[0]) for r in rows)
    print(f"{'what':{width}s}  {'measured':>26s}  goal")
    for what, value, goal in rows:
        print(f"{what:{width}s}  {value:>26s}  {goal}")


if __name__ == "__main__":
    main()
