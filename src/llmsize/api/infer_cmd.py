"""``infer``: memory to serve a SOURCE, the blog's rule of thumb, or the inverse questions."""

from __future__ import annotations

from dataclasses import replace

from .. import options as o
from .engine import clamped_layers, config_quant, engine_has, parallel
from .source import context_warning, image_warning, model_name, opened
from .speed import gpu_for_speed, serving_speed
from .tables import LLAMACPP_DEFAULT_CTX
from .target import count_agrees, gpu_target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ..arch import Architecture
    from ..inference.estimate import InferenceReport
    from ..plan.limits import InferenceLimits
    from ..seed import SeedMemory
    from ..sources.resolve import Resolved
    from .source import Source


def infer_report(source: Source | None, opts: dict[str, Any], options: Mapping[str, Any],
                 ) -> InferenceReport | SeedMemory | InferenceLimits:
    """``llmsize.api.infer`` once its options are checked (``options``: the keywords as given)."""
    from ..inference.engines import estimate

    engine_has(opts, {k for k, v in options.items() if v is not None})
    speed_gpu = gpu_for_speed("infer", opts)
    if opts["method"] == "seed":
        return _seed_memory(source, opts)
    found, arch = opened(source, "infer", opts["revision"])
    default = LLAMACPP_DEFAULT_CTX if opts["engine"] == "llamacpp" else arch.max_position
    quant_warnings = config_quant(opts, found)
    opts.update(count_agrees(opts, {"tp": opts["tp"], "pp": opts["pp"]}, options))
    opts["batch"] = parallel(opts)
    if opts["engine"] == "llamacpp" and opts["tp"] * opts["pp"] > 1:
        raise o.OptionError("engine", "llamacpp sizes one GPU (its split over several, -sm layer, is not "
                            "modelled); give gpu NAME with no count, tp 1 and pp 1",
                            mentions=("gpu", "tp", "pp"))
    spec = inference_spec(opts, opts["ctx_size"] or default)
    asked = tuple(k for k in ("max_context", "max_batch", "max_concurrency") if opts[k])
    if asked:
        return replace(_limits(found, arch, spec, asked, model_name(source, found)),
                       warnings=(*found.warnings, *quant_warnings))
    report = estimate(arch, spec, name=model_name(source, found), checkpoint=found.checkpoint,
                      config=found.config)
    warnings = (*found.warnings, *quant_warnings, *context_warning(arch, spec.context, "ctx_size"),
                *clamped_layers(opts, arch),
                *image_warning(spec.images, "the vision tower's and cross-attention layers' prefill "
                               "activations"))
    if opts["host_mem"] is not None and opts["engine"] != "llamacpp":
        warnings += (f"host_mem is inert with engine {opts['engine']}: only llamacpp (and train's offload) "
                     "put part of the model in host memory",)
    report = replace(report, warnings=warnings)
    return report if speed_gpu is None else serving_speed(report, arch, found, opts, speed_gpu)


def _limits(found: Resolved, arch: Architecture, spec: Any, asked: tuple[str, ...],
            name: str) -> InferenceLimits:
    from ..plan.limits import inference_limits

    return inference_limits(arch, spec, budget_bytes=spec.gpu_mem, asked=asked, name=name,
                            checkpoint=found.checkpoint, config=found.config)


def inference_spec(opts: dict[str, Any], context: int) -> Any:
    from ..inference.estimate import InferenceSpec
    from ..layout import Layout

    target = gpu_target(opts, opts["tp"] * opts["pp"])
    return InferenceSpec(
        context=context, batch=opts["batch"], new_tokens=opts["new_tokens"], dtype=opts["dtype"],
        quant=opts["quant"], kv_dtype=opts["kv_dtype"], attn=opts["attn"], engine=opts["engine"],
        layout=Layout(tp=opts["tp"], pp=opts["pp"]), logits=opts["logits"], chunk=opts["chunk"],
        overrides=opts["overhead"], gpu_mem=target.budget_bytes, gpu_util=opts["gpu_util"],
        max_num_seqs=opts["max_num_seqs"], max_num_batched_tokens=opts["max_num_batched_tokens"],
        n_gpu_layers=opts["n_gpu_layers"], sampler=opts["sampler"], vllm_version=opts["vllm_version"],
        custom_all_reduce=opts["custom_all_reduce"], n_batch=opts["batch_size"],
        n_ubatch=opts["ubatch_size"], kv_unified=opts["kv_unified"], flash_attn=opts["flash_attn"],
        target=target, images=opts.get("images", 0),
    )


def _seed_memory(source: Source | None, opts: dict[str, Any]) -> SeedMemory:
    """The blog's rule of thumb; without params/activations/input_data, llmsize's own count,
    prefill workspace and token ids fill them in, and the full estimate comes beside."""
    from ..inference.engines import estimate
    from ..seed import seed_memory

    bits = {"fp32": 32, "fp16": 16, "bf16": 16}[opts["dtype"]]
    given = tuple(k for k in ("params", "activations", "input_data") if opts[k] is not None)
    report: InferenceReport | None = None
    warnings: tuple[str, ...] = ()
    if len(given) < 3 or source:
        found, arch = opened(source, "infer", opts["revision"])
        spec = inference_spec(opts, opts["ctx_size"] or arch.max_position)
        report = estimate(arch, spec, name=model_name(source, found), checkpoint=None, config=found.config)
        warnings = found.warnings
    count, activations = opts["params"], opts["activations"]
    if report is not None:
        parameters = report.extra["parameters"]
        assert isinstance(parameters, int)
        count = count or parameters
        activations = report.part("activations") if activations is None else activations
    tokens = opts["batch"] * (opts["ctx_size"] or (report.spec.context if report else 0))
    input_data = opts["input_data"] if opts["input_data"] is not None else tokens * 8  # int64 token ids
    seed = seed_memory(count, bits=bits, activations=activations, input_data=input_data, given=given)
    return replace(seed, estimate=report, warnings=warnings)
