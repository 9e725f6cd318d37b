"""``llmsize train``: the flags, grouped as the issue lists them → ``api.train`` → a table or JSON."""

from __future__ import annotations

import argparse

from ..options import (
    ADAPTER_DTYPES,
    DEFAULT_SEQ,
    FSDP,
    LOOPS,
    OFFLOAD,
    OPTIM_DTYPES,
    OPTIM_IMPLS,
    OPTIMIZERS,
    RECIPES,
    RECOMPUTE,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``train`` subcommand's flags, grouped as the issue lists them."""
    from ..options import arg_positive_int as _positive_int
    from ..options import arg_probability
    from ..options import arg_size as _size

    p.add_argument("source", nargs="?", help="catalog name or HF id, config.json, model directory")
    p.add_argument("--revision", help="Hub branch, tag or commit (for a Hub id)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    w = p.add_argument_group("workload")
    w.add_argument("--seq", type=_positive_int, metavar="N",
                   help=f"tokens per sequence (default {DEFAULT_SEQ}, or the model's context)")
    w.add_argument("--micro-batch", type=_positive_int, default=1, metavar="N", help="sequences per GPU step")
    w.add_argument("--grad-accum", type=_positive_int, default=1, metavar="N",
                   help="micro-batches per optimizer step (gradients live across them)")
    from ..options import arg_natural

    w.add_argument("--images", type=arg_natural, default=0, metavar="N",
                   help="images per sequence for a model with a vision tower (default 0: a text-only step, "
                        "whose towers and cross-attention layers get no gradients or optimizer states)")
    r = p.add_argument_group("precision, optimizer, activations")
    r.add_argument("--recipe", choices=RECIPES, default="amp",
                   help="bytes per parameter: fp32 16, amp 16, pure-bf16 8, megatron 18, deepspeed 16")
    r.add_argument("--optimizer", default="adamw", choices=OPTIMIZERS)
    r.add_argument("--optim-dtype", choices=OPTIM_DTYPES,
                   help="optimizer state dtype (default: the recipe's)")
    r.add_argument("--optim-impl", choices=OPTIM_IMPLS, default="fused",
                   help="update kernel: its temporaries (default fused, HF Trainer's adamw_torch_fused)")
    r.add_argument("--recompute", choices=RECOMPUTE, default="none",
                   help="activation recomputation (full = gradient checkpointing)")
    r.add_argument("--attn", choices=("eager", "sdpa", "flash"), default="flash", help="attention kernel")
    r.add_argument("--loop", choices=LOOPS, default="trainer", help="what the logits cost: trainer (HF "
                   "Trainer, default), plain (outputs kept through backward), fused-ce (Liger fused CE)")
    lo = p.add_argument_group("LoRA / QLoRA")
    lo.add_argument("--lora-rank", type=_positive_int, metavar="R", help="train LoRA adapters of rank R")
    lo.add_argument("--lora-targets", metavar="LIST", help="q,k,v,o,gate,up,down or all-linear "
                    "(default q,v; all-linear with --qlora)")
    lo.add_argument("--qlora", action="store_true", help="frozen base in NF4 with double quantization")
    lo.add_argument("--lora-dropout", type=arg_probability, metavar="P",
                    help="peft lora_dropout (default 0): a mask and a dropped copy of each adapter's input")
    lo.add_argument("--adapter-dtype", choices=ADAPTER_DTYPES, help="adapters' dtype (default fp32, peft's "
                    "autocast_adapter_dtype=True; bf16/fp16: autocast_adapter_dtype=False)")
    lo.add_argument("--no-double-quant", dest="double_quant", action="store_false", default=None,
                    help="QLoRA without bnb_4bit_use_double_quant (fp32 absmax per 64 weights)")
    lo.add_argument("--bnb-version", metavar="X.Y.Z", help="bitsandbytes version of a QLoRA run (default "
                    "current); before 0.43.2 each 4-bit layer keeps its input for backward")
    g = p.add_argument_group("parallelism (per-GPU result)")
    g.add_argument("--zero", type=int, choices=(0, 1, 2, 3), default=0, help="DeepSpeed ZeRO stage")
    g.add_argument("--fsdp", choices=FSDP, default="none", help="PyTorch FSDP sharding")
    g.add_argument("--offload", choices=OFFLOAD, default="none", help="CPU offload (ZeRO/FSDP)")
    for flag, hint in (("--dp", "data parallel"), ("--tp", "tensor parallel"), ("--pp", "pipeline stages"),
                       ("--vpp", "virtual stages per pipeline rank"), ("--ep", "expert parallel"),
                       ("--cp", "context parallel")):
        g.add_argument(flag, type=_positive_int, metavar="N", help=hint + " (default 1)")
    g.add_argument("--sp", action="store_true", help="sequence parallelism (with --tp)")
    h = p.add_argument_group("hardware (the fit verdict)")
    h.add_argument("--gpu", metavar="NAME[:COUNT]",
                   help="the GPU to judge the fit on (llmsize gpus); COUNT sets --dp when no degree is given "
                   "(else it must equal dp × tp × pp × cp); default h100-sxm")
    h.add_argument("--gpu-mem", type=_size, metavar="SIZE", help="memory of one GPU, replacing --gpu's")
    h.add_argument("--host-mem", type=_size, metavar="SIZE", help="host RAM per GPU process for --offload")
    p.add_argument("--overhead", action="append", default=[], metavar="NAME=SIZE",
                   help="override an overhead line: cuda_context, cublas_workspace, nccl, fragmentation")
    from . import add_speed_arguments

    add_speed_arguments(p, "train")


def run(args: argparse.Namespace) -> int:
    from .. import api, render
    from . import api_options, emit

    result = api.train(args.source, **api_options(args, api.TRAIN_OPTIONS))
    return emit(args, result, lambda r: render.train_table(r, explain=args.explain))
