"""``model_tensors``: every parameter tensor, checked against the exact count and against the
parameters of the transformers model on the meta device (per role, and layer by layer)."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hf_truth import hf_model

from llmsize.formats.tensors import ROLES, model_tensors
from llmsize.parameters import count_params
from llmsize.sources import catalog
from llmsize.sources.hf_config import from_hf_config

ENTRIES = catalog.entries()


def _arch(name: str):
    entry = catalog.lookup(name)
    return from_hf_config(entry.config, entry.name)[0], entry.config


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_tensors_sum_to_the_exact_count(entry):
    arch, _ = from_hf_config(entry.config, entry.name)
    specs = model_tensors(arch)
    assert sum(s.numel for s in specs) == count_params(arch).total
    assert len({s.name for s in specs}) == len(specs), "tensor names are unique"
    assert all(s.role in ROLES and all(n > 0 for n in s.shape) for s in specs)
    layers = {s.layer for s in specs if s.layer is not None}
    n_stacked = arch.n_layers + (arch.decoder_layers if arch.kind == "encoder-decoder" else 0)
    assert layers == set(range(n_stacked))


def test_tied_head_is_listed_once():
    gpt2, _ = _arch("gpt2")
    llama, _ = _arch("llama-3.1-8b")
    assert "output.weight" not in {s.name for s in model_tensors(gpt2)}
    assert "output.weight" in {s.name for s in model_tensors(llama)}


# --- against transformers: HF parameter names mapped to roles, written here independently ----

_HF_ROLES = (  # first match wins
    ("vision", r"vision_tower|vision_model|multi_modal_projector|visual\.|audio_tower|embed_vision|embed_audio"),
    ("position", r"relative_attention_bias|embed_positions|position_embeddings|wpe"),
    ("norm", r"norm|ln_|ln_f"),
    ("embedding", r"embed_tokens|word_embeddings|wte|shared\.weight|embeddings\.weight"),
    ("head", r"lm_head"),
    ("shared_expert", r"shared_expert"),
    ("expert", r"\.experts\."),
    ("router", r"mlp\.gate\.weight|mlp\.gate\.bias|router"),
    ("other", r"per_layer_(model_projection|input_gate|projection)"),  # Gemma 4's per-layer inputs
    ("attention", r"self_attn|SelfAttention|EncDecAttention|attention"),
    ("mlp", r"mlp|DenseReluDense"),
    ("ssm", r"mixer"),
)


def _hf_role(name: str) -> str:
    return next(role for role, pattern in _HF_ROLES if re.search(pattern, name))


def _hf_params(cfg):
    return [(n, p) for n, p in hf_model(cfg).named_parameters()]


ROLE_MODELS = ["llama-3.1-8b", "qwen3-30b-a3b", "deepseek-v3", "gemma-2-9b", "qwen1.5-moe-a2.7b",
               "falcon-mamba-7b", "t5-small", "gemma-3-12b", "qwen2.5-vl-7b-instruct",
               "qwen3-vl-30b-a3b-instruct", "gemma-4-26b-a4b", "gemma-4-31b-it-nvfp4"]


@pytest.mark.parametrize("name", ROLE_MODELS)
def test_role_sums_match_transformers(name):
    arch, cfg = _arch(name)
    ours = Counter()
    for s in model_tensors(arch):
        ours[s.role] += s.numel
    theirs = Counter()
    for n, p in _hf_params(cfg):
        theirs[_hf_role(n)] += p.numel()
    assert dict(ours) == dict(theirs)


def _hf_layer_numels(cfg, layer: int) -> list[int]:
    """numel of every parameter of one decoder layer; transformers 5 fuses the experts' gate and up
    projections into one (E, 2·I, d) tensor, counted here as the two halves it holds."""
    out = []
    for n, p in _hf_params(cfg):
        if not re.search(rf"(?<![a-z_])layers\.{layer}\.", n) or "vision" in n or "audio" in n:
            continue
        out += [p.numel() // 2] * 2 if n.endswith("gate_up_proj") else [p.numel()]
    return sorted(out)


@pytest.mark.parametrize(("name", "layer"), [("llama-3.1-8b", 0), ("qwen3-30b-a3b", 0), ("deepseek-v3", 0),
                                             ("deepseek-v3", 3), ("gemma-2-9b", 0), ("qwen1.5-moe-a2.7b", 5),
                                             ("qwen2.5-vl-7b-instruct", 0), ("qwen3-vl-30b-a3b-instruct", 0),
                                             ("gemma-4-26b-a4b", 0), ("gemma-4-26b-a4b", 5)])
def test_layer_shapes_match_transformers(name, layer):
    arch, cfg = _arch(name)
    ours = sorted(s.numel for s in model_tensors(arch) if s.layer == layer)
    assert ours == _hf_layer_numels(cfg, layer)


def test_layer_matrix_shapes_are_out_by_in():
    arch, cfg = _arch("llama-3.1-8b")
    hf = {n: tuple(p.shape) for n, p in _hf_params(cfg)}
    ours = {s.name: s.shape for s in model_tensors(arch)}
    pairs = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_output": "self_attn.o_proj",
             "ffn_gate": "mlp.gate_proj", "ffn_down": "mlp.down_proj"}
    for ggml, torch_name in pairs.items():
        assert ours[f"blk.0.{ggml}.weight"] == hf[f"model.layers.0.{torch_name}.weight"]
    assert ours["token_embd.weight"] == hf["model.embed_tokens.weight"]
    assert ours["output.weight"] == hf["lm_head.weight"]


# Gemma 4's small-model features, which no catalog config has: per-layer embeddings, KV-shared
# layers with double-wide MLPs, K = V full layers, the audio tower (tiny sizes, real structure)
GEMMA4_SMALL = {
    "model_type": "gemma4", "architectures": ["Gemma4ForConditionalGeneration"],
    "text_config": dict(num_hidden_layers=5, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                        head_dim=16, global_head_dim=32, attention_k_eq_v=True, num_global_key_value_heads=1,
                        num_kv_shared_layers=2, use_double_wide_mlp=True, sliding_window=8,
                        intermediate_size=48, vocab_size=100, hidden_size_per_layer_input=8,
                        vocab_size_per_layer_input=90,
                        layer_types=["sliding_attention", "full_attention", "sliding_attention",
                                     "sliding_attention", "full_attention"]),
    "vision_config": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, num_key_value_heads=2,
                          head_dim=8, intermediate_size=40, patch_size=4, position_embedding_size=16),
    "audio_config": dict(num_hidden_layers=2, hidden_size=24, num_attention_heads=4,
                         subsampling_conv_channels=[12, 6], conv_kernel_size=3, output_proj_dims=20),
}


def test_gemma4_small_roles_and_layers_match_transformers():
    arch = from_hf_config(GEMMA4_SMALL, "gemma4-small")[0]
    ours, theirs = Counter(), Counter()
    for s in model_tensors(arch):
        ours[s.role] += s.numel
    for n, p in _hf_params(GEMMA4_SMALL):
        theirs[_hf_role(n)] += p.numel()
    assert dict(ours) == dict(theirs)
    for layer in (1, 3, 4):  # a K = V full layer, a KV-shared sliding and a KV-shared full one
        assert sorted(s.numel for s in model_tensors(arch) if s.layer == layer) == \
            _hf_layer_numels(GEMMA4_SMALL, layer)
