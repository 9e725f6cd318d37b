"""Calibrate the performance model's efficiency factors on published runs, and measure the error
on the runs the fit never saw: ``python -m validation.perf_calibration [--write]``.

The cases are ``validation/perf_cases.json``; its ``split`` (fixed by the collector before any
model output was seen: whole source tables go to one side) says which runs may be fitted
("calibration") and which only judged ("held_out"). Nothing here moves a case between sides.

The fit. Each efficiency factor (``perf/efficiency.py``) is a record for an (engine, GPU) scope;
the lookup takes the most specific one. Scopes are fitted from the general to the specific, each
on the calibration runs it covers, starting from what the scope above it gave::

    (*, *)          every calibration run               needs >= 2 runs
    (engine, *)     that engine's runs                  needs >= 2 runs
    (engine, gpu)   that engine's runs on that GPU      needs >= 3 runs from >= 2 source tables
                                                        (one table's build and setup is not the GPU)

No (*, gpu) scope: it would mix engines on one GPU and hand the mixture to engines that have no
runs there; those keep the reported per-GPU defaults (BLIS), which win over (*, *) in the lookup.

A scope fits the factors its runs' kinds depend on (``FIT_FACTORS``, primary ones first), at most
one factor per ``RUNS_PER_FACTOR`` runs, by coordinate descent: golden-section search on each
factor in turn (log scale for shares, linear for seconds), minimising the mean |log(pred/measured)|
(symmetric in over- and under-estimates, so a 2× miss weighs the same either way). The reported
defaults stay in ``efficiency.json`` beside the fitted records, which win for their scope.

The bands. The held-out runs are predicted with the fitted factors; per kind and engine, with
>= ``MIN_BAND_RUNS`` runs, the band is the range of relative errors on the *rate*
((pred − measured)/measured on tokens/s; a time metric t counts as the rate 1/t), else the kind's
band over every engine ("*"). Figure-name keys (``tpot_s``, ``ttft_s``, …) carry the band of the runs
that measured that very figure, in its own orientation. ``--write`` writes
``src/llmsize/perf/efficiency.json`` (fitted records), ``src/llmsize/perf/bands.json``,
``validation/perf_results.json`` and the performance section of ``validation/REPORT.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmsize.perf.efficiency import EFFICIENCY_JSON, efficiency
from llmsize.perf.figures import BANDS_JSON

from .perf_predict import KINDS, Prepared, Skip, predict, prepare

HERE = Path(__file__).resolve().parent
CASES = HERE / "perf_cases.json"
RESULTS = HERE / "perf_results.json"
REPORT = HERE / "REPORT.md"
SOURCE = "validation/perf_cases.json"

FIT_FACTORS: dict[str, tuple[str, ...]] = {  # what each kind's prediction moves with, primary first
    "decode": ("bandwidth", "step_overhead_s"),
    "prefill": ("prefill_mfu", "prefill_overhead_s"),
    "serving": ("decode_mfu", "bandwidth"),
    "training": ("train_mfu", "train_comm_overlap"),
    # mmq_mfu is not fitted: it describes llama.cpp's int8 tensor-core MMQ (PR #7860, June 2024),
    # and every NVIDIA quantized prompt run in the cases (#4766, Jan 2024; dmatora #10) predates
    # it; it keeps its value derived from that PR's own table
    "llamacpp_pp": ("prefill_mfu",),
    "llamacpp_tg": ("bandwidth", "step_overhead_s"),
}
BOUNDS = {"share": (0.02, 1.0), "seconds": (0.0, 0.02)}
RUNS_PER_FACTOR = 2
MIN_GPU_RUNS = 3
MIN_GPU_TABLES = 2  # a GPU's own factor needs runs from two source tables (builds, setups)
MIN_BAND_RUNS = 3
SWEEPS = 3
GOLDEN_STEPS = 40


def load(path: Path = CASES, measured: Path | None = None) -> dict[str, Any]:
    """The published cases, plus the rows measured by ``validation.gpu_measure --speed``
    (``gpu_speed.csv``, when committed; ``measured_split`` says which side each goes to)."""
    from .gpu_speed import CSV_PATH
    from .speed_rows import read, reference, speed_rows_to_cases

    doc: dict[str, Any] = json.loads(path.read_text())
    rows = read(measured or CSV_PATH)
    if rows:
        extra = speed_rows_to_cases(rows)
        doc["cases"] += extra
        doc["references"].update(reference(rows))
        for side_name, ids in measured_split(extra).items():
            doc["split"][side_name] = [*doc["split"][side_name], *ids]
    split = doc.get("split") or {}
    cal, held = set(split.get("calibration", ())), set(split.get("held_out", ()))
    ids = {c["id"] for c in doc["cases"]}
    if cal & held or (cal | held) != ids:
        raise SystemExit(f"{path}: 'split' must put every case in exactly one of calibration, held_out")
    return doc


def measured_split(cases: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Measured runs split as the published ones are, by source group (one GPU, engine and day):
    groups in sha256 order alternate held_out, calibration, held_out, … (a rule fixed before any
    measured row existed)."""
    import hashlib

    groups = sorted({c["group"] for c in cases}, key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    held = set(groups[::2])
    out: dict[str, list[str]] = {"calibration": [], "held_out": []}
    for c in cases:
        out["held_out" if c["group"] in held else "calibration"].append(c["id"])
    return out


def side(doc: dict[str, Any], case_id: str) -> str:
    return "calibration" if case_id in doc["split"]["calibration"] else "held_out"


def prepare_all(doc: dict[str, Any]) -> tuple[list[Prepared], dict[str, str]]:
    """Every case llmsize can predict, and the others with the reason."""
    preps, skipped = [], {}
    for case in doc["cases"]:
        try:
            preps.append(prepare(case))
        except Skip as e:
            skipped[case["id"]] = str(e)
    return preps, skipped


# --- the fit ------------------------------------------------------------------------------------

def value(p: Prepared, records: list[dict[str, Any]] | None = None) -> float:
    """The prediction of ``p`` with ``records`` (None: the committed efficiency.json)."""
    return predict(p, efficiency(p.engine, p.gpu.key, records=records))


def loss(preps: list[Prepared], records: list[dict[str, Any]]) -> float:
    """Mean |log(pred / measured)| over ``preps``."""
    return sum(abs(math.log(value(p, records) / p.measured)) for p in preps) / len(preps)


def golden(f: Callable[[float], float], lo: float, hi: float) -> float:
    """The minimiser of a unimodal ``f`` on [lo, hi] (golden-section search)."""
    r = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - r * (b - a), a + r * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(GOLDEN_STEPS):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - r * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + r * (b - a)
            fd = f(d)
    return (a + b) / 2


def _factors(preps: list[Prepared]) -> list[str]:
    kinds = [k for k in FIT_FACTORS if any(p.kind == k for p in preps)]
    ordered = [FIT_FACTORS[k][0] for k in kinds] + [f for k in kinds for f in FIT_FACTORS[k][1:]]
    unique = list(dict.fromkeys(ordered))
    return unique[:max(1, len(preps) // RUNS_PER_FACTOR)]


def _record(name: str, engine: str, gpu: str, x: float, preps: list[Prepared], before: float,
            after: float) -> dict[str, Any]:
    return {"name": name, "engine": engine, "gpu": gpu, "value": round(x, 6), "ref": "perf-calibration",
            "confidence": "fitted",
            "note": f"fitted on {len(preps)} calibration runs of {SOURCE}, listed in perf/bands.json "
                    f"split.fitted_on (mean |log error| {before:.3f} -> {after:.3f} with this scope's "
                    "factors)",
            "cases": sorted(p.id for p in preps)}


def fit_scope(preps: list[Prepared], records: list[dict[str, Any]], engine: str,
              gpu: str) -> list[dict[str, Any]]:
    """``records`` plus fitted records for (engine, gpu) over ``preps``."""
    names = _factors(preps)
    start = efficiency(preps[0].engine, preps[0].gpu.key, records=records)
    current = {n: float(getattr(start, n)) for n in names}
    before = loss(preps, records)

    def with_values(values: dict[str, float]) -> list[dict[str, Any]]:
        mine = [_record(n, engine, gpu, v, preps, 0, 0) for n, v in values.items()]
        return [r for r in records if not _same(r, mine)] + mine

    for _ in range(SWEEPS):
        for n in names:
            def f(x: float, n: str = n) -> float:
                return loss(preps, with_values({**current, n: _from_axis(n, x)}))

            lo, hi = (_to_axis(n, b) for b in _bounds(n))
            current[n] = _from_axis(n, golden(f, lo, hi))
    after = loss(preps, with_values(current))
    mine = [_record(n, engine, gpu, v, preps, before, after) for n, v in current.items()]
    return [r for r in records if not _same(r, mine)] + mine


def _same(r: dict[str, Any], mine: list[dict[str, Any]]) -> bool:
    return r["confidence"] == "fitted" and any(
        (r["name"], r["engine"], r["gpu"]) == (m["name"], m["engine"], m["gpu"]) for m in mine)


def _bounds(name: str) -> tuple[float, float]:
    return BOUNDS["seconds" if name.endswith("_s") else "share"]


def _to_axis(name: str, x: float) -> float:
    return x if name.endswith("_s") else math.log(x)


def _from_axis(name: str, x: float) -> float:
    return x if name.endswith("_s") else math.exp(x)


def scopes(preps: list[Prepared]) -> list[tuple[str, str, list[Prepared]]]:
    """(engine, gpu, runs) to fit, general first; see the module docstring."""
    out: list[tuple[str, str, list[Prepared]]] = []
    engines = sorted({p.engine for p in preps})
    gpus = sorted({p.gpu.key for p in preps})
    for engine, gpu, need in ([("*", "*", RUNS_PER_FACTOR)] + [(e, "*", RUNS_PER_FACTOR) for e in engines]
                              + [(e, g, MIN_GPU_RUNS) for e in engines for g in gpus]):
        runs = [p for p in preps if engine in ("*", p.engine) and gpu in ("*", p.gpu.key)]
        wider = [s for s in out if s[0] == engine and s[1] == "*"]
        tables = {p.case.get("group") for p in runs}
        if gpu != "*" and len(tables) < MIN_GPU_TABLES:  # one table's build and setup, not the GPU
            continue
        if len(runs) >= need and not (wider and len(wider[0][2]) == len(runs)):  # one GPU: no new scope
            out.append((engine, gpu, runs))
    return out


def fit(preps: list[Prepared], base: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fitted records (calibration runs only), training apart from inference: the two kinds
    of run share no factor."""
    records = list(base)
    for group in ([p for p in preps if p.kind != "training"], [p for p in preps if p.kind == "training"]):
        for engine, gpu, runs in scopes(group):
            records = fit_scope(runs, records, engine, gpu)
    return [r for r in records if r["confidence"] == "fitted"]


# --- held-out errors and bands --------------------------------------------------------------------

def is_time(metric: str) -> bool:
    """Seconds (prefill_s, ttft_s, tpot_s), as opposed to a rate or a share."""
    return metric.endswith("_s") and not metric.endswith("_per_s")


def rate_error(metric: str, predicted: float, measured: float) -> float:
    """(pred − measured)/measured on the rate: a time t counts as 1/t."""
    return measured / predicted - 1 if is_time(metric) else predicted / measured - 1


def rows(doc: dict[str, Any], preps: list[Prepared], skipped: dict[str, str],
         records: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per case: measured, predicted (``records``; None: the committed factors), errors."""
    by_id = {p.id: p for p in preps}
    out = []
    for case in doc["cases"]:
        row = {"id": case["id"], "kind": case["kind"], "engine": case["engine"], "gpu": case["gpu"],
               "metric": case["measured"]["metric"], "measured": case["measured"]["value"],
               "side": side(doc, case["id"])}
        p = by_id.get(case["id"])
        if p is None:
            out.append({**row, "skipped": skipped[case["id"]]})
            continue
        pred = value(p, records)
        out.append({**row, "predicted": pred, "error": pred / p.measured - 1,
                    "rate_error": rate_error(p.metric, pred, p.measured)})
    return out


def _band(errors: list[float], basis: str) -> dict[str, Any]:
    """The range of ``errors``, widened outward to 0.1 % so rounding never puts a run outside."""
    return {"low": math.floor(min(errors) * 1000) / 1000, "high": math.ceil(max(errors) * 1000) / 1000,
            "runs": len(errors), "basis": basis}


def bands(table: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """bands.json's "bands": per kind (rate errors) and per measured figure (its own errors),
    per engine with >= MIN_BAND_RUNS held-out runs, and "*" over every engine."""
    held = [r for r in table if r["side"] == "held_out" and "error" in r]
    out: dict[str, dict[str, Any]] = {}
    for key, field, what in (("kind", "rate_error", "rate"), ("metric", "error", "figure")):
        for name in sorted({r[key] for r in held}):
            mine = [r for r in held if r[key] == name]
            entry = {}
            if len(mine) >= MIN_BAND_RUNS:
                entry["*"] = _band([r[field] for r in mine], f"held-out published {name} runs, all "
                                                                 f"engines ({SOURCE}); error on the {what}")
            for engine in sorted({r["engine"] for r in mine}):
                errs = [r[field] for r in mine if r["engine"] == engine]
                if len(errs) >= MIN_BAND_RUNS:
                    entry[engine] = _band(errs, f"held-out published {engine} {name} runs ({SOURCE}); "
                                                f"error on the {what}")
            if entry:
                out.setdefault(name, {}).update(entry)
    return out


def summary(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (kind, engine) and per kind ("*"), per side: n, mean |error|, low, high (rate errors)."""
    out = []
    done = [r for r in table if "error" in r]
    keys = sorted({(r["kind"], r["engine"]) for r in done}) + sorted({(r["kind"], "*") for r in done})
    for kind, engine in sorted(keys, key=lambda k: (KINDS.index(k[0]), k[1] == "*", k[1])):
        for s in ("calibration", "held_out"):
            errs = [r["rate_error"] for r in done
                    if r["kind"] == kind and engine in ("*", r["engine"]) and r["side"] == s]
            if errs:
                out.append({"kind": kind, "engine": engine, "side": s, "runs": len(errs),
                            "mean_abs": sum(map(abs, errs)) / len(errs), "max_abs": max(map(abs, errs)),
                            "low": min(errs), "high": max(errs)})
    return out


# --- the report -----------------------------------------------------------------------------------

START, END = "<!-- perf-calibration: start -->", "<!-- perf-calibration: end -->"


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.4g}"


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


def section(results: dict[str, Any]) -> list[str]:
    """The report's performance section, from ``perf_results.json`` alone (``validation.run``
    re-renders it the same way when it rewrites the report)."""
    lines = [START, "", "## Performance: calibration on published runs, error on held-out ones", "",
             f"Regenerate with `python -m validation.perf_calibration --write` (cases: `{SOURCE}`; "
             "method: the module docstring). Errors are (predicted − measured)/measured; the summary "
             "and the bands take them on the rate (a time t counts as the rate 1/t), so + is too fast.",
             "", "### Split", "", results["split_rule"], "",
             "### Held-out error per kind and engine (the bands llmsize prints)", "",
             "| kind | engine | side | runs | mean \\|error\\| | max \\|error\\| | low | high |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {s['kind']} | {s['engine']} | {s['side']} | {s['runs']} | {100 * s['mean_abs']:.1f}% | "
              f"{100 * s['max_abs']:.1f}% | {_pct(s['low'])} | {_pct(s['high'])} |"
              for s in results["summary"]]
    lines += ["", "An engine with fewer than 3 held-out runs of a kind prints the kind's band over every "
              "engine (`*`).", "", "### Fitted factors", "",
              "| factor | engine | gpu | value | calibration runs |", "|---|---|---|---|---|"]
    lines += [f"| {r['name']} | {r['engine']} | {r['gpu']} | {r['value']:.4g}{_at_bound(r)} | "
              f"{len(r['cases'])} |" for r in results["fitted"]]
    lines += ["", "A value marked *at bound* sits at the search's limit (a share of 1 is the datasheet "
              "peak): the model, not the factor, misses those runs."]
    for kind in KINDS:
        mine = [r for r in results["rows"] if r["kind"] == kind and "error" in r]
        if not mine:
            continue
        lines += ["", f"### {kind} runs", "",
                  "| case | engine | gpu | metric | measured | predicted | error | side |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['id']} | {r['engine']} | {r['gpu']} | {r['metric']} | {_num(r['measured'])} | "
                  f"{_num(r['predicted'])} | {_pct(r['error'])} | {r['side']} |"
                  for r in sorted(mine, key=lambda r: (r["side"], r["engine"], r["id"]))]
    skipped = [r for r in results["rows"] if "skipped" in r]
    if skipped:
        lines += ["", "### Not predicted", "", "| case | kind | side | why |", "|---|---|---|---|"]
        lines += [f"| {r['id']} | {r['kind']} | {r['side']} | {r['skipped']} |" for r in skipped]
    return [*lines, "", END]


def _at_bound(r: dict[str, Any]) -> str:
    lo, hi = _bounds(r["name"])
    return " *at bound*" if min(abs(r["value"] - lo), abs(r["value"] - hi)) < 1e-3 * (hi - lo) else ""


def with_section(report: str, lines: list[str]) -> str:
    """``report`` with its performance section replaced (or appended)."""
    block = "\n".join(lines) + "\n"
    if START in report and END in report:
        head, rest = report.split(START, 1)
        return head + block + rest.split(END, 1)[1].lstrip("\n")
    return report.rstrip("\n") + "\n\n" + block


def report_lines() -> list[str]:
    """The section from the committed ``perf_results.json``; nothing when there is none."""
    if not RESULTS.exists():
        return []
    return section(json.loads(RESULTS.read_text()))


# --- main -------------------------------------------------------------------------------------------

def _split_rule(doc: dict[str, Any]) -> str:
    about = str(doc.get("about", ""))
    i = about.find("SPLIT RULE")
    return about[i:] if i >= 0 else "As given by the 'split' of the cases file."


def calibrate(doc: dict[str, Any]) -> dict[str, Any]:
    """Fit on the calibration runs, predict every run with the fit: the results document."""
    preps, skipped = prepare_all(doc)
    base = json.loads(Path(EFFICIENCY_JSON).read_text())
    reported = [r for r in base["factors"] if r["confidence"] != "fitted"]
    cal = [p for p in preps if side(doc, p.id) == "calibration"]
    fitted = fit(cal, reported)
    table = rows(doc, preps, skipped, reported + fitted)
    return {"about": "written by validation/perf_calibration.py", "split_rule": _split_rule(doc),
            "rows": table, "summary": summary(table), "fitted": fitted, "bands": bands(table)}


def write(doc: dict[str, Any], results: dict[str, Any]) -> None:
    eff_doc = json.loads(Path(EFFICIENCY_JSON).read_text())
    kept = [r for r in eff_doc["factors"] if r["confidence"] != "fitted"]
    eff_doc["factors"] = kept + [{k: v for k, v in r.items() if k != "cases"} for r in results["fitted"]]
    Path(EFFICIENCY_JSON).write_text(_dump_records(eff_doc))
    held = [r["id"] for r in results["rows"] if r["side"] == "held_out" and "error" in r]
    bands_doc = {"about": "Relative error of llmsize's performance estimates on held-out published runs, "
                          "written by validation/perf_calibration.py; see validation/REPORT.md.",
                 "split": {"rule": results["split_rule"], "source": SOURCE,
                           "held_out": sorted(held),
                           "fitted_on": {fit_key(r): r["cases"] for r in results["fitted"]}},
                 "bands": results["bands"]}
    Path(BANDS_JSON).write_text(json.dumps(bands_doc, indent=1) + "\n")
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    REPORT.write_text(with_section(REPORT.read_text(), section(results)))


def fit_key(r: dict[str, Any]) -> str:
    """How bands.json's split names a fitted record: "factor engine gpu"."""
    return f"{r['name']} {r['engine']} {r['gpu']}"


def _dump_records(doc: dict[str, Any]) -> str:
    """efficiency.json as it is kept: one record per line."""
    refs = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}"
                      for k, v in doc["references"].items())
    recs = ",\n".join(f"    {json.dumps(r, ensure_ascii=False)}" for r in doc["factors"])
    about = json.dumps(doc["about"], ensure_ascii=False)
    return (f'{{\n  "about": {about},\n  "references": {{\n{refs}\n  }},\n'
            f'  "factors": [\n{recs}\n  ]\n}}\n')


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m validation.perf_calibration",
                                description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=Path, default=CASES, help="the cases file (default: %(default)s)")
    p.add_argument("--write", action="store_true",
                   help="write efficiency.json, bands.json, perf_results.json and the REPORT.md section")
    args = p.parse_args(argv)
    doc = load(args.cases)
    results = calibrate(doc)
    print("\n".join(section(results)))
    if args.write:
        write(doc, results)
        print(f"wrote {EFFICIENCY_JSON}, {BANDS_JSON}, {RESULTS}, {REPORT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
