"""From a memory estimate and the user's question to the performance model's inputs.

``api.infer`` and ``api.train`` ask for speed when a GPU is given. This module turns their
estimate (architecture, weight format, layout, engine) and the options into a ``Performance``
whose ``setting`` records what was assumed, so that a figure can be reproduced::

    serving   traffic  = compile_traffic(arch, the estimate's weight format, its KV dtype, tp)
              machine  = Machine(gpu, efficiency(engine, gpu) [--mfu → prefill_mfu], tp, pp,
                                 the format's matmul dtype)
              input_len  = --input-len, else the prompt (ctx − new tokens) when --new-tokens is
                           given, else ctx / 2
              output_len = --output-len, else --new-tokens, else DEFAULT_OUTPUT_LEN
              batch      = --concurrency, else --batch; vLLM runs at most what its KV pool holds
                           at input + output tokens a request (and max_num_seqs)
    llama.cpp llamacpp.llamacpp_performance(arch, format, gpu, -ngl, pp input_len, tg output_len):
              llama-bench's single stream, CPU layers at host bandwidth
    training  training.training_performance(arch, spec, gpu, tokens, price, [--mfu → train_mfu])
    price     --price GPU=USD (or a bare USD for the GPU given), else the first row of
              ``hardware/prices.json`` for the GPU (its provider and date kept), else none: the
              cost figures are left out rather than guessed

``--mfu`` is the share of the dense peak the matmuls reach when they are compute-bound: in
training η_train (``train_mfu``: the compute kernels' share; the MFU figure printed is lower, as
it also counts pipeline bubbles and exposed communication); in serving the prefill's
(``prefill_mfu``), the phase that is compute-bound at any batch. Decode's compute share
(``decode_mfu``) stays at its sourced value: decode is bandwidth-bound below the critical batch,
where no MFU changes it.
"""

from __future__ import annotations

from dataclasses import replace

from ..formats.dtypes import WeightFormat, parse_format
from ..hardware.catalog import Gpu
from ..hardware.prices import Price
from .efficiency import PerfError, efficiency
from .figures import Performance
from .llamacpp import llamacpp_performance
from .serving import Machine, compute_dtype, serving_performance
from .traffic import Traffic, compile_traffic
from .training import training_performance

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..arch import Architecture
    from ..inference.estimate import InferenceSpec
    from ..training.estimate import TrainSpec

DEFAULT_OUTPUT_LEN = 128  # tokens generated when neither --output-len nor --new-tokens is given
# (llama-bench's tg128: a short answer)
VLLM_BLOCK_TOKENS = 16  # vLLM's default block_size: a request holds whole blocks of KV
# the factors a serving estimate does not read (GPU roofline; llama.cpp's own model), left out of its list
_TRAINING = ("train_mfu", "train_comm_overlap", "inter_node_bytes_per_s")
NOT_SERVING = {False: (*_TRAINING, "mmq_mfu", "host_bandwidth"),  # serving.py
               True: (*_TRAINING, "decode_mfu", "allreduce_latency_s", "prefill_overhead_s")}  # llamacpp.py
TRAINING_FACTORS = (*_TRAINING, "link_efficiency", "allreduce_latency_s")  # what training.py reads
TRAIN_ENGINE = "megatron"  # the efficiency records training reads (efficiency.json)
NO_PRICE = "no price for this GPU in hardware/prices.json: give --price GPU=USD for the cost"


def missing_rates(gpu: Gpu) -> str | None:
    """Why ``gpu`` has no speed (a custom GPU given without bandwidth or bf16 TFLOPS), else None."""
    if not gpu.bandwidth_bytes_per_s:
        return f"gpu {gpu.key} has no memory bandwidth (custom:…,bw=3350GB/s)"
    if not (gpu.peak_tflops("bf16")):
        return f"gpu {gpu.key} has no dense bf16 TFLOPS (custom:…,bf16=989TF)"
    return None


def price_setting(p: Price | None) -> dict[str, Any] | None:
    """The price as the JSON ``setting.price`` shows it."""
    if p is None:
        return None
    return {"usd_per_hour": p.usd_per_hour, "provider": p.provider, "date": p.date, "url": p.url}


def price_for(gpu: Gpu, given: tuple[str, ...]) -> Price | None:
    """The price of one ``gpu``-hour: ``given`` ("USD" or "GPU=USD", checked already), else the
    dated table's first row for the GPU, else None. A price naming another GPU is an error."""
    import datetime

    from ..hardware.prices import price, price_overrides
    from ..options import OptionError

    bare = [p for p in given if "=" not in p]
    named = price_overrides([p for p in given if "=" in p])
    other = sorted(k for k in named if k != gpu.key)
    if other:
        raise OptionError("price", f"names {other[0]}, but gpu is {gpu.key}: give {gpu.key}=USD or a "
                                   "bare USD", mentions=("gpu",))
    if bare:
        today = datetime.date.today().isoformat()
        return Price(gpu.key, float(bare[-1].strip().lstrip("$")), "given by the user", today, "")
    return price(gpu.key, named)


def traffic_of(arch: Architecture, spec: InferenceSpec, fmt: WeightFormat, tp: int) -> Traffic:
    """What a step of the estimate ``spec`` reads and computes on one of ``tp`` GPUs: tensors the
    format keeps stay in the activation dtype (bf16 when that is not a float width)."""
    base = spec.dtype if spec.dtype in ("fp32", "fp16", "bf16") else "bf16"
    return compile_traffic(arch, fmt, kv_dtype=spec.kv, tp=tp, base=base)


def machine_for(spec: InferenceSpec, gpu: Gpu, fmt: WeightFormat, mfu: float | None) -> Machine:
    """The estimate's replica on ``gpu``: its layout, the engine's factors (``--mfu`` replaces
    the prefill's), the format's matmul dtype."""
    eff = efficiency(spec.engine, gpu.key).with_(prefill_mfu=mfu)
    return Machine(gpu, eff, spec.layout.tp, spec.layout.pp, compute_dtype(fmt.kind, gpu))


def _chunk(spec: InferenceSpec, extra: dict[str, object]) -> int | None:
    """Tokens per prefill pass: vLLM's max_num_batched_tokens, else the estimate's own chunk."""
    vllm = extra.get("vllm")
    return int(vllm["max_num_batched_tokens"]) if isinstance(vllm, dict) else spec.chunk


def request_lengths(spec: InferenceSpec, input_len: int | None, output_len: int | None) -> tuple[int, int]:
    """(input, output) tokens of one request: as given, else from the memory question."""
    out = output_len or spec.new_tokens or DEFAULT_OUTPUT_LEN
    inp = input_len or (spec.prompt if spec.new_tokens else max(1, spec.context // 2))
    return inp, out


def _batch(spec: InferenceSpec, extra: dict[str, object], concurrency: int | None,
           request_tokens: int) -> tuple[int, tuple[str, ...]]:
    """The requests decoded together, and a note when vLLM's KV pool caps them."""
    batch = concurrency or spec.batch
    vllm = extra.get("vllm")
    if spec.engine != "vllm" or not isinstance(vllm, dict) or not vllm.get("kv_cache_tokens"):
        return batch, ()
    blocks = -(-request_tokens // VLLM_BLOCK_TOKENS) * VLLM_BLOCK_TOKENS
    cap = max(1, min(int(vllm["max_num_seqs"]), int(vllm["kv_cache_tokens"]) // blocks))
    if batch <= cap:
        return batch, ()
    return cap, (f"batch {batch} capped at {cap}: vLLM's KV pool holds {int(vllm['kv_cache_tokens']):,} "
                 f"tokens, {cap} requests of {request_tokens:,} (max_num_seqs {vllm['max_num_seqs']}); "
                 "the others wait",)


def serving_for(arch: Architecture, spec: InferenceSpec, extra: dict[str, object], gpu: Gpu, *,
                weight_format: str, input_len: int | None = None, output_len: int | None = None,
                concurrency: int | None = None, price: Price | None = None,
                mfu: float | None = None) -> Performance:
    """Serving speed of the estimate ``spec`` (its engine, layout, formats) on ``gpu``."""
    fmt = parse_format(weight_format)
    inp, out = request_lengths(spec, input_len, output_len)
    batch, notes = _batch(spec, extra, concurrency, inp + out)
    tp, pp = spec.layout.tp, spec.layout.pp
    machine = machine_for(spec, gpu, fmt, mfu)
    chunk = _chunk(spec, extra)
    usd = None if price is None else price.usd_per_hour
    single = spec.engine == "llamacpp"  # llama-bench's single stream: perf/llamacpp.py
    if single:
        perf = llamacpp_performance(arch, fmt, gpu, n_gpu_layers=spec.n_gpu_layers, n_prompt=inp, n_gen=out,
                                    eff=machine.eff, n_ubatch=spec.n_ubatch, n_batch=spec.n_batch)
        batch = 1
    else:
        perf = serving_performance(traffic_of(arch, spec, fmt, tp), machine, engine=spec.engine,
                                   input_len=inp, output_len=out, batch=batch, chunk=chunk,
                                   usd_per_gpu_hour=usd)
    notes += _serving_notes(spec, inp, out, concurrency, price)
    setting = {"gpu": gpu.key, "gpu_name": gpu.name, "gpus": tp * pp, "engine": spec.engine,
               "weight_format": fmt.name, "compute_dtype": machine.compute_dtype, "input_len": inp,
               "output_len": out, "batch": batch, "price": price_setting(price)}
    factors = {k: v for k, v in perf.factors.items() if k not in NOT_SERVING[single]}
    return replace(perf, factors=factors, notes=perf.notes + notes, setting=setting)


def _serving_notes(spec: InferenceSpec, inp: int, out: int, concurrency: int | None,
                   price: Price | None) -> tuple[str, ...]:
    notes = []
    if inp + out > spec.context:
        notes.append(f"a request of {inp:,} + {out:,} tokens is longer than the {spec.context:,}-token "
                     "context the memory was sized for (--ctx-size)")
    if spec.engine == "hf" and concurrency and concurrency != spec.batch:
        notes.append(f"memory sized for batch {spec.batch}, speed for {concurrency}: give --batch "
                     f"{concurrency} to size both")
    if spec.engine == "llamacpp" and (concurrency or spec.batch) > 1:
        notes.append("llama.cpp: single-stream rates (llama-bench pp/tg); several sequences (-np) are not "
                     "modelled")
    if price is None:
        notes.append(NO_PRICE)
    return tuple(notes)


def training_for(arch: Architecture, spec: TrainSpec, gpu: Gpu, *, tokens: float | None = None,
                 price: Price | None = None, mfu: float | None = None) -> Performance:
    """Training speed of ``spec`` on ``spec.layout.gpus`` × ``gpu`` (``training.py``)."""
    eff = efficiency(TRAIN_ENGINE, gpu.key).with_(train_mfu=mfu)
    usd = None if price is None else price.usd_per_hour
    perf = training_performance(arch, spec, gpu, tokens=tokens, usd_per_gpu_hour=usd, eff=eff,
                                engine=TRAIN_ENGINE)
    setting = {"gpu": gpu.key, "gpu_name": gpu.name, "gpus": spec.layout.gpus, "engine": TRAIN_ENGINE,
               "tokens": tokens, "price": price_setting(price)}
    notes = perf.notes + (() if price is not None else (NO_PRICE,))
    factors = {k: v for k, v in perf.factors.items() if k in TRAINING_FACTORS}
    return replace(perf, factors=factors, notes=notes, setting=setting)


__all__ = ["DEFAULT_OUTPUT_LEN", "PerfError", "missing_rates", "price_for", "request_lengths",
           "serving_curve", "serving_for",
           "training_for"]


def serving_curve(arch: Architecture, spec: InferenceSpec, extra: dict[str, object], gpu: Gpu, *,
                  weight_format: str, input_len: int, output_len: int, max_batch: int,
                  mfu: float | None = None) -> tuple[list[dict[str, object]], float]:
    """``serving.throughput_curve`` of the estimate ``spec`` on ``gpu`` (batch 1, 2, 4, … up to
    ``max_batch``, the KV capacity), and the roofline knee: the batch past which a decode step's
    weight reads stop bounding it (``serving.decode_knee``)."""
    from .serving import decode_knee, throughput_curve

    fmt = parse_format(weight_format)
    machine = machine_for(spec, gpu, fmt, mfu)
    t = traffic_of(arch, spec, fmt, spec.layout.tp)
    points = throughput_curve(t, machine, input_len=input_len, output_len=output_len, max_batch=max_batch,
                              chunk=_chunk(spec, extra))
    return points, decode_knee(t, machine)
