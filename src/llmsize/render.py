"""Text rendering of result trees as aligned plain-text tables. ``--json`` renders the same trees.

Tables are drawn here rather than with a rich-text library: importing one costs ~100 ms, four
times Python's own start-up, for a tool that should answer as fast as ``python -c pass``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .tree import Part
from .units import GiB, MiB, fmt_short

TYPE_CHECKING = False  # the reports are annotations only: each command imports what it renders
if TYPE_CHECKING:
    from .formats.stored import CrossCheck, WeightsReport
    from .hardware.fit import Verdict
    from .hardware.listing import GpuList
    from .inference.estimate import InferenceReport
    from .parameters import ParamReport
    from .perf.figures import Figure, Performance
    from .plan.limits import InferenceLimits
    from .seed import SeedMemory, SeedReport
    from .sources.catalog import CatalogEntry
    from .training.estimate import TrainReport


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]], *, right: set[int]) -> None:
    """Print ``rows`` under ``header``, columns padded; column indices in ``right`` align right."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in pairs).rstrip()

    out = [title, line(header), "  ".join("─" * w for w in widths), *(line(r) for r in rows)]
    sys.stdout.write("\n".join(out) + "\n")


def say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _tree_rows(root: Part, max_depth: int) -> list[tuple[str, str, str, str]]:
    rows = []
    for depth, p in root.walk():
        if depth > max_depth:
            continue
        each = f"{p.per_instance:,} ×{p.repeat}" if p.repeat > 1 else ""
        share = f"{100 * p.value / root.value:.1f}%" if root.value else ""
        rows.append(("  " * depth + p.name, f"{p.value:,}", share, each))
    return rows


def param_table(report: ParamReport, *, depth: int = 4) -> None:
    table(f"{report.arch.name}: parameters (exact)", ("part", "parameters", "share", "each"),
          _tree_rows(report.breakdown, depth), right={1, 2, 3})
    a = report.arch
    say(
        f"total {report.total:,} ({fmt_short(report.total)})  ·  trainable {report.trainable:,}  ·  "
        f"non-embedding {report.non_embedding:,}  ·  active per token {report.active_per_token:,}"
    )
    if a.mla:
        heads = f"MLA {a.n_heads} heads, latent {a.mla.kv_lora_rank}+{a.mla.qk_rope_head_dim}"
    elif not a.n_attention_layers and a.ssm:
        heads = f"SSM d_inner {a.ssm.d_inner}, state {a.ssm.d_state}"
    else:
        heads = f"{a.attention} {a.n_heads}q/{a.n_kv_heads}kv × head_dim {a.head_dim}"
    if a.is_hybrid and a.n_attention_layers:
        kinds = {t: a.layer_types.count(t) for t in dict.fromkeys(a.layer_types)}
        heads += " in " + " + ".join(f"{n} {t}" for t, n in kinds.items()) + " layers"
    say(
        f"{a.model_type}: {a.kind}, {a.n_layers} layers, d={a.d_model}, {heads}, "
        f"{'gated' if a.gated_mlp else 'plain'} MLP {a.d_ff}, V={a.vocab_size:,}, "
        f"{'tied' if a.tie_embeddings else 'untied'} head"
        + (f", MoE {a.moe.n_experts}×top-{a.moe.top_k}" if a.moe else "")
    )
    for note in a.notes:
        say(f"note: {note}")


def seed_table(report: SeedReport, title: str = "seed method (blog formulas)") -> None:
    rows = [(p.name, f"{p.value:,}") for p in report.breakdown.parts or (report.breakdown,)]
    table(title, ("term", "parameters"), [*rows, ("total", f"{report.total:,}")], right={1})
    say("  ·  ".join(f"{k.upper()} {v:,} B = {v / MiB:.1f} MiB" for k, v in report.bytes_by_dtype.items()))
    for note in report.notes:
        say(f"note: {note}")


def side_by_side(seed: SeedReport, exact: ParamReport) -> None:
    delta = exact.total - seed.total
    say(
        f"exact {exact.arch.model_type} count {exact.total:,} vs seed {seed.total:,}: "
        f"{delta:+,} ({100 * delta / seed.total:+.1f}%)"
    )


def catalog_table(rows: Sequence[tuple[CatalogEntry, ParamReport]]) -> None:
    body = [
        (e.name, e.hf_id, e.model_type, fmt_short(r.total),
         fmt_short(r.active_per_token) if r.active_per_token != r.total else "")
        for e, r in rows
    ]
    table(f"llmsize catalog ({len(rows)} models)", ("name", "hf id", "type", "total", "active/token"),
          body, right={3, 4})


def gpus_table(result: GpuList) -> None:
    """One row per GPU: nominal and usable memory, bandwidth, dense bf16/fp8 TFLOPS, scale-up, price."""
    def tf(value: float | None) -> str:
        return "" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:g}"

    body = []
    for g, p in result.rows:
        link = f"{g.scale_up_bytes_per_s / 1e9:g}×{g.scale_up_domain}" if g.scale_up_bytes_per_s else ""
        body.append((g.key, g.name, f"{g.memory_bytes / GiB:.0f}", f"{g.usable_bytes / GiB:.2f}",
                     f"{g.bandwidth_bytes_per_s / 1e12:.3g}", tf(g.peak_tflops("bf16")),
                     tf(g.dense_tflops.get("fp8")), link,
                     f"{p.usd_per_hour:.2f} ({p.date[:7]})" if p else ""))
    header = ("key", "name", "GiB", "usable GiB", "TB/s", "bf16 TF", "fp8 TF", "link GB/s×N", "$/h (as of)")
    table(f"llmsize gpus ({len(body)} accelerators; dense TFLOPS, links one way)", header, body,
          right={2, 3, 4, 5, 6})
    say("bf16 TF: dense tensor rate with fp32 accumulate (fp16 where a GPU has no bf16); "
        "usable GiB: what one process can allocate. Sources: llmsize gpus --json")


def _paths(root: Part, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], int]]:
    """(path below the root, value) of every node; the root's path is ()."""
    out = [(prefix, root.value)]
    for p in root.parts:
        out.extend(_paths(p, (*prefix, p.name)))
    return out


def tensors_table(report: WeightsReport) -> None:
    rows = [(t.name, t.dtype, "×".join(map(str, t.shape)) or "scalar", f"{t.nbytes:,}", f"{n:,}", kind)
            for t, kind, n in sorted(report.tensor_rows(), key=lambda row: row[0].name)]
    table("tensors", ("name", "dtype", "shape", "bytes", "parameters", "role"), rows, right={3, 4})


def per_layer_line(per_layer: tuple[int, ...]) -> str:
    if not per_layer:
        return "per layer: no numbered layers"
    lo, hi = min(per_layer), max(per_layer)
    spread = f"{lo:,} B each" if lo == hi else f"{lo:,} to {hi:,} B"
    return f"per layer: {spread} over {len(per_layer)} layers"


def inspect_table(report: WeightsReport, check: CrossCheck | None, arch_line: str | None) -> None:
    ck = report.checkpoint
    kind = f"{ck.format}, {ck.files} file{'s' if ck.files > 1 else ''}"
    kind += f", file type {ck.file_type}" if ck.file_type else ""
    say(f"{ck.path}: {kind}; {len(ck.tensors):,} tensors; header bytes read {ck.bytes_read:,}")
    say(f"quantization: {report.quantization.label}")
    say(f"logical parameters {report.logical_params:,} ({fmt_short(report.logical_params)})  ·  "
        f"stored {report.stored_bytes:,} B = {report.stored_bytes / GiB:.2f} GiB  ·  "
        f"decoding overhead {report.overhead_bytes:,} B  ·  {report.bits_per_weight:.2f} bits per weight")
    dtypes = [(d, f"{r['tensors']:,}", f"{r['elements']:,}", f"{r['bytes']:,}")
              for d, r in sorted(report.by_dtype().items())]
    table("by dtype", ("dtype", "tensors", "elements", "bytes"), dtypes, right={1, 2, 3})
    stored = dict(_paths(report.stored))
    rows = [("  " * (len(path) - 1) + path[-1], f"{value:,}", f"{stored.get(path[1:], 0):,}")
            for path, value in ((("all", *p), v) for p, v in _paths(report.params))]
    table("by module", ("module", "parameters", "stored bytes"), rows, right={1, 2})
    say(per_layer_line(report.per_layer_bytes))
    if arch_line:
        say(arch_line)
    if check:
        say(f"architecture count {check.architecture_params:,}; checkpoint − architecture = {check.delta:+,}")
        for reason, n in check.explained:
            say(f"  {n:+,}: {reason}")
        if check.explained or check.delta:
            say(f"  {check.unexplained:+,}: unexplained")
    for name in report.buffers[:3]:
        say(f"note: {name} is a buffer (no parameters)")


# --- inference ------------------------------------------------------------------------------

def _bytes_rows(root: Part, max_depth: int, sure: dict[str, str]) -> list[tuple[str, str, str, str]]:
    rows = []
    for depth, p in root.walk():
        if depth > max_depth:
            continue
        note = sure.get(p.name, "") if depth == 1 else ""
        rows.append(("  " * depth + p.name, f"{p.value:,}", f"{p.value / GiB:.2f}", note))
    return rows


def inference_table(report: InferenceReport, *, depth: int = 2, explain: bool = False) -> None:
    s = report.spec
    quant = s.quant or s.dtype
    where = f" · tp {s.layout.tp} × pp {s.layout.pp} = {report.gpus} GPUs, per GPU" if report.gpus > 1 else ""
    title = (f"{report.name}: inference memory · engine {s.engine} · ctx {s.context:,} × batch {s.batch}"
             f" · weights {quant}, KV {s.kv}, attn {s.attn}{where}")
    from .errorbars import footnote, text

    given = report.error_bars()
    sure = {k: text(v) for k, v in given.items()}
    table(title, ("part", "bytes", "GiB", "error bar"), _bytes_rows(report.tree, depth, sure), right={1, 2})
    if note := footnote(given):
        say(note)
    total = report.total_bytes
    every = f" per GPU; all {report.gpus} GPUs {total * report.gpus / GiB:.2f} GiB" if report.gpus > 1 else ""
    say(f"total {total:,} bytes = {total / GiB:.2f} GiB ({total / 1e9:.2f} GB){every}")
    vllm = report.extra.get("vllm")
    if isinstance(vllm, dict) and vllm["num_blocks"]:
        say(f"KV cache capacity: {vllm['kv_cache_tokens']:,} tokens; max concurrency "
            f"{vllm['max_concurrency']:.2f}× at max_model_len {vllm['max_model_len']:,} "
            f"(max_num_seqs {vllm['max_num_seqs']}, "
            f"max_num_batched_tokens {vllm['max_num_batched_tokens']:,})")
    cpp = report.extra.get("llamacpp")
    if isinstance(cpp, dict) and "max_n_gpu_layers" in cpp and s.gpu_mem is not None:
        say(f"largest -ngl that fits in {s.gpu_mem / GiB:.2f} GiB less llama.cpp's 1 GiB margin: "
            f"{cpp['max_n_gpu_layers']} (this plan: -ngl {cpp['n_gpu_layers']})")
    _closing(report.notes, report.verdict, report.performance, explain=explain,
             hint="--gpu NAME (llmsize gpus) for prefill and decode rates, TTFT, throughput and cost")


def limits_table(r: InferenceLimits) -> None:
    """The inversions' answers, each with the full estimate's figure that proves it."""
    s = r.spec
    where = f" · tp {s.layout.tp} × pp {s.layout.pp}" if s.layout.tp * s.layout.pp > 1 else ""
    t = s.target
    default = " (the default: give --gpu)" if t is not None and t.default else ""
    name = "" if t is None or t.gpu is None else f"{t.gpu.key}{default}, "
    say(f"{r.name} · engine {s.engine} · weights {s.quant or s.dtype}, KV {s.kv}{where} · "
        f"GPU {name}{r.budget_bytes / GiB:.2f} GiB ({r.budget_bytes / 1e9:.2f} GB)")
    if r.max_context is not None:
        cap = " (the model's maximum; memory allows more)" if r.capped else ""
        fits = f"{r.max_context:,} tokens{cap}" if r.max_context else "none: not even one token fits"
        say(f"max context at batch {s.batch}: {fits}")
    if r.max_batch is not None:
        say(f"max batch at context {s.context:,}: {r.max_batch:,} sequences")
    if r.max_concurrency is not None:
        say(f"max concurrency at max_model_len {s.context:,}: {r.max_concurrency:.2f}× "
            f"(KV cache capacity {r.kv_capacity_tokens or 0:,} tokens)")
    if r.at is not None:
        a = r.at
        say(f"at ctx {a.spec.context:,} × batch {a.spec.batch}: total {a.total_bytes:,} bytes = "
            f"{a.total_bytes / GiB:.2f} GiB, {(r.budget_bytes - a.total_bytes) / GiB:.2f} GiB free")


def seed_memory_table(seed: SeedMemory, report: InferenceReport | None) -> None:
    from .seed import BLOG_PRINTED

    rows = [(p.name, f"{p.value:,}", f"{p.value / MiB:,.1f}") for p in seed.breakdown.parts]
    rows.append(("total", f"{seed.total:,}", f"{seed.total / MiB:,.1f}"))
    table("seed: the blog's rule of thumb (parameters + activations + optimizer states + input data)",
          ("part", "bytes", "MiB"), rows, right={1, 2})
    if seed.breakdown.parts[0].value * 8 // seed.bits == BLOG_PRINTED["total"]:
        say("the blog rounds each part (234 + 200 + 468 + 50) and prints 952 MB")
    filled = [k for k in ("params", "activations", "input_data") if k not in seed.given]
    if filled:
        say(f"not given, so from llmsize's model: {', '.join(filled)}")
    if report is not None:
        gap = seed.total / report.total_bytes - 1 if report.total_bytes else 0.0
        say(f"llmsize's full inference estimate: {report.total_bytes / MiB:,.1f} MiB "
            f"(the rule of thumb is {100 * gap:+.1f}%: it adds Adam states, which inference does not hold, "
            "and leaves out the KV cache and overheads)")


def summary_table(name: str, params: ParamReport, context: int, rows: Sequence[dict[str, object]]) -> None:
    a = params.arch
    moe = params.active_per_token != params.total
    active = f", {fmt_short(params.active_per_token)} active per token" if moe else ""
    say(f"{name}: {params.total:,} parameters ({fmt_short(params.total)}{active}) · {a.n_layers} layers, "
        f"d={a.d_model}, {a.attention}, context {a.max_position:,}")
    def gib(key: str, r: dict[str, object]) -> str:
        value = r[key]
        assert isinstance(value, int), (key, value)
        return f"{value / GiB:.2f}"

    body = [(str(r["precision"]), gib("weights_bytes", r), gib("kv_cache_bytes", r), str(r["kv_dtype"]),
             gib("total_bytes", r)) for r in rows]
    table(f"memory to load it and hold one {context:,}-token sequence (GiB; exact bytes with --json)",
          ("precision", "weights", "KV cache", "KV dtype", "weights + KV"), body, right={1, 2, 4})
    say("activations, overheads, engines and GPUs: `llmsize infer SOURCE -c N` (see --help)")


# --- training -------------------------------------------------------------------------------

def train_table(report: TrainReport, *, depth: int = 2, explain: bool = False) -> None:
    """``llmsize train``: the bytes-per-parameter budget, the per-GPU tree at the peak moment,
    and each phase's own peak."""
    r = report
    s, par = r.spec, r.spec.layout
    lora = f", LoRA r={s.lora.rank} on {','.join(s.lora.targets)} ({s.lora.base} base)" if s.lora else ""
    where = f" · {par.gpus} GPUs, per GPU" if par.gpus > 1 else ""
    say(f"{r.name}: training memory · seq {s.seq:,} × micro-batch {s.micro_batch} "
        f"(× {s.grad_accum} accumulated)"
        f" · {s.recipe.value}, {s.optimizer.value} ({s.step_kernel.value}), recompute {s.recompute}, "
        f"attn {s.attn}{lora}{where}")
    budget = [(name, f"{b:g}", f"{n:,}", f"{b * n / GiB:,.2f}") for name, b, n in r.budget]
    total = sum(b * n for _, b, n in r.budget)
    budget.append(("total", "", "", f"{total / GiB:,.2f}"))
    table("model states: bytes per parameter (whole model, before any sharding)",
          ("line", "bytes", "parameters", "GiB"), budget, right={1, 2, 3})
    from .errorbars import footnote, text

    given = r.error_bars()
    sure = {k: text(v) for k, v in given.items()}
    table(f"per GPU at the peak: {r.peak_phase} ({r.peak_where})", ("part", "bytes", "GiB", "error bar"),
          _bytes_rows(r.tree, depth, sure), right={1, 2})
    if note := footnote(given):
        say(note)
    say(f"total {r.total_bytes:,} bytes = {r.total_bytes / GiB:.2f} GiB ({r.total_bytes / 1e9:.2f} GB)")
    phases = " · ".join(f"{k} {v / GiB:.2f} GiB" for k, v in r.phases.items())
    say(f"phase peaks (without overhead): {phases}")
    if r.host.value:
        say(f"offloaded to host memory per GPU process: {r.host.value / GiB:.2f} GiB")
    _closing(r.notes, r.verdict, r.performance, explain=explain,
             hint="--gpu NAME[:COUNT] (and --tokens D) for step time, MFU, time to train and cost")


def _closing(notes: tuple[str, ...], verdict: Verdict | None, performance: Performance | None, *,
             explain: bool, hint: str) -> None:
    """An estimate's last lines: its notes, the verdict, then its speed or how to get one."""
    for note in notes:
        say(f"note: {note}")
    if verdict is not None:
        say(verdict.line())
    if performance is not None:
        performance_block(performance, explain=explain)
    elif not any(n.startswith("no speed figures") for n in notes):
        say(f"speed: give {hint}")


# --- performance ----------------------------------------------------------------------------

FIGURE_LABELS = {  # figure -> what the table calls it; {batch}: the requests decoded together
    "prefill_tokens_per_s": "prefill, one prompt", "ttft_s": "time to first token",
    "decode_tokens_per_s": "decode, one sequence", "tpot_s": "time per output token at {batch}",
    "throughput_tokens_per_s": "output throughput at {batch}", "e2e_latency_s": "end-to-end latency",
    "requests_per_s": "requests/s (Little's law)", "usd_per_million_tokens": "cost per 1M output tokens",
    "replicas": "replicas for the target rate", "pp_tokens_per_s": "prompt processing",
    "tg_tokens_per_s": "token generation", "step_time_s": "step time",
    "tokens_per_s_per_gpu": "tokens/s per GPU",
    "mfu": "MFU", "hfu": "HFU (recompute counted)", "tflops_per_gpu": "achieved TFLOP/s per GPU",
    "time_s": "time to train on the tokens",
    "gpu_hours": "GPU-hours", "cost_usd": "cost",
}


def amount(value: float, unit: str) -> str:
    """A figure in its unit, rounded for reading: ``"162 tokens/s"``, ``"34.3 ms"``, ``"$0.14"``."""
    if unit == "s":
        for size, name, places in ((86400, "days", 1), (3600, "h", 1), (60, "min", 1), (1, "s", 2)):
            if value >= size * (2 if size > 1 else 1):
                return f"{value / size:,.{places}f} {name}"
        return f"{value * 1e3:,.1f} ms"
    if unit == "USD":
        return f"${value:,.0f}" if value >= 1000 else f"${value:,.2f}"
    if unit == "":
        return f"{value:.1%}"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.3g} {unit}"


def _band_cells(f: Figure) -> tuple[str, str]:
    """The band ("±18% on 7 published runs" or "not calibrated") and where the measured value lay."""
    if not f.band.runs:
        return "not calibrated", ""
    lo, hi = f.band.measured_range(f.value)
    return f.band.text(), f"{amount(min(lo, hi), f.unit)} – {amount(max(lo, hi), f.unit)}"


def performance_block(perf: Performance, *, explain: bool = False) -> None:
    """``PERFORMANCE``: each figure with its unit and band, what bound it, the price and factors
    (``explain``: every factor's source and the step time's terms)."""
    s = perf.setting
    batch = f"batch {s['batch']}" if "batch" in s else "the batch"
    if "input_len" in s:
        what = (f"{s['engine']}, {s['weight_format']} weights, requests of {s['input_len']:,} + "
                f"{s['output_len']:,} tokens, {s['batch']} at a time")
    else:
        tokens = f", {s['tokens']:.3g} tokens".replace("e+", "e") if s.get("tokens") else ""
        what = f"{s.get('engine', '')} factors{tokens}"
    gpu = s.get("gpu_name", s.get("gpu", ""))
    title = f"PERFORMANCE on {s.get('gpus', 1)}× {gpu} ({what}) · bound: {perf.bound}"
    rows = [(FIGURE_LABELS.get(name, name).format(batch=batch), amount(f.value, f.unit), *_band_cells(f))
            for name, f in perf.figures.items()]
    header = ("figure", "estimate", "band (held-out error)", "measured range")
    ranged = any(f.band.runs for f in perf.figures.values())  # else the last column is empty
    table(title, header[:4 if ranged else 3], [r[:4 if ranged else 3] for r in rows], right={1})
    price = s.get("price")
    if price:
        where = f"{price['provider']}, {price['date']}" + (f", {price['url']}" if price["url"] else "")
        say(f"price: ${price['usd_per_hour']:,.2f} per GPU-hour ({where}); --price GPU=USD replaces it")
    factors = " · ".join(f"{k} {v['value']:.3g}" for k, v in perf.factors.items())
    say(f"factors: {factors}" + ("" if explain else " (sources: --explain)"))
    if explain:
        for name, f in perf.factors.items():
            say(f"  {name}: {f['source']}")
        if perf.terms is not None:
            for depth, p in perf.terms.walk():
                say(f"  {'  ' * depth}{p.name}: {p.value / 1e6:,.3f} ms")
    for note in perf.notes:
        say(f"note: {note}")
