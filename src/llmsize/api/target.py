"""The GPU an estimate is judged against: ``gpu`` (NAME[:COUNT], else the default), its usable
memory or ``gpu_mem``, and the parallel degrees its COUNT sets."""

from __future__ import annotations

from .. import options as o
from .tables import DEFAULT_GPU

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


def gpu_count(spec: str | None) -> tuple[Any, int | None]:
    """(catalog or custom Gpu, the count given after ':' or None)."""
    from ..hardware import gpu, parse_gpu_spec

    if spec is None:
        return gpu(DEFAULT_GPU), None
    g, n = parse_gpu_spec(spec)
    head, _, tail = spec.rpartition(":")
    return g, n if head and head.lower() != "custom" and tail.strip().isdigit() else None


def gpu_target(opts: dict[str, Any], gpus: int) -> Any:
    """The Target of ``gpus`` GPUs: ``gpu``'s usable memory, replaced by ``gpu_mem`` when given."""
    from ..hardware.fit import Target, gib

    g, _ = gpu_count(opts["gpu"])
    if opts["gpu_mem"] is not None:
        instead = f", replacing {g.key}'s usable {gib(g.usable_bytes)}" if opts["gpu"] else ""
        return Target(g if opts["gpu"] else None, gpus, opts["gpu_mem"], f"--gpu-mem{instead}",
                      opts["host_mem"])
    source = g.source("usable")
    why = f"usable memory, {source.confidence}" if source is not None else "usable memory"
    return Target(g, gpus, g.usable_bytes, why, opts["host_mem"], default=opts["gpu"] is None)


def count_agrees(opts: dict[str, Any], degrees: dict[str, int], given: Mapping[str, object],
                  ) -> dict[str, int]:
    """The parallel degrees with ``gpu``'s COUNT: it sets the first degree when none is given
    (tp for inference, dp for training); given degrees must multiply to it."""
    _, count = gpu_count(opts["gpu"])
    if count is None:
        return degrees
    if not any(given.get(k) is not None for k in degrees):
        return {**degrees, next(iter(degrees)): count}
    world = 1
    for n in degrees.values():
        world *= n
    if world != count:
        product = " × ".join(f"{k} {n}" for k, n in degrees.items())
        name = opts["gpu"].rpartition(":")[0]
        raise o.OptionError("gpu", f"{opts['gpu']} names {count} GPUs but {product} = {world}; give "
                            f"gpu {name}:{world}, or degrees that multiply to {count}",
                            mentions=tuple(degrees))
    return degrees
