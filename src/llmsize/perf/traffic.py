"""What one forward step reads and computes, compiled once per (architecture, format, layout).

The weights a step reads come from the same per-tensor list and pricing as the memory estimate
(``formats.tensors.tensor_bytes``), so quantized formats, scales and GGUF mixtures are read at
the size they are stored::

    read every step   every layer's matrices, norms and biases, the output head (a tied head
                      reads the embedding table); per GPU under tensor parallelism: / t
    not read          the input embedding table (a lookup gathers B rows, negligible)
                      and Llama 3.2 Vision's cross-attention layers, which a text-only step skips
                      (transformers 5.24 ``MllamaTextModel.forward``): no bytes, no FLOPs
    routed experts    per MoE layer, the experts the batch touches: nEff(B·tokens) of N
                      (``roofline.experts_touched``), each expert's bytes / t
    the KV cache      every cached row of every sequence, plus recurrent states
                      (``inference.kvcache.kv_cache``: windows, MLA latents, per-GPU heads)

FLOPs per token (forward) are 2 per multiply-add of every matrix the token passes through: the
active parameters (routed experts at k of N), the head, without the embedding lookup (Kaplan et
al. 2020, arXiv 2001.08361 §2.1, C_forward ≈ 2N), plus attention over c cached tokens,
4·a·d_h·c per full-attention layer (QKᵀ and A·V: 2·a·d_h·c each; PaLM, arXiv 2204.02311
App. B). A prefill of S tokens does the causal half of the S² term: 2·a·d_h·S² per layer. This
convention (no causal halving at decode, halving at prefill) is the one the efficiency factors
are fitted against.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..arch import Architecture
from ..formats.dtypes import WeightFormat
from ..formats.tensors import tensor_bytes
from ..inference.kvcache import KVRequest, kv_cache
from .roofline import experts_touched

NOT_READ = ("embedding", "position", "vision")


@dataclass(frozen=True)
class Traffic:
    """One model replica's per-GPU step costs; see the module docstring."""

    arch: Architecture
    kv_dtype: str
    tp: int
    dense_bytes: int  # weights read every step, per GPU
    expert_bytes: int  # one routed expert of one MoE layer, per GPU
    moe_layers: int
    matmul_flops_per_token: int  # 2 · active matrix parameters, whole model (not per GPU)
    bytes_per_weight: float  # of the active matrices, for the critical batch

    def weight_bytes(self, tokens: int) -> float:
        """Weights one GPU reads in a step that processes ``tokens`` tokens together."""
        moe = self.arch.moe
        if not moe:
            return float(self.dense_bytes)
        touched = experts_touched(moe.n_experts, moe.top_k, tokens)
        return self.dense_bytes + self.moe_layers * touched * self.expert_bytes

    def kv_bytes(self, batch: int, context: int) -> int:
        """KV cache (and recurrent state) one GPU reads for ``batch`` sequences of ``context``
        tokens: ``batch`` times one sequence's (every term of ``kv_cache`` is linear in the batch)."""
        return batch * _kv_per_sequence(self.arch, self.kv_dtype, self.tp, context)

    def attention_flops(self, context: int) -> int:
        """Attention FLOPs of one new token over ``context`` cached ones, whole model:
        Σ_layers 4 · a · d_h · c_layer, c_layer = min(c, window) for sliding layers. MLA scores
        use the query-key width d_qk and the value width d_v: 2·a·(d_qk + d_v)·c."""
        per, n_full, n_swa, window = _attention_shape(self.arch)
        return per * (n_full * context + n_swa * min(context, window or context))

    def decode_flops(self, batch: int, context: int) -> float:
        """FLOPs of one decode step, whole model: B · (2·P_act + attention over c)."""
        return batch * (self.matmul_flops_per_token + self.attention_flops(context))

    def prefill_flops(self, tokens: int, context: int = 0) -> float:
        """FLOPs of a prefill of ``tokens`` new tokens after ``context`` cached ones: every token
        through the active matrices, and causal attention, Σ_{i<S} attention_flops(c + i)
        ≈ S · attention_flops(c + S/2)."""
        return tokens * (self.matmul_flops_per_token + self.attention_flops(context + tokens // 2))


@functools.lru_cache(maxsize=4096)
def _kv_per_sequence(arch: Architecture, kv_dtype: str, tp: int, context: int) -> int:
    return kv_cache(arch, KVRequest(context, 1, kv_dtype, "hf", tp, 0)).value


@functools.lru_cache(maxsize=256)
def _attention_shape(arch: Architecture) -> tuple[int, int, int, int | None]:
    """(FLOPs per head-token pair 2·a·(d_qk + d_v), full-attention layers, sliding layers, window)."""
    a = arch
    per = 2 * a.n_heads * ((a.mla.qk_head_dim + a.mla.v_head_dim) if a.mla else 2 * a.head_dim)
    n_full = sum(t in ("full", "parallel") for t in a.layer_types)
    n_swa = sum(t == "sliding" for t in a.layer_types)
    return per, n_full, n_swa, a.sliding_window


def compile_traffic(arch: Architecture, fmt: WeightFormat | str, *, kv_dtype: str = "bf16",
                    tp: int = 1, base: str = "bf16") -> Traffic:
    """``arch`` stored in ``fmt`` (weights the format keeps are ``base`` wide), sharded ``tp`` ways.
    Compiled once per question (a plan asks for the same few many times): the result is frozen.
    ``quantized_roles`` is part of the key because ``WeightFormat`` leaves it out of ``==``."""
    roles = fmt if isinstance(fmt, str) else fmt.quantized_roles
    return _compile(arch, fmt, roles, kv_dtype, tp, base)


@functools.lru_cache(maxsize=256)
def _compile(arch: Architecture, fmt: WeightFormat | str, roles: object, kv_dtype: str, tp: int,
             base: str) -> Traffic:
    rows = tensor_bytes(arch, fmt, base=base)
    moe = arch.moe
    dense = expert = 0
    active_params = 0.0
    active_bytes = 0.0
    tied = arch.tie_embeddings
    skipped = {i for i, t in enumerate(arch.layer_types) if t == "cross"}  # text-only steps
    for r in rows:
        role, n = r.spec.role, r.spec.numel
        if r.spec.layer in skipped:
            continue
        if role == "expert":
            expert += r.total
            share = moe.top_k / moe.n_experts if moe else 1.0
            active_params += n * share
            active_bytes += r.total * share
            continue
        if role in NOT_READ and not (tied and r.spec.name.startswith("token_embd")):
            continue
        dense += r.total
        if r.spec.is_matrix:
            active_params += n
            active_bytes += r.total
    moe_layers = len(moe.layers) if moe else 0
    per_expert = expert // (moe_layers * moe.n_experts) if moe and moe_layers else 0
    return Traffic(arch=arch, kv_dtype=kv_dtype, tp=tp, dense_bytes=-(-dense // tp),
                   expert_bytes=-(-per_expert // tp), moe_layers=moe_layers,
                   matmul_flops_per_token=round(2 * active_params),
                   bytes_per_weight=active_bytes / active_params if active_params else 2.0)
