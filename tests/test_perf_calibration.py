"""The performance model against published runs it was not fitted on (issue 15, "Done when").

``validation/perf_calibration.py --write`` fits the efficiency factors on the calibration runs of
``validation/perf_cases.json`` and writes the held-out errors as bands (``perf/bands.json``), which
every printed speed carries. These tests recompute each held-out prediction from the committed
``efficiency.json`` and check that its error still lies in the committed band of its kind and
engine: a model change that worsens a held-out run, or a band left stale, fails here. They read
only; nothing is written (``--write`` is never needed for CI).
"""

from __future__ import annotations

import json

import pytest

from llmsize.perf.efficiency import EFFICIENCY_JSON
from llmsize.perf.figures import BANDS_JSON
from validation import perf_calibration as pc


@pytest.fixture(scope="module")
def doc():
    return pc.load()


@pytest.fixture(scope="module")
def committed(doc):
    """Every case predicted with the committed factors (no fit): the rows the bands came from."""
    preps, skipped = pc.prepare_all(doc)
    return pc.rows(doc, preps, skipped)


@pytest.fixture(scope="module")
def bands_doc():
    with open(BANDS_JSON, encoding="utf-8") as f:
        return json.load(f)


def _held(rows):
    return [r for r in rows if r["side"] == "held_out" and "error" in r]


def test_every_held_out_run_lies_in_its_committed_band(committed, bands_doc):
    bands = bands_doc["bands"]
    outside = []
    for r in _held(committed):
        band = bands[r["kind"]].get(r["engine"]) or bands[r["kind"]]["*"]
        if not band["low"] <= r["rate_error"] <= band["high"]:
            outside.append(f"{r['id']}: {100 * r['rate_error']:+.1f}% outside "
                           f"[{100 * band['low']:+.1f}%, {100 * band['high']:+.1f}%] ({band['basis']})")
        figure = bands.get(r["metric"], {})
        fb = figure.get(r["engine"]) or figure.get("*")
        if fb and not fb["low"] <= r["error"] <= fb["high"]:
            outside.append(f"{r['id']}: {r['metric']} {100 * r['error']:+.1f}% outside its figure band")
    assert not outside, "\n".join(outside)


def test_bands_are_the_held_out_runs_and_not_wider(committed, bands_doc):
    """A band is the range of the held-out errors (rounded out to 0.1 %): not stale, not padded."""
    assert pc.bands(committed) == bands_doc["bands"]


def test_the_report_and_results_match_the_committed_factors(committed):
    with open(pc.RESULTS, encoding="utf-8") as f:
        results = json.load(f)
    assert [(r["id"], round(r.get("error", 0), 6)) for r in results["rows"]] == \
        [(r["id"], round(r.get("error", 0), 6)) for r in committed]
    assert "\n".join(pc.section(results)) in pc.REPORT.read_text()


def test_no_held_out_run_was_fitted(doc, bands_doc):
    with open(EFFICIENCY_JSON, encoding="utf-8") as f:
        fitted = [r for r in json.load(f)["factors"] if r["confidence"] == "fitted"]
    fitted_on = bands_doc["split"]["fitted_on"]
    assert {pc.fit_key(r) for r in fitted} == set(fitted_on)
    used = {i for ids in fitted_on.values() for i in ids}
    assert used <= set(doc["split"]["calibration"])
    assert not used & set(doc["split"]["held_out"])
    for r in fitted:
        assert f"fitted on {len(fitted_on[pc.fit_key(r)])} calibration runs" in r["note"]


def test_split_is_disjoint_and_every_predicted_kind_has_three_held_out_runs(doc, committed, bands_doc):
    cal, held = set(doc["split"]["calibration"]), set(doc["split"]["held_out"])
    assert not cal & held and cal | held == {c["id"] for c in doc["cases"]}
    assert set(bands_doc["split"]["held_out"]) <= held
    for kind in {r["kind"] for r in committed if "error" in r}:
        runs = [r for r in _held(committed) if r["kind"] == kind]
        assert len(runs) >= pc.MIN_BAND_RUNS, f"{kind}: {len(runs)} held-out runs"
        assert bands_doc["bands"][kind]["*"]["runs"] == len(runs)


def test_a_worse_factor_breaks_a_band(doc, committed, bands_doc):
    """The guard works: halving the bandwidth of every engine moves held-out runs out of their bands."""
    preps, skipped = pc.prepare_all(doc)
    with open(EFFICIENCY_JSON, encoding="utf-8") as f:
        records = json.load(f)["factors"]
    worse = [{**r, "value": r["value"] / 2} if r["name"] == "bandwidth" else r for r in records]
    rows = pc.rows(doc, preps, skipped, worse)
    bands = bands_doc["bands"]
    assert any(not (b := bands[r["kind"]].get(r["engine"]) or bands[r["kind"]]["*"])["low"]
               <= r["rate_error"] <= b["high"] for r in _held(rows))


def test_measured_speed_rows_join_the_cases_split_by_group(tmp_path):
    """Rows of ``validation.gpu_measure --speed`` (a CSV written here with made-up timings on two
    GPUs) join the published cases, each on one side, whole groups together."""
    import csv

    from validation.gpu_speed import FIELDS
    from validation.perf_calibration import CASES, load

    path = tmp_path / "gpu_speed.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for key, batch in (("h200", 1), ("h200", 8), ("h100-sxm", 1)):
            w.writerow({"date": "2026-12-03", "gpu": key, "gpu_key": key, "engine": "hf",
                        "engine_version": "5.24", "torch": "2.13", "transformers": "5.24",
                        "model": "llama-3.2-1b-instruct", "config": "", "dtype": "bf16", "batch": batch,
                        "input_len": 512, "output_len": 128, "prefill_s": 0.02, "ttft_s": 0.03,
                        "tpot_s": 0.01, "decode_tokens_per_s": 100, "throughput_tokens_per_s": 100 * batch,
                        "repeats": 3, "extra": ""})
    published = load(CASES, measured=tmp_path / "absent.csv")
    doc = load(CASES, measured=path)
    added = {c["id"]: c["group"] for c in doc["cases"][len(published["cases"]):]}
    assert len(added) == 6  # a prefill and a decode case per row
    cal, held = set(doc["split"]["calibration"]), set(doc["split"]["held_out"])
    assert not cal & held and set(added) <= cal | held
    for group in set(added.values()):  # a group never straddles the split
        sides = {i in held for i, g in added.items() if g == group}
        assert len(sides) == 1
    assert any(i in held for i in added)
