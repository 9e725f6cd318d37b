"""The speed on the GPU given, when one is: ``performance`` of ``infer`` and ``train``
(``perf/setting.py``)."""

from __future__ import annotations

from dataclasses import replace

from .. import options as o
from .engine import weight_format
from .tables import SPEED_OPTIONS
from .target import gpu_count

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..arch import Architecture
    from ..inference.estimate import InferenceReport
    from ..sources.resolve import Resolved
    from ..training.estimate import TrainReport


def gpu_for_speed(command: str, opts: dict[str, Any]) -> Any:
    """The GPU to estimate speed on: ``gpu`` when given (the default GPU of the verdict is not
    asked about). A speed option without ``gpu``, or with a question that has no speed (the
    rule of thumb, an inversion), is refused rather than ignored."""
    given = [k for k in SPEED_OPTIONS[command] if opts[k]]
    other = next((k for k in ("max_context", "max_batch", "max_concurrency") if opts.get(k)), None)
    if opts.get("method") == "seed":
        other = "method seed"
    if given and other:
        raise o.OptionError(given[0], f"is a speed option; {other} answers a memory question only",
                            mentions=() if other.startswith("method") else (other,))
    if opts["gpu"] is None:
        if given:
            raise o.OptionError(given[0], "needs gpu: speed is estimated on a GPU of the catalog "
                                "(gpu NAME[:COUNT], llmsize gpus)", mentions=("gpu",))
        return None
    return None if other else gpu_count(opts["gpu"])[0]


def serving_speed(report: InferenceReport, arch: Architecture, found: Resolved, opts: dict[str, Any],
                  g: Any) -> InferenceReport:
    """``report`` with its performance on ``g`` (or a note saying why there is none)."""
    from ..perf.setting import missing_rates, price_for, serving_for

    if why := missing_rates(g):
        return replace(report, notes=(*report.notes, f"no speed figures: {why}"))
    perf = serving_for(arch, report.spec, report.extra, g, weight_format=weight_format(report.spec, found),
                       input_len=opts["input_len"], output_len=opts["output_len"],
                       concurrency=opts["concurrency"], price=price_for(g, opts["price"]), mfu=opts["mfu"])
    if report.verdict is not None and not report.verdict.fits:
        perf = replace(perf, notes=(*perf.notes, "the memory does not fit: these speeds are what it would "
                                    "reach if it did"))
    return replace(report, performance=perf)


def training_speed(report: TrainReport, arch: Architecture, opts: dict[str, Any], g: Any) -> TrainReport:
    """``report`` with its step time, MFU, time and cost on ``g`` (or a note saying why not)."""
    from ..perf.setting import missing_rates, price_for, training_for

    if why := missing_rates(g):
        return replace(report, notes=(*report.notes, f"no speed figures: {why}"))
    perf = training_for(arch, report.spec, g, tokens=opts["tokens"], price=price_for(g, opts["price"]),
                        mfu=opts["mfu"])
    return replace(report, performance=perf)
