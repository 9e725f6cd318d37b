"""``llmsize gpus [FILTER] [--json]``: the GPU catalog, with memory, bandwidth, dense TFLOPS and price."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("filter", nargs="?", default="", help="part of a key, name, vendor or alias (h100, amd)")
    p.add_argument("--price", action="append", default=[], metavar="GPU=USD",
                   help="override a GPU's price per hour, e.g. h100=2.5 (repeatable)")
    p.add_argument("--json", action="store_true", help="every field with its source, as JSON")


def run(args: argparse.Namespace) -> int:
    from .. import render
    from ..hardware.listing import gpu_list
    from . import emit

    return emit(args, gpu_list(args.filter, args.price), render.gpus_table)
