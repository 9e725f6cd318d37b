"""The one error type the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations


class LlmsizeError(Exception):
    """Bad input: the message names the input and what is wrong with it."""


class ConfigError(LlmsizeError):
    """A model description (config.json, flags, catalog entry) that cannot be sized."""


class CheckpointError(LlmsizeError):
    """A checkpoint file (safetensors, GGUF) whose header is malformed; names the file and the problem."""
