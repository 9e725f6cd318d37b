"""Charts as SVG, drawn from numbers llmsize has already computed: no formula lives here.

A ``Figure`` is plain data (bytes as ints), built by ``charts.py`` from the API's results and
drawn here by the standard library alone, so that ``llmsize plot`` and the web page show the same
picture and no JavaScript computes anything. Two shapes:

    breakdown / gpus    one stacked bar per row (a term per segment, each with its error bar),
                        and a dashed line for each GPU's usable memory
    context / batch     stacked areas of the terms against the context or the batch, the total
                        as points, and a dashed line per GPU

Every drawn value carries its number as a data attribute (``data-bytes``, ``data-x``,
``data-values``), so a test can compare the picture with the JSON. Text is escaped: a model
name comes from a pasted config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from .units import GiB

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    Scale = Callable[[float], float]

WIDTH, ROW_HEIGHT, PLOT_HEIGHT = 720, 34, 300
LEFT, RIGHT, TOP, BOTTOM = 120, 24, 36, 44
COLORS = {  # one colour per term, the same in every chart (colour-blind-safe, Okabe–Ito)
    "weights": "#0072B2", "kv_cache": "#E69F00", "activations": "#009E73", "overhead": "#999999",
    "gradients": "#CC79A7", "optimizer_states": "#D55E00", "comm_buffers": "#56B4E9",
}
SPARE = ("#F0E442", "#000000", "#882255")


@dataclass(frozen=True)
class Bar:
    """One term of a stacked bar: its bytes and its error bar as a fraction (None: no number)."""

    term: str
    value: int
    error: float | None = None


@dataclass(frozen=True)
class Limit:
    """A reference line: one GPU's usable memory, in bytes."""

    label: str
    value: int


@dataclass(frozen=True)
class Row:
    """One stacked bar (a GPU, or the estimate), with its own limit when it has one."""

    label: str
    bars: tuple[Bar, ...]
    limit: Limit | None = None

    @property
    def total(self) -> int:
        return sum(b.value for b in self.bars)


@dataclass(frozen=True)
class Series:
    """One term against x; None where the estimate refused the point (it does not start)."""

    term: str
    values: tuple[int | None, ...]


@dataclass(frozen=True)
class Line:
    """A rate against x (the throughput chart): ``values`` in ``unit``, and where the measured
    value lay for held-out published runs (``low``/``high``, empty when not calibrated)."""

    label: str
    unit: str
    values: tuple[float, ...]
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    axis: str = "left"  # left or right


@dataclass(frozen=True)
class Mark:
    """A vertical marker at ``x`` (the roofline knee)."""

    label: str
    x: float


@dataclass(frozen=True)
class Figure:
    kind: str  # breakdown, context, batch, gpus, throughput
    title: str
    x_label: str = ""
    xs: tuple[int, ...] = ()
    series: tuple[Series, ...] = ()  # stacked, bottom first
    rows: tuple[Row, ...] = ()
    limits: tuple[Limit, ...] = ()
    notes: tuple[str, ...] = ()
    lines: tuple[Line, ...] = ()  # rates (throughput): drawn instead of stacked bytes
    marks: tuple[Mark, ...] = ()

    def totals(self) -> tuple[int | None, ...]:
        """The stacked total at each x (None where a term is missing)."""
        out: list[int | None] = []
        for i in range(len(self.xs)):
            column = [s.values[i] for s in self.series]
            out.append(None if any(v is None for v in column) else sum(v for v in column if v is not None))
        return tuple(out)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "kind": self.kind, "title": self.title, "x_label": self.x_label, "xs": list(self.xs),
            "series": [{"term": s.term, "values": list(s.values)} for s in self.series],
            "totals": list(self.totals()),
            "rows": [{"label": r.label, "total": r.total,
                      "bars": [{"term": b.term, "value": b.value, "error": b.error} for b in r.bars],
                      "limit": {"label": r.limit.label, "value": r.limit.value} if r.limit else None}
                     for r in self.rows],
            "limits": [{"label": lim.label, "value": lim.value} for lim in self.limits],
            "notes": list(self.notes),
        }
        if self.lines:  # the throughput chart: rates, not bytes
            out["lines"] = [{"label": ln.label, "unit": ln.unit, "axis": ln.axis, "values": list(ln.values),
                             "low": list(ln.low), "high": list(ln.high)} for ln in self.lines]
            out["marks"] = [{"label": m.label, "x": m.x} for m in self.marks]
        return out


def render(fig: Figure) -> str:
    """The figure as a standalone SVG document."""
    if fig.lines:
        return _lines(fig)
    return _bars(fig) if fig.rows else _areas(fig)


def color(term: str, index: int) -> str:
    return COLORS.get(term, SPARE[index % len(SPARE)])


def _gib(value: float) -> str:
    return f"{value / GiB:,.2f} GiB"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 × 10^k GiB apart) from 0 to at least ``top`` bytes."""
    if top <= 0:
        return [0.0]
    raw = top / GiB / count
    base = 10 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 5, 10) if m * base >= raw)
    n = math.ceil(top / GiB / step)
    return [i * step * GiB for i in range(n + 1)]


def _open(fig: Figure, height: int) -> list[str]:
    title = escape(fig.title)
    return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
            f'height="{height}" role="img" aria-label="{title}" class="llmsize-chart" '
            f'data-kind="{escape(fig.kind)}" font-family="system-ui, sans-serif" font-size="12">',
            f"<title>{title}</title>",
            f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
            f'<text x="{LEFT}" y="20" font-size="14" font-weight="600">{title}</text>']


def _legend(terms: Sequence[str], y: int) -> list[str]:
    out, x = [], LEFT
    for i, term in enumerate(terms):
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color(term, i)}"/>'
                   f'<text x="{x + 14}" y="{y}">{escape(term)}</text>')
        x += 24 + 7 * len(term)
    return out


def _bars(fig: Figure) -> str:
    """Stacked horizontal bars, one per row, an error bar per term, a dashed line per limit."""
    terms = list(dict.fromkeys(b.term for r in fig.rows for b in r.bars))
    height = TOP + ROW_HEIGHT * len(fig.rows) + BOTTOM + 16
    limits = [*fig.limits, *(r.limit for r in fig.rows if r.limit)]
    top = max([r.total * (1 + max((b.error or 0 for b in r.bars), default=0)) for r in fig.rows]
              + [lim.value for lim in limits] + [1])
    ticks = nice_ticks(top)
    scale = (WIDTH - LEFT - RIGHT) / ticks[-1] if ticks[-1] else 0.0
    out = _open(fig, height)
    base_y = TOP + ROW_HEIGHT * len(fig.rows)
    out += _x_axis(ticks, scale, TOP, base_y)
    for i, row in enumerate(fig.rows):
        y = TOP + i * ROW_HEIGHT + 6
        out.append(f'<g class="row" data-label="{escape(row.label)}" data-total="{row.total}">'
                   f'<text x="{LEFT - 6}" y="{y + 15}" text-anchor="end">{escape(row.label)}</text>')
        x = float(LEFT)
        for j, b in enumerate(row.bars):
            w = b.value * scale
            err = "" if b.error is None else f' data-error="{b.error}"'
            out.append(f'<rect class="bar" x="{x:.2f}" y="{y}" width="{w:.2f}" height="20" '
                       f'fill="{color(b.term, j)}" data-term="{escape(b.term)}" data-bytes="{b.value}"{err}>'
                       f"<title>{escape(b.term)}: {b.value:,} B = {_gib(b.value)}</title></rect>")
            if b.error:
                out.append(_whisker(b, x + w, y + 10, scale))
            x += w
        if row.limit:
            out.append(_limit_line(row.limit, LEFT + row.limit.value * scale, y - 3, y + 23))
        out.append("</g>")
    for lim in fig.limits:
        out.append(_limit_line(lim, LEFT + lim.value * scale, TOP, base_y))
    out += _legend(terms, height - 8)
    out += [f'<text x="{LEFT}" y="{TOP - 4}" font-size="11" fill="#555">{escape(n)}</text>'
            for n in fig.notes[:1]]
    out.append("</svg>")
    return "\n".join(out)


def _whisker(b: Bar, end: float, y: float, scale: float) -> str:
    """The error bar of one term, drawn about the segment's right edge (± error × its bytes)."""
    assert b.error is not None
    half = b.value * b.error * scale
    low, high = round(b.value * (1 - b.error)), round(b.value * (1 + b.error))
    return (f'<path class="errorbar" d="M{end - half:.2f} {y}H{end + half:.2f}M{end - half:.2f} {y - 4}'
            f'v8M{end + half:.2f} {y - 4}v8" stroke="#222" fill="none" data-term="{escape(b.term)}" '
            f'data-low="{low}" data-high="{high}">'
            f"<title>{escape(b.term)}: ±{100 * b.error:.1f}%</title></path>")


def _limit_line(lim: Limit, x: float, y0: float, y1: float) -> str:
    return (f'<g class="limit" data-label="{escape(lim.label)}" data-bytes="{lim.value}">'
            f'<line x1="{x:.2f}" x2="{x:.2f}" y1="{y0}" y2="{y1}" stroke="#C00" stroke-dasharray="4 3"/>'
            f'<text x="{x:.2f}" y="{y0 - 3}" fill="#C00" text-anchor="middle" font-size="11">'
            f"{escape(lim.label)}</text><title>{escape(lim.label)}: {_gib(lim.value)}</title></g>")


def _x_axis(ticks: Sequence[float], scale: float, y0: float, y1: float) -> list[str]:
    out = []
    for t in ticks:
        x = LEFT + t * scale
        out.append(f'<line x1="{x:.2f}" x2="{x:.2f}" y1="{y0}" y2="{y1}" stroke="#ddd"/>'
                   f'<text x="{x:.2f}" y="{y1 + 14}" text-anchor="middle">{t / GiB:g}</text>')
    out.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{y1 + 30}" '
               'text-anchor="middle">GiB per GPU</text>')
    return out


def _areas(fig: Figure) -> str:
    """Stacked areas of the terms against x (log₂ axis when x spans more than 16×), the total as
    points, and a dashed line per GPU's usable memory."""
    height = TOP + PLOT_HEIGHT + BOTTOM + 16
    totals = fig.totals()
    top = max([t for t in totals if t is not None] + [lim.value for lim in fig.limits] + [1])
    ticks = nice_ticks(top)
    y_of = _linear(ticks[-1], TOP + PLOT_HEIGHT, TOP)
    x_of = _x_scale(fig.xs)
    out = _open(fig, height)
    for t in ticks:
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y_of(t):.2f}" y2="{y_of(t):.2f}" '
                   f'stroke="#ddd"/><text x="{LEFT - 6}" y="{y_of(t) + 4:.2f}" '
                   f'text-anchor="end">{t / GiB:g}</text>')
    out.append(f'<text x="16" y="{TOP + PLOT_HEIGHT / 2}" transform="rotate(-90 16 {TOP + PLOT_HEIGHT / 2})" '
               'text-anchor="middle">GiB per GPU</text>')
    for x in fig.xs:
        out.append(f'<text x="{x_of(x):.2f}" y="{TOP + PLOT_HEIGHT + 14}" '
                   f'text-anchor="middle">{_short(x)}</text>')
    out.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{TOP + PLOT_HEIGHT + 30}" '
               f'text-anchor="middle">{escape(fig.x_label)}</text>')
    out += _stack(fig, x_of, y_of)
    for x, total in zip(fig.xs, totals, strict=True):
        if total is not None:
            out.append(f'<circle class="point" cx="{x_of(x):.2f}" cy="{y_of(total):.2f}" r="3" fill="#222" '
                       f'data-x="{x}" data-bytes="{total}">'
                       f"<title>{escape(fig.x_label)} {x:,}: {_gib(total)}</title></circle>")
    for lim in fig.limits:
        y = y_of(lim.value)
        out.append(f'<g class="limit" data-label="{escape(lim.label)}" data-bytes="{lim.value}">'
                   f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.2f}" y2="{y:.2f}" stroke="#C00" '
                   f'stroke-dasharray="4 3"/><text x="{WIDTH - RIGHT}" y="{y - 3:.2f}" text-anchor="end" '
                   f'fill="#C00" font-size="11">{escape(lim.label)}</text></g>')
    out += _legend([s.term for s in fig.series], height - 8)
    out += [f'<text x="{LEFT}" y="{TOP - 4}" font-size="11" fill="#555">{escape(n)}</text>'
            for n in fig.notes[:1]]
    out.append("</svg>")
    return "\n".join(out)


def _stack(fig: Figure, x_of: Scale, y_of: Scale) -> list[str]:
    """One polygon per term, from the running total below it to the total with it."""
    out, below = [], [0] * len(fig.xs)
    keep = [i for i, t in enumerate(fig.totals()) if t is not None]
    for j, s in enumerate(fig.series):
        above = [b + (v or 0) for b, v in zip(below, s.values, strict=True)]
        upper = [f"{x_of(fig.xs[i]):.2f},{y_of(above[i]):.2f}" for i in keep]
        lower = [f"{x_of(fig.xs[i]):.2f},{y_of(below[i]):.2f}" for i in reversed(keep)]
        values = " ".join("" if v is None else str(v) for v in s.values)
        out.append(f'<polygon class="area" points="{" ".join(upper + lower)}" fill="{color(s.term, j)}" '
                   f'fill-opacity="0.85" data-term="{escape(s.term)}" data-values="{values}">'
                   f"<title>{escape(s.term)}</title></polygon>")
        below = above
    return out


LINE_COLORS = {"left": "#0072B2", "right": "#D55E00"}


def _round_top(top: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at or above ``top`` (an axis's end)."""
    if top <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(top))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= top)


def _lines(fig: Figure) -> str:
    """Rates against x (log₂ axis): the left-axis line with its band shaded, the right-axis line
    dashed, and a dotted vertical line per mark (the knee). Every point carries its value."""
    height = TOP + PLOT_HEIGHT + BOTTOM + 16
    x_of = _x_scale(fig.xs)
    out = _open(fig, height)
    for ln in fig.lines:
        top = _round_top(max(list(ln.values) + list(ln.high) + [0.0]))
        y_of = _linear(top, TOP + PLOT_HEIGHT, TOP)
        colour = LINE_COLORS.get(ln.axis, "#222")
        x_text, anchor = (LEFT - 6, "end") if ln.axis == "left" else (WIDTH - 2, "end")
        for i in range(5):
            v = top * i / 4
            out.append(f'<text x="{x_text}" y="{y_of(v) + 4:.2f}" text-anchor="{anchor}" fill="{colour}">'
                       f"{v:,.4g}</text>")
        if ln.low and ln.high:
            upper = [f"{x_of(x):.2f},{y_of(h):.2f}" for x, h in zip(fig.xs, ln.high, strict=True)]
            lower = [f"{x_of(x):.2f},{y_of(lo):.2f}"
                     for x, lo in reversed(list(zip(fig.xs, ln.low, strict=True)))]
            out.append(f'<polygon class="band" points="{" ".join(upper + lower)}" fill="{colour}" '
                       f'fill-opacity="0.18"><title>{escape(ln.label)}: held-out band</title></polygon>')
        points = " ".join(f"{x_of(x):.2f},{y_of(v):.2f}" for x, v in zip(fig.xs, ln.values, strict=True))
        dash = ' stroke-dasharray="5 3"' if ln.axis == "right" else ""
        values = " ".join(f"{v:.6g}" for v in ln.values)
        out.append(f'<polyline class="line" points="{points}" fill="none" stroke="{colour}" stroke-width="2"'
                   f'{dash} data-label="{escape(ln.label)}" data-values="{values}"/>')
        for x, v in zip(fig.xs, ln.values, strict=True):
            out.append(f'<circle class="point" cx="{x_of(x):.2f}" cy="{y_of(v):.2f}" r="3" fill="{colour}" '
                       f'data-x="{x}" data-value="{v:.6g}"><title>{escape(fig.x_label)} {x:,}: '
                       f"{v:,.4g} {escape(ln.unit)}</title></circle>")
    for x in fig.xs:
        out.append(f'<text x="{x_of(x):.2f}" y="{TOP + PLOT_HEIGHT + 14}" '
                   f'text-anchor="middle">{_short(x)}</text>')
    out.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{TOP + PLOT_HEIGHT + 30}" '
               f'text-anchor="middle">{escape(fig.x_label)}</text>')
    first, last = (min(fig.xs), max(fig.xs)) if fig.xs else (1, 1)
    for m in fig.marks:
        if first <= m.x <= last:
            mx = x_of(m.x)
            out.append(f'<g class="knee" data-x="{m.x:.6g}"><line x1="{mx:.2f}" x2="{mx:.2f}" y1="{TOP}" '
                       f'y2="{TOP + PLOT_HEIGHT}" stroke="#555" stroke-dasharray="2 3"/>'
                       f'<text x="{mx - 4:.2f}" '
                       f'y="{TOP + 12}" font-size="11" fill="#555" text-anchor="end">{escape(m.label)}</text>'
                       f"<title>{escape(m.label)}</title></g>")
    legend = " · ".join(f"{ln.label} ({ln.unit}, {ln.axis} axis)" for ln in fig.lines)
    out.append(f'<text x="{LEFT}" y="{height - 8}" font-size="11">{escape(legend)}</text>')
    out += [f'<text class="caption" x="{LEFT}" y="{TOP - 4}" font-size="11" fill="#555">{escape(n)}</text>'
            for n in fig.notes[:1]]
    out.append("</svg>")
    return "\n".join(out)


def _linear(top: float, y0: float, y1: float) -> Scale:
    def y(value: float) -> float:
        return y0 + (y1 - y0) * (value / top if top else 0.0)

    return y


def _x_scale(xs: Sequence[int]) -> Scale:
    lo, hi = (min(xs), max(xs)) if xs else (1, 1)
    log = lo > 0 and hi / lo > 16
    a, b = (math.log2(lo), math.log2(hi)) if log else (lo, hi)

    def x(value: float) -> float:
        v = math.log2(value) if log else value
        return LEFT + (WIDTH - LEFT - RIGHT) * ((v - a) / (b - a) if b > a else 0.5)

    return x


def _short(n: int) -> str:
    """8192 → 8K, 131072 → 128K (binary: contexts are powers of two), 24 → 24."""
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024}K"
    return str(n)
