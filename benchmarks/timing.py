"""Timing shared by the benchmarks: the median of repeated calls in this process, and the median
wall time of fresh processes (start-up). Each takes one warm-up run first."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable, Mapping


def median_seconds(fn: Callable[[], object], repeat: int = 15) -> float:
    """Median time of ``fn()`` over ``repeat`` calls, in seconds."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def process_seconds(cmd: list[str], repeat: int = 11, env: Mapping[str, str] | None = None) -> float:
    """Median wall time of running ``cmd`` as a fresh process, in seconds."""
    return median_seconds(lambda: subprocess.run(cmd, check=True, capture_output=True, env=env), repeat)
