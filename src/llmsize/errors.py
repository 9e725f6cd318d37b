"""The one error type the CLI turns into a one-line message and exit code 2.

An error message is always one line: input echoed into it goes through ``shown`` (escaped and
shortened), and ``LlmsizeError`` itself escapes any line break left, so that neither a file name
nor a config value with a newline in it can split the message or forge a second line.
"""

from __future__ import annotations

SHOWN_CHARS = 80  # echoed input longer than this is shortened with "…" in the middle
MESSAGE_CHARS = 600  # a whole message longer than this keeps its start and its end


def shown(value: object, limit: int = SHOWN_CHARS, *, quote: bool = True) -> str:
    """``value`` as an error message echoes it: ``repr`` for a string (quoted, escaped) unless
    ``quote=False`` (then only line breaks are escaped), shortened to about ``limit`` characters."""
    text = repr(value) if quote or not isinstance(value, str) else _escaped(value)
    if len(text) > limit:
        half = (limit - 1) // 2
        text = f"{text[:half]}…{text[-half:]} ({len(text):,} characters)"
    return text


def shown_path(path: str) -> str:
    """A file name as a message echoes it: unquoted, line breaks escaped, shortened past 160."""
    return shown(path, 160, quote=False)


def _escaped(text: str) -> str:
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


class LlmsizeError(Exception):
    """Bad input: the message names the input and what is wrong with it, on one line."""

    def __init__(self, message: object = "", *args: object) -> None:
        text = str(message)
        if not text.isprintable():
            text = _escaped(text)
        if len(text) > MESSAGE_CHARS:  # a long echo left unshortened: keep both ends
            text = f"{text[:MESSAGE_CHARS // 2]} … {text[-MESSAGE_CHARS // 2:]}"
        super().__init__(text, *args)


class ConfigError(LlmsizeError):
    """A model description (config.json, flags, catalog entry) that cannot be sized."""


class CheckpointError(LlmsizeError):
    """A checkpoint file (safetensors, GGUF) whose header is malformed; names the file and the problem."""
