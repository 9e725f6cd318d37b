"""Strategies as enums whose every member carries its own docstring (STYLE point 11)."""

from __future__ import annotations

from enum import Enum


class Documented(Enum):
    """An enum whose members say what they keep, shard or recompute: ``NAME = value, "docstring"``."""

    def __new__(cls, value: object, doc: str) -> Documented:
        member = object.__new__(cls)
        member._value_ = value
        member.__doc__ = doc
        return member
