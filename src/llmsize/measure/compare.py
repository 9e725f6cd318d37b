"""One measured step beside llmsize's estimate of it, term by term.

Both ``llmsize measure --compare`` and the validation suite (``validation/run.py``) use these,
so a number in ``validation/REPORT.md`` is what the command prints for the same case.

    inference  weights (parameters + buffers), kv_cache, activations (the rest of the peak)
    training   weights, gradients, optimizer_states, activations (the rest of the peak)

The estimate is taken without its overhead lines (CUDA context, allocator slack…), which
MemTracker cannot see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .harness import measure_prefill, scaled_config


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class Comparison:
    mode: str
    measured: dict[str, int]
    peak_bytes: int
    peak_module: str
    by_category: dict[str, int]
    estimate: dict[str, int] | None = None
    peak_phase: str = ""
    estimated_phase: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def errors(self) -> dict[str, float | None]:
        """Relative error per term and for the total against the peak; None where measured is 0."""
        if self.estimate is None:
            return {}
        out: dict[str, float | None] = {}
        for term, value in self.measured.items():
            guess = self.estimate.get(term, 0)
            out[term] = guess / value - 1 if value else (0.0 if guess == 0 else None)
        out["total"] = sum(self.estimate.values()) / self.peak_bytes - 1
        return out


def _arch(cfg: dict[str, Any], name: str, layers: int | None) -> Any:
    from ..sources.hf_config import from_hf_config

    return from_hf_config(scaled_config(cfg, layers), name)[0]


def compare_infer(cfg: dict[str, Any], name: str, *, batch: int, seq: int, dtype: str = "bf16",
                  attn: str = "sdpa", layers: int | None = None, estimate: bool = True,
                  progress: Callable[[str], None] = _quiet) -> Comparison:
    """A prefill of ``seq`` tokens (an encoder-decoder: ``seq`` encoder tokens, one decoder token)."""
    arch = _arch(cfg, name, layers)
    enc = arch.kind == "encoder-decoder"
    m = measure_prefill(cfg, name, batch=batch, tokens=1 if enc else seq, encoder_tokens=seq if enc else None,
                        dtype=dtype, attn=attn, layers=layers, progress=progress)
    measured = {"weights": m.params_bytes + m.buffers_bytes, "kv_cache": m.kv_cache_bytes,
                "activations": m.activation_bytes}
    guess = estimate_infer(cfg, name, batch=batch, seq=seq, dtype=dtype, attn=attn, layers=layers) \
        if estimate else None
    return Comparison("infer", measured, m.peak_bytes, m.peak_module, m.by_category, guess)


def estimate_infer(cfg: dict[str, Any], name: str, *, batch: int, seq: int, dtype: str = "bf16",
                   attn: str = "sdpa", layers: int | None = None) -> dict[str, int]:
    """llmsize's side of ``compare_infer`` alone (no measurement): weights, kv_cache, activations."""
    from ..inference.engines import estimate as run
    from ..inference.estimate import InferenceSpec

    arch = _arch(cfg, name, layers)
    enc = arch.kind == "encoder-decoder"
    context = seq + 1 if enc else seq
    spec = InferenceSpec(context, batch, new_tokens=1 if enc else 0, dtype=dtype, attn=attn)
    r = run(arch, spec, name=name)
    return {k: r.part(k) for k in ("weights", "kv_cache", "activations")}


def compare_train(cfg: dict[str, Any], name: str, *, batch: int, seq: int, dtype: str = "bf16",
                  attn: str = "sdpa", optimizer: str = "adamw", recompute: str = "none",
                  lora_rank: int | None = None, layers: int | None = None, estimate: bool = True,
                  progress: Callable[[str], None] = _quiet) -> Comparison:
    """The second (steady-state) training step, after a warm-up step created the optimizer states."""
    from .train import measure_train

    m = measure_train(cfg, name, batch=batch, seq=seq, dtype=dtype, attn=attn, optimizer=optimizer,
                      gradient_checkpointing=recompute == "full", lora=lora_rank, layers=layers,
                      progress=progress)
    measured = m.terms()
    guess, phase = None, ""
    if estimate:
        full, phase = estimate_train(cfg, name, batch=batch, seq=seq, dtype=dtype, attn=attn,
                                     optimizer=optimizer, recompute=recompute, lora_rank=lora_rank,
                                     layers=layers)
        guess = {k: v for k, v in full.items() if k in measured}
    return Comparison("train", measured, m.peak_bytes, m.peak_module, m.by_category, guess,
                      peak_phase=getattr(m, "peak_phase", ""), estimated_phase=phase)


def estimate_train(cfg: dict[str, Any], name: str, *, batch: int, seq: int, dtype: str = "bf16",
                   attn: str = "sdpa", optimizer: str = "adamw", recompute: str = "none",
                   lora_rank: int | None = None, layers: int | None = None) -> tuple[dict[str, int], str]:
    """llmsize's side of ``compare_train`` alone (no measurement): the terms and the peak phase."""
    from ..training.estimate import BREAKDOWN, TrainSpec, estimate_training

    spec = TrainSpec.for_measurement(seq=seq, micro_batch=batch, dtype=dtype, attn=attn, optimizer=optimizer,
                                     recompute=recompute, lora_rank=lora_rank, config=cfg)
    report = estimate_training(_arch(cfg, name, layers), spec)
    return {k: report.part(k) for k in BREAKDOWN if k != "overhead"}, report.peak_phase
