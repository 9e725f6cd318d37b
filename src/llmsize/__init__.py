"""llmsize: size large language models (parameters and memory) before touching a GPU.

The four questions, with the CLI's options as keywords (``api.py``; results are typed, and
``result.to_dict()`` is the CLI's ``--json``)::

    import llmsize
    llmsize.params("llama-3.1-8b").total
    llmsize.infer("llama-3.1-8b", ctx_size=8192, engine="vllm", gpu_mem="80GiB").total_bytes
    llmsize.train("llama-3.1-8b", seq=4096, zero=3, dp=8).total_bytes
    llmsize.inspect("model.safetensors").to_dict()
    llmsize.plan("llama-3.1-8b", mode="finetune", gpu_mem="24GiB").to_dict()

The building blocks (everything is imported on first use, so that the CLI starts fast)::

    from llmsize import Architecture, count_params, from_hf_config, resolve, seed_count
    from llmsize import InferenceSpec, estimate_inference, TrainSpec, estimate_training
    from llmsize import parse_format, weights_bytes, kv_cache, KVRequest, Layout
    from llmsize import Gpu, gpu, gpus, parse_gpu_spec, Verdict   # the GPU catalog and fit verdicts
"""

from __future__ import annotations

from .version import __version__ as __version__

_API = ("params", "infer", "train", "inspect", "plan")
_EXPORTS = {
    **{name: "api" for name in _API}, "InspectReport": "formats.checkpoint_report", "OptionError": "options",
    "MLA": "arch", "SSM": "arch", "Architecture": "arch", "ArchitectureError": "arch", "MoE": "arch",
    "VisionTower": "arch", "ConfigError": "errors", "LlmsizeError": "errors",
    "ParamReport": "parameters", "count_params": "parameters",
    "SeedReport": "seed", "seed_count": "seed", "seed_from_params": "seed",
    "from_hf_config": "sources.hf_config", "supported_model_types": "sources.hf_config",
    "resolve": "sources.resolve",
    "InferenceSpec": "inference.estimate", "InferenceReport": "inference.estimate",
    "TrainSpec": "training.estimate", "TrainReport": "training.estimate",
    "estimate_training": "training.estimate",
    "Recipe": "training.estimate", "Optimizer": "training.optimizers", "LoraSpec": "training.lora",
    "Layout": "layout", "ZeroStage": "layout", "FsdpStrategy": "layout", "Offload": "layout",
    "KVRequest": "inference.kvcache", "kv_cache": "inference.kvcache",
    "WeightFormat": "formats.dtypes", "parse_format": "formats.dtypes",
    "weights_bytes": "formats.tensors", "model_tensors": "formats.tensors",
    "Gpu": "hardware", "gpu": "hardware", "gpus": "hardware", "parse_gpu_spec": "hardware",
    "Verdict": "hardware.fit", "PlanReport": "plan.report", "InferenceLimits": "plan.limits",
}
_RENAMED = {"estimate_inference": ("inference.engines", "estimate")}
__all__ = sorted([*_EXPORTS, *_RENAMED])


def __getattr__(name: str) -> object:
    module, attr = _RENAMED.get(name, (_EXPORTS.get(name), name))
    if module is None:
        raise AttributeError(f"module 'llmsize' has no attribute {name!r}")
    from importlib import import_module  # here: importing importlib costs the CLI ~0.5 ms

    value = getattr(import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def _keep_api_names() -> None:
    """``llmsize.plan`` is the API function and ``llmsize/plan/`` the package behind it. Importing
    a submodule (``llmsize.plan.serve``) makes the import system set the package as an attribute
    of its parent; this keeps the function there instead (the package stays in ``sys.modules``,
    where every import finds it)."""
    import sys
    from types import ModuleType

    class Package(ModuleType):
        def __setattr__(self, name: str, value: object) -> None:
            if name in _API and isinstance(value, ModuleType):
                return
            super().__setattr__(name, value)

    sys.modules[__name__].__class__ = Package


_keep_api_names()

