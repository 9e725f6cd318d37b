"""The KV cache against the cache objects transformers builds itself.

Each model is built from its catalog config under ``FakeTensorMode`` (no memory is allocated),
one prefill runs with ``use_cache=True``, and the bytes of every tensor the returned cache holds
are summed. llmsize's ``hf`` profile must equal that sum exactly. Layers are reduced to keep the
test fast; the per-layer cache is unchanged, and interleaved layer types keep their pattern.
"""

from __future__ import annotations

import pytest

from llmsize.inference.kvcache import KVRequest, kv_bytes_per_token, kv_cache, row_bytes
from llmsize.sources import catalog
from llmsize.sources.hf_config import from_hf_config

pytest.importorskip("torch")
pytest.importorskip("transformers")
from llmsize.measure.harness import measure_prefill, scaled_config  # noqa: E402

CASES = [
    # name, layers, attn, batch, tokens — tokens beyond the window where there is one
    ("llama-3.1-8b", 2, "sdpa", 2, 1000),
    ("qwen3-8b", 2, "sdpa", 1, 777),
    ("mistral-7b-v0.1", 2, "sdpa", 1, 4500),  # sliding window 4096 on every layer
    ("phi-3-mini-4k", 2, "sdpa", 2, 2100),  # sliding window 2047
    ("gemma-2-9b", 4, "eager", 1, 4200),  # sliding/full interleaved, window 4096
    ("gemma-3-1b", 6, "sdpa", 2, 700),  # five sliding (512) to one full
    ("deepseek-v2-lite", 2, "eager", 2, 300),  # MLA: the latent is cached
    ("deepseek-v3", 2, "eager", 1, 300),
    ("qwen3-30b-a3b", 2, "sdpa", 1, 256),
    ("falcon-mamba-7b", 2, "eager", 2, 300),  # SSM: conv + recurrent state, any length
    ("gpt-oss-20b", 4, "eager", 2, 300),  # sliding (128) and full alternate; sinks cache nothing
    ("llama-4-scout-17b-16e", 4, "sdpa", 1, 8500),  # three chunked (8192) to one NoPE full layer
    ("glm-4.5-air", 2, "sdpa", 1, 400),  # head_dim 128 ≠ 4096 / 96
    # vision-language: the text model caches; the tower keeps nothing between steps
    ("qwen2.5-vl-7b-instruct", 2, "sdpa", 1, 300),  # flat config (text keys at the top level)
    ("qwen3-vl-30b-a3b-instruct", 2, "sdpa", 2, 256),
    ("gemma-4-31b-it-nvfp4", 6, "sdpa", 1, 1100),  # five sliding (1024, 16×256) to one full (4×512)
]


def _text_model(cfg: dict) -> dict:
    """A multimodal config's text model as a causal LM: transformers 5.24's
    Llama4ForConditionalGeneration.forward fails without images (it reads ``image_outputs`` from a
    text-only output), and the cache is the text model's either way."""
    if cfg.get("model_type") != "llama4":
        return cfg
    return {**cfg["text_config"], "architectures": ["Llama4ForCausalLM"]}


def _arch(name: str, layers: int):
    cfg = scaled_config(dict(catalog.lookup(name).config), layers)
    return cfg, from_hf_config(cfg, name)[0]


@pytest.mark.parametrize(("name", "layers", "attn", "batch", "tokens"), CASES)
def test_hf_cache_equals_transformers(name, layers, attn, batch, tokens):
    cfg, arch = _arch(name, layers)
    measured = measure_prefill(_text_model(cfg), name, batch=batch, tokens=tokens, attn=attn)
    ours = kv_cache(arch, KVRequest(tokens, batch)).value
    assert ours == measured.kv_cache_bytes, (name, ours, measured.kv_cache_bytes)


# Hybrids and KV sharing: tiny configs of every state-keeping family and of Gemma 3n (transformers'
# config-class defaults for the rest), and real catalog configs cut to a few layers that keep at
# least one attention layer.
TINY = {
    "mamba2": dict(num_hidden_layers=2, hidden_size=64, num_heads=8, head_dim=16, n_groups=2,
                   state_size=16, vocab_size=100, architectures=["Mamba2ForCausalLM"]),
    "qwen3_next": dict(num_hidden_layers=4, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                       head_dim=16, intermediate_size=48, vocab_size=100, linear_num_key_heads=2,
                       linear_num_value_heads=4, linear_key_head_dim=8, linear_value_head_dim=12,
                       num_experts=4, num_experts_per_tok=2, moe_intermediate_size=8,
                       shared_expert_intermediate_size=16, architectures=["Qwen3NextForCausalLM"]),
    "qwen3_5_moe_text": dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4,
                             num_key_value_heads=2, head_dim=16, vocab_size=100, linear_num_key_heads=2,
                             linear_num_value_heads=4, linear_key_head_dim=8, linear_value_head_dim=12,
                             layer_types=["linear_attention", "full_attention"], num_experts=4,
                             num_experts_per_tok=2, moe_intermediate_size=8,
                             shared_expert_intermediate_size=16, architectures=["Qwen3_5MoeForCausalLM"]),
    "falcon_h1": dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                      head_dim=16, intermediate_size=48, vocab_size=100, mamba_n_heads=4, mamba_d_head=16,
                      mamba_d_ssm=64, mamba_n_groups=1, mamba_d_state=8,
                      architectures=["FalconH1ForCausalLM"]),
    "bamba": dict(num_hidden_layers=3, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                  mamba_n_heads=8, mamba_d_head=16, intermediate_size=48, vocab_size=100,
                  attn_layer_indices=[1], architectures=["BambaForCausalLM"]),
    # Gemma 4: sliding (window 8) and full layers with their own head width and kv heads (K = V),
    # the last two layers reuse earlier layers' K and V and cache nothing, per-layer embeddings
    "gemma4_text": dict(num_hidden_layers=5, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                        head_dim=16, global_head_dim=32, attention_k_eq_v=True, num_global_key_value_heads=1,
                        num_kv_shared_layers=2, sliding_window=8, intermediate_size=48, vocab_size=100,
                        hidden_size_per_layer_input=8, vocab_size_per_layer_input=100,
                        layer_types=["sliding_attention", "full_attention", "sliding_attention",
                                     "sliding_attention", "full_attention"],
                        architectures=["Gemma4ForCausalLM"]),
    "granitemoehybrid": dict(num_hidden_layers=3, hidden_size=64, num_attention_heads=4,
                             num_key_value_heads=2, mamba_n_heads=8, intermediate_size=48, vocab_size=100,
                             layer_types=["mamba", "attention", "mamba"],
                             architectures=["GraniteMoeHybridForCausalLM"]),
    # KDA layers keep a conv window over q, k, v and an fp32 H × d_k × d_k state; the MLA layer
    # its latent (kv_lora_rank) and rotary key
    "kimi_linear": dict(num_hidden_layers=3, hidden_size=64, num_attention_heads=4, vocab_size=100,
                        intermediate_size=48, kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=4,
                        v_head_dim=8, num_experts=4, num_experts_per_token=2, moe_intermediate_size=8,
                        linear_attn_config={"head_dim": 8, "num_heads": 3, "short_conv_kernel_size": 4,
                                            "full_attn_layers": [2], "kda_layers": [1, 3]},
                        architectures=["KimiLinearForCausalLM"]),
    # hybrid layers cache the shared attention's keys and values (k heads of 2d/a) and a Mamba-2 state
    "zamba2": dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, vocab_size=100,
                   layers_block_type=["mamba", "hybrid", "mamba", "hybrid"], num_hidden_layers=4,
                   n_mamba_heads=4, mamba_d_state=8, mamba_ngroups=2, num_mem_blocks=2, adapter_rank=4,
                   architectures=["Zamba2ForCausalLM"]),
    # KV sharing: the last 3 layers reuse layers 2 (sliding, window 8) and 3 (full) and cache nothing
    "gemma3n_text": dict(num_hidden_layers=7, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                         head_dim=16, intermediate_size=48, vocab_size=100, vocab_size_per_layer_input=100,
                         hidden_size_per_layer_input=8, altup_num_inputs=2, laurel_rank=4, sliding_window=8,
                         num_kv_shared_layers=3, layer_types=["sliding_attention", "full_attention",
                                                              "sliding_attention", "full_attention",
                                                              "sliding_attention", "full_attention",
                                                              "sliding_attention"],
                         architectures=["Gemma3nForCausalLM"]),
}


@pytest.mark.parametrize("model_type", sorted(TINY))
@pytest.mark.parametrize(("batch", "tokens"), [(1, 10), (2, 37)])
def test_recurrent_state_equals_transformers(model_type, batch, tokens):
    """Conv and recurrent states per sequence plus the attention layers' keys and values, as
    transformers' ``LinearAttentionLayer`` / ``DynamicLayer`` hold them after a prefill."""
    cfg = dict(TINY[model_type], model_type=model_type, pad_token_id=0)
    arch = from_hf_config(cfg, model_type)[0]
    attn = "eager" if model_type == "mamba2" else "sdpa"  # Mamba2ForCausalLM has no sdpa path
    measured = measure_prefill(cfg, model_type, batch=batch, tokens=tokens, attn=attn)
    assert kv_cache(arch, KVRequest(tokens, batch)).value == measured.kv_cache_bytes


HYBRID_CASES = [
    # name, layers kept — each cut keeps a full-attention layer and a state layer
    ("nemotron-h-8b-base-8k", 8),  # M-M-M-M*: Mamba-2, MLP and one attention layer
    ("jamba-1.5-mini", 8),  # seven Mamba layers (four with MoE) and attention at 4
    ("lfm2-1.2b", 3),  # conv, conv, attention
]


@pytest.mark.parametrize(("name", "layers"), HYBRID_CASES)
def test_hybrid_catalog_state_equals_transformers(name, layers):
    cfg = scaled_config(dict(catalog.lookup(name).config), layers)
    if "hybrid_override_pattern" in cfg:
        cfg["hybrid_override_pattern"] = cfg["hybrid_override_pattern"][:layers]
    arch = from_hf_config(cfg, name)[0]
    assert arch.n_attention_layers and arch.has_state
    # 40 tokens: transformers' pure-PyTorch Mamba path steps through the sequence token by token
    measured = measure_prefill(cfg, name, batch=2, tokens=40, attn="sdpa")
    assert kv_cache(arch, KVRequest(40, 2)).value == measured.kv_cache_bytes


def test_only_full_attention_layers_grow_with_context():
    """Qwen3-Next-style hybrid: 1 attention layer in 4; the state term does not change with s."""
    cfg = dict(TINY["qwen3_next"], model_type="qwen3_next")
    arch = from_hf_config(cfg)[0]
    grow = kv_cache(arch, KVRequest(2000)).value - kv_cache(arch, KVRequest(1000)).value
    assert grow == 1000 * kv_bytes_per_token(arch) == 1000 * 1 * 2 * 2 * 16 * 2


def test_t5_cross_attention_equals_transformers():
    cfg, arch = _arch("t5-base", 2)
    measured = measure_prefill(cfg, "t5-base", batch=2, tokens=1, encoder_tokens=900, attn="eager")
    ours = kv_cache(arch, KVRequest(1, 2, encoder_tokens=900)).value
    assert ours == measured.kv_cache_bytes


# Llama 3.2 Vision, tiny: layers 1 and 3 of 4 are cross-attention layers; 28-pixel tiles of
# 14-pixel patches give 4 + 1 tokens per tile, 3 tiles 15 per image.
MLLAMA = {"model_type": "mllama", "architectures": ["MllamaForConditionalGeneration"],
          "text_config": dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                              num_key_value_heads=2, intermediate_size=48, vocab_size=100,
                              cross_attention_layers=[1, 3], pad_token_id=0),
          "vision_config": dict(hidden_size=16, num_hidden_layers=2, num_global_layers=1, attention_heads=2,
                                intermediate_size=24, vision_output_dim=32, image_size=28, patch_size=14,
                                max_num_tiles=3, supported_aspect_ratios=[[1, 1], [1, 3], [3, 1]],
                                intermediate_layers_indices=[0])}


def _mllama_cache_bytes(batch: int, tokens: int, images: int) -> int:
    """Bytes of the cache ``MllamaForConditionalGeneration`` returns after a prefill of ``tokens``
    text tokens and ``images`` images (every tile present) per sequence, under FakeTensorMode."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from llmsize.measure.harness import _cache_bytes, build

    vision, tiles = MLLAMA["vision_config"], MLLAMA["vision_config"]["max_num_tiles"]
    with FakeTensorMode():
        model = build(MLLAMA, "mllama", dtype="bf16", attn="sdpa").eval()
        kwargs = {"input_ids": torch.randint(0, 90, (batch, tokens)), "use_cache": True}
        if images:
            size = vision["image_size"]
            kwargs |= dict(pixel_values=torch.randn(batch, images, tiles, 3, size, size),
                           aspect_ratio_ids=torch.full((batch, images), 2, dtype=torch.long),
                           aspect_ratio_mask=torch.ones(batch, images, tiles, dtype=torch.long),
                           cross_attention_mask=torch.ones(batch, tokens, images, tiles, dtype=torch.long))
        with torch.no_grad():
            return _cache_bytes(torch, model(**kwargs).cache)


@pytest.mark.parametrize(("batch", "tokens", "images"), [(2, 37, 0), (1, 10, 1), (2, 23, 2)])
def test_mllama_cross_attention_cache_equals_transformers(batch, tokens, images):
    """Text only, the cross-attention layers are skipped and cache nothing; each image puts its
    tiles' tokens (3 × (2² + 1) = 15) into every cross-attention layer."""
    arch = from_hf_config(MLLAMA, "mllama")[0]
    ours = kv_cache(arch, KVRequest(tokens, batch, images=images))
    assert ours.value == _mllama_cache_bytes(batch, tokens, images)
    assert ours.value == batch * 2 * 2 * 8 * 2 * (2 * tokens + 2 * images * 15)  # by hand: b·2·k·d_h·2 B


def test_llama_3_2_90b_vision_image_tokens():
    """560-pixel tiles of 14-pixel patches: 40² + 1 = 1,601 tokens per tile, 4 tiles per image
    (the image processor pads to max_num_tiles), in each of the 20 cross-attention layers."""
    arch = _catalog("llama-3.2-90b-vision-instruct")
    text = kv_cache(arch, KVRequest(1000)).value
    assert text == 80 * 1000 * 2 * 8 * 128 * 2  # the 80 self-attention layers only
    one_image = kv_cache(arch, KVRequest(1000, images=1)).value - text
    assert one_image == 20 * 6404 * 2 * 8 * 128 * 2


def _catalog(name: str):
    return from_hf_config(catalog.lookup(name).config, name)[0]


def test_llama_3_1_8b_at_8k_is_one_gib():
    """32 layers · 2 · 8 kv heads · 128 · 2 bytes = 128 KiB per token (reference §2.21)."""
    assert kv_cache(_catalog("llama-3.1-8b"), KVRequest(8192)).value == 2**30


def test_head_dim_is_not_hidden_over_heads():
    """Qwen3-32B: head_dim 128 (not 5120/64 = 80): 256 KiB per token, not 160 KiB (§2.21)."""
    assert kv_bytes_per_token(_catalog("qwen3-32b")) == 256 * 1024


def test_tensor_parallel_replicates_kv_heads():
    arch = _catalog("llama-3.1-8b")  # 8 kv heads
    assert kv_bytes_per_token(arch, tp=8) * 8 == kv_bytes_per_token(arch)
    assert kv_bytes_per_token(arch, tp=16) == kv_bytes_per_token(arch, tp=8)  # max(1, 8/16)


def test_mla_latent_is_not_split_by_tp():
    arch = _catalog("deepseek-v3")  # d_c 512 + d^R_h 64 per layer
    assert kv_bytes_per_token(arch) == 61 * (512 + 64) * 2
    assert kv_bytes_per_token(arch, tp=8) == kv_bytes_per_token(arch)


def test_llama_cpp_quantized_rows():
    """ggml Q8_0: 34 bytes per 32 values; Q4_0: 18 (gguf-py GGML_QUANT_SIZES)."""
    assert row_bytes(1024, "q8_0") == 1024 // 32 * 34
    assert row_bytes(1024, "q4_0") == 1024 // 32 * 18
    assert row_bytes(1024, "fp8") == 1024


@pytest.mark.parametrize("bad", ["int3", "q9_0"])
def test_bad_kv_dtype_is_one_line(bad):
    from llmsize.errors import ConfigError

    with pytest.raises(ConfigError, match="not a KV cache dtype"):
        row_bytes(128, bad)


def test_encoders_cache_nothing():
    assert kv_cache(_catalog("bert-base-uncased"), KVRequest(512)).value == 0


# No DeepSeek-V3.2 config.json could be read offline, so this one is DeepseekV32Config's own
# defaults (transformers 5.24 configuration_deepseek_v32.py, the V3.2-Exp sizes) written out, at
# two layers: one dense, one routed.
DEEPSEEK_V32_DEFAULTS = {
    "architectures": ["DeepseekV32ForCausalLM"], "model_type": "deepseek_v32", "vocab_size": 129280,
    "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_hidden_layers": 2,
    "num_attention_heads": 128, "num_key_value_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256,
    "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_rope_head_dim": 64, "v_head_dim": 128,
    "qk_nope_head_dim": 128, "n_group": 8, "topk_group": 4, "num_experts_per_tok": 8,
    "first_k_dense_replace": 1, "index_topk": 2048, "index_head_dim": 128, "index_n_heads": 64,
}


def test_deepseek_v32_caches_the_latent_and_the_indexer_keys():
    """MLA's latent d_c + d^R_h and the indexer's key d_I per token and layer
    (cache_utils.DynamicIndexedLayer), as transformers' own cache holds them."""
    arch = from_hf_config(DEEPSEEK_V32_DEFAULTS, "deepseek-v3.2")[0]
    measured = measure_prefill(DEEPSEEK_V32_DEFAULTS, "deepseek-v3.2", batch=2, tokens=300, attn="eager")
    assert kv_cache(arch, KVRequest(300, 2)).value == measured.kv_cache_bytes
    assert kv_bytes_per_token(arch) == 2 * (512 + 64 + 128) * 2


def test_fewer_layers_keep_their_kind():
    """--num-layers on a Mamba model keeps Mamba layers (no KV cache appears); a hybrid's pattern
    is cut, not reset to attention."""
    mamba = _catalog("falcon-mamba-7b").with_(n_layers=2)
    assert mamba.layer_types == ("mamba", "mamba") and kv_bytes_per_token(mamba) == 0
    lfm2 = _catalog("lfm2-1.2b").with_(n_layers=3)
    assert lfm2.layer_types == ("conv", "conv", "full")
