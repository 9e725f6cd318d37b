"""Weight formats: ggml block sizes against gguf-py, tensor bytes against GGUF and safetensors files
written here by gguf-py and transformers, and whole-model sizes against published figures."""

from __future__ import annotations

import glob

import pytest

from llmsize.arch import Architecture, MoE
from llmsize.errors import ConfigError
from llmsize.formats.dtypes import GGML_TYPES, parse_format
from llmsize.formats.gguf_mixture import gguf_tensor_types
from llmsize.formats.tensors import layer_bytes, model_tensors, non_layer_bytes, tensor_bytes, weights_bytes
from llmsize.parameters import count_params
from llmsize.sources import catalog
from llmsize.sources.hf_config import from_hf_config
from llmsize.units import GB, GiB

gguf = pytest.importorskip("gguf")
np = pytest.importorskip("numpy")


def _arch(name: str) -> Architecture:
    entry = catalog.lookup(name)
    return from_hf_config(entry.config, entry.name)[0]


# --- ggml types -----------------------------------------------------------------------------


def test_every_ggml_type_matches_gguf_py():
    sizes = {t.name: bs for t, bs in gguf.constants.GGML_QUANT_SIZES.items()}
    assert set(sizes) <= set(GGML_TYPES), "every type gguf-py knows is in our table"
    for name, (block, size) in sizes.items():
        if name == "Q8_1":
            # ggml-common.h: block_q8_1 is {ggml_half d, s; int8 qs[32]}, static_assert'ed to
            # 2*sizeof(ggml_half) + QK8_1 = 36 bytes; gguf-py still lists the fp32 d, s of 2023
            # (4 + 4 + 32). Q8_1 is a matmul scratch type that llama-quantize never writes.
            assert (block, size) == (32, 4 + 4 + 32) and GGML_TYPES[name] == (32, 2 + 2 + 32)
            continue
        assert GGML_TYPES[name] == (block, size), name


# --- a real GGUF, written with gguf-py and read back ----------------------------------------

TINY = dict(model_type="llama", hidden_size=256, intermediate_size=768, num_hidden_layers=8,
            num_attention_heads=8, num_key_value_heads=2, vocab_size=512, tie_word_embeddings=False)
RAGGED = {**TINY, "intermediate_size": 320, "tie_word_embeddings": True}  # ffn_down rows of 320


def _write_gguf(path: str, arch: Architecture, types: dict[str, str]) -> None:
    """One tensor per spec, in the type assigned, with byte shapes from gguf-py's own table."""
    writer = gguf.GGUFWriter(path, "llama")
    for s in model_tensors(arch):
        qtype = gguf.GGMLQuantizationType[types[s.name]]
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        byte_shape = (*s.shape[:-1], s.shape[-1] // block * size)
        writer.add_tensor(s.name, np.zeros(byte_shape, dtype=np.uint8), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.mark.parametrize("cfg", [TINY, RAGGED], ids=["tiny", "ragged-tied"])
@pytest.mark.parametrize("fmt", ["Q4_K_M", "Q2_K", "Q3_K_L", "Q8_0", "IQ4_XS", "IQ2_XXS", "Q5_K_S",
                                 "gguf:F16", "gguf-pure:Q5_1", "gguf-pure:Q4_K"])
def test_gguf_tensor_bytes_match_a_written_file(tmp_path, cfg, fmt):
    arch = from_hf_config(cfg, "tiny")[0]
    f = parse_format(fmt)
    types = gguf_tensor_types(arch, model_tensors(arch), f, base="fp16")
    path = str(tmp_path / "m.gguf")
    _write_gguf(path, arch, types)
    reader = gguf.GGUFReader(path)
    got = {t.name: int(t.n_bytes) for t in reader.tensors}
    ours = {r.spec.name: r.total for r in tensor_bytes(arch, f, base="fp16")}
    assert got == ours
    shapes = {t.name: tuple(int(n) for n in reversed(t.shape)) for t in reader.tensors}  # ne[0] first
    assert shapes == {s.name: s.shape for s in model_tensors(arch)}


def test_gguf_ragged_rows_fall_back_like_llama_cpp():
    """tensor_type_fallback: a 320-long row holds no whole 256-blocks, so Q4_K → Q5_0, Q6_K → Q8_0,
    IQ4_XS → IQ4_NL; norms are F32 as convert_hf_to_gguf.py writes them."""
    arch = from_hf_config(RAGGED, "ragged")[0]
    specs = model_tensors(arch)
    down = "blk.1.ffn_down.weight"  # layer 1 of 8 is "more bits" (i < n/8 is layer 0 only)
    assert gguf_tensor_types(arch, specs, parse_format("Q4_K_S"))[down] == "Q5_0"
    assert gguf_tensor_types(arch, specs, parse_format("Q6_K"))[down] == "Q8_0"
    assert gguf_tensor_types(arch, specs, parse_format("IQ4_XS"))[down] == "IQ4_NL"
    assert gguf_tensor_types(arch, specs, parse_format("Q4_K_M"))["blk.0.attn_norm.weight"] == "F32"


def test_q4_k_m_gives_half_of_attn_v_and_ffn_down_q6_k():
    """TheBloke's GGUF READMEs describe Q4_K_M as "GGML_TYPE_Q6_K for half of the attention.wv and
    feed_forward.w2 tensors, else GGML_TYPE_Q4_K"; the output matrix is Q6_K."""
    arch = _arch("llama-3-8b")
    types = gguf_tensor_types(arch, model_tensors(arch), parse_format("Q4_K_M"))
    for kind in ("attn_v", "ffn_down"):
        got = [types[f"blk.{i}.{kind}.weight"] for i in range(32)]
        assert got.count("Q6_K") == 16 and got.count("Q4_K") == 16
    assert {types[f"blk.{i}.{k}.weight"] for i in range(32) for k in ("attn_q", "ffn_up")} == {"Q4_K"}
    assert types["output.weight"] == "Q6_K" and types["token_embd.weight"] == "Q4_K"


# --- safetensors written by transformers ----------------------------------------------------

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
safetensors = pytest.importorskip("safetensors")
transformers.logging.set_verbosity_error()

TINY_MODELS = {
    "llama": dict(model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, vocab_size=256, tie_word_embeddings=False),
    "qwen3_moe": dict(model_type="qwen3_moe", hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
                      num_experts=4, num_experts_per_tok=2, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, head_dim=16, vocab_size=256, tie_word_embeddings=False),
    "deepseek_v3": dict(model_type="deepseek_v3", hidden_size=64, intermediate_size=128,
                        moe_intermediate_size=32, n_routed_experts=4, num_experts_per_tok=2,
                        n_shared_experts=1, first_k_dense_replace=1, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=4, q_lora_rank=32,
                        kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                        vocab_size=256, n_group=2, topk_group=1),
    "gemma2": dict(model_type="gemma2", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=256),
    "gpt2": dict(model_type="gpt2", n_embd=64, n_layer=2, n_head=4, vocab_size=256, n_positions=32),
}
TORCH_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
BYTES = {"F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1}
# transformers keeps DeepSeek-V3's router weight and its e_score_correction_bias (a persistent
# buffer, no parameter) in fp32: DeepseekV3PreTrainedModel._keep_in_fp32_modules_strict.
FP32_KEPT = {"deepseek_v3": ("mlp.gate.weight", "e_score_correction_bias")}
BUFFERS = ("e_score_correction_bias",)


def _stored(folder: str) -> dict[str, tuple[str, int]]:
    """name → (dtype, bytes) of every tensor in the safetensors files of ``folder``."""
    out = {}
    for path in glob.glob(f"{folder}/*.safetensors"):
        with safetensors.safe_open(path, "pt") as f:
            for name in f.keys():
                sl = f.get_slice(name)
                out[name] = (sl.get_dtype(), int(np.prod(sl.get_shape())) * BYTES[sl.get_dtype()])
    return out


def _hf_config(cfg):
    config = transformers.AutoConfig.for_model(**cfg)
    return config, from_hf_config(config.to_dict(), cfg["model_type"])[0]


@pytest.mark.parametrize("dtype", list(TORCH_DTYPES))
@pytest.mark.parametrize("model", list(TINY_MODELS))
def test_float_bytes_match_save_pretrained(tmp_path, model, dtype):
    config, arch = _hf_config(TINY_MODELS[model])
    hf = transformers.AutoModelForCausalLM.from_config(config, dtype=getattr(torch, TORCH_DTYPES[dtype]))
    hf.save_pretrained(tmp_path)
    stored = _stored(str(tmp_path))
    assert not any(n.endswith((".inv_freq", ".masked_bias", ".attn.bias")) for n in stored)
    width = BYTES[{"fp32": "F32", "fp16": "F16", "bf16": "BF16"}[dtype]]
    expected = weights_bytes(arch, dtype).value
    for name, (dt, nbytes) in stored.items():
        if name.endswith(BUFFERS):
            expected += nbytes  # stored, though no parameter
        elif name.endswith(FP32_KEPT.get(model, ())):
            assert dt == "F32"
            expected += nbytes - nbytes // 4 * width
        else:
            assert BYTES[dt] == width, name
    assert sum(b for _, b in stored.values()) == expected


@pytest.mark.parametrize("model", ["llama", "qwen3_moe", "deepseek_v3"])
def test_fp8_block_bytes_match_transformers_fp8_quantizer(tmp_path, model, monkeypatch):
    """transformers' FineGrainedFP8 quantizer (DeepSeek-V3's format: e4m3 weights, fp32
    ``weight_scale_inv`` per 128×128 block) on a tiny model. Quantizing is plain tensor arithmetic
    that runs on the CPU; only the quantizer's environment check asks for a GPU, so it is skipped.
    Every width here is a multiple of 128: transformers passes a matrix that does not tile into
    128×128 blocks through unquantized (integrations/finegrained_fp8.py, ``_quantize_one``), while
    DeepSeek's own checkpoint stores partial edge blocks (kv_a_proj_with_mqa is 576 rows), which
    is what llmsize counts."""
    from transformers.quantizers import quantizer_finegrained_fp8 as fp8

    monkeypatch.setattr(fp8.FineGrainedFP8HfQuantizer, "validate_environment", lambda self, *a, **k: None)
    widths = dict(hidden_size=256, intermediate_size=384, moe_intermediate_size=128, q_lora_rank=256,
                  kv_lora_rank=128, qk_nope_head_dim=64, qk_rope_head_dim=128, v_head_dim=64, head_dim=64)
    cfg = {**TINY_MODELS[model], **{k: v for k, v in widths.items() if k in TINY_MODELS[model]}}
    config, arch = _hf_config(cfg)
    model_bf16 = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model_bf16.save_pretrained(tmp_path / "bf16")
    q = transformers.AutoModelForCausalLM.from_pretrained(
        tmp_path / "bf16", dtype=torch.bfloat16,
        quantization_config=transformers.FineGrainedFP8Config(weight_block_size=(128, 128)))
    q.save_pretrained(tmp_path / "fp8")
    stored = _stored(str(tmp_path / "fp8"))
    extra = sum(b - (b // 4 * 2 if not n.endswith(BUFFERS) else 0)
                for n, (dt, b) in stored.items() if n.endswith(FP32_KEPT.get(model, ())))
    assert any(dt == "F8_E4M3" for dt, _ in stored.values())
    assert sum(b for _, b in stored.values()) - extra == weights_bytes(arch, "fp8-block").value


# --- published sizes ------------------------------------------------------------------------

# llama.cpp tools/quantize/quantize.cpp QUANT_OPTIONS (commit 03161a4eb9a2; reference §2.20):
# file sizes of Llama-3-8B in "G" = GiB (Q8_0 7.96 G ⇒ 8.51 bpw only in GiB).
QUANT_OPTIONS_LLAMA3_8B = {"Q2_K": 2.96, "Q3_K_S": 3.41, "Q3_K_M": 3.74, "Q3_K_L": 4.03, "Q4_0": 4.34,
                           "Q4_1": 4.78, "Q5_0": 5.21, "Q5_1": 5.65, "Q4_K_S": 4.37, "Q4_K_M": 4.58,
                           "Q5_K_S": 5.21, "Q5_K_M": 5.33, "Q6_K": 6.14, "Q8_0": 7.96}


@pytest.mark.parametrize(("fmt", "gib"), QUANT_OPTIONS_LLAMA3_8B.items())
def test_llama_cpp_mixtures_match_quant_options(fmt, gib):
    """Tolerance ±1%: the figures are rounded to 0.01 GiB (≤ 0.2%), and a file also holds its
    header, mostly Llama 3's tokenizer (128k tokens, 280k merges: ~0.1–0.3% of these files), which
    the tensor bytes leave out."""
    ours = weights_bytes(_arch("llama-3-8b"), fmt, base="fp16").value / GiB
    assert ours == pytest.approx(gib, rel=0.01)


# TheBloke/Llama-2-13B-GPTQ README, "Provided files" (AutoGPTQ; HF sizes in GB = 1e9 bytes):
# main 4-bit g128 7.26 GB, gptq-4bit-64g-actorder_True 7.51 GB, gptq-4bit-32g-actorder_True 8.00 GB
# (table also reproduced in tridungduong16/Llama-2-13B-GPTQ-Orca's README).
@pytest.mark.parametrize(("fmt", "gb"), [("gptq:4:128", 7.26), ("gptq:4:64", 7.51), ("gptq-4bit-g32", 8.00)])
def test_gptq_matches_thebloke_llama2_13b(fmt, gb):
    """Tolerance ±0.5%: sizes are rounded to 0.01 GB (0.07%); the safetensors header is ~0.1 MB."""
    assert weights_bytes(_arch("llama-2-13b"), fmt, base="fp16").value / GB == pytest.approx(gb, rel=0.005)


def _gpt_oss(n_layers: int, n_experts: int) -> Architecture:
    """openai/gpt-oss-{20b,120b} config.json: d 2880, 64 heads of 64, 8 kv heads, experts of 2880,
    top-4, vocabulary 201088, biased attention, experts and router, 64 attention sinks per layer,
    untied head (checked against transformers below)."""
    return Architecture(
        name="gpt-oss", model_type="gpt_oss", n_layers=n_layers, d_model=2880, n_heads=64, n_kv_heads=8,
        head_dim=64, d_ff=2880, vocab_size=201088, qkv_bias=True, o_bias=True, norm="rmsnorm",
        norm_bias=False, attention_sinks=True,
        moe=MoE(n_experts=n_experts, top_k=4, d_ff_expert=2880, layers=tuple(range(n_layers)),
                router_bias=True, expert_bias=True))


def test_gpt_oss_architecture_matches_transformers():
    from hf_truth import hf_counts

    cfg = dict(model_type="gpt_oss", architectures=["GptOssForCausalLM"], num_hidden_layers=24,
               num_local_experts=32, hidden_size=2880, intermediate_size=2880, num_attention_heads=64,
               num_key_value_heads=8, head_dim=64, vocab_size=201088, num_experts_per_tok=4,
               tie_word_embeddings=False)
    assert hf_counts(cfg).total == count_params(_gpt_oss(24, 32)).total


# gpt-oss model card (OpenAI, arXiv 2508.10925, Table 1): checkpoint size 12.8 GiB (20b) and
# 60.8 GiB (120b); total parameters 20.91B and 116.83B; MoE weights in MXFP4, 4.25 bits each.
@pytest.mark.parametrize(("n_layers", "n_experts", "gib", "params"), [(24, 32, 12.8, 20.91e9),
                                                                      (36, 128, 60.8, 116.83e9)])
def test_mxfp4_matches_gpt_oss_model_card(n_layers, n_experts, gib, params):
    """Tolerance ±0.5%: 3 significant figures (≤ 0.4%)."""
    arch = _gpt_oss(n_layers, n_experts)
    assert weights_bytes(arch, "mxfp4").value / GiB == pytest.approx(gib, rel=0.005)
    assert count_params(arch).total == pytest.approx(params, abs=0.005e9)
    experts = [r for r in tensor_bytes(arch, "mxfp4") if r.spec.role == "expert" and r.spec.is_matrix]
    assert 8 * sum(r.total for r in experts) / sum(r.spec.numel for r in experts) == 4.25


def test_bnb_fp4_stored_elements_match_a_model_card():
    """PJEDeveloper/Mistral-7B-Instruct-v0.2-4bit (bitsandbytes fp4, no double quantization,
    ``llm_int8_skip_modules: None``) reports "Number of parameters 3,752,071,168": transformers'
    count of a 4-bit model, where a packed weight is a u8 tensor of numel/2 elements and every
    tensor bitsandbytes leaves alone (embeddings, lm_head, norms) counts in full. Mistral-7B v0.2
    has v0.1's shapes (it changed rope θ and the window, not a width)."""
    rows = tensor_bytes(_arch("mistral-7b-v0.1"), "fp4")
    packed = [r for r in rows if r.scales]  # what the format quantized
    elements = sum(r.weights for r in packed) + sum(r.spec.numel for r in rows if not r.scales)
    assert elements == 3_752_071_168


def test_qlora_double_quantization_overhead():
    """QLoRA (arXiv 2305.14314) §3: absmax costs 32/64 = 0.5 bits per weight; double quantization
    brings it to 8/64 + 32/(64·256) = 0.127 bits (the code tables and state add ~10⁻³ here)."""
    for fmt, bits in (("nf4", 0.5), ("nf4-dq", 0.127)):
        data, scales = parse_format(fmt).tensor_bytes((4096, 4096), "mlp")
        assert 8 * data / 4096**2 == 4
        assert 8 * scales / 4096**2 == pytest.approx(bits, abs=0.002)


def test_deepseek_v3_fp8_elements_match_the_readme():
    """DeepSeek-V3 README: "685B, which includes 671B of the Main Model weights and 14B of the MTP
    Module weights" (HF counts every stored element, fp32 ``weight_scale_inv`` included). Our
    main-model elements (weights + block scales) must round to 671B; README_WEIGHTS.md keeps the
    embeddings, head, norms and router unquantized (bf16), so those are 2 bytes per element."""
    arch = _arch("deepseek-v3")
    rows = tensor_bytes(arch, "fp8-block")
    elements = sum(r.spec.numel + r.scales // 4 for r in rows)
    assert round(elements / 1e9) == 671
    kept = {r.spec.role for r in rows if r.weights == 2 * r.spec.numel}
    assert kept == {"embedding", "head", "norm", "router"}


# --- parsing and the tree -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "name"), [
    ("BF16", "bf16"), ("float16", "fp16"), ("gptq", "gptq:4:128"), ("gptq-4bit-g128", "gptq:4:128"),
    ("GPTQ:3:64", "gptq:3:64"), ("awq", "awq:4:128"), ("awq:4:-1", "awq:4:-1"), ("q4_k_m", "Q4_K_M"),
    ("Q4_K", "Q4_K_M"), ("gguf:q8_0", "Q8_0"), ("gguf-pure:q4_k", "gguf-pure:Q4_K"), ("nf4-DQ", "nf4-dq"),
    ("fp8-e4m3", "fp8"), ("MXFP4", "mxfp4"), ("mxfp4_moe", "MXFP4_MOE"), (" int8 ", "int8"),
])
def test_parse_format_spellings(text, name):
    assert parse_format(text).name == name


@pytest.mark.parametrize("bad", ["q4_k_x", "gptq:9:128", "gptq:4:0", "fp9", "", "gguf-pure:Q9_K"])
def test_parse_format_errors_are_one_line_with_choices(bad):
    with pytest.raises(ConfigError) as err:
        parse_format(bad)
    msg = str(err.value)
    assert "\n" not in msg and repr(bad) in msg
    assert all(choice in msg for choice in ("bf16", "fp8-block", "nf4-dq", "gptq", "awq", "mxfp4", "Q4_K_M"))


def _sums(part) -> bool:
    return all(not p.parts or p.value == sum(c.value for c in p.parts) for _, p in part.walk())


TREE_MODELS = ["llama-3.1-8b", "deepseek-v3", "t5-small", "gemma-3-12b", "falcon-mamba-7b"]
TREE_FORMATS = ["bf16", "fp8-block", "int8", "nf4-dq", "gptq:4:128", "awq", "mxfp4", "Q4_K_M"]


@pytest.mark.parametrize("model", TREE_MODELS)
@pytest.mark.parametrize("fmt", TREE_FORMATS)
def test_trees_sum_and_split_into_layers(model, fmt):
    arch = _arch(model)
    tree = weights_bytes(arch, fmt)
    assert tree.name == "weights" and _sums(tree)
    assert sum(layer_bytes(arch, fmt)) + non_layer_bytes(arch, fmt).total == tree.value
    assert tree.value == sum(r.total for r in tensor_bytes(arch, fmt))


def test_quantization_overhead_is_its_own_leaf():
    tree = weights_bytes(_arch("llama-3.1-8b"), "gptq:4:128")
    layers = tree.find("layers")
    assert layers.find("scales").value > 0
    assert tree.find("head").find("scales") is None, "the head stays at the base precision"


def test_unknown_base_precision_is_an_error():
    with pytest.raises(ConfigError):
        weights_bytes(_arch("gpt2"), "int8", base="fp7")
