"""Typed result trees whose parts always sum to their total.

A ``Part`` is a named integer (parameters or bytes) with optional sub-parts.  ``repeat`` says how
many identical instances the node stands for (32 identical decoder layers are one node with
``repeat=32``); its ``value`` and every child's value are already multiplied out, so
``node.value == sum(child.value for child in node.parts)`` holds at every level.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    name: str
    value: int
    parts: tuple[Part, ...] = ()
    repeat: int = 1

    @property
    def per_instance(self) -> int:
        return self.value // self.repeat

    def walk(self, depth: int = 0) -> Iterator[tuple[int, Part]]:
        """Every node, depth first, with its depth."""
        yield depth, self
        for p in self.parts:
            yield from p.walk(depth + 1)

    def find(self, name: str) -> Part | None:
        """The first node called ``name`` (depth first), or None."""
        return next((p for _, p in self.walk() if p.name == name), None)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "value": self.value}
        if self.repeat != 1:
            out["repeat"] = self.repeat
        if self.parts:
            out["parts"] = [p.to_dict() for p in self.parts]
        return out


def leaf(name: str, value: int) -> Part:
    return Part(name, value)


def group(name: str, parts: Iterable[Part], repeat: int = 1) -> Part:
    """A node whose value is the sum of its (non-zero) parts."""
    kept = tuple(p for p in parts if p.value)
    return Part(name, sum(p.value for p in kept), kept, repeat)


def times(part: Part, n: int) -> Part:
    """``n`` identical copies of ``part``, folded into one node (every value multiplied by n)."""
    return Part(part.name, part.value * n, tuple(times(p, n) for p in part.parts), part.repeat * n)


class Totalled:
    """Mixin for a report whose ``tree``'s top-level parts are its named terms (bytes)."""

    tree: Part

    @property
    def total_bytes(self) -> int:
        return self.tree.value

    def part(self, name: str) -> int:
        """The value of the top-level part called ``name`` (0 when the report has none)."""
        node = next((p for p in self.tree.parts if p.name == name), None)
        return node.value if node else 0
