"""The vLLM and llama.cpp profiles as inference reports, and ``estimate``, which runs the profile
a spec names (the hf profile, with ``InferenceSpec`` and ``InferenceReport``, is in ``estimate.py``).

Each engine's own module mirrors what it does at start-up (``vllm.py``, ``llamacpp.py``); this
module maps their results onto the four parts every report has, per GPU::

    engine     weights             kv_cache            activations          overhead
    vllm       weights/(tp·pp)     the KV pool         profile-run peak     non-torch, CUDA graphs
    llamacpp   GPU model buffer    GPU KV buffer       GPU compute buffer   CUDA context, cuBLAS
"""

from __future__ import annotations

from dataclasses import replace

from ..arch import Architecture
from ..tree import Part, group, leaf
from ..units import GiB
from .estimate import (
    InferenceReport,
    InferenceSpec,
    check_images,
    estimate_hf,
    fit_parts,
    judged,
    weights_tree,
)
from .overhead import Overheads, overhead

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..hardware.fit import Verdict
    from ..sources.checkpoint import Checkpoint
    from .llamacpp import LlamaCppConfig, LlamaCppWeights
    from .vllm import StartupNeeds, VllmConfig

H100_TORCH_TOTAL_BYTES = round(79.18 * GiB)
"""What ``torch.cuda.mem_get_info()`` reports as total on an H100 80GB (llm-d measurements,
reference §2.9): the default GPU when ``--gpu-mem`` is not given."""


def estimate_vllm(arch: Architecture, spec: InferenceSpec, *, name: str = "", stored: Part | None = None,
                  checkpoint: Checkpoint | None = None) -> InferenceReport:
    """vLLM's start-up split of ``gpu_memory_utilization × GPU memory`` (see ``vllm.py``)."""
    from .vllm import VllmWontStart, check_supported, startup_needs, vllm_startup

    gpu = spec.gpu_mem or H100_TORCH_TOTAL_BYTES
    cfg = vllm_config(spec)
    all_weights = stored.value if stored is not None else weights_tree(arch, spec).value
    gpus = spec.layout.tp * spec.layout.pp
    check_supported(arch, cfg)
    needs = startup_needs(arch, weights_bytes=all_weights, cfg=cfg)
    share = f"vLLM gpu_memory_utilization (--gpu-util) {spec.gpu_util} × {gpu / GiB:,.2f} GiB"
    share += f", {spec.target.budget_source}" if spec.target is not None else ""
    how = {"budget": cfg.requested_bytes, "budget_source": share,
           "hint": "raise --gpu-util or --tp, lower --ctx-size, or quantize (--quant, --kv-dtype)"}
    try:
        s = vllm_startup(arch, weights_bytes=all_weights, cfg=cfg)
    except VllmWontStart as e:
        if spec.target is None:
            raise
        return _vllm_wont_start(arch, spec, needs, str(e), name=name, all_weights=all_weights,
                                verdict=judged(spec, needs.parts(), **how))
    pool = (f"the KV pool holds {s.kv_tokens:,} tokens: max concurrency {s.max_concurrency:.2f}× at "
            f"{s.max_model_len:,} tokens")
    verdict = judged(spec, needs.parts(), fits_note=pool, **how)
    tree = group("per GPU" if gpus > 1 else "total", [
        group("weights", [leaf(f"1/{gpus} of {all_weights:,}" if gpus > 1
                               else "all layers, embeddings and head", s.weights)]),
        group("kv_cache", [leaf(f"KV pool ({s.num_blocks:,} blocks of {cfg.block_size} tokens)",
                                s.kv_bytes)]),
        group("activations", [s.activation]),
        group("overhead", [leaf("non-torch (CUDA context, NCCL, cuBLAS)", s.non_torch),
                           leaf("CUDA graphs", s.cuda_graphs),
                           leaf("KV rounding (under one block)", s.kv_available - s.kv_bytes)]),
    ])
    on = f" ({spec.target.name})" if spec.target is not None and spec.target.gpu is not None else ""
    on = on if spec.gpu_mem else " (an H100 80GB; set --gpu or --gpu-mem)"
    notes = [f"mirrors vLLM {cfg.version} start-up with gpu_memory_utilization {spec.gpu_util} "
             f"(--gpu-util) of {gpu / GiB:.2f} GiB{on}",
             "vLLM sizes its KV pool from what is left, so --batch does not change it: "
             "concurrency is the answer"]
    if not cfg.profile.nccl_in_non_torch:
        notes.append(f"vLLM {cfg.version} counts NCCL's buffers outside the budget, and reserves CUDA graphs "
                     "inside it unless VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=0 (checked against vLLM's "
                     "source, not against start-up logs)")
    extra: dict[str, object] = {"vllm": {
        "version": cfg.version, "custom_all_reduce": cfg.custom_all_reduce,
        "kv_cache_tokens": s.kv_tokens, "num_blocks": s.num_blocks,
        "max_concurrency": round(s.max_concurrency, 2), "max_model_len": s.max_model_len,
        "max_num_seqs": s.max_num_seqs, "max_num_batched_tokens": s.max_num_batched_tokens,
        "requested_bytes": s.requested, "gpu_memory_bytes": gpu}}
    return InferenceReport(name or arch.name, spec, tree, gpus, all_weights, tuple(notes), extra,
                           verdict=verdict)


def _vllm_wont_start(arch: Architecture, spec: InferenceSpec, needs: StartupNeeds, why: str, *, name: str,
                     all_weights: int, verdict: Verdict | None) -> InferenceReport:
    """The report of a vLLM that refuses to start: what it would need, KV at one request."""
    gpus = spec.layout.tp * spec.layout.pp
    tree = group("per GPU" if gpus > 1 else "total", [
        group("weights", [leaf(f"1/{gpus} of {all_weights:,}" if gpus > 1 else "all layers", needs.weights)]),
        group("kv_cache", [leaf(f"one request of {needs.max_model_len:,} tokens (vLLM needs it to start)",
                                needs.min_kv)]),
        group("activations", [needs.activation]),
        group("overhead", [leaf("non-torch (CUDA context, NCCL, cuBLAS)", needs.non_torch),
                           leaf("CUDA graphs (reserved)", needs.reserved_graphs)]),
    ])
    extra: dict[str, object] = {"vllm": {
        "version": spec.vllm_version, "custom_all_reduce": spec.custom_all_reduce,
        "kv_cache_tokens": 0, "num_blocks": 0, "max_concurrency": 0.0,
        "max_model_len": needs.max_model_len, "max_num_seqs": 0, "max_num_batched_tokens": 0,
        "requested_bytes": vllm_config(spec).requested_bytes, "gpu_memory_bytes": spec.gpu_mem or 0}}
    notes = (f"{why} (vLLM would not start)",)
    return InferenceReport(name or arch.name, spec, tree, gpus, all_weights, notes, extra, verdict=verdict)


def vllm_config(spec: InferenceSpec) -> VllmConfig:
    """The ``vllm serve`` flags of an inference spec (an H100 80GB unless ``gpu_mem`` is given)."""
    from .vllm import VllmConfig

    return VllmConfig(gpu_memory_bytes=spec.gpu_mem or H100_TORCH_TOTAL_BYTES,
                      gpu_memory_utilization=spec.gpu_util, max_model_len=spec.context,
                      max_num_seqs=spec.max_num_seqs, max_num_batched_tokens=spec.max_num_batched_tokens,
                      tp=spec.layout.tp, pp=spec.layout.pp, kv_dtype=spec.kv,
                      enforce_eager=spec.attn == "eager", act_bytes=4 if spec.dtype == "fp32" else 2,
                      sampler="flashinfer" if spec.sampler == "flashinfer" else "torch",
                      version=spec.vllm_version, custom_all_reduce=spec.custom_all_reduce,
                      gpu_name=spec.target.name if spec.target is not None else "")


def llamacpp_weights(arch: Architecture, spec: InferenceSpec,
                     checkpoint: Checkpoint | None) -> LlamaCppWeights:
    """Bytes per block, input and output layer: the GGUF's own, or the format's estimate."""
    from ..formats.dtypes import parse_format
    from ..formats.tensors import layer_bytes, non_layer_bytes
    from .llamacpp import LlamaCppWeights, weights_from_gguf

    if checkpoint is not None and checkpoint.format == "gguf" and not spec.quant:
        return weights_from_gguf(checkpoint)
    fmt = parse_format(spec.quant or spec.dtype)
    edges = non_layer_bytes(arch, fmt, base=spec.dtype)
    tied = arch.tie_embeddings
    output = edges.output_bytes + (edges.input_bytes if tied else 0)  # llama.cpp loads a copy
    return LlamaCppWeights(layer_bytes(arch, fmt, base=spec.dtype), edges.input_bytes, output, tied)


def estimate_llamacpp(arch: Architecture, spec: InferenceSpec, *, name: str = "", stored: Part | None = None,
                      checkpoint: Checkpoint | None = None) -> InferenceReport:
    """llama.cpp's buffers with ``-c ctx·batch -np batch`` (see ``llamacpp.py``); the GPU side is
    the report, the host side and the largest ``-ngl`` that fits go in ``extra``."""
    from .llamacpp_plan import llamacpp_plan, max_gpu_layers

    weights = llamacpp_weights(arch, spec, checkpoint)
    cfg = llamacpp_config(spec)
    plan = llamacpp_plan(arch, weights, cfg)
    model, kv, compute = _named(plan.device)
    over = overhead(Overheads(), activation_bytes=0)
    tree = group("GPU", [group("weights", [model]), group("kv_cache", [kv]), group("activations", [compute]),
                         over])
    cpp: dict[str, object] = {"n_gpu_layers": plan.n_gpu_layers, "host": plan.host.to_dict(),
                              "host_bytes": plan.host.value, "flash_attn": plan.flash_attn}
    hint = ""
    if spec.gpu_mem:
        cpp["max_n_gpu_layers"] = most = max_gpu_layers(arch, weights, cfg, spec.gpu_mem)
        hint = (f"-ngl {most} fits (of {arch.n_layers} layers; llama.cpp keeps a 1 GiB margin)" if most
                else "not even -ngl 0 fits")
    extra: dict[str, object] = {"llamacpp": cpp}
    flags = f" -b {cfg.n_batch}" if cfg.n_batch != 2048 else ""
    flags += f" -ub {cfg.n_ubatch}" if cfg.n_ubatch != 512 else ""
    flags += " --kv-unified" if cfg.kv_unified else ""
    flags += f" -fa {cfg.flash_attn}" if cfg.flash_attn != "auto" else ""
    notes = (f"llama.cpp -c {cfg.n_ctx} -np {cfg.n_seq}{flags} -ngl {plan.n_gpu_layers}: host memory "
             f"{plan.host.value / GiB:.2f} GiB (input embeddings, CPU layers, output buffer)",)
    parts = fit_parts(spec, model.value, kv.value, compute.value, over.value)
    verdict = judged(spec, parts, host_need=plan.host.value, hint=hint)
    return InferenceReport(name or arch.name, spec, tree, 1, weights.total, notes, extra, verdict=verdict)


def llamacpp_config(spec: InferenceSpec) -> LlamaCppConfig:
    """llama.cpp's flags for an inference spec: ``-c context·batch -np batch -b n_batch -ub n_ubatch``,
    ``--kv-unified`` and ``-fa`` as given (``-fa`` unset: off for ``attn="eager"``, else auto)."""
    from .llamacpp import CACHE_TYPE_OF, LlamaCppConfig

    cache = CACHE_TYPE_OF.get(spec.kv, spec.kv)
    fa = spec.flash_attn or ("off" if spec.attn == "eager" else "auto")
    return LlamaCppConfig(n_ctx=spec.context * spec.batch, n_seq=spec.batch, n_batch=spec.n_batch,
                          n_ubatch=spec.n_ubatch, cache_type_k=cache, cache_type_v=cache,
                          flash_attn="on" if fa == "on" else "off" if fa == "off" else "auto",
                          kv_unified=spec.kv_unified, n_gpu_layers=spec.n_gpu_layers,
                          gpu_memory_bytes=spec.gpu_mem)


def llamacpp_total(arch: Architecture, spec: InferenceSpec, weights: LlamaCppWeights) -> int:
    """The total of ``estimate_llamacpp``'s tree, without building the report."""
    from .llamacpp_plan import llamacpp_plan

    model, kv, compute = _named(llamacpp_plan(arch, weights, llamacpp_config(spec)).device)
    return model.value + kv.value + compute.value + overhead(Overheads(), activation_bytes=0).value


def _named(device: Part) -> tuple[Part, Part, Part]:
    """The model, KV and compute buffers of a device tree, whichever are non-zero."""
    find = {p.name.split(" ")[0]: p for p in device.parts}  # group() drops empty buffers
    empty = leaf("none", 0)
    return find.get("model", empty), find.get("KV", empty), find.get("compute", empty)


def estimate(arch: Architecture, spec: InferenceSpec, *, name: str = "", checkpoint: Checkpoint | None = None,
             config: dict[str, object] | None = None) -> InferenceReport:
    """The engine profile ``spec.engine`` for this architecture (and checkpoint, if given: its
    header bytes are the weights unless ``--quant`` asks for another format)."""
    from ..parameters import count_params, counted_by

    spec.check()
    check_images(arch, spec)
    stored = _stored_weights(checkpoint, config) if checkpoint is not None and not spec.quant else None
    run = {"vllm": estimate_vllm, "llamacpp": estimate_llamacpp}.get(spec.engine, estimate_hf)
    report = run(arch, spec, name=name, stored=stored, checkpoint=checkpoint)
    extra = {**report.extra, "parameters": count_params(arch).total, "kind": arch.kind, **counted_by(arch)}
    scans = sorted({t for t in arch.layer_types if t in KERNEL_SCANS})
    if scans and spec.mixer_kernels and spec.engine == "hf":
        extra["unmodelled_scans"] = ", ".join(scans)
    return replace(report, extra=extra)


# Layer kinds whose prefill has a fused-kernel path (``inference/mixers.py``): with
# ``mixer_kernels`` their workspace is the kernels', which no GPU run has validated yet.
KERNEL_SCANS = ("mamba", "parallel", "linear")


def _stored_weights(checkpoint: Checkpoint, config: dict[str, object] | None) -> Part:
    """The checkpoint's stored bytes by module (quantization scales included)."""
    from ..formats.stored import Quantization, quantization_of, weights_report

    quant = Quantization("gguf") if checkpoint.format == "gguf" else quantization_of(config)
    tree = weights_report(checkpoint, quant).stored
    return replace(tree, name="weights")
