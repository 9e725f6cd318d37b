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
