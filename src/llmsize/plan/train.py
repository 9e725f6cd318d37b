"""Training and fine-tuning plans: for one kind of GPU, the fewest GPUs that fit, and the feasible
layouts at that count, ranked.

The search, per GPU type (``TrainSearch.plan``)::

    for every shape (a layout without dp, and a recompute level; layouts.py):
        dp_lb = the smallest dp whose model states alone fit (closed form, no cost model)
    walk the shapes by gpus_lb = tp·pp·cp·dp_lb, fewest first:
        stop once gpus_lb exceeds the best count found
        the exact total at mb = 1 (training/cost.py) decides; dp is bisected between dp_lb and the
        dp the bound says is enough once this shape's activations are added
    at the best count, every shape that can reach it is checked exactly, best-ranked first,
        and the walk stops when the ranking's bound says no further shape can enter the top rows

Two monotonicities keep the exact evaluations few: a step holds less at a larger dp (states are
sharded further, activations do not change), and less with more recomputation (full ≤ selective
≤ none), so a shape that does not fit with full recomputation at a count does not fit with less.
Exact totals are memoised by layout, so the GPU types of one plan share them.

The ranking is pluggable (``Ranking``): headroom now (the most free memory first); a later
ranking by step time or cost plugs in with its own key and, optionally, its own optimistic bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..arch import Architecture
from ..errors import ConfigError
from ..layout import Layout, Offload
from ..training.cost import TrainCost
from ..training.estimate import TrainSpec
from .layouts import RECOMPUTE, ROUNDING_SLACK, Shape, StatesBound, states_bound, train_shapes
from .report import Fix, PlanReport, TargetPlan, train_command
from .targets import Target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..perf.figures import Performance
    from .speed import TrainSpeeds
@dataclass(frozen=True)
class TrainRow:
    """One feasible layout on one GPU type."""

    layout: Layout
    recompute: str
    micro_batch: int
    total_bytes: int
    budget_bytes: int
    host_bytes: int  # lower bound to within a few bytes (offloaded states per GPU)
    max_micro_batch: int | None = None
    speed: Performance | None = None  # on the plan's GPU (speed.py); None without a speed model
    front: bool = False  # on the plan's time-vs-cost front

    @property
    def gpus(self) -> int:
        return self.layout.gpus

    @property
    def headroom_bytes(self) -> int:
        return self.budget_bytes - self.total_bytes


@dataclass(frozen=True)
class Ranking:
    """How feasible layouts are ordered: ``key`` (lower is better) and, optionally, ``optimistic``:
    the best key any layout with this states bound could get (lets the search stop early). A
    ranking whose key does not depend on memory (step time) gives ``by_layout`` instead: the
    search then checks layouts in that order and stops at the ``keep``-th that fits."""

    name: str
    key: Callable[[TrainRow], float]
    optimistic: Callable[[int, int], float] | None = None  # (bound bytes, budget) -> key
    by_layout: Callable[[Layout, str], float] | None = None  # (layout, recompute) -> key


HEADROOM = Ranking("headroom", key=lambda r: -r.headroom_bytes,
                   optimistic=lambda bound, budget: -(budget - bound))


_SHAPES: dict[tuple[object, ...], tuple[Architecture, list[Shape]]] = {}

Answer = tuple[int | None, list[TrainRow]]  # the fewest GPUs (None: none within the limit), its rows


@dataclass
class TrainSearch:
    """One model and recipe, every shape's bound computed once; ``plan`` per GPU type."""

    arch: Architecture
    spec: TrainSpec  # seq, micro-batch, recipe, optimizer, LoRA; its layout and recompute are searched
    offload: bool = False
    pins: dict[str, object] = field(default_factory=dict)
    max_tp: int = 8
    shapes: list[Shape] = field(init=False)
    _exact: dict[tuple[Layout, str], int | None] = field(init=False, default_factory=dict)
    _costs: dict[tuple[Layout, str], TrainCost | None] = field(init=False, default_factory=dict)
    _floors: dict[Shape, int] = field(init=False, default_factory=dict)
    _bounds: list[StatesBound | None] = field(init=False, default_factory=list)  # by shape
    _plans: dict[tuple[object, ...], Answer] = field(init=False, default_factory=dict)
    _others: dict[tuple[object, ...], TrainSearch] = field(init=False, default_factory=dict)
    evaluations: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        pins = tuple(sorted(self.pins.items(), key=str))
        key = (id(self.arch), self.spec.seq, self.max_tp, self.offload, pins)
        hit = _SHAPES.get(key)
        if hit is None or hit[0] is not self.arch:  # the fixes' searches mostly ask the same
            if len(_SHAPES) > 64:
                _SHAPES.clear()
            hit = _SHAPES[key] = (self.arch, train_shapes(self.arch, seq=self.spec.seq, max_tp=self.max_tp,
                                                          offload=self.offload, pins=self.pins))
        self.shapes = list(hit[1])
        self._bounds = [None] * len(self.shapes)

    def total(self, layout: Layout, recompute: str, micro_batch: int | None = None) -> int | None:
        """The exact per-GPU total (the train report's), or None where the layout is refused."""
        mb = micro_batch or self.spec.micro_batch
        key = (layout, recompute if mb == self.spec.micro_batch else f"{recompute}@{mb}")
        if key not in self._exact:
            self.evaluations += 1
            cost = self._cost(layout, recompute)
            try:
                self._exact[key] = None if cost is None else cost.total(mb, self.spec.seq)
            except ConfigError:
                self._exact[key] = None
        return self._exact[key]

    def _cost(self, layout: Layout, recompute: str) -> TrainCost | None:
        """The layout's compiled cost model (one per layout: its micro-batches share it), or None
        where the layout is refused."""
        key = (layout, recompute)
        if key not in self._costs:
            try:
                spec = replace(self.spec, layout=layout, recompute=recompute)
                self._costs[key] = TrainCost(self.arch, spec)
            except ConfigError:
                self._costs[key] = None
        return self._costs[key]

    def bound(self, k: int) -> StatesBound:
        """The model-state bound of shape ``k`` (computed when a plan first needs it; by index, as
        hashing thousands of shapes per GPU type would cost more than the search)."""
        found = self._bounds[k]
        if found is None:
            found = self._bounds[k] = states_bound(self.arch, self.spec, self.shapes[k])
        return found

    def floor(self, shape: Shape, bound: StatesBound) -> int:
        """A lower bound on what a step of ``shape`` holds beyond its sharded model states
        (activations, gradients at the peak, buffers), at any dp ≥ 2: the exact total at
        dp = 2²⁰ less the states bound there. From two replicas on, a larger dp shards gradients
        and states further and leaves activations and buffers as they are, so this rest only
        shrinks as dp grows (one replica has no data-parallel buffers: dp = 1 is checked on its
        own). Memoised by shape: every GPU type of a plan shares it."""
        if shape not in self._floors:
            lay = shape.layout
            wide = (bound.dp_step << 20)
            t = self.total(shape.with_dp(wide), shape.recompute)
            rest = 0 if t is None else t - bound.gpu_bytes(wide, lay.cp) - 2 * ROUNDING_SLACK
            self._floors[shape] = max(0, rest)
        return self._floors[shape]

    def fits(self, shape: Shape, dp: int, target: Target) -> bool:
        t = self.total(shape.with_dp(dp), shape.recompute)
        return t is not None and t <= target.usable_bytes

    def plan(self, target: Target, *, max_gpus: int, host_bytes: int | None = None, keep: int = 5,
             ranking: Ranking = HEADROOM) -> tuple[int | None, list[TrainRow]]:
        """(the fewest GPUs of ``target`` that fit, the best ``keep`` layouts at that count).
        GPU types of the same usable memory share the answer (H100 SXM, H100 PCIe and H800)."""
        key = (target.usable_bytes, target.count_limit(max_gpus), target.scale_up_domain, host_bytes, keep,
               ranking)
        if key not in self._plans:
            self._plans[key] = self._plan(target, max_gpus=target.count_limit(max_gpus),
                                          host_bytes=host_bytes,
                                          keep=keep, ranking=ranking)
        n, rows = self._plans[key]
        return n, list(rows)

    def _plan(self, target: Target, *, max_gpus: int, host_bytes: int | None, keep: int,
              ranking: Ranking) -> tuple[int | None, list[TrainRow]]:
        budget = target.usable_bytes
        cands = []
        for k, shape in enumerate(self.shapes):
            if shape.layout.tp > target.scale_up_domain or shape.gpus_per_replica > max_gpus:
                continue
            bound = self.bound(k)
            dp = bound.min_dp(budget, shape.layout.cp, host_budget=host_bytes)
            if dp is not None and dp * shape.gpus_per_replica <= max_gpus:
                lb = bound.gpu_bytes(dp, shape.layout.cp)
                cands.append((dp * shape.gpus_per_replica, lb, shape, bound, dp))
        cands.sort(key=lambda c: (c[0], c[1]))
        best = self._fewest(cands, target, max_gpus)
        if best is None:
            return None, []
        return best, self._rows(cands, target, best, host_bytes, keep, ranking)

    def _fewest(self, cands: list[tuple[int, int, Shape, StatesBound, int]], target: Target,
                max_gpus: int) -> int | None:
        """The fewest GPUs over the shapes with the most recomputation and no interleaving (each
        other shape needs at least as many as the same layout recomputing more, or not
        interleaved: Narayanan et al. 2021 §2.2.2, as many micro-batches in flight or more).
        Each shape's count is bounded below by its states and its floor (nearly exact), and the
        shapes are checked exactly in that order until the bound passes the best count found:
        usually one or two evaluations."""
        most = "full" if any(s.recompute == "full" for _, _, s, _, _ in cands) else None
        budget = target.usable_bytes
        order: list[tuple[int, int, Shape, StatesBound]] = []  # (gpus ≥, dp ≥, shape, bound); dp 0: one
        #                                                         replica, checked on its own
        for n_lb, _, shape, bound, dp_lb in cands:
            if n_lb > max_gpus:
                break
            if (most is not None and shape.recompute != most) or shape.layout.vpp > 1:
                continue  # interleaving keeps as many micro-batches in flight or more: never fewer GPUs
            g = shape.gpus_per_replica
            if max(dp_lb, _useful_dp(shape)) == 1:
                order.append((g, 0, shape, bound))  # one replica has no data-parallel buffers
            dp_floor = bound.min_dp(budget - self.floor(shape, bound), shape.layout.cp)
            if dp_floor is not None:
                dp = max(dp_lb, dp_floor, _useful_dp(shape), 2)
                dp = -(-dp // bound.dp_step) * bound.dp_step
                order.append((dp * g, dp, shape, bound))
        order.sort(key=lambda o: (o[0], o[1]))
        best: int | None = None
        for n, lo, shape, bound in order:
            limit = max_gpus if best is None else best - 1
            if n > limit:
                break
            g = shape.gpus_per_replica
            if lo == 0:
                best = g if self.fits(shape, 1, target) else best
                continue
            found = self._smallest_dp(shape, bound, lo, limit // g // bound.dp_step * bound.dp_step, target)
            best = best if found is None else found * g
        return best

    def _smallest_dp(self, shape: Shape, bound: StatesBound, lo: int, hi: int, target: Target) -> int | None:
        """The smallest dp in [lo, hi] (multiples of the step) that fits, or None. A larger dp
        shards the states further and leaves the rest R (activations, gradients at the peak) the
        same or smaller, so R at ``lo`` with the bound gives a dp that is enough; the answer lies
        between, usually at one end (the floor under R is nearly exact)."""
        step, budget = bound.dp_step, target.usable_bytes
        t = self.total(shape.with_dp(lo), shape.recompute)
        if t is None:
            return None
        if t <= budget:
            return lo
        enough = bound.min_dp(budget - (t - bound.gpu_bytes(lo, shape.layout.cp)), shape.layout.cp)
        if enough is not None and lo < enough <= hi and self.fits(shape, enough, target):
            hi = enough
        elif hi == lo or not self.fits(shape, hi, target):
            return None
        while hi - lo > step:
            mid = max((lo + hi) // 2 // step * step, lo + step)
            lo, hi = (lo, mid) if self.fits(shape, mid, target) else (mid, hi)
        return hi

    def _rows(self, cands: list[tuple[int, int, Shape, StatesBound, int]], target: Target, gpus: int,
              host_bytes: int | None, keep: int, ranking: Ranking) -> list[TrainRow]:
        """The best ``keep`` layouts of exactly ``gpus`` GPUs, by ``ranking``: shapes in order of
        their lower bound (states, and the floor where known: a shape's own, or that of the same
        layout recomputing everything, which holds less), stopping once not even the bound could
        enter the top rows."""
        budget = target.usable_bytes
        at = []
        for n_lb, _, shape, bound, _ in cands:
            g = shape.gpus_per_replica
            if n_lb <= gpus and gpus % g == 0 and (gpus // g) % bound.dp_step == 0 \
                    and gpus // g >= _useful_dp(shape):
                dp = gpus // g
                twin = self._floors.get(Shape(shape.layout, "full"), 0)
                floor = self._floors.get(shape, twin) if dp > 1 else 0
                at.append((bound.gpu_bytes(dp, shape.layout.cp) + floor, shape, bound, dp))
        at.sort(key=lambda a: (a[0], RECOMPUTE.index(a[1].recompute) * -1))
        if ranking.by_layout is not None:
            return self._rows_by_layout(at, budget, keep, ranking.by_layout)
        rows: list[TrainRow] = []
        for lb, shape, bound, dp in at:
            worst = sorted(ranking.key(r) for r in rows)[keep - 1] if len(rows) >= keep else None
            optimistic = ranking.optimistic
            if lb > budget or (worst is not None and optimistic is not None
                               and optimistic(lb, budget) >= worst):
                break
            layout = shape.with_dp(dp)
            # the same layout recomputing everything holds less: its exact total bounds this one
            full = self._exact.get((layout, "full")) if shape.recompute != "full" else None
            if full is not None and (full > budget or (worst is not None and optimistic is not None
                                                       and optimistic(full, budget) >= worst)):
                continue  # (twin None: not evaluated yet, or refused)
            t = self.total(layout, shape.recompute)
            if t is not None and t <= budget:
                rows.append(TrainRow(layout, shape.recompute, self.spec.micro_batch, t, budget,
                                     bound.host_bytes(dp, layout.cp)))
        rows.sort(key=ranking.key)
        rows = rows[:keep]
        if rows:
            rows[0] = replace(rows[0], max_micro_batch=self.max_micro_batch(rows[0]))
        return rows

    def _rows_by_layout(self, at: list[tuple[int, Shape, StatesBound, int]], budget: int, keep: int,
                        key: Callable[[Layout, str], float]) -> list[TrainRow]:
        """The ``keep`` best layouts by ``key`` that fit: every candidate keyed (a formula, no
        memory model), then checked exactly in key order until ``keep`` fit."""
        keyed = sorted((key(shape.with_dp(dp), shape.recompute), i)
                       for i, (lb, shape, _, dp) in enumerate(at) if lb <= budget)
        rows: list[TrainRow] = []
        for _, i in keyed:
            _, shape, bound, dp = at[i]
            layout = shape.with_dp(dp)
            t = self.total(layout, shape.recompute)
            if t is not None and t <= budget:
                rows.append(TrainRow(layout, shape.recompute, self.spec.micro_batch, t, budget,
                                     bound.host_bytes(dp, layout.cp)))
                if len(rows) == keep:
                    break
        if rows:
            rows[0] = replace(rows[0], max_micro_batch=self.max_micro_batch(rows[0]))
        return rows

    def max_micro_batch(self, row: TrainRow, limit: int = 1 << 16) -> int:
        """The largest micro-batch that fits this row's layout. The total is a maximum of moments
        each affine in the micro-batch, so the line through mb = 1 and 2 guesses the answer; the
        guess is checked (it and one more), else integer search (``invert.largest``) decides."""
        from ..invert import largest

        def fits(mb: int) -> bool:
            t = self.total(row.layout, row.recompute, mb)
            return t is not None and t <= row.budget_bytes

        t1, t2 = self.total(row.layout, row.recompute, 1), self.total(row.layout, row.recompute, 2)
        if t1 is not None and t2 is not None and t2 > t1:
            guess = min(limit, 1 + (row.budget_bytes - t1) // (t2 - t1))
            if guess >= 1 and fits(guess) and (guess == limit or not fits(guess + 1)):
                return guess
            return largest(fits, 1, max(1, guess)) or 0
        return largest(fits, 1, limit) or 0


def _useful_dp(shape: Shape) -> int:
    """The smallest dp at which the shape's sharding does anything: ZeRO or FSDP over a single
    rank (dp·cp = 1) is the unsharded layout with extra buffers, unless it offloads."""
    lay = shape.layout
    inert = lay.shard_level > 0 and lay.offload is Offload.NONE and lay.cp == 1
    return 2 if inert else 1


# --- the plan over GPU types, and the changes that make it fit ---------------------------------

MORE_GPUS = 16  # "more GPUs" looks this many times further than --max-gpus
MIN_SEQ_FIX = 256  # the shortest sequence a "shorter --seq" fix proposes


def train_plan(search: TrainSearch, targets: list[Target], *, source: str, mode: str,
               question: dict[str, object], max_gpus: int, host_bytes: int | None = None, keep: int = 5,
               ranking: Ranking = HEADROOM, alternatives: dict[str, TrainSpec] | None = None,
               speeds: TrainSpeeds | None = None) -> PlanReport:
    """The training plan of ``search`` for each GPU type; ``alternatives`` are the specs tried as
    single changes where nothing fits (a LoRA or QLoRA fine-tune, an 8-bit optimizer), by flag.
    With ``speeds`` (a training speed model) the layouts are ranked by time to train (or memory,
    ``speeds.rank``), each row carries its speed, and the time-vs-cost front over every GPU type
    is marked."""
    found = []
    for target in targets:
        rank = ranking if speeds is None or speeds.rank == "memory" else speed_ranking(speeds, target)
        n, rows = search.plan(target, max_gpus=max_gpus, host_bytes=host_bytes, keep=keep, ranking=rank)
        if speeds is not None:
            rows = [replace(r, speed=speeds.speed(r.layout, r.recompute, target)) for r in rows]
        found.append((target, n, rows))
    if speeds is not None:
        found = _mark_front(found, speeds)
    plans = []
    for target, n, rows in found:
        fixes = () if n is not None else tuple(
            train_fixes(search, target, max_gpus, host_bytes, alternatives or {}))
        commands = tuple(train_command(source, question, r, target) for r in rows)
        plans.append(TargetPlan(target, n, tuple(rows), commands, fixes))
    notes = [f"searched {len(search.shapes)} layouts (dp solved for each)",
             "offload searched only with --host-mem (host memory per GPU)" if not search.offload else
             "offload searched within --host-mem per GPU"]
    name = ranking.name
    if speeds is not None and speeds.rank != "memory":
        name = "time to train"
        notes.append("front: time vs cost to train over every GPU type (rows of one GPU type differ in time "
                     "alone: same GPUs, same price)")
    return PlanReport(source, mode, question, max_gpus, host_bytes, name, tuple(plans), tuple(notes))


def speed_ranking(speeds: TrainSpeeds, target: Target) -> Ranking:
    """Layouts by time per token on ``target`` (the cost per token orders them the same way: one
    GPU count, one price)."""
    def by_layout(layout: Layout, recompute: str) -> float:
        return speeds.seconds_per_token(layout, recompute, target)

    return Ranking(f"time on {target.name}", key=lambda r: by_layout(r.layout, r.recompute),
                   by_layout=by_layout)


def _mark_front(found: list[tuple[Target, int | None, list[TrainRow]]], speeds: TrainSpeeds
                ) -> list[tuple[Target, int | None, list[TrainRow]]]:
    from .speed import pareto_front, train_point

    points = [train_point(r.speed, r.gpus, speeds.prices.get(t.gpu.key) if t.gpu is not None else None)
              for t, _, rows in found for r in rows]
    on = iter(pareto_front(points))
    return [(t, n, [replace(r, front=next(on)) for r in rows]) for t, n, rows in found]


def train_fixes(search: TrainSearch, target: Target, max_gpus: int, host_bytes: int | None,
                alternatives: dict[str, TrainSpec]) -> list[Fix]:
    """The single changes that make training fit ``target`` within ``max_gpus``."""
    fixes = []

    def other(spec: TrainSpec, offload: bool, pins: dict[str, object]) -> TrainSearch:
        """The search of a changed question, shared by every GPU type that needs it."""
        key = (spec, offload, tuple(sorted(pins.items(), key=str)))
        if key not in search._others:
            search._others[key] = TrainSearch(search.arch, spec, offload, pins, search.max_tp)
        return search._others[key]

    def retry(change: str, other: TrainSearch, *, gpus: int = max_gpus,
              host: int | None = host_bytes) -> None:
        n, rows = other.plan(target, max_gpus=gpus, host_bytes=host, keep=1)
        if n is not None:
            host_note = f", {rows[0].host_bytes / 2**30:.1f} GiB host per GPU" if rows[0].host_bytes else ""
            fixes.append(Fix(change, f"fits on {_gpus(n)}{host_note}", n))

    for change, spec in alternatives.items():
        retry(change, other(spec, search.offload, search.pins))
    for pin in search.pins:
        unpinned = {k: v for k, v in search.pins.items() if k != pin}
        retry(f"search --{pin} (not {search.pins[pin]})", other(search.spec, search.offload, unpinned))
    if not search.offload:
        retry("--host-mem (CPU offload)", other(search.spec, True, search.pins),
              host=None)
    seq = search.spec.seq // 2
    while seq >= MIN_SEQ_FIX:  # the longest of seq/2, seq/4, … that fits
        n, _ = other(replace(search.spec, seq=seq), search.offload, search.pins).plan(
            target, max_gpus=max_gpus, host_bytes=host_bytes, keep=1)
        if n is not None:
            fixes.append(Fix(f"--seq {seq}", f"fits on {_gpus(n)}", n))
            break
        seq //= 2
    n, _ = search.plan(target, max_gpus=max_gpus * MORE_GPUS, host_bytes=host_bytes, keep=1)
    if n is not None:
        fixes.append(Fix(f"--max-gpus {n}", f"fits on {_gpus(n)}", n))
    return fixes


def _gpus(n: int) -> str:
    return f"{n} GPU{'s' if n > 1 else ''}"
