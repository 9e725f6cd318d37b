"""Measured speed rows (``gpu_speed.csv``, written by ``python -m validation.gpu_measure --speed``)
as cases of ``validation/perf_cases.json``'s format, so the calibration reads them beside the
published runs.

Each row gives two cases, one per figure the performance model predicts separately:

    transformers / vLLM   kind "prefill", metric prefill_s   and   kind "decode", metric tpot_s
    llama.cpp             kind "llamacpp_pp", pp_tokens_per_s  and  "llamacpp_tg", tg_tokens_per_s
                          (llama-bench's printed rates, from the row's ``extra``)

The other columns (ttft_s, decode_tokens_per_s = 1/tpot_s, throughput_tokens_per_s = B/tpot_s)
follow from these or add generate's own cost, so they would count the same measurement twice.
A row whose device is not in llmsize's GPU catalog (``gpu_key`` empty: a CPU run) gives no case.
The model is the catalog name, or, when the row carries its own ``config`` (fewer layers, the
tiny CPU model), that config with its ``_source``. Every case carries a ``group`` (one run: the
device, engine and date), which the split keeps on one side as it keeps a published table.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REF = "gpu_speed.csv"
CONFIDENCE = "measured"
KINDS = {"prefill": "prefill_s", "decode": "tpot_s"}
LLAMACPP_KINDS = {"llamacpp_pp": "pp_tokens_per_s", "llamacpp_tg": "tg_tokens_per_s"}
CASE_KEYS = ("id", "kind", "engine", "engine_version", "weights", "gpu", "gpus", "tp", "pp", "dp", "batch",
             "input_len", "output_len", "measured", "ref", "where", "confidence", "note")


def read(path: Path) -> list[dict[str, str]]:
    """The CSV's rows ([] when there is no file yet)."""
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def reference(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """The ``references`` entry the cases name."""
    dates = sorted({str(r["date"]) for r in rows})
    return {REF: {"url": "validation/gpu_speed.csv", "date": dates[-1] if dates else "",
                  "title": "llmsize's own measurements (python -m validation.gpu_measure --speed)"}}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _figures(row: Mapping[str, Any]) -> dict[str, tuple[str, float]]:
    """kind → (metric, value) for the row's engine."""
    if row["engine"] == "llamacpp":
        extra = json.loads(row.get("extra") or "{}")
        return {k: (m, float(extra[m])) for k, m in LLAMACPP_KINDS.items() if m in extra}
    return {k: (m, float(row[m])) for k, m in KINDS.items()}


def _case(row: Mapping[str, Any], line: int, kind: str, metric: str, value: float) -> dict[str, Any]:
    extra = json.loads(row.get("extra") or "{}")
    batch, n_in, n_out = int(row["batch"]), int(row["input_len"]), int(row["output_len"])
    case: dict[str, Any] = {
        "id": _slug(f"measured-{row['engine']}-{row['model']}-{row['gpu_key']}-{row['dtype']}-b{batch}"
                    f"-i{n_in}-o{n_out}-{kind}-{row['date']}"),
        "kind": kind, "engine": row["engine"], "engine_version": str(row["engine_version"])}
    if row.get("config"):
        source = f"validation/gpu_speed.csv line {line}: {row['model']}, the config that ran"
        case["config"] = {**json.loads(row["config"]), "_source": source}
    else:
        case["model"] = row["model"]
    case["weights"] = row["dtype"]
    if row["engine"] != "llamacpp":  # transformers and vLLM keep the cache in the model's dtype here
        case["kv_dtype"] = row["dtype"]
    case.update({"gpu": row["gpu_key"], "gpus": 1, "tp": 1, "pp": 1, "dp": 1, "batch": batch,
                 "input_len": n_in, "output_len": 1 if kind == "prefill" else n_out})
    if row["engine"] == "llamacpp" and extra.get("n_gpu_layers") is not None:
        case["n_gpu_layers"] = int(extra["n_gpu_layers"])
    case.update({"measured": {"metric": metric, "value": value}, "ref": REF,
                 "group": _slug(f"gpu-speed-{row['gpu_key']}-{row['engine']}-{row['date']}"),
                 "where": f"validation/gpu_speed.csv line {line} ({row['gpu']}, {row['date']})",
                 "confidence": CONFIDENCE,
                 "note": f"random weights; median of {row['repeats']} runs; torch {row['torch']}, "
                         f"transformers {row['transformers']}; {row.get('extra') or ''}".rstrip("; ")})
    return case


def speed_rows_to_cases(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The cases of every row measured on a catalog GPU, two per row, ids unique (a repeated id,
    the same cell measured twice the same day, gets ``-2``, ``-3``)."""
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        if not row.get("gpu_key"):
            continue
        for kind, (metric, value) in _figures(row).items():
            case = _case(row, line, kind, metric, value)
            seen[case["id"]] = n = seen.get(case["id"], 0) + 1
            if n > 1:
                case["id"] += f"-{n}"
            out.append(case)
    return out
