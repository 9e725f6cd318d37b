"""SOURCE → Architecture: a catalog name or HF id, a ``config.json`` path, or a model directory."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from ..arch import Architecture
from ..errors import LlmsizeError, shown_path
from .files import path_problem
from .hf_config import from_hf_config, read_config_file

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

    from .checkpoint import Checkpoint  # two dataclasses, needed only when a file is read


@dataclass(frozen=True)
class Resolved:
    """What a SOURCE holds: a config, a checkpoint's headers, or both, and the architecture."""

    arch: Architecture | None  # None only from open_source, for a checkpoint with no config
    warnings: tuple[str, ...]
    origin: str  # what was read: a path, a Hub URL, or the catalog entry's source URL
    config: dict[str, Any] | None
    checkpoint: Checkpoint | None = None
    name: str = ""  # what results call the model; empty: the SOURCE string it was opened from

    def sized(self) -> Sized:
        """This source as one that has an architecture (the caller has checked ``arch``)."""
        assert self.arch is not None
        return Sized(self.arch, self.warnings, self.origin, self.config, self.checkpoint, self.name)


@dataclass(frozen=True)
class Sized(Resolved):
    """A source with an architecture: what ``resolve`` returns and the size commands read."""

    arch: Architecture


def resolve(source: str, *, revision: str | None = None) -> Sized:
    """The architecture described by ``source`` (an error if it holds no description)."""
    found = open_source(source, revision=revision)
    if found.arch is None:
        raise LlmsizeError(f"{source}: a checkpoint without config.json; `llmsize inspect` reads it")
    return found.sized()


def open_source(source: str, *, revision: str | None = None) -> Resolved:
    """A path (config.json, .safetensors, index, .gguf, or a directory), a catalog name, or a
    Hugging Face Hub id, in that order: a catalog entry never needs the network."""
    path = os.path.expanduser(source)  # os.path, not pathlib: pathlib costs ~7 ms at start-up
    if os.path.isdir(path):
        return _from_directory(path)
    if os.path.isfile(path):
        return _from_file(path)
    if os.path.lexists(path):  # a FIFO, a device, a socket, a symlink loop: never opened
        raise LlmsizeError(f"{shown_path(source)}: {path_problem(path)}")
    if path.endswith((".json", ".safetensors", ".gguf")) or source.startswith(("./", "../", "/", "~")):
        raise LlmsizeError(f"{shown_path(source)}: no such file or directory")
    from . import catalog

    entry, note = catalog.find(source), ""
    if entry is None and source.count("/") == 1:
        from .hub import open_hub

        try:
            config, ckpt, origin = open_hub(source, revision=revision)
        except LlmsizeError as e:  # offline: the catalog's entry of the same model, if there is one
            try:
                entry, note = catalog.match(source)
            except LlmsizeError:
                raise e from None
            note += " (the Hub could not be read)"
        else:
            return _assemble(config, ckpt, origin, source)
    if entry is None:
        entry, note = catalog.match(source)
    arch, warnings = from_hf_config(entry.config, entry.name)
    return Resolved(arch, (*([note] if note else []), *warnings), entry.source, entry.config)


def from_config(config: object, name: str = "config.json") -> Sized:
    """A ``config.json``'s parsed contents (a pasted config, not a file): nothing is read."""
    if not isinstance(config, dict):
        raise LlmsizeError(f"{name}: expected a JSON object (a config.json's contents), "
                           f"got {type(config).__name__}")
    arch, warnings = from_hf_config(config, name)
    return Sized(arch, tuple(warnings), name, config, None, name)


def open_named(source: str, *, revision: str | None = None, hub: bool = False) -> Sized:
    """A catalog name or HF id, or with ``hub=True`` a Hugging Face Hub id, and never a path: the
    local web page's sources (``llmsize serve`` must not read the server's files)."""
    import re

    from . import catalog

    entry = catalog.find(source)
    if entry is None and hub and re.fullmatch(r"[\w.-]+/[\w.-]+", source) and ".." not in source:
        from .hub import open_hub

        config, ckpt, origin = open_hub(source, revision=revision)
        found = _assemble(config, ckpt, origin, source)
        if found.arch is None:
            raise LlmsizeError(f"{source}: no config.json or GGUF metadata to size the model from")
        return replace(found.sized(), name=source)
    if entry is None and not hub and source.count("/") == 1:
        raise LlmsizeError(f"{source}: not a catalog model, and Hub ids are off (start the server "
                           "with `llmsize serve --allow-hub`)")
    entry = entry or catalog.lookup(source)
    arch, warnings = from_hf_config(entry.config, entry.name)
    return Sized(arch, tuple(warnings), entry.source, entry.config, None, source)


def _assemble(config: dict[str, Any] | None, ckpt: Checkpoint | None, origin: str, name: str) -> Resolved:
    """The architecture from the config, or from GGUF metadata when there is no config."""
    if config is not None:
        arch, warnings = from_hf_config(config, name)
        return Resolved(arch, tuple(warnings), origin, config, ckpt)
    if ckpt is not None and ckpt.format == "gguf":
        from .gguf_arch import gguf_architecture

        try:
            arch, warnings = gguf_architecture(ckpt, name)
        except LlmsizeError as e:  # the tensors are still worth inspecting
            return Resolved(None, (f"no architecture from the GGUF metadata: {e}",), origin, None, ckpt)
        return Resolved(arch, tuple(warnings), origin, None, ckpt)
    return Resolved(None, (), origin, None, ckpt)


def _checkpoint(path: str) -> Checkpoint:
    if path.endswith(".gguf"):
        from .gguf import read_gguf

        return read_gguf(path)
    from .safetensors import read_safetensors

    return read_safetensors(path)


def _from_directory(folder: str) -> Resolved:
    names = os.listdir(folder)
    config_path = os.path.join(folder, "config.json")
    config = read_config_file(config_path) if os.path.lexists(config_path) else None
    ggufs = sorted(n for n in names if n.endswith(".gguf"))
    ckpt = None
    if any(n.endswith(".safetensors") for n in names):
        ckpt = _checkpoint(folder)
    elif any(n.endswith(".safetensors.index.json") for n in names):
        _check_index(folder)
    elif len(ggufs) == 1:
        ckpt = _checkpoint(os.path.join(folder, ggufs[0]))
    if config is None and ckpt is None:
        raise LlmsizeError(f"{shown_path(folder)}: directory has no config.json, safetensors or GGUF file")
    return _assemble(config, ckpt, folder, config_path if config else folder)


def _check_index(folder: str) -> None:
    """An index whose shards were not downloaded (``--include "*.json"``) is not read for tensors,
    but a malformed one is still an error rather than ignored."""
    from .safetensors import find_in_directory, read_index, shard_names

    index = find_in_directory(folder)
    shard_names(index, read_index(index))


def _from_file(path: str) -> Resolved:
    if path.endswith((".safetensors", ".gguf", ".safetensors.index.json")):
        beside = os.path.join(os.path.dirname(path) or ".", "config.json")
        config = read_config_file(beside) if os.path.lexists(beside) else None
        return _assemble(config, _checkpoint(path), path, beside if config else path)
    cfg = read_config_file(path)
    arch, warnings = from_hf_config(cfg, path)
    return Resolved(arch, tuple(warnings), path, cfg)
