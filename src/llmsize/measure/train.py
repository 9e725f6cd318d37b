"""Measure one steady-state training step with ``MemTracker`` under ``FakeTensorMode``.

The model is built from its config (``harness.build``), put in training mode, and one warm-up
step runs untracked: forward with ``labels = input_ids``, backward, ``optimizer.step()`` and
``zero_grad(set_to_none=True)``. The warm-up creates the optimizer states, so the tracked step
is the steady state every later step repeats. The tracked step is split into its three phases,
each with its own peak::

    forward    weights + optimizer states + saved activations + logits and loss
    backward   saved activations freed as gradients of the parameters appear
    optimizer  weights + all gradients + states + the update's temporaries

``torch.optim.AdamW(foreach=False)`` updates one tensor at a time, so its temporaries are one
tensor's worth (the default ``foreach`` path on CUDA groups them per dtype and device).
MemTracker files the optimizer's temporaries under its optimizer-state category; the states
themselves are counted before the step (``optimizer_state_bytes``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import LlmsizeError
from .harness import _imports, build, scaled_config

PHASES = ("forward", "backward", "optimizer")


def _quiet(_: str) -> None:
    return None

OPTIMIZERS = ("adamw", "sgd", "sgd-momentum")
LORA_ALL = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoraConfig:
    """A peft LoRA adapter on the named linear modules (``all-linear``: every linear but the head)."""

    rank: int = 8
    targets: tuple[str, ...] = ("q_proj", "v_proj")
    alpha: int = 16
    dropout: float = 0.0
    adapter_dtype: str = "fp32"  # fp32: peft's autocast_adapter_dtype=True; bf16/fp16: False
    bnb_keeps_inputs: bool = False  # frozen linears keep their input as bitsandbytes < 0.43.2 did


@dataclass(frozen=True)
class MeasuredTrain:
    """PyTorch's accounting of one steady-state training step (bytes).

    ``phase_peaks`` holds each phase's peak; ``peak_bytes`` is the largest, set by ``peak_phase``
    in ``peak_module``. ``by_category`` is MemTracker's split at that peak (parameter, buffer,
    grad, act, temp, opt, oth)."""

    peak_bytes: int
    peak_phase: str
    peak_module: str
    phase_peaks: dict[str, int]
    by_category: dict[str, int]
    params_bytes: int
    trainable_bytes: int
    buffers_bytes: int
    optimizer_state_bytes: int
    inputs_bytes: int
    phase_categories: dict[str, dict[str, int]] = field(default_factory=dict)

    def terms(self) -> dict[str, int]:
        """The peak split as llmsize's training breakdown is: weights (parameters and buffers),
        the gradients alive at the peak, the optimizer states, and the rest (activations,
        temporaries, the step's scratch, the input ids)."""
        grads = self.by_category.get("grad", 0)
        weights = self.params_bytes + self.buffers_bytes
        rest = self.peak_bytes - weights - grads - self.optimizer_state_bytes
        return {"weights": weights, "gradients": grads, "optimizer_states": self.optimizer_state_bytes,
                "activations": rest}

    @property
    def activation_bytes(self) -> int:
        """At the peak: everything but weights, buffers, gradients and optimizer states (saved
        activations, logits, loss, temporaries, the step's own scratch)."""
        grads = self.by_category.get("grad", 0)
        return (self.peak_bytes - self.params_bytes - self.buffers_bytes - grads
                - self.optimizer_state_bytes - self.inputs_bytes)


def _optimizer(torch: Any, name: str, params: list[Any]) -> Any:
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-4, foreach=False)
    if name in ("sgd", "sgd-momentum"):
        return torch.optim.SGD(params, lr=1e-4, momentum=0.9 if name == "sgd-momentum" else 0.0,
                               foreach=False)
    raise LlmsizeError(f"measure: optimizer {name!r} is not one of {', '.join(OPTIMIZERS)}")


def _with_lora(torch: Any, model: Any, lora: LoraConfig) -> Any:
    """peft's LoRA on the fake model, adapters fp32 as ``autocast_adapter_dtype`` leaves them.
    ``Module.to`` is a no-op meanwhile: under FakeTensorMode it swaps parameters, which fails on
    the base model's (everything is on the fake CPU already, and nn.Linear creates fp32)."""
    try:
        import peft
    except ImportError:
        raise LlmsizeError("measuring LoRA needs peft: pip install peft") from None
    targets = "all-linear" if lora.targets == ("all-linear",) else list(lora.targets)
    config = peft.LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                             target_modules=targets, task_type="CAUSAL_LM")
    to = torch.nn.Module.to
    torch.nn.Module.to = lambda self, *args, **kwargs: self
    try:
        model = peft.get_peft_model(model, config, autocast_adapter_dtype=lora.adapter_dtype == "fp32")
    finally:
        torch.nn.Module.to = to
    if lora.adapter_dtype != "fp32":  # what peft's own .to(base dtype) does off FakeTensorMode
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[lora.adapter_dtype]
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.data = p.data.to(dtype)
    if lora.bnb_keeps_inputs:
        _keep_frozen_inputs(torch, model)
    return model


def _keep_frozen_inputs(torch: Any, model: Any) -> None:
    """Every frozen ``nn.Linear`` of the decoder layers runs as bitsandbytes < 0.43.2's
    ``MatMul4Bit`` did (``bitsandbytes/autograd/_functions.py`` before commit 9e753741): the
    matmul on the (here unquantised) weight, and ``ctx.tensors = (A, B)`` when A needs a
    gradient, a Python reference that keeps A alive as long as the graph."""

    class MatMul4BitLegacy(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: Any, weight: Any, bias: Any) -> Any:
            ctx.tensors = (a, weight) if ctx.needs_input_grad[0] else (None, None)
            return torch.nn.functional.linear(a, weight, bias)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            _, weight = ctx.tensors
            return grad @ weight if ctx.needs_input_grad[0] else None, None, None

    for name, module in model.named_modules():
        if type(module) is torch.nn.Linear and ".layers." in name and not module.weight.requires_grad:
            module.forward = (lambda m: lambda x: MatMul4BitLegacy.apply(x, m.weight, m.bias))(module)


def _tracker(torch: Any) -> Any:
    """MemTracker whose peak bookkeeping keeps only the global peak and the deepest module
    active when it was reached: its per-module peak snapshots (a deep copy per op and module)
    take a third of the tracked step's time and are not needed here. Private to torch 2.13."""
    from torch.distributed._tools.mem_tracker import MemTracker

    class PeakTracker(MemTracker):
        peak_where = ""

        def _update_peak_stats(self, peak_state: Any) -> None:
            for dev, snap in self._curr_mem_snap.items():
                if self._peak_mem.get(dev, 0) < snap["Total"]:
                    self._peak_mem[dev] = snap["Total"]
                    self._peak_mem_snap[dev] = dict(snap)
                    parents = self._mod_tracker.parents
                    self.peak_where = max(parents, key=lambda f: f.count("."), default="")

        def reset_peak(self) -> None:
            """Start a new phase's peak from the current snapshot."""
            self._peak_mem_snap = self.get_tracker_snapshot("current")
            self._peak_mem = {dev: snap["Total"] for dev, snap in self._peak_mem_snap.items()}
            self.peak_where = ""

    return PeakTracker()


def _step(model: Any, opt: Any, ids: Any, phases: dict[str, Any] | None, tracker: Any = None,
          keep: dict[str, Any] | None = None) -> None:
    """forward (labels = inputs), backward, step, zero_grad; ``phases`` collects each phase's
    peak snapshot and peak module when a tracker runs. ``keep``: a plain loop's ``outputs =
    model(...)``, alive until the next step's forward has returned (HF Trainer keeps the loss)."""
    def forward(_: Any) -> Any:
        outputs = model(input_ids=ids, labels=ids)
        if keep is not None:
            keep["outputs"] = outputs
        return outputs.loss

    steps = (("forward", forward),
             ("backward", lambda loss: loss.backward()),
             ("optimizer", lambda _: (opt.step(), opt.zero_grad(set_to_none=True))))
    value = None
    for phase, run in steps:
        value = run(value)
        if tracker is not None and phases is not None:
            snap = next(iter(tracker.get_tracker_snapshot("peak").values()))
            phases[phase] = (snap, "optimizer.step" if phase == "optimizer" else tracker.peak_where)
            tracker.reset_peak()


def measure_train(
    cfg: dict[str, Any], name: str = "config.json", *, batch: int, seq: int, dtype: str = "bf16",
    attn: str = "sdpa", optimizer: str = "adamw", gradient_checkpointing: bool = False,
    lora: LoraConfig | int | None = None, layers: int | None = None,
    progress: Callable[[str], None] = _quiet,
) -> MeasuredTrain:
    """The steady-state peak of one training step at (batch, seq). ``lora``: a config, or a
    rank, put on ``memory.lora.measurement_targets`` of the model."""
    if isinstance(lora, int):
        lora = LoraConfig(rank=lora, targets=_peft_targets(cfg, name, layers))
    progress(f"building {name} under FakeTensorMode; a warm-up step, then the tracked one")
    return measure_train_points(cfg, name, points=[(batch, seq)], dtype=dtype, attn=attn, optimizer=optimizer,
                                gradient_checkpointing=gradient_checkpointing, lora=lora, layers=layers)[0]


def _peft_targets(cfg: dict[str, Any], name: str, layers: int | None) -> tuple[str, ...]:
    """peft's names for ``measurement_targets`` of this config's architecture."""
    from ..sources.hf_config import from_hf_config
    from ..training.lora import measurement_targets

    targets = measurement_targets(from_hf_config(scaled_config(cfg, layers), name)[0])
    return tuple(t if t == "all-linear" else f"{t}_proj" for t in targets)


def measure_train_points(
    cfg: dict[str, Any], name: str = "config.json", *, points: list[tuple[int, int]], dtype: str = "bf16",
    attn: str = "sdpa", optimizer: str = "adamw", gradient_checkpointing: bool = False,
    lora: LoraConfig | None = None, layers: int | None = None,
) -> list[MeasuredTrain]:
    """``measure_train`` at several (batch, seq) points on one model: it is built and warmed
    up once (the optimizer states do not depend on the batch), then each point's step is
    tracked by a fresh MemTracker."""
    mode = "lora" if lora else ("gc" if gradient_checkpointing else optimizer)
    grid = measure_train_grid(cfg, name, points=points, modes=(mode,), dtype=dtype, attn=attn,
                              lora=lora or LoraConfig(), layers=layers, optimizer=optimizer)
    return [grid[(mode, b, s)] for b, s in points]


MODES = ("adamw", "gc", "sgd", "sgd-momentum", "lora")


def measure_train_grid(
    cfg: dict[str, Any], name: str = "config.json", *, points: list[tuple[int, int]],
    modes: tuple[str, ...] = ("adamw", "gc", "sgd"), dtype: str = "bf16", attn: str = "sdpa",
    lora: LoraConfig = LoraConfig(), layers: int | None = None, optimizer: str = "adamw",
    loop: str = "trainer",
) -> dict[tuple[str, int, int], MeasuredTrain]:
    """Every (mode, batch, seq) on one built model, in the order given: ``adamw`` (warm-up,
    then each point), ``gc`` (the same model and optimizer with gradient checkpointing on),
    ``sgd``/``sgd-momentum`` (a new optimizer), ``lora`` (peft adapters on the model, AdamW on
    them). Building once and reusing the warmed-up optimizer keeps the Python dispatch, which
    is where FakeTensorMode spends its time, to one warm-up per optimizer. ``loop``: "trainer"
    (only the loss outlives the forward) or "plain" (the outputs, logits and all, stay alive)."""
    torch, _ = _imports()
    from torch._subclasses.fake_tensor import FakeTensorMode

    bad = [m for m in modes if m not in MODES]
    if bad:
        raise LlmsizeError(f"measure: unknown mode(s) {', '.join(bad)}; choose from {', '.join(MODES)}")
    out: dict[tuple[str, int, int], MeasuredTrain] = {}
    keep: dict[str, Any] | None = {} if loop == "plain" else None
    with FakeTensorMode(), contextlib.redirect_stderr(None):
        model = build(scaled_config(cfg, layers), name, dtype=dtype, attn=attn).train()
        opt = None
        for mode in modes:
            if mode == "lora":  # a fresh model: nothing left over from the full fine-tuning modes
                model = build(scaled_config(cfg, layers), name, dtype=dtype, attn=attn).train()
            model, opt = _prepare(torch, model, opt, mode, lora, optimizer, points[0], keep)
            for b, s in points:
                out[(mode, b, s)] = _tracked_step(torch, model, opt, b, s, keep)
    return out


def _prepare(torch: Any, model: Any, opt: Any, mode: str, lora: LoraConfig, optimizer: str,
             warm: tuple[int, int], keep: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """Switch the model and optimizer to ``mode``, warming up a new stateful optimizer."""
    if mode == "lora":
        model = _with_lora(torch, model, lora).train()
    elif mode == "gc":
        model.activation_checkpointing_enable()
    elif getattr(model, "is_gradient_checkpointing", False):
        model.gradient_checkpointing_disable()
    name = {"lora": "adamw", "gc": optimizer}.get(mode, mode)
    if mode == "gc" and opt is not None and name == "adamw":
        return model, opt
    opt = _optimizer(torch, name, [p for p in model.parameters() if p.requires_grad])
    if name != "sgd":  # plain SGD keeps no state: its first step is already the steady state
        _step(model, opt, torch.randint(0, 100, warm), None, keep=keep)
    return model, opt


class _NoHook:
    def remove(self) -> None:
        pass


@contextlib.contextmanager
def _frozen_hooks_skipped(torch: Any) -> Any:
    """MemTracker hooks every parameter's gradient; a frozen one (LoRA's base) refuses hooks.
    Such a parameter never gets a gradient, so skipping its hook loses nothing."""
    names = ("register_hook", "register_post_accumulate_grad_hook")
    saved = {n: getattr(torch.Tensor, n) for n in names}

    def wrap(original: Any) -> Any:
        return lambda self, hook: original(self, hook) if self.requires_grad else _NoHook()

    for n in names:
        setattr(torch.Tensor, n, wrap(saved[n]))
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.Tensor, n, f)


def _tracked_step(torch: Any, model: Any, opt: Any, batch: int, seq: int,
                  keep: dict[str, Any] | None = None) -> MeasuredTrain:
    ids = torch.randint(0, 100, (batch, seq))
    if keep is not None:  # the steady state: the previous step's outputs, of this step's shape
        _step(model, opt, ids, None, keep=keep)
    tracker = _tracker(torch)
    tracker.track_external(model, opt, ids, *([keep["outputs"].logits] if keep else []))
    states = _state_bytes(torch, opt)
    phases: dict[str, Any] = {}
    with _frozen_hooks_skipped(torch), tracker:
        _step(model, opt, ids, phases, tracker, keep)
    peaks = {p: snap["Total"] for p, (snap, _) in phases.items()}
    top = max(PHASES, key=lambda p: peaks[p])
    cats = {p: _categories(snap) for p, (snap, _) in phases.items()}
    return MeasuredTrain(
        peak_bytes=peaks[top], peak_phase=top, peak_module=phases[top][1], phase_peaks=peaks,
        by_category=cats[top], params_bytes=_bytes(model.parameters()),
        trainable_bytes=_bytes(p for p in model.parameters() if p.requires_grad),
        buffers_bytes=_bytes(model.buffers()), optimizer_state_bytes=states,
        inputs_bytes=ids.numel() * ids.element_size(), phase_categories=cats,
    )


def _bytes(tensors: Any) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _state_bytes(torch: Any, opt: Any) -> int:
    return _bytes(v for s in opt.state.values() for v in s.values() if isinstance(v, torch.Tensor))


def _categories(snap: dict[Any, int]) -> dict[str, int]:
    return {str(k).rsplit(".", 1)[-1].lower(): v for k, v in snap.items() if k != "Total"}
