"""The accelerator catalog: one record per GPU (or TPU chip, or Apple SoC), every field sourced.

The data is ``hardware/gpus.json``; this module types it (``Gpu``), checks it and looks names up.
What each field means, and the traps it avoids::

    memory_bytes           the marketed capacity, in bytes. HBM "80GB" on an H100 is 80 GiB
                           (nvidia-smi shows 81,559 MiB, more than 80e9 bytes = 74.5 GiB).
    usable_bytes           what one process can be given: torch.cuda.mem_get_info()[1] where a
                           measurement was found (H100 80GB: 79.18 GiB), else the nvidia-smi total
                           (a few hundred MiB more than torch reports), else the nominal size; on
                           Apple, macOS's default GPU working-set limit (about 3/4 of unified memory).
                           Each record's source says which, with its confidence.
    bandwidth_bytes_per_s  DRAM/HBM bandwidth (10^12 = TB/s).
    dense_tflops           dtype -> dense tensor TFLOPS, bf16/fp16 with fp32 accumulate (what PyTorch
                           and vLLM GEMMs use; GeForce cards run that at half their fp16-accumulate
                           rate). Never the 2:4 sparse figure datasheets print with an asterisk;
                           ``sparse_tflops`` keeps that only to check dense <= sparse / 2.
                           ``fp32`` is the non-tensor (shader) rate.
    scale_up_bytes_per_s   NVLink / Infinity Fabric / ICI bandwidth per GPU, ONE WAY (vendors print
                           the bidirectional sum: H100's "900 GB/s" is 450 each way); None: PCIe only.
    scale_up_domain        GPUs one scale-up fabric joins (8 on HGX, 72 on NVL72; 1: none).
    host_link_bytes_per_s  the link to host memory, one way (PCIe 5 x16: 63 GB/s); None on unified
                           memory.

Sources: ``sources[field]`` (or ``sources["dense_tflops.fp8"]`` for one dtype), else the record's
``sources["*"]``; each names a reference (URL and date, in the file's ``references``), a confidence
(measured, datasheet, reported, derived, recalled, uncertain) and a note. A record with a field that
resolves to no source, or a source naming an unknown reference, does not load.

Lookup (``lookup.gpu``) takes the key, an alias or the ``nvidia-smi`` name, case-insensitively and ignoring
spaces, ``-`` and ``_``; ``custom:mem=48GiB,bw=864GB/s,bf16=362TF`` builds one from flags
(``custom.py``). An unknown name raises ``GpuError`` with the closest names.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from types import MappingProxyType

from ..errors import LlmsizeError
from ..units import parse_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

GPUS_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpus.json")
DTYPES = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4")
CONFIDENCE = ("measured", "datasheet", "reported", "derived", "recalled", "uncertain")
SOURCED = ("memory", "usable", "bandwidth", "dense_tflops", "sparse_tflops", "scale_up", "scale_up_domain",
           "host_link")
VENDORS = ("nvidia", "amd", "intel", "google", "apple", "custom")


class GpuError(LlmsizeError):
    """An unknown GPU name, a bad ``NAME:COUNT`` or custom spec, or a catalog record that is wrong."""


@dataclass(frozen=True)
class Source:
    """Where one field's value comes from."""

    url: str
    date: str  # ISO date the source was published or read
    confidence: str  # one of CONFIDENCE
    note: str = ""


@dataclass(frozen=True)
class Gpu:
    """One accelerator. Bytes are ints; rates per second; TFLOPS dense (see the module docstring)."""

    key: str
    name: str
    vendor: str
    memory_bytes: int
    usable_bytes: int
    bandwidth_bytes_per_s: int
    dense_tflops: Mapping[str, float]
    scale_up_bytes_per_s: int | None = None
    scale_up_domain: int = 1
    host_link_bytes_per_s: int | None = None
    sparse_tflops: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    memory_type: str = ""
    aliases: tuple[str, ...] = field(default=(), repr=False)
    sources: Mapping[str, Source] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    def __hash__(self) -> int:  # the mappings are not hashable; the key names the record
        return hash((self.key, self.memory_bytes, self.usable_bytes))

    def source(self, name: str) -> Source | None:
        """The source of field ``name`` (``"dense_tflops.bf16"`` for one dtype), or None."""
        s = self.sources
        return s.get(name) or (s.get(name.split(".")[0]) if "." in name else None) or s.get("*")

    def peak_tflops(self, dtype: str) -> float | None:
        """Dense TFLOPS for ``dtype``; bf16 falls back to fp16 on GPUs without bf16 (T4, V100)."""
        return self.dense_tflops.get(dtype) or (self.dense_tflops.get("fp16") if dtype == "bf16" else None)


def _rate(text: str) -> int:
    """``"3.35TB/s"`` → 3_350_000_000_000 bytes per second."""
    return parse_bytes(text.removesuffix("/s"))


def _sources(rec: dict[str, Any], refs: dict[str, dict[str, str]]) -> dict[str, Source]:
    out = {}
    for name, entry in rec.get("sources", {}).items():
        ref_id, confidence, *note = entry
        if ref_id not in refs:
            raise GpuError(f"gpus.json: {rec['key']}: source of {name} names unknown reference {ref_id!r}")
        if confidence not in CONFIDENCE:
            raise GpuError(f"gpus.json: {rec['key']}: confidence {confidence!r} of {name} is not one of "
                           f"{', '.join(CONFIDENCE)}")
        ref = refs[ref_id]
        out[name] = Source(ref["url"], ref["date"], confidence, note[0] if note else "")
    return out


def from_record(rec: dict[str, Any], refs: dict[str, dict[str, str]]) -> Gpu:
    """A ``Gpu`` from one ``gpus.json`` record; every field present must have a source."""
    sources = _sources(rec, refs)
    present = [n for n in (*SOURCED, "aliases") if n in rec]
    for name in (*present, *(f"dense_tflops.{d}" for d in rec.get("dense_tflops", {}))):
        if not (sources.get(name) or sources.get(name.split(".")[0]) or sources.get("*")):
            raise GpuError(f"gpus.json: {rec['key']}: field {name} has no source")
    unknown = set(rec.get("dense_tflops", {})) - set(DTYPES)
    if unknown:
        raise GpuError(f"gpus.json: {rec['key']}: unknown dtype {sorted(unknown)[0]!r}")

    def opt(name: str) -> int | None:
        return _rate(rec[name]) if rec.get(name) else None

    return Gpu(
        key=rec["key"], name=rec["name"], vendor=rec["vendor"], memory_bytes=parse_bytes(rec["memory"]),
        usable_bytes=parse_bytes(rec["usable"]), bandwidth_bytes_per_s=_rate(rec["bandwidth"]),
        dense_tflops=MappingProxyType(dict(rec["dense_tflops"])), scale_up_bytes_per_s=opt("scale_up"),
        scale_up_domain=rec.get("scale_up_domain", 1), host_link_bytes_per_s=opt("host_link"),
        sparse_tflops=MappingProxyType(dict(rec.get("sparse_tflops", {}))),
        memory_type=rec.get("memory_type", ""), aliases=tuple(rec.get("aliases", ())),
        sources=MappingProxyType(sources),
    )


@functools.cache
def gpus() -> tuple[Gpu, ...]:
    """The catalog, in file order (NVIDIA data-centre, NVIDIA workstation/GeForce, AMD, Intel,
    Google, Apple)."""
    with open(GPUS_JSON, encoding="utf-8") as f:
        data = json.load(f)
    return tuple(from_record(rec, data["references"]) for rec in data["gpus"])


def normalize(name: str) -> str:
    """``"NVIDIA H100 80GB HBM3"`` → ``"nvidiah10080gbhbm3"``: lower case, letters and digits only."""
    return "".join(c for c in name.lower() if c.isalnum())
