"""``llmsize infer``: resolve the source, build the spec, run the engine profile, render."""

from __future__ import annotations

import argparse
import json

from ..inference.engines import estimate
from ..inference.estimate import InferenceReport, InferenceSpec
from . import open_for

LLAMACPP_DEFAULT_CTX = 4096  # llama.cpp's default -c (common/common.h, n_ctx = 4096)


def spec_from(args: argparse.Namespace, context: int) -> InferenceSpec:
    return InferenceSpec(
        context=context, batch=args.batch, new_tokens=args.new_tokens, dtype=args.dtype, quant=args.quant,
        kv_dtype=args.kv_dtype, attn=args.attn, engine=args.engine, tp=args.tp, pp=args.pp,
        logits=args.logits, chunk=args.chunk, overrides=tuple(args.overhead), gpu_mem=args.gpu_mem,
        gpu_util=args.gpu_util, max_num_seqs=args.max_num_seqs,
        max_num_batched_tokens=args.max_num_batched_tokens, n_gpu_layers=args.n_gpu_layers,
    )


def run(args: argparse.Namespace) -> int:
    from .. import render

    if args.method == "seed":
        return _seed(args)
    found = open_for(args, "infer")
    arch = found.arch
    default = LLAMACPP_DEFAULT_CTX if args.engine == "llamacpp" else arch.max_position
    spec = spec_from(args, args.ctx_size or default)
    report = estimate(arch, spec, name=args.source, checkpoint=found.checkpoint, config=found.config)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        render.inference_table(report)
    return 0


def _seed(args: argparse.Namespace) -> int:
    """The blog's rule of thumb; without --params/--activations/--input-data, llmsize's own
    count, prefill workspace and token ids fill them in, and the full estimate is shown beside."""
    from .. import render
    from ..schemas import nested
    from ..seed import seed_memory

    bits = {"fp32": 32, "fp16": 16, "bf16": 16}[args.dtype]
    given = tuple(k for k in ("params", "activations", "input_data") if getattr(args, k) is not None)
    report: InferenceReport | None = None
    if len(given) < 3 or args.source:
        found = open_for(args, "infer")
        spec = spec_from(args, args.ctx_size or found.arch.max_position)
        report = estimate(found.arch, spec, name=args.source, checkpoint=None, config=found.config)
    params, activations = args.params, args.activations
    if report is not None:  # None only when all three are given without a SOURCE
        counted = report.extra["parameters"]
        assert isinstance(counted, int)
        params = params or counted
        activations = activations if activations is not None else report.part("activations")
    tokens = args.batch * (args.ctx_size or (report.spec.context if report else 0))
    input_data = args.input_data if args.input_data is not None else tokens * 8  # int64 token ids
    seed = seed_memory(params, bits=bits, activations=activations, input_data=input_data, given=given)
    if args.json:
        out = seed.to_dict()
        if report:
            out["estimate"] = nested(report.to_dict())
        print(json.dumps(out, indent=2))
    else:
        render.seed_memory_table(seed, report)
    return 0
