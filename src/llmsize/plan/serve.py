"""Serving plans: for one kind of GPU, the fewest GPUs that serve a model at a context and batch,
the layouts that do it, and at each the longest context, the largest batch and vLLM's concurrency.

Per GPU type the count n grows from ⌈weights / GPU⌉ (no layout of fewer GPUs holds the weights)
until some valid layout of n GPUs fits (``layouts.serve_layouts``: tp·pp = n, tp within the
scale-up domain). Each layout is compiled once (``inference/cost.py``) and shared by every GPU
type; whether it fits is the engine's own test (``limits.py``):

    hf        total(batch, context) ≤ the GPU
    vllm      vLLM starts with max_model_len = context and its KV pool holds ``batch`` sequences
    llamacpp  one GPU: every layer on it, or else the most layers (-ngl) that fit, the rest in
              host memory (``host_bytes`` caps it when given)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..arch import Architecture
from ..errors import ConfigError
from ..inference.cost import CostModel, VllmCost, compile_inference
from ..inference.engines import llamacpp_config, llamacpp_weights
from ..inference.estimate import InferenceSpec, weights_tree
from ..inference.llamacpp_plan import llamacpp_plan
from ..invert import largest
from ..layout import Layout
from .layouts import serve_layouts
from .targets import Target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..sources.checkpoint import Checkpoint


@dataclass(frozen=True)
class ServeRow:
    """One layout that serves the model on GPUs of one type, and what it allows."""

    layout: Layout
    total_bytes: int  # per GPU, at the asked context and batch
    budget_bytes: int
    max_context: int  # at the asked batch (capped at the model's maximum)
    max_batch: int  # at the asked context
    max_concurrency: float | None = None  # vLLM, at the asked context
    kv_capacity_tokens: int | None = None  # vLLM
    n_gpu_layers: int | None = None  # llama.cpp: layers on the GPU (L + 1: all, output included)
    host_bytes: int = 0  # llama.cpp: host memory for what stays on the CPU

    @property
    def gpus(self) -> int:
        return self.layout.tp * self.layout.pp

    @property
    def headroom_bytes(self) -> int:
        return self.budget_bytes - self.total_bytes


@dataclass
class ServeSearch:
    """One model, format and workload (``spec``: context, batch, engine, quant, KV dtype)."""

    arch: Architecture
    spec: InferenceSpec
    checkpoint: Checkpoint | None = None
    config: dict[str, object] | None = None
    _costs: dict[tuple[Layout, int | None], CostModel | None] = field(init=False, default_factory=dict)
    weights_bytes: int = field(init=False)

    def __post_init__(self) -> None:
        self.weights_bytes = weights_tree(self.arch, self.spec).value

    def cost(self, layout: Layout, n_gpu_layers: int | None = None) -> CostModel | None:
        key = (layout, n_gpu_layers)
        if key not in self._costs:
            spec = replace(self.spec, layout=layout, n_gpu_layers=n_gpu_layers, gpu_mem=None)
            try:
                self._costs[key] = compile_inference(self.arch, spec, checkpoint=self.checkpoint,
                                                     config=self.config)
            except ConfigError:
                self._costs[key] = None
        return self._costs[key]

    def fits(self, cost: CostModel, budget: int) -> bool:
        s = self.spec
        if isinstance(cost, VllmCost):
            return _vllm_batch(cost, budget, s.context) >= s.batch
        try:
            return cost.total(s.batch, s.context) <= budget
        except ConfigError:
            return False

    def plan(self, target: Target, *, max_gpus: int, host_bytes: int | None = None
             ) -> tuple[int | None, list[ServeRow]]:
        """(the fewest GPUs of ``target`` that serve the workload, every layout of that count)."""
        if self.spec.engine == "llamacpp":
            row = self._llamacpp(target, host_bytes)
            return (1, [row]) if row else (None, [])
        budget = target.usable_bytes
        for n in range(max(1, -(-self.weights_bytes // budget)), max_gpus + 1):
            layouts = serve_layouts(self.arch, n, engine=self.spec.engine,
                                    max_tp=min(n, target.scale_up_domain))
            rows = [self.row(layout, cost, budget) for layout in layouts
                    if (cost := self.cost(layout)) is not None and self.fits(cost, budget)]
            if rows:
                return n, sorted(rows, key=lambda r: -r.max_batch)
        return None, []

    def row(self, layout: Layout, cost: CostModel, budget: int, **extra: object) -> ServeRow:
        """The limits of one fitting layout (exact, as ``limits.py``)."""
        s = self.spec
        top = max(self.arch.max_position, s.context)

        def fits_context(c: int) -> bool:  # the engine's test (``fits``) at another context
            if isinstance(cost, VllmCost):
                return _vllm_batch(cost, budget, c) >= s.batch
            return cost.total(s.batch, c) <= budget

        # the asked context fits, so the search starts there (often it is the model's maximum)
        context = largest(fits_context, s.context, top) or 0
        batch = _vllm_batch(cost, budget, s.context) if isinstance(cost, VllmCost) else \
            cost.max_batch(budget, context=s.context)
        concurrency = kv_tokens = None
        total = budget
        if isinstance(cost, VllmCost):
            start = cost.startup(s.context, budget)
            concurrency, kv_tokens = start.max_concurrency, start.kv_tokens
            total = start.weights + start.kv_available + start.activation_peak + start.non_torch + start.cuda_graphs
        else:
            total = cost.total(s.batch, s.context)
        return ServeRow(layout, total, budget, context, batch, concurrency, kv_tokens, **extra)  # type: ignore[arg-type]

    def _llamacpp(self, target: Target, host_bytes: int | None) -> ServeRow | None:
        """One GPU: all layers if they fit, else the most that do (``-ngl``), the rest on the host
        (fewer layers on the GPU only need more host memory, so the most that fit is the one)."""
        budget, L = target.usable_bytes, self.arch.n_layers

        def fits(ngl: int) -> bool:
            cost = self.cost(Layout(), ngl)
            return cost is not None and self.fits(cost, budget)

        ngl = largest(fits, 0, L + 1)
        if ngl is None:
            return None
        host = self._host(ngl)
        cost = self.cost(Layout(), ngl)
        if cost is None or (host_bytes is not None and host > host_bytes):
            return None
        return self.row(Layout(), cost, budget, n_gpu_layers=ngl, host_bytes=host)

    def _host(self, ngl: int) -> int:
        spec = replace(self.spec, n_gpu_layers=ngl, gpu_mem=None)
        weights = llamacpp_weights(self.arch, spec, self.checkpoint)
        return llamacpp_plan(self.arch, weights, llamacpp_config(spec)).host.value


def _vllm_batch(cost: VllmCost, budget: int, context: int) -> int:
    """``VllmCost.max_batch`` with one start-up instead of two: the sequences of ``context``
    tokens vLLM's KV pool holds at once on a GPU of ``budget`` bytes; 0 where vLLM refuses."""
    try:
        return int(cost.startup(context, budget).max_concurrency)
    except ConfigError:
        return 0
