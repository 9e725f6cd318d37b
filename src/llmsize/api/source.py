"""The SOURCE a command sizes, opened, and what its results call it."""

from __future__ import annotations

from ..errors import LlmsizeError
from .checks import nonempty_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ..arch import Architecture
    from ..sources.resolve import Resolved

    Source = str | dict[str, Any] | Resolved  # a SOURCE, a config.json's contents, or an opened one


def opened(source: Source | None, command: str, revision: str | None, *,
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
        found = (reader or open_source)(nonempty_text("source", source), revision=revision)
    if found.arch is None:
        raise LlmsizeError(f"{source}: no config.json or GGUF metadata to size the model from")
    return found, found.arch


def model_name(source: Source | None, found: Resolved) -> str:
    """What the results call the model: the SOURCE string, or the opened source's name."""
    return source if isinstance(source, str) else found.name or "config.json"


def context_warning(arch: Architecture, tokens: int, option: str) -> tuple[str, ...]:
    if tokens <= arch.max_position:
        return ()
    return (f"{option} {tokens:,} is beyond the model's maximum context {arch.max_position:,} "
            "(max_position_embeddings): the memory is sized, but the model was not trained for it",)


def image_warning(images: int, unmodelled: str) -> tuple[str, ...]:
    """With images, what the estimate leaves out (said on stderr as well as in the notes)."""
    if not images:
        return ()
    return (f"images {images}: {unmodelled} are not modelled; the activations are low by them",)
