"""``plan``: per GPU type, the fewest GPUs and the layouts that fit to serve, train or fine-tune."""

from __future__ import annotations

from dataclasses import replace

from .. import options as o
from .engine import weight_format
from .infer_cmd import inference_spec
from .source import model_name, opened
from .tables import ENGINE_FLAGS, FINETUNE_LORA_RANK, INFER_OPTIONS, LLAMACPP_DEFAULT_CTX, MAX_GPUS
from .train_cmd import train_spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..arch import Architecture
    from ..plan.report import PlanReport
    from ..sources.resolve import Resolved
    from .source import Source


def plan_report(source: Source | None, opts: dict[str, Any]) -> PlanReport:
    """``llmsize.api.plan`` once its options are checked."""
    from ..plan.targets import memory_target, targets_for

    found, arch = opened(source, "plan", opts["revision"])
    targets = targets_for(opts["gpu"] or "all") if opts["gpu_mem"] is None or opts["gpu"] else []
    if opts["gpu_mem"] is not None:
        targets.append(memory_target(opts["gpu_mem"]))
    max_gpus = opts["max_gpus"] or MAX_GPUS[opts["mode"]]
    if opts["mode"] == "serve":
        report = _plan_serve(found, arch, opts, targets, max_gpus, model_name(source, found))
    else:
        report = _plan_train(found, arch, opts, targets, max_gpus, model_name(source, found))
    return replace(report, warnings=found.warnings)


def _plan_serve(found: Resolved, arch: Architecture, opts: dict[str, Any], targets: list[Any],
                max_gpus: int, source: str) -> PlanReport:
    from ..formats.dtypes import parse_format
    from ..plan.serve import ServeSearch, serve_plan
    from ..plan.speed import SERVE_RANKS, ServeSpeeds, plan_prices, workload

    default = LLAMACPP_DEFAULT_CTX if opts["engine"] == "llamacpp" else arch.max_position
    context = opts["ctx_size"] or default
    engine_flags = {k: INFER_OPTIONS[k][0] for k in ENGINE_FLAGS}  # plan takes them at their defaults
    spec = inference_spec({**engine_flags, **opts, "gpu": None, "gpu_mem": None, "new_tokens": 0,
                           "logits": "last", "chunk": None, "attn": "sdpa", "tp": 1, "pp": 1, "overhead": (),
                           "max_num_seqs": None, "max_num_batched_tokens": None, "n_gpu_layers": None},
                          context)
    spec = replace(spec, target=None, gpu_mem=None)  # each GPU type of the plan is its own target
    from ..inference.estimate import check_images

    check_images(arch, spec)
    question = {"-c": context, "-b": opts["batch"] if opts["batch"] > 1 else None, "--engine": opts["engine"],
                "--dtype": opts["dtype"] if opts["dtype"] != "bf16" else None, "--quant": opts["quant"],
                "--kv-dtype": opts["kv_dtype"],
                "--gpu-util": opts["gpu_util"] if opts["gpu_util"] != 0.9 else None,
                "--images": opts["images"] or None}
    question |= {"--input-len": opts["input_len"], "--output-len": opts["output_len"],
                 "--concurrency": opts["concurrency"]}
    search = ServeSearch(arch, spec, found.checkpoint, found.config)
    prices = plan_prices(opts["price"], targets)
    speeds = ServeSpeeds(arch, spec, parse_format(weight_format(spec, found)), workload(
        spec, input_len=opts["input_len"], output_len=opts["output_len"], concurrency=opts["concurrency"],
        mfu=opts["mfu"], rank=_rank(opts, SERVE_RANKS)), prices)
    report = serve_plan(search, targets, source=source, question=_given(question), max_gpus=max_gpus,
                        host_bytes=opts["host_mem"], speeds=speeds)
    return replace(report, prices=prices)


def _rank(opts: dict[str, Any], allowed: tuple[str, ...]) -> str | None:
    if opts["rank"] is not None and opts["rank"] not in allowed:
        raise o.OptionError("rank", f"{opts['rank']} does not order a {opts['mode']} plan; one of "
                            f"{', '.join(allowed)}", mentions=("mode",))
    return opts["rank"]


# the train options a plan searches over, at the values its TrainSpec starts from
_UNPINNED: dict[str, object] = {
    "optim_dtype": None, "optim_impl": "fused", "recompute": "none", "zero": 0, "fsdp": "none",
    "offload": "none", "overhead": (), **{k: 1 for k in ("dp", "tp", "pp", "vpp", "ep", "cp")}, "sp": False}


def _plan_train(found: Resolved, arch: Architecture, opts: dict[str, Any], targets: list[Any],
                max_gpus: int, source: str) -> PlanReport:
    from ..plan.speed import TRAIN_RANKS, TrainSpeeds, plan_prices
    from ..plan.train import TrainSearch, train_plan

    lora = dict(lora_rank=opts["lora_rank"], lora_targets=opts["lora_targets"], qlora=opts["qlora"])
    if opts["mode"] == "finetune" and not (opts["lora_rank"] or opts["qlora"]):
        lora = dict(lora_rank=FINETUNE_LORA_RANK, lora_targets=opts["lora_targets"] or "all-linear",
                    qlora=False)
    spec = train_spec({**opts, **lora, **_UNPINNED}, found.config, arch.max_position)
    pins = {k: opts[k] for k in ("tp", "pp", "cp", "ep", "zero", "fsdp", "offload", "recompute")
            if opts[k] is not None}
    question = {"--seq": spec.seq, "--micro-batch": opts["micro_batch"] if opts["micro_batch"] > 1 else None,
                "--grad-accum": opts["grad_accum"] if opts["grad_accum"] > 1 else None,
                "--recipe": opts["recipe"] if opts["recipe"] != "amp" else None,
                "--optimizer": opts["optimizer"] if opts["optimizer"] != "adamw" else None,
                "--lora-rank": lora["lora_rank"], "--lora-targets": lora["lora_targets"],
                "--qlora": lora["qlora"], "--images": opts["images"] or None}
    question["--tokens"] = f"{opts['tokens']:g}" if opts["tokens"] else None
    search = TrainSearch(arch, spec, offload=opts["host_mem"] is not None, pins=pins)
    alternatives = _train_alternatives(opts, found, arch, lora)
    prices = plan_prices(opts["price"], targets)
    rank = _rank(opts, TRAIN_RANKS) or "time"
    speeds = TrainSpeeds(arch, spec, opts["tokens"], opts["mfu"], prices, rank)
    report = train_plan(search, targets, source=source, mode=opts["mode"], question=_given(question),
                        max_gpus=max_gpus, host_bytes=opts["host_mem"], keep=opts["keep"],
                        alternatives=alternatives, speeds=speeds)
    return replace(report, prices=prices)


def _given(flags: dict[str, object]) -> dict[str, object]:
    """The flags of a reproducing command that are set (False and None left out)."""
    return {k: v for k, v in flags.items() if v is not None and v is not False}


def _train_alternatives(opts: dict[str, Any], found: Resolved, arch: Architecture,
                        lora: dict[str, Any]) -> dict[str, Any]:
    """The specs tried as single changes when nothing fits: a LoRA fine-tune instead of full
    training, QLoRA instead of LoRA, an 8-bit optimizer."""
    base = {**opts, **_UNPINNED}
    out = {}
    if not lora["lora_rank"] and not lora["qlora"]:
        out[f"--finetune (LoRA r {FINETUNE_LORA_RANK}, all-linear)"] = {
            **base, "lora_rank": FINETUNE_LORA_RANK, "lora_targets": "all-linear", "qlora": False}
    if not lora["qlora"]:
        out["--qlora"] = {**base, "lora_rank": None, "lora_targets": None, "qlora": True}
    if opts["optimizer"] == "adamw" and not lora["lora_rank"]:
        out["--optimizer adam-8bit"] = {**base, **lora, "optimizer": "adam-8bit"}
    return {k: train_spec(v, found.config, arch.max_position) for k, v in out.items()}
