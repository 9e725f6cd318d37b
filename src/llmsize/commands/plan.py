"""``llmsize plan``: the flags → ``api.plan`` → one table per GPU type, or the plan's JSON."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..plan.report import PlanReport, TargetPlan
    from ..plan.serve import ServeRow
    from ..plan.train import TrainRow


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..options import ATTN, DTYPES, ENGINES, OPTIMIZERS, RECIPES, RECOMPUTE
    from ..options import arg_positive_int as _positive_int
    from ..options import arg_size as _size
    from . import add_speed_arguments

    p.add_argument("source", nargs="?",
                   help="catalog name or HF id, config.json, model directory or checkpoint")
    p.add_argument("--revision", help="Hub branch, tag or commit (for a Hub id)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    m = p.add_mutually_exclusive_group()
    for mode, hint in (("serve", "serve it (default)"),
                       ("train", "train it (full fine-tune or pre-training)"),
                       ("finetune", "fine-tune it: LoRA r 16 on all linear layers (bf16 base), or --qlora")):
        m.add_argument(f"--{mode}", dest="mode", action="store_const", const=mode, help=hint)
    g = p.add_argument_group("GPUs")
    g.add_argument("--gpu", metavar="NAMES", help="catalog GPUs, comma-separated, or all (the default; "
                   "see llmsize gpus)")
    g.add_argument("--gpu-mem", type=_size, metavar="SIZE",
                   help="memory one process can use on a GPU, e.g. 79.18GiB")
    g.add_argument("--max-gpus", type=_positive_int, metavar="N",
                   help="largest count to consider (default 64 to serve, 16384 to train)")
    g.add_argument("--host-mem", type=_size, metavar="SIZE",
                   help="host memory: per GPU for training offload; for llama.cpp's CPU layers")
    g.add_argument("--keep", type=_positive_int, default=5, metavar="N",
                   help="training layouts shown per GPU")
    s = p.add_argument_group("serve")
    s.add_argument("-c", "--ctx-size", type=_positive_int, metavar="N", help="context per sequence "
                   "(default: the model's; llamacpp 4096)")
    s.add_argument("-b", "--batch", type=_positive_int, default=1, metavar="N", help="sequences at once")
    s.add_argument("--engine", choices=ENGINES, default="vllm", help="engine profile (default vllm)")
    s.add_argument("--dtype", choices=DTYPES, default="bf16")
    s.add_argument("--quant", metavar="FORMAT", help="weight format: fp8, awq, nf4, Q4_K_M, …")
    s.add_argument("--kv-dtype", metavar="T", help="KV cache dtype: fp8, q8_0, …")
    s.add_argument("--gpu-util", type=float, default=0.9, metavar="F", help="vLLM gpu_memory_utilization")
    t = p.add_argument_group("train / finetune (layout flags given are pinned; the others are searched)")
    t.add_argument("--seq", type=_positive_int, metavar="N", help="tokens per sequence (default 4096)")
    t.add_argument("--micro-batch", type=_positive_int, default=1, metavar="N")
    t.add_argument("--grad-accum", type=_positive_int, default=1, metavar="N")
    from ..options import arg_natural

    p.add_argument("--images", type=arg_natural, default=0, metavar="N",
                   help="images per sequence (serve: Llama 3.2 Vision's image KV; train: 0, the default, is "
                        "a text-only step whose vision tower and cross-attention layers get no gradients)")
    t.add_argument("--recipe", choices=RECIPES, default="amp")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw")
    t.add_argument("--attn", choices=ATTN, default="flash")
    t.add_argument("--lora-rank", type=_positive_int, metavar="R")
    t.add_argument("--lora-targets", metavar="LIST")
    t.add_argument("--qlora", action="store_true", help="QLoRA: NF4 base, rank 64 on all linear layers")
    t.add_argument("--recompute", choices=RECOMPUTE)
    for flag in ("--tp", "--pp", "--cp", "--ep"):
        t.add_argument(flag, type=_positive_int, metavar="N")
    t.add_argument("--zero", type=int, choices=(0, 1, 2, 3))
    t.add_argument("--fsdp", choices=("none", "full", "shard-grad-op", "hybrid"))
    t.add_argument("--offload", choices=("none", "optimizer", "params"))
    add_speed_arguments(p, "plan")


def run(args: argparse.Namespace) -> int:
    from .. import api
    from . import api_options, emit

    opts = {k: v for k, v in api_options(args, api.PLAN_OPTIONS).items() if v is not False}
    return emit(args, api.plan(args.source, **opts), plan_table)


def plan_table(r: PlanReport) -> None:
    from ..plan.report import flags
    from ..render import say

    asked = flags(r.question)
    say(f"{r.name}: {r.mode} · {asked} · up to {r.max_gpus:,} GPUs of each type"
        + (f" · host {r.host_bytes / 2**30:.0f} GiB" if r.host_bytes else ""))
    for t in r.targets:
        say("")
        (_serve if r.mode == "serve" else _train)(t)
        for f in t.fixes:
            say(f"  would fit with {f.change}: {f.effect}")
    _front(r)
    for note in r.notes:
        say(f"note: {note}")


def _front(r: PlanReport) -> None:
    """The rows on the front over every GPU type, fastest first: the plan's choices."""
    from ..render import say, table

    front = r.front()
    if not front:
        return
    say("")
    if r.mode == "serve":
        rows = [(t.name, _where(row), *_serve_speed(row))  # type: ignore[arg-type]
                for t, row in front]
        table("front: no other layout is both faster and cheaper", ("GPU", "layout", "batch", "TPOT ms",
              "e2e s", "tok/s", "$/M tok"), rows, right={2, 3, 4, 5, 6})
    else:
        rows = [(t.name, _train_where(row), *_train_speed(row))  # type: ignore[arg-type]
                for t, row in front]
        table("front: no other layout trains both faster and cheaper", ("GPU", "layout", "tok/s/GPU", "MFU",
              "time", "cost"), rows, right={2, 3, 4, 5})


def _where(r: ServeRow) -> str:
    if r.n_gpu_layers is not None:
        return f"-ngl {r.n_gpu_layers}"
    return f"{r.gpus}× tp {r.layout.tp} × pp {r.layout.pp}"


def _serve_speed(r: ServeRow) -> tuple[str, ...]:
    """batch, TPOT, e2e latency, aggregate tokens/s, $/M tokens of a row ("—" where unknown)."""
    p = r.speed
    if p is None:
        return ("—",) * 5
    cost = f"{p['usd_per_million_tokens']:,.3f}" if "usd_per_million_tokens" in p.figures else "—"
    return (f"{r.batch:,}", f"{1e3 * p['tpot_s']:,.1f}", f"{p['e2e_latency_s']:,.2f}",
            f"{p['throughput_tokens_per_s']:,.0f}", cost)


def _train_where(r: TrainRow) -> str:
    lay = r.layout
    parts = [f"{r.gpus}×", f"dp {lay.dp}", f"tp {lay.tp}", f"pp {lay.pp}"]
    parts += [f"cp {lay.cp}"] if lay.cp > 1 else []
    parts += [f"ep {lay.ep}"] if lay.ep > 1 else []
    return " ".join(parts) + (f" {r.recompute}" if r.recompute != "none" else "")


def _train_speed(r: TrainRow) -> tuple[str, ...]:
    """tokens/s per GPU, MFU, time and cost of the run (with --tokens) of a row."""
    p = r.speed
    if p is None:
        return ("—",) * 4
    time = _duration(p["time_s"]) if "time_s" in p.figures else "—"
    cost = f"${p['cost_usd']:,.0f}" if "cost_usd" in p.figures else "—"
    return (f"{p['tokens_per_s_per_gpu']:,.0f}", f"{100 * p['mfu']:.0f}%", time, cost)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:,.1f} {unit}"
    return f"{seconds:.1f} s"


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f}"


def _head(t: TargetPlan) -> str:
    gpu = f"{t.target.name} ({t.target.usable_bytes / 2**30:.2f} GiB usable)"
    if t.gpus is None:
        return f"{gpu}: does not fit"
    return f"{gpu}: fewest GPUs {t.gpus}"


def _serve(t: TargetPlan) -> None:
    from ..plan.serve import ServeRow
    from ..render import say

    if not t.rows:
        return say(_head(t))
    rows = []
    for r in t.rows:
        assert isinstance(r, ServeRow)
        where = f"tp {r.layout.tp} × pp {r.layout.pp}" if r.n_gpu_layers is None else f"-ngl {r.n_gpu_layers}"
        conc = f"{r.max_concurrency:.2f}×" if r.max_concurrency is not None else "—"
        rows.append(("*" if r.front else "", where, _gib(r.total_bytes), _gib(r.headroom_bytes),
                     f"{r.max_context:,}", f"{r.max_batch:,}", conc,
                     _gib(r.host_bytes) if r.host_bytes else "—", *_serve_speed(r)))
    _rows(t, ("front", "layout", "GiB/GPU", "free", "max context", "max batch", "concurrency", "host GiB",
              "batch", "TPOT ms", "e2e s", "tok/s", "$/M tok"), rows, right=set(range(2, 13)))


def _train(t: TargetPlan) -> None:
    from ..plan.train import TrainRow
    from ..render import say

    if not t.rows:
        return say(_head(t))
    rows = []
    for r in t.rows:
        assert isinstance(r, TrainRow)
        lay = r.layout
        parts = [f"dp {lay.dp}", f"tp {lay.tp}{'+sp' if lay.sp else ''}", f"pp {lay.pp}"]
        parts += [f"vpp {lay.vpp}"] if lay.vpp > 1 else []
        parts += [f"cp {lay.cp}"] if lay.cp > 1 else []
        parts += [f"ep {lay.ep}"] if lay.ep > 1 else []
        shard = f"zero {lay.zero.value}" if lay.fsdp.value == "none" else f"fsdp {lay.fsdp.value}"
        off = f" +offload {lay.offload.value}" if lay.offload.value != "none" else ""
        rows.append(("*" if r.front else "", " ".join(parts), shard + off, r.recompute, _gib(r.total_bytes),
                     _gib(r.headroom_bytes), str(r.max_micro_batch) if r.max_micro_batch else "—",
                     *_train_speed(r)))
    _rows(t, ("front", "layout", "sharding", "recompute", "GiB/GPU", "free", "max micro-batch", "tok/s/GPU",
              "MFU", "time", "cost"), rows, right=set(range(4, 11)))


def _rows(t: TargetPlan, columns: Sequence[str], rows: Sequence[Sequence[str]], *, right: set[int]) -> None:
    """One GPU type's table, then the command that reproduces each row."""
    from ..render import say, table

    table(_head(t), columns, rows, right=right)
    for c in t.commands:
        say(f"  $ {c}")
