"""llmsize: size large language models (parameters and memory) before touching a GPU.

Public API (imported on first use, so that ``llmsize`` on the command line starts fast)::

    from llmsize import Architecture, count_params, from_hf_config, resolve, seed_count
    from llmsize import InferenceSpec, estimate_inference, TrainSpec, estimate_training
    from llmsize import parse_format, weights_bytes, kv_cache, KVRequest, ParallelSpec
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "MLA": "arch", "SSM": "arch", "Architecture": "arch", "ArchitectureError": "arch", "MoE": "arch",
    "VisionTower": "arch", "ConfigError": "errors", "LlmsizeError": "errors",
    "ParamReport": "params", "count_params": "params",
    "SeedReport": "seed", "seed_count": "seed", "seed_from_params": "seed",
    "from_hf_config": "sources.hf_config", "supported_model_types": "sources.hf_config",
    "resolve": "sources.resolve",
    "InferenceSpec": "inference.estimate", "InferenceReport": "inference.estimate",
    "TrainSpec": "training.estimate", "TrainReport": "training.estimate",
    "estimate_training": "training.estimate",
    "Recipe": "training.estimate", "Optimizer": "training.optimizers", "LoraSpec": "training.lora",
    "ParallelSpec": "training.parallel", "ZeroStage": "training.parallel",
    "FsdpStrategy": "training.parallel", "Offload": "training.parallel",
    "KVRequest": "inference.kvcache", "kv_cache": "inference.kvcache",
    "WeightFormat": "formats.dtypes", "parse_format": "formats.dtypes",
    "weights_bytes": "formats.tensors", "model_tensors": "formats.tensors",
}
_RENAMED = {"estimate_inference": ("inference.engines", "estimate")}
__all__ = sorted([*_EXPORTS, *_RENAMED])


def __getattr__(name: str) -> object:
    module, attr = _RENAMED.get(name, (_EXPORTS.get(name), name))
    if module is None:
        raise AttributeError(f"module 'llmsize' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
