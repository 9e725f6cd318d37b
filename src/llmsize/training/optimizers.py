"""Optimizer states, tensor by tensor, and the temporaries of one optimizer step.

States are counted per parameter tensor (``tensors.model_tensors``), because several optimizers
treat tensors differently by shape: Adafactor factors the second moment of a matrix into a row
and a column vector, bitsandbytes keeps small tensors in 32 bits, Muon orthogonalises only the
2-D hidden matrices. Per parameter element::

    AdamW               m, v                                   2 · state width   (Loshchilov & Hutter 2019)
    Adam 8-bit          m, v as uint8 + fp32 absmax per 2048   2 · (1 + 4/2048)  (Dettmers et al. 2022)
    paged AdamW         as AdamW, in pageable unified memory   2 · state width
    SGD                 nothing                                0
    SGD + momentum      momentum buffer                        1 · state width
    Adafactor           v factored: rows + columns (matrices)  ≈ 0 (+ m with β1)  (Shazeer & Stern 2018)
    Lion                momentum                               1 · state width   (Chen et al. 2023)
    Muon                momentum (hidden matrices); AdamW's    1 or 2 · width    (Jordan et al. 2024)
                        m, v for embeddings, head, vectors

Step temporaries depend on the implementation (``StepKernel``): fused kernels (HF Trainer's
default ``adamw_torch_fused`` since torch 2.8, apex/DeepSpeed FusedAdam) add none; the
``foreach`` path allocates √v for a whole dtype group at once; the per-tensor loop
(``foreach=False``) allocates √v and √v/√(1−β₂ᵗ) for one tensor at a time (measured).
"""

from __future__ import annotations

from math import prod

from ..enums import Documented
from ..formats.tensors import TensorSpec, model_tensors
from ..tree import Part, group, leaf

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..arch import Architecture


class Optimizer(Documented):
    """What the optimizer keeps per parameter between steps."""

    ADAMW = "adamw", "Adam with decoupled weight decay: first and second moments m, v per element."
    ADAM_8BIT = "adam-8bit", ("bitsandbytes blockwise 8-bit Adam: m and v as uint8 with one fp32 absmax "
                              "per block of 2048; tensors under 4096 elements keep fp32 states.")
    PAGED_ADAMW = "paged-adamw", ("bitsandbytes paged AdamW: AdamW's bytes in CUDA unified memory, which "
                                  "the driver pages to host RAM under pressure (counted on the GPU here).")
    SGD = "sgd", "Plain SGD: no state."
    SGD_MOMENTUM = "sgd-momentum", "SGD with (heavy-ball or Nesterov) momentum: one buffer per element."
    ADAFACTOR = "adafactor", ("Adafactor: the second moment of a matrix factored into row and column "
                              "sums; vectors keep it whole; no first moment unless β1 is set.")
    LION = "lion", "Lion (EvoLved Sign Momentum): one momentum buffer per element."
    MUON = "muon", ("Muon: momentum for the 2-D hidden matrices (orthogonalised by Newton–Schulz); "
                    "AdamW's two moments for embeddings, the head, norms and biases.")


class StepKernel(Documented):
    """How the update runs, which decides its temporaries."""

    FUSED = "fused", ("One fused kernel per parameter group (torch ``fused=True``, HF Trainer's default "
                      "``adamw_torch_fused``, apex/DeepSpeed FusedAdam, bitsandbytes): no temporaries.")
    FOREACH = "foreach", ("torch ``foreach=True`` (the default on CUDA without ``fused``): √v of every "
                          "tensor in a dtype group at once, one state-width copy of the parameters.")
    FOR_LOOP = "for-loop", ("torch ``foreach=False``: one tensor at a time; AdamW holds √v and its bias-"
                            "corrected quotient beside the previous tensor's: two copies of the largest "
                            "tensor, three of equal ones in a row (measured).")


BNB_BLOCK = 2048  # bitsandbytes/optim/optimizer.py Optimizer2State.init_state: absmax per 2048 elements
BNB_MIN_8BIT_SIZE = 4096  # …: tensors with fewer elements keep fp32 states (``min_8bit_size``)
ABSMAX_BYTES = 4  # fp32
STEP_BYTES = 4  # torch keeps ``step`` as a fp32 scalar tensor per parameter tensor
HIDDEN_MATRIX_ROLES = ("attention", "mlp", "expert", "shared_expert", "ssm")


def hf_parameters(arch: Architecture) -> list[tuple[str, tuple[int, ...], str]]:
    """The parameter tensors as transformers ≥ 5 stores them: like ``model_tensors``, except that
    routed experts keep gate and up in one ``gate_up_proj`` of shape (E, 2·I_e, d), and their
    biases in one (E, 2·I_e) (gpt-oss); DBRX keeps them apart."""
    out: list[tuple[str, tuple[int, ...], str]] = []
    fuse = arch.gated_mlp and not arch.modeling.separate_expert_weights
    at: dict[str, int] = {}  # a gate tensor's name → its row in ``out``
    for t in model_tensors(arch):
        gate = t.name.replace("ffn_up_exps.", "ffn_gate_exps.")
        if fuse and gate != t.name and gate in at:
            e, n_out, *rest = t.shape
            out[at[gate]] = (t.name.replace("up", "gate_up"), (e, 2 * n_out, *rest), t.role)
            continue
        at[t.name] = len(out)
        out.append((t.name, t.shape, t.role))
    return out


def _adam_8bit(numel: int) -> int:
    """Two uint8 states plus their fp32 absmax per block (fp32 states below 4096 elements)."""
    if numel < BNB_MIN_8BIT_SIZE:
        return 2 * 4 * numel
    return 2 * (numel + -(-numel // BNB_BLOCK) * ABSMAX_BYTES)


def _adafactor(shape: tuple[int, ...], width: float, beta1: bool) -> float:
    """HF ``Adafactor``: a matrix (last two dims) keeps row sums shape[:-1] and column sums
    shape[:-2] + shape[-1:]; a vector keeps v whole; β1 adds a full first moment."""
    n = prod(shape)
    v = prod(shape[:-1]) + prod(shape[:-2]) * shape[-1] if len(shape) >= 2 else n
    return (v + (n if beta1 else 0)) * width


def tensor_state_bytes(opt: Optimizer, name: str, shape: tuple[int, ...], role: str, *,
                       state_bits: int, beta1: bool = False) -> int:
    """Bytes of ``opt``'s state for one parameter tensor, states ``state_bits`` wide."""
    n, width = prod(shape), state_bits / 8
    if opt in (Optimizer.ADAMW, Optimizer.PAGED_ADAMW):
        return round(2 * n * width) + STEP_BYTES
    if opt is Optimizer.ADAM_8BIT:
        return _adam_8bit(n)
    if opt in (Optimizer.SGD_MOMENTUM, Optimizer.LION):
        return round(n * width)
    if opt is Optimizer.ADAFACTOR:
        return round(_adafactor(shape, width, beta1))
    if opt is Optimizer.MUON:
        hidden = len(shape) >= 2 and role in HIDDEN_MATRIX_ROLES
        return round(n * width) if hidden else round(2 * n * width) + STEP_BYTES
    return 0


def optimizer_states(opt: Optimizer, tensors: list[tuple[str, tuple[int, ...], str]], *,
                     state_bits: int, beta1: bool = False) -> Part:
    """The states of every trainable tensor, grouped by role (a tree summing to the total)."""
    by_role: dict[str, int] = {}
    for name, shape, role in tensors:
        b = tensor_state_bytes(opt, name, shape, role, state_bits=state_bits, beta1=beta1)
        by_role[role] = by_role.get(role, 0) + b
    return group("optimizer states", [leaf(role, n) for role, n in by_role.items()])


def step_temporaries(opt: Optimizer, kernel: StepKernel, tensors: list[tuple[str, tuple[int, ...], str]], *,
                     state_bits: int) -> int:
    """The most the update allocates at once beyond the states (bytes)."""
    if kernel is StepKernel.FUSED or opt in (Optimizer.SGD, Optimizer.SGD_MOMENTUM, Optimizer.ADAM_8BIT):
        return 0
    sizes = [prod(shape) for _, shape, _ in tensors]
    if not sizes:
        return 0
    width = state_bits / 8
    if kernel is StepKernel.FOREACH:
        return round(sum(sizes) * width)
    return round(for_loop_peak(sizes) * width)


def for_loop_peak(sizes: list[int]) -> int:
    """Elements AdamW's for-loop holds at once: max over tensors i of n_{i−1} + 2·n_i. Each step
    computes ``denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)`` (torch/optim/adam.py
    ``_single_tensor_adam``): √v and the quotient of tensor i, while the previous tensor's
    ``denom`` is still bound; two copies of the largest tensor unless a large one precedes it
    (DBRX's w1, v1, w2, three equal tensors in a row: three copies)."""
    return max(prev + 2 * n for prev, n in zip([0, *sizes], sizes, strict=False))


def specs_as_parameters(specs: list[TensorSpec]) -> list[tuple[str, tuple[int, ...], str]]:
    return [(t.name, t.shape, t.role) for t in specs]
