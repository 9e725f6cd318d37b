"""The training rows of planning-references §2.3, predicted at the current efficiency factors.

    PYTHONPATH=src python validation/training_rows.py

Prints, per published run, the predicted MFU, HFU and TFLOPS per GPU next to the published
figure, the share of the step the pipeline bubble takes, and the η (``train_mfu``) that would
reproduce the published figure. Megatron-LM 2021 counts the recomputed forward in its TFLOPS
(Narayanan et al. 2021 §5.1: 96·B·s·l·h²(…), four passes), so those rows compare HFU; Llama 3
reports model FLOPs (MFU). The calibration (``perf_calibration.py``) fits η on its own split of
``perf_cases.json``; this script fits nothing.
"""

from __future__ import annotations

from llmsize.arch import Architecture
from llmsize.hardware.lookup import gpu
from llmsize.layout import Layout
from llmsize.perf.efficiency import efficiency
from llmsize.perf.figures import Performance
from llmsize.perf.training import training_performance
from llmsize.sources.hf_config import from_hf_config
from llmsize.sources.resolve import resolve
from llmsize.training.estimate import TrainSpec


def gpt(d: int, a: int, layers: int) -> Architecture:
    """A GPT of the Megatron papers: GPT-2 shapes, vocabulary 51,200, sequence 2,048."""
    cfg = {"model_type": "gpt2", "n_embd": d, "n_head": a, "n_layer": layers, "vocab_size": 51200,
           "n_positions": 2048}
    return from_hf_config(cfg)[0]


def rows() -> list[tuple[str, Architecture, str, TrainSpec, float, str]]:
    """(run, model, GPU, spec, published TFLOPS per GPU, its convention)."""
    l405 = resolve("llama-3.1-405b").arch
    mega = dict(recipe="megatron", recompute="full", micro_batch=1)
    llama = dict(recipe="megatron", micro_batch=1)
    return [
        ("Llama 3 405B, 8,192 H100, TP8 PP16 DP64 (Table 4)", l405, "h100",
         TrainSpec(seq=8192, grad_accum=32, layout=Layout(dp=64, tp=8, sp=True, pp=16, zero=1), **llama),
         430, "mfu"),
        ("Llama 3 405B, 16,384 H100, TP8 PP16 DP128", l405, "h100",
         TrainSpec(seq=8192, grad_accum=16, layout=Layout(dp=128, tp=8, sp=True, pp=16, zero=1), **llama),
         400, "mfu"),
        ("Llama 3 405B, 16,384 H100, CP16 seq 131K", l405, "h100",
         TrainSpec(seq=131072, grad_accum=16, layout=Layout(dp=8, tp=8, sp=True, pp=16, cp=16, zero=1),
                   **llama), 380, "mfu"),
        ("Megatron-LM 1T GPT, 3,072 A100, TP8 PP64", gpt(25600, 160, 128), "a100-sxm-80",
         TrainSpec(seq=2048, grad_accum=512, layout=Layout(dp=6, tp=8, pp=64), **mega), 163, "hfu"),
        ("MT-NLG 530B, 3,360 A100, TP8 PP35", gpt(20480, 128, 105), "a100-sxm-80",
         TrainSpec(seq=2048, grad_accum=160, layout=Layout(dp=12, tp=8, pp=35), **mega), 113, "hfu"),
    ]


def eta_to_match(arch: Architecture, spec: TrainSpec, key: str, published: float, convention: str) -> float:
    """The η at which the predicted TFLOPS (MFU or HFU convention) equals the published one."""
    base, lo, hi = efficiency("megatron", gpu(key).key), 0.01, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        p = training_performance(arch, spec, gpu(key), eff=base.with_(train_mfu=mid))
        lo, hi = (mid, hi) if _tflops(p, key, convention) < published else (lo, mid)
    return mid


def _tflops(p: Performance, key: str, convention: str) -> float:
    return p[convention] * (gpu(key).peak_tflops("bf16") or 0.0)


def main() -> None:
    print("| run | predicted MFU | HFU | TFLOPS/GPU (convention) | published | error | bubble | η to match |")
    print("|---|---|---|---|---|---|---|---|")
    for name, arch, key, spec, published, conv in rows():
        p = training_performance(arch, spec, gpu(key))
        bubble = p.terms.find("pipeline bubble") if p.terms else None
        share = bubble.value / p.terms.value if bubble and p.terms else 0.0
        tf = _tflops(p, key, conv)
        eta = eta_to_match(arch, spec, key, published, conv)
        print(f"| {name} | {p['mfu']:.3f} | {p['hfu']:.3f} | {tf:.0f} ({conv.upper()}) | {published:.0f} | "
              f"{tf / published - 1:+.0%} | {share:.0%} | {eta:.2f} |")


if __name__ == "__main__":
    main()
