"""How fast and how much each layout of a plan runs, and which layouts are worth having.

A plan's rows fit in memory; this module gives each its speed and cost from the performance
model (``perf``) and marks the ones no other row beats on both::

    serve   each row of tp × pp GPUs decodes ``batch`` requests of (input, output) tokens:
                batch = what the row's memory holds (vLLM: its KV pool in whole 16-token
                        blocks per request, at most max_num_seqs; hf: the largest batch at the
                        asked context; llama.cpp: 1), capped at --concurrency when given
                speed = perf.serving.serving_performance(traffic of (format, tp), Machine(GPU,
                        its efficiency factors, tp, pp)); $/M tokens at the GPU's price
    train   each row of dp·tp·pp·cp GPUs trains --tokens tokens:
                speed = perf.training.training_performance(arch, spec at the row's layout,
                        GPU, tokens, price); time, GPU-hours, cost

The front (``pareto_front``): over every row of every GPU type of the plan, a row is on it
when no other row is at least as good on both axes and better on one (latency: TPOT or the
end-to-end latency; cost: $/M tokens; training: time and cost of the run). A row with no price
has no cost and is not on the front; a GPU given by its memory alone (--gpu-mem) has no rates
and so no speed.

Prices: --price GPU=USD per GPU-hour (or a bare USD when the plan has one GPU type), else the
first row of ``hardware/prices.json`` for the GPU, else none.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..formats.dtypes import WeightFormat, parse_format
from ..hardware.prices import Price, price, price_overrides, usd_per_hour
from ..perf.efficiency import efficiency
from ..perf.figures import Performance
from ..perf.serving import Machine, compute_dtype, serving_performance
from ..perf.setting import TRAIN_ENGINE, VLLM_BLOCK_TOKENS, request_lengths, traffic_of
from ..perf.traffic import Traffic
from ..perf.training import training_performance
from .targets import Target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from ..arch import Architecture
    from ..hardware import Gpu
    from ..inference.estimate import InferenceSpec
    from ..layout import Layout
    from ..training.estimate import TrainSpec
    from .serve import ServeRow

LATENCY = {"tpot": "tpot_s", "e2e": "e2e_latency_s"}  # serve --rank → the figure on the front's axis
SERVE_RANKS = ("cost", "tpot", "e2e", "throughput", "memory")
TRAIN_RANKS = ("time", "cost", "memory")


# --- the front ----------------------------------------------------------------------------------


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """``a`` is at least as good as ``b`` on both axes (lower is better) and better on one."""
    return a[0] <= b[0] and a[1] <= b[1] and a != b


def pareto_front(points: Sequence[tuple[float, float] | None]) -> list[bool]:
    """Which points no other point dominates (None: not comparable, never on the front). Sorted by
    the first axis then the second, a point is on the front when its second value is below every
    earlier one's (Kung, Luccio & Preparata 1975, the two-dimensional maxima); equal points are
    all on it."""
    order = sorted((p, i) for i, p in enumerate(points) if p is not None)
    out = [False] * len(points)
    best: tuple[float, float] | None = None
    for p, i in order:
        if best is None or p[1] < best[1] or p == best:
            out[i] = True
            best = p
    return out


# --- prices -------------------------------------------------------------------------------------


def plan_prices(given: Sequence[str], targets: Sequence[Target]) -> dict[str, Price]:
    """The price per GPU-hour of each catalog target: ``given`` ("GPU=USD", or a bare "USD" when
    the plan has one GPU type), else the table's first row; a GPU with neither is left out."""
    import datetime

    from ..options import OptionError

    keys = [t.gpu.key for t in targets if t.gpu is not None]
    bare = [p for p in given if "=" not in p]
    named = price_overrides([p for p in given if "=" in p])
    if bare and len(keys) != 1:
        raise OptionError("price", f"{bare[0]} is a bare price but the plan has {len(keys)} GPU types; "
                          "give GPU=USD for each", mentions=("gpu",))
    usd = usd_per_hour(bare[-1]) if bare else None
    if usd is not None:
        named[keys[0]] = Price(keys[0], usd, "given by the user", datetime.date.today().isoformat(), "")
    other = sorted(k for k in named if k not in keys)
    if other:
        raise OptionError("price", f"names {other[0]}, which is not one of the plan's GPUs "
                          f"({', '.join(keys)})", mentions=("gpu",))
    out = {}
    for k in keys:
        p = price(k, named)
        if p is not None:
            out[k] = p
    return out


def rates_missing(gpu: Gpu | None) -> bool:
    """A GPU without the bandwidth or dense bf16 rate a speed needs (``--gpu-mem``, a bare custom)."""
    return gpu is None or not gpu.bandwidth_bytes_per_s or not gpu.peak_tflops("bf16")


# --- serving ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """What a serving row is timed on: requests of ``input_len`` + ``output_len`` tokens, at most
    ``concurrency`` at once (None: as many as memory holds), ``mfu`` replacing prefill's share."""

    input_len: int
    output_len: int
    concurrency: int | None = None
    mfu: float | None = None
    rank: str = "cost"

    @property
    def latency(self) -> str:
        return LATENCY.get(self.rank, "tpot_s")


def workload(spec: InferenceSpec, *, input_len: int | None, output_len: int | None,
             concurrency: int | None, mfu: float | None, rank: str | None) -> Workload:
    """The request lengths as ``infer --gpu`` takes them (``perf.setting.request_lengths``: as
    given, else half the asked context in and 128 tokens out)."""
    inp, out = request_lengths(spec, input_len, output_len)
    return Workload(inp, out, concurrency, mfu, rank or "cost")


@dataclass
class ServeSpeeds:
    """The speed of serving rows: one traffic compile per (format, tp), shared by every GPU type."""

    arch: Architecture
    spec: InferenceSpec
    fmt: WeightFormat
    work: Workload
    prices: dict[str, Price]

    def traffic(self, tp: int) -> Traffic:
        """One compile per (format, tp) (``compile_traffic`` caches it), shared by every GPU type."""
        return traffic_of(self.arch, self.spec, self.fmt, tp)

    def batch(self, row: ServeRow, max_num_seqs: int | None) -> int:
        """The requests ``row`` decodes together (the module docstring)."""
        w, s = self.work, self.spec
        if row.kv_capacity_tokens is not None:
            blocks = -(-(w.input_len + w.output_len) // VLLM_BLOCK_TOKENS) * VLLM_BLOCK_TOKENS
            held = min(row.kv_capacity_tokens // blocks, max_num_seqs or row.kv_capacity_tokens)
        elif s.engine == "llamacpp":
            held = s.batch
        else:
            held = row.max_batch
        return max(1, min(held, w.concurrency or held))

    def speed(self, row: ServeRow, target: Target, *, chunk: int | None, max_num_seqs: int | None
              ) -> Performance | None:
        """The row's serving figures on ``target``'s GPU, or None without its rates."""
        g = target.gpu
        if g is None or rates_missing(g):
            return None
        eff = efficiency(self.spec.engine, g.key).with_(prefill_mfu=self.work.mfu)
        machine = Machine(g, eff, row.layout.tp, row.layout.pp, compute_dtype(self.fmt.kind, g))
        p = self.prices.get(g.key)
        return serving_performance(self.traffic(row.layout.tp), machine, engine=self.spec.engine,
                                   input_len=self.work.input_len, output_len=self.work.output_len,
                                   batch=self.batch(row, max_num_seqs), chunk=chunk,
                                   usd_per_gpu_hour=None if p is None else p.usd_per_hour)

    def serve_key(self) -> Callable[[ServeRow], tuple[float, ...]]:
        """The row order of ``work.rank`` (lower first); rows without speed go last, by batch."""
        rank, latency = self.work.rank, self.work.latency

        def key(r: ServeRow) -> tuple[float, ...]:
            f = r.speed.figures if r.speed is not None else {}
            value = {"cost": f.get("usd_per_million_tokens"), "tpot": f.get("tpot_s"),
                     "e2e": f.get("e2e_latency_s"), "memory": None}.get(rank)
            if rank == "throughput" and "throughput_tokens_per_s" in f:
                return (0, -f["throughput_tokens_per_s"].value, -r.max_batch)
            if value is None:
                lat = f[latency].value if latency in f else float("inf")
                return (1 if rank != "memory" else 0, -r.max_batch, lat)
            return (0, value.value, -r.max_batch)

        return key


def serve_point(row: ServeRow, latency: str) -> tuple[float, float] | None:
    """(latency, $/M tokens) of a row, None when it has no speed or no price."""
    if row.speed is None or "usd_per_million_tokens" not in row.speed.figures:
        return None
    return row.speed[latency], row.speed["usd_per_million_tokens"]


def weight_format(spec: InferenceSpec) -> WeightFormat:
    return parse_format(spec.quant or spec.dtype)


# --- training -----------------------------------------------------------------------------------


@dataclass
class TrainSpeeds:
    """The speed of training layouts on one GPU: ``tokens`` for the run's time and cost."""

    arch: Architecture
    spec: TrainSpec
    tokens: float | None
    mfu: float | None
    prices: dict[str, Price]
    rank: str = "time"
    _perf: dict[tuple[str, Layout, str], Performance] = field(init=False, default_factory=dict)

    def speed(self, layout: Layout, recompute: str, target: Target) -> Performance | None:
        g = target.gpu
        if g is None or rates_missing(g):
            return None
        key = (g.key, layout, recompute)
        if key not in self._perf:
            eff = efficiency(TRAIN_ENGINE, g.key).with_(train_mfu=self.mfu) if self.mfu is not None else None
            p = self.prices.get(g.key)
            spec = replace(self.spec, layout=layout, recompute=recompute)
            usd = None if p is None else p.usd_per_hour
            self._perf[key] = training_performance(self.arch, spec, g, tokens=self.tokens,
                                                   usd_per_gpu_hour=usd, eff=eff)
        return self._perf[key]

    def seconds_per_token(self, layout: Layout, recompute: str, target: Target) -> float:
        """Wall seconds per trained token at ``layout``: 1 / (tokens/s per GPU · GPUs). At one
        GPU count and price, time and cost to train rank the layouts the same way."""
        p = self.speed(layout, recompute, target)
        if p is None:
            return float("inf")
        return 1 / (p["tokens_per_s_per_gpu"] * layout.gpus)


def train_point(perf: Performance | None, gpus: int, price_row: Price | None) -> tuple[float, float] | None:
    """(seconds, USD) per trained token of a row: 1 / (tokens/s per GPU · GPUs), and that time's
    GPU-hours at the price. The run of --tokens D takes D times both, so the front is the same."""
    if perf is None or price_row is None:
        return None
    seconds = 1 / (perf["tokens_per_s_per_gpu"] * gpus)
    return seconds, seconds * gpus * price_row.usd_per_hour / 3600


def speed_dict(perf: Performance | None, *, price_row: Price | None, batch: int | None = None
               ) -> dict[str, Any] | None:
    """A row's speed as JSON: each figure with its band, what bound it, the batch and price used."""
    if perf is None:
        return None
    out: dict[str, Any] = {name: f.to_dict() for name, f in perf.figures.items()}
    out["bound"] = perf.bound
    if batch is not None:
        out["batch"] = batch
    out["price"] = None if price_row is None else {
        "usd_per_hour": price_row.usd_per_hour, "provider": price_row.provider, "date": price_row.date,
        "url": price_row.url}
    return out
