"""Units: bytes are integers, precisions are widths in bits, and GiB and GB are never confused.

A parameter count is an ``int``.  A byte count is an ``int``.  A width is an ``int`` number of *bits*
so that 4-bit formats stay exact: ``params * bits // 8`` is computed once, at the end, with the
rounding written out (``-(-x // 8)`` rounds a bit count up to whole bytes).

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


def bits_to_bytes(bits: int) -> int:
    """Whole bytes needed to hold ``bits`` bits (rounded up)."""
    return -(-bits // 8)


def params_to_bytes(params: int, *, bits: int) -> int:
    """Bytes taken by ``params`` values of ``bits`` bits each, packed: ceil(params·bits / 8)."""
    return bits_to_bytes(params * bits)


def fmt_count(n: int) -> str:
    """A parameter count with thousands separators and a short form: ``6,738,415,616 (6.74B)``."""
    return f"{n:,} ({fmt_short(n)})"


def fmt_short(n: int) -> str:
    """``6.74B``, ``124.4M``, ``8.2K``: three significant figures, decimal prefixes."""
    for div, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= div:
            return f"{n / div:.3g}{suffix}" if n / div < 100 else f"{n / div:.1f}{suffix}"
    return str(n)


def fmt_bytes(n: int, unit: str = "GiB") -> str:
    """Bytes in a labelled unit, ``GiB`` (2**30) by default; ``GB`` means 10**9."""
    div = {"B": 1, "KiB": KiB, "MiB": MiB, "GiB": GiB, "KB": KB, "MB": MB, "GB": GB}[unit]
    return f"{n / div:,.2f} {unit}" if unit != "B" else f"{n:,} B"
