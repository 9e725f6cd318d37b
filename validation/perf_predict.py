"""llmsize's prediction of one published speed run (a case of ``validation/perf_cases.json``).

Everything that does not depend on the efficiency factors is prepared once per case
(``prepare``: the architecture, the weight format's per-step traffic, the GPU, the batch the
memory model allows); ``predict(p, eff)`` then answers in the case's metric, in microseconds, so
the fit can try many factor sets::

    decode      T_step(B, c) at c = input + output/2 (serving.decode_step)
    prefill     T_prefill(input) (serving.prefill_s)
    serving     offline: B·output / (T_prefill(B·input) + output·T_step), B = the stated batch, else
                what the KV pool holds (vLLM's start-up, inference/cost.py), capped by the engine's
                max_num_seqs and by num_prompts; online at a request rate λ: the concurrency L that
                Little's law gives, L = λ·E2E(L) (fixed point), then TPOT/TTFT at L
    training    perf.training.training_performance (when that module is present)
    llamacpp_*  perf.llamacpp.llamacpp_performance (when that module is present)

A case the model cannot express raises ``Skip`` with the reason, which the report prints.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from typing import Any

from llmsize.errors import LlmsizeError
from llmsize.formats.dtypes import WeightFormat, parse_format
from llmsize.hardware.catalog import Gpu
from llmsize.hardware.lookup import gpu as lookup_gpu
from llmsize.perf.efficiency import Efficiency
from llmsize.perf.serving import Machine, compute_dtype, decode_step, prefill_s
from llmsize.perf.traffic import Traffic, compile_traffic

INFERENCE = ("decode", "prefill", "serving")
TRAINING = ("training",)
LLAMACPP = ("llamacpp_pp", "llamacpp_tg")
KINDS = (*INFERENCE, *TRAINING, *LLAMACPP)

# Sequences an engine schedules at once when the run does not say (offline max-throughput runs).
# vLLM v0.6.0: EngineArgs.max_num_seqs = 256 (vllm/engine/arg_utils.py, tag v0.6.0). SGLang and
# trtllm-bench size their running batch from the KV pool; the pool is the only cap there.
MAX_NUM_SEQS = {"vllm": 256}
ONLINE_ITERATIONS = 50  # Little's-law fixed point: converges in < 20 on every case


class Skip(Exception):
    """A case llmsize cannot predict; the message says why."""


@dataclass(frozen=True)
class Prepared:
    """A case with everything the factors do not change."""

    case: dict[str, Any]
    gpu: Gpu
    traffic: Traffic | None = None  # inference kinds
    dtype: str = "bf16"  # the matmul dtype
    batch: int = 1  # sequences together (offline serving: what the memory model allows)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.case["id"])

    @property
    def kind(self) -> str:
        return str(self.case["kind"])

    @property
    def engine(self) -> str:
        return str(self.case["engine"])

    @property
    def measured(self) -> float:
        return float(self.case["measured"]["value"])

    @property
    def metric(self) -> str:
        return str(self.case["measured"]["metric"])


def has_module(name: str) -> bool:
    """Whether ``llmsize.perf.<name>`` exists in this tree (training and llama.cpp are optional)."""
    return importlib.util.find_spec(f"llmsize.perf.{name}") is not None


def architecture(case: dict[str, Any]) -> Any:
    """The case's model, offline: a catalog name, or its ``config`` dict (``_``-keys dropped)."""
    from llmsize.sources.resolve import from_config, resolve

    if case.get("model"):
        return resolve(str(case["model"])).arch
    cfg = {k: v for k, v in case["config"].items() if not k.startswith("_")}
    return from_config(cfg, case["id"]).arch


def _format(case: dict[str, Any]) -> WeightFormat:
    try:
        return parse_format(str(case["weights"]))
    except LlmsizeError as e:
        raise Skip(f"weights {case['weights']!r}: {e}") from None


def _matmul_dtype(fmt: WeightFormat, gpu: Gpu) -> str:
    """serving.compute_dtype, plus NVFP4 (W4A4) on GPUs with FP4 tensor cores: TRT-LLM runs FP4
    GEMMs for NVIDIA's NVFP4 checkpoints (compute_dtype treats every GGUF-priced type as
    weight-only)."""
    if fmt.name == "NVFP4" and gpu.peak_tflops("fp4"):
        return "fp4"
    return compute_dtype(fmt.kind, gpu)


def prepare(case: dict[str, Any]) -> Prepared:
    """The factor-independent part of a case's prediction, or ``Skip``."""
    kind = case["kind"]
    if kind not in KINDS:
        raise Skip(f"kind {kind!r} is not one llmsize predicts")
    try:
        g = lookup_gpu(str(case["gpu"]))
    except LlmsizeError as e:
        raise Skip(str(e)) from None
    if kind in TRAINING:
        return _prepare_training(case, g)
    if kind in LLAMACPP:
        return _prepare_llamacpp(case, g)
    fmt = _format(case)
    try:
        arch = architecture(case)
        kv = str(case.get("kv_dtype") or "bf16")
        traffic = compile_traffic(arch, fmt, kv_dtype=kv, tp=case.get("tp", 1))
    except LlmsizeError as e:
        raise Skip(f"model: {e}") from None
    prep = Prepared(case, g, traffic, _matmul_dtype(fmt, g), int(case.get("batch") or 1))
    if kind == "serving" and ("input_len" not in case or "output_len" not in case):
        raise Skip("input/output lengths not stated (ShareGPT: per-request lengths, mean not in the case)")
    if kind == "serving" and case["measured"]["metric"] in ("throughput_tokens_per_s", "total_tokens_per_s") \
            and not case.get("batch"):
        return Prepared(case, g, traffic, prep.dtype, _offline_batch(case, arch, g))
    return prep


def _offline_batch(case: dict[str, Any], arch: Any, g: Gpu) -> int:
    """Sequences in flight in an offline max-throughput run: what the KV pool holds at
    input + output tokens each (vLLM's start-up on this GPU, ``VllmCost.max_batch``), capped by
    the engine's max_num_seqs and the number of prompts."""
    from llmsize.inference.cost import compile_vllm
    from llmsize.inference.estimate import InferenceSpec
    from llmsize.layout import Layout

    context = int(case["input_len"]) + int(case["output_len"])
    kv = str(case.get("kv_dtype") or "bf16")
    spec = InferenceSpec(context=context, engine="vllm", quant=str(case["weights"]), kv_dtype=kv,
                         layout=Layout(tp=case.get("tp", 1), pp=case.get("pp", 1)))
    try:
        held = compile_vllm(arch, spec).max_batch(g.usable_bytes, context=context)
    except LlmsizeError as e:
        raise Skip(f"KV capacity: {e}") from None
    if held < 1:
        raise Skip(f"the KV pool holds no sequence of {context} tokens on {g.key}")
    cap = MAX_NUM_SEQS.get(case["engine"], held)
    return max(1, min(held, cap, int(case.get("num_prompts") or held)))


def _prepare_training(case: dict[str, Any], g: Gpu) -> Prepared:
    """A TrainSpec from the case's layout: grad_accum = global batch tokens / (dp · micro_batch · seq)
    (micro_batch 1 where not stated); fp8 weights mean float8 matmuls."""
    if not has_module("training"):
        raise Skip("predictor not available (perf/training.py: helper perftrain)")
    from llmsize.layout import Layout
    from llmsize.training.estimate import TrainSpec

    seq, dp, micro = int(case["seq"]), int(case.get("dp", 1)), int(case.get("micro_batch") or 1)
    accum = max(1, round(int(case.get("global_batch_tokens") or dp * micro * seq) / (dp * micro * seq)))
    try:
        layout = Layout(dp=dp, tp=case.get("tp", 1), pp=case.get("pp", 1), cp=case.get("cp", 1),
                        zero=case.get("zero", 0))
        spec = TrainSpec(seq=seq, micro_batch=micro, grad_accum=accum,
                         recompute=case.get("recompute", "none"), layout=layout)
        dtype = "fp8" if str(case.get("weights")) == "fp8" and g.peak_tflops("fp8") else "bf16"
        prep = Prepared(case, g, None, dtype, extra={"arch": architecture(case), "spec": spec})
        from llmsize.perf.efficiency import efficiency

        _training(prep, efficiency(prep.engine, g.key))  # llmsize's layout checks run here
    except LlmsizeError as e:
        raise Skip(f"training setup: {e}") from None
    return prep


def _prepare_llamacpp(case: dict[str, Any], g: Gpu) -> Prepared:
    if not has_module("llamacpp"):
        raise Skip("predictor not available (perf/llamacpp.py: helper perfllama)")
    raise Skip("llama.cpp predictor not wired yet")


def machine(p: Prepared, eff: Efficiency) -> Machine:
    return Machine(p.gpu, eff, p.case.get("tp", 1), p.case.get("pp", 1), p.dtype)


def predict(p: Prepared, eff: Efficiency) -> float:
    """llmsize's value for the case's metric with factors ``eff``."""
    if p.kind in TRAINING:
        return _training(p, eff)
    if p.kind not in INFERENCE:
        raise Skip(f"kind {p.kind}: predictor not wired")
    assert p.traffic is not None
    t, m, c = p.traffic, machine(p, eff), p.case
    inp, out = int(c.get("input_len") or 1), int(c.get("output_len") or 1)
    metric = p.metric
    if p.kind == "serving" and c.get("request_rate") not in (None, "inf"):
        return _online(p, eff, float(c["request_rate"]))
    if metric in ("prefill_s", "ttft_s"):
        return prefill_s(t, m, tokens=inp, batch=p.batch)
    tpot = decode_step(t, m, batch=p.batch, context=inp + out // 2)[0]
    if metric == "tpot_s":
        return tpot
    if metric == "decode_tokens_per_s":
        return 1 / tpot
    offline = prefill_s(t, m, tokens=inp, batch=p.batch) + out * tpot
    if metric == "throughput_tokens_per_s":
        return p.batch * out / offline
    if metric == "total_tokens_per_s":
        return p.batch * (inp + out) / offline
    raise Skip(f"metric {metric!r} not predicted for kind {p.kind}")


def _online(p: Prepared, eff: Efficiency, rate: float) -> float:
    """TPOT or TTFT at request rate λ: the concurrency L solves L = λ·(TTFT + (out−1)·TPOT(L))
    (Little 1961), iterated from L = 1; L is fractional, the step is taken at ⌈L⌉."""
    assert p.traffic is not None
    t, m, c = p.traffic, machine(p, eff), p.case
    inp, out = int(c["input_len"]), int(c["output_len"])
    ttft = prefill_s(t, m, tokens=inp)
    load = 1.0
    for _ in range(ONLINE_ITERATIONS):
        tpot = decode_step(t, m, batch=max(1, math.ceil(load - 1e-9)), context=inp + out // 2)[0]
        new = rate * (ttft + (out - 1) * tpot)
        if abs(new - load) < 1e-3:
            break
        load = new
    return tpot if p.metric == "tpot_s" else ttft


def _training(p: Prepared, eff: Efficiency) -> float:
    """tokens/s per GPU, MFU or TFLOP/s per GPU of the training step. Megatron-LM's TFLOP/s
    count the recomputed forward (Narayanan et al. 2021, the case notes): hardware FLOPs, so
    they are compared with llmsize's HFU-based rate."""
    from llmsize.perf.training import training_performance

    perf = training_performance(p.extra["arch"], p.extra["spec"], p.gpu, eff=eff, engine=p.engine,
                                compute_dtype=p.dtype)
    if p.metric == "tflops_per_gpu" and p.engine == "megatron":
        return perf["tflops_per_gpu"] * perf["hfu"] / perf["mfu"]
    if p.metric not in perf.figures:
        raise Skip(f"metric {p.metric!r} not predicted for training")
    return perf[p.metric]
