"""The bundled catalog: real ``config.json`` contents, each with the URL it came from.

The data lives in ``llmsize/catalog/models/*.json`` (one file per family), one record per model::

    {"name": "llama-3.1-8b", "hf_id": "meta-llama/Llama-3.1-8B",
     "source": "https://huggingface.co/meta-llama/Llama-3.1-8B/blob/main/config.json",
     "via": "where the copy was read", "config": {...}}

Lookup is by short name or HF id, case-insensitively; an unknown name gets the closest matches,
never a guess. Everything here works offline.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass

from ..errors import LlmsizeError

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

# os.path, not pathlib: pathlib (with urllib.parse and ipaddress) costs ~4 ms at start-up
CATALOG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "catalog", "models")


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    hf_id: str
    source: str
    via: str
    config: dict[str, Any]

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", ""))


@functools.cache
def entries() -> tuple[CatalogEntry, ...]:
    """Every catalog record, in file order."""
    out: list[CatalogEntry] = []
    for name in sorted(f for f in os.listdir(CATALOG_DIR) if f.endswith(".json")):
        with open(os.path.join(CATALOG_DIR, name), encoding="utf-8") as f:
            out.extend(CatalogEntry(**rec) for rec in json.load(f))
    return tuple(out)


@functools.cache
def _index() -> dict[str, CatalogEntry]:
    idx: dict[str, CatalogEntry] = {}
    for e in entries():
        idx[e.name.lower()] = e
        idx[e.hf_id.lower()] = e
        idx.setdefault(e.hf_id.split("/")[-1].lower(), e)
    return idx


def find(name: str) -> CatalogEntry | None:
    """The entry called ``name`` (short name, HF id, or the HF repo name), or None."""
    return _index().get(name.strip().lower())


def lookup(name: str) -> CatalogEntry:
    """The entry called ``name``; an error with the closest names if there is none."""
    entry = find(name)
    if entry:
        return entry
    import difflib

    close = difflib.get_close_matches(name.lower(), list(_index()), n=5, cutoff=0.5)
    hint = f"; did you mean: {', '.join(close)}" if close else "; see `llmsize catalog`"
    raise LlmsizeError(f"{name}: not a file, directory or catalog model{hint}")


def search(text: str = "") -> list[CatalogEntry]:
    """Entries whose name, HF id or model_type contains ``text`` (case-insensitive)."""
    t = text.lower()
    return [e for e in entries() if t in e.name or t in e.hf_id.lower() or t in e.model_type]
