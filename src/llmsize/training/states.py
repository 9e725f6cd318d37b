"""What one GPU holds of the model states: the weights, gradients, master copy and optimizer states
of its pipeline stage on its tensor-parallel rank, before data-parallel sharding.

They do not depend on the micro-batch or the sequence, so ``stage_states`` computes them once per
(architecture, recipe, slice) and every question a cost model or a layout search asks shares them.
``estimate.py`` builds the step on top of them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from math import prod as _numel  # elements of a shape

from ..arch import Architecture
from ..formats.tensors import model_tensors
from ..layout import Layout, rank_arch
from ..tree import Part, group, leaf
from . import activations as act
from .optimizers import hf_parameters, optimizer_states, step_temporaries

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .estimate import TrainSpec

    Param = tuple[str, tuple[int, ...], str, int | None]  # name, shape, role, layer


def rank_slice(arch: Architecture, spec: TrainSpec, stage: int) -> tuple[Architecture, range]:
    """The tensor-parallel rank's architecture and the layers of pipeline stage ``stage``."""
    from .parallel import stage_layers

    return rank_arch(arch, spec.layout.tp), stage_layers(arch.n_layers, spec.layout.pp)[stage]


def _in_stage(layer: int | None, module: str, layers: range, *, first: bool, last: bool) -> bool:
    if layer is not None:
        return layer in layers
    return first if module == "embeddings" else last


def stage_tensors(arch: Architecture, layers: range, *, first: bool, last: bool
                  ) -> list[tuple[str, tuple[int, ...], str, int | None]]:
    """(name, shape, role, layer) of the parameters one stage holds, as transformers stores
    them (experts' gate and up fused)."""
    by_name = {t.name: t for t in model_tensors(arch)}
    out = []
    for name, shape, role in hf_parameters(arch):
        t = by_name.get(name) or by_name[name.replace("gate_up", "up")]
        if _in_stage(t.layer, t.module, layers, first=first, last=last):
            out.append((name, shape, role, t.layer))
    return out


def has_images(arch: Architecture) -> bool:
    """Whether the model takes images: a native vision tower, or one counted by transformers
    (parameters of role "vision", which also covers audio towers there)."""
    return arch.vision is not None or arch.gemma4_vision is not None or arch.transformers is not None and any(
        t.role == "vision" for t in arch.transformers.tensors)


def untouched(arch: Architecture, spec: TrainSpec, role: str, layer: int | None) -> bool:
    """Whether a text-only step (``spec.images == 0``) leaves a parameter without a gradient, and so
    (``spec.lazy_states``) without optimizer states: a multimodal model's towers and projector
    (role "vision"; the forward runs them only on ``pixel_values``) and Llama 3.2 Vision's
    cross-attention layers, whole (``act.skipped``: transformers 5.24 ``MllamaTextModel.forward``
    skips them without cross-attention states). Measured: llama-3.2-90b-vision-instruct, 2 layers,
    AdamW bf16: gradients and states of the text path only (validation/results.json)."""
    if spec.images or not spec.lazy_states:
        return False
    return role == "vision" or (layer is not None and act.skipped(arch, layer))


def touched(arch: Architecture, spec: TrainSpec, params: list[Param]) -> list[Param]:
    """The parameters of ``params`` (name, shape, role, layer) the step gives a gradient."""
    return [t for t in params if not untouched(arch, spec, t[2], t[3])]


@dataclass(frozen=True)
class StageStates:
    """Model-state bytes of one stage on one TP rank, before data-parallel sharding."""

    weights: Part
    trainable: list[tuple[str, tuple[int, ...], str, int | None]]
    grads: int
    master: int
    states: Part
    temporaries: int
    experts: tuple[int, int, int] = (0, 0, 0)  # routed experts' (weights, grads, master + states)


def stage_states(arch: Architecture, spec: TrainSpec, layers: range, *, first: bool,
                 last: bool) -> StageStates:
    """Weights, gradients, master copy and optimizer states of the stage's slice. They do not
    depend on the micro-batch, so they are computed once per (architecture, recipe, layout) and
    shared (read-only) by every (micro-batch, sequence) a cost model asks about."""
    # Only the recipe, optimizer and LoRA enter: the rest of the spec is normalised out of the
    # cache key, so every layout over the same slice (a layout search's dp, ZeRO stage, cp,
    # recompute…) shares one entry.
    key = replace(spec, seq=1, micro_batch=1, grad_accum=1, layout=Layout(), recompute="none", attn="flash",
                  dropout=act.Dropout(), kernels=act.CUDA, capacity_factor=None, overrides=())
    return _stage_states(arch, key, layers, first, last)


@functools.lru_cache(maxsize=256)
def _stage_states(arch: Architecture, spec: TrainSpec, layers: range, first: bool, last: bool) -> StageStates:
    p = spec.precision
    tensors = stage_tensors(arch, layers, first=first, last=last)
    if spec.lora is not None:
        from .lora import adapter_parameters, frozen_weights

        weights = frozen_weights(arch, spec.lora, tensors, weight_bits=p.act_bits)
        trainable = adapter_parameters(arch, spec.lora, tensors)
        bits = spec.lora.adapter_bits
        p = replace(p, grad_bits=bits, state_bits=spec.optim_bits or bits)
    else:
        weights = _weights(tensors, p.weight_bits)
        trainable = tensors
    trainable = touched(arch, spec, trainable)
    plain = [(n, s, r) for n, s, r, _ in trainable]
    numel = sum(_numel(s) for _, s, _ in plain)
    states = optimizer_states(spec.optimizer, plain, state_bits=p.state_bits, beta1=spec.beta1)
    temps = step_temporaries(spec.optimizer, spec.step_kernel, plain, state_bits=p.state_bits)
    master = numel * p.master_bits // 8
    expert = [t for t in plain if t[2] == "expert"]
    e_numel = sum(_numel(s) for _, s, _ in expert)
    e_states = optimizer_states(spec.optimizer, expert, state_bits=p.state_bits).value
    e_weights = sum(round(_numel(s) * p.weight_bits / 8) for _, s, _ in expert) if spec.lora is None else 0
    experts = (e_weights, e_numel * p.grad_bits // 8, e_numel * p.master_bits // 8 + e_states)
    return StageStates(weights, trainable, numel * p.grad_bits // 8, master, states, temps, experts)


def _weights(tensors: list[tuple[str, tuple[int, ...], str, int | None]], bits: int) -> Part:
    by_role: dict[str, int] = {}
    for _, shape, role, _ in tensors:
        by_role[role] = by_role.get(role, 0) + round(_numel(shape) * bits / 8)
    return group("weights", [leaf(role, n) for role, n in by_role.items()])


def layer_grads(states: StageStates, layer: int, grad_bits: int) -> dict[str, int]:
    """Gradient bytes layer ``layer`` produces, by what backward visits first: the MLP's output
    projection ("down"), the rest of the MLP or MoE ("ff"), attention and norms ("attention")."""
    return grads_by_layer(states, grad_bits).get(layer, {"down": 0, "ff": 0, "attention": 0})


def grads_by_layer(states: StageStates, grad_bits: int) -> dict[int | None, dict[str, int]]:
    """``layer_grads`` of every layer, in one pass over the stage's tensors."""
    out: dict[int | None, dict[str, int]] = {}
    for name, shape, role, lay in states.trainable:
        mine = out.setdefault(lay, {"down": 0, "ff": 0, "attention": 0})
        b = round(_numel(shape) * grad_bits / 8)
        if role in ("mlp", "expert", "shared_expert", "router"):
            mine["ff"] += b
            mine["down"] += b if "ffn_down" in name else 0
        else:
            mine["attention"] += b
    return out
