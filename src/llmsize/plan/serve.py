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
from ..inference.engines import llamacpp_config, llamacpp_weights, vllm_config
from ..inference.estimate import InferenceSpec, weights_tree
from ..inference.llamacpp_plan import llamacpp_plan
from ..inference.vllm import kv_layout, request_blocks, scheduler_defaults, window_blocks
from ..invert import largest
from ..layout import Layout
from .layouts import serve_layouts
from .report import Fix, PlanReport, TargetPlan, serve_command
from .targets import Target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..perf.figures import Performance
    from ..sources.checkpoint import Checkpoint
    from .speed import ServeSpeeds


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
    speed: Performance | None = None  # on the plan's GPU (speed.py); None without its rates
    batch: int | None = None  # the requests the speed is for
    front: bool = False  # on the plan's cost-vs-latency front

    @property
    def gpus(self) -> int:
        return self.layout.tp * self.layout.pp

    @property
    def headroom_bytes(self) -> int:
        return self.budget_bytes - self.total_bytes


Answer = tuple[int | None, list[ServeRow]]  # the fewest GPUs (None: none within the limit), its layouts


@dataclass
class ServeSearch:
    """One model, format and workload (``spec``: context, batch, engine, quant, KV dtype)."""

    arch: Architecture
    spec: InferenceSpec
    checkpoint: Checkpoint | None = None
    config: dict[str, object] | None = None
    _costs: dict[tuple[Layout, int | None, str], CostModel | None] = field(init=False, default_factory=dict)
    weights_bytes: int = field(init=False)
    _plans: dict[tuple[object, ...], Answer] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.weights_bytes = weights_tree(self.arch, self.spec).value

    def cost(self, layout: Layout, n_gpu_layers: int | None = None, target: Target | None = None
             ) -> CostModel | None:
        """The compiled profile at ``layout``; for vLLM, of ``target``'s GPU, whose defaults
        (``max_num_batched_tokens`` on an A100) vLLM picks by name."""
        gpu = target.gpu if target is not None and self.spec.engine == "vllm" else None
        key = (layout, n_gpu_layers, gpu.key if gpu is not None else "")
        if key not in self._costs:
            on = None
            if gpu is not None:
                from ..hardware.fit import Target as Hardware

                on = Hardware(gpu, layout.tp * layout.pp, gpu.usable_bytes, "usable memory")
            spec = replace(self.spec, layout=layout, n_gpu_layers=n_gpu_layers, gpu_mem=None, target=on)
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
        """(the fewest GPUs of ``target`` that serve the workload, every layout of that count);
        GPU types of the same usable memory share the answer."""
        key = (target.usable_bytes, target.count_limit(max_gpus), target.scale_up_domain, host_bytes,
               target.gpu.key if target.gpu is not None and self.spec.engine == "vllm" else "")
        if key not in self._plans:
            self._plans[key] = self._plan(target, max_gpus=max_gpus, host_bytes=host_bytes)
        n, rows = self._plans[key]
        return n, list(rows)

    def _plan(self, target: Target, *, max_gpus: int, host_bytes: int | None) -> Answer:
        if self.spec.engine == "llamacpp":
            row = self._llamacpp(target, host_bytes)
            return (1, [row]) if row else (None, [])
        budget = target.usable_bytes
        for n in range(max(1, -(-self.weights_bytes // budget)), target.count_limit(max_gpus) + 1):
            layouts = serve_layouts(self.arch, n, engine=self.spec.engine,
                                    max_tp=min(n, target.scale_up_domain))
            rows = [self.row(layout, cost, budget) for layout in layouts
                    if (cost := self.cost(layout, target=target)) is not None and self.fits(cost, budget)]
            if rows:
                return n, sorted(rows, key=lambda r: -r.max_batch)
        return None, []

    def row(self, layout: Layout, cost: CostModel, budget: int, **extra: object) -> ServeRow:
        """The limits of one fitting layout (exact, as ``limits.py``)."""
        s = self.spec
        top = max(self.arch.max_position, s.context)

        batches = vllm_batches(cost, budget, s.context) if isinstance(cost, VllmCost) else None

        def fits_context(c: int) -> bool:  # the engine's test (``fits``) at another context
            if batches is not None:
                return batches(c) >= s.batch
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
            total = (start.weights + start.kv_available + start.activation_peak + start.non_torch
                     + start.cuda_graphs)
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


# --- the plan over GPU types, and the changes that make it fit ---------------------------------

QUANT_FIX = {"vllm": ("fp8", "awq"), "hf": ("int8", "nf4"), "llamacpp": ("Q8_0", "Q4_K_M")}
KV_FIX = {"vllm": "fp8", "hf": "fp8", "llamacpp": "q8_0"}
MORE_GPUS = 8  # "more GPUs" looks this many times further than --max-gpus


def serve_plan(search: ServeSearch, targets: list[Target], *, source: str, question: dict[str, object],
               max_gpus: int, host_bytes: int | None = None, speeds: ServeSpeeds | None = None) -> PlanReport:
    """The serving plan of ``search``'s workload for each GPU type in ``targets``; with ``speeds``
    every row is timed and priced, ranked by ``speeds.work.rank``, and the cost-vs-latency front
    over all GPU types is marked (``speed.py``)."""
    per_target = []
    for target in targets:
        n, rows = search.plan(target, max_gpus=max_gpus, host_bytes=host_bytes)
        if speeds is not None:
            rows = sorted((timed(search, speeds, r, target) for r in rows), key=speeds.serve_key())
        per_target.append((target, n, rows))
    if speeds is not None:
        per_target = _mark_front(per_target, speeds.work.latency)
    plans = []
    for target, n, rows in per_target:
        fixes = () if n is not None else tuple(serve_fixes(search, target, max_gpus, host_bytes))
        commands = tuple(serve_command(source, question, r, target) for r in rows)
        plans.append(TargetPlan(target, n, tuple(rows), commands, fixes))
    notes = []
    if search.spec.engine == "llamacpp":
        notes.append("llama.cpp: one GPU, layers that do not fit stay on the CPU (-ngl); its multi-GPU "
                     "split is not modelled")
    ranking = "max batch"
    if speeds is not None:
        w = speeds.work
        ranking = {"cost": "$/M tokens", "tpot": "TPOT", "e2e": "end-to-end latency",
                   "throughput": "throughput", "memory": "max batch"}[w.rank]
        notes.append(f"speed: requests of {w.input_len:,} + {w.output_len:,} tokens, as many at once as each "
                     "layout's memory holds" + (f" up to {w.concurrency:,}" if w.concurrency else "")
                     + f"; front: {'TPOT' if w.latency == 'tpot_s' else 'end-to-end latency'} vs $/M tokens "
                     "over every GPU type")
    return PlanReport(source, "serve", question, max_gpus, host_bytes, ranking, tuple(plans), tuple(notes))


def timed(search: ServeSearch, speeds: ServeSpeeds, row: ServeRow, target: Target) -> ServeRow:
    """``row`` with its speed on ``target`` (vLLM: chunked at its max_num_batched_tokens, its
    max_num_seqs capping the batch)."""
    chunk = max_seqs = None
    if search.spec.engine == "vllm":
        cost = search.cost(row.layout, target=target)
        if isinstance(cost, VllmCost):
            chunk, max_seqs = scheduler_defaults(vllm_config(replace(cost.spec, gpu_mem=row.budget_bytes)))
    perf = speeds.speed(row, target, chunk=chunk, max_num_seqs=max_seqs)
    return replace(row, speed=perf, batch=speeds.batch(row, max_seqs) if perf is not None else None)


def _mark_front(per_target: list[tuple[Target, int | None, list[ServeRow]]], latency: str
                ) -> list[tuple[Target, int | None, list[ServeRow]]]:
    from .speed import pareto_front, serve_point

    flat = [r for _, _, rows in per_target for r in rows]
    on = iter(pareto_front([serve_point(r, latency) for r in flat]))
    return [(t, n, [replace(r, front=next(on)) for r in rows]) for t, n, rows in per_target]


def serve_fixes(search: ServeSearch, target: Target, max_gpus: int, host_bytes: int | None) -> list[Fix]:
    """The single changes that make the workload fit ``target`` within ``max_gpus``."""
    s, fixes = search.spec, []

    def retry(change: str, spec: InferenceSpec, *, gpus: int = max_gpus,
              host: int | None = host_bytes) -> None:
        n, rows = ServeSearch(search.arch, spec, search.checkpoint, search.config).plan(
            target, max_gpus=gpus, host_bytes=host)
        if n is not None:
            fixes.append(Fix(change, f"fits on {_where(n, rows[0])}", n))

    for quant in QUANT_FIX[s.engine]:
        if s.quant is None:
            retry(f"--quant {quant}", replace(s, quant=quant))
    if s.kv_dtype is None:
        retry(f"--kv-dtype {KV_FIX[s.engine]}", replace(s, kv_dtype=KV_FIX[s.engine]))
    shorter = _shorter_context(search, target, max_gpus)
    if shorter is not None:
        context, row = shorter
        fixes.append(Fix(f"-c {context}", f"fits on {_where(row.gpus, row)}", row.gpus))
    if s.engine == "llamacpp" and host_bytes is not None:
        retry("--host-mem (more)", s, host=None)
    elif s.engine != "llamacpp":
        n, rows = search.plan(target, max_gpus=max_gpus * MORE_GPUS, host_bytes=host_bytes)
        if n is not None:
            fixes.append(Fix(f"--max-gpus {n}", f"fits on {_where(n, rows[0])}", n))
    return fixes


def _shorter_context(search: ServeSearch, target: Target, max_gpus: int) -> tuple[int, ServeRow] | None:
    """The longest context below the asked one that fits, on the layouts of the most GPUs allowed."""
    s, budget = search.spec, target.usable_bytes
    for n in range(target.count_limit(max_gpus) if s.engine != "llamacpp" else 1, 0, -1):
        layouts = serve_layouts(search.arch, n, engine=s.engine, max_tp=min(n, target.scale_up_domain))
        best: tuple[int, ServeRow] | None = None
        for layout in layouts:
            cost = search.cost(layout, target=target)
            if cost is None:
                continue
            c = largest(_context_fits(cost, s.batch, budget), max(cost.min_context, 1), s.context - 1)
            if c is not None and (best is None or c > best[0]):
                shorter = ServeSearch(search.arch, replace(s, context=c), search.checkpoint, search.config)
                best = (c, shorter.row(layout, cost, budget))
        if layouts:
            return best
    return None


def _context_fits(cost: CostModel, batch: int, budget: int) -> Callable[[int], bool]:
    """Whether ``batch`` sequences of a context fit, as the engine says (``ServeSearch.fits``)."""
    if isinstance(cost, VllmCost):
        batches = vllm_batches(cost, budget, 1)
        return lambda c: batches(c) >= batch

    def fits(c: int) -> bool:
        try:
            return cost.total(batch, c) <= budget
        except ConfigError:
            return False

    return fits


def _where(n: int, row: ServeRow) -> str:
    """Where a fix fits, and what that layout then allows."""
    if row.n_gpu_layers is not None:
        where = f"1 GPU with -ngl {row.n_gpu_layers} ({row.host_bytes / 2**30:.1f} GiB on the host)"
    else:
        where = f"{n} GPU{'s' if n > 1 else ''} (tp {row.layout.tp} × pp {row.layout.pp})"
    if row.max_concurrency is not None:
        return f"{where}, max concurrency {row.max_concurrency:.2f}×"
    return f"{where}, max batch {row.max_batch}"


def vllm_batches(cost: VllmCost, budget: int, context: int) -> Callable[[int], int]:
    """``_vllm_batch`` at any max_model_len, from one start-up at ``context``: vLLM's KV pool (its
    bytes and blocks) does not depend on max_model_len (``vllm.scheduler_defaults``: V1 chunks
    every prefill), only the pages one request needs do (``request_blocks``; a sliding window's
    blocks through ``window_blocks``). Exact against the full start-up (tests/test_plan.py)."""
    try:
        start = cost.startup(context, budget)
    except ConfigError:
        return lambda c: _vllm_batch(cost, budget, c)
    cfg = vllm_config(replace(cost.spec, context=context, gpu_mem=budget))
    layout = kv_layout(cost.arch, cfg, max_model_len=context)
    tokens = scheduler_defaults(cfg)[0]

    def batches(c: int) -> int:
        lay = layout if not layout.window_layers else replace(
            layout, window_blocks=window_blocks(cost.arch, cfg, max_model_len=c, tokens=tokens))
        per_request, pages = request_blocks(lay, max_model_len=c, block=cfg.block_size)
        if pages * lay.page_bytes > start.kv_available:
            return 0  # vLLM refuses to start: one request does not fit
        return int(start.num_blocks / per_request)

    return batches
