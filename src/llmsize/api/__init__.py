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

from .. import limits as lim
from .. import options as o
from ..errors import LlmsizeError, shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from ..arch import Architecture
    from ..formats.checkpoint_report import InspectReport
    from ..inference.estimate import InferenceReport
    from ..layout import FsdpStrategy, Offload, ZeroStage
    from ..parameters import ParamReport
    from ..plan.limits import InferenceLimits
    from ..plan.report import PlanReport
    from ..seed import SeedMemory, SeedReport
    from ..sources.resolve import Resolved
    from ..training.estimate import TrainReport

    Check = Callable[[str, Any], Any]
    Source = str | dict[str, Any] | Resolved  # a SOURCE, a config.json's contents, or an opened one

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
    from ..formats.dtypes import parse_format

    text = _text(option, value)
    try:
        parse_format(text)
    except LlmsizeError as e:
        raise o.OptionError(option, str(e)) from None
    return text


def _kv_dtype(option: str, value: object) -> str:
    from ..inference.kvcache import KV_FORMATS, kv_format

    text = _text(option, value)
    try:
        kv_format(text)
    except LlmsizeError:
        raise o.OptionError(option, f"{shown(value, 40)} is not a KV cache dtype; choose from "
                                    f"{', '.join(KV_FORMATS)}") from None
    return text


def _zero(option: str, value: object) -> ZeroStage:
    from ..layout import ZeroStage  # imported on use, as inference/ and training/ are: params never needs it

    return o.enum_option(option, value, enum=ZeroStage)


def _fsdp(option: str, value: object) -> FsdpStrategy:
    from ..layout import FSDP_ALIASES, FsdpStrategy

    return o.enum_option(option, value, enum=FsdpStrategy, aliases=FSDP_ALIASES)


def _offload(option: str, value: object) -> Offload:
    from ..layout import OFFLOAD_ALIASES, Offload

    return o.enum_option(option, value, enum=Offload, aliases=OFFLOAD_ALIASES)


def _gpu(option: str, value: object) -> str:
    """``NAME[:COUNT]``: a catalog GPU, alias, nvidia-smi name or ``custom:…`` spec (checked here)."""
    from ..hardware import parse_gpu_spec

    text = _text(option, value)
    try:
        parse_gpu_spec(text)
    except LlmsizeError as e:
        raise o.OptionError(option, str(e), prefix=False) from None
    return text


def _price(option: str, value: object) -> tuple[str, ...]:
    """USD per GPU-hour: a number or ``"2.5"`` for ``gpu``, ``"h100=2.5"``, or a list of them (the
    CLI's repeated ``--price``); checked here, looked up by ``perf.setting.price_for``."""
    from ..hardware.prices import price_overrides, usd_per_hour

    one = isinstance(value, (str, int, float)) and not isinstance(value, bool)
    items = [value] if one else value
    if not isinstance(items, (list, tuple)):
        raise o.OptionError(option, f"{shown(value, 40)} is not a price per GPU-hour (2.5, or h100=2.5)")
    out = []
    for item in items:
        text = str(item) if isinstance(item, (str, int, float)) and not isinstance(item, bool) else ""
        if "=" in text:
            try:
                price_overrides([text])
            except LlmsizeError as e:  # the price parser names the option; a GPU lookup does not
                own = str(e).startswith(f"{option} ")
                problem = str(e) if own else f"{shown(item, 40)}: {e}"
                raise o.OptionError(option, problem, prefix=not own) from None
        elif usd_per_hour(text) is None:
            raise o.OptionError(option, f"{shown(item, 40)} is not an amount in USD per GPU-hour "
                                        "(2.5, or h100=2.5; 0 to 10,000)")
        out.append(text)
    return tuple(out)


def _overhead(option: str, value: object) -> tuple[str, ...]:
    """``{"nccl": "0", "cuda_context": 600 * MiB}`` or ``["nccl=0", …]`` → ("name=size", …)."""
    from ..inference.overhead import NAMES

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
    "family": (None, _opt_text),
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
    "gpu": (None, o.optional(_gpu)), "host_mem": (None, _opt_size),
    "n_gpu_layers": (None, o.optional(partial(o.integer, minimum=0))), "overhead": ((), _overhead),
    # engine flags: vLLM's sampler; llama.cpp's -b, -ub, -np (its name for batch), --kv-unified, -fa
    "sampler": ("torch", _choice(o.SAMPLERS)), "batch_size": (2048, _tokens), "ubatch_size": (512, _tokens),
    "parallel": (None, _seqs), "kv_unified": (False, _flag),
    "flash_attn": (None, o.optional(_choice(o.FLASH_ATTN))),
    "method": ("estimate", _choice(o.INFER_METHODS)), "params": (None, _up_to(lim.MAX_PARAMS)),
    "activations": (None, _opt_size), "input_data": (None, _opt_size), "revision": (None, _opt_text),
    # the inversions (plan/limits.py): ask for any of them and the result is an InferenceLimits
    "max_context": (False, _flag), "max_batch": (False, _flag), "max_concurrency": (False, _flag),
    # speed on the GPU given (perf/setting.py): the request, the requests served together, the price
    "input_len": (None, _tokens), "output_len": (None, _tokens), "concurrency": (None, _seqs),
    "price": ((), _price), "mfu": (None, o.optional(o.fraction)),
}
TRAIN_OPTIONS: dict[str, tuple[object, Check]] = {
    "seq": (None, _tokens), "micro_batch": (1, o.bounded(lim.MAX_BATCH)),
    "grad_accum": (1, o.bounded(lim.MAX_BATCH)),
    "recipe": ("amp", _choice(o.RECIPES)), "optimizer": ("adamw", _choice(o.OPTIMIZERS)),
    "optim_dtype": (None, o.optional(_choice(o.OPTIM_DTYPES))),
    "optim_impl": ("fused", _choice(o.OPTIM_IMPLS)), "recompute": ("none", _choice(o.RECOMPUTE)),
    "attn": ("flash", _choice(o.ATTN)), "lora_rank": (None, _up_to(lim.MAX_WIDTH)),
    "lora_targets": (None, _opt_text), "qlora": (False, _flag),
    "lora_dropout": (0.0, o.probability), "adapter_dtype": ("fp32", _choice(o.ADAPTER_DTYPES)),
    "double_quant": (True, _flag), "bnb_version": (None, _opt_text), "loop": ("trainer", _choice(o.LOOPS)),
    "zero": (0, _zero), "fsdp": ("none", _fsdp), "offload": ("none", _offload),
    **{k: (1, _degree) for k in ("dp", "tp", "pp", "vpp", "ep", "cp")},
    "sp": (False, _flag), "overhead": ((), _overhead), "revision": (None, _opt_text),
    "gpu": (None, o.optional(_gpu)), "gpu_mem": (None, _opt_size), "host_mem": (None, _opt_size),
    # speed on the GPU given (perf/setting.py): tokens of the whole run, the price, the MFU
    "tokens": (None, o.optional(o.token_count)), "price": ((), _price), "mfu": (None, o.optional(o.fraction)),
}
SPEED_OPTIONS = {"infer": ("input_len", "output_len", "concurrency", "price", "mfu"),
                 "train": ("tokens", "price", "mfu")}
INSPECT_OPTIONS: dict[str, tuple[object, Check]] = {"revision": (None, _opt_text), "tensors": (False, _flag)}
PLAN_MODES = ("serve", "train", "finetune")
FINETUNE_LORA_RANK = 16  # plan --finetune: LoRA r = 16 on every linear layer, bf16 frozen base
PLAN_OPTIONS: dict[str, tuple[object, Check]] = {
    "mode": ("serve", _choice(PLAN_MODES)), "gpu": (None, _opt_text), "gpu_mem": (None, _opt_size),
    "max_gpus": (None, _up_to(lim.MAX_DEGREE)),
    "host_mem": (None, _opt_size), "keep": (5, o.positive_int), "revision": (None, _opt_text),
    # serve
    "ctx_size": (None, _tokens), "batch": (1, o.bounded(lim.MAX_BATCH)),
    "engine": ("vllm", _choice(o.ENGINES)),
    "dtype": ("bf16", _choice(o.DTYPES)), "quant": (None, o.optional(_quant)),
    "kv_dtype": (None, o.optional(_kv_dtype)), "gpu_util": (0.9, o.fraction),
    # train / finetune; a layout option given is pinned, the others are searched
    "seq": (None, _tokens), "micro_batch": (1, o.bounded(lim.MAX_BATCH)),
    "grad_accum": (1, o.bounded(lim.MAX_BATCH)),
    "recipe": ("amp", _choice(o.RECIPES)), "optimizer": ("adamw", _choice(o.OPTIMIZERS)),
    "lora_rank": (None, _up_to(lim.MAX_WIDTH)), "lora_targets": (None, _opt_text), "qlora": (False, _flag),
    "attn": ("flash", _choice(o.ATTN)), "recompute": (None, o.optional(_choice(o.RECOMPUTE))),
    **{k: (None, _up_to(lim.MAX_DEGREE)) for k in ("tp", "pp", "cp", "ep")},
    "zero": (None, o.optional(_zero)), "fsdp": (None, o.optional(_fsdp)),
    "offload": (None, o.optional(_offload)),
}
MAX_GPUS = {"serve": 64, "train": 16384, "finetune": 16384}
PLAN_OPTIONS.update({  # speed and cost of every layout (plan/speed.py)
    "input_len": (None, _tokens), "output_len": (None, _tokens), "concurrency": (None, _seqs),
    "tokens": (None, o.optional(o.token_count)), "price": ((), _price), "mfu": (None, o.optional(o.fraction)),
    "rank": (None, o.optional(_choice(tuple(dict.fromkeys(("cost", "tpot", "e2e", "throughput", "time",
                                                            "memory")))))),
})


def _open(source: Source | None, command: str, revision: str | None, *,
          reader: Callable[..., Resolved] | None = None) -> tuple[Resolved, Architecture]:
    """The SOURCE of ``infer`` / ``train`` (a checkpoint's headers read too), and its architecture.
    SOURCE may also be a config.json's parsed contents (a dict), or a source already opened (a
    ``sources.resolve.Resolved``, as the web page opens them: never a path)."""
    from ..sources.resolve import Resolved, from_config, open_source

    if isinstance(source, Resolved):
        found = source
    elif isinstance(source, dict):
        found = from_config(source, str(source.get("_name_or_path") or "config.json"))
    elif not source:
        raise LlmsizeError(f"{command}: give a SOURCE (catalog name, HF id, config.json, model directory"
                           " or checkpoint)")
    else:
        found = (reader or open_source)(_text("source", source), revision=revision)
    if found.arch is None:
        raise LlmsizeError(f"{source}: no config.json or GGUF metadata to size the model from")
    return found, found.arch


def _name(source: Source | None, found: Resolved) -> str:
    """What the results call the model: the SOURCE string, or the opened source's name."""
    return source if isinstance(source, str) else found.name or "config.json"


# --- the GPU an estimate is judged against ---------------------------------------------------

DEFAULT_GPU = "h100-sxm"  # when neither gpu nor gpu_mem is given; the verdict says so


def _gpu_count(spec: str | None) -> tuple[Any, int | None]:
    """(catalog or custom Gpu, the count given after ':' or None)."""
    from ..hardware import gpu, parse_gpu_spec

    if spec is None:
        return gpu(DEFAULT_GPU), None
    g, n = parse_gpu_spec(spec)
    head, _, tail = spec.rpartition(":")
    return g, n if head and head.lower() != "custom" and tail.strip().isdigit() else None


def _target(opts: dict[str, Any], gpus: int) -> Any:
    """The Target of ``gpus`` GPUs: ``gpu``'s usable memory, replaced by ``gpu_mem`` when given."""
    from ..hardware.fit import Target, gib

    g, _ = _gpu_count(opts["gpu"])
    if opts["gpu_mem"] is not None:
        instead = f", replacing {g.key}'s usable {gib(g.usable_bytes)}" if opts["gpu"] else ""
        return Target(g if opts["gpu"] else None, gpus, opts["gpu_mem"], f"--gpu-mem{instead}",
                      opts["host_mem"])
    source = g.source("usable")
    why = f"usable memory, {source.confidence}" if source is not None else "usable memory"
    return Target(g, gpus, g.usable_bytes, why, opts["host_mem"], default=opts["gpu"] is None)


def _count_agrees(opts: dict[str, Any], degrees: dict[str, int], given: Mapping[str, object],
                  ) -> dict[str, int]:
    """The parallel degrees with ``gpu``'s COUNT: it sets the first degree when none is given
    (tp for inference, dp for training); given degrees must multiply to it."""
    _, count = _gpu_count(opts["gpu"])
    if count is None:
        return degrees
    if not any(given.get(k) is not None for k in degrees):
        return {**degrees, next(iter(degrees)): count}
    world = 1
    for n in degrees.values():
        world *= n
    if world != count:
        product = " × ".join(f"{k} {n}" for k, n in degrees.items())
        name = opts["gpu"].rpartition(":")[0]
        raise o.OptionError("gpu", f"{opts['gpu']} names {count} GPUs but {product} = {world}; give "
                            f"gpu {name}:{world}, or degrees that multiply to {count}",
                            mentions=tuple(degrees))
    return degrees


def _context_warning(arch: Architecture, tokens: int, option: str) -> tuple[str, ...]:
    if tokens <= arch.max_position:
        return ()
    return (f"{option} {tokens:,} is beyond the model's maximum context {arch.max_position:,} "
            "(max_position_embeddings): the memory is sized, but the model was not trained for it",)


# --- params ---------------------------------------------------------------------------------


def params(source: Source | None = None, **options: Any) -> ParamReport | SeedReport:
    """The exact parameter count of SOURCE, or of the architecture the overrides describe
    (``hidden_size``, ``num_layers``, ``num_heads``, ``vocab_size``, … of ``family``, by default
    ``gpt2``: a GPT-2-style decoder);
    ``method="seed"`` gives the blog's simplified formulas, ``params=N`` its byte sizing of N."""
    from ..parameters import count_params
    from ..sources.explicit import FAMILY_DEFAULT, OVERRIDES, from_hyperparameters, override

    opts = _options("params", options, PARAMS_OPTIONS)
    values = {k: opts[k] for k in OVERRIDES if opts[k] is not None}
    if source and opts["family"]:
        raise o.OptionError("family", "params: --family describes explicit hyperparameters; a SOURCE "
                            "has its own family", prefix=False)
    if opts["params"] is not None:
        from ..seed import seed_from_params

        return seed_from_params(opts["params"])
    warnings: tuple[str, ...] = ()
    if source:
        from ..sources.resolve import resolve

        resolved, base = _open(source, "params", opts["revision"], reader=resolve)
        arch, warnings = override(base, values), resolved.warnings
    else:
        missing = [k for k in ("hidden_size", "num_layers", "num_heads", "vocab_size") if k not in values]
        if missing:
            problem = f"params: give a SOURCE, or the hyperparameters {', '.join(missing)}"
            raise o.OptionError(missing[0], problem, mentions=missing, prefix=False)
        arch, warnings = from_hyperparameters(values, family=opts["family"] or FAMILY_DEFAULT)
    if opts["method"] == "seed":
        return replace(_seed(arch), warnings=warnings)
    exact = count_params(arch, warnings)
    return exact if source else replace(exact, seed=_seed(arch))


def _seed(arch: Architecture) -> SeedReport:
    """The blog's count of ``arch``'s GPT-2-style core (imported here: a SOURCE's exact count
    does not show it)."""
    from ..seed import seed_count

    return seed_count(d_model=arch.d_model, n_layers=arch.n_layers, n_heads=arch.n_heads,
                      vocab_size=arch.vocab_size)


# --- infer ----------------------------------------------------------------------------------


def infer(source: Source | None, **options: Any) -> InferenceReport | SeedMemory | InferenceLimits:
    """Memory to serve SOURCE per GPU: weights, KV cache, activations and overhead, as the engine
    profile ``engine`` (hf, vllm, llamacpp) sizes them; ``method="seed"`` the blog's rule.
    ``max_context``, ``max_batch`` or ``max_concurrency=True`` ask the inverse questions instead
    (on one GPU of ``gpu``, or of ``gpu_mem`` bytes): an ``InferenceLimits``.

    With ``gpu`` given, ``result.performance`` holds the speed on it (``perf/setting.py``):
    prefill and decode rates, TTFT, TPOT, throughput at ``concurrency`` (else ``batch``) requests
    of ``input_len`` + ``output_len`` tokens, and the cost at ``price`` (USD per GPU-hour, else
    the dated table's); ``mfu`` replaces the prefill's share of peak FLOP/s."""
    from ..inference.engines import estimate

    opts = _options("infer", options, INFER_OPTIONS)
    _engine_has(opts, {k for k, v in options.items() if v is not None})
    speed_gpu = _speed_gpu("infer", opts)
    if opts["method"] == "seed":
        return _seed_memory(source, opts)
    found, arch = _open(source, "infer", opts["revision"])
    default = LLAMACPP_DEFAULT_CTX if opts["engine"] == "llamacpp" else arch.max_position
    quant_warnings = _config_quant(opts, found)
    opts.update(_count_agrees(opts, {"tp": opts["tp"], "pp": opts["pp"]}, options))
    opts["batch"] = _parallel(opts)
    if opts["engine"] == "llamacpp" and opts["tp"] * opts["pp"] > 1:
        raise o.OptionError("engine", "llamacpp sizes one GPU (its split over several, -sm layer, is not "
                            "modelled); give gpu NAME with no count, tp 1 and pp 1",
                            mentions=("gpu", "tp", "pp"))
    spec = _inference_spec(opts, opts["ctx_size"] or default)
    asked = tuple(k for k in ("max_context", "max_batch", "max_concurrency") if opts[k])
    if asked:
        return replace(_limits(found, arch, spec, asked, _name(source, found)),
                       warnings=(*found.warnings, *quant_warnings))
    report = estimate(arch, spec, name=_name(source, found), checkpoint=found.checkpoint, config=found.config)
    warnings = (*found.warnings, *quant_warnings, *_context_warning(arch, spec.context, "ctx_size"),
                *_clamped_layers(opts, arch))
    if opts["host_mem"] is not None and opts["engine"] != "llamacpp":
        warnings += (f"host_mem is inert with engine {opts['engine']}: only llamacpp (and train's offload) "
                     "put part of the model in host memory",)
    report = replace(report, warnings=warnings)
    return report if speed_gpu is None else _serving_speed(report, arch, found, opts, speed_gpu)


def _speed_gpu(command: str, opts: dict[str, Any]) -> Any:
    """The GPU to estimate speed on: ``gpu`` when given (the default GPU of the verdict is not
    asked about). A speed option without ``gpu``, or with a question that has no speed (the
    rule of thumb, an inversion), is refused rather than ignored."""
    given = [k for k in SPEED_OPTIONS[command] if opts[k]]
    other = next((k for k in ("max_context", "max_batch", "max_concurrency") if opts.get(k)), None)
    if opts.get("method") == "seed":
        other = "method seed"
    if given and other:
        raise o.OptionError(given[0], f"is a speed option; {other} answers a memory question only",
                            mentions=() if other.startswith("method") else (other,))
    if opts["gpu"] is None:
        if given:
            raise o.OptionError(given[0], "needs gpu: speed is estimated on a GPU of the catalog "
                                "(gpu NAME[:COUNT], llmsize gpus)", mentions=("gpu",))
        return None
    return None if other else _gpu_count(opts["gpu"])[0]


def _weight_format(spec: Any, found: Resolved) -> str:
    """The format the weights are read in: ``quant``, else a GGUF file's type or a checkpoint's
    quantization_config, else the dtype."""
    from ..formats.dtypes import parse_format
    from ..formats.stored import stored_format

    ck = found.checkpoint
    if spec.quant or ck is None:
        return str(spec.quant or spec.dtype)
    if ck.format == "gguf" and ck.file_type:
        try:
            return parse_format(ck.file_type).name
        except LlmsizeError:
            return spec.dtype  # a file type llmsize does not price: its weights read at the dtype
    return stored_format(found.config).name or spec.dtype


def _serving_speed(report: InferenceReport, arch: Architecture, found: Resolved, opts: dict[str, Any],
                   g: Any) -> InferenceReport:
    """``report`` with its performance on ``g`` (or a note saying why there is none)."""
    from ..perf.setting import missing_rates, price_for, serving_for

    if why := missing_rates(g):
        return replace(report, notes=(*report.notes, f"no speed figures: {why}"))
    perf = serving_for(arch, report.spec, report.extra, g, weight_format=_weight_format(report.spec, found),
                       input_len=opts["input_len"], output_len=opts["output_len"],
                       concurrency=opts["concurrency"], price=price_for(g, opts["price"]), mfu=opts["mfu"])
    if report.verdict is not None and not report.verdict.fits:
        perf = replace(perf, notes=(*perf.notes, "the memory does not fit: these speeds are what it would "
                                    "reach if it did"))
    return replace(report, performance=perf)


def _parallel(opts: dict[str, Any]) -> int:
    """The sequences: ``parallel`` (llama.cpp ``-np``) is ``batch`` under llama.cpp's name; given
    both (batch not at its default 1), they must agree."""
    if opts["parallel"] is None:
        return int(opts["batch"])
    if opts["batch"] not in (1, opts["parallel"]):
        raise o.OptionError("parallel", f"{opts['parallel']} sequences (-np) but batch {opts['batch']}; "
                            "give one of them", mentions=("batch",))
    return int(opts["parallel"])


# Options only one engine has: vLLM's scheduler, budget and sampler, llama.cpp's layer offload and
# its -b, -ub, -np, --kv-unified and -fa.
ENGINE_ONLY = {"gpu_util": "vllm", "max_num_seqs": "vllm", "max_num_batched_tokens": "vllm",
               "sampler": "vllm", "n_gpu_layers": "llamacpp", "batch_size": "llamacpp",
               "ubatch_size": "llamacpp", "parallel": "llamacpp", "kv_unified": "llamacpp",
               "flash_attn": "llamacpp"}
ENGINE_FLAGS = ("sampler", "batch_size", "ubatch_size", "parallel", "kv_unified", "flash_attn")


def _engine_has(opts: dict[str, Any], given: set[str]) -> None:
    """Refuse an option the chosen engine does not have, rather than ignore it."""
    engine = opts["engine"]
    for name in sorted(given):
        if ENGINE_ONLY.get(name, engine) != engine:
            raise o.OptionError(name, f"is an option of --engine {ENGINE_ONLY[name]}, not of {engine}",
                                mentions=("engine",))
    if engine == "llamacpp" and opts["quant"]:
        if not _llamacpp_runs(opts["quant"]):
            raise o.OptionError("quant", f"{shown(opts['quant'], 40)} is not a format llama.cpp runs; "
                                         "give a GGUF type such as Q4_K_M or Q8_0")


def _llamacpp_runs(fmt: str) -> bool:
    """Whether llama.cpp can run weights in ``fmt``: a GGUF type or a plain float, not a
    transformers quantization (nf4, GPTQ, FP8…)."""
    from ..formats.dtypes import parse_format

    return parse_format(fmt).kind in ("gguf", "float")


def _clamped_layers(opts: dict[str, Any], arch: Architecture) -> tuple[str, ...]:
    """llama.cpp clamps -ngl to the model's layers + 1 (the output layer), as ``-ngl 999`` asks for
    'all'; say so when the value given was larger."""
    ngl = opts["n_gpu_layers"]
    if ngl is None or ngl <= arch.n_layers + 1:
        return ()
    return (f"n_gpu_layers {ngl} is more than the model's {arch.n_layers} layers + the output layer: "
            f"all {arch.n_layers + 1} are offloaded, as llama.cpp does",)


def _config_quant(opts: dict[str, Any], found: Resolved) -> tuple[str, ...]:
    """Price the weights in the format the config's ``quantization_config`` names unless ``quant``
    is given (it wins, with a warning when they disagree) or a checkpoint's own tensors are read."""
    from ..formats.dtypes import parse_format
    from ..formats.stored import stored_format

    if found.checkpoint is not None:
        return ()
    config = stored_format(found.config)
    if config.name and opts["engine"] == "llamacpp" and not _llamacpp_runs(config.name):
        return (f"the config's quantization_config ({config.method}) is not a format llama.cpp runs: "
                f"sized at {opts['dtype']} unless --quant gives a GGUF type",)
    if opts["quant"] is None:
        opts["quant"] = config.name
        return config.warnings
    if config.name and parse_format(opts["quant"]).name != config.name:
        return (f"quant {opts['quant']} overrides the config's quantization_config "
                f"({config.method}, priced as {config.name})",)
    return ()


def _limits(found: Resolved, arch: Architecture, spec: Any, asked: tuple[str, ...],
            name: str) -> InferenceLimits:
    from ..plan.limits import inference_limits

    return inference_limits(arch, spec, budget_bytes=spec.gpu_mem, asked=asked, name=name,
                            checkpoint=found.checkpoint, config=found.config)


def _inference_spec(opts: dict[str, Any], context: int) -> Any:
    from ..inference.estimate import InferenceSpec
    from ..layout import Layout

    target = _target(opts, opts["tp"] * opts["pp"])
    return InferenceSpec(
        context=context, batch=opts["batch"], new_tokens=opts["new_tokens"], dtype=opts["dtype"],
        quant=opts["quant"], kv_dtype=opts["kv_dtype"], attn=opts["attn"], engine=opts["engine"],
        layout=Layout(tp=opts["tp"], pp=opts["pp"]), logits=opts["logits"], chunk=opts["chunk"],
        overrides=opts["overhead"], gpu_mem=target.budget_bytes, gpu_util=opts["gpu_util"],
        max_num_seqs=opts["max_num_seqs"], max_num_batched_tokens=opts["max_num_batched_tokens"],
        n_gpu_layers=opts["n_gpu_layers"], sampler=opts["sampler"], n_batch=opts["batch_size"],
        n_ubatch=opts["ubatch_size"], kv_unified=opts["kv_unified"], flash_attn=opts["flash_attn"],
        target=target,
    )


def _seed_memory(source: Source | None, opts: dict[str, Any]) -> SeedMemory:
    """The blog's rule of thumb; without params/activations/input_data, llmsize's own count,
    prefill workspace and token ids fill them in, and the full estimate comes beside."""
    from ..inference.engines import estimate
    from ..seed import seed_memory

    bits = {"fp32": 32, "fp16": 16, "bf16": 16}[opts["dtype"]]
    given = tuple(k for k in ("params", "activations", "input_data") if opts[k] is not None)
    report: InferenceReport | None = None
    warnings: tuple[str, ...] = ()
    if len(given) < 3 or source:
        found, arch = _open(source, "infer", opts["revision"])
        spec = _inference_spec(opts, opts["ctx_size"] or arch.max_position)
        report = estimate(arch, spec, name=_name(source, found), checkpoint=None, config=found.config)
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


def train(source: Source | None, **options: Any) -> TrainReport:
    """Memory to train or fine-tune SOURCE, per GPU, at the peak of one step. With ``gpu`` given,
    ``result.performance`` holds the step time, tokens/s per GPU and MFU on it, and with ``tokens``
    the time, GPU-hours and cost (at ``price``) of a run over that many tokens; ``mfu`` replaces
    the model-FLOPs utilisation."""
    from ..training.estimate import estimate_training

    opts = _options("train", options, TRAIN_OPTIONS)
    speed_gpu = _speed_gpu("train", opts)
    found, arch = _open(source, "train", opts["revision"])
    opts.update(_count_agrees(opts, {k: opts[k] for k in ("dp", "tp", "pp", "cp")}, options))
    spec, quant_warnings = _quantized_base(_train_spec(opts, found.config, arch.max_position), found)
    report = estimate_training(arch, spec, name=_name(source, found))
    warnings = (*found.warnings, *quant_warnings, *_context_warning(arch, spec.seq, "seq"),
                *_inert(spec.layout, opts))
    verdict = _train_verdict(report, _target(opts, spec.layout.gpus))
    report = replace(report, warnings=warnings, verdict=verdict)
    return report if speed_gpu is None else _training_speed(report, arch, opts, speed_gpu)


def _training_speed(report: TrainReport, arch: Architecture, opts: dict[str, Any], g: Any) -> TrainReport:
    """``report`` with its step time, MFU, time and cost on ``g`` (or a note saying why not)."""
    from ..perf.setting import missing_rates, price_for, training_for

    if why := missing_rates(g):
        return replace(report, notes=(*report.notes, f"no speed figures: {why}"))
    perf = training_for(arch, report.spec, g, tokens=opts["tokens"], price=price_for(g, opts["price"]),
                        mfu=opts["mfu"])
    return replace(report, performance=perf)


def _quantized_base(spec: Any, found: Resolved) -> tuple[Any, tuple[str, ...]]:
    """A quantized config is the frozen base of LoRA/QLoRA as stored (a GPTQ or bnb-4bit
    checkpoint is fine-tuned without dequantizing it); full training needs it unquantized."""
    from ..formats.stored import stored_format

    config = stored_format(found.config)
    if config.name is None:
        return spec, config.warnings
    if spec.lora is None:
        return spec, (*config.warnings, f"the config is quantized ({config.method}); full training "
                      "updates every weight, sized unquantized at the recipe's precision")
    return replace(spec, lora=replace(spec.lora, base=config.name)), config.warnings


def _train_verdict(report: TrainReport, target: Any) -> Any:
    from ..hardware.fit import judge
    from ..training.estimate import BREAKDOWN

    s = report.spec
    labels = {"weights": "weights", "gradients": "gradients", "optimizer_states": "optimizer states",
              "activations": f"activations at seq {s.seq:,} × micro-batch {s.micro_batch}",
              "comm_buffers": "communication buffers", "overhead": "overhead (CUDA context, allocator, …)"}
    parts = [(labels[k], report.part(k)) for k in BREAKDOWN]
    hint = "try --recompute full, --zero 3 with --dp, LoRA (--lora-rank), or more GPUs"
    return judge(parts, target, host_need=report.host.value or None, hint=hint)


def _inert(layout: Any, opts: dict[str, Any]) -> tuple[str, ...]:
    """Layout options that change nothing as given (a demanding user wants to be told); sp without
    tp and vpp without pp are errors already (``Layout.check``)."""
    out = []
    if layout.shard_level and layout.shard_group == 1:
        what = f"zero {layout.zero.value}" if layout.zero.value else f"fsdp {layout.fsdp.value}"
        out.append(f"{what} shards over one data-parallel rank: it saves nothing (give dp N or gpu NAME:N)")
    if opts["host_mem"] is not None and layout.offload.value == "none":
        out.append("host_mem is inert without offload: nothing of the step lives in host memory")
    return tuple(out)


def _train_spec(opts: dict[str, Any], config: dict[str, object] | None, max_position: int) -> Any:
    from ..layout import Layout
    from ..training.activations import Dropout, dropout_from_config
    from ..training.estimate import TrainSpec

    layout = Layout(dp=opts["dp"], tp=opts["tp"], sp=opts["sp"], pp=opts["pp"], vpp=opts["vpp"],
                    ep=opts["ep"],
                    cp=opts["cp"], zero=opts["zero"], fsdp=opts["fsdp"], offload=opts["offload"])
    return TrainSpec(
        seq=opts["seq"] or min(o.DEFAULT_SEQ, max_position), micro_batch=opts["micro_batch"],
        grad_accum=opts["grad_accum"], recipe=opts["recipe"], optimizer=opts["optimizer"],
        optim_bits=STATE_BITS[opts["optim_dtype"]] if opts["optim_dtype"] else None,
        step_kernel=opts["optim_impl"], recompute=opts["recompute"], attn=opts["attn"], lora=_lora(opts),
        layout=layout, dropout=dropout_from_config(config) if config else Dropout(),
        overrides=opts["overhead"], loop=opts.get("loop", "trainer"),
    )


def _lora(opts: dict[str, Any]) -> Any:
    from ..training.lora import LoraSpec, parse_targets

    _lora_options_need_lora(opts)
    if not (opts["lora_rank"] or opts["qlora"]):
        return None
    default = "all-linear" if opts["qlora"] else "q,v"
    rank = opts["lora_rank"] or (QLORA_RANK if opts["qlora"] else LORA_RANK)
    targets = parse_targets(opts["lora_targets"] or default)
    if not targets:
        raise o.OptionError("lora_targets", f"{shown(opts['lora_targets'], 40)} names no module; give "
                                            "q,k,v,o,gate,up,down or all-linear")
    base = ("nf4-dq" if opts.get("double_quant", True) else "nf4") if opts["qlora"] else "bf16"
    return LoraSpec(rank=rank, targets=targets, base=base, adapter_bits=STATE_BITS[opts.get("adapter_dtype",
                    "fp32")], dropout=opts.get("lora_dropout", 0.0), bnb_keeps_inputs=_bnb_keeps(opts))


def _lora_options_need_lora(opts: dict[str, Any]) -> None:
    """LoRA's options without LoRA, and bitsandbytes' without QLoRA, change nothing: refused."""
    lora = {"lora_targets": None, "lora_dropout": 0.0, "adapter_dtype": "fp32"}
    for name, default in lora.items():
        if opts.get(name, default) != default and not (opts["lora_rank"] or opts["qlora"]):
            raise o.OptionError(name, "needs lora_rank or qlora", mentions=("lora_rank", "qlora"))
    for name, default in {"double_quant": True, "bnb_version": None}.items():
        if opts.get(name, default) != default and not opts["qlora"]:
            raise o.OptionError(name, "needs qlora (a bitsandbytes 4-bit base)", mentions=("qlora",))


def _bnb_keeps(opts: dict[str, Any]) -> bool:
    """bitsandbytes before 0.43.2 keeps each 4-bit layer's input (``training/qlora.py``)."""
    from ..training.qlora import bnb_keeps_inputs

    if opts.get("bnb_version") is None:
        return False
    try:
        return bnb_keeps_inputs(opts["bnb_version"])
    except ValueError as e:
        raise o.OptionError("bnb_version", str(e), prefix=False) from None


# --- inspect --------------------------------------------------------------------------------


def inspect(source: str, **options: Any) -> InspectReport:
    """What a checkpoint holds, from its headers only: tensors, dtypes, stored bytes, the
    quantization, and a cross-check against the architecture when a config is there."""
    from ..formats.checkpoint_report import inspect_checkpoint
    from ..sources.resolve import open_source

    opts = _options("inspect", options, INSPECT_OPTIONS)
    found = open_source(_text("source", source), revision=opts["revision"])
    return inspect_checkpoint(source, found, tensors=opts["tensors"])


# --- plan -----------------------------------------------------------------------------------


def plan(source: Source | None, **options: Any) -> PlanReport:
    """What SOURCE needs: per GPU type, the fewest GPUs and the layouts that fit, to serve it
    (``mode="serve"``: ctx_size, batch, engine…), to train it (``"train"``) or to fine-tune it
    (``"finetune"``: LoRA rank 16 on every linear layer over a bf16 base; ``qlora=True``: QLoRA,
    rank 64 over an NF4 base). The GPUs: ``gpu`` ("all", the default, or catalog names separated
    by commas), or ``gpu_mem`` (the bytes one process can use on a GPU of another kind)."""
    from ..plan.targets import memory_target, targets_for

    opts = _options("plan", options, PLAN_OPTIONS)
    found, arch = _open(source, "plan", opts["revision"])
    targets = targets_for(opts["gpu"] or "all") if opts["gpu_mem"] is None or opts["gpu"] else []
    if opts["gpu_mem"] is not None:
        targets.append(memory_target(opts["gpu_mem"]))
    max_gpus = opts["max_gpus"] or MAX_GPUS[opts["mode"]]
    if opts["mode"] == "serve":
        report = _plan_serve(found, arch, opts, targets, max_gpus, _name(source, found))
    else:
        report = _plan_train(found, arch, opts, targets, max_gpus, _name(source, found))
    return replace(report, warnings=found.warnings)


def _plan_serve(found: Resolved, arch: Architecture, opts: dict[str, Any], targets: list[Any],
                max_gpus: int, source: str) -> PlanReport:
    from ..formats.dtypes import parse_format
    from ..plan.serve import ServeSearch, serve_plan
    from ..plan.speed import SERVE_RANKS, ServeSpeeds, plan_prices, workload

    default = LLAMACPP_DEFAULT_CTX if opts["engine"] == "llamacpp" else arch.max_position
    context = opts["ctx_size"] or default
    engine_flags = {k: INFER_OPTIONS[k][0] for k in ENGINE_FLAGS}  # plan takes them at their defaults
    spec = _inference_spec({**engine_flags, **opts, "gpu": None, "gpu_mem": None, "new_tokens": 0,
                            "logits": "last", "chunk": None, "attn": "sdpa", "tp": 1, "pp": 1, "overhead": (),
                            "max_num_seqs": None, "max_num_batched_tokens": None, "n_gpu_layers": None},
                           context)
    spec = replace(spec, target=None, gpu_mem=None)  # each GPU type of the plan is its own target
    question = {"-c": context, "-b": opts["batch"] if opts["batch"] > 1 else None, "--engine": opts["engine"],
                "--dtype": opts["dtype"] if opts["dtype"] != "bf16" else None, "--quant": opts["quant"],
                "--kv-dtype": opts["kv_dtype"],
                "--gpu-util": opts["gpu_util"] if opts["gpu_util"] != 0.9 else None}
    question |= {"--input-len": opts["input_len"], "--output-len": opts["output_len"],
                 "--concurrency": opts["concurrency"]}
    search = ServeSearch(arch, spec, found.checkpoint, found.config)
    prices = plan_prices(opts["price"], targets)
    speeds = ServeSpeeds(arch, spec, parse_format(_weight_format(spec, found)), workload(
        spec, input_len=opts["input_len"], output_len=opts["output_len"], concurrency=opts["concurrency"],
        mfu=opts["mfu"], rank=_rank(opts, SERVE_RANKS)), prices)
    report = serve_plan(search, targets, source=source, question=_given(question), max_gpus=max_gpus,
                        host_bytes=opts["host_mem"], speeds=speeds)
    return replace(report, prices=prices)


def _rank(opts: dict[str, Any], allowed: tuple[str, ...]) -> str | None:
    if opts["rank"] is not None and opts["rank"] not in allowed:
        raise o.OptionError("rank", f"{opts['rank']} does not order a {opts['mode']} plan; one of "
                            f"{', '.join(allowed)}", mentions=("mode",))
    return opts["rank"]


# the train options a plan searches over, at the values its TrainSpec starts from
_UNPINNED: dict[str, object] = {
    "optim_dtype": None, "optim_impl": "fused", "recompute": "none", "zero": 0, "fsdp": "none",
    "offload": "none", "overhead": (), **{k: 1 for k in ("dp", "tp", "pp", "vpp", "ep", "cp")}, "sp": False}


def _plan_train(found: Resolved, arch: Architecture, opts: dict[str, Any], targets: list[Any],
                max_gpus: int, source: str) -> PlanReport:
    from ..plan.speed import TRAIN_RANKS, TrainSpeeds, plan_prices
    from ..plan.train import TrainSearch, train_plan

    lora = dict(lora_rank=opts["lora_rank"], lora_targets=opts["lora_targets"], qlora=opts["qlora"])
    if opts["mode"] == "finetune" and not (opts["lora_rank"] or opts["qlora"]):
        lora = dict(lora_rank=FINETUNE_LORA_RANK, lora_targets=opts["lora_targets"] or "all-linear",
                    qlora=False)
    spec = _train_spec({**opts, **lora, **_UNPINNED}, found.config, arch.max_position)
    pins = {k: opts[k] for k in ("tp", "pp", "cp", "ep", "zero", "fsdp", "offload", "recompute")
            if opts[k] is not None}
    question = {"--seq": spec.seq, "--micro-batch": opts["micro_batch"] if opts["micro_batch"] > 1 else None,
                "--grad-accum": opts["grad_accum"] if opts["grad_accum"] > 1 else None,
                "--recipe": opts["recipe"] if opts["recipe"] != "amp" else None,
                "--optimizer": opts["optimizer"] if opts["optimizer"] != "adamw" else None,
                "--lora-rank": lora["lora_rank"], "--lora-targets": lora["lora_targets"],
                "--qlora": lora["qlora"]}
    question["--tokens"] = f"{opts['tokens']:g}" if opts["tokens"] else None
    search = TrainSearch(arch, spec, offload=opts["host_mem"] is not None, pins=pins)
    alternatives = _train_alternatives(opts, found, arch, lora)
    prices = plan_prices(opts["price"], targets)
    rank = _rank(opts, TRAIN_RANKS) or "time"
    speeds = TrainSpeeds(arch, spec, opts["tokens"], opts["mfu"], prices, rank)
    report = train_plan(search, targets, source=source, mode=opts["mode"], question=_given(question),
                        max_gpus=max_gpus, host_bytes=opts["host_mem"], keep=opts["keep"],
                        alternatives=alternatives, speeds=speeds)
    return replace(report, prices=prices)


def _given(flags: dict[str, object]) -> dict[str, object]:
    """The flags of a reproducing command that are set (False and None left out)."""
    return {k: v for k, v in flags.items() if v is not None and v is not False}


def _train_alternatives(opts: dict[str, Any], found: Resolved, arch: Architecture,
                        lora: dict[str, Any]) -> dict[str, Any]:
    """The specs tried as single changes when nothing fits: a LoRA fine-tune instead of full
    training, QLoRA instead of LoRA, an 8-bit optimizer."""
    base = {**opts, **_UNPINNED}
    out = {}
    if not lora["lora_rank"] and not lora["qlora"]:
        out[f"--finetune (LoRA r {FINETUNE_LORA_RANK}, all-linear)"] = {
            **base, "lora_rank": FINETUNE_LORA_RANK, "lora_targets": "all-linear", "qlora": False}
    if not lora["qlora"]:
        out["--qlora"] = {**base, "lora_rank": None, "lora_targets": None, "qlora": True}
    if opts["optimizer"] == "adamw" and not lora["lora_rank"]:
        out["--optimizer adam-8bit"] = {**base, **lora, "optimizer": "adam-8bit"}
    return {k: _train_spec(v, found.config, arch.max_position) for k, v in out.items()}
