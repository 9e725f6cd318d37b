"""The subcommands that assemble several modules: parse → compute (the API) → render, one module each."""

from __future__ import annotations

import json
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping
    from typing import Any


def api_options(args: argparse.Namespace, table: Mapping[str, object]) -> dict[str, Any]:
    """The parsed flags that are options of the API function (same names, snake_case)."""
    return {k: getattr(args, k) for k in table if getattr(args, k, None) is not None}


def add_speed_arguments(p: argparse.ArgumentParser, command: str) -> None:
    """The speed options of ``infer`` and ``train`` (they need --gpu): perf/setting.py; ``plan``
    takes both sets (every layout is timed on its GPU type: plan/speed.py)."""
    from ..options import arg_context, arg_positive_int

    s = p.add_argument_group("speed on --gpu (estimates with held-out error bands)")
    if command in ("infer", "plan"):
        s.add_argument("--input-len", type=arg_context, metavar="N",
                       help="prompt tokens per request (default: ctx − new tokens, or ctx / 2)")
        s.add_argument("--output-len", type=arg_context, metavar="N",
                       help="generated tokens per request (default: --new-tokens, or 128)")
        s.add_argument("--concurrency", type=arg_positive_int, metavar="N",
                       help="requests decoded together (default --batch; vLLM: at most its KV pool's)")
        mfu = "share of peak FLOP/s prefill reaches (default: efficiency.json's, per engine and GPU)"
    if command in ("train", "plan"):
        s.add_argument("--tokens", metavar="D", help="tokens of the whole run: time, GPU-hours, cost "
                       "(1e12, 15T, 300B)")
        mfu = "share of peak FLOP/s the step's compute reaches (η_train; default: efficiency.json's)"
    if command == "plan":
        mfu = "serve: prefill's share of peak FLOP/s; train: the step compute's share (η_train)"
        s.add_argument("--rank", choices=("cost", "tpot", "e2e", "throughput", "time", "memory"),
                       help="serve: cost ($/M tokens, default), tpot, e2e, throughput or memory (max batch); "
                            "train: time (default) or memory (headroom)")
    s.add_argument("--mfu", metavar="F", help=mfu + ", in (0, 1]")
    s.add_argument("--price", action="append", metavar="[GPU=]USD",
                   help="USD per GPU-hour, e.g. h100=2.5 (default: llmsize gpus' dated price)")
    if command == "plan":
        return
    s.add_argument("--explain", action="store_true",
                   help="each efficiency factor's source and the step's terms")


def emit(args: argparse.Namespace, result: Any, table: Callable[[Any], object]) -> int:
    """The result's warnings on stderr, then its ``to_dict()`` as JSON with --json, else
    ``table(result)``."""
    for w in getattr(result, "warnings", ()):
        print(f"warning: {w}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        table(result)
    return 0
