"""``train``: memory to train or fine-tune a SOURCE, per GPU, at the peak of one step."""

from __future__ import annotations

from dataclasses import replace

from .. import options as o
from ..errors import shown
from .source import context_warning, image_warning, model_name, opened
from .speed import gpu_for_speed, training_speed
from .tables import LORA_RANK, QLORA_RANK, STATE_BITS
from .target import count_agrees, gpu_target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ..sources.resolve import Resolved
    from ..training.estimate import TrainReport
    from .source import Source


def train_report(source: Source | None, opts: dict[str, Any], options: Mapping[str, Any]) -> TrainReport:
    """``llmsize.api.train`` once its options are checked (``options``: the keywords as given)."""
    from ..training.estimate import estimate_training

    speed_gpu = gpu_for_speed("train", opts)
    found, arch = opened(source, "train", opts["revision"])
    opts.update(count_agrees(opts, {k: opts[k] for k in ("dp", "tp", "pp", "cp")}, options))
    spec, quant_warnings = _quantized_base(train_spec(opts, found.config, arch.max_position), found)
    report = estimate_training(arch, spec, name=model_name(source, found))
    warnings = (*found.warnings, *quant_warnings, *context_warning(arch, spec.seq, "seq"),
                *_inert(spec.layout, opts), *image_warning(spec.images, "the activations over the image "
                                                           "tokens (towers, cross-attention layers)"))
    verdict = _train_verdict(report, gpu_target(opts, spec.layout.gpus))
    report = replace(report, warnings=warnings, verdict=verdict)
    return report if speed_gpu is None else training_speed(report, arch, opts, speed_gpu)


def _quantized_base(spec: Any, found: Resolved) -> tuple[Any, tuple[str, ...]]:
    """A quantized config is the frozen base of LoRA/QLoRA as stored (a GPTQ or bnb-4bit
    checkpoint is fine-tuned without dequantizing it); full training needs it unquantized."""
    from ..formats.stored import stored_format

    config = stored_format(found.config)
    if config.name is None:
        return spec, config.warnings
    if spec.lora is None:
        return spec, (*config.warnings, f"the config is quantized ({config.method}); full training "
                      "updates every weight, sized unquantized at the recipe's precision")
    return replace(spec, lora=replace(spec.lora, base=config.name)), config.warnings


def _train_verdict(report: TrainReport, target: Any) -> Any:
    from ..hardware.fit import judge
    from ..training.estimate import BREAKDOWN

    s = report.spec
    labels = {"weights": "weights", "gradients": "gradients", "optimizer_states": "optimizer states",
              "activations": f"activations at seq {s.seq:,} × micro-batch {s.micro_batch}",
              "comm_buffers": "communication buffers", "overhead": "overhead (CUDA context, allocator, …)"}
    parts = [(labels[k], report.part(k)) for k in BREAKDOWN]
    hint = "try --recompute full, --zero 3 with --dp, LoRA (--lora-rank), or more GPUs"
    return judge(parts, target, host_need=report.host.value or None, hint=hint)


def _inert(layout: Any, opts: dict[str, Any]) -> tuple[str, ...]:
    """Layout options that change nothing as given (a demanding user wants to be told); sp without
    tp and vpp without pp are errors already (``Layout.check``)."""
    out = []
    if layout.shard_level and layout.shard_group == 1:
        what = f"zero {layout.zero.value}" if layout.zero.value else f"fsdp {layout.fsdp.value}"
        out.append(f"{what} shards over one data-parallel rank: it saves nothing (give dp N or gpu NAME:N)")
    if opts["host_mem"] is not None and layout.offload.value == "none":
        out.append("host_mem is inert without offload: nothing of the step lives in host memory")
    return tuple(out)


def train_spec(opts: dict[str, Any], config: dict[str, object] | None, max_position: int) -> Any:
    from ..layout import Layout
    from ..training.activations import Dropout, dropout_from_config
    from ..training.estimate import TrainSpec

    layout = Layout(dp=opts["dp"], tp=opts["tp"], sp=opts["sp"], pp=opts["pp"], vpp=opts["vpp"],
                    ep=opts["ep"],
                    cp=opts["cp"], zero=opts["zero"], fsdp=opts["fsdp"], offload=opts["offload"])
    return TrainSpec(
        seq=opts["seq"] or min(o.DEFAULT_SEQ, max_position), micro_batch=opts["micro_batch"],
        grad_accum=opts["grad_accum"], recipe=opts["recipe"], optimizer=opts["optimizer"],
        optim_bits=STATE_BITS[opts["optim_dtype"]] if opts["optim_dtype"] else None,
        step_kernel=opts["optim_impl"], recompute=opts["recompute"], attn=opts["attn"], lora=_lora(opts),
        layout=layout, dropout=dropout_from_config(config) if config else Dropout(),
        overrides=opts["overhead"], loop=opts.get("loop", "trainer"), images=opts.get("images", 0),
    )


def _lora(opts: dict[str, Any]) -> Any:
    from ..training.lora import LoraSpec, parse_targets

    _lora_options_need_lora(opts)
    if not (opts["lora_rank"] or opts["qlora"]):
        return None
    default = "all-linear" if opts["qlora"] else "q,v"
    rank = opts["lora_rank"] or (QLORA_RANK if opts["qlora"] else LORA_RANK)
    targets = parse_targets(opts["lora_targets"] or default)
    if not targets:
        raise o.OptionError("lora_targets", f"{shown(opts['lora_targets'], 40)} names no module; give "
                                            "q,k,v,o,gate,up,down or all-linear")
    base = ("nf4-dq" if opts.get("double_quant", True) else "nf4") if opts["qlora"] else "bf16"
    return LoraSpec(rank=rank, targets=targets, base=base, adapter_bits=STATE_BITS[opts.get("adapter_dtype",
                    "fp32")], dropout=opts.get("lora_dropout", 0.0), bnb_keeps_inputs=_bnb_keeps(opts))


def _lora_options_need_lora(opts: dict[str, Any]) -> None:
    """LoRA's options without LoRA, and bitsandbytes' without QLoRA, change nothing: refused."""
    lora = {"lora_targets": None, "lora_dropout": 0.0, "adapter_dtype": "fp32"}
    for name, default in lora.items():
        if opts.get(name, default) != default and not (opts["lora_rank"] or opts["qlora"]):
            raise o.OptionError(name, "needs lora_rank or qlora", mentions=("lora_rank", "qlora"))
    for name, default in {"double_quant": True, "bnb_version": None}.items():
        if opts.get(name, default) != default and not opts["qlora"]:
            raise o.OptionError(name, "needs qlora (a bitsandbytes 4-bit base)", mentions=("qlora",))


def _bnb_keeps(opts: dict[str, Any]) -> bool:
    """bitsandbytes before 0.43.2 keeps each 4-bit layer's input (``training/qlora.py``)."""
    from ..training.qlora import bnb_keeps_inputs

    if opts.get("bnb_version") is None:
        return False
    try:
        return bnb_keeps_inputs(opts["bnb_version"])
    except ValueError as e:
        raise o.OptionError("bnb_version", str(e), prefix=False) from None
