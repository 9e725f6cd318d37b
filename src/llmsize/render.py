"""Text rendering of result trees (rich tables). The JSON output renders the same trees."""

from __future__ import annotations

from collections.abc import Sequence

from .params import ParamReport
from .seed import SeedReport
from .tree import Part
from .units import MiB, fmt_short

TYPE_CHECKING = False

if TYPE_CHECKING:
    from rich.console import Console

    from .sources.catalog import CatalogEntry


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _tree_rows(root: Part, max_depth: int) -> list[tuple[str, str, str, str]]:
    rows = []
    for depth, p in root.walk():
        if depth > max_depth:
            continue
        each = f"{p.per_instance:,} ×{p.repeat}" if p.repeat > 1 else ""
        share = f"{100 * p.value / root.value:.1f}%" if root.value else ""
        rows.append(("  " * depth + p.name, f"{p.value:,}", share, each))
    return rows


def param_table(report: ParamReport, *, depth: int = 3) -> None:
    from rich.table import Table

    t = Table(title=f"{report.arch.name}: parameters (exact)", title_justify="left")
    for col, just in (("part", "left"), ("parameters", "right"), ("share", "right"), ("each", "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for row in _tree_rows(report.breakdown, depth):
        t.add_row(*row)
    con = _console()
    con.print(t)
    a = report.arch
    con.print(
        f"total {report.total:,} ({fmt_short(report.total)})  ·  trainable {report.trainable:,}  ·  "
        f"non-embedding {report.non_embedding:,}  ·  active per token {report.active_per_token:,}"
    )
    if a.mla:
        heads = f"MLA {a.n_heads} heads, latent {a.mla.kv_lora_rank}+{a.mla.qk_rope_head_dim}"
    elif a.ssm:
        heads = f"SSM d_inner {a.ssm.d_inner}, state {a.ssm.d_state}"
    else:
        heads = f"{a.attention} {a.n_heads}q/{a.n_kv_heads}kv × head_dim {a.head_dim}"
    con.print(
        f"{a.model_type}: {a.kind}, {a.n_layers} layers, d={a.d_model}, {heads}, "
        f"{'gated' if a.gated_mlp else 'plain'} MLP {a.d_ff}, V={a.vocab_size:,}, "
        f"{'tied' if a.tie_embeddings else 'untied'} head"
        + (f", MoE {a.moe.n_experts}×top-{a.moe.top_k}" if a.moe else "")
    )
    for note in a.notes:
        con.print(f"note: {note}")


def seed_table(report: SeedReport, title: str = "seed method (blog formulas)") -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    t.add_column("term")
    t.add_column("parameters", justify="right")
    for p in report.breakdown.parts or (report.breakdown,):
        t.add_row(p.name, f"{p.value:,}")
    t.add_row("total", f"{report.total:,}", style="bold")
    con = _console()
    con.print(t)
    sizes = "  ·  ".join(f"{k.upper()} {v:,} B = {v / MiB:.1f} MiB" for k, v in report.bytes_by_dtype.items())
    con.print(sizes)
    for note in report.notes:
        con.print(f"note: {note}")


def side_by_side(seed: SeedReport, exact: ParamReport) -> None:
    delta = exact.total - seed.total
    _console().print(
        f"exact GPT-2-style count {exact.total:,} vs seed {seed.total:,}: "
        f"{delta:+,} ({100 * delta / seed.total:+.1f}%)"
    )


def catalog_table(rows: Sequence[tuple[CatalogEntry, ParamReport]]) -> None:
    from rich.table import Table

    t = Table(title=f"llmsize catalog ({len(rows)} models)", title_justify="left")
    for col in ("name", "hf id", "type", "total", "active/token"):
        t.add_column(col, justify="right" if col in ("total", "active/token") else "left")
    for e, r in rows:
        active = fmt_short(r.active_per_token) if r.active_per_token != r.total else ""
        t.add_row(e.name, e.hf_id, e.model_type, fmt_short(r.total), active)
    _console().print(t)
