"""``llmsize gpus [FILTER]``: the catalog rows that match, each with its price, as a result."""

from __future__ import annotations

from dataclasses import dataclass

from ..schemas import versioned
from .catalog import Gpu, GpuError, gpus, normalize
from .prices import Price, price, price_overrides

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


@dataclass(frozen=True)
class GpuList:
    """Catalog GPUs with the price each is shown at (None: no price known)."""

    rows: tuple[tuple[Gpu, Price | None], ...]
    filter: str = ""

    def to_dict(self) -> dict[str, Any]:
        return versioned({"filter": self.filter, "gpus": [gpu_dict(g, p) for g, p in self.rows]})


def gpu_dict(g: Gpu, p: Price | None) -> dict[str, Any]:
    """One record as ``llmsize gpus --json`` prints it (the schema's ``gpu``)."""
    return {
        "key": g.key, "name": g.name, "vendor": g.vendor, "memory_type": g.memory_type,
        "aliases": list(g.aliases), "memory_bytes": g.memory_bytes, "usable_bytes": g.usable_bytes,
        "bandwidth_bytes_per_s": g.bandwidth_bytes_per_s, "dense_tflops": dict(g.dense_tflops),
        "sparse_tflops": dict(g.sparse_tflops), "scale_up_bytes_per_s": g.scale_up_bytes_per_s,
        "scale_up_domain": g.scale_up_domain, "host_link_bytes_per_s": g.host_link_bytes_per_s,
        "price": None if p is None else {"usd_per_hour": p.usd_per_hour, "provider": p.provider,
                                         "date": p.date, "url": p.url},
        "sources": {name: {"url": s.url, "date": s.date, "confidence": s.confidence, "note": s.note}
                    for name, s in g.sources.items()},
    }


def matches(g: Gpu, text: str) -> bool:
    """``text`` (any case, spaces and dashes ignored) is part of the key, name, vendor, memory
    type or an alias."""
    t = normalize(text)
    return any(t in normalize(s) for s in (g.key, g.name, g.vendor, g.memory_type, *g.aliases))


def gpu_list(text: str = "", prices: Sequence[str] = ()) -> GpuList:
    """The catalog GPUs matching ``text``, priced with the user's ``GPU=USD`` overrides first."""
    given = price_overrides(prices)
    rows = tuple((g, price(g.key, given)) for g in gpus() if matches(g, text))
    if not rows:
        raise GpuError(f"gpus: no GPU matches {text!r} (try a vendor: nvidia, amd, intel, google, apple)")
    return GpuList(rows, text)
