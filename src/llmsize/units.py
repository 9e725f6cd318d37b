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


_SIZE_UNITS = {"": 1, "b": 1, "kib": KiB, "mib": MiB, "gib": GiB, "tib": 2**40,
               "kb": KB, "mb": MB, "gb": GB, "tb": 10**12, "k": KiB, "m": MiB, "g": GiB}


def parse_bytes(text: str) -> int:
    """``"80GiB"`` → 85899345920, ``"1.5GB"`` → 1500000000, ``"512"`` → 512 bytes.

    Bare K/M/G are binary (as nvidia-smi and llama.cpp print them); KB/MB/GB are decimal.
    Raises ValueError naming the text when it is not a size.
    """
    s = text.strip().replace("_", "").replace(",", "").lower()
    number = s.rstrip("abcdefghijklmnopqrstuvwxyz ")
    unit = s[len(number):].strip()
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r:.60} is not a size (try 80GiB, 1.5GB or 512MiB)") from None
    if unit not in _SIZE_UNITS or not 0 <= value <= float("inf"):  # NaN fails both tests
        raise ValueError(f"{text!r:.60} is not a size (try 80GiB, 1.5GB or 512MiB)")
    if value * _SIZE_UNITS[unit] > 2**80:  # 1e30GiB, or 1e400 (infinite as a float)
        raise ValueError(f"{text!r:.60} is beyond any real memory (try 80GiB, 1.5GB or 512MiB)")
    return round(value * _SIZE_UNITS[unit])
