"""``quantization_config`` honoured: a config's quantizer maps onto the weight format that prices
its checkpoint, checked against checkpoints transformers' own quantizer writes (config and
tensors both from transformers) and against published sizes; unknown or invalid configs warn."""

from __future__ import annotations

import json

import pytest

import llmsize
from llmsize.formats.stored import stored_format
from llmsize.formats.tensors import weights_bytes
from llmsize.sources import catalog
from llmsize.sources.hf_config import from_hf_config
from llmsize.units import GB


def _entry_config(name: str) -> dict:
    return dict(catalog.lookup(name).config)


def _arch(config: dict, name: str = "m"):
    return from_hf_config(config, name)[0]


# --- each quantizer's config → format ---------------------------------------------------------

# TheBloke's GPTQ config.json "quantization_config" (AutoGPTQ), as intel/neural-compressor quotes
# it from huggingface.co/TheBloke/Llama-2-7B-Chat-GPTQ/blob/main/config.json, with desc_act False
# as TheBloke/Llama-2-13B-GPTQ's README gives its main branch (4-bit, group 128, no act-order):
# 7.26 GB (1e9 bytes) in "Provided files".
THEBLOKE_GPTQ = {"bits": 4, "group_size": 128, "damp_percent": 0.01, "desc_act": False, "sym": True,
                 "true_sequential": True, "model_name_or_path": None, "model_file_base_name": "model",
                 "quant_method": "gptq"}


def test_gptq_config_prices_thebloke_llama2_13b():
    """Tolerance ±0.5%: the size is rounded to 0.01 GB (0.07%); the header is ~0.1 MB."""
    config = {**_entry_config("llama-2-13b"), "quantization_config": THEBLOKE_GPTQ}
    fmt = stored_format(config)
    assert (fmt.name, fmt.warnings) == ("gptq:4:128", ())
    assert weights_bytes(_arch(config), fmt.name, base="fp16").value / GB == pytest.approx(7.26, rel=0.005)


@pytest.mark.parametrize(("q", "name"), [
    ({"quant_method": "fp8", "activation_scheme": "dynamic", "fmt": "e4m3",
      "weight_block_size": [128, 128]}, "fp8-block"),  # deepseek-ai/DeepSeek-V3 config.json
    ({"quant_method": "fp8", "weight_block_size": None}, "fp8"),
    ({"quant_method": "fbgemm_fp8", "activation_scale_ub": 1200.0}, "fp8-channel"),
    ({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm", "zero_point": True},
     "awq:4:128"),
    ({"quant_method": "awq", "w_bit": 4, "q_group_size": 64}, "awq:4:64"),  # AutoAWQ spelling
    ({"quant_method": "gptq", "bits": 8, "group_size": -1}, "gptq:8:-1"),
    ({"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
      "bnb_4bit_use_double_quant": True}, "nf4-dq"),
    ({"quant_method": "bitsandbytes", "_load_in_4bit": True, "bnb_4bit_quant_type": "fp4"}, "fp4"),
    ({"quant_method": "bitsandbytes", "load_in_8bit": True}, "int8"),
    ({"quant_method": "compressed-tensors", "format": "float-quantized", "ignore": ["lm_head"],
      "config_groups": {"group_0": {"targets": ["Linear"], "weights": {
          "num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True}}}}, "fp8-channel"),
    ({"quant_method": "compressed-tensors", "format": "int-quantized", "ignore": ["lm_head"],
      "config_groups": {"group_0": {"targets": ["Linear"], "weights": {
          "num_bits": 8, "type": "int", "strategy": "channel", "symmetric": True}}}}, "int8"),
    ({"quant_method": "mxfp4", "modules_to_not_convert": [
        "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]}, "mxfp4"),
])
def test_each_quantizer_maps_onto_a_format(q, name):
    assert stored_format({"num_hidden_layers": 4, "quantization_config": q}).name == name


def test_pack_quantized_and_hqq_warn_what_they_assume():
    weights = {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128, "symmetric": True}
    w4a16 = {"quant_method": "compressed-tensors", "format": "pack-quantized",
             "config_groups": {"g": {"weights": weights}}}
    hqq = {"quant_method": "hqq", "quant_config": {"weight_quant_params": {"nbits": 4, "group_size": 64}}}
    for q, name in ((w4a16, "awq:4:128"), (hqq, "awq:4:64")):
        fmt = stored_format({"quantization_config": q})
        assert fmt.name == name and "AWQ" in fmt.warnings[0]


def test_modules_to_not_convert_keep_a_role_unpacked():
    """Llama-3.1-405B-Instruct-FP8's layout (meta-llama model card: FP8 in the MLPs of layers
    1–124, attention and the first and last layers' MLPs in bf16): a role listed in every layer
    stays at bf16; a role listed in two layers of 126 is priced packed, with a warning."""
    mods = [f"model.layers.{i}.self_attn.{p}_proj" for i in range(126) for p in "qkvo"]
    mods += [f"model.layers.{i}.mlp.{p}" for i in (0, 125) for p in ("gate_proj", "up_proj", "down_proj")]
    config = {**_entry_config("llama-3.1-405b"),
              "quantization_config": {"quant_method": "fbgemm_fp8",
                                      "modules_to_not_convert": [*mods, "lm_head"]}}
    fmt = stored_format(config)
    assert fmt.name == "fp8-channel~attention"  # lm_head listed: kept
    assert len(fmt.warnings) == 1 and "mlp in 2 of 126 layers" in fmt.warnings[0]
    # FBGEMM FP8 (integrations/fbgemm_fp8.py): one byte per MLP weight instead of two, plus one
    # fp32 scale per output row (gate and up: I rows, down: d rows); everything else stays bf16.
    c = config
    L, d, inter = c["num_hidden_layers"], c["hidden_size"], c["intermediate_size"]
    saved = L * (3 * d * inter - 4 * (2 * inter + d))
    arch = _arch(config)
    assert weights_bytes(arch, "bf16").value - weights_bytes(arch, fmt.name).value == saved


# --- the API honours it -----------------------------------------------------------------------


def test_infer_prices_the_config_and_quant_overrides_it():
    config = {**_entry_config("llama-2-13b"), "quantization_config": THEBLOKE_GPTQ}
    report = llmsize.infer(config, ctx_size=4096)
    assert report.spec.quant == "gptq:4:128" and report.warnings == ()
    assert report.part("weights") == weights_bytes(_arch(config), "gptq:4:128").value
    plain = llmsize.infer(_entry_config("llama-2-13b"), ctx_size=4096)
    assert plain.part("weights") > 3 * report.part("weights")
    forced = llmsize.infer(config, ctx_size=4096, quant="nf4")
    assert forced.spec.quant == "nf4" and "overrides the config's quantization_config" in forced.warnings[0]


@pytest.mark.parametrize("q", [{"quant_method": "aqlm", "in_group_size": 8}, {"bits": 4},
                               {"quant_method": "gptq", "bits": 1}, {"quant_method": "gptq", "bits": "four"},
                               {"quant_method": "bogus"}, {"quant_method": "gptq", "bits": 0},
                               {"quant_method": "gptq", "bits": 4, "group_size": 0}])
def test_unknown_or_invalid_configs_warn_and_size_at_the_dtype(q):
    config = {**_entry_config("llama-2-7b"), "quantization_config": q}
    report = llmsize.infer(config, ctx_size=4096)
    assert report.spec.quant is None
    assert report.part("weights") == llmsize.infer(_entry_config("llama-2-7b"), ctx_size=4096).part("weights")
    assert len(report.warnings) == 1 and "weights sized at the dtype" in report.warnings[0]


def test_train_uses_the_config_as_the_lora_base():
    config = {**_entry_config("llama-2-13b"), "quantization_config": THEBLOKE_GPTQ}
    lora = llmsize.train(config, lora_rank=16, seq=512)
    assert lora.spec.lora.base == "gptq:4:128"
    frozen = llmsize.train(_entry_config("llama-2-13b"), lora_rank=16, seq=512)
    assert lora.part("weights") < frozen.part("weights") / 3
    full = llmsize.train(config, seq=512)
    assert any("full training" in w for w in full.warnings)


def test_cli_warns_on_stderr(tmp_path, capsys):
    from cli_run import run

    path = tmp_path / "config.json"
    config = {**_entry_config("llama-2-7b"), "quantization_config": {"quant_method": "eetq"}}
    path.write_text(json.dumps(config))
    code, _, err = run(capsys, "infer", str(path), "-c", "1024")
    assert code == 0 and "quant_method 'eetq' is not priced" in err


# --- checkpoints transformers' FP8 quantizer writes (config and tensors) ------------------------


@pytest.mark.parametrize(("model", "skip", "name"), [
    ("llama", None, "fp8-block"), ("qwen3_moe", None, "fp8-block"), ("deepseek_v3", None, "fp8-block"),
    ("llama", ["model.layers.*.self_attn"], "fp8-block~attention+head"),
    ("qwen3_moe", ["model.layers.*.mlp.experts", "lm_head"], "fp8-block~expert")])
def test_fp8_checkpoint_written_by_transformers(tmp_path, monkeypatch, model, skip, name):
    """The FineGrainedFP8 quantizer of transformers 5.24 quantizes a tiny bf16 model and writes
    its config.json (with the ``quantization_config`` it applied) and safetensors: the format
    that config maps onto prices every tensor of the file to the byte. ``modules_to_not_convert``
    is matched as transformers matches it (quantizers_utils.should_convert_module); given, it
    replaces the default skip of lm_head (quantizers/base.py), so the head is packed too. The GPU
    check is skipped and widths are multiples of 128, as in test_dtypes' fp8 test."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from test_dtypes import BUFFERS, FP32_KEPT, TINY_MODELS, _hf_config, _stored
    from transformers.quantizers import quantizer_finegrained_fp8 as fp8

    monkeypatch.setattr(fp8.FineGrainedFP8HfQuantizer, "validate_environment", lambda self, *a, **k: None)
    widths = dict(hidden_size=256, intermediate_size=384, moe_intermediate_size=128, q_lora_rank=256,
                  kv_lora_rank=128, qk_nope_head_dim=64, qk_rope_head_dim=128, v_head_dim=64, head_dim=64)
    cfg = {**TINY_MODELS[model], **{k: v for k, v in widths.items() if k in TINY_MODELS[model]}}
    config, arch = _hf_config(cfg)
    bf16 = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    bf16.save_pretrained(tmp_path / "bf16")
    q = transformers.AutoModelForCausalLM.from_pretrained(
        tmp_path / "bf16", dtype=torch.bfloat16,
        quantization_config=transformers.FineGrainedFP8Config(modules_to_not_convert=skip))
    q.save_pretrained(tmp_path / "fp8")
    written = json.loads((tmp_path / "fp8" / "config.json").read_text())
    fmt = stored_format(written)
    assert (fmt.name, fmt.warnings) == (name, ())
    stored = _stored(str(tmp_path / "fp8"))
    extra = sum(b - (b // 4 * 2 if not n.endswith(BUFFERS) else 0)
                for n, (dt, b) in stored.items() if n.endswith(FP32_KEPT.get(model, ())))
    assert sum(b for _, b in stored.values()) - extra == weights_bytes(arch, fmt.name).value
