"""GGUF header → ``Checkpoint`` (metadata → ``Architecture`` is in ``gguf_arch.py``).

A GGUF file (spec: ggml ``docs/gguf.md``; reference loader: ggml ``src/gguf.cpp``,
``gguf_init_from_file_impl``) is one header followed by the tensor data::

    magic "GGUF" · version u32 · n_tensors u64 · n_kv u64                   24 bytes
    n_kv      × ( key: string · value type u32 · value )
    n_tensors × ( name: string · n_dims u32 · dims u64 × n_dims · ggml type u32 · offset u64 )
    padding to general.alignment (default 32 bytes)
    ─────────── data section: tensor i at data_start + offset_i (never read here) ───────────

    string = length u64 + UTF-8 bytes (no terminator);  array = item type u32 + count u64 + items

The header is read sequentially with ``struct``, never memory-mapped, and every read stays inside
it: a read may run ahead only over bytes the header is known to hold (the smallest size of the
items still to come), so ``bytes_read`` is exactly the header's length and never more than
``max_bytes``. gguf-py's tables (magic, value types, ggml types, ``GGML_QUANT_SIZES``, file types)
are used as they are, imported on first use (importing ``gguf`` costs ~0.3 s and pulls numpy).

Quirks:

* **dims are stored fastest-varying first** (ggml ``ne[0]`` is the row length), the reverse of
  PyTorch: an ``nn.Linear(4096, 11008)`` weight [11008, 4096] is stored as dims (4096, 11008).
  ``TensorInfo.shape`` is reversed into PyTorch order.
* quantized types pack ``block_size`` weights into ``type_size`` bytes; a row (``ne[0]``) must hold
  whole blocks, so bytes = elements / block_size · type_size.
* offsets count from the data section, which starts at the header's end padded to the alignment;
  gguf.cpp requires them to be contiguous, in order, each tensor padded to the alignment.
* version 1 had u32 counts and is refused; version 3 allows big-endian files, recognised (as in
  gguf-py's ``GGUFReader``) by a byte-swapped version number.
* elements are logical parameters: a Q4_K block holds 256 weights, so a GGUF's parameter count is
  its element sum. Fused tensors (``attn_qkv``; Phi-3's ``ffn_up`` holding gate and up) hold the same
  elements as separate ones. GPT-2 conversions store ``output.weight`` as a copy of
  ``token_embd.weight``, so they count the tied matrix twice, as the file does.
"""

from __future__ import annotations

import os
import struct
from math import prod

from ..errors import CheckpointError, LlmsizeError
from .checkpoint import Checkpoint, TensorInfo

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any, BinaryIO

DEFAULT_MAX_HEADER_BYTES = 64 * 2**20  # Llama 3's 128k tokens + 280k merges take ~8 MiB
MAX_COUNT = 2**20  # tensors or key-value pairs; the largest models hold ~10^4 tensors
MAX_BLOCKS = 2**16  # layers; the deepest released decoders have ~10^2
MAX_ARRAY_DEPTH = 2  # arrays of arrays are allowed by the spec; deeper nesting is refused
SMALL_ARRAY_ITEMS = 64  # longer arrays are stored as their length (tokenizer tokens, merges, scores)
PER_LAYER_ARRAY_ITEMS = 1024  # numeric arrays outside tokenizer.* are per-layer values: kept
READ_AHEAD_BYTES = 2**20  # the most one read takes ahead of what is being parsed
GGML_MAX_DIMS = 4  # ggml/include/ggml.h
PREAMBLE = "IIQQ"  # magic, version, n_tensors, n_kv
MIN_STRING_BYTES = struct.calcsize("<Q")  # an empty string is its length
MIN_ARRAY_BYTES = struct.calcsize("<IQ")  # an empty array is its item type and count
MIN_KV_BYTES = MIN_STRING_BYTES + struct.calcsize("<I") + 1  # key, type, a one-byte value
MIN_TENSOR_INFO_BYTES = MIN_STRING_BYTES + struct.calcsize("<IIQ")  # name, n_dims, type, offset


def _tables() -> Any:
    """The ``gguf`` package (gguf-py, from llama.cpp), imported on first use."""
    try:
        import gguf
    except ImportError:
        raise LlmsizeError("reading GGUF files needs the gguf package: pip install 'llmsize[gguf]'") from None
    return gguf


class _Header:
    """Bounded sequential reads from the start of a GGUF file.

    ``floor`` is a file offset the header is known to reach (from the counts and sizes already
    read); reads run ahead up to it, never past it, so no tensor data is ever read."""

    def __init__(self, raw: BinaryIO, path: str, *, file_bytes: int, max_bytes: int) -> None:
        self.raw, self.path = raw, path
        self.file_bytes, self.max_bytes = file_bytes, max_bytes
        self.buf, self.at = b"", 0  # bytes read but not yet consumed: buf[at:]
        self.bytes_read = self.floor = 0
        self.order = "<"  # little-endian unless the version says otherwise

    @property
    def pos(self) -> int:
        return self.bytes_read - (len(self.buf) - self.at)

    def error(self, problem: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: {problem}")

    def room(self, n: int, what: str) -> None:
        """``n`` more bytes at ``pos`` lie inside the file and inside ``max_bytes``."""
        if self.pos + n > self.file_bytes:
            raise self.error(f"truncated: {what} of {n} bytes at offset {self.pos} runs past the end "
                             f"of the file ({self.file_bytes} bytes)")
        if self.pos + n > self.max_bytes:
            raise self.error(f"{what} of {n} bytes at offset {self.pos} runs past max_bytes="
                             f"{self.max_bytes}; the header is larger than that")

    def take(self, n: int, what: str) -> bytes:
        at = self.at
        if at + n > len(self.buf):  # bytes already read lie inside the limits; others are checked
            self.room(n, what)
            self._fill(n - (len(self.buf) - at))
            at = 0
        self.at = at + n
        return self.buf[at : at + n]

    def _fill(self, need: int) -> None:
        """Read ``need`` bytes, plus whatever lies before ``floor`` (up to ``READ_AHEAD_BYTES``)."""
        end = min(self.floor, self.file_bytes, self.max_bytes, self.bytes_read + need + READ_AHEAD_BYTES)
        want = max(need, end - self.bytes_read)
        chunks = [self.buf[self.at :]]
        while want > 0 and (chunk := self.raw.read(want)):
            chunks.append(chunk)
            self.bytes_read += len(chunk)
            want -= len(chunk)
        self.buf, self.at = b"".join(chunks), 0
        if len(self.buf) < need:
            raise self.error(f"truncated: the file ends at offset {self.bytes_read}")

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        return struct.unpack(self.order + fmt, self.take(struct.calcsize(self.order + fmt), what))

    def string(self, what: str) -> bytes:
        (n,) = self.unpack("Q", f"{what} length")
        return self.take(n, what)

    def name(self, what: str) -> str:
        raw = self.string(what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error(f"{what} at offset {self.pos - len(raw)} is not UTF-8") from None

    def strings(self, n: int, what: str) -> list[bytes]:
        """An array's ``n`` strings. The floor is raised as they go (each one left takes at
        least its length field), so that a tokenizer's 10^5 strings take a handful of reads."""
        u64 = struct.Struct(self.order + "Q")
        out = []
        for i in range(n):
            if self.at + u64.size > len(self.buf):
                self.expect(n - i, u64.size, what)
            (length,) = u64.unpack(self.take(u64.size, what))
            out.append(self.take(length, what))
        return out

    def expect(self, items: int, item_bytes: int, what: str) -> None:
        """``items`` items of at least ``item_bytes`` each follow: check the room, raise the floor."""
        self.room(items * item_bytes, what)
        self.floor = max(self.floor, self.pos + items * item_bytes)


# --- the header ----------------------------------------------------------------------------


def _read_preamble(h: _Header) -> tuple[int, int]:
    """Magic, version (and with it the byte order), tensor and key-value counts."""
    g = _tables()
    h.room(struct.calcsize("<" + PREAMBLE), "fixed header")
    magic, version = h.unpack("II", "magic and version")
    if magic != g.GGUF_MAGIC:
        raise h.error(f"not a GGUF file (magic {magic:#010x}, expected {g.GGUF_MAGIC:#010x} 'GGUF')")
    swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
    if version not in (2, 3) and swapped in (2, 3):
        h.order, version = ">", swapped
    if version not in (2, 3):
        raise h.error(f"GGUF version {version} is not supported (2 and 3 are)")
    n_tensors, n_kv = h.unpack("QQ", "tensor and key-value counts")
    for count, what in ((n_tensors, "tensors"), (n_kv, "key-value pairs")):
        if count > MAX_COUNT:
            raise h.error(f"declares {count} {what}, more than the {MAX_COUNT} any model needs")
    h.expect(1, n_kv * MIN_KV_BYTES + n_tensors * MIN_TENSOR_INFO_BYTES,
             f"{n_kv} key-value pairs and {n_tensors} tensor infos")
    return n_tensors, n_kv


def _read_kv_section(h: _Header, n_kv: int) -> dict[str, Any]:
    """The key-value pairs; duplicate keys are refused, as gguf.cpp does."""
    g = _tables()
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = h.name("key")
        (vtype,) = h.unpack("I", f"value type of {key!r}")
        if key in metadata:
            raise h.error(f"duplicate key {key!r}")
        metadata[key] = _read_value(h, _value_type(h, g, vtype, key), key, depth=0)
    return metadata


def _value_type(h: _Header, g: Any, code: int, key: str) -> Any:
    try:
        return g.GGUFValueType(code)
    except ValueError:
        raise h.error(f"unknown value type {code} for key {key!r}") from None


def _read_value(h: _Header, vtype: Any, key: str, *, depth: int) -> Any:
    """One value; strings are decoded leniently (token pieces need not be valid UTF-8)."""
    g = _tables()
    if vtype == g.GGUFValueType.STRING:
        return h.string(f"string value of {key!r}").decode("utf-8", errors="replace")
    if vtype == g.GGUFValueType.ARRAY:
        return _read_array(h, key, depth=depth + 1)
    # gguf-py keeps the struct format of each scalar type on its writer
    (value,) = h.unpack(g.GGUFWriter._simple_value_packing[vtype], f"value of {key!r}")
    return value


def _read_array(h: _Header, key: str, *, depth: int) -> Any:
    """An array: its items if short (or per-layer numbers), else ``{"array_length", "type"}``."""
    g = _tables()
    if depth > MAX_ARRAY_DEPTH:
        raise h.error(f"{key!r} nests arrays deeper than {MAX_ARRAY_DEPTH}")
    (code,) = h.unpack("I", f"item type of {key!r}")
    item = _value_type(h, g, code, key)
    (n,) = h.unpack("Q", f"length of {key!r}")
    fmt = g.GGUFWriter._simple_value_packing.get(item)
    if fmt:
        size = struct.calcsize("<" + fmt)
    else:
        size = MIN_STRING_BYTES if item == g.GGUFValueType.STRING else MIN_ARRAY_BYTES
    h.expect(n, size, f"array {key!r} of {n} items")
    keep = n <= SMALL_ARRAY_ITEMS or (
        fmt is not None and n <= PER_LAYER_ARRAY_ITEMS and not key.startswith("tokenizer.")
    )
    if fmt:
        raw = h.take(n * size, f"array {key!r}")
        values = list(struct.unpack(f"{h.order}{n}{fmt}", raw)) if keep else None
    elif item == g.GGUFValueType.STRING:
        strings = h.strings(n, f"array {key!r}")
        values = [b.decode("utf-8", errors="replace") for b in strings] if keep else None
    else:
        values = [_read_array(h, key, depth=depth + 1) for _ in range(n)]
    return values if keep else {"array_length": n, "type": item.name}


def _read_tensor_info(h: _Header) -> tuple[str, TensorInfo, int]:
    """One tensor info: name, dims (reversed into PyTorch order), ggml type, bytes, offset."""
    name = h.name("tensor name")
    (n_dims,) = h.unpack("I", f"n_dims of {name!r}")
    if n_dims > GGML_MAX_DIMS:
        raise h.error(f"tensor {name!r} has {n_dims} dims, more than ggml's {GGML_MAX_DIMS}")
    dims = h.unpack(f"{n_dims}Q", f"dims of {name!r}")
    type_code, offset = h.unpack("IQ", f"type and offset of {name!r}")
    return name, _tensor(h, name, dims, type_code), offset


def _tensor(h: _Header, name: str, dims: tuple[int, ...], type_code: int) -> TensorInfo:
    """bytes = elements / block_size · type_size (``GGML_QUANT_SIZES``); gguf.cpp requires each
    row (``ne[0]``, the fastest dim) to hold whole blocks."""
    g = _tables()
    try:
        qtype = g.GGMLQuantizationType(type_code)
        block_size, type_size = g.GGML_QUANT_SIZES[qtype]
    except (ValueError, KeyError):
        raise h.error(f"tensor {name!r} has unknown ggml type {type_code}") from None
    row = dims[0] if dims else 1
    if row % block_size:
        raise h.error(f"tensor {name!r}: rows of {row} {qtype.name} elements are not whole "
                      f"blocks of {block_size}")
    return TensorInfo(name, qtype.name, tuple(reversed(dims)), prod(dims) // block_size * type_size)


def _alignment(h: _Header, metadata: dict[str, Any]) -> int:
    """``general.alignment`` (default 32 bytes): a power of two, as gguf.cpp requires."""
    align = metadata.get("general.alignment", _tables().GGUF_DEFAULT_ALIGNMENT)
    if not isinstance(align, int) or isinstance(align, bool) or align <= 0 or align & (align - 1):
        raise h.error(f"general.alignment {align!r} is not a power of two")
    return align


def _check_layout(h: _Header, infos: list[tuple[str, TensorInfo, int]], align: int) -> None:
    """Names are unique; offsets are aligned and contiguous in order (gguf.cpp: "tensor has offset
    X, expected Y"); every tensor ends inside the file (its size, never its bytes)."""
    data_start = -(-h.pos // align) * align
    seen: set[str] = set()
    expected = 0
    for name, info, offset in infos:
        if name in seen:
            raise h.error(f"duplicate tensor name {name!r}")
        seen.add(name)
        if offset % align:
            raise h.error(f"tensor {name!r} offset {offset} is not a multiple of the alignment {align}")
        if offset != expected:
            raise h.error(f"tensor {name!r} has offset {offset}, expected {expected} (contiguous data)")
        if data_start + offset + info.nbytes > h.file_bytes:
            raise h.error(f"tensor {name!r} ({info.nbytes} bytes at offset {data_start + offset}) "
                          f"runs past the end of the file ({h.file_bytes} bytes)")
        expected = offset + -(-info.nbytes // align) * align


def _file_type(metadata: dict[str, Any]) -> str | None:
    """``general.file_type`` as llama.cpp names it (``MOSTLY_Q4_K_M`` → ``Q4_K_M``)."""
    code = metadata.get("general.file_type")
    try:
        name = _tables().LlamaFileType(code).name
    except ValueError:
        return None if code is None else f"unknown ({code})"
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


def read_gguf(path: str, *, max_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> Checkpoint:
    """The tensors and metadata of a GGUF file, from at most ``max_bytes`` of its header."""
    from .files import regular_fd

    fd = regular_fd(path, CheckpointError)  # a FIFO or a device is refused, never read
    file_bytes = os.fstat(fd).st_size
    with open(fd, "rb", buffering=0) as raw:
        h = _Header(raw, path, file_bytes=file_bytes, max_bytes=max_bytes)
        n_tensors, n_kv = _read_preamble(h)
        metadata = _read_kv_section(h, n_kv)
        infos = [_read_tensor_info(h) for _ in range(n_tensors)]
    _check_layout(h, infos, _alignment(h, metadata))
    return Checkpoint(
        format="gguf", path=path, tensors=tuple(info for _, info, _ in infos), metadata=metadata,
        bytes_read=h.bytes_read, file_type=_file_type(metadata),
    )
