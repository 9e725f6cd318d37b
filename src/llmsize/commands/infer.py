"""``llmsize infer``: the flags → ``api.infer`` → a table, or the result's JSON."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from .. import api, render
    from ..plan.limits import InferenceLimits
    from ..seed import SeedMemory
    from . import api_options, emit

    # a store_true flag not given reads False: drop it, but keep a False that turns a default True off
    opts = {k: v for k, v in api_options(args, api.INFER_OPTIONS).items()
            if v is not False or api.INFER_OPTIONS[k][0] is not False}
    result = api.infer(args.source, **opts)
    if isinstance(result, InferenceLimits):
        return emit(args, result, render.limits_table)
    if isinstance(result, SeedMemory):
        return emit(args, result, lambda r: render.seed_memory_table(r, r.estimate))
    return emit(args, result, lambda r: render.inference_table(r, explain=args.explain))
