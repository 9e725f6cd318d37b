"""Run the validation grid and write the report: ``python -m validation.run [--fast] [--only NAME]``.

Every case is measured by PyTorch itself (``llmsize.measure.compare``: MemTracker under
FakeTensorMode, on the CPU) and estimated by llmsize; the report gives both, per term, with the
relative error, then mean and max errors per mode and term. Writes:

    validation/REPORT.md                    the tables (and the GPU columns, if gpu_results.csv exists)
    validation/results.json                 every case, raw
    validation/estimate_vs_measured.png     the plot (needs matplotlib: pip install 'llmsize[validation]')
    src/llmsize/catalog/error_bars.json     per mode and term: mean/max |error| and the number of cases,
                                            which ``llmsize infer`` and ``llmsize train`` print as error bars
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path

from llmsize.commands.measure import Progress
from llmsize.errorbars import CPU_KERNELS

from . import calibration, perf_calibration, speed_rows
from .grid import FAMILIES_NEW, FAST, FULL, HYBRIDS, MODELS, Case, config
from .tolerances import NOT_IN_ERROR_BARS, activation_bounds, show, total_bounds, within

HERE = Path(__file__).resolve().parent
ERROR_BARS = HERE.parent / "src" / "llmsize" / "catalog" / "error_bars.json"
EXACT_TERMS = {"infer": ("weights", "kv_cache"), "train": ("weights", "optimizer_states")}


def measure(case: Case) -> dict:
    """Measure and estimate one case; the row the report and the tests read."""
    from llmsize.measure.compare import compare_infer, compare_train
    cfg = config(case.model)
    start = time.monotonic()
    shape = {"batch": case.batch, "seq": case.seq, "attn": case.attn, "layers": case.layers}
    if case.mode == "infer":
        c = compare_infer(cfg, case.model, **shape)
    else:
        c = compare_train(cfg, case.model, **shape, optimizer=case.optimizer, recompute=case.recompute,
                          lora_rank=case.lora_rank)
    return {"case": asdict(case), "label": case.label, "measured": c.measured, "estimate": c.estimate,
            "peak_bytes": c.peak_bytes, "peak_module": c.peak_module, "peak_phase": c.peak_phase,
            "estimated_phase": c.estimated_phase, "errors": c.errors(),
            "seconds": round(time.monotonic() - start, 2)}


def re_estimate(row: dict) -> dict:
    """``row`` with its estimate, estimated phase and errors from the code as it is now; its
    measurement kept."""
    from llmsize.measure.compare import Comparison, estimate_infer, estimate_train

    case = Case(**row["case"])
    cfg = config(case.model)
    shape = {"batch": case.batch, "seq": case.seq, "attn": case.attn, "layers": case.layers}
    phase = ""
    if case.mode == "infer":
        guess = estimate_infer(cfg, case.model, **shape)
    else:
        full, phase = estimate_train(cfg, case.model, **shape, optimizer=case.optimizer,
                                     recompute=case.recompute, lora_rank=case.lora_rank)
        guess = {k: v for k, v in full.items() if k in row["measured"]}
    c = Comparison(case.mode, row["measured"], row["peak_bytes"], row["peak_module"], {}, guess,
                   peak_phase=row.get("peak_phase", ""), estimated_phase=phase)
    return {**row, "estimate": guess, "estimated_phase": phase, "errors": c.errors()}


def violations(row: dict) -> list[str]:
    """Which of this row's errors fall outside the committed bounds (``tolerances.py``)."""
    mode, model, errs = row["case"]["mode"], row["case"]["model"], row["errors"]
    out, total = [], total_bounds(mode, model)
    if not within(errs["total"], total):
        out.append(f"total {100 * errs['total']:+.2f}% outside {show(total)}")
    act, bounds = errs.get("activations"), activation_bounds(mode, model, row["case"]["attn"])
    if act is not None and not within(act, bounds):
        out.append(f"activations {100 * act:+.2f}% outside {show(bounds)}")
    return out


def _term_stats(rows: list[dict], errs_of: Callable[[dict], dict] = lambda r: r["errors"],
                terms: Iterable[str] | None = None) -> dict:
    out = {}
    for term in terms or [*rows[0]["errors"]] if rows else []:
        errs = [abs(e) for r in rows if (e := errs_of(r).get(term)) is not None]
        if errs:
            mean = round(sum(errs) / len(errs), 4)
            out[term] = {"mean": mean, "max": round(max(errs), 4), "cases": len(errs)}
    return out


def _column(rows: list[dict], calib_of: Callable[[str], set[str]], *, held_out: bool,
            refitted: dict[str, dict]) -> dict:
    """One column of the report: per term, the cases whose family set (calibration) or did not
    set (held-out) a constant of that term; held-out rows carry their leave-one-family-out errors."""
    def errs_of(r: dict) -> dict:
        return refitted.get(r["label"], r["errors"]) if held_out else r["errors"]

    terms, by_attn, models = {}, {}, {}
    for term in rows[0]["errors"]:
        calib = calib_of(term)
        mine = [r for r in rows if (calibration.family(r["case"]["model"]) in calib) != held_out]
        stats = _term_stats(mine, errs_of, [term])
        if stats:
            terms[term] = stats[term]
            models[term] = sorted({r["case"]["model"] for r in mine})
        for attn in sorted({r["case"]["attn"] for r in mine}):
            by_attn.setdefault(attn, {}).update(
                _term_stats([r for r in mine if r["case"]["attn"] == attn], errs_of, [term]))
    return {"terms": terms, "by_attn": by_attn, "models": models}


def summarize(rows: list[dict]) -> dict:
    """Per mode, and per attention kernel within it: mean and max |relative error| per term and
    the number of cases (models in ``NOT_IN_ERROR_BARS`` are reported but left out); then the
    same split into the calibration and held-out columns (``calibration.py``)."""
    out: dict[str, dict] = {}
    refitted = calibration.held_out_errors(rows)
    for mode in ("infer", "train"):
        mine = [r for r in rows if r["case"]["mode"] == mode and r["case"]["model"] not in NOT_IN_ERROR_BARS]
        if not mine:
            continue
        by_attn = {a: _term_stats([r for r in mine if r["case"]["attn"] == a])
                   for a in sorted({r["case"]["attn"] for r in mine})}
        out[mode] = {"cases": len(mine), "terms": _term_stats(mine), "by_attn": by_attn,
                     "exact": list(EXACT_TERMS[mode]),
                     **_columns(mine, mode, refitted)}
    return out


def _columns(rows: list[dict], mode: str, refitted: dict[str, dict]) -> dict:
    unfit = calibration.unfitted(rows)

    def calib_of(term: str) -> set[str]:
        return calibration.calibration_families(mode, term) | unfit.get((mode, term), set())

    return {"calibration": _column(rows, calib_of, held_out=False, refitted=refitted),
            "held_out": _column(rows, calib_of, held_out=True, refitted=refitted)}


def gpu_errors(g: dict) -> dict[str, float | None]:
    """A GPU row's errors: the total against ``max_allocated``, and the activations against what
    remains of it once the estimate's other (exact) terms are taken out."""
    allocated, bare, act = int(g["max_allocated"]), int(g["estimate"]), int(g.get("est_activations") or 0)
    errs: dict[str, float | None] = {"total": bare / allocated - 1}
    rest = allocated - (bare - act)
    errs["activations"] = act / rest - 1 if act and rest > 0 else None
    return errs


def summarize_gpu(gpu: list[dict]) -> dict:
    """The GPU run's columns per mode, split by family as the CPU ones but without re-fits: a
    family whose CPU measurements set a constant (re-fitted or not) is calibration on the GPU too."""
    out: dict[str, dict] = {}
    for mode in ("infer", "train"):
        rows = [{"case": {"model": g["model"], "mode": mode, "attn": g["attn"]}, "label": g["label"],
                 "errors": gpu_errors(g)} for g in gpu
                if g["mode"] == mode and g["model"] not in NOT_IN_ERROR_BARS]
        if not rows:
            continue

        def calib_of(term: str, mode: str = mode) -> set[str]:
            return calibration.calibration_families(mode, term) | calibration.refitted_families(mode, term)

        devices = sorted({g.get("device") or "an unnamed CUDA GPU" for g in gpu if g["mode"] == mode})
        out[mode] = {"cases": len(rows), "measured_on": f"CUDA kernels on {', '.join(devices)} "
                     "(torch.cuda.max_memory_allocated, validation/gpu_results.csv)",
                     "calibration": _column(rows, calib_of, held_out=False, refitted={}),
                     "held_out": _column(rows, calib_of, held_out=True, refitted={})}
    return out


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:+.2f}%"


def _mib(x: int) -> str:
    return f"{x / 2**20:,.1f}"


def _cell(t: dict | None) -> str:
    return "— | — | —" if not t else f"{t['cases']} | {100 * t['mean']:.2f}% | {100 * t['max']:.2f}%"


TERM_ORDER = ("weights", "kv_cache", "gradients", "optimizer_states", "activations", "total")


def _columns_table(modes: dict) -> list[str]:
    lines = ["| mode | attn | term | calibration cases | mean | max | held-out cases | mean | max |",
             "|---|---|---|---|---|---|---|---|---|"]
    for mode, s in modes.items():
        for attn in sorted(set(s["calibration"]["by_attn"]) | set(s["held_out"]["by_attn"])):
            calib, held = s["calibration"]["by_attn"].get(attn, {}), s["held_out"]["by_attn"].get(attn, {})
            for term in [t for t in TERM_ORDER if t in calib or t in held]:
                cells = f"{_cell(calib.get(term))} | {_cell(held.get(term))}"
                lines.append(f"| {mode} | {attn} | {term} | {cells} |")
    return lines


def _calibration_section(rows: list[dict], summary: dict) -> list[str]:
    lines = ["", "## Calibration and held-out columns", "",
             "The error bars llmsize prints come from the held-out column: cases whose architecture "
             "family set no constant of the term (`validation/calibration.py`). Calibration cases are "
             "validated on the measurements that set their constants. A re-fitted constant is fitted "
             "again without each family it moves, and that family's cases are re-estimated with the value "
             "the others give (leave-one-family-out); its family then counts as held out. Measured on "
             f"the CPU: {CPU_KERNELS}.", "", *_columns_table(summary), ""]
    for mode, s in summary.items():
        held = s["held_out"]["models"].get("activations", [])
        lines.append(f"- {mode} activations held out: {', '.join(held) or 'none'}")
    lines += ["", "### Constants and the families whose measurements set them", "",
              "| mode | term | constant | set by | how | re-fitted |", "|---|---|---|---|---|---|"]
    lines += [f"| {c.mode} | {c.term} | `{c.where}` | {', '.join(c.families)} | {c.how} | "
              f"{'leave-one-family-out' if c.refit else 'no: calibration by construction'} |"
              for c in calibration.CONSTANTS]
    lines += ["", f"The reference family `{calibration.REFERENCE}` counts as calibration for every "
              "modelled term: each phase model was first written and checked on it.", "",
              "### Leave-one-family-out re-fits", "", "| constant | held-out family | value the others fit |",
              "|---|---|---|"]
    lines += [f"| `{where}` | {fam} | {value} |" for where, fam, value in calibration.refits(rows)]
    return lines


def report(rows: list[dict], summary: dict, gpu: list[dict] | None, speed: list[dict] | None = None) -> str:
    lines = ["# llmsize validation report", "",
             "Each case is measured by PyTorch (MemTracker under FakeTensorMode, on the CPU: "
             "`llmsize measure`) and estimated by llmsize without its overhead lines. Models keep their "
             "layer shapes with fewer layers. Regenerate with `python -m validation.run` (or, from the "
             "committed measurements, `python -m validation.run --from-results`); the tolerances are "
             "in `validation/tolerances.py`.", "", "## Summary, all cases (|relative error|)", "",
             "| mode | cases | term | mean | max |", "|---|---|---|---|---|"]
    for mode, s in summary.items():
        for term, t in s["terms"].items():
            mean, top = f"{100 * t['mean']:.2f}%", f"{100 * t['max']:.2f}%"
            lines.append(f"| {mode} | {s['cases']} | {term} | {mean} | {top} |")
    lines += ["", "Left out of the summary and the error bars (reported below): "
              + "; ".join(f"{m} ({why})" for m, why in NOT_IN_ERROR_BARS.items()) + "."]
    lines += _calibration_section(rows, summary)
    lines += ["", "## Models", "", "| model | family | stands for |", "|---|---|---|"]
    lines += [f"| {m} | {calibration.family(m)} | {why} |" for m, why in MODELS.items()]
    lines += ["", "Newer native families (`FAMILIES_NEW`), on lighter points: inference b1 s1024 and "
              "b4 s256, training b2 s512 with and without full recompute.", "",
              "| model | family | stands for |", "|---|---|---|"]
    lines += [f"| {m} | {calibration.family(m)} | {why} |" for m, why in FAMILIES_NEW.items()]
    lines += ["", "State-space and hybrid families (`HYBRIDS`), one layer of each kind kept: inference b1 "
              "s1024 and b4 s256, training b2 s512 with and without full recompute.", "",
              "| model | family | stands for |", "|---|---|---|"]
    lines += [f"| {m} | {calibration.family(m)} | {why} |" for m, why in HYBRIDS.items()]
    for mode in summary:
        terms = [*next(r for r in rows if r["case"]["mode"] == mode)["measured"]]
        lines += ["", f"## {mode} cases (MiB: measured / estimate / error)", "",
                  "| case | " + " | ".join(terms) + " | total (peak) | peak at |",
                  "|---|" + "---|" * (len(terms) + 2)]
        for r in (r for r in rows if r["case"]["mode"] == mode):
            cells = [f"{_mib(r['measured'][t])} / {_mib(r['estimate'].get(t, 0))} / {_pct(r['errors'][t])}"
                     for t in terms]
            guess = sum(r["estimate"].values())
            total = f"{_mib(r['peak_bytes'])} / {_mib(guess)} / {_pct(r['errors']['total'])}"
            where = r["peak_module"].split(".", 1)[-1] + (f" ({r['peak_phase']})" if r["peak_phase"] else "")
            lines.append(f"| {r['label']} | " + " | ".join(cells) + f" | {total} | {where} |")
    lines += _gpu_section(gpu)
    lines += ["", *perf_calibration.report_lines()]  # kept from perf_results.json (perf_calibration.py)
    lines += _speed_section(speed)
    return "\n".join(lines) + "\n"


def _gpu_section(gpu: list[dict] | None) -> list[str]:
    if not gpu:
        return ["", "## GPU measurements", "", "None committed yet (`validation/gpu_results.csv`): every "
                "error bar above is a CPU-kernel measurement and says so. `python -m validation.gpu_measure` "
                "on a CUDA machine writes the CSV; this report and the bars then use its held-out column."]
    modes = summarize_gpu(gpu)
    lines = ["", "## GPU measurements (validation/gpu_results.csv)", ""]
    lines += [f"- {mode}: {s['cases']} cases, {s['measured_on']}" for mode, s in modes.items()]
    lines += ["", *_columns_table(modes), "",
              "| case | device | max allocated MiB | max reserved MiB | nvidia-smi MiB | estimate MiB "
              "| error |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {g['label']} | {g.get('device', '')} | {_mib(int(g['max_allocated']))} | "
              f"{_mib(int(g['max_reserved']))} | {g['nvidia_smi_mib']} | {_mib(int(g['estimate']))} | "
              f"{_pct(gpu_errors(g)['total'])} |" for g in gpu]
    return lines


SPEED_COMMAND = ("python -m validation.gpu_measure --speed [--models M ...] [--batches 1,8,32] "
                 "[--input-len 512] [--output-len 128] [--engines hf,vllm,llamacpp] [--gguf FILE] "
                 "[--minutes 5]")


def _speed_section(speed: list[dict] | None) -> list[str]:
    """Measured prefill and decode speed (validation/gpu_speed.csv), and how to add rows."""
    lines = ["", "## Measured speed (validation/gpu_speed.csv)", "",
             f"One command on any CUDA machine appends rows: `{SPEED_COMMAND}` (the defaults, three models "
             "of 0.5B to 8B at three batches, are sized for a few minutes; `--minutes` stops the sweep "
             "cleanly and keeps what was measured). Models are built from the catalog configs with "
             "random weights, nothing is downloaded; vLLM (dummy weights) and llama.cpp (`llama-bench`, "
             "GGUF files given) run where installed. `validation/speed_rows.py` turns the rows into "
             "performance cases (confidence \"measured\", ref `gpu_speed.csv`) for the calibration above, "
             "which reads `perf_cases.json` only until it folds them in. Commit the CSV and run "
             "`python -m validation.run --from-results`."]
    if not speed:
        return [*lines, "", "None committed yet: no GPU was at hand when the runner was written (its timing "
                "loop is tested on the CPU with a tiny model, tests/test_gpu_speed.py)."]
    lines += ["", "| date | device | engine | version | model | dtype | batch | input | output | prefill s "
              "| TTFT s | TPOT s | tok/s (one sequence) | tok/s (all) |", "|---" * 14 + "|"]
    keys = ("date", "gpu", "engine", "engine_version", "model", "dtype", "batch", "input_len", "output_len",
            "prefill_s", "ttft_s", "tpot_s", "decode_tokens_per_s", "throughput_tokens_per_s")
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in speed]
    return lines


def plot(rows: list[dict], path: Path) -> bool:
    """Estimate against measured peak, log-log, one point per case; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6, 6))
    for mode, marker in (("infer", "o"), ("train", "s")):
        mine = [r for r in rows if r["case"]["mode"] == mode]
        xs = [r["peak_bytes"] / 2**30 for r in mine]
        ys = [sum(r["estimate"].values()) / 2**30 for r in mine]
        ax.scatter(xs, ys, marker=marker, label=f"{mode} ({len(mine)} cases)", alpha=0.7)
    lo = min(r["peak_bytes"] for r in rows) / 2**30 * 0.8
    hi = max(r["peak_bytes"] for r in rows) / 2**30 * 1.2
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="estimate = measured")
    ax.set(xscale="log", yscale="log", xlabel="measured peak (GiB, MemTracker)",
           ylabel="llmsize estimate (GiB)", title="llmsize estimate vs PyTorch-measured peak")
    ax.legend()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return True


def read_gpu(path: Path) -> list[dict] | None:
    import csv

    if not path.exists():
        return None
    with path.open() as f:
        return list(csv.DictReader(f))


def write(out: Path | None, rows: list[dict], summary: dict, gpu: list[dict] | None,
          speed: list[dict] | None = None) -> None:
    """The report files: the shipped ones (``out`` None), or all four into ``out``."""
    results, report_md = (out or HERE) / "results.json", (out or HERE) / "REPORT.md"
    bars_path = out / "error_bars.json" if out else ERROR_BARS
    if out:
        out.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(rows, indent=1) + "\n")
    report_md.write_text(report(rows, summary, gpu, speed))
    plot(rows, (out or HERE) / "estimate_vs_measured.png")
    bars = {"source": "validation/REPORT.md", "measured_on": CPU_KERNELS, "modes": summary}
    if gpu:
        bars["gpu"] = summarize_gpu(gpu)
    bars_path.write_text(json.dumps(bars, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m validation.run", description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true", help="the subset CI runs")
    p.add_argument("--only", help="models whose name contains this text")
    p.add_argument("--mode", choices=("infer", "train"))
    p.add_argument("--from-results", action="store_true",
                   help="measure nothing: rebuild the report and error bars from the committed results.json")
    p.add_argument("--re-estimate", action="store_true",
                   help="measure nothing: keep results.json's measurements (MemTracker under FakeTensorMode "
                        "is deterministic), estimate every case again with the code as it is, and rebuild")
    p.add_argument("--out", type=Path,
                   help="a subset run writes its report files here (never the shipped ones)")
    p.add_argument("--no-write", action="store_true", help="print, do not write the report files")
    p.add_argument("--quiet", action="store_true", help="no progress on the terminal (failures still)")
    args = p.parse_args(argv)
    subset = bool(args.fast or args.only or args.mode)
    if args.from_results or args.re_estimate:
        if subset:
            p.error("--from-results and --re-estimate rebuild the whole report: no --fast, --only or --mode")
        rows, failed = json.loads((HERE / "results.json").read_text()), []
        if args.re_estimate:
            rows = [re_estimate(r) for r in rows]
            failed = [f"{r['label']}: {b}" for r in rows for b in violations(r)]
    else:
        rows, failed = _measure_all(args)
    summary = summarize(rows)
    if args.no_write or (subset and not args.out):
        if subset and not args.no_write:
            print("a subset run writes no report files (give --out DIR)", file=sys.stderr)
    else:
        speed = speed_rows.read(HERE / "gpu_speed.csv")
        write(args.out, rows, summary, read_gpu(HERE / "gpu_results.csv"), speed)
    print(json.dumps(summary, indent=1))
    for f in failed:
        print(f"tolerance exceeded: {f}", file=sys.stderr)
    return 1 if failed else 0


def _measure_all(args: argparse.Namespace) -> tuple[list[dict], list[str]]:
    cases = [c for c in (FAST if args.fast else FULL)
             if (not args.only or args.only in c.model) and (not args.mode or c.mode == args.mode)]
    rows, failed = [], []
    tty = sys.stderr.isatty() and not args.quiet  # a terminal sees each case; a log sees failures only
    progress = Progress(len(cases), enabled=tty)
    for i, case in enumerate(cases, 1):
        progress(f"measuring {case.label}")
        row = measure(case)
        rows.append(row)
        bad = violations(row)
        failed += [f"{row['label']}: {b}" for b in bad]
        if tty:
            print(f"\r\033[K[{i}/{len(cases)}] {row['label']}: total {_pct(row['errors']['total'])}, "
                  f"activations {_pct(row['errors'].get('activations'))} ({row['seconds']} s)"
                  f"{'  FAIL' if bad else ''}", file=sys.stderr)
    progress.finish()
    return rows, failed

if __name__ == "__main__":
    raise SystemExit(main())
