"""The GPUs a plan is made for: a name, the bytes one process can allocate on one, and how the
reproducing ``infer``/``train`` command names it.

A catalog GPU (``hardware``) gives its usable memory (what ``torch.cuda.mem_get_info`` reports,
not the nominal size) and its scale-up domain (the GPUs one NVLink/Infinity Fabric island joins,
which bounds tensor parallelism); ``--gpu-mem SIZE`` gives a GPU by its size alone.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SCALE_UP = 8  # GPUs per NVLink domain when the catalog does not say (an HGX board)


@dataclass(frozen=True)
class Target:
    """One kind of GPU as the plan sees it."""

    name: str
    usable_bytes: int
    flag: str  # the flag that gives this GPU to infer/train, without the count
    scale_up_domain: int = DEFAULT_SCALE_UP

    def gpu_flag(self, count: int) -> str:
        """The flag for ``count`` such GPUs (``--gpu h100-sxm:8``; ``--gpu-mem`` is per GPU)."""
        return f"{self.flag}:{count}" if self.flag.startswith("--gpu ") and count > 1 else self.flag


def memory_target(usable_bytes: int) -> Target:
    """A GPU given by its size (``--gpu-mem``)."""
    from ..units import GiB, parse_bytes

    size = next((text for text in (f"{usable_bytes // GiB}GiB", f"{usable_bytes / GiB:.2f}GiB")
                 if parse_bytes(text) == usable_bytes), str(usable_bytes))
    return Target(f"{usable_bytes / GiB:.2f} GiB GPU", usable_bytes, f"--gpu-mem {size}")
