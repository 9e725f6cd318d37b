"""safetensors headers, read and validated like the format's spec, never touching tensor data.

The format (huggingface/safetensors README, "Format")::

    [ 8 bytes: N, little-endian u64 ][ N bytes: JSON header ][ data buffer ]

The header maps each tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}``, offsets
relative to the start of the data buffer, plus an optional ``"__metadata__"`` string map. The spec
caps N (100 MB here), requires the offsets to tile the buffer with no holes or overlaps, and each
span to equal elements × dtype width. Only the 8 + N header bytes of each file are read.

A sharded checkpoint has ``model.safetensors.index.json`` whose ``weight_map`` names each tensor's
shard; every shard's header is read and the map checked against them.
"""

from __future__ import annotations

import json
import os
import struct
from math import prod

from ..errors import CheckpointError, shown_path
from .checkpoint import Checkpoint, TensorInfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    class Reader(Protocol):
        """What the header parser needs of a stream: a local file, or ranged HTTP reads."""

        def read(self, n: int, /) -> bytes: ...

HEADER_CAP_BYTES = 100 * 10**6  # the safetensors reference implementation's limit (MAX_HEADER_SIZE)
INDEX_CAP_BYTES = 64 * 2**20  # an index.json larger than this is not an index
LENGTH_PREFIX_BYTES = 8  # N, little-endian u64

# Widths in bits, so that 4- and 6-bit float formats stay exact (safetensors ``Dtype`` enum).
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
    "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64, "U64": 64,
    "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"duplicate key {dup!r}")
    return dict(pairs)


def read_header(f: Reader, path: str, file_size: int) -> tuple[dict[str, Any], int]:
    """The parsed JSON header of one open file and the number of bytes read for it."""
    prefix = f.read(LENGTH_PREFIX_BYTES)
    if len(prefix) < LENGTH_PREFIX_BYTES:
        raise CheckpointError(f"{path}: truncated: {file_size} bytes, not even the 8-byte header length")
    (n,) = struct.unpack("<Q", prefix)
    if n > HEADER_CAP_BYTES:
        raise CheckpointError(f"{path}: header length {n:,} exceeds the {HEADER_CAP_BYTES:,}-byte cap")
    if LENGTH_PREFIX_BYTES + n > file_size:
        raise CheckpointError(f"{path}: header length {n:,} runs past the end of the {file_size:,}-byte file")
    raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{path}: header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: header is not a JSON object")
    return header, LENGTH_PREFIX_BYTES + n


def _natural(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _tensor(path: str, name: str, entry: Any) -> tuple[TensorInfo, int, int]:
    """One header entry, checked: known dtype, non-negative integer shape, span = elements × width."""
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise CheckpointError(f"{path}: tensor {name!r} lacks dtype, shape or data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPE_BITS:
        raise CheckpointError(f"{path}: tensor {name!r} has unknown dtype {dtype!r}")
    lists = isinstance(shape, list) and isinstance(offsets, list) and len(offsets) == 2
    if not lists or not all(_natural(x) for x in shape + offsets):
        raise CheckpointError(f"{path}: tensor {name!r} has a malformed shape or data_offsets")
    begin, end = offsets
    nbytes = -(-prod(shape) * DTYPE_BITS[dtype] // 8)
    if end - begin != nbytes:
        raise CheckpointError(
            f"{path}: tensor {name!r} spans {end - begin:,} bytes but {dtype}{shape} needs {nbytes:,}"
        )
    return TensorInfo(name, dtype, tuple(shape), nbytes), begin, end


def _check_tiling(path: str, spans: list[tuple[int, int, str]], buffer_bytes: int) -> None:
    """Offsets must tile [0, buffer) exactly: contiguous, no overlap, nothing outside the file."""
    cursor = 0
    for begin, end, name in sorted(spans):
        if begin != cursor:
            kind = "overlaps the previous tensor" if begin < cursor else f"leaves a hole at byte {cursor:,}"
            raise CheckpointError(f"{path}: tensor {name!r} at byte {begin:,} {kind}")
        cursor = end
    if cursor != buffer_bytes:
        where = "past the end of the file" if cursor > buffer_bytes else "before the end of the file"
        raise CheckpointError(f"{path}: tensor data ends at byte {cursor:,} of {buffer_bytes:,}, {where}")


def parse_file(f: Reader, path: str, size: int) -> tuple[list[TensorInfo], dict[str, str], int]:
    """Tensors, ``__metadata__`` and bytes read of one safetensors stream of ``size`` bytes.
    ``f`` needs only ``read(n)``: a local file, or ranged HTTP reads (``hub.py``)."""
    header, read = read_header(f, path, size)
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: __metadata__ is not a JSON object")
    tensors, spans = [], []
    for name, entry in header.items():
        info, begin, end = _tensor(path, name, entry)
        tensors.append(info)
        spans.append((begin, end, name))
    _check_tiling(path, spans, size - read)
    return tensors, meta, read


def read_file(path: str) -> tuple[list[TensorInfo], dict[str, str], int]:
    """Tensors, ``__metadata__`` and bytes read of one local ``.safetensors`` file (a regular file
    only: a FIFO or a device is refused unopened, ``files.open_regular``)."""
    from .files import open_regular, os_problem

    try:
        with open_regular(path, CheckpointError) as f:
            return parse_file(f, path, os.fstat(f.fileno()).st_size)
    except OSError as e:
        raise CheckpointError(f"{shown_path(path)}: cannot read ({os_problem(e)})") from None


def read_index(path: str) -> dict[str, str]:
    """``weight_map`` of a ``model.safetensors.index.json``: tensor name → shard file name."""
    from .files import read_json

    index = read_json(path, "shard index", CheckpointError, cap=INDEX_CAP_BYTES)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise CheckpointError(f"{shown_path(path)}: no weight_map of tensor names to shard files")
    if not weight_map:
        raise CheckpointError(f"{shown_path(path)}: the weight_map is empty: it names no tensor and no shard")
    return weight_map


def join_shards(label: str, weight_map: dict[str, str],
                by_shard: dict[str, list[TensorInfo]]) -> tuple[TensorInfo, ...]:
    """All shards' tensors, checked against the index: no tensor twice, none missing."""
    seen: dict[str, str] = {}
    for shard, tensors in by_shard.items():
        for t in tensors:
            if t.name in seen:
                raise CheckpointError(f"{label}: tensor {t.name!r} is in {seen[t.name]} and {shard}")
            seen[t.name] = shard
    missing = weight_map.keys() - seen.keys()
    if missing:
        raise CheckpointError(f"{label}: {len(missing)} tensors named by the index are in no shard, "
                              f"e.g. {sorted(missing)[0]!r}")
    return tuple(t for tensors in by_shard.values() for t in tensors)


def shard_names(label: str, weight_map: dict[str, str]) -> list[str]:
    """The shard files an index names, each a plain file name (no path tricks)."""
    shards = sorted(set(weight_map.values()))
    for shard in shards:
        if os.path.basename(shard) != shard or shard in (".", ".."):
            raise CheckpointError(f"{label}: shard name {shard!r} is not a plain file name")
    return shards


def read_sharded(index_path: str) -> Checkpoint:
    """Every shard named by an index. ``bytes_read`` counts the index and the shards' headers."""
    weight_map = read_index(index_path)
    folder = os.path.dirname(index_path)
    by_shard, read = {}, os.path.getsize(index_path)
    for shard in shard_names(index_path, weight_map):
        by_shard[shard], _, n = read_file(os.path.join(folder, shard))
        read += n
    tensors = join_shards(index_path, weight_map, by_shard)
    return Checkpoint("safetensors", index_path, tensors, {}, read, len(by_shard))


def read_safetensors(path: str) -> Checkpoint:
    """A ``.safetensors`` file, a ``*.safetensors.index.json``, or a directory holding either."""
    if os.path.isdir(path):
        return read_safetensors(find_in_directory(path))
    if path.endswith(".index.json"):
        return read_sharded(path)
    tensors, meta, read = read_file(path)
    return Checkpoint("safetensors", path, tuple(tensors), dict(meta), read)


def find_in_directory(folder: str) -> str:
    """The index of a sharded checkpoint, else its single ``.safetensors`` file."""
    names = sorted(os.listdir(folder))
    index = [n for n in names if n.endswith(".safetensors.index.json")]
    files = [n for n in names if n.endswith(".safetensors")]
    if index:
        return os.path.join(folder, index[0])
    if len(files) == 1:
        return os.path.join(folder, files[0])
    if files:
        raise CheckpointError(f"{folder}: {len(files)} .safetensors files and no index to join them")
    raise CheckpointError(f"{folder}: no .safetensors file or index")
