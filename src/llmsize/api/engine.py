"""What the engine profile of ``infer`` takes and refuses: its own options, llama.cpp's formats and
``-np``/``-ngl``, and the format the weights are read in."""

from __future__ import annotations

from .. import options as o
from ..errors import LlmsizeError, shown
from .tables import ENGINE_ONLY

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..arch import Architecture
    from ..sources.resolve import Resolved


def weight_format(spec: Any, found: Resolved) -> str:
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

def parallel(opts: dict[str, Any]) -> int:
    """The sequences: ``parallel`` (llama.cpp ``-np``) is ``batch`` under llama.cpp's name; given
    both (batch not at its default 1), they must agree."""
    if opts["parallel"] is None:
        return int(opts["batch"])
    if opts["batch"] not in (1, opts["parallel"]):
        raise o.OptionError("parallel", f"{opts['parallel']} sequences (-np) but batch {opts['batch']}; "
                            "give one of them", mentions=("batch",))
    return int(opts["parallel"])


def engine_has(opts: dict[str, Any], given: set[str]) -> None:
    """Refuse an option the chosen engine does not have, rather than ignore it."""
    engine = opts["engine"]
    for name in sorted(given):
        if ENGINE_ONLY.get(name, engine) != engine:
            raise o.OptionError(name, f"is an option of --engine {ENGINE_ONLY[name]}, not of {engine}",
                                mentions=("engine",))
    if engine == "llamacpp" and opts["quant"]:
        if not llamacpp_runs(opts["quant"]):
            raise o.OptionError("quant", f"{shown(opts['quant'], 40)} is not a format llama.cpp runs; "
                                         "give a GGUF type such as Q4_K_M or Q8_0")


def llamacpp_runs(fmt: str) -> bool:
    """Whether llama.cpp can run weights in ``fmt``: a GGUF type or a plain float, not a
    transformers quantization (nf4, GPTQ, FP8…)."""
    from ..formats.dtypes import parse_format

    return parse_format(fmt).kind in ("gguf", "float")


def clamped_layers(opts: dict[str, Any], arch: Architecture) -> tuple[str, ...]:
    """llama.cpp clamps -ngl to the model's layers + 1 (the output layer), as ``-ngl 999`` asks for
    'all'; say so when the value given was larger."""
    ngl = opts["n_gpu_layers"]
    if ngl is None or ngl <= arch.n_layers + 1:
        return ()
    return (f"n_gpu_layers {ngl} is more than the model's {arch.n_layers} layers + the output layer: "
            f"all {arch.n_layers + 1} are offloaded, as llama.cpp does",)


def config_quant(opts: dict[str, Any], found: Resolved) -> tuple[str, ...]:
    """Price the weights in the format the config's ``quantization_config`` names unless ``quant``
    is given (it wins, with a warning when they disagree) or a checkpoint's own tensors are read."""
    from ..formats.dtypes import parse_format
    from ..formats.stored import stored_format

    if found.checkpoint is not None:
        return ()
    config = stored_format(found.config)
    if config.name and opts["engine"] == "llamacpp" and not llamacpp_runs(config.name):
        return (f"the config's quantization_config ({config.method}) is not a format llama.cpp runs: "
                f"sized at {opts['dtype']} unless --quant gives a GGUF type",)
    if opts["quant"] is None:
        opts["quant"] = config.name
        return config.warnings
    if config.name and parse_format(opts["quant"]).name != config.name:
        return (f"quant {opts['quant']} overrides the config's quantization_config "
                f"({config.method}, priced as {config.name})",)
    return ()
