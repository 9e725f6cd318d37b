"""The inverse questions of one inference estimate: the longest context, the largest batch and
vLLM's concurrency that fit one GPU of a given size, at one layout.

Each answer comes from the profile's compiled cost model (``inference/cost.py``), whose total is
the full estimate's to the byte and grows with the batch b and the context c, so it is exact and
tight: the answer fits, one more token or sequence does not. What "fits" means is the engine's:

    hf        the estimate's total ≤ the GPU's bytes                       (HfCost)
    llamacpp  the GPU side at -ngl (default: every layer) ≤ the GPU's bytes (LlamaCppCost)
    vllm      vLLM starts with max_model_len = c on a GPU of that size, and its KV pool holds
              b such sequences at once (VllmCost: the budget is the GPU, gpu_memory_utilization
              of it is what vLLM takes)

The context searched is capped at the model's own maximum (``max_position``): a longer window
fits in memory but not in the model; ``capped`` says when the cap, not memory, is the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..arch import Architecture
from ..errors import ConfigError
from ..inference.cost import VllmCost, compile_inference
from ..inference.estimate import InferenceReport, InferenceSpec
from ..schemas import nested, versioned

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..inference.cost import CostModel
    from ..sources.checkpoint import Checkpoint

ASKS = ("max_context", "max_batch", "max_concurrency")


@dataclass(frozen=True)
class InferenceLimits:
    """The answers to the questions in ``asked`` for ``spec`` on a GPU of ``budget_bytes``; None
    for a question not asked. ``max_context`` 0: not even the shortest context fits."""

    name: str
    spec: InferenceSpec  # its context is the one max_batch and max_concurrency are asked at
    budget_bytes: int
    asked: tuple[str, ...]
    model_max_context: int
    max_context: int | None = None
    max_batch: int | None = None
    max_concurrency: float | None = None
    kv_capacity_tokens: int | None = None
    at: InferenceReport | None = None  # the full estimate at the answer (or at spec's context)
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def capped(self) -> bool:
        """The longest context is the model's maximum, not what memory allows."""
        return self.max_context is not None and self.max_context >= self.model_max_context

    def to_dict(self) -> dict[str, object]:
        s = self.spec
        gpu = s.target.gpu.key if s.target is not None and s.target.gpu is not None else None
        return versioned({
            "model": self.name, "engine": s.engine, "gpu": gpu, "tp": s.layout.tp, "pp": s.layout.pp,
            "gpus": s.layout.tp * s.layout.pp, "budget_bytes": self.budget_bytes,
            "context": s.context, "batch": s.batch, "asked": list(self.asked),
            "max_context": self.max_context, "context_capped": self.capped,
            "model_max_context": self.model_max_context, "max_batch": self.max_batch,
            "max_concurrency": self.max_concurrency, "kv_capacity_tokens": self.kv_capacity_tokens,
            "at": None if self.at is None else nested(self.at.to_dict()),
        })


def inference_limits(arch: Architecture, spec: InferenceSpec, *, budget_bytes: int, asked: tuple[str, ...],
                     name: str = "", checkpoint: Checkpoint | None = None,
                     config: dict[str, object] | None = None) -> InferenceLimits:
    """Answer each question of ``asked`` (``ASKS``) for ``spec``'s engine and layout on a GPU of
    ``budget_bytes``: max_context at ``spec.batch``, max_batch and max_concurrency at
    ``spec.context``; the full estimate at the answer comes with it."""
    unknown = [a for a in asked if a not in ASKS]
    if unknown:
        raise ConfigError(f"{unknown[0]!r} is not a question the inversions answer ({', '.join(ASKS)})")
    if spec.engine != "vllm" and "max_concurrency" in asked:
        raise ConfigError("max_concurrency is vLLM's figure: use engine vllm (or max_batch)")
    cost_spec = replace(spec, gpu_mem=budget_bytes if spec.engine == "vllm" else None)
    cost = compile_inference(arch, cost_spec, checkpoint=checkpoint, config=config)
    out = InferenceLimits(name or arch.name, spec, budget_bytes, asked, arch.max_position)
    if "max_context" in asked:
        c = cost.max_context(budget_bytes, batch=spec.batch, limit=max(arch.max_position, cost.min_context))
        out = replace(out, max_context=c or 0)
    if "max_batch" in asked:
        out = replace(out, max_batch=cost.max_batch(budget_bytes, context=spec.context))
    if isinstance(cost, VllmCost) and {"max_batch", "max_concurrency"} & set(asked):
        try:
            start = cost.startup(spec.context, budget_bytes)
            out = replace(out, kv_capacity_tokens=start.kv_tokens,
                          max_concurrency=start.max_concurrency if "max_concurrency" in asked else None)
        except ConfigError:  # vLLM does not start at this context: no pool
            none = 0.0 if "max_concurrency" in asked else None
            out = replace(out, kv_capacity_tokens=0, max_concurrency=none)
    return replace(out, at=_report_at(cost, out))


def _report_at(cost: CostModel, out: InferenceLimits) -> InferenceReport | None:
    """The full estimate at the answer: the longest context (batch as asked), else the largest
    batch at the asked context; None when nothing fits."""
    if out.max_context is not None:
        return cost.report(out.spec.batch, out.max_context) if out.max_context else None
    if out.max_batch is not None and out.max_batch:
        return cost.report(1 if out.spec.engine == "vllm" else out.max_batch, out.spec.context)
    return None
