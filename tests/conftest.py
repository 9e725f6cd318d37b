"""Shared fixtures.

``stand_in_training``: the training speed model (``llmsize/perf/training.py``) is built on its own
branch; until it is in this checkout, the plumbing of ``train --gpu`` (options, JSON, schema,
text) is tested against a stand-in with its documented signature (helpers' perf_design.md):
``training_performance(arch, spec, gpu, *, tokens, usd_per_gpu_hour, eff, engine)``. The stand-in
is the textbook estimate, T_step = 6·N·tokens_per_step / (GPUs · F · MFU) (Kaplan et al. 2020,
arXiv 2001.08361 §2.1), enough to check directions (twice the MFU, half the step), never numbers.
When the real model is present the fixture leaves it in place.
"""

from __future__ import annotations

import importlib.util

import pytest


def _stand_in(arch, spec, gpu, *, tokens=None, usd_per_gpu_hour=None, eff=None, engine="megatron"):
    from llmsize.parameters import count_params
    from llmsize.perf.efficiency import efficiency
    from llmsize.perf.figures import Figure, Performance

    eff = eff or efficiency(engine, gpu.key)
    n = count_params(arch, ()).total
    gpus = spec.layout.gpus
    step_tokens = spec.seq * spec.micro_batch * spec.grad_accum * spec.layout.dp
    step = 6 * n * step_tokens / (gpus * gpu.peak_tflops("bf16") * 1e12 * eff.train_mfu)
    figures = {"step_time_s": Figure(step, "s"), "mfu": Figure(eff.train_mfu, ""),
               "tokens_per_s_per_gpu": Figure(step_tokens / step / gpus, "tokens/s")}
    if tokens:
        time_s = tokens / step_tokens * step
        figures |= {"time_s": Figure(time_s, "s"), "gpu_hours": Figure(time_s * gpus / 3600, "GPU-h")}
        if usd_per_gpu_hour is not None:
            figures["cost_usd"] = Figure(time_s * gpus / 3600 * usd_per_gpu_hour, "USD")
    note = "stand-in training model (tests/conftest.py)"
    return Performance(figures, "compute", None, eff.to_dict(), (note,))


@pytest.fixture
def stand_in_training(monkeypatch):
    if importlib.util.find_spec("llmsize.perf.training") is not None:
        return
    from llmsize.perf import setting

    real = setting._model
    monkeypatch.setattr(setting, "_model",
                        lambda module, name: _stand_in if module == "training" else real(module, name))
