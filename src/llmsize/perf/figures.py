"""A figure and how far it can be off.

Every speed, time or cost the tool prints is a ``Figure``: the model's value, its unit and a
``Band``, the relative error seen on held-out published runs of the same kind and engine
(``bands.json``, written by ``validation/perf_calibration.py``). The band is what the calibration
showed, not a promise: "±18% on 7 published runs" means that on those 7 runs, none used to fit
anything, the estimate was at most 18% away from what was measured. ``low``/``high`` keep the
sign (under, over). A kind with no held-out runs gets no numeric band: it says "not calibrated".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache

from ..tree import Part

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

BANDS_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bands.json")


@dataclass(frozen=True)
class Band:
    """Relative error of the estimate against measurements: ``(estimate − measured) / measured``
    ranged over ``runs`` held-out runs, from ``low`` (most under) to ``high`` (most over)."""

    low: float
    high: float
    runs: int
    basis: str  # what the runs were: "held-out published vLLM decode runs (validation/perf_cases.json)"

    def measured_range(self, value: float) -> tuple[float, float]:
        """Where the measured value lay for the held-out runs, given this estimate:
        estimate / (1 + high) … estimate / (1 + low)."""
        return value / (1 + self.high), value / (1 + max(self.low, -0.99))

    def text(self) -> str:
        if not self.runs:
            return f"not calibrated ({self.basis})"
        pct = round(100 * max(abs(self.low), abs(self.high)))
        return f"±{pct}% on {self.runs} published run{'s' * (self.runs != 1)}"


UNCALIBRATED = Band(0.0, 0.0, 0, "no held-out published runs of this kind")


@dataclass(frozen=True)
class Figure:
    """One estimated quantity: ``value`` in ``unit`` (tokens/s, s, GPU-h, USD, or "" for MFU)."""

    value: float
    unit: str
    band: Band = UNCALIBRATED

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.band.measured_range(self.value) if self.band.runs else (self.value, self.value)
        return {"value": self.value, "unit": self.unit, "low": min(lo, hi), "high": max(lo, hi),
                "band": self.band.text(), "runs": self.band.runs}


@dataclass(frozen=True)
class Performance:
    """Speed figures of one setting (``figures``: the schema's ``performance.*`` keys), what bound
    them (``bound``: "memory", "compute", "communication", "host"), the step time's terms in
    nanoseconds (``terms``: a tree whose parts sum to its value), the efficiency factors used
    with their sources, notes, and the setting asked about (``setting``: GPU, lengths, batch,
    tokens, price; filled in by whoever asked, e.g. ``api.infer``)."""

    figures: dict[str, Figure]
    bound: str
    terms: Part | None = None
    factors: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    setting: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> float:
        return self.figures[name].value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: f.to_dict() for name, f in self.figures.items()}
        out["bound"] = self.bound
        if self.terms is not None:
            out["terms_ns"] = self.terms.to_dict()
        out["factors"] = dict(self.factors)
        out["notes"] = list(self.notes)
        out["setting"] = dict(self.setting)
        return out


@lru_cache(maxsize=1)
def _bands() -> dict[str, Any]:
    try:
        with open(BANDS_JSON, encoding="utf-8") as f:
            doc: dict[str, Any] = json.load(f)
    except FileNotFoundError:
        return {}
    return doc.get("bands", {})


def band(kind: str, engine: str) -> Band:
    """The held-out band of ``kind`` (decode, prefill, serving, training, llamacpp_pp, …) for
    ``engine``, else the band over every engine of that kind, else ``UNCALIBRATED``."""
    by_kind = _bands().get(kind, {})
    rec = by_kind.get(engine) or by_kind.get("*")
    if not rec:
        return UNCALIBRATED
    return Band(rec["low"], rec["high"], rec["runs"], rec["basis"])


def banded(kind: str, engine: str, values: dict[str, tuple[float, str]]) -> dict[str, Figure]:
    """``values`` (name → (value, unit)) as figures: each with the band of the held-out runs
    that measured that very figure, else with ``kind``'s band."""
    fallback = band(kind, engine)
    out = {}
    for name, (value, unit) in values.items():
        own = band(name, engine)
        out[name] = Figure(value, unit, own if own.runs else fallback)
    return out
