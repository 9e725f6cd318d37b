"""The state-space, linear-attention and short-conv mixers against PyTorch's measurement.

Each model is its catalog config cut to one layer of each kind (``measure.harness.kept_layers``),
built by transformers under ``FakeTensorMode``; MemTracker measures one prefill and one training
step on the CPU, which runs each mixer's pure-torch path (the one ``inference/mixers.py`` and
``training/mixers.py`` describe by default). Short sequences keep the Mamba-1 loop quick; the
validation suite (``validation/grid.py: HYBRIDS``) measures the longer points.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from llmsize.measure.compare import _arch, compare_infer  # noqa: E402
from llmsize.measure.train import measure_train  # noqa: E402
from llmsize.sources import catalog  # noqa: E402
from llmsize.training.estimate import TrainSpec, estimate_training  # noqa: E402
from validation.tolerances import ACTIVATIONS  # noqa: E402

# (model, batch, seq): one per mixer (Mamba-1, Mamba-2, Gated DeltaNet, short conv, Kimi Delta
# Attention: eager for its MLA layer's unequal q/v head dims, as validation/grid.py measures it)
INFER = [("mamba-2.8b-hf", 1, 128), ("nemotron-h-8b-base-8k", 2, 256),
         ("qwen3-next-80b-a3b-instruct", 1, 256), ("lfm2-1.2b", 2, 256),
         ("kimi-linear-48b-a3b-instruct", 2, 200)]
EAGER = {"kimi-linear-48b-a3b-instruct"}


@pytest.mark.parametrize(("name", "batch", "seq"), INFER, ids=[m for m, _, _ in INFER])
def test_prefill_workspace_matches_memtracker(name, batch, seq):
    cfg = dict(catalog.lookup(name).config)
    attn = "eager" if name in EAGER else "sdpa"
    c = compare_infer(cfg, name, batch=batch, seq=seq, layers=3, attn=attn)
    err = c.errors()["activations"]
    assert err is not None and abs(err) <= ACTIVATIONS["infer"], f"{name}: activations {100 * err:+.2f}%"
    assert c.errors()["kv_cache"] == 0.0


@pytest.mark.parametrize("recompute", ["none", "full"])
def test_training_phases_of_a_mamba2_hybrid(recompute):
    """Nemotron-H cut to Mamba-2, MLP and attention layers: the forward and backward peaks
    (each phase's activations: what is not weights, gradients or optimizer states) within the
    training tolerance; its optimizer step is the global peak, so these phases are checked here."""
    name, b, s = "nemotron-h-8b-base-8k", 1, 512
    cfg = dict(catalog.lookup(name).config)
    m = measure_train(cfg, name, batch=b, seq=s, layers=2, gradient_checkpointing=recompute == "full")
    spec = TrainSpec.for_measurement(seq=s, micro_batch=b, dtype="bf16", attn="sdpa", optimizer="adamw",
                                     recompute=recompute, lora_rank=None, config=cfg)
    r = estimate_training(_arch(cfg, name, 2), spec)
    fixed = m.params_bytes + m.buffers_bytes + m.optimizer_state_bytes
    for phase in ("forward", "backward"):
        measured = m.phase_peaks[phase] - fixed - m.phase_categories[phase].get("grad", 0)
        estimate = r.phases[phase] - fixed - m.phase_categories[phase].get("grad", 0)
        err = estimate / measured - 1
        assert abs(err) <= ACTIVATIONS["train"], f"{phase}: {100 * err:+.2f}%"
