"""Run the validation grid on a CUDA GPU with real tensors, and write ``gpu_results.csv``.

    python -m validation.gpu_measure [--fast] [--only NAME] [--out validation/gpu_results.csv]
    python -m validation.gpu_measure --speed [...]   prefill and decode speed instead (``gpu_speed.py``)

Needs a CUDA GPU, torch and transformers (``pip install 'llmsize[validation]'``). For each case
of ``validation/grid.py`` the model is built with random weights on the GPU (same configs, same
reduced layer counts as the CPU suite), one step runs (a prefill with the cache; or a warm-up
training step and then a measured one, AdamW ``foreach=False``, labels = inputs), and the CSV
gets, per case:

    max_allocated   torch.cuda.max_memory_allocated(): what llmsize's estimate without overhead predicts
    max_reserved    torch.cuda.max_memory_reserved(): the caching allocator's segments (fragmentation)
    nvidia_smi_mib  this process's memory as nvidia-smi shows it (adds the CUDA context, cuBLAS, …)
    estimate        llmsize's estimate without overhead; estimate_with_overhead adds the named lines
    est_activations its activation term (training: + the gradients alive at the peak), which the
                    report compares with what remains of max_allocated beside the exact terms
    device, torch, transformers   what ran it

The whole grid (``validation/grid.py``: 227 small cases of 2–3 layers) takes a few minutes on one
recent GPU; LoRA cases need ``peft`` and are skipped, with a line, without it.

Commit the CSV and run ``python -m validation.run --from-results``: REPORT.md gets the GPU columns
(calibration and held-out, split by family as the CPU ones) and ``error_bars.json`` a ``gpu`` block
whose held-out column then replaces the CPU one in the printed bars, device named. No GPU was at
hand when this was written; the CSV path is tested with a fake CSV (tests/test_validation.py).
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .grid import FAST, FULL, Case, config

FIELDS = ("label", "model", "mode", "batch", "seq", "attn", "recompute", "optimizer", "lora_rank", "layers",
          "max_allocated", "max_reserved", "nvidia_smi_mib", "estimate", "estimate_with_overhead",
          "est_activations", "device", "torch", "transformers", "seconds")
MiB = 2**20


def parse_nvidia_smi(text: str, pid: int) -> int | None:
    """MiB used by ``pid`` in the output of ``nvidia-smi --query-compute-apps=pid,used_memory
    --format=csv,noheader,nounits``; None when the process is not listed."""
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[0].isdigit() and int(parts[0]) == pid:
            return int(parts[1]) if parts[1].isdigit() else None
    return None


def nvidia_smi_mib(pid: int) -> int | None:
    try:
        query = ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"]
        out = subprocess.run(query, capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_nvidia_smi(out, pid)


def estimate(case: Case) -> tuple[int, int, int]:
    """llmsize's estimate for the case: (without overhead, with it, its activation term)."""
    from llmsize.measure.harness import scaled_config
    from llmsize.sources.hf_config import from_hf_config

    arch = from_hf_config(scaled_config(config(case.model), case.layers), case.model)[0]
    if case.mode == "infer":
        from llmsize.inference.engines import estimate as run
        from llmsize.inference.estimate import InferenceSpec

        enc = arch.kind == "encoder-decoder"  # seq encoder tokens and one decoder token, as measured
        spec = InferenceSpec(case.seq + enc, case.batch, new_tokens=int(enc), attn=case.attn)
        r = run(arch, spec, name=case.model)
        return r.total_bytes - r.part("overhead"), r.total_bytes, r.part("activations")
    from llmsize.training.activations import CUDA
    from llmsize.training.estimate import TrainSpec, estimate_training

    cfg = config(case.model)
    spec = TrainSpec.for_measurement(seq=case.seq, micro_batch=case.batch, dtype="bf16", attn=case.attn,
                                     optimizer=case.optimizer, recompute=case.recompute,
                                     lora_rank=case.lora_rank, config=cfg, kernels=CUDA)
    d = estimate_training(arch, spec).to_dict()
    b = d["breakdown"]
    return d["total_bytes"] - b["overhead"], d["total_bytes"], b["activations"] + b["gradients"]


def cuda_step(case: Case) -> tuple[int, int]:  # pragma: no cover - needs a GPU
    """(max allocated, max reserved) bytes of one real step on the GPU."""
    import torch

    from llmsize.measure.harness import build, scaled_config
    cfg = scaled_config(config(case.model), case.layers)
    gc.collect()  # the previous case's model and optimizer
    torch.cuda.empty_cache()
    with torch.device("cuda"):
        model = build(cfg, case.model, dtype="bf16", attn=case.attn)
    ids = torch.randint(0, 100, (case.batch, case.seq), device="cuda")
    if case.mode == "infer":
        model.eval()
        torch.cuda.reset_peak_memory_stats()
        with torch.no_grad():
            if model.config.is_encoder_decoder:  # as the CPU suite: seq encoder tokens, one decoder token
                model(input_ids=ids, decoder_input_ids=ids[:, :1], use_cache=True)
            else:
                model(input_ids=ids, use_cache=True, logits_to_keep=1)
    else:
        _train_steps(torch, model, ids, case)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved()


def _train_steps(torch, model, ids, case: Case) -> None:  # pragma: no cover - needs a GPU
    if case.recompute == "full":
        model.gradient_checkpointing_enable()
    if case.lora_rank:
        from peft import LoraConfig, get_peft_model

        from llmsize.measure.train import _peft_targets

        cfg = config(case.model)
        targets = _peft_targets(cfg, case.model, case.layers)
        target = "all-linear" if targets == ("all-linear",) else list(targets)
        model = get_peft_model(model, LoraConfig(r=case.lora_rank, target_modules=target))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (torch.optim.SGD(params, lr=1e-3, foreach=False) if case.optimizer == "sgd"
           else torch.optim.AdamW(params, lr=1e-3, foreach=False))
    model.train()
    for step in range(2):
        if step == 1:
            torch.cuda.reset_peak_memory_stats()
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)


def versions() -> dict[str, str]:
    """The device and library versions a row was measured with ("" where unknown)."""
    out = {"device": "", "torch": "", "transformers": ""}
    try:
        import torch
        import transformers

        out.update(torch=torch.__version__, transformers=transformers.__version__)
        if torch.cuda.is_available():
            out["device"] = torch.cuda.get_device_name()
    except ImportError:
        pass
    return out


def rows(cases: Iterable[Case], step: Callable[[Case], tuple[int, int]],
         smi: Callable[[int], int | None] = nvidia_smi_mib,
         where: dict[str, str] | None = None) -> list[dict[str, object]]:
    """One CSV row per case; ``step`` runs it (``cuda_step`` on a GPU; a stub in the tests). A case
    that fails is reported on stderr and left out."""
    out, where = [], versions() if where is None else where
    for case in cases:
        start = time.monotonic()
        try:
            allocated, reserved = step(case)
        except Exception as e:  # noqa: BLE001 - one failing case must not lose the others' rows
            print(f"gpu_measure: {case.label}: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        bare, full, act = estimate(case)
        out.append({"label": case.label, "model": case.model, "mode": case.mode, "batch": case.batch,
                    "seq": case.seq, "attn": case.attn, "recompute": case.recompute,
                    "optimizer": case.optimizer,
                    "lora_rank": case.lora_rank or "", "layers": case.layers, "max_allocated": allocated,
                    "max_reserved": reserved, "nvidia_smi_mib": smi(os.getpid()) or "",
                    "estimate": bare, "estimate_with_overhead": full, "est_activations": act, **where,
                    "seconds": round(time.monotonic() - start, 2)})
        print(f"[{len(out)}] {case.label}: allocated {allocated / MiB:,.1f} MiB, "
              f"estimate {bare / MiB:,.1f} MiB", file=sys.stderr)
    return out


def write(path: Path, table: list[dict[str, object]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(table)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--speed" in argv:
        from . import gpu_speed

        return gpu_speed.main([a for a in argv if a != "--speed"])
    p = argparse.ArgumentParser(prog="python -m validation.gpu_measure", description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true")
    p.add_argument("--only", help="models whose name contains this text")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "gpu_results.csv")
    args = p.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu_measure: no CUDA GPU here; run it on a machine with one", file=sys.stderr)
        return 2
    cases = [c for c in (FAST if args.fast else FULL) if not args.only or args.only in c.model]
    try:
        import peft  # noqa: F401
    except ImportError:
        print("gpu_measure: no peft here: the LoRA cases are skipped", file=sys.stderr)
        cases = [c for c in cases if not c.lora_rank]
    start = time.monotonic()
    table = rows(cases, cuda_step)
    write(args.out, table)
    print(f"wrote {args.out} ({len(table)} of {len(cases)} cases, {time.monotonic() - start:.0f} s); "
          "commit it and run `python -m validation.run --from-results`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
