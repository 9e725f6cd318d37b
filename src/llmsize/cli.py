"""``llmsize`` command line: parse → compute (pure, returns a tree) → render (table or --json).

Bad input (see ``errors.LlmsizeError``) prints one line on stderr and exits with code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from .errors import LlmsizeError
from .options import (
    ATTN,
    DTYPES,
    ENGINES,
    FLASH_ATTN,
    INFER_METHODS,
    LOGITS,
    PARAMS_METHODS,
    SAMPLERS,
    VLLM_VERSIONS,
    OptionError,
)
from .options import arg_context as _context
from .options import arg_natural as _natural
from .options import arg_positive_int as _positive_int
from .options import arg_size as _size
from .version import __version__

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn

EXIT_BAD_INPUT = 2
_json_errors = False  # --json given: an error is also a JSON document on stdout (main sets it)


def _fail(prog: str, line: str) -> int:
    """One error line on stderr, exit code 2; under --json also ``{"schema_version", "error"}`` on
    stdout, so a program reading the JSON sees the failure in the same format."""
    print(f"{prog}: error: {line}", file=sys.stderr)
    if _json_errors:
        from .schemas import versioned

        print(json.dumps(versioned({"error": {"message": line, "exit_code": EXIT_BAD_INPUT}})))
    return EXIT_BAD_INPUT


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, the width argparse wraps help to, without importing
    shutil (~2 ms at start-up: it imports bz2, lzma and zlib). ``$COLUMNS`` wins, then the
    terminal on stdout, then 80; a test checks the two agree."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Formatter(argparse.HelpFormatter):
    """argparse's help formatter, with its default width (terminal columns − 2, as argparse's own)
    found without shutil; argparse makes one per argument added."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        width = _terminal_columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit code 2), like every bad input."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)  # subparsers too: they are _Parsers
        super().__init__(**kwargs)

    def error(self, message: str) -> NoReturn:
        from .errors import LlmsizeError

        line = str(LlmsizeError(message))  # one line: input echoed by argparse is escaped too
        sys.exit(_fail(self.prog, f"{line} (see {self.prog} --help)"))

    def parse_known_args(  # type: ignore[override]  # one signature for argparse's overloads
            self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:
        return super().parse_known_args(None if args is None else _attach_negative_values(self, args),
                                        namespace)


def _attach_negative_values(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """``--gpu-mem -5GiB`` → ``--gpu-mem=-5GiB``: argparse takes a value that starts with '-' and is
    not a plain number for an option, and reports "expected one argument"; attached, the value
    reaches the option's own check, which says what is wrong with it."""
    out: list[str] = []
    for arg in argv:
        action = parser._option_string_actions.get(out[-1]) if out else None
        if (action is not None and action.nargs is None and action.option_strings
                and arg[:1] == "-" and arg[1:2].isdigit() and "=" not in out[-1]):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def _add_arch_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("architecture (explicit, or overriding SOURCE)")
    for flag, hint in (
        ("--hidden-size", "d, model width"),
        ("--num-layers", "L"),
        ("--num-heads", "attention heads a"),
        ("--num-kv-heads", "key/value heads k (GQA/MQA)"),
        ("--head-dim", "per-head width (default d/a)"),
        ("--intermediate-size", "MLP width I (default 4·d)"),
        ("--vocab-size", "V"),
        ("--max-position", "context length / learned position rows (default 1024)"),
    ):
        g.add_argument(flag, type=_positive_int, metavar="N", help=hint)
    g.add_argument("--tie-embeddings", action=argparse.BooleanOptionalAction, default=None,
                   help="LM head shares the token embedding (GPT-2 default: tied)")
    g.add_argument("--gated-mlp", action=argparse.BooleanOptionalAction, default=None,
                   help="three-matrix gated MLP (SwiGLU) instead of two")
    g.add_argument("--family", metavar="TYPE",
                   help="the model_type explicit flags describe (llama, qwen3, mistral, mixtral, "
                        "deepseek_v3, gpt_oss, …; default: gpt2)")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``command`` alone when it names a subcommand; else (no command, ``--help``, a
    typo) every subcommand, with its flags when ``command`` is None and without them otherwise.

    Start-up: argparse makes a help formatter and several gettext look-ups (file-system probes for
    message catalogs) per parser and per argument, so ``main`` builds only what the given command
    line can use; the top-level ``--help`` needs only each subcommand's name and help line.
    """
    parser = _Parser(
        prog="llmsize", description="Size large language models: parameters and memory, exactly."
    )
    parser.add_argument("--version", action="version", version=f"llmsize {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    names = [command] if command in SUBCOMMANDS else list(SUBCOMMANDS)
    for name in names:
        help_line, add_arguments = SUBCOMMANDS[name]
        p = sub.add_parser(name, help=help_line)
        if command in (None, name):
            add_arguments(p)
    return parser


def _add_params(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", help="catalog name or HF id, config.json, or model directory")
    p.add_argument("--method", choices=PARAMS_METHODS, default="exact",
                   help="exact (default) or the blog's simplified 'seed' formulas")
    p.add_argument("--params", type=_positive_int, metavar="N",
                   help="start from a given parameter count (seed byte sizing)")
    p.add_argument("--depth", type=_natural, default=4, help="breakdown depth shown (default 4)")
    p.add_argument("--json", action="store_true", help="print the result tree as JSON")
    p.add_argument("--revision", help="Hub branch, tag or commit (for a Hub id)")
    _add_arch_flags(p)


def _add_inspect(i: argparse.ArgumentParser) -> None:
    i.add_argument("source", help="safetensors file, index or directory, GGUF file, or HF Hub id")
    i.add_argument("--revision", help="Hub branch, tag or commit")
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    i.add_argument("--tensors", action="store_true", help="also list every tensor")


def _add_summary(m: argparse.ArgumentParser) -> None:
    m.add_argument("source", help="catalog name or HF id, config.json, model directory or checkpoint")
    m.add_argument("--revision", help="Hub branch, tag or commit")
    m.add_argument("-c", "--ctx-size", type=_context, metavar="N", help="context (default: the model's)")
    m.add_argument("--json", action="store_true")


def _add_catalog(c: argparse.ArgumentParser) -> None:
    c.add_argument("filter", nargs="?", default="", help="substring of name, HF id or model_type")
    c.add_argument("--json", action="store_true")


def _add_schema(s: argparse.ArgumentParser) -> None:
    s.add_argument("name", nargs="?", metavar="COMMAND",
                   help="a command's schema: params, infer, train, inspect, catalog, gpus, summary, measure, "
                        "plan or plot")


def _add_infer(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", help="catalog name or HF id, config.json, model directory, "
                   "safetensors or GGUF file")
    p.add_argument("--revision", help="Hub branch, tag or commit (for a Hub id)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--method", choices=INFER_METHODS, default="estimate",
                   help="estimate (default) or the blog's rule of thumb (seed)")
    w = p.add_argument_group("workload")
    w.add_argument("-c", "--ctx-size", type=_positive_int, metavar="N",
                   help="KV capacity per sequence in tokens (default: the model's context; llamacpp 4096)")
    w.add_argument("-b", "--batch", type=_positive_int, default=1, metavar="N", help="sequences (default 1)")
    w.add_argument("--new-tokens", type=int, default=0, metavar="N",
                   help="tokens to generate; the prompt is ctx − new tokens (default 0: prefill all)")
    w.add_argument("--logits", choices=LOGITS, default="last",
                   help="logits of the last position (generation) or of all (scoring)")
    w.add_argument("--chunk", type=_positive_int, metavar="N", help="chunked prefill: tokens per step")
    w.add_argument("--images", type=_natural, default=0, metavar="N",
                   help="Llama 3.2 Vision: images per sequence, cached by its cross-attention layers "
                        "(default 0: text only)")
    n = p.add_argument_group("precision")
    n.add_argument("--dtype", choices=DTYPES, default="bf16",
                   help="weights and activations (default bf16)")
    n.add_argument("--quant", metavar="FORMAT",
                   help="weight format: fp8, fp8-block, int8, nf4, nf4-dq, gptq:4:128, awq, mxfp4, Q4_K_M, …")
    n.add_argument("--kv-dtype", metavar="T",
                   help="KV cache: fp32, fp16, bf16, fp8, q8_0, q4_0 (default: --dtype)")
    n.add_argument("--attn", choices=ATTN, default="sdpa", help="attention kernel")
    e = p.add_argument_group("engine and GPUs")
    e.add_argument("--engine", choices=ENGINES, default="hf",
                   help="engine profile (default hf)")
    e.add_argument("--tp", type=_positive_int, metavar="N", help="tensor-parallel GPUs (default 1)")
    e.add_argument("--pp", type=_positive_int, metavar="N", help="pipeline-parallel stages (default 1)")
    e.add_argument("--gpu", metavar="NAME[:COUNT]",
                   help="the GPU to judge the fit on (llmsize gpus; custom:mem=48GiB,bw=864GB/s); COUNT sets "
                   "--tp when --tp/--pp are not given, else must equal tp × pp (default h100-sxm)")
    e.add_argument("--gpu-mem", type=_size, metavar="SIZE",
                   help="memory of one GPU, replacing --gpu's usable memory: 80GiB, or 80GB (= 74.5 GiB)")
    e.add_argument("--host-mem", type=_size, metavar="SIZE", help="host RAM for llamacpp's CPU layers")
    e.add_argument("--gpu-util", type=float, metavar="F", help="vLLM gpu_memory_utilization (default 0.9)")
    e.add_argument("--max-num-seqs", type=_positive_int, metavar="N", help="vLLM max_num_seqs")
    e.add_argument("--max-num-batched-tokens", type=_positive_int, metavar="N", help="vLLM chunk budget")
    e.add_argument("-ngl", "--n-gpu-layers", type=int, metavar="N", help="llama.cpp layers on the GPU")
    e.add_argument("--sampler", choices=SAMPLERS,
                   help="vLLM top-k/top-p sampler: torch (default), or flashinfer (the log says "
                   "'Using FlashInfer for top-p & top-k sampling')")
    e.add_argument("--vllm-version", choices=VLLM_VERSIONS,
                   help="vLLM release whose start-up accounting is mirrored (default 0.11.0; 0.21.0: NCCL "
                   "outside non-torch, CUDA graphs reserved)")
    e.add_argument("--disable-custom-all-reduce", dest="custom_all_reduce", action="store_const", const=False,
                   help="vLLM --disable-custom-all-reduce: no custom all-reduce IPC buffers at tp > 1")
    e.add_argument("--batch-size", type=_positive_int, metavar="N",
                   help="llama.cpp -b, logical batch (default 2048)")
    e.add_argument("-ub", "--ubatch-size", type=_positive_int, metavar="N",
                   help="llama.cpp -ub, physical batch: sizes the compute buffer (default 512)")
    e.add_argument("-np", "--parallel", type=_positive_int, metavar="N",
                   help="llama.cpp -np: sequences, another name for --batch (-c is then ctx × N)")
    e.add_argument("--kv-unified", action="store_true",
                   help="llama.cpp --kv-unified: one KV buffer shared by the -np sequences")
    e.add_argument("-fa", "--flash-attn", choices=FLASH_ATTN, metavar="on|off|auto",
                   help="llama.cpp flash attention (default auto; off with --attn eager)")
    e.add_argument("--overhead", action="append", default=[], metavar="NAME=SIZE",
                   help="override an overhead line: cuda_context, cublas_workspace, nccl, fragmentation")
    from .commands import add_speed_arguments

    add_speed_arguments(p, "infer")
    v = p.add_argument_group("inversions: what fits one GPU of --gpu-mem at this layout (exact)")
    v.add_argument("--max-context", action="store_true", help="the longest context for --batch sequences")
    v.add_argument("--max-batch", action="store_true", help="the most sequences of --ctx-size tokens")
    v.add_argument("--max-concurrency", action="store_true",
                   help="vLLM: the KV pool's concurrency at max_model_len --ctx-size")
    s = p.add_argument_group("seed rule of thumb (--method seed)")
    s.add_argument("--params", type=_positive_int, metavar="N", help="parameter count")
    s.add_argument("--activations", type=_size, metavar="SIZE", help="activations, e.g. 200MiB")
    s.add_argument("--input-data", type=_size, metavar="SIZE", help="input data, e.g. 50MiB")


def _add_measure(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="catalog name or HF id, config.json or model directory")
    p.add_argument("--mode", choices=("infer", "train"), default="infer", help="prefill or a training step")
    p.add_argument("--revision", help="Hub branch, tag or commit")
    p.add_argument("-b", "--batch", "--micro-batch", type=_positive_int, default=1, metavar="N")
    p.add_argument("-c", "--seq", "--ctx-size", type=_positive_int, metavar="N", help="tokens (default 2048)")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="bf16")
    p.add_argument("--attn", choices=("eager", "sdpa"), default="sdpa")
    p.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw", help="train: the optimizer")
    p.add_argument("--recompute", choices=("none", "full"), default="none",
                   help="train: full = gradient_checkpointing_enable()")
    p.add_argument("--lora-rank", type=_positive_int, metavar="R", help="train: LoRA adapters through peft")
    p.add_argument("--layers", type=_positive_int, metavar="L",
                   help="build only L layers (same shapes; per-layer terms scale exactly)")
    p.add_argument("--compare", action="store_true", help="llmsize's estimate beside the measurement")
    p.add_argument("--json", action="store_true")


def _add_train(p: argparse.ArgumentParser) -> None:
    from .commands.train import add_arguments

    add_arguments(p)


def _add_gpus(p: argparse.ArgumentParser) -> None:
    from .commands.gpus import add_arguments

    add_arguments(p)


def _add_plan(p: argparse.ArgumentParser) -> None:
    from .commands.plan import add_arguments

    add_arguments(p)


def cmd_plan(args: argparse.Namespace) -> int:
    from .commands import plan

    return plan.run(args)


def cmd_params(args: argparse.Namespace) -> int:
    from . import api, render
    from .commands import api_options, emit
    from .parameters import ParamReport

    result = api.params(args.source, **api_options(args, api.PARAMS_OPTIONS))
    if not isinstance(result, ParamReport):
        return emit(args, result, render.seed_table)

    def table(r: ParamReport) -> None:
        render.param_table(r, depth=args.depth)
        if r.seed is not None:
            render.seed_table(r.seed)
            render.side_by_side(r.seed, r)

    return emit(args, result, table)


def cmd_catalog(args: argparse.Namespace) -> int:
    from . import render
    from .parameters import count_params
    from .sources import catalog
    from .sources.hf_config import from_hf_config

    rows = []
    for e in catalog.search(args.filter):
        arch, warnings = from_hf_config(e.config, e.name)
        rows.append((e, count_params(arch, tuple(warnings))))
    if not rows:
        raise LlmsizeError(f"{args.filter}: no catalog model matches")
    if args.json:
        from .schemas import versioned

        print(json.dumps(versioned({"models": [
            {"name": e.name, "hf_id": e.hf_id, "model_type": e.model_type, "source": e.source,
             "total": r.total, "active_per_token": r.active_per_token}
            for e, r in rows
        ]}), indent=2))
    else:
        render.catalog_table(rows)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from . import api, render
    from .commands import api_options, emit

    result = api.inspect(args.source, **api_options(args, api.INSPECT_OPTIONS))

    def table(r: Any) -> None:
        render.inspect_table(r.weights, r.check, r.arch_line)
        if args.tensors:
            render.tensors_table(r.weights)

    return emit(args, result, table)


def cmd_infer(args: argparse.Namespace) -> int:
    from .commands import infer

    return infer.run(args)


def cmd_measure(args: argparse.Namespace) -> int:
    from .commands import measure

    return measure.run(args)


def cmd_train(args: argparse.Namespace) -> int:
    from .commands import train

    return train.run(args)


def cmd_gpus(args: argparse.Namespace) -> int:
    from .commands import gpus

    return gpus.run(args)


def cmd_summary(args: argparse.Namespace) -> int:
    from .commands import summary

    return summary.run(args)


def cmd_plot(args: argparse.Namespace) -> int:
    from .commands import plot

    return plot.run(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from .commands import serve

    return serve.run(args)


def _add_plot(p: argparse.ArgumentParser) -> None:
    from .commands.plot import add_arguments

    add_arguments(p)


def _add_serve(p: argparse.ArgumentParser) -> None:
    from .commands.serve import add_arguments

    add_arguments(p)


def cmd_schema(args: argparse.Namespace) -> int:
    from .schemas import command_schema, load

    print(json.dumps(command_schema(args.name) if args.name else load(), indent=2))
    return 0


# name -> (help line, the function that adds its flags), in the order ``llmsize --help`` lists them
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "params": ("exact parameter count with a breakdown", _add_params),
    "inspect": ("what a checkpoint holds, from its headers only", _add_inspect),
    "infer": ("memory to serve a model: weights, KV cache, activations, overhead", _add_infer),
    "train": ("memory to train or fine-tune a model, per GPU, at the step's peak", _add_train),
    "plan": ("what it needs: per GPU type the fewest GPUs and the layouts that fit", _add_plan),
    "measure": ("PyTorch's own peak of one real step on the CPU (llmsize[measure])", _add_measure),
    "summary": ("at a glance: parameters, weights and KV cache per precision", _add_summary),
    "catalog": ("list the bundled models with their parameter counts", _add_catalog),
    "gpus": ("list the GPU catalog: memory, bandwidth, dense TFLOPS, links, price", _add_gpus),
    "schema": ("the JSON schema of every --json output (draft 2020-12)", _add_schema),
    "plot": ("charts as SVG: breakdown, memory vs context or batch", _add_plot),
    "serve": ("a local web page and JSON API (llmsize[web])", _add_serve),
}

COMMANDS = {"params": cmd_params, "inspect": cmd_inspect, "catalog": cmd_catalog, "infer": cmd_infer,
            "train": cmd_train, "gpus": cmd_gpus, "summary": cmd_summary, "measure": cmd_measure,
            "schema": cmd_schema, "plan": cmd_plan, "plot": cmd_plot, "serve": cmd_serve}


def _summary_argv(argv: Sequence[str]) -> list[str]:
    """``llmsize SOURCE [--json]`` with no subcommand is the at-a-glance summary."""
    if not argv or argv[0].startswith("-") or argv[0] in COMMANDS:
        return list(argv)
    return ["summary", *argv]


def main(argv: Sequence[str] | None = None) -> int:
    global _json_errors
    argv = _summary_argv(sys.argv[1:] if argv is None else argv)
    _json_errors = "--json" in argv
    parser = build_parser(argv[0] if argv else "")
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        parser.error(f"unrecognized arguments: {argv[0]}")  # not "a command is required"
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except OptionError as e:
        return _fail("llmsize", e.for_cli())
    except LlmsizeError as e:
        return _fail("llmsize", str(e))
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
