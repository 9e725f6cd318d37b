"""Benchmark: reading checkpoint headers costs header bytes only, whatever the checkpoint's size.

Run:  python benchmarks/bench_headers.py

Builds, in a temporary directory, sparse files (the data regions are holes: no disk is used):
  - a 100-shard safetensors checkpoint of a 70B-class model (80 layers, d=8192),
  - a large GGUF (the same shapes as Q4_K tensors),
and prints the time to count their parameters and the bytes read, against the goal
"headers plus 8 bytes per file" (every read goes through a counting wrapper around ``open``).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import struct
import tempfile
import time
from collections.abc import Iterator

from llmsize.formats.stored import quantization_of, weights_report
from llmsize.sources.gguf import read_gguf
from llmsize.sources.safetensors import read_safetensors

LAYERS, D, FF, V = 80, 8192, 28672, 128256
SHARDS = 100


def layer_tensors(i: int, gguf_names: bool = False) -> dict[str, list[int]]:
    """One Llama-3-70B-shaped layer, under HF names or llama.cpp's GGUF names."""
    shapes = {"q": [D, D], "k": [1024, D], "v": [1024, D], "o": [D, D], "gate": [FF, D],
              "up": [FF, D], "down": [D, FF], "attn_norm": [D], "mlp_norm": [D]}
    hf = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
          "o": "self_attn.o_proj", "gate": "mlp.gate_proj", "up": "mlp.up_proj",
          "down": "mlp.down_proj", "attn_norm": "input_layernorm",
          "mlp_norm": "post_attention_layernorm"}
    gg = {"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output", "gate": "ffn_gate",
          "up": "ffn_up", "down": "ffn_down", "attn_norm": "attn_norm", "mlp_norm": "ffn_norm"}
    prefix, names = (f"blk.{i}.", gg) if gguf_names else (f"model.layers.{i}.", hf)
    return {f"{prefix}{names[k]}.weight": shape for k, shape in shapes.items()}


def all_tensors(gguf_names: bool = False) -> dict[str, list[int]]:
    if gguf_names:
        out = {"token_embd.weight": [V, D], "output.weight": [V, D], "output_norm.weight": [D]}
    else:
        out = {"model.embed_tokens.weight": [V, D], "lm_head.weight": [V, D], "model.norm.weight": [D]}
    for i in range(LAYERS):
        out.update(layer_tensors(i, gguf_names))
    return out


def write_sparse_safetensors(path: str, shapes: dict[str, list[int]]) -> int:
    """A BF16 safetensors file whose data region is a hole; returns its header size."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        n = 2 * eval_prod(shape)
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    body = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(body)) + body)
        f.truncate(8 + len(body) + offset)
    return 8 + len(body)


def eval_prod(shape: list[int]) -> int:
    out = 1
    for x in shape:
        out *= x
    return out


def write_checkpoint(folder: str) -> int:
    names = list(all_tensors().items())
    weight_map, headers = {}, 0
    for s in range(SHARDS):
        file = f"model-{s + 1:05d}-of-{SHARDS:05d}.safetensors"
        part = dict(names[s::SHARDS])
        headers += write_sparse_safetensors(os.path.join(folder, file), part)
        weight_map.update(dict.fromkeys(part, file))
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"weight_map": weight_map}, f)
    return headers


def write_gguf(path: str) -> int:
    """A GGUF with the same tensors in Q4_K (norms F32), data left as a hole; returns header size."""
    import gguf
    import numpy as np

    align = 32  # GGUF_DEFAULT_ALIGNMENT
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(LAYERS)
    w.add_embedding_length(D)
    w.add_feed_forward_length(FF)
    w.add_head_count(64)
    w.add_head_count_kv(8)
    w.add_context_length(131072)
    w.add_vocab_size(V)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    data = 0
    for name, shape in all_tensors(gguf_names=True).items():
        qtype = gguf.GGMLQuantizationType.Q4_K if len(shape) == 2 else gguf.GGMLQuantizationType.F32
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        nbytes = eval_prod(shape) // block * size
        # quantized tensors are described by their byte shape (the writer converts it back)
        byte_shape = [*shape[:-1], shape[-1] // block * size] if len(shape) == 2 else shape
        dtype = np.dtype(np.uint8) if len(shape) == 2 else np.dtype(np.float32)
        w.add_tensor_info(name, byte_shape, dtype, nbytes, raw_dtype=qtype)
        data += -(-nbytes // align) * align
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    header = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(-(-header // align) * align + data)
    return header


@contextlib.contextmanager
def counting_reads() -> Iterator[list[int]]:
    """Count every byte any ``open()``ed file hands back while the block runs."""
    counter, real_open = [0, 0], builtins.open

    class Counted:
        def __init__(self, f):
            self._f = f

        def read(self, *args):
            data = self._f.read(*args)
            counter[0] += len(data)
            return data

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    def counted_open(*args, **kwargs):
        counter[1] += 1
        return Counted(real_open(*args, **kwargs))

    builtins.open = counted_open
    try:
        yield counter
    finally:
        builtins.open = real_open


def measure(label: str, fn, headers: int, files: int) -> tuple[str, ...]:
    with counting_reads() as counter:
        t0 = time.perf_counter()
        logical = fn()
        dt = time.perf_counter() - t0
    ok = "yes" if counter[0] <= headers + 8 * files else "NO"
    return (label, f"{logical:,}", f"{dt * 1e3:.1f} ms", f"{counter[0]:,}", f"{headers + 8 * files:,}", ok)


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        headers = write_checkpoint(tmp)
        index = os.path.join(tmp, "model.safetensors.index.json")
        headers += os.path.getsize(index)  # the index is read whole: it is all header
        rows.append(measure(
            f"safetensors, {SHARDS} shards", lambda: weights_report(
                read_safetensors(index), quantization_of(None)).logical_params, headers, SHARDS + 1))
        gguf_path = os.path.join(tmp, "model.gguf")
        gguf_header = write_gguf(gguf_path)
        rows.append(measure("GGUF Q4_K", lambda: sum(t.elements for t in read_gguf(gguf_path).tensors),
                            gguf_header, 1))
        sizes = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))
    header = ("checkpoint", "logical params", "time", "bytes read", "headers + 8/file", "within")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"(apparent size of the synthetic files: {sizes / 2**30:,.1f} GiB, sparse on disk)")
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
