"""The GPUs a plan is made for: a name, the bytes one process can allocate on one, and how the
reproducing ``infer``/``train`` command names it.

A catalog GPU (``hardware``) gives its usable memory (what ``torch.cuda.mem_get_info`` reports,
not the nominal size); ``--gpu-mem SIZE`` gives a GPU by its size alone. Tensor parallelism is
searched within one host of ``DEFAULT_SCALE_UP`` GPUs (over NVLink where the catalog has a
scale-up domain, over PCIe where not: vLLM runs tp 2–8 on PCIe cards too); an Apple chip is one
device, so its plans stop at one.
"""

from __future__ import annotations

from dataclasses import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..hardware import Gpu

DEFAULT_SCALE_UP = 8  # GPUs per NVLink domain when the catalog does not say (an HGX board)


@dataclass(frozen=True)
class Target:
    """One kind of GPU as the plan sees it."""

    name: str
    usable_bytes: int
    flag: str  # the flag that gives this GPU to infer/train, without the count
    scale_up_domain: int = DEFAULT_SCALE_UP
    max_count: int | None = None  # the most devices a job can span (Apple: 1)
    gpu: Gpu | None = None  # the catalog record (vLLM's defaults depend on the GPU, not only its size)

    def count_limit(self, max_gpus: int) -> int:
        return min(max_gpus, self.max_count or max_gpus)

    def gpu_flag(self, count: int) -> str:
        """The flag for ``count`` such GPUs (``--gpu h100-sxm:8``, whose count infer and train
        check against the layout; ``--gpu-mem`` is per GPU)."""
        return f"{self.flag}:{count}" if self.flag.startswith("--gpu ") and count > 1 else self.flag


def memory_target(usable_bytes: int) -> Target:
    """A GPU given by its size (``--gpu-mem``)."""
    from ..units import GiB

    return Target(f"{usable_bytes / GiB:.2f} GiB GPU", usable_bytes, f"--gpu-mem {_size_text(usable_bytes)}")


def _size_text(n: int) -> str:
    """The shortest of "80GiB", "79.18GiB" or the digits that parses back to exactly ``n``."""
    from ..units import GiB, parse_bytes

    return next((text for text in (f"{n // GiB}GiB", f"{n / GiB:.2f}GiB") if parse_bytes(text) == n), str(n))


def catalog_target(gpu: Gpu) -> Target:
    """A catalog GPU; the reproducing command names it (``--gpu KEY:COUNT``)."""
    return Target(gpu.key, gpu.usable_bytes, f"--gpu {gpu.key}", DEFAULT_SCALE_UP,
                  1 if gpu.vendor.lower() == "apple" else None, gpu)


def targets_for(names: str) -> list[Target]:
    """``"all"`` or a comma-separated list of catalog names (any alias, or ``custom:…``)."""
    from ..hardware import gpu, gpus

    if names.strip().lower() == "all":
        return [catalog_target(g) for g in gpus()]
    return [catalog_target(gpu(n.strip())) for n in _split(names)]


def _split(names: str) -> list[str]:
    """Names split on commas, except inside a ``custom:mem=…,bw=…`` spec (which has ``=``)."""
    out: list[str] = []
    for part in names.split(","):
        if out and "=" in part and out[-1].lower().startswith("custom:"):
            out[-1] += "," + part
        elif part.strip():
            out.append(part)
    return out
