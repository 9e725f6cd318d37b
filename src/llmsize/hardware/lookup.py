"""Finding a GPU by the name a user types: key, alias or ``nvidia-smi`` name (any case, ignoring
spaces, ``-`` and ``_``), a ``custom:`` spec, and ``NAME:COUNT``."""

from __future__ import annotations

import functools

from .catalog import Gpu, GpuError, gpus, normalize
from .custom import custom_gpu


@functools.cache
def _index() -> dict[str, Gpu]:
    idx: dict[str, Gpu] = {}
    for g in gpus():
        for name in (g.key, g.name, *g.aliases):
            idx.setdefault(normalize(name), g)
    return idx


def gpu(name: str) -> Gpu:
    """The GPU called ``name`` (key, alias or nvidia-smi name, any case), or a custom one
    (``custom:mem=48GiB,bw=864GB/s,bf16=362TF``); an unknown name raises ``GpuError``."""
    if not isinstance(name, str) or not name.strip():
        raise GpuError(f"gpu {name!r}: give a GPU name (see `llmsize gpus`)")
    if name.strip().lower().startswith("custom:"):
        return custom_gpu(name.strip())
    found = _index().get(normalize(name))
    if found is not None:
        return found
    raise GpuError(f"gpu {name!r} is not in the catalog; {_suggest(name)}")


def _suggest(name: str) -> str:
    import difflib

    n = normalize(name)
    idx = _index()
    prefixed = sorted({g.key for k, g in idx.items() if n and (k.startswith(n) or n in k)})
    close = prefixed or [idx[k].key for k in difflib.get_close_matches(n, list(idx), 5)]
    close = list(dict.fromkeys(close))[:6]
    hint = f"did you mean {', '.join(close)}?" if close else "see `llmsize gpus`"
    return hint + " (or custom:mem=SIZE,bw=RATE,bf16=TFLOPS)"


def parse_gpu_spec(spec: str) -> tuple[Gpu, int]:
    """``"h100-sxm:8"`` → (the H100 SXM, 8); the count defaults to 1."""
    if not isinstance(spec, str) or not spec.strip():
        raise GpuError(f"gpu {spec!r}: expected NAME[:COUNT], e.g. h100:2")
    head, sep, tail = spec.strip().rpartition(":")
    if sep and head and head.lower() != "custom":
        if not tail.strip().isdigit() or int(tail) < 1:
            raise GpuError(f"gpu {spec!r}: the count after ':' must be a positive integer, e.g. h100:2")
        return gpu(head), int(tail)
    return gpu(spec), 1
