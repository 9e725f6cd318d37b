"""Units: bytes are integers, precisions are widths in bits, and GiB and GB are never confused.

A parameter count is an ``int``.  A byte count is an ``int``.  A width is an ``int`` number of *bits*
so that 4-bit formats stay exact: bits become bytes once, at the end, rounding up — never
``bits // 8`` per element (llm-analysis shipped ``4 // 8 == 0`` bytes for int4).

    GiB = 2**30 bytes   (what nvidia-smi and PyTorch report)
    GB  = 10**9 bytes   (what GPU spec sheets and disk vendors print)
"""

from __future__ import annotations

KiB = 2**10
MiB = 2**20
GiB = 2**30
KB = 10**3
MB = 10**6
GB = 10**9


def fmt_short(n: int) -> str:
    """``6.74B``, ``124.4M``, ``8.2K``: three significant figures, decimal prefixes."""
    for div, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= div:
            return f"{n / div:.3g}{suffix}" if n / div < 100 else f"{n / div:.1f}{suffix}"
    return str(n)
