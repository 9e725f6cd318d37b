"""The bundled catalog: real ``config.json`` contents, each with the URL it came from.

The data lives in ``llmsize/catalog/models/*.json`` (one file per family), one record per model::

    {"name": "llama-3.1-8b", "hf_id": "meta-llama/Llama-3.1-8B",
     "source": "https://huggingface.co/meta-llama/Llama-3.1-8B/blob/main/config.json",
     "via": "where the copy was read", "config": {...}}

Lookup is by short name or HF id, case-insensitively. Then by the names users type (``match``):
the organisation, a ``Meta-`` prefix and a trailing variant (``-Instruct``, ``-chat``, ``-it``,
``-base``, ``-hf``) are dropped and letters are split from digits, so ``Meta-Llama-3.1-8B-Instruct``,
``llama3.1-8b`` and ``meta-llama/Llama-3.1-8B`` all read ``llama 3.1 8b``. One entry with that
core is the answer (the variants share the architecture, and a warning names the entry used); a
core that begins several entries' names (``mistral-7b``: v0.1 and v0.3) is ambiguous and the error
lists them; anything else gets the closest names, never a guess. Everything here works offline.
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
        """The config's ``model_type``, or the one its remote-code class declares (MiniCPM3-4B's
        config.json leaves it out)."""
        from .hf_families import REMOTE_CODE_TYPES

        names = self.config.get("architectures") or [""]
        return str(self.config.get("model_type", REMOTE_CODE_TYPES.get(names[0], "")))


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


VARIANTS = ("instruct", "chat", "it", "base", "hf")  # suffixes that do not change the architecture


def tokens(name: str) -> tuple[str, ...]:
    """``"meta-llama/Meta-Llama-3.1-8B-Instruct"`` → ("llama", "3.1", "8b"): the name's core."""
    n = name.strip().lower().split("/")[-1].replace("_", "-").replace(" ", "-")
    n = n.removeprefix("meta-") if n.startswith("meta-llama") else n
    spaced = "".join(f"-{c}" if c.isdigit() and i and n[i - 1].isalpha() else c for i, c in enumerate(n))
    out = [t for t in spaced.split("-") if t]
    while len(out) > 1 and out[-1] in VARIANTS:
        out.pop()
    return tuple(out)


@functools.cache
def _cores() -> dict[tuple[str, ...], list[CatalogEntry]]:
    idx: dict[tuple[str, ...], list[CatalogEntry]] = {}
    for e in entries():
        for core in {tokens(e.name), tokens(e.hf_id)}:
            idx.setdefault(core, []).append(e)
    return idx


def match(name: str) -> tuple[CatalogEntry, str]:
    """The entry a typed name means, and a note when it is not the name's own entry ('' when
    exact); raises ``LlmsizeError`` listing the candidates when several fit, or the closest names."""
    entry = find(name)
    if entry:
        return entry, ""
    core = tokens(name)
    same = list({e.name: e for e in _cores().get(core, [])}.values())
    longer = list({e.name: e for c, es in _cores().items() if c[:len(core)] == core and len(c) > len(core)
                   for e in es}.values())
    found = same or longer
    if len(found) == 1:
        e = found[0]
        how = ("the same architecture: the names differ only in organisation, case or a variant suffix"
               if same else "the only catalog model whose name begins so")
        return e, f"{name}: sized as catalog entry {e.name} ({e.hf_id}), {how}"
    if found:
        more = f" and {len(found) - 8} more" if len(found) > 8 else ""
        names = ", ".join(e.name for e in found[:8]) + more
        raise LlmsizeError(f"{name} is ambiguous in the catalog: {names}; give one of them")
    return lookup(name), ""


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
