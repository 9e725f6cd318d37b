"""GGUF header reading and GGUF metadata → Architecture, on tiny files written with gguf-py.

gguf-py's own ``GGUFReader`` (which memory-maps the whole file) is the independent truth for
shapes, bytes and the data offset; ``count_params`` is the truth the element sums must agree with.
"""

from __future__ import annotations

import os
import struct
import tempfile
from unittest import mock

import gguf
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmsize.sources.gguf as reader_module
from llmsize import count_params
from llmsize.errors import CheckpointError, LlmsizeError
from llmsize.sources.gguf import read_gguf
from llmsize.sources.gguf_arch import gguf_architecture, gguf_param_count

Q = gguf.GGMLQuantizationType


def write(path, arch: str, tensors: dict, kv=lambda w: None, **writer_args) -> str:
    """A GGUF at ``path``: ``tensors`` maps a name to a PyTorch-order shape (F32 zeros) or to a
    ``(shape, ggml type)`` pair (raw bytes of the right size); ``kv`` adds the key-values."""
    w = gguf.GGUFWriter(str(path), arch, **writer_args)
    kv(w)
    for name, spec in tensors.items():
        shape, qtype = spec if isinstance(spec[0], tuple) else (spec, Q.F32)
        if qtype == Q.F32:
            w.add_tensor(name, np.zeros(shape, np.float32))
            continue
        block, type_bytes = gguf.GGML_QUANT_SIZES[qtype]
        row_bytes = shape[-1] // block * type_bytes
        w.add_tensor(name, np.zeros((*shape[:-1], row_bytes), np.uint8), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return str(path)


@pytest.fixture
def counting_open():
    """Patches the reader's ``open`` so that every byte it takes from disk is counted."""
    counted = {"bytes": 0, "calls": 0}
    real_open = open

    class Counting:
        def __init__(self, f):
            self.f = f

        def read(self, n=-1):
            data = self.f.read(n)
            counted["bytes"] += len(data)
            counted["calls"] += 1
            return data

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    with mock.patch.object(reader_module, "open", lambda *a, **k: Counting(real_open(*a, **k)), create=True):
        yield counted


# --- tensors: dtypes, shapes, bytes ---------------------------------------------------------

QUANT_TENSORS = {
    "f32": ((3, 64), Q.F32), "f16": ((5, 32), Q.F16), "q8_0": ((4, 64), Q.Q8_0),
    "q4_0": ((2, 96), Q.Q4_0), "q4_k": ((3, 512), Q.Q4_K), "q6_k": ((2, 256), Q.Q6_K),
    "q4_k_3d": ((2, 3, 256), Q.Q4_K), "norm": ((64,), Q.F32),
}


def test_tensor_bytes_and_shapes_match_gguf_py(tmp_path):
    path = write(tmp_path / "q.gguf", "llama", QUANT_TENSORS)
    ckpt = read_gguf(path)
    truth = gguf.GGUFReader(path)
    assert [t.name for t in ckpt.tensors] == [t.name for t in truth.tensors]
    for ours, theirs in zip(ckpt.tensors, truth.tensors, strict=True):
        assert ours.nbytes == theirs.n_bytes
        assert ours.shape == tuple(int(d) for d in reversed(theirs.shape))  # PyTorch order
        assert ours.dtype == theirs.tensor_type.name
        assert ours.elements == theirs.n_elements
    assert ckpt.stored_bytes == sum(int(t.n_bytes) for t in truth.tensors)


def test_shapes_are_pytorch_order_and_bytes_follow_the_quant_tables(tmp_path):
    path = write(tmp_path / "q.gguf", "llama", QUANT_TENSORS)
    tensors = {t.name: t for t in read_gguf(path).tensors}
    assert tensors["q4_k_3d"].shape == (2, 3, 256)
    assert tensors["q4_k"].nbytes == 3 * 2 * (2 + 2 + gguf.QK_K // 2 + 12)  # 144-byte blocks of 256
    assert tensors["q8_0"].nbytes == 4 * 2 * (2 + 32)
    assert tensors["f16"].dtype == "F16" and tensors["f16"].nbytes == 5 * 32 * 2


def test_f16_from_numpy(tmp_path):
    w_path = tmp_path / "h.gguf"
    w = gguf.GGUFWriter(str(w_path), "llama")
    w.add_tensor("h", np.zeros((7, 32), np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    (t,) = read_gguf(str(w_path)).tensors
    assert (t.dtype, t.shape, t.nbytes) == ("F16", (7, 32), 7 * 32 * 2)


# --- metadata --------------------------------------------------------------------------------


def rich_kv(w):
    w.add_name("tiny")
    w.add_uint64("x.u64", 2**40)
    w.add_int8("x.i8", -3)
    w.add_float32("x.f32", 0.5)
    w.add_bool("x.flag", True)
    w.add_array("x.small", [1, 2, 3])
    w.add_array("x.names", ["a", "b"])
    w.add_feed_forward_length([96, 128, 96])
    w.add_token_list([f"tok{i}" for i in range(1000)])
    w.add_token_scores([0.0] * 1000)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)


def test_metadata_round_trips_and_large_arrays_become_lengths(tmp_path):
    md = read_gguf(write(tmp_path / "m.gguf", "llama", {"t": (4, 32)}, rich_kv)).metadata
    assert md["general.architecture"] == "llama" and md["general.name"] == "tiny"
    assert (md["x.u64"], md["x.i8"], md["x.f32"], md["x.flag"]) == (2**40, -3, 0.5, True)
    assert md["x.small"] == [1, 2, 3] and md["x.names"] == ["a", "b"]
    assert md["llama.feed_forward_length"] == [96, 128, 96]  # per-layer values are kept
    assert md["tokenizer.ggml.tokens"] == {"array_length": 1000, "type": "STRING"}
    assert md["tokenizer.ggml.scores"] == {"array_length": 1000, "type": "FLOAT32"}


def test_nested_arrays_are_kept_and_deep_nesting_refused(tmp_path):
    path = write(tmp_path / "n.gguf", "llama", {}, lambda w: w.add_array("x.nested", [[1, 2], [3]]))
    assert read_gguf(path).metadata["x.nested"] == [[1, 2], [3]]
    deep = write(tmp_path / "d.gguf", "llama", {}, lambda w: w.add_array("x.deep", [[[1]]]))
    with pytest.raises(CheckpointError, match="nests arrays deeper"):
        read_gguf(deep)


@pytest.mark.parametrize("code, name", [
    (gguf.LlamaFileType.ALL_F32, "F32"), (gguf.LlamaFileType.MOSTLY_F16, "F16"),
    (gguf.LlamaFileType.MOSTLY_Q4_K_M, "Q4_K_M"), (gguf.LlamaFileType.MOSTLY_Q6_K, "Q6_K"),
    (gguf.LlamaFileType.MOSTLY_Q8_0, "Q8_0"), (gguf.LlamaFileType.MOSTLY_BF16, "BF16"),
])
def test_file_type_name(tmp_path, code, name):
    path = write(tmp_path / "f.gguf", "llama", {"t": (2, 32)}, lambda w: w.add_file_type(code))
    assert read_gguf(path).file_type == name


def test_no_file_type(tmp_path):
    assert read_gguf(write(tmp_path / "f.gguf", "llama", {"t": (2, 32)})).file_type is None


# --- headers only ----------------------------------------------------------------------------


def test_reads_exactly_the_header(tmp_path, counting_open):
    path = write(tmp_path / "m.gguf", "llama", QUANT_TENSORS, rich_kv)
    ckpt = read_gguf(path)
    truth = gguf.GGUFReader(path)
    assert counting_open["bytes"] == ckpt.bytes_read  # every byte taken from disk is accounted for
    assert ckpt.bytes_read <= truth.data_offset < ckpt.bytes_read + gguf.GGUF_DEFAULT_ALIGNMENT
    assert ckpt.bytes_read < os.path.getsize(path) - ckpt.stored_bytes + gguf.GGUF_DEFAULT_ALIGNMENT


def test_big_vocabulary_header_needs_few_reads_and_no_data(tmp_path, counting_open):
    def kv(w):
        w.add_token_list([f"piece{i}" for i in range(20_000)])
        w.add_token_merges([f"a{i} b{i}" for i in range(10_000)])

    path = write(tmp_path / "v.gguf", "llama", {"t": (8, 64)}, kv)
    ckpt = read_gguf(path)
    assert counting_open["bytes"] == ckpt.bytes_read <= gguf.GGUFReader(path).data_offset
    assert counting_open["calls"] < 100  # 30,000 strings, read ahead in a few large reads
    assert ckpt.metadata["tokenizer.ggml.merges"]["array_length"] == 10_000


def test_custom_alignment_and_big_endian(tmp_path):
    path = write(tmp_path / "a.gguf", "llama", QUANT_TENSORS, lambda w: w.add_custom_alignment(64))
    assert read_gguf(path).metadata["general.alignment"] == 64
    be = write(tmp_path / "be.gguf", "llama", {"t": (3, 64)}, rich_kv, endianess=gguf.GGUFEndian.BIG)
    ckpt = read_gguf(be)
    assert ckpt.tensors[0].shape == (3, 64) and ckpt.metadata["x.u64"] == 2**40
    assert ckpt.bytes_read <= gguf.GGUFReader(be).data_offset


def test_header_larger_than_max_bytes(tmp_path, counting_open):
    path = write(tmp_path / "m.gguf", "llama", {"t": (2, 32)}, rich_kv)
    with pytest.raises(CheckpointError, match="max_bytes=1000"):
        read_gguf(path, max_bytes=1000)
    assert counting_open["bytes"] <= 1000


# --- malformed files -------------------------------------------------------------------------


@pytest.fixture
def valid(tmp_path):
    """A small valid GGUF's bytes: tensors "t0" (2×32 F32) and "t1" (4×64 Q8_0), one string key."""
    path = write(tmp_path / "ok.gguf", "llama", {"t0": (2, 32), "t1": ((4, 64), Q.Q8_0)})
    with open(path, "rb") as f:
        return f.read()


def tensor_field(data: bytes, name: bytes, field: str) -> int:
    """File offset of a field in the tensor info of ``name`` (n_dims u32, 2 dims u64, type, offset)."""
    at = data.index(struct.pack("<Q", len(name)) + name) + 8 + len(name)
    return {"n_dims": at, "type": at + 4 + 16, "offset": at + 4 + 16 + 4}[field]


def patched(data: bytes, at: int, fmt: str, value: int) -> bytes:
    return data[:at] + struct.pack(fmt, value) + data[at + struct.calcsize(fmt):]


MALFORMED = {
    "wrong magic": (lambda d: b"GGUG" + d[4:], "not a GGUF file"),
    "version 1": (lambda d: patched(d, 4, "<I", 1), "version 1 is not supported"),
    "version 4": (lambda d: patched(d, 4, "<I", 4), "version 4"),
    "truncated preamble": (lambda d: d[:20], "truncated"),
    "truncated header": (lambda d: d[:60], "truncated"),
    "absurd tensor count": (lambda d: patched(d, 8, "<Q", 2**40), "tensors"),
    "absurd kv count": (lambda d: patched(d, 16, "<Q", 2**21), "key-value pairs"),
    "more tensors than the file holds": (lambda d: patched(d, 8, "<Q", 5000), "tensor infos"),
    "absurd string length": (lambda d: patched(d, 24, "<Q", 2**62), "key"),
    "unknown value type": (lambda d: patched(d, 24 + 8 + len("general.architecture"), "<I", 99),
                           "unknown value type 99"),
    "unknown ggml type": (lambda d: patched(d, tensor_field(d, b"t1", "type"), "<I", 4),
                          "unknown ggml type 4"),
    "too many dims": (lambda d: patched(d, tensor_field(d, b"t0", "n_dims"), "<I", 9), "dims"),
    "misaligned offset": (lambda d: patched(d, tensor_field(d, b"t1", "offset"), "<Q", 260), "alignment"),
    "offset outside the file": (lambda d: patched(d, tensor_field(d, b"t1", "offset"), "<Q", 2**40),
                                "offset"),
    "data cut short": (lambda d: d[:-100], "past the end of the file"),
    "duplicate tensor name": (lambda d: d.replace(b"t1", b"t0"), "duplicate tensor name"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_files_raise_checkpoint_error_naming_the_file(tmp_path, valid, case):
    mutate, problem = MALFORMED[case]
    path = tmp_path / "bad.gguf"
    path.write_bytes(mutate(valid))
    with pytest.raises(CheckpointError, match=problem) as info:
        read_gguf(str(path))
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="cannot read"):
        read_gguf(str(tmp_path / "none.gguf"))


def test_rows_must_hold_whole_blocks(tmp_path, valid):
    path = tmp_path / "bad.gguf"  # t1 is Q8_0 (blocks of 32): a row of 48 is 1.5 blocks
    path.write_bytes(patched(valid, tensor_field(valid, b"t1", "n_dims") + 4, "<Q", 48))
    with pytest.raises(CheckpointError, match="not whole blocks of 32"):
        read_gguf(str(path))


# --- metadata → Architecture -----------------------------------------------------------------


def llama_kv(w, *, d, layers, heads, kv_heads, ff, ctx=128, key_length=None):
    w.add_block_count(layers)
    w.add_embedding_length(d)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_feed_forward_length(ff)
    w.add_context_length(ctx)
    if key_length:
        w.add_key_length(key_length)
        w.add_value_length(key_length)


def llama_tensors(*, v, d, layers, heads, kv_heads, dh, ff, tied=False, **opts) -> dict:
    """PyTorch-order shapes of a llama-like decoder, with llama.cpp's tensor names; ``opts``
    switch on the variants of the families under test."""
    t = {"token_embd.weight": (v, d), "output_norm.weight": (d,)}
    if not tied:
        t["output.weight"] = (v, d)
    for i in range(layers):
        t.update(block_tensors(i, d=d, heads=heads, kv_heads=kv_heads, dh=dh, ff=ff, **opts))
    return t


def weights(prefix: str, **shapes) -> dict:
    """``{prefix}{name}.weight`` → shape, for each keyword (a short way to list llama.cpp names)."""
    return {f"{prefix}{name}.weight": shape for name, shape in shapes.items()}


def biases(prefix: str, **shapes) -> dict:
    return {f"{prefix}{name}.bias": shape for name, shape in shapes.items()}


def block_tensors(i, *, d, heads, kv_heads, dh, ff, qkv_bias=False, qk_norm=False, sandwich=False,
                  experts=0, shared_ff=0, shared_gate=False) -> dict:
    b, q, kv = f"blk.{i}.", heads * dh, kv_heads * dh
    t = weights(b, attn_norm=(d,), attn_q=(q, d), attn_k=(kv, d), attn_v=(kv, d), attn_output=(d, q),
                ffn_norm=(d,))
    if qkv_bias:
        t |= biases(b, attn_q=(q,), attn_k=(kv,), attn_v=(kv,))
    if qk_norm:
        t |= weights(b, attn_q_norm=(dh,), attn_k_norm=(dh,))
    if sandwich:
        t |= weights(b, post_attention_norm=(d,), post_ffw_norm=(d,))
    if experts:
        t |= weights(b, ffn_gate_inp=(experts, d), ffn_gate_exps=(experts, ff, d),
                     ffn_up_exps=(experts, ff, d), ffn_down_exps=(experts, d, ff))
    else:
        t |= weights(b, ffn_gate=(ff, d), ffn_up=(ff, d), ffn_down=(d, ff))
    if shared_ff:
        t |= weights(b, ffn_gate_shexp=(shared_ff, d), ffn_up_shexp=(shared_ff, d),
                     ffn_down_shexp=(d, shared_ff))
    if shared_gate:
        t |= weights(b, ffn_gate_inp_shexp=(1, d))
    return t


def tokens(w, n=100):
    w.add_token_list([f"t{i}" for i in range(n)])


def family_case(tmp_path, arch, *, tensor_opts=(), kv_extra=lambda w: None, heads=4, kv_heads=2,
                dh=16, d=64, ff=96, layers=2, key_length=None, tied=False):
    def kv(w):
        llama_kv(w, d=d, layers=layers, heads=heads, kv_heads=kv_heads, ff=ff, key_length=key_length)
        tokens(w)
        kv_extra(w)

    tensors = llama_tensors(v=100, d=d, layers=layers, heads=heads, kv_heads=kv_heads, dh=dh, ff=ff,
                            tied=tied, **dict(tensor_opts))
    return read_gguf(write(tmp_path / f"{arch}.gguf", arch, tensors, kv))


def assert_counts_agree(ckpt, arch, warnings):
    assert count_params(arch).total == gguf_param_count(ckpt) == ckpt.stored_elements
    assert not [w for w in warnings if "parameters" in w]


def test_llama_maps_and_counts_agree(tmp_path):
    ckpt = family_case(tmp_path, "llama")
    arch, warnings = gguf_architecture(ckpt, "tiny-llama")
    assert_counts_agree(ckpt, arch, warnings)
    assert warnings == []
    assert (arch.name, arch.model_type, arch.n_layers, arch.d_model, arch.n_heads, arch.n_kv_heads,
            arch.head_dim, arch.d_ff, arch.vocab_size, arch.max_position) == (
        "tiny-llama", "llama", 2, 64, 4, 2, 16, 96, 100, 128)
    assert (arch.norm, arch.norm_bias, arch.gated_mlp, arch.qkv_bias, arch.tie_embeddings,
            arch.attention, arch.moe, arch.position) == ("rmsnorm", False, True, False, False, "GQA", None,
                                                          "rotary")


FAMILY_CASES = {
    "llama tied": dict(arch="llama", tied=True, expect={"tie_embeddings": True}),
    "qwen2 biases": dict(arch="qwen2", tensor_opts={"qkv_bias": True},
                         expect={"qkv_bias": True, "o_bias": False}),
    "qwen3 qk-norm, wide heads": dict(arch="qwen3", dh=32, key_length=32, tensor_opts={"qk_norm": True},
                                      expect={"qk_norm": "head", "head_dim": 32}),
    "gemma2 sandwich": dict(arch="gemma2", tied=True, dh=32, key_length=32, tensor_opts={"sandwich": True},
                            kv_extra=lambda w: w.add_sliding_window(16),
                            expect={"norm_placement": "sandwich",
                                    "layer_types": ("sliding", "full", "sliding", "full"),
                                    "sliding_window": 16}, layers=4),
    "gemma3 period 6": dict(arch="gemma3", tied=True, tensor_opts={"sandwich": True, "qk_norm": True},
                            kv_extra=lambda w: w.add_sliding_window(8), layers=7,
                            expect={"layer_types": ("sliding",) * 5 + ("full", "sliding")}),
    "mistral all sliding": dict(arch="llama", kv_extra=lambda w: w.add_sliding_window(32),
                                expect={"layer_types": ("sliding", "sliding")}),
    "per-layer pattern": dict(arch="llama", kv_extra=lambda w: (w.add_sliding_window(32),
                                                                w.add_sliding_window_pattern([False, True])),
                              expect={"layer_types": ("full", "sliding")}),
    "mixtral moe": dict(arch="llama", tensor_opts={"experts": 4},
                        kv_extra=lambda w: (w.add_expert_count(4), w.add_expert_used_count(2)),
                        expect={"attention": "GQA"}, moe=(4, 2, 96, (0, 1), 0, False)),
    "qwen2moe shared expert": dict(
        arch="qwen2moe", tensor_opts={"experts": 8, "shared_ff": 64, "shared_gate": True, "qkv_bias": True},
        kv_extra=lambda w: (w.add_expert_count(8), w.add_expert_used_count(2),
                            w.add_expert_feed_forward_length(96),
                            w.add_expert_shared_feed_forward_length(64)),
        moe=(8, 2, 96, (0, 1), 64, True)),
}


@pytest.mark.parametrize("case", FAMILY_CASES)
def test_families_map_and_counts_agree(tmp_path, case):
    spec = dict(FAMILY_CASES[case])
    expect, moe = spec.pop("expect", {}), spec.pop("moe", None)
    ckpt = family_case(tmp_path, **spec)
    arch, warnings = gguf_architecture(ckpt, case)
    assert_counts_agree(ckpt, arch, warnings)
    assert {k: getattr(arch, k) for k in expect} == expect
    if moe:
        m = arch.moe
        assert (m.n_experts, m.top_k, m.d_ff_expert, m.layers, m.d_ff_shared, m.shared_expert_gate) == moe


def gpt2_tensors(*, v=100, d=64, layers=2, positions=128, ff=256):
    # GPT-2 GGUFs store the tied head again as output.weight (convert_hf_to_gguf.py, GPT2Model)
    t = weights("", token_embd=(v, d), position_embd=(positions, d), output_norm=(d,), output=(v, d))
    t |= biases("", output_norm=(d,))
    for i in range(layers):
        shapes = dict(attn_norm=((d,), (d,)), attn_qkv=((3 * d, d), (3 * d,)), attn_output=((d, d), (d,)),
                      ffn_norm=((d,), (d,)), ffn_up=((ff, d), (ff,)), ffn_down=((d, ff), (d,)))
        t |= weights(f"blk.{i}.", **{k: w for k, (w, _) in shapes.items()})
        t |= biases(f"blk.{i}.", **{k: b for k, (_, b) in shapes.items()})
    return t


def test_gpt2_layernorm_biases_learned_positions(tmp_path):
    def kv(w):
        llama_kv(w, d=64, layers=2, heads=4, kv_heads=4, ff=256)
        tokens(w)

    ckpt = read_gguf(write(tmp_path / "g.gguf", "gpt2", gpt2_tensors(), kv))
    arch, warnings = gguf_architecture(ckpt, "gpt2")
    assert_counts_agree(ckpt, arch, warnings)
    assert (arch.norm, arch.norm_bias, arch.gated_mlp, arch.qkv_bias, arch.o_bias, arch.mlp_bias,
            arch.position, arch.position_rows) == ("layernorm", True, False, True, True, True, "learned", 128)


def test_falcon_parallel_block_multi_query(tmp_path):
    d, v = 64, 100
    t = weights("", token_embd=(v, d), output_norm=(d,)) | biases("", output_norm=(d,))
    for i in range(2):
        b = f"blk.{i}."
        t |= weights(b, attn_norm=(d,), attn_qkv=(d + 2 * 16, d), attn_output=(d, d), ffn_up=(4 * d, d),
                     ffn_down=(d, 4 * d)) | biases(b, attn_norm=(d,))

    def kv(w):
        llama_kv(w, d=d, layers=2, heads=4, kv_heads=1, ff=4 * d)
        tokens(w)

    ckpt = read_gguf(write(tmp_path / "f.gguf", "falcon", t, kv))
    arch, warnings = gguf_architecture(ckpt, "falcon")
    assert_counts_agree(ckpt, arch, warnings)
    assert (arch.parallel_block, arch.shared_block_norm, arch.attention, arch.tie_embeddings) == (
        True, True, "MQA", True)


def test_phi3_fused_gate_up(tmp_path):
    d, ff, v = 64, 96, 100
    t = weights("", token_embd=(v, d), output_norm=(d,), output=(v, d))
    for i in range(2):
        t |= weights(f"blk.{i}.", attn_norm=(d,), attn_qkv=(3 * d, d), attn_output=(d, d), ffn_norm=(d,),
                     ffn_up=(2 * ff, d), ffn_down=(d, ff))

    def kv(w):
        llama_kv(w, d=d, layers=2, heads=4, kv_heads=4, ff=ff)
        tokens(w)

    ckpt = read_gguf(write(tmp_path / "p.gguf", "phi3", t, kv))
    arch, warnings = gguf_architecture(ckpt, "phi3")
    assert_counts_agree(ckpt, arch, warnings)
    assert arch.gated_mlp


def deepseek2_tensors(*, v=100, d=64, a=4, dq=32, dc=16, nope=16, rope=8, vd=16, ff=96, ff_e=32, e=4,
                      shared=2) -> dict:
    """Layer 0 dense, layer 1 routed with ``shared`` shared experts; MLA attention in both."""
    t = weights("", token_embd=(v, d), output_norm=(d,), output=(v, d))
    for i in range(2):
        t |= weights(f"blk.{i}.", attn_norm=(d,), attn_q_a=(dq, d), attn_q_a_norm=(dq,),
                     attn_q_b=(a * (nope + rope), dq), attn_kv_a_mqa=(dc + rope, d), attn_kv_a_norm=(dc,),
                     attn_kv_b=(a * (nope + vd), dc), attn_output=(d, a * vd), ffn_norm=(d,))
    t |= weights("blk.0.", ffn_gate=(ff, d), ffn_up=(ff, d), ffn_down=(d, ff))
    s_ff = shared * ff_e
    t |= weights("blk.1.", ffn_gate_inp=(e, d), ffn_gate_exps=(e, ff_e, d), ffn_up_exps=(e, ff_e, d),
                 ffn_down_exps=(e, d, ff_e), ffn_gate_shexp=(s_ff, d), ffn_up_shexp=(s_ff, d),
                 ffn_down_shexp=(d, s_ff))
    return t


@pytest.mark.parametrize("mla_keys", [False, True], ids=["old converter", "key_length_mla"])
def test_deepseek2_mla_and_moe(tmp_path, mla_keys):
    def kv(w):
        llama_kv(w, d=64, layers=2, heads=4, kv_heads=4, ff=96)
        tokens(w)
        w.add_kv_lora_rank(16)
        w.add_q_lora_rank(32)
        w.add_rope_dimension_count(8)
        if mla_keys:  # newer llama.cpp: the MQA view in key/value_length, the heads in *_mla
            w.add_key_length(16 + 8), w.add_value_length(16), w.add_head_count_kv(1)
            w.add_key_length_mla(24), w.add_value_length_mla(16)
        else:
            w.add_key_length(24), w.add_value_length(16)
        w.add_expert_count(4), w.add_expert_used_count(2), w.add_expert_feed_forward_length(32)
        w.add_expert_shared_count(2), w.add_leading_dense_block_count(1)

    ckpt = read_gguf(write(tmp_path / "ds.gguf", "deepseek2", deepseek2_tensors(), kv))
    arch, warnings = gguf_architecture(ckpt, "ds")
    assert_counts_agree(ckpt, arch, warnings)
    mla = arch.mla
    widths = (mla.kv_lora_rank, mla.q_lora_rank, mla.qk_nope_head_dim, mla.qk_rope_head_dim, mla.v_head_dim)
    assert widths == (16, 32, 16, 8, 16)
    assert arch.attention == "MLA" and arch.n_kv_heads == 4 and arch.head_dim == 24
    assert (arch.moe.layers, arch.moe.n_shared_experts, arch.moe.d_ff_shared) == ((1,), 2, 64)


def test_per_layer_feed_forward_takes_the_max_and_warns(tmp_path):
    def kv(w):
        tokens(w)
        llama_kv(w, d=64, layers=2, heads=4, kv_heads=2, ff=96)

    t = llama_tensors(v=100, d=64, layers=2, heads=4, kv_heads=2, dh=16, ff=96)
    path = write(tmp_path / "l.gguf", "llama", t, kv)
    ckpt = read_gguf(path)
    md = dict(ckpt.metadata, **{"llama.feed_forward_length": [64, 96]})
    arch, warnings = gguf_architecture(type(ckpt)(**{**ckpt.__dict__, "metadata": md}), "pl")
    assert arch.d_ff == 96
    assert any("varies per layer" in w for w in warnings)
    assert any("parameters" in w for w in warnings) is False  # the tensors are 96 wide throughout


def test_unknown_architecture_is_llama_like_with_a_warning(tmp_path):
    ckpt = family_case(tmp_path, "newthing")
    arch, warnings = gguf_architecture(ckpt, "new")
    assert arch.model_type == "newthing" and arch.gated_mlp and arch.norm == "rmsnorm"
    assert any("not one llmsize knows" in w for w in warnings)
    assert_counts_agree(ckpt, arch, [])


def test_value_length_differs_warns(tmp_path):
    ckpt = family_case(tmp_path, "llama", kv_extra=lambda w: w.add_value_length(8))
    assert any("value heads are 8 wide" in w for w in gguf_architecture(ckpt, "v")[1])


def test_mismatched_metadata_is_reported(tmp_path):
    ckpt = family_case(tmp_path, "llama")
    arch, warnings = gguf_architecture(ckpt, "ok")
    assert warnings == [] and arch.vocab_size == 100
    md = dict(ckpt.metadata, **{"llama.block_count": 3})
    _, warnings = gguf_architecture(type(ckpt)(**{**ckpt.__dict__, "metadata": md}), "bad")
    assert any("parameters but the file stores" in w for w in warnings)


def test_vocab_from_tokens_when_no_embedding_tensor(tmp_path):
    def kv(w):
        llama_kv(w, d=64, layers=1, heads=4, kv_heads=4, ff=96)
        tokens(w, 300)

    arch, _ = gguf_architecture(read_gguf(write(tmp_path / "n.gguf", "llama", {"x": (2, 32)}, kv)), "n")
    assert arch.vocab_size == 300


def test_absurd_block_count_is_refused_before_building_layers(tmp_path):
    ckpt = family_case(tmp_path, "llama")  # found by fuzzing: 2^30 layers exhausted memory
    md = dict(ckpt.metadata, **{"llama.block_count": 2**30})
    with pytest.raises(CheckpointError, match="block_count"):
        gguf_architecture(type(ckpt)(**{**ckpt.__dict__, "metadata": md}), "deep")


@pytest.mark.parametrize("drop", ["block_count", "embedding_length", "attention.head_count",
                                  "feed_forward_length"])
def test_missing_required_keys(tmp_path, drop):
    ckpt = family_case(tmp_path, "llama")
    md = {k: v for k, v in ckpt.metadata.items() if k != f"llama.{drop}"}
    with pytest.raises(CheckpointError, match=drop):
        gguf_architecture(type(ckpt)(**{**ckpt.__dict__, "metadata": md}), "m")


# --- fuzzing ---------------------------------------------------------------------------------


def fuzz_base() -> tuple[bytes, int]:
    """A small valid llama GGUF (a 70-token array, a short array, 12 tensors) and its header length."""
    def kv(w):
        llama_kv(w, d=32, layers=1, heads=4, kv_heads=2, ff=64)
        w.add_token_list([f"t{i}" for i in range(70)])
        w.add_array("x.small", [1, 2])

    with tempfile.TemporaryDirectory() as d:
        path = write(os.path.join(d, "f.gguf"), "llama",
                     llama_tensors(v=70, d=32, layers=1, heads=4, kv_heads=2, dh=8, ff=64), kv)
        with open(path, "rb") as f:
            return f.read(), gguf.GGUFReader(path).data_offset


FUZZ_BASE, FUZZ_HEADER = fuzz_base()


def read_counting(path: str, max_bytes: int) -> tuple[object, int]:
    """``read_gguf``'s result (or its CheckpointError) and the bytes it took from disk."""
    read = {"bytes": 0}
    real_open = open

    def counting(*args, **kwargs):
        f = real_open(*args, **kwargs)
        raw_read = f.read

        def read_counted(size=-1):
            chunk = raw_read(size)
            read["bytes"] += len(chunk)
            return chunk

        f.read = read_counted
        return f

    with mock.patch.object(reader_module, "open", counting, create=True):
        try:
            return read_gguf(path, max_bytes=max_bytes), read["bytes"]
        except CheckpointError as e:
            assert path in str(e)
            return e, read["bytes"]


@settings(max_examples=400, deadline=None)
@given(
    flips=st.lists(st.tuples(st.integers(0, FUZZ_HEADER - 1), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, len(FUZZ_BASE))),
    max_bytes=st.one_of(st.just(2**26), st.integers(0, FUZZ_HEADER + 64)),
)
def test_fuzzed_headers_return_or_raise_checkpoint_error(flips, cut, max_bytes):
    blob = bytearray(FUZZ_BASE)
    for at, value in flips:
        blob[at] = value
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.gguf")
        with open(path, "wb") as f:
            f.write(blob[:cut])
        result, taken = read_counting(path, max_bytes)
    assert taken <= max_bytes
    if not isinstance(result, CheckpointError):
        assert result.bytes_read == taken
        try:
            gguf_architecture(result, "fuzz")
        except LlmsizeError:
            pass
