"""LoRA on a model counted through transformers whose MoE experts are one fused gate_up tensor
(Gemma 4's ``experts.gate_up_proj``): the frozen base prices that tensor as it is stored. This
crashed with a bare KeyError (the base looked for separate gate and up halves), found on the
Gemma-4-26B-A4B config."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")


def _tiny_gemma4_moe(tmp_path):
    text = {"model_type": "gemma4_text", "hidden_size": 64, "intermediate_size": 96,
            "moe_intermediate_size": 32,
            "num_experts": 4, "top_k_experts": 2, "enable_moe_block": True, "num_hidden_layers": 2,
            "layer_types": ["sliding_attention", "full_attention"], "num_attention_heads": 2,
            "num_key_value_heads": 1, "num_global_key_value_heads": 1, "head_dim": 16, "global_head_dim": 32,
            "attention_k_eq_v": True, "sliding_window": 8, "vocab_size": 128,
            "vocab_size_per_layer_input": 128,
            "hidden_size_per_layer_input": 0, "num_kv_shared_layers": 0, "tie_word_embeddings": True,
            "max_position_embeddings": 256}
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "gemma4", "architectures": ["Gemma4ForConditionalGeneration"],
                                "text_config": text, "vision_config": None, "tie_word_embeddings": True}))
    return str(path)


def test_lora_prices_a_fused_gate_up_expert_tensor(tmp_path):
    import llmsize
    from llmsize.formats.tensors import model_tensors
    from llmsize.sources.resolve import resolve

    source = _tiny_gemma4_moe(tmp_path)
    names = [t.name for t in model_tensors(resolve(source).arch)]
    assert any("gate_up" in n for n in names), names  # the fused tensor this test is about
    lora = llmsize.train(source, seq=16, lora_rank=4)
    frozen = lora.tree.find("weights")
    assert frozen is not None
    # the frozen base holds every parameter of the meta-device model once, in bf16
    base = next(p.value for p in frozen.parts if p.name.startswith("frozen base"))
    assert base == 2 * llmsize.params(source).total
