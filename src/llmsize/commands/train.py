"""``llmsize train``: resolve the source, build the training spec, estimate the step, render."""

from __future__ import annotations

import argparse
import json

from ..errors import LlmsizeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..training.estimate import TrainSpec

DEFAULT_SEQ = 4096  # capped at the model's context
QLORA_RANK, LORA_RANK = 64, 8  # QLoRA (Dettmers et al. 2023 §4: r = 64 on all linears); peft's default r
FSDP = {"none": "none", "full": "full_shard", "shard-grad-op": "shard_grad_op", "hybrid": "hybrid_shard"}
OFFLOAD = {"none": "none", "optimizer": "optimizer", "params": "parameters"}
STATE_BITS = {"fp32": 32, "bf16": 16, "fp16": 16}


def add_parser(sub: Any) -> None:
    """The ``train`` subcommand and its flags, grouped as the issue lists them."""
    from ..options import arg_positive_int as _positive_int

    p = sub.add_parser("train", help="memory to train or fine-tune a model, per GPU, at the step's peak")
    p.add_argument("source", nargs="?", help="catalog name or HF id, config.json, model directory")
    p.add_argument("--revision", help="Hub branch, tag or commit (for a Hub id)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    w = p.add_argument_group("workload")
    w.add_argument("--seq", type=_positive_int, metavar="N",
                   help=f"tokens per sequence (default {DEFAULT_SEQ}, or the model's context)")
    w.add_argument("--micro-batch", type=_positive_int, default=1, metavar="N", help="sequences per GPU step")
    w.add_argument("--grad-accum", type=_positive_int, default=1, metavar="N",
                   help="micro-batches per optimizer step (gradients live across them)")
    r = p.add_argument_group("precision, optimizer, activations")
    r.add_argument("--recipe", choices=("fp32", "amp", "pure-bf16", "megatron", "deepspeed"), default="amp",
                   help="bytes per parameter: fp32 16, amp 16, pure-bf16 8, megatron 18, deepspeed 16")
    r.add_argument("--optimizer", default="adamw", choices=("adamw", "adam-8bit", "paged-adamw", "sgd",
                   "sgd-momentum", "adafactor", "lion", "muon"))
    r.add_argument("--optim-dtype", choices=tuple(STATE_BITS),
                   help="optimizer state dtype (default: the recipe's)")
    r.add_argument("--optim-impl", choices=("fused", "foreach", "for-loop"), default="fused",
                   help="update kernel: its temporaries (default fused, HF Trainer's adamw_torch_fused)")
    r.add_argument("--recompute", choices=("none", "selective", "full"), default="none",
                   help="activation recomputation (full = gradient checkpointing)")
    r.add_argument("--attn", choices=("eager", "sdpa", "flash"), default="flash", help="attention kernel")
    lo = p.add_argument_group("LoRA / QLoRA")
    lo.add_argument("--lora-rank", type=_positive_int, metavar="R", help="train LoRA adapters of rank R")
    lo.add_argument("--lora-targets", metavar="LIST", help="q,k,v,o,gate,up,down or all-linear "
                    "(default q,v; all-linear with --qlora)")
    lo.add_argument("--qlora", action="store_true", help="frozen base in NF4 with double quantization")
    g = p.add_argument_group("parallelism (per-GPU result)")
    g.add_argument("--zero", type=int, choices=(0, 1, 2, 3), default=0, help="DeepSpeed ZeRO stage")
    g.add_argument("--fsdp", choices=tuple(FSDP), default="none", help="PyTorch FSDP sharding")
    g.add_argument("--offload", choices=tuple(OFFLOAD), default="none", help="CPU offload (ZeRO/FSDP)")
    for flag, hint in (("--dp", "data parallel"), ("--tp", "tensor parallel"), ("--pp", "pipeline stages"),
                       ("--vpp", "virtual stages per pipeline rank"), ("--ep", "expert parallel"),
                       ("--cp", "context parallel")):
        g.add_argument(flag, type=_positive_int, default=1, metavar="N", help=hint)
    g.add_argument("--sp", action="store_true", help="sequence parallelism (with --tp)")
    p.add_argument("--overhead", action="append", default=[], metavar="NAME=SIZE",
                   help="override an overhead line: cuda_context, cublas_workspace, nccl, fragmentation")


def _parallel(args: argparse.Namespace) -> Any:
    from ..layout import FsdpStrategy, Layout, Offload, ZeroStage

    return Layout(dp=args.dp, tp=args.tp, sp=args.sp, pp=args.pp, vpp=args.vpp, ep=args.ep, cp=args.cp,
                        zero=ZeroStage(args.zero), fsdp=FsdpStrategy(FSDP[args.fsdp]),
                        offload=Offload(OFFLOAD[args.offload]))


def _lora(args: argparse.Namespace) -> Any:
    from ..training.lora import LoraSpec, parse_targets

    if not (args.lora_rank or args.qlora):
        if args.lora_targets:
            raise LlmsizeError("--lora-targets needs --lora-rank or --qlora")
        return None
    default = "all-linear" if args.qlora else "q,v"
    rank = args.lora_rank or (QLORA_RANK if args.qlora else LORA_RANK)
    return LoraSpec(rank=rank, targets=parse_targets(args.lora_targets or default),
                    base="nf4-dq" if args.qlora else "bf16")


def spec_from(args: argparse.Namespace, config: dict[str, object] | None, max_position: int) -> TrainSpec:
    from ..training.activations import Dropout, dropout_from_config
    from ..training.estimate import Recipe, TrainSpec
    from ..training.optimizers import Optimizer, StepKernel

    return TrainSpec(
        seq=args.seq or min(DEFAULT_SEQ, max_position), micro_batch=args.micro_batch,
        grad_accum=args.grad_accum,
        recipe=Recipe(args.recipe), optimizer=Optimizer(args.optimizer),
        optim_bits=STATE_BITS[args.optim_dtype] if args.optim_dtype else None,
        step_kernel=StepKernel(args.optim_impl), recompute=args.recompute, attn=args.attn, lora=_lora(args),
        layout=_parallel(args), dropout=dropout_from_config(config) if config else Dropout(),
        overrides=tuple(args.overhead),
    )


def run(args: argparse.Namespace) -> int:
    from .. import render
    from ..training.estimate import estimate_training
    from . import open_for

    found = open_for(args, "train")
    spec = spec_from(args, found.config, found.arch.max_position)
    report = estimate_training(found.arch, spec, name=args.source)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        render.train_table(report)
    return 0
