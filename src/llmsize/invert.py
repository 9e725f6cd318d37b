"""Exact inversions of a monotone cost: the largest context or batch that fits a budget.

A cost model's ``total(batch, context)`` (bytes) never decreases when either grows, so "does n
fit?" is true up to some n and false after. ``largest`` finds that n on the integers: it gallops
up from the smallest candidate (doubling the step: answers are usually far below the search
limit) and bisects the last bracket, O(log n) evaluations of the exact total. The answer is tight
by construction: it fits, and one more token or sequence does not (or the limit was reached).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

MAX_CONTEXT = 1 << 24
"""The upper end of the context search (16M tokens): a longer answer is reported as this."""


def largest(fits: Callable[[int], bool], lo: int, hi: int) -> int | None:
    """The largest n in [lo, hi] with ``fits(n)``, for a ``fits`` that is true up to some n and
    false after; None when not even ``lo`` fits."""
    if lo > hi or not fits(lo):
        return None
    step, good = 1, lo
    while good + step <= hi and fits(good + step):
        good, step = good + step, step * 2
    bad = min(good + step, hi + 1)  # fits(bad) is false, or bad is past hi
    while bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if fits(mid) else (good, mid)
    return good


class Inversions:
    """``max_context`` and ``max_batch`` for any cost model with a monotone ``total(b, c)``."""

    @property
    def min_context(self) -> int:
        """The shortest context the model answers for (one token; more where a prompt must fit)."""
        return 1

    def total(self, batch: int, context: int) -> int:
        raise NotImplementedError

    def max_context(self, budget_bytes: int, *, batch: int = 1, limit: int = MAX_CONTEXT) -> int | None:
        """The longest context (tokens per sequence) whose total for ``batch`` sequences fits
        ``budget_bytes``; None when not even the shortest one does."""
        return largest(lambda c: self.total(batch, c) <= budget_bytes, self.min_context, limit)

    def max_batch(self, budget_bytes: int, *, context: int, limit: int = 1 << 20) -> int:
        """The most sequences of ``context`` tokens whose total fits ``budget_bytes``; 0 if none."""
        return largest(lambda b: self.total(b, context) <= budget_bytes, 1, limit) or 0
