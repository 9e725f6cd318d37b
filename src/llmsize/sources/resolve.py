"""SOURCE → Architecture: a catalog name or HF id, a ``config.json`` path, or a model directory."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ..arch import Architecture
from ..errors import ConfigError, LlmsizeError
from .hf_config import from_hf_config

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True)
class Resolved:
    arch: Architecture
    warnings: tuple[str, ...]
    origin: str  # what was read: a path, or the catalog entry's source URL
    config: dict[str, Any]


def read_config_file(path: str) -> dict[str, Any]:
    """Parse a ``config.json``; errors name the file and the problem."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise LlmsizeError(f"{path}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text, so not a config.json") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def resolve(source: str) -> Resolved:
    """The architecture described by ``source``."""
    path = os.path.expanduser(source)  # os.path, not pathlib: pathlib costs ~7 ms at start-up
    if os.path.isdir(path):
        cfg_path = os.path.join(path, "config.json")
        if not os.path.isfile(cfg_path):
            raise LlmsizeError(f"{source}: directory has no config.json")
        return _from_file(cfg_path)
    if os.path.isfile(path):
        return _from_file(path)
    if path.endswith(".json") or source.startswith(("./", "../", "/", "~")):
        raise LlmsizeError(f"{source}: no such file or directory")
    from . import catalog

    entry = catalog.lookup(source)
    arch, warnings = from_hf_config(entry.config, entry.name)
    return Resolved(arch, tuple(warnings), entry.source, entry.config)


def _from_file(path: str) -> Resolved:
    cfg = read_config_file(path)
    arch, warnings = from_hf_config(cfg, path)
    return Resolved(arch, tuple(warnings), path, cfg)
