"""``llmsize measure``: PyTorch's own peak of one real step, on the CPU, without allocating.

The model named in the config's ``architectures`` is built from the config alone under
``FakeTensorMode`` and one step runs under ``MemTracker`` (see ``llmsize.measure``): a prefill
with the KV cache (``--mode infer``), or a steady-state training step after a warm-up step
(``--mode train``). ``--compare`` puts llmsize's estimate beside it, term by term.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ..errors import LlmsizeError
from ..schemas import SCHEMA_VERSION
from ..units import GiB

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..sources.resolve import Resolved


class Progress:
    """A one-line progress bar on stderr: ``[2/3] warm-up step … 4.1 s``."""

    def __init__(self, steps: int, *, enabled: bool = True) -> None:
        self.steps, self.done, self.enabled, self.start = steps, 0, enabled, time.monotonic()

    def __call__(self, label: str) -> None:
        self.done = min(self.done + 1, self.steps)
        if self.enabled:
            bar = "█" * self.done + "░" * (self.steps - self.done)
            elapsed = time.monotonic() - self.start
            sys.stderr.write(f"\r{bar} [{self.done}/{self.steps}] {label} … {elapsed:5.1f} s\033[K")
            sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write(f"\r{'█' * self.steps} done in {time.monotonic() - self.start:.1f} s\033[K\n")


def _config(args: argparse.Namespace) -> tuple[dict[str, Any], Resolved]:
    from ..sources.resolve import open_source

    found = open_source(args.source, revision=args.revision)
    if found.config is None:
        raise LlmsizeError(f"{args.source}: measuring needs a config.json (transformers builds the model)")
    return dict(found.config), found


def run(args: argparse.Namespace) -> int:
    from ..measure.compare import compare_infer, compare_train

    cfg, _ = _config(args)
    progress = Progress(2 if args.mode == "infer" else 3, enabled=not args.json and sys.stderr.isatty())
    shape = {"batch": args.batch, "seq": args.seq or 2048, "dtype": args.dtype, "attn": args.attn,
             "layers": args.layers}
    if args.mode == "infer":
        c = compare_infer(cfg, args.source, **shape, estimate=args.compare, progress=progress)
    else:
        c = compare_train(cfg, args.source, **shape, optimizer=args.optimizer, recompute=args.recompute,
                          lora_rank=args.lora_rank, estimate=args.compare, progress=progress)
    progress.finish()
    result = {"schema_version": SCHEMA_VERSION, "model": args.source, "mode": args.mode, **shape,
              "peak_bytes": c.peak_bytes, "peak_module": c.peak_module, "peak_phase": c.peak_phase,
              "estimated_phase": c.estimated_phase or None, "by_category": c.by_category,
              "measured": c.measured, "estimate": c.estimate, "errors": c.errors() or None}
    if args.mode == "train":
        result.update(optimizer=args.optimizer, recompute=args.recompute, lora_rank=args.lora_rank)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _render(result)
    return 0


def _render(result: dict[str, Any]) -> None:
    from ..render import table

    est = result.get("estimate")
    rows = []
    for term, value in result["measured"].items():
        row = [term, f"{value:,}", f"{value / GiB:.3f}"]
        if est is not None:
            guess = est.get(term, 0)
            err = f"{100 * (guess / value - 1):+.1f}%" if value else ("exact" if guess == 0 else "—")
            row += [f"{guess:,}", err]
        rows.append(row)
    total = sum(result["measured"].values())
    last = ["total (peak)", f"{result['peak_bytes']:,}", f"{result['peak_bytes'] / GiB:.3f}"]
    if est is not None:
        guess = sum(est.values())
        last += [f"{guess:,}", f"{100 * (guess / result['peak_bytes'] - 1):+.1f}%"]
    rows.append(last)
    header = ["term", "measured bytes", "GiB"] + (["estimate bytes", "error"] if est is not None else [])
    where = f"layers {result['layers']}" if result.get("layers") else "all layers"
    table(f"{result['model']}: measured {result['mode']} step (MemTracker under FakeTensorMode, CPU), "
          f"batch {result['batch']} × seq {result['seq']}, {result['dtype']}, {result['attn']}, {where}",
          header, rows, right={1, 2, 3, 4})
    phase = f" in phase {result['peak_phase']}" if result.get("peak_phase") else ""
    print(f"peak at {result['peak_module'] or 'the model'}{phase}; MemTracker categories at the peak: "
          + ", ".join(f"{k} {v / GiB:.3f} GiB" for k, v in result["by_category"].items() if v))
    if result.get("estimated_phase"):
        print(f"llmsize's estimate puts the peak in phase: {result['estimated_phase']}")
    if total != result["peak_bytes"]:
        print(f"note: the terms sum to {total:,}; the rest of the peak is uncategorised")
