"""What the charts show, from the API's own results: ``llmsize plot`` and the web page draw these.

A chart is a question asked of the API several times, never a formula of its own::

    breakdown   one estimate's terms as a stacked bar, each with its error bar
    context     the estimate at contexts 2⁹ … the model's maximum (and the one asked for)
    batch       the estimate at batches 1, 2, 4 … 256 (and the one asked for)
    gpus        the estimate on each GPU of the catalog (llmsize.hardware), against its usable memory
    throughput  output tokens/s (all requests) and TPOT against batch, up to what the KV cache
                holds, with the roofline knee: the API's speed (``infer`` with ``gpu``) asked
                once, and ``perf.setting.serving_curve`` over the batches

A task is what the page calls the API question: ``serve`` is ``infer``; ``finetune`` and
``train`` are ``train`` (fine-tuning is training with LoRA adapters: ``lora_rank`` or ``qlora``).
The GPU a chart draws as a limit is the one the API's fit verdict judged the estimate against
(``gpu``, ``gpu_mem``, or the catalog's default GPU).
"""

from __future__ import annotations

from dataclasses import replace

from . import api
from .errorbars import relative
from .errors import LlmsizeError
from .svg import Bar, Figure, Limit, Line, Mark, Row, Series
from .units import GiB

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


TASKS = ("serve", "finetune", "train")
KINDS = ("breakdown", "context", "batch", "gpus", "throughput")
CONTEXT_FROM = 512  # the context axis starts here (2⁹ tokens), doubling up to the model's maximum
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
AXES = {  # (task's API option for the x axis, its label) per kind and family of task
    ("context", "infer"): ("ctx_size", "context (tokens per sequence)"),
    ("context", "train"): ("seq", "sequence length (tokens)"),
    ("batch", "infer"): ("batch", "batch (sequences)"),
    ("batch", "train"): ("micro_batch", "micro-batch (sequences per GPU)"),
}


def command(task: str) -> str:
    """The CLI command (and API function) behind a task."""
    from .options import choice

    return "infer" if choice("task", task, TASKS) == "serve" else "train"


def estimate(task: str, source: api.Source, options: Mapping[str, Any]) -> Any:
    """The API's answer to a task: an InferenceReport or a TrainReport (checked like the API's)."""
    if command(task) == "infer":
        report = api.infer(source, **options)
        if not hasattr(report, "tree"):
            raise LlmsizeError("charts need the full estimate: leave method at 'estimate'")
        return report
    if task == "finetune" and not (options.get("lora_rank") or options.get("qlora")):
        raise LlmsizeError("finetune: give lora_rank or qlora (fine-tuning trains LoRA adapters); "
                           "the task 'train' trains every weight")
    return api.train(source, **options)


def opened(source: api.Source, revision: str | None = None) -> api.Source:
    """SOURCE opened once (so that a sweep does not read it again), named as given."""
    if not isinstance(source, str):
        return source
    from .sources.resolve import open_source

    return replace(open_source(source, revision=revision), name=source)


def gpu_limits(options: Mapping[str, Any], report: Any = None) -> tuple[Limit, ...]:
    """The GPU memory a chart draws a line for: the GPU the report's verdict judged it against
    (``gpu``, with the GPU catalog), else ``gpu_mem`` when given."""
    judged = report.to_dict().get("verdict") if report is not None else None
    if isinstance(judged, dict):
        return (Limit(f"budget {judged['budget_bytes'] / GiB:,.1f} GiB", int(judged["budget_bytes"])),)
    mem = options.get("gpu_mem")
    if mem is None:
        return ()
    from .options import size

    value = size("gpu_mem", mem)
    return (Limit(f"GPU {value / GiB:,.0f} GiB", value),)


def figure(kind: str, task: str, source: api.Source, options: Mapping[str, Any]) -> Figure:
    """The chart ``kind`` of a task; an error (one line) for a kind whose data does not exist."""
    from .options import choice

    choice("kind", kind, KINDS)
    source = opened(source, options.get("revision"))
    if kind == "throughput":
        return throughput(task, source, options)
    if kind == "breakdown":
        report = estimate(task, source, options)
        return breakdown(report, gpu_limits(options, report))
    if kind == "gpus":
        return on_gpus(fits(task, source, options))
    return sweep(kind, task, source, options)


def fits(task: str, source: api.Source, options: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    """(GPU, the estimate on it, or the one-line error when it is refused) for every catalog GPU,
    as many of each as ``gpu``'s COUNT asks (one when not given)."""
    from .hardware import gpus

    count = str(options.get("gpu") or "").rpartition(":")[2]
    suffix = f":{count}" if count.isdigit() else ""
    rest = {k: v for k, v in options.items() if k not in ("gpu", "gpu_mem")}
    out = []
    for g in gpus():
        try:
            out.append((g, estimate(task, source, {**rest, "gpu": g.key + suffix})))
        except LlmsizeError as e:
            out.append((g, str(e)))
    return out


def on_gpus(reports: list[tuple[Any, Any]]) -> Figure:
    """One stacked bar per GPU (its estimate) with that GPU's usable memory as its line."""
    rows = tuple(Row(g.name, bars(r), gpu_limits({}, r)[0]) for g, r in reports if not isinstance(r, str))
    refused = [g.key for g, r in reports if isinstance(r, str)]
    name = next((str(r.name) for _, r in reports if not isinstance(r, str)), "")
    notes = (f"refused on {', '.join(refused)}",) if refused else ()
    return Figure("gpus", f"{name}: memory per GPU on each GPU of the catalog", rows=rows, notes=notes)


def fit_table(reports: list[tuple[Any, Any]]) -> list[dict[str, object]]:
    """The page's table: each GPU, what the estimate needs there, its usable memory, the verdict."""
    rows: list[dict[str, object]] = []
    for g, r in reports:
        if isinstance(r, str):
            rows.append({"gpu": g.key, "name": g.name, "fits": False, "text": r})
            continue
        v = r.to_dict()["verdict"]
        rows.append({"gpu": g.key, "name": g.name, "fits": v["fits"], "need_bytes": v["need_bytes"],
                     "budget_bytes": v["budget_bytes"],
                     "text": f"{'fits' if v['fits'] else 'does not fit'}: {v['need_bytes'] / GiB:,.2f} of "
                             f"{v['budget_bytes'] / GiB:,.2f} GiB"})
    return rows


def bars(report: Any) -> tuple[Bar, ...]:
    """The report's top-level terms, each with its error bar as a fraction."""
    errors = report.error_bars()
    return tuple(Bar(p.name, p.value, relative(errors[p.name]) if p.name in errors else None)
                 for p in report.tree.parts)


def breakdown(report: Any, limits: tuple[Limit, ...] = ()) -> Figure:
    gpus = report.to_dict()["gpus"]
    per = f" per GPU (of {gpus})" if gpus > 1 else ""
    row = Row(str(report.name), bars(report))
    return Figure("breakdown", f"{report.name}: memory{per}, {row.total / GiB:,.2f} GiB", rows=(row,),
                  limits=limits)


def axis(kind: str, task: str, source: api.Source, options: Mapping[str, Any]) -> tuple[int, ...]:
    """The x values: doubling from 512 tokens to the model's context (or batches 1 … 256), with
    the value asked for."""
    option, _ = AXES[kind, command(task)]
    asked = options.get(option)
    if kind == "batch":
        xs = set(BATCHES)
    else:
        top = _max_position(source)
        xs = {c for c in (CONTEXT_FROM << i for i in range(32)) if c <= top} | {top}
    if isinstance(asked, int) and not isinstance(asked, bool) and asked > 0:
        xs.add(asked)
    return tuple(sorted(xs))


def _max_position(source: api.Source) -> int:
    from .sources.resolve import Resolved

    return source.arch.max_position if isinstance(source, Resolved) and source.arch else 131072


def sweep(kind: str, task: str, source: api.Source, options: Mapping[str, Any]) -> Figure:
    """The estimate's terms at each x; a point the estimate refuses (vLLM does not start) is None.
    With a GPU to compare with, the axis stops after the first point over twice its memory."""
    option, label = AXES[kind, command(task)]
    xs = axis(kind, task, source, options)
    limits = gpu_limits(options, _first(task, source, options))
    ceiling = 2 * max(lim.value for lim in limits) if limits else None
    columns: list[dict[str, int] | None] = []
    name = ""
    for i, x in enumerate(xs):
        last = columns[-1] if columns else None
        if ceiling and last and sum(last.values()) > ceiling and i >= 4:
            xs = xs[:i]
            break
        try:
            report = estimate(task, source, {**options, option: x})
        except LlmsizeError:
            if x == xs[0]:
                estimate(task, source, options)  # a bad option: its own error, not an empty chart
            columns.append(None)
            continue
        name = str(report.name)
        columns.append({p.name: p.value for p in report.tree.parts})
    if not any(columns):
        raise LlmsizeError(f"{kind}: no point of the chart could be estimated")
    terms = list(dict.fromkeys(t for c in columns if c for t in c))
    series = tuple(Series(t, tuple(None if c is None else c.get(t, 0) for c in columns)) for t in terms)
    refused = [x for x, c in zip(xs, columns, strict=True) if c is None]
    notes = (f"not estimated at {label.split(' (')[0]} {', '.join(map(str, refused))}",) if refused else ()
    return Figure(kind, f"{name}: memory per GPU against {label.split(' (')[0]}", label, xs, series,
                  limits=limits, notes=notes)


def _first(task: str, source: api.Source, options: Mapping[str, Any]) -> Any:
    """The estimate as asked (its verdict names the GPU), or None when it is refused."""
    try:
        return estimate(task, source, options)
    except LlmsizeError:
        return None


def verdict(report: Any, limits: tuple[Limit, ...]) -> dict[str, object]:
    """One line: does the estimate fit the GPU's memory, and by how much. The report's own verdict
    (the GPU catalog's, ``llmsize.hardware``) when it has one, else against ``limits``."""
    judged = report.to_dict().get("verdict")
    if isinstance(judged, dict):
        what = "fits" if judged["fits"] else "does not fit"
        return {"fits": judged["fits"], "total_bytes": int(report.total_bytes),
                "limit_bytes": judged["budget_bytes"],
                "text": f"{what} on {judged['count']}× {judged['gpu_name']}: needs "
                        f"{judged['need_bytes'] / GiB:,.2f} GiB of {judged['budget_bytes'] / GiB:,.2f} GiB "
                        f"per GPU; {judged['reason']}"}
    total = int(report.total_bytes)
    gpus = report.to_dict()["gpus"]
    per = f" per GPU on {gpus} GPUs" if gpus > 1 else ""
    if not limits:
        return {"fits": None, "text": f"needs {total / GiB:,.2f} GiB{per}; give a GPU's memory for a verdict",
                "total_bytes": total}
    lim = limits[0]
    spare = lim.value - total
    if spare >= 0:
        text = (f"fits: {total / GiB:,.2f} GiB{per} of {lim.value / GiB:,.2f} GiB, "
                f"{spare / GiB:,.2f} GiB spare")
    else:
        text = f"does not fit: {total / GiB:,.2f} GiB{per} is {-spare / GiB:,.2f} GiB over {lim.label}"
    vllm = report.to_dict().get("vllm")
    if isinstance(vllm, dict):
        text += (f"; vLLM holds {vllm['kv_cache_tokens']:,} KV tokens, "
                 f"{vllm['max_concurrency']:.2f}× concurrency")
    return {"fits": spare >= 0, "text": text, "total_bytes": total, "limit_bytes": lim.value}


THROUGHPUT_ENGINES = ("vllm", "hf")  # llama.cpp runs one sequence at a time (llama-bench)


def throughput(task: str, source: api.Source, options: Mapping[str, Any]) -> Figure:
    """Aggregate output tokens/s and TPOT at batch 1, 2, 4, … up to the requests the KV cache
    holds (vLLM: its pool at input + output tokens a request; hf: the largest batch that fits the
    GPU at the context), the roofline knee marked, the held-out band shaded."""
    from .perf.setting import serving_curve

    if command(task) != "infer":
        raise LlmsizeError("throughput: a serving chart; give task serve")
    if not options.get("gpu"):
        raise LlmsizeError("throughput: give gpu (a catalog GPU: its bandwidth and FLOP/s set the speed)")
    engine = options.get("engine", api.INFER_OPTIONS["engine"][0])
    if engine not in THROUGHPUT_ENGINES:
        raise LlmsizeError(f"throughput: engine {engine} serves one sequence at a time; give vllm or hf")
    report = estimate(task, source, {**options, "concurrency": lim_batch()} if engine == "vllm" else options)
    perf = report.performance
    if perf is None:
        raise LlmsizeError(f"throughput: no speed on {options['gpu']}: " + "; ".join(report.notes[-1:]))
    s = perf.setting
    capacity = s["batch"] if engine == "vllm" else _hf_capacity(source, options)
    if capacity < 1:
        raise LlmsizeError(f"throughput: not even one request fits on {options['gpu']}")
    points, knee = serving_curve(_arch(source), report.spec, report.extra, _gpu(options["gpu"]),
                                 weight_format=s["weight_format"], input_len=s["input_len"],
                                 output_len=s["output_len"], max_batch=capacity, mfu=options.get("mfu"))
    return throughput_figure(report, perf, points, knee, capacity)


def _arch(source: api.Source) -> Any:
    from .sources.resolve import Resolved, from_config

    if isinstance(source, dict):
        source = from_config(source, str(source.get("_name_or_path") or "config.json"))
    if not isinstance(source, Resolved) or source.arch is None:
        raise LlmsizeError("throughput: the source has no architecture to time")
    return source.arch


def lim_batch() -> int:
    """The most requests a speed is asked at: the API caps it at what memory holds (vLLM)."""
    from .limits import MAX_BATCH

    return MAX_BATCH


def _gpu(spec: str) -> Any:
    from .hardware import parse_gpu_spec

    return parse_gpu_spec(spec)[0]


def _hf_capacity(source: api.Source, options: Mapping[str, Any]) -> int:
    """The largest batch whose estimate fits the GPU at the asked context (``infer`` max_batch)."""
    speed = ("input_len", "output_len", "concurrency", "price", "mfu")
    limits = api.infer(source, **{k: v for k, v in options.items() if k not in speed}, max_batch=True)
    return int(getattr(limits, "max_batch", 0) or 0)


def throughput_figure(report: Any, perf: Any, points: list[dict[str, Any]], knee: float, capacity: int
                      ) -> Figure:
    """The chart of ``serving_curve``'s points: tokens/s on the left axis with its band, TPOT in
    milliseconds on the right, the knee as a marker; the caption states the band and the setting."""
    s = perf.setting
    xs = tuple(int(p["batch"]) for p in points)
    rate = tuple(float(p["throughput_tokens_per_s"]) for p in points)
    band = perf.figures["throughput_tokens_per_s"].band
    low = high = ()
    if band.runs:
        ranges = [band.measured_range(v) for v in rate]
        low, high = tuple(min(r) for r in ranges), tuple(max(r) for r in ranges)
    lines = (Line("output tokens/s, all requests", "tokens/s", rate, low, high, "left"),
             Line("TPOT", "ms", tuple(1e3 * float(p["tpot_s"]) for p in points), axis="right"))
    gpus = f"{s['gpus']}× " if s["gpus"] > 1 else ""
    title = f"{report.name}: throughput on {gpus}{s['gpu']} ({s['engine']}, {s['weight_format']})"
    caption = (f"{s['input_len']:,} + {s['output_len']:,} tokens a request, up to {capacity:,} at once "
               f"(what the KV cache holds); band: {band.text()}" + (", shaded" if band.runs else ""))
    return Figure("throughput", title, "batch (requests decoded together)", xs, lines=lines,
                  marks=(Mark(f"roofline knee ≈ {knee:,.0f}", knee),), notes=(caption,))
