"""Does an estimate fit the GPU? One verdict per estimate, with its headroom and reason.

An estimate is per GPU (the layout already split it), so the verdict compares its parts with one
GPU's budget::

    budget    the GPU's usable bytes (the catalog's, or --gpu-mem, which replaces them); vLLM's
              budget is gpu_memory_utilization × that, as vLLM itself allocates
    need      the sum of the parts, taken in the order the engine allocates them
    fits      need ≤ budget (and, with --host-mem, the host side ≤ host memory)
    reason    fits: the headroom; does not fit: the first part that crosses the budget and what
              was left for it ("KV at 32,768 tokens: needs 5.00 GiB, 0.90 GiB free")

Sizes are shown in GiB (2^30) with the budget also in GB (10^9), as GPU sheets print it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..units import GB, GiB

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .catalog import Gpu


def gib(n: int) -> str:
    return f"{n / GiB:,.2f} GiB"


def both_units(n: int) -> str:
    """``"74.51 GiB = 80.00 GB"``: the two units a budget is read in."""
    return f"{n / GiB:,.2f} GiB = {n / GB:,.2f} GB"


@dataclass(frozen=True)
class Target:
    """The hardware an estimate is judged against: ``count`` GPUs of ``budget_bytes`` each.
    ``gpu`` is the catalog record (None when only ``--gpu-mem`` is given); ``budget_source`` says
    where the budget comes from; ``host_bytes`` is the host memory for offload (``--host-mem``)."""

    gpu: Gpu | None
    count: int
    budget_bytes: int
    budget_source: str
    host_bytes: int | None = None
    default: bool = False  # no --gpu and no --gpu-mem: the catalog's default GPU

    @property
    def key(self) -> str:
        return self.gpu.key if self.gpu is not None else "gpu-mem"

    @property
    def name(self) -> str:
        return self.gpu.name if self.gpu is not None else f"a GPU of {both_units(self.budget_bytes)}"


@dataclass(frozen=True)
class Verdict:
    """Fits or not, on ``count`` × ``gpu``, per GPU: ``need_bytes`` against ``budget_bytes``."""

    fits: bool
    gpu: str  # catalog key, "custom" or "gpu-mem"
    gpu_name: str
    count: int
    budget_bytes: int
    need_bytes: int
    reason: str
    budget_source: str
    host_need_bytes: int | None = None
    host_budget_bytes: int | None = None
    default_gpu: bool = False

    @property
    def headroom_bytes(self) -> int:
        """Budget less need: negative when it does not fit."""
        return self.budget_bytes - self.need_bytes

    def line(self) -> str:
        """``VERDICT: fits on 1× NVIDIA H100 SXM5 80GB …`` (one line)."""
        what = "fits" if self.fits else "does NOT fit"
        default = " (default GPU; choose one with --gpu)" if self.default_gpu else ""
        return (f"VERDICT: {what} on {self.count}× {self.gpu_name}{default}: needs {gib(self.need_bytes)} of "
                f"{both_units(self.budget_bytes)} per GPU ({self.budget_source}); {self.reason}")

    def to_dict(self) -> dict[str, Any]:
        return {"fits": self.fits, "gpu": self.gpu, "gpu_name": self.gpu_name, "count": self.count,
                "budget_bytes": self.budget_bytes, "need_bytes": self.need_bytes,
                "headroom_bytes": self.headroom_bytes, "reason": self.reason,
                "budget_source": self.budget_source, "default_gpu": self.default_gpu,
                "host_need_bytes": self.host_need_bytes, "host_budget_bytes": self.host_budget_bytes}


def crossing(parts: Sequence[tuple[str, int]], budget: int) -> str:
    """The part that crosses ``budget`` and what was free for it (``parts`` in allocation order)."""
    used = 0
    for label, n in parts:
        if used + n > budget:
            free = budget - used
            left = f"{gib(free)} free" if free >= 0 else f"the parts before it are {gib(-free)} over already"
            return f"{label}: needs {gib(n)}, {left}"
        used += n
    return f"{gib(budget - used)} free"


def judge(parts: Sequence[tuple[str, int]], target: Target, *, budget: int | None = None,
          budget_source: str | None = None, host_need: int | None = None, hint: str = "",
          fits_note: str = "") -> Verdict:
    """The verdict on ``parts`` (label, bytes per GPU) against ``target``; ``budget`` replaces the
    target's (vLLM's utilization share); ``hint`` is appended when it does not fit, ``fits_note``
    when it does."""
    limit = target.budget_bytes if budget is None else budget
    need = sum(n for _, n in parts)
    fits_gpu = need <= limit
    host_ok = host_need is None or target.host_bytes is None or host_need <= target.host_bytes
    if not fits_gpu:
        reason = crossing(parts, limit) + (f"; {hint}" if hint else "")
    elif not host_ok:
        assert host_need is not None and target.host_bytes is not None
        reason = (f"the host side needs {gib(host_need)} but --host-mem gives {gib(target.host_bytes)}"
                  f" ({gib(target.host_bytes - host_need)} short)")
    else:
        reason = f"{gib(limit - need)} free ({(limit - need) / limit:.0%} of the budget)"
        reason += f"; {fits_note}" if fits_note else ""
        if host_need:
            where = f" of {gib(target.host_bytes)}" if target.host_bytes is not None else ""
            reason += f"; host memory {gib(host_need)}{where}"
    return Verdict(fits_gpu and host_ok, target.key, target.name, target.count, limit, need, reason,
                   budget_source or target.budget_source, host_need, target.host_bytes, target.default)
