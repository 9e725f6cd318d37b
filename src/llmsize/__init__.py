"""llmsize: size large language models (parameters and memory) before touching a GPU.

Public API::

    from llmsize import Architecture, count_params, from_hf_config, resolve, seed_count
"""

from .arch import MLA, Architecture, ArchitectureError, MoE, VisionTower
from .errors import ConfigError, LlmsizeError
from .params import ParamReport, count_params
from .seed import SeedReport, seed_count, seed_from_params
from .sources.hf_config import from_hf_config, supported_model_types
from .sources.resolve import resolve

__version__ = "0.1.0"

__all__ = [
    "MLA",
    "Architecture",
    "ArchitectureError",
    "ConfigError",
    "LlmsizeError",
    "MoE",
    "ParamReport",
    "SeedReport",
    "VisionTower",
    "count_params",
    "from_hf_config",
    "resolve",
    "seed_count",
    "seed_from_params",
    "supported_model_types",
]
