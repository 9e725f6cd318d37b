"""QLoRA's frozen base as bitsandbytes and peft run it: which inputs stay alive for backward.

A frozen linear needs no weight gradient, so PyTorch's ``linear`` keeps only its weight, and a
frozen base keeps none of its linears' inputs (``activations.block_inputs``). Two things bring
some of them back, per layer and token, each distinct tensor once::

    bitsandbytes < 0.43.2   MatMul4Bit.forward kept ``ctx.tensors = (A, B)`` whenever A needs a
                            gradient: the input of every 4-bit linear (attention input B·d, the
                            MLA latents B·d_c, o_proj's input when it is a copy, MLP input B·d,
                            down's input B·I). bitsandbytes PR #1270 (commit 9e753741, 2024-07-16,
                            first in 0.43.2) made it ``(None, B)``: ``autograd/_functions.py``,
                            ``MatMul4Bit.forward``, "3. Save state".
    adapters in the         peft's ``_cast_input_dtype`` returns x itself when the adapter has the
    activations' dtype      activations' dtype (``autocast_adapter_dtype=False``), so lora_A saves
                            the base's input: adapters on q, k and v share one tensor.

In the first layer the attention input is the embeddings' normed output, which needs no
gradient: bitsandbytes keeps it only when something asks for it (an adapter there does).
The routed experts of transformers ≥ 5 are 3-D parameters, not ``Linear``: bitsandbytes does not
quantise them and keeps nothing of theirs.
"""

from __future__ import annotations

from ..arch import Architecture

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .activations import ActivationSpec
    from .lora import LoraSpec

BNB_INPUTS_FREED_IN = (0, 43, 2)  # bitsandbytes PR #1270: MatMul4Bit no longer keeps A
# the tensor each linear reads (the ``TensorSpec`` stem's last part → its input)
INPUT_OF = {"attn_q": "attention input", "attn_k": "attention input", "attn_v": "attention input",
            "attn_qkv": "attention input", "attn_q_a": "attention input", "attn_kv_a_mqa": "attention input",
            "attn_q_b": "q latent", "attn_kv_b": "kv latent", "attn_output": "attention output",
            "ffn_gate": "mlp input", "ffn_up": "mlp input", "ffn_gate_up": "mlp input",
            "ffn_gate_shexp": "mlp input", "ffn_up_shexp": "mlp input", "ffn_gate_inp": "mlp input",
            "ffn_down": "mlp product", "ffn_down_shexp": "shared product"}


def bnb_keeps_inputs(version: str) -> bool:
    """Whether bitsandbytes ``version`` ("0.41.1", "0.43.1.post1") keeps each 4-bit layer's input:
    every release before 0.43.2 (``BNB_INPUTS_FREED_IN``)."""
    parts = []
    for piece in version.strip().lstrip("v").split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            raise ValueError(f"{version!r} is not a version such as 0.43.1")
        parts.append(int(digits))
    return tuple(parts) < BNB_INPUTS_FREED_IN


def input_widths(arch: Architecture, w: ActivationSpec, layer: int) -> dict[str, int]:
    """Each input tensor's width per token: the MLP input is the attention input in a parallel
    block that shares one norm; o_proj's input is a tensor of its own only when it is a copy
    (eager's output, the CPU sdpa output of a fresh query: ``activations.flash_saved``)."""
    a, d = arch.n_heads, arch.d_model
    dv = arch.mla.v_head_dim if arch.mla else arch.head_dim  # activations.head_widths' value width
    fresh = arch.mla is not None or arch.modeling.cat_rotary
    copy = w.attn == "eager" or (w.kernels.sdpa_output_like_query and fresh)
    routed = arch.moe is not None and layer in arch.moe.layers
    out = {"attention input": d, "attention output": a * dv if copy else 0,
           "mlp input": 0 if arch.parallel_block and arch.shared_block_norm else d,
           "mlp product": 0 if routed else arch.d_ff,
           "shared product": arch.moe.d_ff_shared if arch.moe and routed else 0}
    if arch.mla:
        out |= {"kv latent": arch.mla.kv_lora_rank, "q latent": arch.mla.q_lora_rank or 0}
    return out


def kept_inputs(arch: Architecture, w: ActivationSpec, layer: int, adapted: tuple[str, ...]) -> float:
    """Bytes per token of the base's linear inputs kept for backward, each tensor once: all of
    them with bitsandbytes < 0.43.2 (the first layer's attention input only if an adapter reads
    it), and those the ``adapted`` linears (stems) read when the adapters share the activations'
    dtype and no dropout copies their input."""
    lora = w.lora
    assert lora is not None
    widths = input_widths(arch, w, layer)
    same = lora.adapter_bits == w.bits and lora.dropout == 0
    alias = {"mlp input": "attention input"} if arch.parallel_block and arch.shared_block_norm else {}
    by_adapter = {alias.get(INPUT_OF.get(s, ""), INPUT_OF.get(s, "")) for s in adapted} if same else set()
    kept = set(widths) if lora.bnb_keeps_inputs else set()
    if lora.bnb_keeps_inputs and layer == 0 and "attention input" not in by_adapter:
        kept -= {"attention input", "q latent", "kv latent"}
    return w.B * sum(widths.get(name, 0) for name in kept | by_adapter)


CHECKPOINTING_HINT = ("QLoRA recipes checkpoint by default (peft prepare_model_for_kbit_training, "
                      "use_gradient_checkpointing=True): add --recompute full to size that")


def checkpointing_hint(lora: LoraSpec | None, recompute: str) -> list[str]:
    """The note for a 4-bit base trained without recompute: peft's
    ``prepare_model_for_kbit_training`` turns gradient checkpointing on unless told not to."""
    four_bit = lora is not None and lora.base.startswith(("nf4", "fp4"))
    return [CHECKPOINTING_HINT] if four_bit and recompute == "none" else []
