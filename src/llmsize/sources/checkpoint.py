"""What a checkpoint's headers say: tensors with their stored dtype, shape and bytes.

Readers (``safetensors.py``, ``gguf.py``, ``hub.py``) fill a ``Checkpoint`` from header bytes only;
no tensor data is ever read. ``bytes_read`` records how many bytes the reader took from disk or
the network, so that the "headers only" promise is measured, not assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True)
class TensorInfo:
    """One stored tensor. ``dtype`` is the format's own name: safetensors ``BF16``/``I32``/``F8_E4M3``,
    or a GGML type name (``Q4_K``). ``shape`` is in PyTorch order (slowest dimension first)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int

    @property
    def elements(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True)
class Checkpoint:
    """The tensors of one checkpoint (all shards together) and what its headers say besides."""

    format: str  # "safetensors" or "gguf"
    path: str  # the file, index or directory that was read
    tensors: tuple[TensorInfo, ...]
    metadata: dict[str, Any] = field(default_factory=dict)  # safetensors __metadata__ / GGUF key-values
    bytes_read: int = 0  # header bytes actually read, all files together
    files: int = 1
    file_type: str | None = None  # GGUF general.file_type as llama.cpp names it (Q4_K_M)

    @property
    def stored_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    @property
    def stored_elements(self) -> int:
        return sum(t.elements for t in self.tensors)
