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
from dataclasses import asdict
from pathlib import Path

from llmsize.commands.measure import Progress

from .grid import FAST, FULL, MODELS, Case
from .tolerances import NOT_IN_ERROR_BARS, activation_tolerance, total_tolerance

HERE = Path(__file__).resolve().parent
ERROR_BARS = HERE.parent / "src" / "llmsize" / "catalog" / "error_bars.json"
EXACT_TERMS = {"infer": ("weights", "kv_cache"), "train": ("weights", "optimizer_states")}


def measure(case: Case) -> dict:
    """Measure and estimate one case; the row the report and the tests read."""
    from llmsize.measure.compare import compare_infer, compare_train
    from llmsize.sources import catalog

    cfg = dict(catalog.lookup(case.model).config)
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


def violations(row: dict) -> list[str]:
    """Which of this row's errors exceed the committed tolerances."""
    mode, model, errs = row["case"]["mode"], row["case"]["model"], row["errors"]
    out, total = [], total_tolerance(mode, model)
    if abs(errs["total"]) > total:
        out.append(f"total {100 * errs['total']:+.2f}% > ±{100 * total:g}%")
    act, bound = errs.get("activations"), activation_tolerance(mode, model, row["case"]["attn"])
    if act is not None and abs(act) > bound:
        out.append(f"activations {100 * act:+.2f}% > ±{100 * bound:g}%")
    return out


def _term_stats(rows: list[dict]) -> dict:
    terms = {}
    for term in [*rows[0]["errors"]]:
        errs = [abs(r["errors"][term]) for r in rows if r["errors"].get(term) is not None]
        if errs:
            mean = round(sum(errs) / len(errs), 4)
            terms[term] = {"mean": mean, "max": round(max(errs), 4), "cases": len(errs)}
    return terms


def summarize(rows: list[dict]) -> dict:
    """Per mode, and per attention kernel within it: mean and max |relative error| per term and
    the number of cases (models in ``NOT_IN_ERROR_BARS`` are reported but left out)."""
    out: dict[str, dict] = {}
    for mode in ("infer", "train"):
        mine = [r for r in rows if r["case"]["mode"] == mode and r["case"]["model"] not in NOT_IN_ERROR_BARS]
        if not mine:
            continue
        by_attn = {a: _term_stats([r for r in mine if r["case"]["attn"] == a])
                   for a in sorted({r["case"]["attn"] for r in mine})}
        out[mode] = {"cases": len(mine), "terms": _term_stats(mine), "by_attn": by_attn,
                     "exact": list(EXACT_TERMS[mode])}
    return out


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:+.2f}%"


def _mib(x: int) -> str:
    return f"{x / 2**20:,.1f}"


def report(rows: list[dict], summary: dict, gpu: list[dict] | None) -> str:
    lines = ["# llmsize validation report", "",
             "Each case is measured by PyTorch (MemTracker under FakeTensorMode, on the CPU: "
             "`llmsize measure`) and estimated by llmsize without its overhead lines. Models keep their "
             "layer shapes with fewer layers. Regenerate with `python -m validation.run`; the tolerances are "
             "in `validation/tolerances.py`.", "", "## Summary (|relative error|)", "",
             "| mode | cases | term | mean | max |", "|---|---|---|---|---|"]
    for mode, s in summary.items():
        for term, t in s["terms"].items():
            mean, top = f"{100 * t['mean']:.2f}%", f"{100 * t['max']:.2f}%"
            lines.append(f"| {mode} | {s['cases']} | {term} | {mean} | {top} |")
    lines += ["", "Left out of the summary and the error bars (reported below): "
              + "; ".join(f"{m} ({why})" for m, why in NOT_IN_ERROR_BARS.items()) + "."]
    for mode, s in summary.items():
        for attn, terms in s["by_attn"].items():
            act = terms.get("activations")
            if act:
                lines.append(f"- {mode} with {attn}: activations mean {100 * act['mean']:.2f}%, "
                             f"max {100 * act['max']:.2f}% over {act['cases']} cases")
    lines += ["", "## Models", "", "| model | stands for |", "|---|---|"]
    lines += [f"| {m} | {why} |" for m, why in MODELS.items()]
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
    if gpu:
        lines += ["", "## GPU measurements (validation/gpu_results.csv)", "",
                  "| case | max allocated MiB | max reserved MiB | nvidia-smi MiB | estimate MiB |",
                  "|---|---|---|---|---|"]
        lines += [f"| {g['label']} | {_mib(int(g['max_allocated']))} | {_mib(int(g['max_reserved']))} | "
                  f"{g['nvidia_smi_mib']} | {_mib(int(g['estimate']))} |" for g in gpu]
    return "\n".join(lines) + "\n"


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m validation.run", description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true", help="the subset CI runs")
    p.add_argument("--only", help="models whose name contains this text")
    p.add_argument("--mode", choices=("infer", "train"))
    p.add_argument("--no-write", action="store_true", help="print, do not write the report files")
    p.add_argument("--quiet", action="store_true", help="no progress on the terminal (failures still)")
    args = p.parse_args(argv)
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
    summary = summarize(rows)
    if not args.no_write:
        (HERE / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
        (HERE / "REPORT.md").write_text(report(rows, summary, read_gpu(HERE / "gpu_results.csv")))
        plot(rows, HERE / "estimate_vs_measured.png")
        bars = {"source": "validation/REPORT.md", "modes": summary}
        ERROR_BARS.write_text(json.dumps(bars, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    for f in failed:
        print(f"tolerance exceeded: {f}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
