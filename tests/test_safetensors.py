"""safetensors headers: files written by the official writer, quantized layouts, malformed input.

The truth for logical parameters is the unquantized model's count from transformers on the meta
device; the truth for stored bytes is the file system (file size minus header).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
st_torch = pytest.importorskip("safetensors.torch")
from hf_truth import hf_counts, hf_model  # noqa: E402

from llmsize.errors import CheckpointError  # noqa: E402
from llmsize.formats.stored import cross_check, quantization_of, weights_report  # noqa: E402
from llmsize.sources.safetensors import read_safetensors  # noqa: E402

CONFIG = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
          "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
          "intermediate_size": 128, "vocab_size": 96, "tie_word_embeddings": False}
GROUP = 32


def shapes() -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of the transformers model (meta device, nothing allocated)."""
    return {n: tuple(p.shape) for n, p in hf_model(CONFIG).named_parameters()}


def is_quantized_linear(name: str, shape: tuple[int, ...]) -> bool:
    return ".layers." in name and name.endswith("proj.weight") and len(shape) == 2


def gptq(prefix: str, out: int, inp: int, bits: int = 4) -> dict[str, torch.Tensor]:
    """AutoGPTQ layout: qweight packs 32/bits input rows per int32 (in·bits/32 × out)."""
    pack = 32 // bits
    return {f"{prefix}.qweight": torch.zeros(inp // pack, out, dtype=torch.int32),
            f"{prefix}.qzeros": torch.zeros(inp // GROUP, out // pack, dtype=torch.int32),
            f"{prefix}.scales": torch.zeros(inp // GROUP, out, dtype=torch.float16),
            f"{prefix}.g_idx": torch.zeros(inp, dtype=torch.int32)}


def awq(prefix: str, out: int, inp: int, bits: int = 4) -> dict[str, torch.Tensor]:
    """AutoAWQ GEMM layout: qweight packs 32/bits output columns per int32 (in × out·bits/32)."""
    pack = 32 // bits
    return {f"{prefix}.qweight": torch.zeros(inp, out // pack, dtype=torch.int32),
            f"{prefix}.qzeros": torch.zeros(inp // GROUP, out // pack, dtype=torch.int32),
            f"{prefix}.scales": torch.zeros(inp // GROUP, out, dtype=torch.float16)}


def bnb4(prefix: str, out: int, inp: int) -> dict[str, torch.Tensor]:
    """bitsandbytes NF4 with double quantization: two weights per uint8, absmax per 64 (itself
    8-bit quantized in blocks of 256), the code books, and the serialized quant state."""
    n = out * inp
    w = f"{prefix}.weight"
    return {w: torch.zeros(n // 2, 1, dtype=torch.uint8),
            f"{w}.absmax": torch.zeros(n // 64, dtype=torch.uint8),
            f"{w}.quant_map": torch.zeros(16, dtype=torch.float32),
            f"{w}.nested_absmax": torch.zeros(max(1, n // 64 // 256), dtype=torch.float32),
            f"{w}.nested_quant_map": torch.zeros(256, dtype=torch.float32),
            f"{w}.quant_state.bitsandbytes__nf4": torch.zeros(120, dtype=torch.uint8)}


def fp8(prefix: str, out: int, inp: int) -> dict[str, torch.Tensor]:
    """DeepSeek-V3 / FP8 block layout: e4m3 weights, one fp32 scale per 128×128 block."""
    blocks = (-(-out // 128), -(-inp // 128))
    return {f"{prefix}.weight": torch.zeros(out, inp, dtype=torch.float8_e4m3fn),
            f"{prefix}.weight_scale_inv": torch.ones(blocks, dtype=torch.float32)}


def int8(prefix: str, out: int, inp: int) -> dict[str, torch.Tensor]:
    """bitsandbytes LLM.int8: int8 weights and one fp32 scale per output row (SCB)."""
    return {f"{prefix}.weight": torch.zeros(out, inp, dtype=torch.int8),
            f"{prefix}.SCB": torch.zeros(out, dtype=torch.float32)}


def compressed(prefix: str, out: int, inp: int, bits: int = 4) -> dict[str, torch.Tensor]:
    """compressed-tensors pack-quantized: 32/bits values per int32 along the input, group scales,
    and the original shape kept as a tensor."""
    return {f"{prefix}.weight_packed": torch.zeros(out, inp * bits // 32, dtype=torch.int32),
            f"{prefix}.weight_scale": torch.zeros(out, inp // GROUP, dtype=torch.bfloat16),
            f"{prefix}.weight_shape": torch.tensor([out, inp], dtype=torch.int64)}


SCHEMES = {
    "gptq": (gptq, {"quant_method": "gptq", "bits": 4, "group_size": GROUP}),
    "awq": (awq, {"quant_method": "awq", "bits": 4, "group_size": GROUP}),
    "bnb-4bit": (bnb4, {"quant_method": "bitsandbytes", "load_in_4bit": True,
                        "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True}),
    "bnb-8bit": (int8, {"quant_method": "bitsandbytes", "load_in_8bit": True}),
    "fp8": (fp8, {"quant_method": "fp8", "weight_block_size": [128, 128]}),
    "compressed-tensors": (compressed, {"quant_method": "compressed-tensors", "config_groups": {
        "group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": GROUP}}}}),
}


def state(scheme: str | None = None) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, shape in shapes().items():
        if scheme and is_quantized_linear(name, shape):
            out.update(SCHEMES[scheme][0](name.removesuffix(".weight"), *shape))
        else:
            out[name] = torch.zeros(shape, dtype=torch.float16)
    return out


def write_model(folder, tensors: dict[str, torch.Tensor], *, shards: int = 1, quant: dict | None = None):
    folder.mkdir(exist_ok=True)
    cfg = dict(CONFIG, quantization_config=quant) if quant else CONFIG
    (folder / "config.json").write_text(json.dumps(cfg))
    if shards == 1:
        st_torch.save_file(tensors, folder / "model.safetensors")
        return folder
    names = sorted(tensors)
    weight_map = {}
    for i in range(shards):
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[i::shards]}
        st_torch.save_file(part, folder / file)
        weight_map.update(dict.fromkeys(part, file))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return folder


def data_bytes(folder) -> int:
    """Tensor bytes on disk: each file's size minus its 8-byte length and JSON header."""
    total = 0
    for f in folder.glob("*.safetensors"):
        with open(f, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
        total += f.stat().st_size - 8 - n
    return total


def header_bytes(folder) -> int:
    return sum(f.stat().st_size for f in folder.glob("*.safetensors")) - data_bytes(folder)


def report_of(folder):
    cfg = json.loads((folder / "config.json").read_text())
    return weights_report(read_safetensors(str(folder)), quantization_of(cfg))


def test_plain_checkpoint_matches_transformers_and_disk(tmp_path):
    folder = write_model(tmp_path / "plain", state())
    r = report_of(folder)
    assert r.logical_params == hf_counts(CONFIG).total
    assert r.stored_bytes == data_bytes(folder) == 2 * r.logical_params  # F16
    assert r.checkpoint.bytes_read == header_bytes(folder)
    assert r.params.value == sum(p.value for p in r.params.parts)


def test_sharded_checkpoint_equals_single_file(tmp_path):
    single = read_safetensors(str(write_model(tmp_path / "one", state())))
    folder = write_model(tmp_path / "three", state(), shards=3)
    sharded = read_safetensors(str(folder / "model.safetensors.index.json"))
    assert sharded.files == 3
    by_name = lambda ck: sorted(ck.tensors, key=lambda t: t.name)  # noqa: E731
    assert by_name(sharded) == by_name(single)
    index_size = (folder / "model.safetensors.index.json").stat().st_size
    assert sharded.bytes_read == header_bytes(folder) + index_size


@pytest.mark.parametrize("scheme", SCHEMES)
def test_quantized_logical_params_equal_the_unquantized_model(tmp_path, scheme):
    folder = write_model(tmp_path / scheme, state(scheme), quant=SCHEMES[scheme][1])
    r = report_of(folder)
    assert r.logical_params == hf_counts(CONFIG).total
    assert r.stored_bytes == data_bytes(folder)
    assert 0 < r.overhead_bytes < r.stored_bytes
    if scheme in ("gptq", "awq", "bnb-4bit"):
        assert r.bits_per_weight < 8  # 4-bit linears, F16 embeddings and norms


def test_cross_check_explains_a_tied_head_stored_twice(tmp_path):
    from llmsize import count_params, from_hf_config

    tied = dict(CONFIG, tie_word_embeddings=True)
    tensors = state()  # includes lm_head.weight, as some exporters write it
    folder = write_model(tmp_path / "tied", tensors)
    (folder / "config.json").write_text(json.dumps(tied))
    arch = from_hf_config(tied)[0]
    check = cross_check(report_of(folder), arch, count_params(arch).total)
    assert check.delta == CONFIG["vocab_size"] * CONFIG["hidden_size"]
    assert check.unexplained == 0 and "tie" in check.explained[0][0]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmsize", *args], capture_output=True, text=True,
                          timeout=60)


def test_inspect_cli_on_gptq(tmp_path):
    folder = write_model(tmp_path / "gptq", state("gptq"), shards=2, quant=SCHEMES["gptq"][1])
    proc = run("inspect", str(folder), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["logical_params"] == hf_counts(CONFIG).total == out["architecture"]["total"]
    assert out["architecture"]["delta"] == 0 and out["quantization"]["method"] == "gptq"
    assert out["by_dtype"]["I32"]["tensors"] > 0
    text = run("inspect", str(folder))
    assert text.returncode == 0 and "gptq 4-bit, group 32" in text.stdout


def test_params_accepts_a_checkpoint_directory(tmp_path):
    folder = write_model(tmp_path / "m", state())
    proc = run("params", str(folder / "model.safetensors"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total"] == hf_counts(CONFIG).total


# --- malformed files ------------------------------------------------------------------------


def raw_file(path, header: dict | bytes, data: bytes = b"", length: int | None = None):
    body = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(body) if length is None else length) + body + data)
    return path


ENTRY = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
MALFORMED = {
    "truncated": (b"", None, b"", "truncated"),
    "header past the end": ({"a": ENTRY}, 10**6, b"\0" * 8, "past the end"),
    "header over the cap": ({"a": ENTRY}, 2 * 10**8, b"\0" * 8, "cap"),
    "bad json": (b"{not json", None, b"", "not valid JSON"),
    "duplicate names": (b'{"a": ' + json.dumps(ENTRY).encode() + b', "a": '
                        + json.dumps(ENTRY).encode() + b"}", None, b"\0" * 8, "duplicate"),
    "unknown dtype": ({"a": dict(ENTRY, dtype="F7")}, None, b"\0" * 8, "unknown dtype"),
    "span mismatch": ({"a": dict(ENTRY, data_offsets=[0, 6])}, None, b"\0" * 6, "needs"),
    "overlap": ({"a": ENTRY, "b": dict(ENTRY, data_offsets=[4, 12])}, None, b"\0" * 12, "overlaps"),
    "hole": ({"a": dict(ENTRY, data_offsets=[8, 16])}, None, b"\0" * 16, "hole"),
    "outside the file": ({"a": ENTRY}, None, b"\0" * 4, "past the end"),
    "negative shape": ({"a": dict(ENTRY, shape=[-2])}, None, b"\0" * 8, "malformed"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_file_is_one_line_exit_2(tmp_path, case):
    header, length, data, needle = MALFORMED[case]
    path = tmp_path / "bad.safetensors"
    if header == b"" and length is None:
        path.write_bytes(b"\x01\x02")
    else:
        raw_file(path, header, data, length)
    with pytest.raises(CheckpointError, match=needle):
        read_safetensors(str(path))
    proc = run("inspect", str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and str(path) in proc.stderr


def test_index_naming_a_missing_tensor(tmp_path):
    folder = write_model(tmp_path / "m", state(), shards=2)
    index = folder / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    data["weight_map"]["ghost.weight"] = "model-00001-of-00002.safetensors"
    index.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="in no shard"):
        read_safetensors(str(index))


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "ok.safetensors"
    st_torch.save_file({"a": torch.zeros(3, 2), "b": torch.zeros(4, dtype=torch.int8)}, path)
    return path.read_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_headers_raise_only_our_error(tmp_path, valid_bytes, data):
    raw = bytearray(valid_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(bytes(raw[:cut]))
    try:
        read_safetensors(str(path))
    except CheckpointError:
        pass
    assert os.path.getsize(path) == cut


def test_inspect_lists_tensors_with_their_roles(tmp_path):
    folder = write_model(tmp_path / "bnb", state("bnb-4bit"), quant=SCHEMES["bnb-4bit"][1])
    proc = run("inspect", str(folder), "--tensors", "--json")
    listing = json.loads(proc.stdout)["tensor_list"]
    roles = {t["name"]: t["role"] for t in listing}
    assert roles["model.layers.0.mlp.up_proj.weight"] == "packed"
    assert roles["model.layers.0.mlp.up_proj.weight.absmax"] == "overhead"
    assert roles["model.norm.weight"] == "weight"
    assert sum(t["parameters"] for t in listing) == hf_counts(CONFIG).total
