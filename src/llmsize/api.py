"""The Python API: ``params``, ``infer``, ``train`` and ``inspect``, the four questions the CLI asks.

Each takes a SOURCE (catalog name, HF id, config.json, model directory or checkpoint) and the
CLI's options as keywords, named like the flags in snake_case (``--ctx-size`` → ``ctx_size``)
with the same defaults::

    import llmsize
    r = llmsize.infer("llama-3.1-8b", ctx_size=8192, engine="vllm", gpu_mem="80GiB")
    r.total_bytes, r.to_dict()   # the dict is the CLI's --json document

Every value is checked first (``options.py``): a bad choice, size or count, or an unknown keyword,
raises ``LlmsizeError`` with a one-line message that names the option and the value. Results are
frozen dataclasses (``ParamReport``, ``InferenceReport``, ``TrainReport``, ``InspectReport``).
What the CLI prints as ``warning:`` lines on stderr (a config key that could change the size, a
checkpoint without a config) the API keeps on the result, in ``result.warnings``; they are not
part of ``to_dict()``, as they are not part of ``--json``.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from . import limits as lim
from . import options as o
from .errors import LlmsizeError, shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from .arch import Architecture
    from .formats.checkpoint_report import InspectReport
    from .inference.estimate import InferenceReport
    from .layout import FsdpStrategy, Offload, ZeroStage
    from .parameters import ParamReport
    from .seed import SeedMemory, SeedReport
    from .sources.resolve import Resolved
    from .training.estimate import TrainReport

    Check = Callable[[str, Any], Any]

LLAMACPP_DEFAULT_CTX = 4096  # llama.cpp's default -c (common/common.h, n_ctx = 4096)
QLORA_RANK, LORA_RANK = 64, 8  # QLoRA (Dettmers et al. 2023 §4: r = 64 on all linears); peft's default r
STATE_BITS = {"fp32": 32, "bf16": 16, "fp16": 16}


def _text(option: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise o.OptionError(option, f"{shown(value, 40)} is not a non-empty string")
    return value


def _flag(option: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise o.OptionError(option, f"{value!r} is not True or False")
    return value


def _quant(option: str, value: object) -> str:
    from .formats.dtypes import parse_format

    text = _text(option, value)
    try:
        parse_format(text)
    except LlmsizeError as e:
        raise o.OptionError(option, str(e)) from None
    return text


def _kv_dtype(option: str, value: object) -> str:
    from .inference.kvcache import KV_FORMATS, kv_format

    text = _text(option, value)
    try:
        kv_format(text)
    except LlmsizeError:
        raise o.OptionError(option, f"{shown(value, 40)} is not a KV cache dtype; choose from "
                                    f"{', '.join(KV_FORMATS)}") from None
    return text


def _zero(option: str, value: object) -> ZeroStage:
    from .layout import ZeroStage  # imported on use, as inference/ and training/ are: params never needs it

    return o.enum_option(option, value, enum=ZeroStage)


def _fsdp(option: str, value: object) -> FsdpStrategy:
    from .layout import FSDP_ALIASES, FsdpStrategy

    return o.enum_option(option, value, enum=FsdpStrategy, aliases=FSDP_ALIASES)


def _offload(option: str, value: object) -> Offload:
    from .layout import OFFLOAD_ALIASES, Offload

    return o.enum_option(option, value, enum=Offload, aliases=OFFLOAD_ALIASES)


def _overhead(option: str, value: object) -> tuple[str, ...]:
    """``{"nccl": "0", "cuda_context": 600 * MiB}`` or ``["nccl=0", …]`` → ("name=size", …)."""
    from .inference.overhead import NAMES

    pairs = [f"{k}={v}" for k, v in value.items()] if isinstance(value, dict) else value
    if isinstance(pairs, str) or not isinstance(pairs, (list, tuple)):
        raise o.OptionError(option, f"{value!r} is not a mapping of NAME to SIZE")
    for pair in pairs:
        name, _, amount = str(pair).partition("=")
        if name not in NAMES or not amount:
            raise o.OptionError(option, f"{shown(pair, 40)}: expected NAME=SIZE with NAME one of "
                                        f"{', '.join(NAMES)}")
        o.size(option, amount if not amount.isdigit() else int(amount))
    return tuple(str(p) for p in pairs)


def _options(command: str, given: Mapping[str, object], table: Mapping[str, tuple[object, Check]]
             ) -> dict[str, Any]:
    """The options of ``command``: each given one checked, the others (and any given as None,
    as an absent flag is) at their defaults."""
    unknown = [k for k in given if k not in table]
    if unknown:
        from difflib import get_close_matches

        close = get_close_matches(unknown[0], list(table), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"options: {', '.join(table)}"
        raise LlmsizeError(f"{command}: unknown option {shown(unknown[0], 40)}; {hint}")
    out = {}
    for name, (default, check) in table.items():
        value = given.get(name)
        value = default if value is None else value
        out[name] = None if value is None else check(name, value)
    return out


def _choice(allowed: tuple[str, ...]) -> Check:
    return partial(o.choice, allowed=allowed)


def _up_to(maximum: int) -> Check:
    """An optional integer in 1..maximum (a plausibility limit, ``limits.py``)."""
    return o.optional(o.bounded(maximum))


_opt_size, _opt_text = o.optional(o.size), o.optional(_text)
_tokens, _seqs, _degree = _up_to(lim.MAX_CONTEXT), _up_to(lim.MAX_BATCH), o.bounded(lim.MAX_DEGREE)
_ARCH: dict[str, tuple[object, Check]] = {
    "hidden_size": (None, _up_to(lim.MAX_WIDTH)), "num_layers": (None, _up_to(lim.MAX_LAYERS)),
    "num_heads": (None, _up_to(lim.MAX_HEADS)), "num_kv_heads": (None, _up_to(lim.MAX_HEADS)),
    "head_dim": (None, _up_to(lim.MAX_WIDTH)), "intermediate_size": (None, _up_to(lim.MAX_WIDTH)),
    "vocab_size": (None, _up_to(lim.MAX_VOCAB)), "max_position": (None, _up_to(lim.MAX_CONTEXT)),
    "tie_embeddings": (None, o.optional(_flag)), "gated_mlp": (None, o.optional(_flag)),
}
PARAMS_OPTIONS: dict[str, tuple[object, Check]] = {
    "method": ("exact", _choice(o.PARAMS_METHODS)), "params": (None, _up_to(lim.MAX_PARAMS)),
    "revision": (None, _opt_text), **_ARCH,
}
INFER_OPTIONS: dict[str, tuple[object, Check]] = {
    "ctx_size": (None, _tokens), "batch": (1, o.bounded(lim.MAX_BATCH)),
    "new_tokens": (0, o.bounded(lim.MAX_CONTEXT, minimum=0)), "logits": ("last", _choice(o.LOGITS)),
    "chunk": (None, _tokens), "dtype": ("bf16", _choice(o.DTYPES)), "quant": (None, o.optional(_quant)),
    "kv_dtype": (None, o.optional(_kv_dtype)), "attn": ("sdpa", _choice(o.ATTN)),
    "engine": ("hf", _choice(o.ENGINES)), "tp": (1, _degree), "pp": (1, _degree),
    "gpu_mem": (None, o.optional(o.positive_size)), "gpu_util": (0.9, o.fraction),
    "max_num_seqs": (None, _seqs), "max_num_batched_tokens": (None, _tokens),
    "n_gpu_layers": (None, o.optional(partial(o.integer, minimum=0))), "overhead": ((), _overhead),
    "method": ("estimate", _choice(o.INFER_METHODS)), "params": (None, _up_to(lim.MAX_PARAMS)),
    "activations": (None, _opt_size), "input_data": (None, _opt_size), "revision": (None, _opt_text),
}
TRAIN_OPTIONS: dict[str, tuple[object, Check]] = {
    "seq": (None, _tokens), "micro_batch": (1, o.bounded(lim.MAX_BATCH)),
    "grad_accum": (1, o.bounded(lim.MAX_BATCH)),
    "recipe": ("amp", _choice(o.RECIPES)), "optimizer": ("adamw", _choice(o.OPTIMIZERS)),
    "optim_dtype": (None, o.optional(_choice(o.OPTIM_DTYPES))),
    "optim_impl": ("fused", _choice(o.OPTIM_IMPLS)), "recompute": ("none", _choice(o.RECOMPUTE)),
    "attn": ("flash", _choice(o.ATTN)), "lora_rank": (None, _up_to(lim.MAX_WIDTH)),
    "lora_targets": (None, _opt_text), "qlora": (False, _flag),
    "zero": (0, _zero), "fsdp": ("none", _fsdp), "offload": ("none", _offload),
    **{k: (1, _degree) for k in ("dp", "tp", "pp", "vpp", "ep", "cp")},
    "sp": (False, _flag), "overhead": ((), _overhead), "revision": (None, _opt_text),
}
INSPECT_OPTIONS: dict[str, tuple[object, Check]] = {"revision": (None, _opt_text), "tensors": (False, _flag)}


def _open(source: str | None, command: str, revision: str | None, *,
          reader: Callable[..., Resolved] | None = None) -> tuple[Resolved, Architecture]:
    """The SOURCE of ``infer`` / ``train`` (a checkpoint's headers read too), and its architecture."""
    from .sources.resolve import open_source

    if not source:
        raise LlmsizeError(f"{command}: give a SOURCE (catalog name, HF id, config.json, model directory"
                           " or checkpoint)")
    found = (reader or open_source)(_text("source", source), revision=revision)
    if found.arch is None:
        raise LlmsizeError(f"{source}: no config.json or GGUF metadata to size the model from")
    return found, found.arch


# --- params ---------------------------------------------------------------------------------


def params(source: str | None = None, **options: Any) -> ParamReport | SeedReport:
    """The exact parameter count of SOURCE, or of the architecture the overrides describe
    (``hidden_size``, ``num_layers``, ``num_heads``, ``vocab_size``, …: a GPT-2-style decoder);
    ``method="seed"`` gives the blog's simplified formulas, ``params=N`` its byte sizing of N."""
    from .parameters import count_params
    from .sources.explicit import OVERRIDES, from_hyperparameters, override

    opts = _options("params", options, PARAMS_OPTIONS)
    values = {k: opts[k] for k in OVERRIDES if opts[k] is not None}
    if opts["params"] is not None:
        from .seed import seed_from_params

        return seed_from_params(opts["params"])
    warnings: tuple[str, ...] = ()
    if source:
        from .sources.resolve import resolve

        resolved, base = _open(source, "params", opts["revision"], reader=resolve)
        arch, warnings = override(base, values), resolved.warnings
    else:
        missing = [k for k in ("hidden_size", "num_layers", "num_heads", "vocab_size") if k not in values]
        if missing:
            problem = f"params: give a SOURCE, or the hyperparameters {', '.join(missing)}"
            raise o.OptionError(missing[0], problem, mentions=missing, prefix=False)
        arch = from_hyperparameters(values)
    if opts["method"] == "seed":
        return replace(_seed(arch), warnings=warnings)
    exact = count_params(arch, warnings)
    return exact if source else replace(exact, seed=_seed(arch))


def _seed(arch: Architecture) -> SeedReport:
    """The blog's count of ``arch``'s GPT-2-style core (imported here: a SOURCE's exact count
    does not show it)."""
    from .seed import seed_count

    return seed_count(d_model=arch.d_model, n_layers=arch.n_layers, n_heads=arch.n_heads,
                      vocab_size=arch.vocab_size)


# --- infer ----------------------------------------------------------------------------------


def infer(source: str | None, **options: Any) -> InferenceReport | SeedMemory:
    """Memory to serve SOURCE per GPU: weights, KV cache, activations and overhead, as the engine
    profile ``engine`` (hf, vllm, llamacpp) sizes them; ``method="seed"`` the blog's rule."""
    from .inference.engines import estimate

    opts = _options("infer", options, INFER_OPTIONS)
    _engine_has(opts, {k for k, v in options.items() if v is not None})
    if opts["method"] == "seed":
        return _seed_memory(source, opts)
    found, arch = _open(source, "infer", opts["revision"])
    default = LLAMACPP_DEFAULT_CTX if opts["engine"] == "llamacpp" else arch.max_position
    spec = _inference_spec(opts, opts["ctx_size"] or default)
    report = estimate(arch, spec, name=str(source), checkpoint=found.checkpoint, config=found.config)
    return replace(report, warnings=found.warnings + _clamped_layers(opts, arch))


# Options only one engine has: vLLM's scheduler and budget, llama.cpp's layer offload.
ENGINE_ONLY = {"gpu_util": "vllm", "max_num_seqs": "vllm", "max_num_batched_tokens": "vllm",
               "n_gpu_layers": "llamacpp"}


def _engine_has(opts: dict[str, Any], given: set[str]) -> None:
    """Refuse an option the chosen engine does not have, rather than ignore it."""
    engine = opts["engine"]
    for name in sorted(given):
        if ENGINE_ONLY.get(name, engine) != engine:
            raise o.OptionError(name, f"is an option of --engine {ENGINE_ONLY[name]}, not of {engine}",
                                mentions=("engine",))
    if engine == "llamacpp":
        for name in ("tp", "pp"):
            if opts[name] > 1:
                raise o.OptionError(name, f"{opts[name]}: llama.cpp has no tensor or pipeline parallelism "
                                          "(it splits layers between GPU and host with n_gpu_layers)",
                                    mentions=("n_gpu_layers",))
        if opts["quant"]:
            from .formats.dtypes import parse_format

            if parse_format(opts["quant"]).kind not in ("gguf", "float"):
                raise o.OptionError("quant", f"{shown(opts['quant'], 40)} is not a format llama.cpp runs; "
                                             "give a GGUF type such as Q4_K_M or Q8_0")


def _clamped_layers(opts: dict[str, Any], arch: Architecture) -> tuple[str, ...]:
    """llama.cpp clamps -ngl to the model's layers + 1 (the output layer), as ``-ngl 999`` asks for
    'all'; say so when the value given was larger."""
    ngl = opts["n_gpu_layers"]
    if ngl is None or ngl <= arch.n_layers + 1:
        return ()
    return (f"n_gpu_layers {ngl} is more than the model's {arch.n_layers} layers + the output layer: "
            f"all {arch.n_layers + 1} are offloaded, as llama.cpp does",)


def _inference_spec(opts: dict[str, Any], context: int) -> Any:
    from .inference.estimate import InferenceSpec
    from .layout import Layout

    return InferenceSpec(
        context=context, batch=opts["batch"], new_tokens=opts["new_tokens"], dtype=opts["dtype"],
        quant=opts["quant"], kv_dtype=opts["kv_dtype"], attn=opts["attn"], engine=opts["engine"],
        layout=Layout(tp=opts["tp"], pp=opts["pp"]), logits=opts["logits"], chunk=opts["chunk"],
        overrides=opts["overhead"], gpu_mem=opts["gpu_mem"], gpu_util=opts["gpu_util"],
        max_num_seqs=opts["max_num_seqs"], max_num_batched_tokens=opts["max_num_batched_tokens"],
        n_gpu_layers=opts["n_gpu_layers"],
    )


def _seed_memory(source: str | None, opts: dict[str, Any]) -> SeedMemory:
    """The blog's rule of thumb; without params/activations/input_data, llmsize's own count,
    prefill workspace and token ids fill them in, and the full estimate comes beside."""
    from .inference.engines import estimate
    from .seed import seed_memory

    bits = {"fp32": 32, "fp16": 16, "bf16": 16}[opts["dtype"]]
    given = tuple(k for k in ("params", "activations", "input_data") if opts[k] is not None)
    report: InferenceReport | None = None
    warnings: tuple[str, ...] = ()
    if len(given) < 3 or source:
        found, arch = _open(source, "infer", opts["revision"])
        spec = _inference_spec(opts, opts["ctx_size"] or arch.max_position)
        report = estimate(arch, spec, name=str(source), checkpoint=None, config=found.config)
        warnings = found.warnings
    count, activations = opts["params"], opts["activations"]
    if report is not None:
        parameters = report.extra["parameters"]
        assert isinstance(parameters, int)
        count = count or parameters
        activations = report.part("activations") if activations is None else activations
    tokens = opts["batch"] * (opts["ctx_size"] or (report.spec.context if report else 0))
    input_data = opts["input_data"] if opts["input_data"] is not None else tokens * 8  # int64 token ids
    seed = seed_memory(count, bits=bits, activations=activations, input_data=input_data, given=given)
    return replace(seed, estimate=report, warnings=warnings)


# --- train ----------------------------------------------------------------------------------


def train(source: str | None, **options: Any) -> TrainReport:
    """Memory to train or fine-tune SOURCE, per GPU, at the peak of one step."""
    from .training.estimate import estimate_training

    opts = _options("train", options, TRAIN_OPTIONS)
    found, arch = _open(source, "train", opts["revision"])
    spec = _train_spec(opts, found.config, arch.max_position)
    report = estimate_training(arch, spec, name=str(source))
    return replace(report, warnings=found.warnings)


def _train_spec(opts: dict[str, Any], config: dict[str, object] | None, max_position: int) -> Any:
    from .layout import Layout
    from .training.activations import Dropout, dropout_from_config
    from .training.estimate import TrainSpec

    layout = Layout(dp=opts["dp"], tp=opts["tp"], sp=opts["sp"], pp=opts["pp"], vpp=opts["vpp"],
                    ep=opts["ep"],
                    cp=opts["cp"], zero=opts["zero"], fsdp=opts["fsdp"], offload=opts["offload"])
    return TrainSpec(
        seq=opts["seq"] or min(o.DEFAULT_SEQ, max_position), micro_batch=opts["micro_batch"],
        grad_accum=opts["grad_accum"], recipe=opts["recipe"], optimizer=opts["optimizer"],
        optim_bits=STATE_BITS[opts["optim_dtype"]] if opts["optim_dtype"] else None,
        step_kernel=opts["optim_impl"], recompute=opts["recompute"], attn=opts["attn"], lora=_lora(opts),
        layout=layout, dropout=dropout_from_config(config) if config else Dropout(),
        overrides=opts["overhead"],
    )


def _lora(opts: dict[str, Any]) -> Any:
    from .training.lora import LoraSpec, parse_targets

    if not (opts["lora_rank"] or opts["qlora"]):
        if opts["lora_targets"]:
            raise o.OptionError("lora_targets", "needs lora_rank or qlora", mentions=("lora_rank", "qlora"))
        return None
    default = "all-linear" if opts["qlora"] else "q,v"
    rank = opts["lora_rank"] or (QLORA_RANK if opts["qlora"] else LORA_RANK)
    targets = parse_targets(opts["lora_targets"] or default)
    if not targets:
        raise o.OptionError("lora_targets", f"{shown(opts['lora_targets'], 40)} names no module; give "
                                            "q,k,v,o,gate,up,down or all-linear")
    return LoraSpec(rank=rank, targets=targets, base="nf4-dq" if opts["qlora"] else "bf16")


# --- inspect --------------------------------------------------------------------------------


def inspect(source: str, **options: Any) -> InspectReport:
    """What a checkpoint holds, from its headers only: tensors, dtypes, stored bytes, the
    quantization, and a cross-check against the architecture when a config is there."""
    from .formats.checkpoint_report import inspect_checkpoint
    from .sources.resolve import open_source

    opts = _options("inspect", options, INSPECT_OPTIONS)
    found = open_source(_text("source", source), revision=opts["revision"])
    return inspect_checkpoint(source, found, tensors=opts["tensors"])
