"""Measure prefill and decode speed on the GPU at hand, and append the rows to ``gpu_speed.csv``.

    python -m validation.gpu_measure --speed [--models M ...] [--batches 1,8,32] [--input-len 512]
        [--output-len 128] [--engines hf,vllm,llamacpp] [--gguf FILE] [--minutes 5] [--out CSV]

Nothing is downloaded: each model is built from its llmsize catalog config with random weights
(transformers ``from_config``, bf16, sdpa) on the GPU; speed does not depend on the weights'
values. Per model and batch B (prompt of ``input_len`` random tokens, ``output_len`` new ones):

    prefill_s   one forward of the prompt with the KV cache (``logits_to_keep=1``)
    ttft_s      from ``generate`` to its first new token (prefill, sampling, generate's own cost)
    tpot_s      (t(token N) − t(token 1)) / (N − 1) in the same ``generate`` run, N = output_len
                (``min_new_tokens = N``), timed by a streamer that notes when each step's tokens
                reach the host: seconds per output token per sequence, dynamic cache, no CUDA graphs
    decode_tokens_per_s = 1 / tpot_s (one sequence);  throughput_tokens_per_s = B / tpot_s

each the median of ``repeats`` runs after one warm-up, CUDA-synchronised around each run.
Where installed, vLLM runs the same cells (``load_format="dummy"``, one subprocess per model: see
``speed_engines.py``), and llama.cpp's ``llama-bench`` the GGUF files given with ``--gguf``.

``--minutes`` is a budget: a cell starts only while the time left exceeds the last cell's time,
so the sweep stops cleanly and every measured row is kept (rows are appended as they come).
``--device cpu`` runs the same loop on a tiny model (2 layers, d=64, from llama-3.2-1b's config)
in seconds: the tests' path (tests/test_gpu_speed.py). ``speed_rows.py`` turns the CSV into
cases of ``validation/perf_cases.json``'s format (confidence "measured").
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CSV_PATH = HERE / "gpu_speed.csv"
FIELDS = ("date", "gpu", "gpu_key", "engine", "engine_version", "torch", "transformers", "model", "config",
          "dtype", "batch", "input_len", "output_len", "prefill_s", "ttft_s", "tpot_s", "decode_tokens_per_s",
          "throughput_tokens_per_s", "repeats", "extra")
# Small catalog models whose configs build in transformers and vLLM alike, 0.5B to 8B: at batches
# 1, 8, 32 (512 in, 128 out) sized for a few minutes on one recent GPU (not yet run on one).
DEFAULT_MODELS = ("qwen2.5-0.5b", "llama-3.2-1b-instruct", "llama-3.1-8b")
TINY_BASE = "llama-3.2-1b-instruct"
TINY = {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 512, "tie_word_embeddings": True}


@dataclass
class Budget:
    """Seconds for the sweep; ``allows(t)``: more than ``t`` seconds are left."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    start: float = field(init=False)

    def __post_init__(self) -> None:
        self.start = self.clock()

    def left(self) -> float:
        return self.seconds - (self.clock() - self.start)

    def allows(self, predicted_s: float = 0.0) -> bool:
        return self.left() > predicted_s


@dataclass(frozen=True)
class Shape:
    batch: int
    input_len: int
    output_len: int


def tiny_config() -> dict[str, Any]:
    """llama-3.2-1b's catalog config at 2 layers, d=64, 512-token vocabulary (the CPU test model)."""
    from llmsize.sources import catalog

    cfg = {**catalog.lookup(TINY_BASE).config, **TINY}
    return {k: v for k, v in cfg.items() if k != "rope_scaling"}


def median_time(run: Callable[[], object], sync: Callable[[], None], repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up, synchronised before and after each."""
    run()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed_row(shape: Shape, prefill_s: float, ttft_s: float, tpot_s: float) -> dict[str, object]:
    """The timing columns of a row: tokens/s follow from ``tpot_s`` (one sequence, and all B)."""
    return {"batch": shape.batch, "input_len": shape.input_len, "output_len": shape.output_len,
            "prefill_s": f"{prefill_s:.6g}", "ttft_s": f"{ttft_s:.6g}", "tpot_s": f"{tpot_s:.6g}",
            "decode_tokens_per_s": f"{1 / tpot_s:.6g}",
            "throughput_tokens_per_s": f"{shape.batch / tpot_s:.6g}"}


# --- transformers ---------------------------------------------------------------------------


def hf_model(cfg: dict[str, Any], name: str, *, device: str, dtype: str) -> Any:
    """The model with random weights, built directly on ``device``, in eval mode."""
    import torch

    from llmsize.measure.harness import build

    with torch.device(device):
        model = build(cfg, name, dtype=dtype, attn="sdpa")
    return model.eval()


class TokenClock:
    """A generate() streamer that notes when each new token reaches the host: generate calls
    ``put`` with the prompt, then with each step's tokens (``StopCheck`` in transformers 5
    generation/utils.py, after ``tokens.cpu()``, which waits for the GPU). ``end`` is called once."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def put(self, value: object) -> None:
        self.times.append(time.perf_counter())

    def end(self) -> None:
        return None


def generate_times(generate: Callable[[TokenClock], object], *, new_tokens: int,
                   repeats: int, sync: Callable[[], None]) -> tuple[float, float]:
    """(ttft_s, tpot_s), medians over ``repeats`` generate runs after a warm-up, each run timed by
    its own token clock: ttft = first token − call; tpot = (last − first) / (new_tokens − 1)."""
    generate(TokenClock())
    ttfts, tpots = [], []
    for _ in range(repeats):
        clock = TokenClock()
        sync()
        start = time.perf_counter()
        generate(clock)
        tokens = clock.times[1:]  # the first put is the prompt
        if len(tokens) != new_tokens:
            raise RuntimeError(f"generate gave {len(tokens)} tokens, not {new_tokens}")
        ttfts.append(tokens[0] - start)
        tpots.append((tokens[-1] - tokens[0]) / (new_tokens - 1))
    return statistics.median(ttfts), statistics.median(tpots)


def hf_times(model: Any, shape: Shape, *, repeats: int,
             sync: Callable[[], None]) -> tuple[float, float, float]:
    """(prefill_s, ttft_s, tpot_s) of one cell, as the module docstring defines them."""
    import torch

    vocab = model.config.get_text_config().vocab_size
    device = next(model.parameters()).device
    ids = torch.randint(0, vocab, (shape.batch, shape.input_len), device=device)
    mask = torch.ones_like(ids)
    n = shape.output_len

    def generate(clock: TokenClock) -> object:
        return model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                              do_sample=False, pad_token_id=0, eos_token_id=None, streamer=clock)

    with torch.inference_mode():
        prefill = median_time(lambda: model(input_ids=ids, use_cache=True, logits_to_keep=1), sync, repeats)
        ttft, tpot = generate_times(generate, new_tokens=n, repeats=repeats, sync=sync)
    return prefill, ttft, tpot


def hf_cells(name: str, cfg: dict[str, Any], shapes: list[Shape], budget: Budget, *, device: str,
             dtype: str, repeats: int) -> Iterable[dict[str, object]]:
    """One row per shape the budget allows; the model is built once."""
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    cuda, threads = device.startswith("cuda"), torch.get_num_threads()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if not cuda:  # one thread: two threads waiting on each other swing CPU timings on a shared machine
        torch.set_num_threads(1)
    model, last = hf_model(cfg, name, device=device, dtype=dtype), 0.0
    base = {"engine": "hf", "engine_version": transformers.__version__, "dtype": dtype, "repeats": repeats,
            "extra": json.dumps({"attn": "sdpa", "cache": "dynamic"})}
    try:
        for shape in shapes:
            if not budget.allows(last):
                return
            start = time.monotonic()
            yield {**base, **speed_row(shape, *hf_times(model, shape, repeats=repeats, sync=sync))}
            last = time.monotonic() - start
    finally:
        del model
        torch.set_num_threads(threads)
        if cuda:
            torch.cuda.empty_cache()


# --- the sweep and the CSV ------------------------------------------------------------------


def where(device: str) -> dict[str, str]:
    """date, the device's name and its llmsize catalog key ("" when not in the catalog), versions."""
    import platform

    import torch
    import transformers

    from llmsize.hardware import GpuError, gpu

    name = torch.cuda.get_device_name() if device.startswith("cuda") else platform.processor() or "cpu"
    try:
        key = gpu(name).key
    except GpuError:
        key = ""
    return {"date": datetime.date.today().isoformat(), "gpu": name, "gpu_key": key,
            "torch": torch.__version__, "transformers": transformers.__version__}


class Sink:
    """Appends rows to the CSV as they come (a header first when the file is new), so that a sweep
    cut short keeps what it measured; an existing file with other columns is refused."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, object]] = []
        if path.exists() and path.stat().st_size:
            with path.open() as f:
                header = next(csv.reader(f), [])
            if tuple(header) != FIELDS:
                raise SystemExit(f"gpu_measure --speed: {path} has other columns than {', '.join(FIELDS)}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="") as f:
                csv.DictWriter(f, fieldnames=FIELDS).writeheader()

    def add(self, row: dict[str, object]) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=FIELDS).writerow(row)
        self.rows.append(row)
        print(f"[{len(self.rows)}] {row['engine']} {row['model']} b{row['batch']}: "
              f"prefill {row['prefill_s']} s, tpot {row['tpot_s']} s, {row['throughput_tokens_per_s']} tok/s",
              file=sys.stderr)


def models(args: argparse.Namespace) -> list[tuple[str, dict[str, Any], str]]:
    """(name, config, the config column: "" for an unchanged catalog config)."""
    from llmsize.measure.harness import scaled_config
    from llmsize.sources import catalog

    if args.device == "cpu" and not args.models:
        cfg = tiny_config()
        return [("tiny-llama", cfg, json.dumps(cfg, sort_keys=True))]
    out = []
    for name in args.models or DEFAULT_MODELS:
        cfg = scaled_config(dict(catalog.lookup(name).config), args.layers)
        out.append((name, cfg, json.dumps(cfg, sort_keys=True) if args.layers else ""))
    return out


def sweep(args: argparse.Namespace, sink: Sink, budget: Budget) -> None:
    """Every engine over every model and shape, while the budget lasts."""
    from . import speed_engines

    place = where(args.device)
    shapes = [Shape(b, args.input_len, args.output_len) for b in args.batches]
    for name, cfg, config in models(args):
        for engine in (e for e in args.engines if e != "llamacpp"):
            if not budget.allows():
                print(f"gpu_measure --speed: out of time before {engine} {name}", file=sys.stderr)
                return
            if engine == "hf":
                cells = hf_cells(name, cfg, shapes, budget, device=args.device, dtype=args.dtype,
                                 repeats=args.repeats)
            else:
                cells = speed_engines.vllm_cells(name, cfg, shapes, budget, dtype=args.dtype,
                                                 repeats=args.repeats)
            for row in cells:
                sink.add({**place, "model": name, "config": config, **row})
    if "llamacpp" in args.engines:
        for path in args.gguf:
            for row in speed_engines.llamacpp_cells(path, args.gguf_model, args, budget):
                sink.add({**place, **row})


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m validation.gpu_measure --speed",
                                description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", help=f"catalog names (default: {', '.join(DEFAULT_MODELS)}; "
                   "on --device cpu a tiny 2-layer model)")
    p.add_argument("--batches", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32])
    p.add_argument("--input-len", type=int, default=512)
    p.add_argument("--output-len", type=int, default=128)
    p.add_argument("--engines", type=lambda s: s.split(","), default=["hf", "vllm", "llamacpp"],
                   help="hf,vllm,llamacpp; an engine not installed is skipped with a line")
    p.add_argument("--gguf", nargs="+", default=[], help="GGUF files for llama-bench")
    p.add_argument("--gguf-model", help="catalog name of the --gguf files' model (default: the file name)")
    p.add_argument("--layers", type=int, help="fewer layers than the catalog config (recorded in the row)")
    p.add_argument("--minutes", type=float, default=5.0, help="time budget for the whole sweep")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per figure, after one warm-up")
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu (the tiny test model)")
    p.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), help="default bf16 on cuda, fp32 on cpu")
    p.add_argument("--out", type=Path, default=CSV_PATH, help="the CSV rows are appended to")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.output_len < 2 or args.input_len < 1 or min(args.batches) < 1:
        p.error("--output-len must be ≥ 2 (decode time is a difference), --input-len and --batches ≥ 1")
    args.dtype = args.dtype or ("fp32" if args.device == "cpu" else "bf16")
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("gpu_measure --speed: no CUDA GPU here; run it on a machine with one (or --device cpu)",
                  file=sys.stderr)
            return 2
    from . import speed_engines

    args.engines = speed_engines.available(args.engines, device=args.device, gguf=args.gguf)
    budget, sink = Budget(60 * args.minutes), Sink(args.out)
    sweep(args, sink, budget)
    print(f"appended {len(sink.rows)} rows to {args.out} ({budget.seconds - budget.left():.0f} s); "
          "commit it and run `python -m validation.run --from-results`")
    return 0
