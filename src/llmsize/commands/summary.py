"""``llmsize SOURCE``: what a newcomer asks first. Parameters, then weights and KV cache at the
model's default context for the common precisions (accelerate's table, with the KV cache, the
head and the quantization scales counted)."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import LlmsizeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..arch import Architecture

PRECISIONS = (  # (weight format, KV dtype, label)
    ("fp32", "fp32", "fp32"),
    ("bf16", "bf16", "bf16 / fp16"),
    ("fp8", "fp8", "fp8 (KV fp8)"),
    ("int8", "bf16", "int8 (LLM.int8)"),
    ("nf4-dq", "bf16", "nf4 + double quant (QLoRA)"),
    ("Q4_K_M", "fp16", "GGUF Q4_K_M (llama.cpp)"),
)


def rows(arch: Architecture, context: int) -> list[dict[str, object]]:
    from ..formats.dtypes import parse_format
    from ..formats.tensors import weights_bytes
    from ..inference.kvcache import KVRequest, kv_cache

    out = []
    for fmt, kv_dtype, label in PRECISIONS:
        base = "fp32" if fmt == "fp32" else "bf16"
        weights = weights_bytes(arch, parse_format(fmt), base=base).value
        encoder = context if arch.kind == "encoder-decoder" else 0  # cross-attention over the input
        kv = kv_cache(arch, KVRequest(context, kv_dtype=kv_dtype, encoder_tokens=encoder)).value
        out.append({"precision": label, "format": fmt, "weights_bytes": weights, "kv_dtype": kv_dtype,
                    "kv_cache_bytes": kv, "total_bytes": weights + kv})
    return out


def run(args: argparse.Namespace) -> int:
    from .. import render
    from ..parameters import count_params
    from ..sources.resolve import resolve

    found = resolve(args.source, revision=args.revision)
    for w in found.warnings:
        print(f"warning: {w}", file=sys.stderr)
    arch = found.arch
    if arch.kind != "decoder" and not args.ctx_size:
        context = min(arch.max_position, 512)
    else:
        context = args.ctx_size or arch.max_position
    if context < 1:
        raise LlmsizeError(f"{args.source}: no context length; give -c")
    params = count_params(arch, found.warnings)
    table = rows(arch, context)
    if args.json:
        from ..schemas import versioned

        print(json.dumps(versioned({"model": args.source, "parameters": params.total,
                                    "active_per_token": params.active_per_token, "context": context,
                                    "precisions": table}), indent=2))
    else:
        render.summary_table(args.source, params, context, table)
    return 0
