"""The subcommands that assemble several modules: parse → compute → render, one module each."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from ..sources.resolve import Sized


def open_for(args: argparse.Namespace, command: str) -> Sized:
    """The SOURCE of ``llmsize infer`` / ``train``, with an architecture; warnings on stderr."""
    from ..errors import LlmsizeError
    from ..sources.resolve import open_source

    if not args.source:
        raise LlmsizeError(f"{command}: give a SOURCE (catalog name, HF id, config.json, model directory"
                           " or checkpoint)")
    found = open_source(args.source, revision=args.revision)
    if found.arch is None:
        raise LlmsizeError(f"{args.source}: no config.json or GGUF metadata to size the model from")
    for w in found.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return found.sized()
