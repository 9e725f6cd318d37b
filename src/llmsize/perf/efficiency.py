"""Efficiency factors: the share of a GPU's datasheet rates a real engine reaches.

A roofline gives a ceiling; real kernels reach part of it. Each factor is a record of
``efficiency.json`` with its source, chosen by engine and GPU (the most specific record wins) and
overridable per call (``--mfu``)::

    bandwidth            η_bw: achieved / datasheet HBM bandwidth while reading weights and KV
    prefill_mfu          η_f for prefill: achieved / dense peak FLOP/s on long prompts
    decode_mfu           η_f for decode's matmuls once the batch makes them compute-bound
    step_overhead_s      fixed seconds per decode step (scheduling, kernel launches, sampling)
    prefill_overhead_s   fixed seconds per prefill forward pass (the same, plus the request's
                         admission and its first token's sampling)
    allreduce_latency_s  α: the time of the smallest all-reduce (a per-message floor)
    link_efficiency      share of the one-way NVLink/PCIe rate a large all-reduce reaches
    train_mfu            η_train: the share of dense peak a training step's compute reaches (its
                         FLOPs, recompute included, over the time the kernels run); the MFU a step
                         would show with no pipeline bubble, no exposed communication and no
                         recompute (``training.py``, which models those three explicitly)
    train_comm_overlap   ω: share of data-parallel, context-parallel and pipeline traffic hidden
                         behind compute (0: all exposed, 1: all hidden; tensor-parallel all-reduces
                         are always exposed)
    inter_node_bytes_per_s  the one-way rate one GPU reaches to GPUs in other nodes (its NIC)
    mmq_mfu              llama.cpp's quantized matmuls (MMQ) on NVIDIA: achieved / dense int8 peak
    host_bandwidth       η_host: achieved / nominal host DRAM bandwidth for layers llama.cpp runs on the CPU

Records marked ``fitted`` come from ``validation/perf_calibration.py`` (calibration runs only);
the others are other tools' published defaults, cited, until a fit replaces them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields, replace
from functools import lru_cache

from ..errors import LlmsizeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

EFFICIENCY_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "efficiency.json")


class PerfError(LlmsizeError):
    """A bad efficiency override, or a performance question the model cannot answer."""


@dataclass(frozen=True)
class Efficiency:
    """The factors of one (engine, GPU); ``sources[name]`` says where each value came from."""

    bandwidth: float
    prefill_mfu: float
    decode_mfu: float
    step_overhead_s: float
    prefill_overhead_s: float
    allreduce_latency_s: float
    link_efficiency: float
    train_mfu: float
    train_comm_overlap: float
    inter_node_bytes_per_s: float
    mmq_mfu: float
    host_bandwidth: float
    sources: tuple[tuple[str, str], ...] = ()  # (factor, "value — reference (confidence): note")

    def with_(self, **overrides: float | None) -> Efficiency:
        """These factors with some replaced (``None`` keeps the value); a share must be in (0, 1]."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        for name, value in changes.items():
            if name not in FACTORS:
                raise PerfError(f"efficiency factor {name!r}: unknown; one of {', '.join(FACTORS)}")
            if name.endswith("_per_s"):
                if value <= 0:
                    raise PerfError(f"{name} {value}: must be a rate > 0 bytes per second")
            elif name.endswith("_s"):
                if value < 0:
                    raise PerfError(f"{name} {value}: must be >= 0 seconds")
            elif name.endswith("_overlap"):
                if not 0 <= value <= 1:
                    raise PerfError(f"{name} {value}: must be a share in [0, 1]")
            elif not 0 < value <= 1:
                raise PerfError(f"{name} {value}: must be a share in (0, 1]")
        notes = tuple((n, s) for n, s in self.sources if n not in changes)
        given = tuple((n, f"{v} (given)") for n, v in changes.items())
        return replace(self, **changes, sources=notes + given)

    def to_dict(self) -> dict[str, Any]:
        src = dict(self.sources)
        return {name: {"value": getattr(self, name), "source": src.get(name, "")} for name in FACTORS}


FACTORS = tuple(f.name for f in fields(Efficiency) if f.name != "sources")


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    with open(EFFICIENCY_JSON, encoding="utf-8") as f:
        doc: dict[str, Any] = json.load(f)
    refs = doc["references"]
    for rec in doc["factors"]:
        if rec["name"] not in FACTORS or rec["ref"] not in refs:
            raise PerfError(f"efficiency.json: record {rec} names an unknown factor or reference")
    return doc


def _pick(records: list[dict[str, Any]], name: str, engine: str, gpu: str) -> dict[str, Any]:
    """The most specific record of ``name``; of two for the same (engine, gpu), the fitted one."""
    recs = sorted((r for r in records if r["name"] == name), key=lambda r: r["confidence"] != "fitted")
    for e, g in ((engine, gpu), (engine, "*"), ("*", gpu), ("*", "*")):
        for r in recs:
            if r["engine"] == e and r["gpu"] == g:
                return r
    raise PerfError(f"efficiency.json: no record for {name}")


def efficiency(engine: str, gpu: str, *, records: list[dict[str, Any]] | None = None) -> Efficiency:
    """The factors for ``engine`` (hf, vllm, llamacpp, …) on catalog GPU ``gpu`` (its key);
    ``records`` replaces ``efficiency.json``'s list (the calibration tries candidate fits)."""
    return _shipped(engine, gpu) if records is None else _efficiency(engine, gpu, records)


@lru_cache(maxsize=512)
def _shipped(engine: str, gpu: str) -> Efficiency:
    """``efficiency.json``'s factors (a plan asks for the same few (engine, GPU) many times)."""
    return _efficiency(engine, gpu, _document()["factors"])


def _efficiency(engine: str, gpu: str, records: list[dict[str, Any]]) -> Efficiency:
    values: dict[str, float] = {}
    sources = []
    refs = _document()["references"]
    for name in FACTORS:
        r = _pick(records, name, engine, gpu)
        values[name] = r["value"]
        note = f": {r['note']}" if r.get("note") else ""
        sources.append((name, f"{r['value']} from {refs[r['ref']]['title']} ({r['confidence']}){note}"))
    return Efficiency(**values, sources=tuple(sources))
