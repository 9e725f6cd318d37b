"""One versioned JSON schema for every ``--json`` document llmsize prints.

Every document starts with ``"schema_version": "MAJOR.MINOR"`` (``SCHEMA_VERSION``). The major
is bumped on a breaking change (a key removed, renamed or retyped); the minor when keys are
added. ``llmsize.schema.json`` (JSON Schema draft 2020-12, shipped beside this module) has one
``$defs`` entry per command and the shared shapes (the recursive ``part`` tree node, byte and
parameter counts, error bars); ``llmsize schema [COMMAND]`` prints it, or one command's schema
with only the ``$defs`` it needs, so that it stands alone.

A result that another nests whole (the exact count's ``seed`` block, the rule of thumb's
``estimate``) drops its version: only the top-level document carries it.
"""

from __future__ import annotations

import json
import os

from ..errors import LlmsizeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SCHEMA_VERSION = "1.4"
COMMANDS = ("params", "infer", "train", "inspect", "catalog", "gpus", "summary", "measure", "plan", "plot")
SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "llmsize.schema.json")


def versioned(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with ``schema_version`` as its first key."""
    return {"schema_version": SCHEMA_VERSION, **doc}


def nested(doc: dict[str, Any]) -> dict[str, Any]:
    """A whole result placed inside another document: without its own version."""
    return {k: v for k, v in doc.items() if k != "schema_version"}


def load() -> dict[str, Any]:
    """The whole schema, as shipped."""
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return json.load(f)


def command_schema(command: str) -> dict[str, Any]:
    """The schema of one command's ``--json`` document, standalone: its own ``$defs`` entry at
    the top, with every ``$defs`` entry it refers to (transitively)."""
    whole = load()
    if command not in COMMANDS:
        raise LlmsizeError(f"schema: unknown command {command!r}; choose one of {', '.join(COMMANDS)}")
    defs = whole["$defs"]
    needed, todo = set(), [command]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(_refs(defs[name]))
    head = {k: whole[k] for k in ("$schema", "$id") if k in whole}
    return {**head, "title": f"llmsize {command} --json", **defs[command],
            "$defs": {name: defs[name] for name in sorted(needed)}}


def _refs(node: object) -> list[str]:
    """The ``$defs`` names that ``node`` refers to (``{"$ref": "#/$defs/NAME"}``), at any depth."""
    if isinstance(node, dict):
        own = [node["$ref"].removeprefix("#/$defs/")] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []
