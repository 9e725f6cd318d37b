"""``llmsize plot SOURCE --kind breakdown|context|batch|gpus|throughput -o FILE.svg``.

The chart is ``charts.figure`` drawn by ``svg.render``: the same picture the web page shows. The
options are the API's, as flags (``--ctx-size 8192 --engine vllm``, ``--seq 4096 --zero 3``) for
the task's command (``--task serve`` is infer, ``finetune`` and ``train`` are train).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import LlmsizeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _option_names() -> dict[str, object]:
    from ..api import INFER_OPTIONS, TRAIN_OPTIONS

    return {k: v[0] for k, v in {**TRAIN_OPTIONS, **INFER_OPTIONS}.items()}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..charts import KINDS, TASKS

    p.add_argument("source", help="catalog name or HF id, config.json, model directory or checkpoint")
    p.add_argument("--kind", choices=KINDS, default="breakdown", help="which chart (default breakdown)")
    p.add_argument("-o", "--output", metavar="FILE.svg", help="write the SVG here (default: stdout)")
    p.add_argument("--task", choices=TASKS, default="serve", help="serve (infer), finetune or train")
    p.add_argument("--json", action="store_true", help="print the chart's data instead of the SVG")
    o = p.add_argument_group("the task's options, as `llmsize infer` / `llmsize train` take them")
    for name, default in _option_names().items():
        flag = "--" + name.replace("_", "-")
        short = {"ctx_size": ["-c"], "batch": ["-b"], "n_gpu_layers": ["-ngl"]}.get(name, [])
        if default is False:
            o.add_argument(*short, flag, action="store_true", default=None)
        elif name == "overhead":
            o.add_argument(flag, action="append", metavar="NAME=SIZE")
        else:
            o.add_argument(*short, flag, metavar="VALUE")


def options(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given, as API options (digits as integers; the API checks every value)."""
    out: dict[str, Any] = {}
    for name in _option_names():
        value = getattr(args, name, None)
        if value is not None:
            out[name] = int(value) if isinstance(value, str) and value.isdigit() else value
    return out


def run(args: argparse.Namespace) -> int:
    from .. import charts, svg

    if args.output and args.output.lower().endswith(".png"):
        raise LlmsizeError(f"{args.output}: llmsize plot writes SVG; convert it (rsvg-convert) for a PNG")
    fig = charts.figure(args.kind, args.task, args.source, options(args))
    from ..schemas import versioned

    text = json.dumps(versioned(fig.to_dict()), indent=2) if args.json else svg.render(fig)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        except OSError as e:
            raise LlmsizeError(f"{args.output}: cannot write ({e.strerror or e})") from None
        print(f"wrote {args.output} ({fig.title})", file=sys.stderr)
    else:
        print(text)
    return 0
