"""Strategies as enums whose every member carries its own docstring (STYLE point 11)."""

from __future__ import annotations

from enum import Enum

TYPE_CHECKING = False  # typing costs ~13 ms at start-up


class Documented(Enum):
    """An enum whose members say what they keep, shard or recompute: ``NAME = value, "docstring"``."""

    if TYPE_CHECKING:
        # What callers write, ``Recipe("bf16-amp")``, is a lookup by value (``EnumMeta.__call__``);
        # the two-argument form below only builds the members, so the checker sees the lookup.
        def __new__(cls, value: object) -> Documented: ...
    else:
        def __new__(cls, value: object, doc: str) -> Documented:
            member = object.__new__(cls)
            member._value_ = value
            member.__doc__ = doc
            return member
