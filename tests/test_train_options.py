"""The training options of issue 14 item 4, each against an independent truth.

* LoRA dropout, the adapters' dtype, bitsandbytes < 0.43.2's kept inputs and the plain loop's
  kept logits: PyTorch's accounting of one steady-state step (``MemTracker`` under
  ``FakeTensorMode``, peft's LoRA; ``measure/train.py``), Llama-3.1-8B cut to two layers.
  bitsandbytes cannot run under FakeTensorMode, so its kept inputs are measured with a
  ``torch.autograd.Function`` that keeps A exactly as ``MatMul4Bit.forward`` did before commit
  9e753741 (``ctx.tensors = (A, B)``). Tolerance: every term is a whole tensor, so the estimate
  must equal the measured peak within 0.1% (MemTracker counts storages exactly; 0.1% leaves
  room for nothing but one-off tensors of a few KiB), and the option's change of the peak must
  match the measured change within 1%.
* double quantization: the bytes of bitsandbytes' in-memory ``QuantState``, derived here from
  ``bitsandbytes/functional.py`` ``quantize_4bit`` and ``quantize_blockwise`` (main, 2026-08).
* fused-ce's chunk: Liger Kernel's ``fused_linear_cross_entropy_forward`` chunk size.
"""

from __future__ import annotations

import pytest

import llmsize
from llmsize.errors import LlmsizeError
from llmsize.sources import catalog
from llmsize.sources.hf_config import from_hf_config
from llmsize.training import activations as act
from llmsize.training.estimate import Recipe, TrainSpec, estimate_training
from llmsize.training.lora import LoraSpec
from llmsize.training.optimizers import Optimizer, StepKernel
from llmsize.training.qlora import bnb_keeps_inputs

NAME, BATCH, SEQ = "llama-3.1-8b", 2, 256
ALL, QV = ("all-linear",), ("q", "v")
# name: (peft targets, LoraSpec keywords, loop); "base" is what the others change
CASES = {
    "base": (ALL, {}, "trainer"),
    "adapter bf16": (ALL, {"adapter_bits": 16}, "trainer"),
    "dropout 0.1": (ALL, {"dropout": 0.1}, "trainer"),
    "bf16 + dropout": (ALL, {"adapter_bits": 16, "dropout": 0.1}, "trainer"),
    "base q,v": (QV, {}, "trainer"),
    "adapter bf16 q,v": (QV, {"adapter_bits": 16}, "trainer"),
    "bnb < 0.43.2 q,v": (QV, {"bnb_keeps_inputs": True}, "trainer"),
    "bnb < 0.43.2, bf16 q,v": (QV, {"bnb_keeps_inputs": True, "adapter_bits": 16}, "trainer"),
    "plain loop q,v": (QV, {}, "plain"),
}
BASE_OF = {"adapter bf16": "base", "dropout 0.1": "base", "bf16 + dropout": "base",
           "adapter bf16 q,v": "base q,v", "bnb < 0.43.2 q,v": "base q,v",
           "bnb < 0.43.2, bf16 q,v": "base q,v", "plain loop q,v": "base q,v"}


def _config() -> dict:
    from llmsize.measure.harness import scaled_config

    return scaled_config(dict(catalog.lookup(NAME).config), 2)


@pytest.fixture(scope="module")
def measured():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("peft")
    from llmsize.measure.train import LoraConfig, measure_train_grid

    out = {}
    for case, (targets, kw, loop) in CASES.items():
        peft_targets = targets if targets == ALL else tuple(f"{t}_proj" for t in targets)
        config = LoraConfig(rank=8, targets=peft_targets, dropout=kw.get("dropout", 0.0),
                            adapter_dtype="bf16" if kw.get("adapter_bits") == 16 else "fp32",
                            bnb_keeps_inputs=kw.get("bnb_keeps_inputs", False))
        out[case] = measure_train_grid(_config(), NAME, points=[(BATCH, SEQ)], modes=("lora",), attn="sdpa",
                                       lora=config, loop=loop)[("lora", BATCH, SEQ)].peak_bytes
    return out


def _estimate(case: str) -> int:
    targets, kw, loop = CASES[case]
    arch = from_hf_config(_config(), NAME)[0]
    spec = TrainSpec(seq=SEQ, micro_batch=BATCH, recipe=Recipe.PURE_BF16, optimizer=Optimizer.ADAMW,
                     step_kernel=StepKernel.FOR_LOOP, attn="sdpa", kernels=act.CPU, loop=loop,
                     lora=LoraSpec(rank=8, targets=targets, **kw))
    report = estimate_training(arch, spec)
    return report.total_bytes - report.part("overhead")


@pytest.mark.parametrize("case", list(CASES))
def test_option_against_memtracker(measured, case):
    estimate, peak = _estimate(case), measured[case]
    print(f"\n{case:24s} measured {peak / 2**20:9.2f} MiB  estimate {estimate / 2**20:9.2f} MiB  "
          f"{100 * (estimate / peak - 1):+.3f}%")
    assert estimate == pytest.approx(peak, rel=1e-3)
    if case in BASE_OF:
        base = BASE_OF[case]
        change, measured_change = estimate - _estimate(base), peak - measured[base]
        assert change == pytest.approx(measured_change, rel=0.01, abs=2**20)


def test_bnb_versions():
    """bitsandbytes PR #1270 (commit 9e753741) first shipped in 0.43.2."""
    assert bnb_keeps_inputs("0.41.1") and bnb_keeps_inputs("0.43.1") and bnb_keeps_inputs("0.43.1.post1")
    assert not bnb_keeps_inputs("0.43.2") and not bnb_keeps_inputs("0.45.0") and not bnb_keeps_inputs("v1.0")
    with pytest.raises(ValueError):
        bnb_keeps_inputs("latest")


def _bnb_quant_state(numel: int, *, double_quant: bool) -> int:
    """In-memory bytes of one weight's QuantState, from bitsandbytes' own steps: the default
    backend's ``quantize_4bit`` returns an fp32 absmax per block of 64 (``backends/default/ops.py``:
    ``A_com.abs().max(dim=-1)``, a partial block included); ``get_4bit_type`` a 16-value fp32 code.
    With ``compress_statistics`` (``functional.py`` ``quantize_4bit``): the fp32 ``offset`` (the
    mean), the absmax quantised by ``quantize_blockwise(blocksize=256)`` to uint8, its own fp32
    absmax per 256, and a copy of the 256-value fp32 dynamic code (``code.to(A.device, copy=True)``)."""
    blocks = -(-numel // 64)
    code4 = 16 * 4
    if not double_quant:
        return blocks * 4 + code4
    return blocks * 1 + 4 + -(-blocks // 256) * 4 + 256 * 4 + code4


def test_double_quant_scales_match_bitsandbytes():
    """Turning double quantization off adds, per quantised matrix, the difference bitsandbytes'
    QuantState shows; llmsize also counts the serialized state's JSON (longer with the nested
    keys) and not the 4-byte offset: at most 100 bytes per matrix apart."""
    on = llmsize.train("llama-3.1-8b", qlora=True, seq=512)
    off = llmsize.train("llama-3.1-8b", qlora=True, seq=512, double_quant=False)
    assert off.spec.lora.base == "nf4" and on.spec.lora.base == "nf4-dq"
    arch = catalog.lookup("llama-3.1-8b")
    d, kv, ff = 4096, 1024, 14336
    per_layer = [d * d, d * kv, d * kv, d * d, d * ff, d * ff, ff * d]
    layers = arch.config["num_hidden_layers"]
    expected = layers * sum(_bnb_quant_state(n, double_quant=False) - _bnb_quant_state(n, double_quant=True)
                            for n in per_layer)

    def scales(report):
        return next(p.value for p in report.tree.parts[0].parts if p.name == "quantization scales")

    assert abs(scales(off) - scales(on) - expected) <= 100 * layers * len(per_layer)


def test_fused_chunk_follows_liger():
    """Liger: inc_factor = ⌈V/H⌉, chunk_size = next_power_of_2(⌈BT/inc_factor⌉); at BT a power of
    two times inc_factor, llmsize's chunk rows per token times BT equal it."""
    from llmsize.training.loop import fused_chunk_rows_per_token

    arch = from_hf_config(_config(), NAME)[0]
    inc = -(-arch.vocab_size // arch.d_model)
    for bt in (inc * 64, inc * 1024):
        chunk = 1 << (-(-bt // inc) - 1).bit_length()
        assert fused_chunk_rows_per_token(arch) * bt == pytest.approx(chunk)


def test_loops_order_and_default():
    """fused-ce < trainer < plain (the plain loop adds the B·V logits to every moment); the
    default is the trainer."""
    r = {loop: llmsize.train("llama-3.1-8b", seq=1024, lora_rank=8, loop=loop).part("activations")
         for loop in ("trainer", "plain", "fused-ce")}
    assert r["fused-ce"] < r["trainer"] < r["plain"]
    assert llmsize.train("llama-3.1-8b", seq=1024, lora_rank=8).to_dict()["inputs"]["loop"] == "trainer"


def test_qlora_checkpointing_hint():
    hint = "prepare_model_for_kbit_training"
    assert any(hint in n for n in llmsize.train("llama-3.1-8b", qlora=True).notes)
    assert not any(hint in n for n in llmsize.train("llama-3.1-8b", qlora=True, recompute="full").notes)
    assert not any(hint in n for n in llmsize.train("llama-3.1-8b", lora_rank=8).notes)


@pytest.mark.parametrize(("options", "message"), [
    ({"lora_dropout": 0.1}, "lora_dropout needs lora_rank or qlora"),
    ({"adapter_dtype": "bf16"}, "adapter_dtype needs lora_rank or qlora"),
    ({"lora_rank": 8, "double_quant": False}, "double_quant needs qlora"),
    ({"lora_rank": 8, "bnb_version": "0.41.1"}, "bnb_version needs qlora"),
    ({"qlora": True, "bnb_version": "new"}, "'new' is not a version"),
    ({"lora_rank": 8, "lora_dropout": 1.0}, "lora_dropout 1.0 is not a probability"),
    ({"loop": "keras"}, "loop 'keras' is not one of trainer, plain, fused-ce"),
])
def test_bad_options(options, message):
    with pytest.raises(LlmsizeError, match=message):
        llmsize.train("llama-3.1-8b", **options)
