"""The options of each command, and the defaults the commands share.

A table maps each option to (default, check), named like the CLI's flag in snake_case
(``--ctx-size`` → ``ctx_size``) with the same default; ``checks.checked`` applies it to the
keywords given, and the CLI and the web page build their flags and forms from it.
"""

from __future__ import annotations

from functools import partial

from .. import limits as lim
from .. import options as o
from .checks import flag, fsdp, gpu_spec, kv_dtype, nonempty_text, offload, overhead, price, quant, zero

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .checks import Check

LLAMACPP_DEFAULT_CTX = 4096  # llama.cpp's default -c (common/common.h, n_ctx = 4096)
QLORA_RANK, LORA_RANK = 64, 8  # QLoRA (Dettmers et al. 2023 §4: r = 64 on all linears); peft's default r
STATE_BITS = {"fp32": 32, "bf16": 16, "fp16": 16}
DEFAULT_GPU = "h100-sxm"  # when neither gpu nor gpu_mem is given; the verdict says so


def _choice(allowed: tuple[str, ...]) -> Check:
    return partial(o.choice, allowed=allowed)


def _up_to(maximum: int) -> Check:
    """An optional integer in 1..maximum (a plausibility limit, ``limits.py``)."""
    return o.optional(o.bounded(maximum))


_opt_size, _opt_text = o.optional(o.size), o.optional(nonempty_text)
_tokens, _seqs, _degree = _up_to(lim.MAX_CONTEXT), _up_to(lim.MAX_BATCH), o.bounded(lim.MAX_DEGREE)
_ARCH: dict[str, tuple[object, Check]] = {
    "hidden_size": (None, _up_to(lim.MAX_WIDTH)), "num_layers": (None, _up_to(lim.MAX_LAYERS)),
    "num_heads": (None, _up_to(lim.MAX_HEADS)), "num_kv_heads": (None, _up_to(lim.MAX_HEADS)),
    "head_dim": (None, _up_to(lim.MAX_WIDTH)), "intermediate_size": (None, _up_to(lim.MAX_WIDTH)),
    "vocab_size": (None, _up_to(lim.MAX_VOCAB)), "max_position": (None, _up_to(lim.MAX_CONTEXT)),
    "tie_embeddings": (None, o.optional(flag)), "gated_mlp": (None, o.optional(flag)),
    "family": (None, _opt_text),
}
PARAMS_OPTIONS: dict[str, tuple[object, Check]] = {
    "method": ("exact", _choice(o.PARAMS_METHODS)), "params": (None, _up_to(lim.MAX_PARAMS)),
    "revision": (None, _opt_text), **_ARCH,
}
INFER_OPTIONS: dict[str, tuple[object, Check]] = {
    "ctx_size": (None, _tokens), "batch": (1, o.bounded(lim.MAX_BATCH)),
    "new_tokens": (0, o.bounded(lim.MAX_CONTEXT, minimum=0)), "logits": ("last", _choice(o.LOGITS)),
    "chunk": (None, _tokens), "images": (0, o.bounded(lim.MAX_BATCH, minimum=0)),
    "dtype": ("bf16", _choice(o.DTYPES)), "quant": (None, o.optional(quant)),
    "kv_dtype": (None, o.optional(kv_dtype)), "attn": ("sdpa", _choice(o.ATTN)),
    "engine": ("hf", _choice(o.ENGINES)), "tp": (1, _degree), "pp": (1, _degree),
    "gpu_mem": (None, o.optional(o.positive_size)), "gpu_util": (0.9, o.fraction),
    "max_num_seqs": (None, _seqs), "max_num_batched_tokens": (None, _tokens),
    "gpu": (None, o.optional(gpu_spec)), "host_mem": (None, _opt_size),
    "n_gpu_layers": (None, o.optional(partial(o.integer, minimum=0))), "overhead": ((), overhead),
    # engine flags: vLLM's sampler, release and custom all-reduce; llama.cpp's -b, -ub, -np (its name
    # for batch), --kv-unified, -fa
    "sampler": ("torch", _choice(o.SAMPLERS)), "vllm_version": ("0.11.0", _choice(o.VLLM_VERSIONS)),
    "custom_all_reduce": (True, flag), "batch_size": (2048, _tokens), "ubatch_size": (512, _tokens),
    "parallel": (None, _seqs), "kv_unified": (False, flag),
    "flash_attn": (None, o.optional(_choice(o.FLASH_ATTN))),
    "method": ("estimate", _choice(o.INFER_METHODS)), "params": (None, _up_to(lim.MAX_PARAMS)),
    "activations": (None, _opt_size), "input_data": (None, _opt_size), "revision": (None, _opt_text),
    # the inversions (plan/limits.py): ask for any of them and the result is an InferenceLimits
    "max_context": (False, flag), "max_batch": (False, flag), "max_concurrency": (False, flag),
    # speed on the GPU given (perf/setting.py): the request, the requests served together, the price
    "input_len": (None, _tokens), "output_len": (None, _tokens), "concurrency": (None, _seqs),
    "price": ((), price), "mfu": (None, o.optional(o.fraction)),
}
TRAIN_OPTIONS: dict[str, tuple[object, Check]] = {
    "seq": (None, _tokens), "micro_batch": (1, o.bounded(lim.MAX_BATCH)),
    "grad_accum": (1, o.bounded(lim.MAX_BATCH)), "images": (0, o.bounded(lim.MAX_BATCH, minimum=0)),
    "recipe": ("amp", _choice(o.RECIPES)), "optimizer": ("adamw", _choice(o.OPTIMIZERS)),
    "optim_dtype": (None, o.optional(_choice(o.OPTIM_DTYPES))),
    "optim_impl": ("fused", _choice(o.OPTIM_IMPLS)), "recompute": ("none", _choice(o.RECOMPUTE)),
    "attn": ("flash", _choice(o.ATTN)), "lora_rank": (None, _up_to(lim.MAX_WIDTH)),
    "lora_targets": (None, _opt_text), "qlora": (False, flag),
    "lora_dropout": (0.0, o.probability), "adapter_dtype": ("fp32", _choice(o.ADAPTER_DTYPES)),
    "double_quant": (True, flag), "bnb_version": (None, _opt_text), "loop": ("trainer", _choice(o.LOOPS)),
    "zero": (0, zero), "fsdp": ("none", fsdp), "offload": ("none", offload),
    **{k: (1, _degree) for k in ("dp", "tp", "pp", "vpp", "ep", "cp")},
    "sp": (False, flag), "overhead": ((), overhead), "revision": (None, _opt_text),
    "gpu": (None, o.optional(gpu_spec)), "gpu_mem": (None, _opt_size), "host_mem": (None, _opt_size),
    # speed on the GPU given (perf/setting.py): tokens of the whole run, the price, the MFU
    "tokens": (None, o.optional(o.token_count)), "price": ((), price), "mfu": (None, o.optional(o.fraction)),
}
SPEED_OPTIONS = {"infer": ("input_len", "output_len", "concurrency", "price", "mfu"),
                 "train": ("tokens", "price", "mfu")}
INSPECT_OPTIONS: dict[str, tuple[object, Check]] = {"revision": (None, _opt_text), "tensors": (False, flag)}
PLAN_MODES = ("serve", "train", "finetune")
FINETUNE_LORA_RANK = 16  # plan --finetune: LoRA r = 16 on every linear layer, bf16 frozen base
PLAN_OPTIONS: dict[str, tuple[object, Check]] = {
    "mode": ("serve", _choice(PLAN_MODES)), "gpu": (None, _opt_text), "gpu_mem": (None, _opt_size),
    "max_gpus": (None, _up_to(lim.MAX_DEGREE)),
    "host_mem": (None, _opt_size), "keep": (5, o.positive_int), "revision": (None, _opt_text),
    # serve
    "ctx_size": (None, _tokens), "batch": (1, o.bounded(lim.MAX_BATCH)),
    "engine": ("vllm", _choice(o.ENGINES)), "images": (0, o.bounded(lim.MAX_BATCH, minimum=0)),
    "dtype": ("bf16", _choice(o.DTYPES)), "quant": (None, o.optional(quant)),
    "kv_dtype": (None, o.optional(kv_dtype)), "gpu_util": (0.9, o.fraction),
    # train / finetune; a layout option given is pinned, the others are searched
    "seq": (None, _tokens), "micro_batch": (1, o.bounded(lim.MAX_BATCH)),
    "grad_accum": (1, o.bounded(lim.MAX_BATCH)),
    "recipe": ("amp", _choice(o.RECIPES)), "optimizer": ("adamw", _choice(o.OPTIMIZERS)),
    "lora_rank": (None, _up_to(lim.MAX_WIDTH)), "lora_targets": (None, _opt_text), "qlora": (False, flag),
    "attn": ("flash", _choice(o.ATTN)), "recompute": (None, o.optional(_choice(o.RECOMPUTE))),
    **{k: (None, _up_to(lim.MAX_DEGREE)) for k in ("tp", "pp", "cp", "ep")},
    "zero": (None, o.optional(zero)), "fsdp": (None, o.optional(fsdp)),
    "offload": (None, o.optional(offload)),
}
MAX_GPUS = {"serve": 64, "train": 16384, "finetune": 16384}
PLAN_OPTIONS.update({  # speed and cost of every layout (plan/speed.py)
    "input_len": (None, _tokens), "output_len": (None, _tokens), "concurrency": (None, _seqs),
    "tokens": (None, o.optional(o.token_count)), "price": ((), price), "mfu": (None, o.optional(o.fraction)),
    "rank": (None, o.optional(_choice(tuple(dict.fromkeys(("cost", "tpot", "e2e", "throughput", "time",
                                                            "memory")))))),
})

# Options only one engine has: vLLM's scheduler, budget, sampler, release and custom all-reduce,
# llama.cpp's layer offload and its -b, -ub, -np, --kv-unified and -fa.
ENGINE_ONLY = {"gpu_util": "vllm", "max_num_seqs": "vllm", "max_num_batched_tokens": "vllm",
               "sampler": "vllm", "vllm_version": "vllm", "custom_all_reduce": "vllm",
               "n_gpu_layers": "llamacpp", "batch_size": "llamacpp",
               "ubatch_size": "llamacpp", "parallel": "llamacpp", "kv_unified": "llamacpp",
               "flash_attn": "llamacpp"}
ENGINE_FLAGS = ("sampler", "vllm_version", "custom_all_reduce", "batch_size", "ubatch_size", "parallel",
                "kv_unified", "flash_attn")
