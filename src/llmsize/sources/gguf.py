"""GGUF header → ``Checkpoint``, and GGUF metadata → ``Architecture``.

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

from ..arch import MLA, Architecture, MoE
from ..errors import CheckpointError, LlmsizeError
from ..params import count_params
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
    try:
        file_bytes = os.path.getsize(path)
        raw = open(path, "rb", buffering=0)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    with raw:
        h = _Header(raw, path, file_bytes=file_bytes, max_bytes=max_bytes)
        n_tensors, n_kv = _read_preamble(h)
        metadata = _read_kv_section(h, n_kv)
        infos = [_read_tensor_info(h) for _ in range(n_tensors)]
    _check_layout(h, infos, _alignment(h, metadata))
    return Checkpoint(
        format="gguf", path=path, tensors=tuple(info for _, info, _ in infos), metadata=metadata,
        bytes_read=h.bytes_read, file_type=_file_type(metadata),
    )


# --- metadata → Architecture ----------------------------------------------------------------

# GGUF architectures the rules below were written from (names: llama.cpp src/llama-arch.cpp);
# Mistral and Mixtral convert to "llama". Values are facts the tensor names cannot show.
FAMILIES: dict[str, dict[str, Any]] = {
    **dict.fromkeys(("llama", "qwen2", "qwen3", "qwen2moe", "qwen3moe", "gemma", "gemma2", "gemma3",
                     "deepseek2", "gpt2", "falcon", "starcoder", "starcoder2", "phi2"), {}),
    # ffn_up holds gate and up fused, 2·I rows (convert_hf_to_gguf.py, Phi3MiniModel)
    "phi3": {"gated_mlp": True},
}
# Sliding-window period p where the file has no sliding_window_pattern: layer i is global when
# i % p == p - 1, the rest slide (llama.cpp src/llama-model.cpp, hparams.set_swa_pattern).
SWA_PERIOD = {"gemma2": 2, "gemma3": 6}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Meta:
    """The ``{arch}.*`` keys of one GGUF, read as integers; a per-layer array gives its largest
    value, with a warning."""

    def __init__(self, ckpt: Checkpoint, name: str, warnings: list[str]) -> None:
        self.md, self.path, self.name, self.warnings = ckpt.metadata, ckpt.path, name, warnings
        self.arch = self.md.get("general.architecture")
        if not isinstance(self.arch, str) or not self.arch:
            raise CheckpointError(f"{self.path}: no general.architecture key")

    def int(self, suffix: str, *, required: bool = False) -> int | None:
        key = f"{self.arch}.{suffix}"
        value = self.md.get(key)
        if isinstance(value, list) and value and all(_is_int(v) for v in value):
            if len(set(value)) > 1:
                self.warnings.append(f"{self.name}: {key} varies per layer ({min(value)}–{max(value)}); "
                                     "the largest is counted for every layer")
            value = max(value)
        if value is None and not required:
            return None
        if not _is_int(value) or (required and value <= 0):
            raise CheckpointError(f"{self.path}: {key} must be a positive integer, got {value!r}")
        return value


class _Tensors:
    """Tensor names, and the per-block names (``attn_q.bias`` for ``blk.0.attn_q.bias``)."""

    def __init__(self, ckpt: Checkpoint) -> None:
        self.by_name = {t.name: t for t in ckpt.tensors}
        self.blk = {n.split(".", 2)[2] for n in self.by_name if n.startswith("blk.") and n.count(".") >= 2}

    def rows(self, name: str) -> int | None:
        """The first PyTorch dim of a tensor (V of token_embd, I_s of ffn_up_shexp), if stored."""
        t = self.by_name.get(name)
        return t.shape[0] if t and t.shape else None


def _layout(t: _Tensors) -> dict[str, Any]:
    """What the tensor names show (llama.cpp LLM_TENSOR_NAMES): biases, a gate, the norm type
    (``attn_norm.bias`` → LayerNorm) and placement, a parallel block (no ffn_norm), the head."""
    blk, names = t.blk, t.by_name
    layernorm = "attn_norm.bias" in blk
    pre = "attn_norm.weight" in blk
    parallel = pre and not blk & {"ffn_norm.weight", "post_attention_norm.weight"}
    sandwich = pre and {"post_attention_norm.weight", "post_ffw_norm.weight"} <= blk
    return dict(
        qkv_bias=bool(blk & {"attn_q.bias", "attn_qkv.bias"}), o_bias="attn_output.bias" in blk,
        mlp_bias=bool(blk & {"ffn_up.bias", "ffn_down.bias"}),
        gated_mlp=bool(blk & {"ffn_gate.weight", "ffn_gate_exps.weight", "ffn_gate_shexp.weight"}),
        norm="layernorm" if layernorm else "rmsnorm", norm_bias=layernorm,
        norm_placement="sandwich" if sandwich else "pre" if pre else "post",
        parallel_block=parallel, shared_block_norm=parallel and "attn_norm_2.weight" not in blk,
        tie_embeddings="output.weight" not in names, lm_head_bias="output.bias" in names,
        final_norm="output_norm.weight" in names, embedding_norm="token_embd_norm.weight" in names,
    )


def _vocab(m: _Meta, t: _Tensors) -> int:
    """V: the length of ``tokenizer.ggml.tokens``; the token_embd rows win if they differ."""
    tokens = m.md.get("tokenizer.ggml.tokens")
    n_tokens = tokens.get("array_length") if isinstance(tokens, dict) else (
        len(tokens) if isinstance(tokens, list) else None)
    rows = t.rows("token_embd.weight")
    if rows and n_tokens and rows != n_tokens:
        m.warnings.append(f"{m.name}: the tokenizer has {n_tokens} tokens, token_embd {rows} rows; "
                          "the rows are counted")
    vocab = rows or n_tokens or m.int("vocab_size")
    if not vocab:
        raise CheckpointError(f"{m.path}: no tokenizer.ggml.tokens, token_embd.weight or vocab_size")
    return vocab


def _sizes(m: _Meta, t: _Tensors) -> dict[str, Any]:
    """The rosetta table's widths (``arch.py``), read from ``{arch}.*`` keys."""
    n_heads = m.int("attention.head_count", required=True)
    d_ff = m.int("feed_forward_length") or m.int("expert_feed_forward_length")
    if not d_ff:
        raise CheckpointError(f"{m.path}: missing required key '{m.arch}.feed_forward_length'")
    positions = t.rows("position_embd.weight")
    n_layers = m.int("block_count", required=True)
    if n_layers > MAX_BLOCKS:
        raise CheckpointError(f"{m.path}: {m.arch}.block_count {n_layers} is more than {MAX_BLOCKS} layers")
    return dict(
        n_layers=n_layers, d_model=m.int("embedding_length", required=True),
        n_heads=n_heads, n_kv_heads=m.int("attention.head_count_kv") or n_heads, d_ff=d_ff,
        vocab_size=_vocab(m, t), max_position=m.int("context_length") or Architecture.max_position,
        position="learned" if positions else "rotary", position_rows=positions or 0,
    )


def _mla(m: _Meta) -> MLA | None:
    """DeepSeek-V2 MLA. Newer converters write the MQA view into key/value_length and the per-head
    widths into ``key_length_mla``/``value_length_mla`` (convert_hf_to_gguf.py, DeepseekV2Model)."""
    rank = m.int("attention.kv_lora_rank")
    if not rank:
        return None
    rope = m.int("rope.dimension_count", required=True)
    qk = m.int("attention.key_length_mla") or m.int("attention.key_length", required=True)
    v = m.int("attention.value_length_mla") or m.int("attention.value_length", required=True)
    return MLA(kv_lora_rank=rank, q_lora_rank=m.int("attention.q_lora_rank") or None,
               qk_nope_head_dim=qk - rope, qk_rope_head_dim=rope, v_head_dim=v)


def _attention(m: _Meta, t: _Tensors, out: dict[str, Any]) -> dict[str, Any]:
    """Head width (``key_length``, else d/a), MLA, and a QK-norm: one γ of width d_h ("head") or
    of width a·d_h ("full"), told apart by the stored width."""
    mla = _mla(m)
    if mla:
        return {"mla": mla, "head_dim": mla.qk_head_dim, "n_kv_heads": out["n_heads"]}
    head_dim = m.int("attention.key_length")
    width = head_dim or out["d_model"] // out["n_heads"]
    value = m.int("attention.value_length")
    if value and value != width:
        m.warnings.append(f"{m.name}: value heads are {value} wide, key heads {width}; both are "
                          f"counted {width} wide")
    q_norm = t.by_name.get("blk.0.attn_q_norm.weight")
    qk_norm = "none" if q_norm is None else "head" if q_norm.elements == width else "full"
    return {"head_dim": head_dim, "qk_norm": qk_norm, "qk_norm_bias": "attn_q_norm.bias" in t.blk}


def _moe(m: _Meta, t: _Tensors, n_layers: int, d_ff: int) -> MoE | None:
    """Routed layers are those with a router (``ffn_gate_inp``), else those after
    ``leading_dense_block_count``; the shared-expert width is read from ``ffn_up_shexp``."""
    n_experts = m.int("expert_count")
    if not n_experts:
        return None
    names = t.by_name
    routed = tuple(i for i in range(n_layers) if f"blk.{i}.ffn_gate_inp.weight" in names)
    routed = routed or tuple(range(m.int("leading_dense_block_count") or 0, n_layers))
    first = routed[0] if routed else 0
    d_e = m.int("expert_feed_forward_length") or d_ff
    n_shared = m.int("expert_shared_count") or 0
    d_shared = (t.rows(f"blk.{first}.ffn_up_shexp.weight") or n_shared * d_e
                or m.int("expert_shared_feed_forward_length") or 0)
    return MoE(
        n_experts=n_experts, top_k=m.int("expert_used_count", required=True), d_ff_expert=d_e,
        layers=routed, n_shared_experts=n_shared or int(bool(d_shared)), d_ff_shared=d_shared,
        shared_expert_gate=f"blk.{first}.ffn_gate_inp_shexp.weight" in names,
        router_bias=f"blk.{first}.ffn_gate_inp.bias" in names,
    )


def _sliding(m: _Meta, n_layers: int) -> dict[str, Any]:
    """``attention.sliding_window`` with ``sliding_window_pattern``: a period p (0: every layer
    slides) or one flag per layer (true: sliding); no pattern: the family's, else all slide."""
    window = m.int("attention.sliding_window")
    if not window:
        return {}
    key = f"{m.arch}.attention.sliding_window_pattern"
    p = m.md.get(key, SWA_PERIOD.get(m.arch, 0))
    if isinstance(p, list) and len(p) == n_layers:
        types = tuple("sliding" if flag else "full" for flag in p)
    elif _is_int(p) and p >= 0:
        types = tuple("full" if p and i % p == p - 1 else "sliding" for i in range(n_layers))
    else:
        raise CheckpointError(f"{m.path}: {key} = {p!r} is neither a period nor one flag per layer")
    return {"sliding_window": window, "layer_types": types}


def gguf_param_count(ckpt: Checkpoint) -> int:
    """Logical parameters of a GGUF: its element sum (a quantized block holds ``block_size``
    weights, so elements are weights whatever the storage type)."""
    return ckpt.stored_elements


def gguf_architecture(ckpt: Checkpoint, name: str) -> tuple[Architecture, list[str]]:
    """An ``Architecture`` from GGUF metadata and tensor names, and the warnings met on the way."""
    warnings: list[str] = []
    m, t = _Meta(ckpt, name, warnings), _Tensors(ckpt)
    fixed = FAMILIES.get(m.arch)
    if fixed is None:
        warnings.append(f"{name}: GGUF architecture {m.arch!r} is not one llmsize knows; it is sized "
                        "as a llama-like decoder from its metadata and tensor names")
    out: dict[str, Any] = {"name": name, "model_type": m.arch, **_sizes(m, t), **_layout(t), **(fixed or {})}
    out.update(_attention(m, t, out))
    out["moe"] = _moe(m, t, out["n_layers"], out["d_ff"])
    out.update(_sliding(m, out["n_layers"]))
    arch = Architecture(**out)
    counted, stored = count_params(arch).total, gguf_param_count(ckpt)
    if counted != stored:
        warnings.append(f"{name}: the metadata describe {counted:,} parameters but the file stores "
                        f"{stored:,} elements ({stored - counted:+,})")
    return arch, warnings
