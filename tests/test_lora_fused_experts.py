"""LoRA on a model counted through transformers whose MoE experts are one fused gate_up tensor
(``experts.gate_up_proj``): the frozen base prices that tensor as it is stored. This
crashed with a bare KeyError (the base looked for separate gate and up halves), found on the
Gemma-4-26B-A4B config."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")


def _tiny_fused_moe(tmp_path):
    """AFMoE (counted through transformers; Gemma 4, where the crash was found, is native now) with
    its experts' ``gate_up_proj`` one 3-D tensor: its config class's defaults, shrunk."""
    from test_transformers_path import random_config

    path = tmp_path / "config.json"
    path.write_text(json.dumps(random_config("afmoe", 0)))
    return str(path)


def test_lora_prices_a_fused_gate_up_expert_tensor(tmp_path):
    import llmsize
    from llmsize.formats.tensors import model_tensors
    from llmsize.sources.resolve import resolve

    source = _tiny_fused_moe(tmp_path)
    names = [t.name for t in model_tensors(resolve(source).arch)]
    assert any("gate_up" in n for n in names), names  # the fused tensor this test is about
    lora = llmsize.train(source, seq=16, lora_rank=4)
    frozen = lora.tree.find("weights")
    assert frozen is not None
    # the frozen base holds every parameter of the meta-device model once, in bf16
    base = next(p.value for p in frozen.parts if p.name.startswith("frozen base"))
    assert base == 2 * llmsize.params(source).total
