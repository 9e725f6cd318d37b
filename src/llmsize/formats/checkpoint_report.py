"""``llmsize inspect``: what a checkpoint holds, read from its headers, as one typed report.

The stored weights (``stored.weights_report``: tensors, dtypes, bytes, logical parameters) and,
when the source also has a config.json or GGUF metadata, the cross-check of the stored parameters
against the architecture's exact count (``stored.cross_check``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LlmsizeError
from ..schemas import versioned
from .stored import Quantization, cross_check, quantization_of, weights_report

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..arch import Architecture
    from ..sources.resolve import Resolved
    from .stored import CrossCheck, WeightsReport


@dataclass(frozen=True)
class InspectReport:
    """A checkpoint's stored weights, and their cross-check against the architecture if known."""

    source: str
    weights: WeightsReport
    arch: Architecture | None
    check: CrossCheck | None
    arch_from: str  # "config.json" or "GGUF metadata"
    tensors: bool  # whether to_dict lists every tensor
    warnings: tuple[str, ...] = ()

    @property
    def arch_line(self) -> str | None:
        a = self.arch
        if a is None:
            return None
        return (f"architecture ({self.arch_from}): {a.model_type}, {a.n_layers} layers, d={a.d_model}, "
                f"{a.n_heads}q/{a.n_kv_heads}kv × {a.head_dim}, V={a.vocab_size:,}")

    def to_dict(self) -> dict[str, object]:
        r, ck, check = self.weights, self.weights.checkpoint, self.check
        listing = [
            {"name": t.name, "dtype": t.dtype, "shape": list(t.shape), "bytes": t.nbytes, "parameters": n,
             "role": kind}
            for t, kind, n in r.tensor_rows()
        ] if self.tensors else None
        return versioned({
            "tensor_list": listing,
            "format": ck.format, "path": ck.path, "files": ck.files, "tensors": len(ck.tensors),
            "bytes_read": ck.bytes_read, "file_type": ck.file_type,
            "quantization": {"method": r.quantization.method, "bits": r.quantization.bits,
                             "group_size": r.quantization.group_size},
            "logical_params": r.logical_params, "stored_bytes": r.stored_bytes,
            "overhead_bytes": r.overhead_bytes, "bits_per_weight": round(r.bits_per_weight, 4),
            "by_dtype": r.by_dtype(), "params_breakdown": r.params.to_dict(),
            "bytes_breakdown": r.stored.to_dict(), "per_layer_bytes": list(r.per_layer_bytes),
            "buffers": list(r.buffers),
            "architecture": None if self.arch is None or check is None else {
                "model_type": self.arch.model_type, "total": check.architecture_params,
                "delta": check.delta, "explained": [{"reason": w, "params": n} for w, n in check.explained],
                "unexplained": check.unexplained,
            },
        })


def inspect_checkpoint(source: str, found: Resolved, *, tensors: bool = False) -> InspectReport:
    """The report of what ``found`` (an opened SOURCE) stores."""
    from ..parameters import count_params

    ckpt = found.checkpoint
    if ckpt is None:
        raise LlmsizeError(f"{source}: no safetensors or GGUF headers to inspect; try `llmsize params`")
    quant = quantization_of(found.config)
    if ckpt.format == "gguf":  # GGUF tensors carry their own block types; elements are parameters
        quant = Quantization(f"gguf {ckpt.file_type or ''} (per-tensor ggml block types)".replace("  ", " "))
    report = weights_report(ckpt, quant)
    check = None
    if found.arch is not None:
        check = cross_check(report, found.arch, count_params(found.arch).total)
    arch_from = "config.json" if found.config else "GGUF metadata"
    return InspectReport(source, report, found.arch, check, arch_from, tensors, found.warnings)
