"""llama.cpp's plan: every buffer on its side of the PCIe bus, and the largest ``-ngl`` that fits.

The buffers themselves are sized in ``llamacpp.py`` (flags, weights, KV cache; the module
docstring draws the picture and names the llama.cpp files mirrored) and ``llamacpp_compute.py``
(compute and output buffers); this module places them for one ``-ngl``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..arch import Architecture
from ..errors import ConfigError
from ..tree import Part, group, leaf
from .llamacpp import (
    FIT_MARGIN_BYTES,
    Geometry,
    LlamaCppConfig,
    LlamaCppWeights,
    check_blocks,
    geometry,
    gpu_layer_count,
    kv_buffer,
    on_gpu,
)
from .llamacpp_compute import cpu_compute, gpu_compute, output_buffer

# --- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LlamaCppPlan:
    """Both sides of one llama.cpp configuration; each side a tree whose parts sum to it."""

    device: Part
    host: Part
    n_gpu_layers: int  # effective -ngl: L + 1 offloads the output layer too
    n_layers: int
    flash_attn: bool
    geometry: Geometry
    gpu_memory_bytes: int | None = None
    fit_margin_bytes: int = FIT_MARGIN_BYTES

    @property
    def output_offloaded(self) -> bool:
        return self.n_gpu_layers > self.n_layers

    @property
    def fits(self) -> bool | None:
        """Whether the GPU side leaves ``fit_margin_bytes`` free (None: no GPU size given)."""
        if self.gpu_memory_bytes is None:
            return None
        return self.device.value + self.fit_margin_bytes <= self.gpu_memory_bytes


def _check(arch: Architecture, weights: LlamaCppWeights) -> None:
    if arch.is_hybrid or arch.kind != "decoder":
        raise ConfigError(f"{arch.name}: only decoder-only attention models are sized for llama.cpp "
                          "(its recurrent r/s cache is not modelled yet)")
    if arch.gemma4:
        raise ConfigError(f"{arch.name}: llama.cpp's Gemma 4 cache (full layers with their own head "
                          "width, KV-shared layers) is not modelled yet; use --engine hf")
    if "cross" in arch.layer_types:
        raise ConfigError(f"{arch.name}: Llama 3.2 Vision's cross-attention layers are not modelled "
                          "for llama.cpp")
    if len(weights.layer_bytes) != arch.n_layers:
        raise ConfigError(f"{arch.name}: {len(weights.layer_bytes)} block sizes for {arch.n_layers} layers")


def _model_buffer(weights: LlamaCppWeights, layers: list[int], *, input_: bool, output: int) -> Part:
    """Weights of ``layers`` (and the input and output layers where they live)."""
    span = f" (blk.{layers[0]}–{layers[-1]})" if layers else ""
    return group("model buffer", [
        leaf("input layer (token_embd)", weights.input_bytes if input_ else 0),
        leaf(f"{len(layers)} repeating layers{span}", sum(weights.layer_bytes[il] for il in layers)),
        leaf("output layer", output),
    ])


def llamacpp_plan(arch: Architecture, weights: LlamaCppWeights, cfg: LlamaCppConfig) -> LlamaCppPlan:
    """Where llama.cpp puts every buffer for ``cfg`` (see the module docstring)."""
    _check(arch, weights)
    check_blocks(arch, cfg)
    geo, L = geometry(arch, cfg), arch.n_layers
    ngl = gpu_layer_count(L, cfg.n_gpu_layers)
    gpu = [il for il in range(L) if on_gpu(il, L, ngl)]
    on = set(gpu)
    cpu = [il for il in range(L) if il not in on]
    kv_gpu = gpu if cfg.offload_kqv else []
    out_gpu = on_gpu(L, L, ngl)
    uses_gpu = ngl > 0 or cfg.op_offload
    device = group("GPU", [
        _model_buffer(weights, gpu, input_=False, output=weights.output_bytes if out_gpu else 0),
        kv_buffer(arch, cfg, geo, kv_gpu),
        gpu_compute(arch, cfg, geo, weights) if uses_gpu else leaf("compute buffer", 0),
    ])
    host = group("host", [
        _model_buffer(weights, cpu, input_=True, output=0 if out_gpu else weights.output_own_bytes),
        kv_buffer(arch, cfg, geo, cpu if cfg.offload_kqv else list(range(L))),
        output_buffer(arch, cfg),
        cpu_compute(arch, cfg, geo),
    ])
    return LlamaCppPlan(device, host, ngl, L, cfg.flash, geo, cfg.gpu_memory_bytes, cfg.fit_margin_bytes)


def max_gpu_layers(arch: Architecture, weights: LlamaCppWeights, cfg: LlamaCppConfig,
                   gpu_memory_bytes: int | None = None) -> int:
    """The largest ``-ngl`` whose GPU side fits in ``gpu_memory_bytes`` less ``fit_margin_bytes``
    (llama.cpp's ``--fit-target``); L + 1 means everything, output layer included. Returns 0 when
    not even ``-ngl 0`` fits (the op-offload compute buffer alone is too big)."""
    memory = gpu_memory_bytes if gpu_memory_bytes is not None else cfg.gpu_memory_bytes
    if memory is None:
        raise ConfigError("max_gpu_layers needs the GPU's memory (gpu_memory_bytes)")
    budget = memory - cfg.fit_margin_bytes
    for ngl in range(arch.n_layers + 1, 0, -1):
        if device_bytes(arch, weights, cfg, ngl) <= budget:
            return ngl
    return 0


def device_bytes(arch: Architecture, weights: LlamaCppWeights, cfg: LlamaCppConfig, ngl: int) -> int:
    """GPU bytes at ``-ngl ngl``, every other flag as in ``cfg``."""
    return llamacpp_plan(arch, weights, replace(cfg, n_gpu_layers=ngl)).device.value
