"""validation/perf_cases.json: published speed runs for the performance model (issue 15).

Checks the file's structure only, never a model's accuracy: every case has the fields its kind needs,
names a reference that exists, resolves offline (catalog model or explicit config, GPU, weight format),
uses an allowed metric, and the calibration/held-out split covers every case exactly once.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from llmsize.formats.dtypes import parse_format
from llmsize.hardware import gpu
from llmsize.sources.resolve import from_config, open_named

CASES_PATH = Path(__file__).resolve().parent.parent / "validation" / "perf_cases.json"

KINDS = ("decode", "prefill", "serving", "llamacpp_pp", "llamacpp_tg", "training")
ENGINES = {"vllm", "sglang", "trtllm", "fastertransformer", "hf", "llamacpp", "megatron", "torchtitan",
           "deepspeed", "other"}
METRICS = {"prefill_s", "ttft_s", "tpot_s", "decode_tokens_per_s", "throughput_tokens_per_s",
           "total_tokens_per_s", "pp_tokens_per_s", "tg_tokens_per_s", "tokens_per_s_per_gpu",
           "tflops_per_gpu", "mfu", "gpu_hours"}
CONFIDENCE = {"reported", "derived", "recalled"}
REQUIRED = ("id", "kind", "engine", "engine_version", "weights", "gpu", "gpus", "tp", "pp", "dp",
            "measured", "ref", "where", "confidence", "note")
KIND_METRICS = {
    "decode": {"tpot_s", "decode_tokens_per_s"},
    "prefill": {"prefill_s", "ttft_s"},
    "serving": {"ttft_s", "tpot_s", "throughput_tokens_per_s", "total_tokens_per_s"},
    "llamacpp_pp": {"pp_tokens_per_s"},
    "llamacpp_tg": {"tg_tokens_per_s"},
    "training": {"tokens_per_s_per_gpu", "tflops_per_gpu", "mfu", "gpu_hours"},
}
KEBAB = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9_]+)*")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _load() -> dict[str, Any]:
    with CASES_PATH.open(encoding="utf-8") as f:
        doc: dict[str, Any] = json.load(f)
    return doc


DOC = _load()
CASES: list[dict[str, Any]] = DOC["cases"]


def test_top_level_keys() -> None:
    assert set(DOC) == {"about", "references", "split", "cases"}
    assert "split" in DOC["about"].lower() and len(DOC["about"]) > 200


@pytest.mark.parametrize("ref_id", sorted(DOC["references"]))
def test_reference_has_url_date_title(ref_id: str) -> None:
    ref = DOC["references"][ref_id]
    assert ref["url"].startswith("https://"), ref_id
    assert DATE.fullmatch(ref["date"]), ref_id
    assert ref["title"].strip(), ref_id


def test_ids_unique_and_kebab() -> None:
    ids = [c["id"] for c in CASES]
    dup = [i for i, n in Counter(ids).items() if n > 1]
    assert not dup, dup
    bad = [i for i in ids if not KEBAB.fullmatch(i)]
    assert not bad, bad


def test_every_reference_is_cited() -> None:
    """Each reference is a case's ``ref`` or is named in a case (a config's origin, in its note)."""
    text = json.dumps(CASES)
    uncited = [r for r in DOC["references"] if r not in {c["ref"] for c in CASES} and r not in text]
    assert not uncited, uncited


def _case_id(case: dict[str, Any]) -> str:
    return str(case["id"])


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_case_structure(case: dict[str, Any]) -> None:
    missing = [k for k in REQUIRED if k not in case]
    assert not missing, missing
    assert case["kind"] in KINDS
    assert case["engine"] in ENGINES
    assert isinstance(case["engine_version"], str)
    assert case["ref"] in DOC["references"]
    assert case["confidence"] in CONFIDENCE
    assert case["where"].strip() and isinstance(case["note"], str)
    assert ("model" in case) != ("config" in case), "exactly one of model / config"
    for key in ("gpus", "tp", "pp", "dp"):
        assert isinstance(case[key], int) and case[key] >= 1, key
    assert case["tp"] * case["pp"] * case["dp"] * case.get("cp", 1) <= case["gpus"]


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_measured_metric(case: dict[str, Any]) -> None:
    m = case["measured"]
    assert set(m) == {"metric", "value"}
    assert m["metric"] in METRICS
    assert m["metric"] in KIND_METRICS[case["kind"]], (case["kind"], m["metric"])
    value = m["value"]
    assert isinstance(value, (int, float)) and not isinstance(value, bool)
    assert math.isfinite(value) and value > 0
    if m["metric"] == "mfu":
        assert value < 1, "MFU as a fraction"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_setting_is_reproducible(case: dict[str, Any]) -> None:
    """What the run used: lengths and batch (or concurrency, rate, prompt count); seq for training."""
    if case["kind"] == "training":
        assert isinstance(case["seq"], int) and case["seq"] > 0
        return
    has_load = any(k in case for k in ("batch", "concurrency", "num_prompts", "request_rate"))
    assert has_load, "batch, concurrency, num_prompts or request_rate"
    if "dataset" not in case:
        assert isinstance(case["input_len"], int) and isinstance(case["output_len"], int)
        assert case["input_len"] + case["output_len"] > 0
    if case["engine"] == "llamacpp":
        assert isinstance(case["n_gpu_layers"], int)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_gpu_and_weights_resolve(case: dict[str, Any]) -> None:
    assert gpu(case["gpu"]).key == case["gpu"], "use the catalog key itself"
    parse_format(case["weights"])
    if case.get("kv_dtype"):
        parse_format(case["kv_dtype"])


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_model_resolves_offline(case: dict[str, Any]) -> None:
    if "model" in case:
        sized = open_named(case["model"])  # catalog only: hub=False never touches the network
    else:
        config = {k: v for k, v in case["config"].items() if k != "_source"}
        assert case["config"].get("_source"), "say where the hyperparameters come from"
        sized = from_config(config, name=case["id"])
    assert sized.arch.n_layers > 0


def test_split_covers_every_case_once() -> None:
    split = DOC["split"]
    assert set(split) == {"calibration", "held_out"}
    cal, held = split["calibration"], split["held_out"]
    assert not set(cal) & set(held)
    assert sorted(cal + held) == sorted(c["id"] for c in CASES)
    assert len(cal) == len(set(cal)) and len(held) == len(set(held))


@pytest.mark.parametrize("kind", KINDS)
def test_split_per_kind(kind: str) -> None:
    held = set(DOC["split"]["held_out"])
    of_kind = [c for c in CASES if c["kind"] == kind]
    n_held = sum(c["id"] in held for c in of_kind)
    assert n_held >= 3, f"{kind}: {n_held} held out"
    assert n_held < len(of_kind), f"{kind}: nothing left to calibrate on"
    # the stated rule keeps a source table on one side
    for group in {c["group"] for c in of_kind}:
        sides = {c["id"] in held for c in of_kind if c["group"] == group}
        assert len(sides) == 1, f"{group} is split across calibration and held_out"
