"""GPU prices: a dated table (``hardware/prices.json``) that the user overrides.

Each row is one published price in US dollars per GPU-hour with its provider, date and URL; the
first row of a GPU is its default. ``price_overrides(["h100=2.5"])`` (the CLI's repeated
``--price GPU=USD``) gives rows dated today with provider "given by the user", and ``price`` looks
a GPU's price up through them first. A GPU with no row has no price (None), never a guess.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass

from ..limits import MAX_USD_PER_HOUR
from .catalog import GpuError
from .lookup import gpu

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

PRICES_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prices.json")


@dataclass(frozen=True)
class Price:
    """One price of one GPU: ``usd_per_hour`` per GPU, as ``provider`` published it on ``date``."""

    gpu: str  # a catalog key
    usd_per_hour: float
    provider: str
    date: str
    url: str


@functools.cache
def prices() -> tuple[Price, ...]:
    """Every row of the table, in file order."""
    with open(PRICES_JSON, encoding="utf-8") as f:
        return tuple(Price(**row) for row in json.load(f)["prices"])


def usd_per_hour(text: str) -> float | None:
    """``"2.5"`` or ``"$2.5"`` → 2.5; None unless a finite amount in 0..``MAX_USD_PER_HOUR``."""
    import math

    try:
        usd = float(text.strip().lstrip("$"))
    except ValueError:
        return None
    return usd if math.isfinite(usd) and 0 <= usd <= MAX_USD_PER_HOUR else None


def price_overrides(pairs: Iterable[str]) -> dict[str, Price]:
    """``["h100=2.5", "l4=0.7"]`` → catalog key → a user-given Price; a bad pair raises GpuError."""
    import datetime

    out = {}
    for pair in pairs:
        name, eq, amount = pair.partition("=")
        usd = usd_per_hour(amount)
        if not eq or usd is None:
            raise GpuError(f"price {pair!r}: expected GPU=USD_PER_HOUR, e.g. h100=2.5")
        key = gpu(name.strip()).key
        out[key] = Price(key, usd, "given by the user", datetime.date.today().isoformat(), "")
    return out


def price(key: str, overrides: Mapping[str, Price] | None = None) -> Price | None:
    """The price of catalog GPU ``key``: the user's override, else the table's first row, else None."""
    if overrides and key in overrides:
        return overrides[key]
    return next((p for p in prices() if p.gpu == key), None)
