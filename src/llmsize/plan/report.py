"""The plan's result: per GPU type the fewest GPUs, the layouts at that count (each with the
``llmsize infer``/``llmsize train`` command that reproduces it), and, where nothing fits, the
single changes that would make it fit, each with its effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..schemas import versioned
from .targets import Target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..hardware.prices import Price
    from .serve import ServeRow
    from .train import TrainRow


@dataclass(frozen=True)
class Fix:
    """One change to the question that makes it fit: the flag, and what it gives."""

    change: str  # the flags that change, as typed: "--quant fp8"
    effect: str  # "fits on 2 GPUs (tp 2 × pp 1)"
    gpus: int | None = None  # the fewest GPUs with the change, where that is the effect


@dataclass(frozen=True)
class TargetPlan:
    """One GPU type: the fewest GPUs (None: not within max_gpus), the best layouts at that
    count with their reproducing commands, and the fixes when nothing fits."""

    target: Target
    gpus: int | None
    rows: tuple[ServeRow, ...] | tuple[TrainRow, ...]
    commands: tuple[str, ...]
    fixes: tuple[Fix, ...] = ()


@dataclass(frozen=True)
class PlanReport:
    """A plan for every GPU type asked about."""

    name: str
    mode: str  # serve | train | finetune
    question: dict[str, object]  # the workload and the options fixed by the user, as typed
    max_gpus: int
    host_bytes: int | None
    ranking: str
    targets: tuple[TargetPlan, ...]
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)
    prices: dict[str, Price] = field(default_factory=dict, compare=False)  # by GPU key, for the speeds

    def front(self) -> list[tuple[Target, ServeRow | TrainRow]]:
        """The rows on the plan's front, with their GPU type, fastest first."""
        rows = [(t.target, r) for t in self.targets for r in t.rows if r.front]
        return sorted(rows, key=lambda tr: _latency(tr[1]))

    def to_dict(self) -> dict[str, object]:
        return versioned({
            "model": self.name, "mode": self.mode, "question": self.question, "max_gpus": self.max_gpus,
            "host_bytes": self.host_bytes, "ranking": self.ranking,
            "gpus": [_target_dict(t, self.mode, self.prices) for t in self.targets],
            "notes": list(self.notes),
        })


def _speed(r: ServeRow | TrainRow, p: Price | None) -> dict[str, object]:
    from .speed import speed_dict

    batch = getattr(r, "batch", None)
    return {"speed": speed_dict(r.speed, price_row=p, batch=batch), "front": r.front}


def _target_dict(t: TargetPlan, mode: str, prices: dict[str, Price]) -> dict[str, object]:
    p = prices.get(t.target.gpu.key) if t.target.gpu is not None else None
    rows = [(_serve_row(r) if mode == "serve" else _train_row(r)) | _speed(r, p)  # type: ignore[arg-type]
            | {"command": c} for r, c in zip(t.rows, t.commands, strict=True)]
    return {"gpu": t.target.name, "usable_bytes": t.target.usable_bytes, "fewest_gpus": t.gpus,
            "fits": t.gpus is not None, "layouts": rows,
            "fixes": [{"change": f.change, "effect": f.effect, "gpus": f.gpus} for f in t.fixes]}


def _latency(r: ServeRow | TrainRow) -> float:
    """What a front is sorted by: TPOT (serving) or seconds per trained token (training)."""
    if r.speed is None:
        return float("inf")
    if "tpot_s" in r.speed.figures:
        return r.speed["tpot_s"]
    return 1 / (r.speed["tokens_per_s_per_gpu"] * r.gpus)


def _serve_row(r: ServeRow) -> dict[str, object]:
    return {"gpus": r.gpus, "tp": r.layout.tp, "pp": r.layout.pp, "total_bytes": r.total_bytes,
            "headroom_bytes": r.headroom_bytes, "max_context": r.max_context, "max_batch": r.max_batch,
            "max_concurrency": r.max_concurrency, "kv_capacity_tokens": r.kv_capacity_tokens,
            "n_gpu_layers": r.n_gpu_layers, "host_bytes": r.host_bytes}


def _train_row(r: TrainRow) -> dict[str, object]:
    lay = r.layout
    parallel = {"dp": lay.dp, "tp": lay.tp, "sp": lay.sp, "pp": lay.pp, "vpp": lay.vpp, "ep": lay.ep,
                "cp": lay.cp, "zero": lay.zero.value, "fsdp": lay.fsdp.value, "offload": lay.offload.value}
    return {"gpus": r.gpus, "parallel": parallel,
            "recompute": r.recompute, "micro_batch": r.micro_batch, "total_bytes": r.total_bytes,
            "headroom_bytes": r.headroom_bytes, "host_bytes": r.host_bytes,
            "max_micro_batch": r.max_micro_batch}


# --- the commands that reproduce a row ----------------------------------------------------------


def flags(pairs: dict[str, object]) -> str:
    """``{"--tp": 2, "--sp": True, "--zero": 0}`` → "--tp 2 --sp"; False, None and defaults
    given as None are left out."""
    out = []
    for flag, value in pairs.items():
        if value is None or value is False:
            continue
        out.append(flag if value is True else f"{flag} {value}")
    return " ".join(out)


def serve_command(source: str, question: dict[str, object], row: ServeRow, target: Target) -> str:
    """``llmsize infer`` at the row's layout on the target GPU (its totals are the row's)."""
    one: dict[str, object] = {"--tp": row.layout.tp if row.layout.tp > 1 else None,
           "--pp": row.layout.pp if row.layout.pp > 1 else None,
           "-ngl": row.n_gpu_layers if row.n_gpu_layers is not None else None}
    text = f"llmsize infer {source} {flags(question)} {flags(one)} {target.gpu_flag(row.gpus)}"
    return text.replace("  ", " ")


def train_command(source: str, question: dict[str, object], row: TrainRow, target: Target) -> str:
    """``llmsize train`` at the row's layout (its per-GPU total is the row's)."""
    lay = row.layout
    one: dict[str, object] = {
        "--dp": lay.dp if lay.dp > 1 else None, "--tp": lay.tp if lay.tp > 1 else None, "--sp": lay.sp,
        "--pp": lay.pp if lay.pp > 1 else None, "--vpp": lay.vpp if lay.vpp > 1 else None,
        "--cp": lay.cp if lay.cp > 1 else None, "--ep": lay.ep if lay.ep > 1 else None,
        "--zero": lay.zero.value or None,
        "--fsdp": {"full_shard": "full", "shard_grad_op": "shard-grad-op", "hybrid_shard": "hybrid"}.get(
            lay.fsdp.value),
        "--offload": {"optimizer": "optimizer", "parameters": "params"}.get(lay.offload.value),
        "--recompute": row.recompute if row.recompute != "none" else None,
    }
    text = f"llmsize train {source} {flags(question)} {flags(one)} {target.gpu_flag(row.gpus)}"
    return text.replace("  ", " ")
