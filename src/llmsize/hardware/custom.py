"""A GPU described on the command line: ``custom:mem=48GiB,bw=864GB/s,bf16=362TF``.

Keys (comma-separated ``KEY=VALUE``)::

    mem      memory, a size with its unit (48GiB, 24GB); required
    usable   what a process can allocate (default: mem)
    bw       memory bandwidth, a size per second (864GB/s; "/s" optional)
    fp32 tf32 bf16 fp16 fp8 int8 fp4   dense TFLOPS ("362", "362TF" or "362TFLOPS")
    link     scale-up bandwidth one way (450GB/s); domain: GPUs it joins (default 1, or 8 with link)
    host     host link one way (63GB/s)
    name     a display name

Every field of a custom GPU is sourced as "given on the command line" (confidence "measured" is
not claimed: the user vouches for it).
"""

from __future__ import annotations

from types import MappingProxyType

from ..units import parse_bytes
from .catalog import DTYPES, SOURCED, Gpu, GpuError, Source

KEYS = ("mem", "usable", "bw", *DTYPES, "link", "domain", "host", "name")
EXAMPLE = "custom:mem=48GiB,bw=864GB/s,bf16=362TF"
GIVEN = Source("cli:custom", "", "uncertain", "given by the user")


def _size(spec: str, key: str, value: str, *, rate: bool = False) -> int:
    text = value[:-2] if rate and value.lower().endswith("/s") else value
    try:
        return parse_bytes(text)
    except ValueError:
        example = "864GB/s" if rate else "48GiB"
        raise GpuError(f"gpu {spec!r}: {key}={value!r} is not a {'rate' if rate else 'size'} "
                       f"(e.g. {key}={example})") from None


def _tflops(spec: str, key: str, value: str) -> float:
    text = value.lower().removesuffix("tflops").removesuffix("tf").strip()
    try:
        number = float(text)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise GpuError(f"gpu {spec!r}: {key}={value!r} is not a positive TFLOPS figure (e.g. {key}=362TF)")
    return number


def _pairs(spec: str) -> dict[str, str]:
    body = spec.split(":", 1)[1]
    pairs: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in body.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or not value.strip():
            raise GpuError(f"gpu {spec!r}: {item!r} is not KEY=VALUE (keys: {', '.join(KEYS)})")
        if key not in KEYS:
            raise GpuError(f"gpu {spec!r}: unknown key {key!r} (keys: {', '.join(KEYS)})")
        pairs[key] = value.strip()
    if "mem" not in pairs:
        raise GpuError(f"gpu {spec!r}: a custom GPU needs mem=SIZE, e.g. {EXAMPLE}")
    return pairs


def custom_gpu(spec: str) -> Gpu:
    """The GPU a ``custom:`` spec describes; a bad key or value raises ``GpuError`` naming it."""
    p = _pairs(spec)
    memory = _size(spec, "mem", p["mem"])
    usable = _size(spec, "usable", p["usable"]) if "usable" in p else memory
    if usable > memory:
        raise GpuError(f"gpu {spec!r}: usable={p['usable']} is more than mem={p['mem']}")
    if memory == 0:
        raise GpuError(f"gpu {spec!r}: mem must be more than 0 bytes")
    link = _size(spec, "link", p["link"], rate=True) if "link" in p else None
    domain = int(p["domain"]) if p.get("domain", "").isdigit() else (8 if link else 1)
    if "domain" in p and (not p["domain"].isdigit() or int(p["domain"]) < 1):
        raise GpuError(f"gpu {spec!r}: domain={p['domain']!r} is not a positive integer")
    return Gpu(
        key="custom", name=p.get("name", f"custom {memory / 2**30:.1f} GiB"), vendor="custom",
        memory_bytes=memory, usable_bytes=usable,
        bandwidth_bytes_per_s=_size(spec, "bw", p["bw"], rate=True) if "bw" in p else 0,
        dense_tflops=MappingProxyType({d: _tflops(spec, d, p[d]) for d in DTYPES if d in p}),
        scale_up_bytes_per_s=link, scale_up_domain=domain,
        host_link_bytes_per_s=_size(spec, "host", p["host"], rate=True) if "host" in p else None,
        sources=MappingProxyType(dict.fromkeys(("*", *SOURCED), GIVEN)),
    )
