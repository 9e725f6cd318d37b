"""llmsize: size large language models (parameters and memory) before touching a GPU.

Public API (imported on first use, so that ``llmsize`` on the command line starts fast)::

    from llmsize import Architecture, count_params, from_hf_config, resolve, seed_count
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
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'llmsize' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
