"""Training activations: what the forward pass saves for the backward pass, term by term.

The starting point is Korthikanti et al. 2022 (arXiv 2205.05198), Table 2: a GPT layer with
16-bit activations, 1-byte dropout masks, a 4h GeLU MLP and LayerNorm saves, per token::

    norms       2 LayerNorm inputs                             4h
    attention   QKV input 2h, Q and K 4h, V 2h, projection     11h + 5as
                input 2h, its dropout mask h; softmax output
                2as, its dropout mask as, the dropped copy 2as
    MLP         input 2h, first linear's output 8h, GeLU       19h
                output 8h, dropout mask h
                                                     per layer h·(34 + 5as/h) bytes

Each term below is one function; together they reproduce the table exactly with the paper's
kernels (``PAPER``, ``korthikanti_table2``), and generalise it to what transformers 5.24 runs:

=================================  ==========================================================
generalisation                     bytes per token (B = activation bytes, q = a·d_h,
                                   kv = 2·k·d_h, I = MLP width, E experts, k_e chosen)
=================================  ==========================================================
RMSNorm upcast (Llama)             fp32 input 4w + rsqrt 4 + normed copy B·w
RMSNorm in fp32 (Gemma, OLMo 2)    fp32 input 4w + rsqrt 4 + normed fp32 4w
LayerNorm                          input B·w + mean and rstd (fp32 on CUDA)
QK-norm                            a norm over q and over k/2 (per head, or full width)
sdpa / flash attention             Q, K, V after rotary, the output: B·(2q + kv); fp32
                                   logsumexp 4a (Dao et al. 2022, FlashAttention §3.1)
eager attention                    Q, K and V as the matmuls see them (repeated for GQA),
                                   fp32 softmax 4·a·s, its cast B·a·s (or dropout mask and
                                   dropped copy), the output copy B·q
gated MLP (SwiGLU, GeGLU)          gate, act(gate), up, act·up: 4·B·I  (Shazeer 2020)
plain MLP                          2·B·I; 5·B·I for a tanh-GELU written in Python
MoE (grouped experts)              router softmax fp32 4E, indices; per routed slot
                                   (T·k_e·capacity): gathered input, gate-up, act, product,
                                   output 2·B·d + 4·B·I_e, int64 indices
dropout                            one mask per dropout with p > 0 (1 byte on CUDA)
logits and cross-entropy           B·V logits, fp32 copy 4V, fp32 log-softmax 4V (forward);
                                   log-softmax, its gradient and the logits' gradient 12V
=================================  ==========================================================

Derived from transformers 5.24's modeling code (``LlamaRMSNorm``, ``apply_rotary_pos_emb``,
``sdpa_attention_forward``, ``eager_attention_forward``, ``integrations/moe.py``,
``loss/loss_utils.py: ForCausalLMLoss``) and checked term by term against the tensors autograd
saves under ``FakeTensorMode`` (``measure/train.py``; ``tests/test_train_measured.py`` prints the
error table). What ``Kernels`` names differs between PyTorch's CUDA and CPU kernels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ..arch import ATTENTION_KINDS, Architecture
from ..tree import Part, group, leaf
from .lora import adapter_tensors
from .mixers import mixer_saved
from .parallel import korthikanti_layer_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from .lora import LoraSpec

# --- what the kernels keep ------------------------------------------------------------------


@dataclass(frozen=True)
class Kernels:
    """The facts that depend on which kernels run the step, each in bits.

    ``dropout_mask_bits``: CUDA's fused ``native_dropout`` keeps a bool mask (8 bits); the CPU
    path (``at::dropout`` → ``input * bernoulli_(…)``, aten/src/ATen/native/Dropout.cpp) keeps a
    mask in the activation dtype (``None``). ``norm_stats_bits``: LayerNorm's saved mean and rstd
    (fp32 on CUDA; the input dtype on CPU; not counted by the paper). ``softmax_bits``: the eager
    softmax (transformers upcasts to fp32; Megatron's fused softmax stays 16-bit).
    ``sdpa_output_like_query``: the CPU flash kernel's output follows the query's layout
    (``_meta_registrations.py``: ``empty_like(query)``), so a query built by ``torch.cat`` makes
    the ``transpose(1, 2).contiguous()`` before o_proj a copy; CUDA kernels write (b, s, a, d_h).
    ``hf_upcasts``: transformers' norms and loss upcast to fp32 (the paper's kernels do not).
    ``sdpa_math_fallback``: PyTorch's CPU sdpa has no fused kernel for attention dropout or for
    unequal Q/V head dims and runs the math path in fp32 (``math_saved``); CUDA's flash and
    memory-efficient kernels handle both.
    """

    name: str
    dropout_mask_bits: int | None = 8
    norm_stats_bits: int = 32
    softmax_bits: int = 32
    sdpa_output_like_query: bool = False
    hf_upcasts: bool = True
    sdpa_math_fallback: bool = False


CUDA = Kernels("cuda")
CPU = Kernels("cpu", dropout_mask_bits=None, norm_stats_bits=16, sdpa_output_like_query=True,
              sdpa_math_fallback=True)
PAPER = Kernels("korthikanti", norm_stats_bits=0, softmax_bits=16, hf_upcasts=False)


@dataclass(frozen=True)
class Dropout:
    """Dropout probabilities in training: on the embeddings, on the attention probabilities and
    on each block's output (the residual branch). Only p > 0 saves a mask."""

    embedding: float = 0.0
    attention: float = 0.0
    residual: float = 0.0


DROPOUT_KEYS = {"embedding": ("embd_pdrop", "embedding_dropout", "hidden_dropout_prob"),
                "attention": ("attn_pdrop", "attention_dropout", "attention_probs_dropout_prob"),
                "residual": ("resid_pdrop", "residual_dropout", "hidden_dropout", "dropout")}


def dropout_from_config(cfg: Mapping[str, object]) -> Dropout:
    """Dropout probabilities from an HF ``config.json`` (the keys in ``DROPOUT_KEYS``)."""
    def first(keys: tuple[str, ...]) -> float:
        for k in keys:
            value = cfg.get(k)
            if isinstance(value, (int, float)):
                return float(value)
        return 0.0

    return Dropout(**{name: first(keys) for name, keys in DROPOUT_KEYS.items()})


# Families whose code differs in a way that changes the saved bytes: ``arch.modeling`` (arch.py).
PYTHON_ACTIVATIONS = ("gelu_new", "gelu_fast", "quick_gelu", "gelu_python")
PYTHON_GELU_SAVED = 5  # x, tanh(·), 0.5x, 1 + tanh(·), their product (NewGELUActivation)
# Which validation families set each constant here: validation/calibration.py. RMS copies: llama-3.1-8b
# (no grid case's estimate moves with it); GELU: phi-2, gpt2; CPU Kernels: phi-2, gpt2, starcoder2, deepseek.
INDEX_BYTES = 8  # int64 token indices and routing indices
RMS_BACKWARD_FP32_COPIES = 4  # RMSNorm backward: grad·w, its fp32 cast, grad·rsqrt, 2x·grad (measured)


@dataclass(frozen=True)
class ActivationSpec:
    """One micro-batch of ``batch`` sequences of ``seq`` tokens, on one GPU.

    ``tp`` splits heads, MLP width and vocabulary (pass the rank's architecture); ``sp`` also
    splits the tensors outside the tensor-parallel region along the sequence (Korthikanti
    §4.2.2). ``seq`` is the tokens of one sequence this GPU holds (s/cp with context parallel)."""

    batch: int
    seq: int
    bits: int = 16
    attn: str = "sdpa"  # eager | sdpa | flash
    recompute: str = "none"  # none | selective | full
    dropout: Dropout = field(default_factory=Dropout)
    kernels: Kernels = CUDA
    tp: int = 1
    sp: bool = False
    capacity_factor: float | None = None  # MoE: None = dropless (every chosen slot is kept)
    lora: LoraSpec | None = None  # a frozen base: only input gradients are needed
    loop: str = "trainer"  # trainer | plain | fused-ce: what the logits cost (loop.py)

    @property
    def frozen(self) -> bool:
        return self.lora is not None

    @property
    def tokens(self) -> int:
        return self.batch * self.seq

    @property
    def B(self) -> float:  # noqa: N802 - the paper's symbol
        return self.bits / 8

    @property
    def mask_bytes(self) -> float:
        bits = self.kernels.dropout_mask_bits
        return (bits or self.bits) / 8

    def outside(self, per_token: float) -> float:
        """A term outside the tensor-parallel region: replicated over tp, split with SP."""
        return per_token / self.tp if self.sp else per_token


def _total(per_token: float, w: ActivationSpec) -> int:
    return round(per_token * w.tokens)


# --- norms ----------------------------------------------------------------------------------


def norm_saved(arch: Architecture, w: ActivationSpec, width: int, rows: int = 1) -> float:
    """Bytes per token one norm of ``width`` saves (``rows`` normalised rows per token).
    LayerNorm (Ba et al. 2016): its input and per-row mean and rstd. RMSNorm (Zhang & Sennrich
    2019) as transformers writes it: the fp32 upcast of the input, rsqrt (fp32 per row), and
    the normalised copy γ multiplies: cast back first (Llama), or in fp32 (Gemma, OLMo 2); a
    frozen γ needs no copy."""
    if arch.norm == "layernorm" or not w.kernels.hf_upcasts:
        return w.B * width + rows * 2 * w.kernels.norm_stats_bits / 8
    normed = 4 * width if arch.modeling.fp32_norm else w.B * width * arch.norm_weight
    return 4 * width + 4 * rows + (0 if w.frozen else normed)


def norms(arch: Architecture, w: ActivationSpec, layer: int = 1) -> float:
    """The layer's own norms (one per sub-layer; one shared by a parallel block; four in the
    Gemma 2/3 sandwich), outside the tensor-parallel region. With a frozen base the first
    layer's input norm saves nothing: the embeddings' output needs no gradient."""
    from ..parameters import norms_per_layer

    n = norms_per_layer(arch) - (w.frozen and layer == 0 and arch.norm_placement != "post")
    return w.outside(n * norm_saved(arch, w, arch.d_model))


def block_inputs(arch: Architecture, w: ActivationSpec) -> float:
    """The inputs the first linears of attention and MLP save, B·d each (Korthikanti's QKV and
    MLP inputs, 2sbh each); one when a parallel block feeds both from one norm."""
    if w.frozen:
        return 0.0  # frozen linears keep no input (adapters save their own copy)
    shared = arch.parallel_block and arch.shared_block_norm
    return w.outside((1 if shared else 2) * w.B * arch.d_model)


# --- attention ------------------------------------------------------------------------------


def head_widths(arch: Architecture) -> tuple[int, int, int]:
    """(query/key head dim, value head dim, key/value heads) as the attention kernel sees them;
    MLA decompresses to a heads of d^nope_h + d^R_h and d^v_h (DeepSeek-V2 §2.1.3)."""
    if arch.mla:
        return arch.mla.qk_head_dim, arch.mla.v_head_dim, arch.n_heads
    return arch.head_dim, arch.head_dim, arch.n_kv_heads


def qk_norm_saved(arch: Architecture, w: ActivationSpec, layer: int = 1) -> float:
    """QK-norm (Dehghani et al. 2023): a norm over the queries and one over the keys, per head
    (Qwen3, Gemma 3: rows of d_h) or over the full width (OLMo 2). With a frozen base the
    first layer's keys need no gradient unless an adapter sits on k."""
    if arch.qk_norm == "none":
        return 0.0
    a, k, dh = arch.n_heads, arch.n_kv_heads, arch.head_dim
    rows = (a, k) if arch.qk_norm == "head" else (1, 1)
    keys = norm_saved(arch, w, k * dh, rows=rows[1])
    if w.lora is not None and layer == 0 and not {"k", "all-linear"} & set(w.lora.targets):
        keys = 0.0
    return norm_saved(arch, w, a * dh, rows=rows[0]) + keys


def repeats_kv(arch: Architecture, w: ActivationSpec, *, masked: bool) -> bool:
    """Whether K and V reach the kernel repeated to a heads: always in eager; in sdpa when an
    explicit mask is passed (``use_gqa_in_sdpa``); a single kv head repeats as a view."""
    _, _, k = head_widths(arch)
    return 1 < k < arch.n_heads and (w.attn == "eager" or masked)


def flash_saved(arch: Architecture, w: ActivationSpec, *, masked: bool = False) -> float:
    """sdpa/flash (Dao et al. 2022 §3.1): Q and K after rotary, V, the output B·(2q + kv) and a
    fp32 logsumexp per head (4a). A sliding window shorter than the sequence needs an explicit
    mask, which each layer's sdpa turns into an additive one and saves (B·s per token). The CPU
    kernel copies the output once more when the query is a fresh contiguous tensor (MLA,
    partial rotary by ``torch.cat``)."""
    a, (dqk, dv, k) = arch.n_heads, head_widths(arch)
    if w.kernels.sdpa_math_fallback and (w.dropout.attention > 0 or dqk != dv):
        return math_saved(arch, w)
    kv_heads = a if repeats_kv(arch, w, masked=masked) else k
    out = a * dqk + kv_heads * (dqk + dv) + a * dv
    fresh_query = arch.mla is not None or arch.modeling.cat_rotary
    copy = a * dv if w.kernels.sdpa_output_like_query and fresh_query and not w.frozen else 0
    mask = w.seq if masked else 0  # the bool mask turned additive (b, 1, s, s_kv), per call
    return w.B * (out + copy + mask) + 4 * a


MATH_BITS = 32  # CPU's math sdpa upcasts 16-bit inputs to fp32 (``_scaled_dot_product_attention_math``)


def math_saved(arch: Architecture, w: ActivationSpec) -> float:
    """PyTorch's math sdpa (the CPU fallback): fp32 copies of the scaled Q and K and of V
    (repeated to a heads), the fp32 softmax, with dropout its mask and dropped copy (fp32, CPU
    masks take the input's dtype), and the output cast back that o_proj saves (B·a·d^v_h)."""
    a, s, (dqk, dv, _) = arch.n_heads, w.seq, head_widths(arch)
    f = MATH_BITS / 8
    probs = f * (3 if w.dropout.attention > 0 else 1) * a * s
    return f * a * (2 * dqk + dv) + probs + w.B * a * dv * (not w.frozen)


def mla_latent_saved(arch: Architecture, w: ActivationSpec, layer: int = 1) -> float:
    """MLA's compressed paths (DeepSeek-V2 §2.1.2): the RMSNorm on c^KV (and on c^Q with a q
    LoRA rank) and the up-projections' inputs, B·d_c. A frozen base keeps no inputs, and in
    the first layer the latents need no gradient at all."""
    m = arch.mla
    if m is None or (w.frozen and layer == 0):
        return 0.0
    widths = [m.kv_lora_rank] + ([m.q_lora_rank] if m.q_lora_rank else [])
    return sum(norm_saved(arch, w, c) + (0 if w.frozen else w.B * c) for c in widths)


def _first_frozen_layer_grads(arch: Architecture, w: ActivationSpec, layer: int) -> tuple[bool, bool]:
    """(keys need a gradient, values need a gradient): in the first layer of a frozen base,
    only where an adapter sits on them (their input, the embeddings, needs none)."""
    if w.lora is None or layer != 0:
        return True, True
    t = set(w.lora.targets)
    if arch.mla:  # keys and values come out of kv_b: only all-linear puts an adapter there
        return "all-linear" in t, "all-linear" in t
    return bool(t & {"k", "all-linear"}), bool(t & {"v", "all-linear"})


def eager_saved(arch: Architecture, w: ActivationSpec, layer: int = 1) -> float:
    """Eager attention (Vaswani et al. 2017 Eq. 1, as ``eager_attention_forward`` runs it): the
    matmuls' operands Q, K, V (repeated to a heads for GQA; MLA's V is a slice of the kv_b
    output, which stays whole; GPT-2's q, k, v are views of one c_attn output, with k^T and v
    copied for the matmuls) and the output copy; plus the s² probabilities (``scores_saved``).
    A matmul keeps an operand only for the other's gradient: in a frozen first layer, Q goes
    unsaved unless K needs a gradient, and the probabilities unless V does."""
    a, s, (dqk, dv, k) = arch.n_heads, w.seq, head_widths(arch)
    kv_heads = a if repeats_kv(arch, w, masked=True) else k
    k_grad, v_grad = _first_frozen_layer_grads(arch, w, layer)
    if arch.modeling.qkv_views:
        operands = (a * dqk + 2 * k * dqk) + 2 * k * dqk
    elif arch.mla:
        operands = a * dqk * (1 + k_grad) + a * (arch.mla.qk_nope_head_dim + dv)
    else:
        operands = a * dqk * k_grad + kv_heads * (dqk + dv)
    out_copy = 0 if w.frozen else a * dv  # o_proj's input, for its weight gradient
    probs = scores_saved(arch, w) - (0 if v_grad else a * w.B)
    return w.B * (operands + out_copy) + probs * s


def scores_saved(arch: Architecture, w: ActivationSpec) -> float:
    """Per token and key position: the softmax output (Korthikanti 2as; transformers upcasts it
    to fp32), then either its cast back (B·a) or, with attention dropout, the mask and the
    dropped copy (Korthikanti as + 2as). Selective recompute drops them all (§5)."""
    if w.recompute == "selective":
        return 0.0
    a = arch.n_heads
    softmax_bits = w.bits if not arch.modeling.softmax_fp32 else w.kernels.softmax_bits
    cast = w.B if softmax_bits != w.bits else 0.0
    after = w.mask_bytes + w.B if w.dropout.attention > 0 else cast
    return a * (softmax_bits / 8 + after)


def attention_saved(arch: Architecture, w: ActivationSpec, *, masked: bool = False, layer: int = 1) -> float:
    """QK-norm, MLA's latents and the output's dropout mask, then the attention kernel's
    tensors: the one term of a layer that depends on s, affine in s and added last (the
    compiled training cost, ``cost.py``, relies on both)."""
    return attention_side_saved(arch, w, layer) + kernel_saved(arch, w, masked=masked, layer=layer)


def has_attention(arch: Architecture, layer: int) -> bool:
    """Whether the layer has softmax attention (a hybrid's mixer and MLP-only layers do not)."""
    return layer >= len(arch.layer_types) or arch.layer_types[layer] in ATTENTION_KINDS


def attention_side_saved(arch: Architecture, w: ActivationSpec, layer: int = 1) -> float:
    """What attention saves besides its kernel: QK-norm, MLA's latents, the output's dropout mask."""
    if not has_attention(arch, layer):
        return 0.0
    mask = w.outside(w.mask_bytes * arch.d_model) if w.dropout.residual > 0 else 0.0
    return qk_norm_saved(arch, w, layer) + mla_latent_saved(arch, w, layer) + mask


def kernel_saved(arch: Architecture, w: ActivationSpec, *, masked: bool = False, layer: int = 1) -> float:
    """The attention kernel's tensors: eager (s² probabilities) or sdpa/flash."""
    if not has_attention(arch, layer):
        return 0.0
    return eager_saved(arch, w, layer) if w.attn == "eager" else flash_saved(arch, w, masked=masked)


# --- MLP and experts ------------------------------------------------------------------------


def mlp_saved(arch: Architecture, w: ActivationSpec, d_ff: int | None = None) -> float:
    """Intermediates of width I the MLP saves: gated (Shazeer 2020) 4·B·I (gate, act(gate), up,
    their product); plain 2·B·I (first linear's output, activation output: Korthikanti's 8h + 8h
    at I = 4h); a Python tanh-GELU 5·B·I. Plus the output's dropout mask."""
    ff = arch.d_ff if d_ff is None else d_ff
    if arch.gated_mlp:
        n = 4
    else:
        n = PYTHON_GELU_SAVED if arch.activation in PYTHON_ACTIVATIONS else 2
    n -= w.frozen  # a frozen down projection keeps no input
    mask = w.outside(w.mask_bytes * arch.d_model) if w.dropout.residual > 0 else 0.0
    return w.B * n * ff + mask


def gemma3n_saved(arch: Architecture, w: ActivationSpec) -> float:
    """What a Gemma 3n layer saves beyond a Gemma 3 layer (``Gemma3nTextDecoderLayer``), read off
    the modeling code, not yet checked against MemTracker. AltUp (Baykal et al. 2023 §3): the K
    copies the prediction matmul reads and the K-copy innovation the correction multiplies (2·K·B·d),
    two router norms with their routers' inputs (2·(norm + B·d)), the scaled output's input (B·d);
    LAuReL (arXiv 2411.07501): its rank-r middle and post-norm; the per-layer input: the gate's
    input, its p-wide output, activation, product and the projection's input, and a norm; the
    value norm (no γ: its fp32 input and rsqrt per head)."""
    d, k, B = arch.d_model, arch.altup_inputs, w.B
    out = 4.0 * arch.n_kv_heads * (arch.head_dim + 1)
    if k:
        out += 2 * k * B * d + 2 * (norm_saved(arch, w, d) + B * d) + B * d
    if arch.laurel_rank:
        out += B * arch.laurel_rank + norm_saved(arch, w, d)
    if arch.per_layer_input:
        out += B * d + 4 * B * arch.per_layer_input.d + norm_saved(arch, w, d)
    return w.outside(out)


def gemma3n_input_side(arch: Architecture, w: ActivationSpec) -> float:
    """What a Gemma 3n forward saves before its layers (``Gemma3nTextModel.forward``): the
    embeddings (AltUp's projections' input), and for each of AltUp's K − 1 projections its output
    and the output rescaled to the embeddings' magnitude (2·B·d each); the per-layer projection
    goes through an RMSNorm of width L·p. Freed as the backward reaches the embeddings."""
    d, k, B, out = arch.d_model, arch.altup_inputs, w.B, 0.0
    if k:
        out += B * d * (1 + 2 * (k - 1))
    if arch.per_layer_input:
        out += norm_saved(arch, w, arch.n_layers * arch.per_layer_input.d, rows=arch.n_layers)
    return w.outside(out)


def gemma3n_output_side(arch: Architecture, w: ActivationSpec) -> float:
    """What a Gemma 3n forward saves after its layers: the last layer's K copies (the
    unembedding projections' input) and, for each of the K − 1 projections, its output and the
    rescaled output (2·B·d each). Freed by the backward right after the final norm's."""
    d, k = arch.d_model, arch.altup_inputs
    return w.outside(w.B * d * (k + 2 * (k - 1))) if k else 0.0


def routed_slots(arch: Architecture, w: ActivationSpec) -> float:
    """Routed (token, expert) slots per token: k_e dropless (transformers), or the capacity
    factor c · k_e (Switch Transformer, Fedus et al. 2021 §2.2: capacity = c·T·k_e/E each)."""
    assert arch.moe is not None
    return arch.moe.top_k * (w.capacity_factor or 1.0)


def moe_saved(arch: Architecture, w: ActivationSpec) -> float:
    """A routed MoE layer (transformers ``grouped_mm_experts_forward``): the router's fp32
    softmax 4E, its top-k indices and weights (DeepSeek's router also saves an fp32 copy of its
    input, 4d); per slot the gathered input and the expert's
    output (2·B·d), gate-up 2·B·I_e, act and product 2·B·I_e, three int64 indices and a
    routing weight; shared experts (DeepSeekMoE §3.2) as a dense gated MLP of width I_s."""
    m, d, B = arch.moe, arch.d_model, w.B
    assert m is not None
    router = 4 * m.n_experts + (INDEX_BYTES + 4) * m.top_k + 4
    router += 4 * d if arch.modeling.fp32_router else 0
    per_slot = (2 - w.frozen) * B * d + (4 - w.frozen) * B * m.d_ff_expert + 3 * INDEX_BYTES + 4
    shared = w.B * 4 * m.d_ff_shared
    return router + routed_slots(arch, w) * per_slot + shared


# --- one layer ------------------------------------------------------------------------------


def masked(arch: Architecture, w: ActivationSpec, layer: int) -> bool:
    """A sliding-window layer shorter than the sequence gets an explicit mask (no causal flag)."""
    start = mask_from(arch, layer)
    return start is not None and w.seq >= start


def mask_from(arch: Architecture, layer: int) -> int | None:
    """The shortest sequence for which the layer's attention gets an explicit mask: a
    sliding-window layer's window; None for the others."""
    return arch.sliding_window if arch.layer_types[layer] == "sliding" and arch.sliding_window else None


def adapter_saved(arch: Architecture, w: ActivationSpec, layer: int) -> float:
    """Bytes per token the layer's adapters save (peft ``lora.Linear.forward``: lora_B(lora_A(
    dropout(cast(x))))): each adapter's input cast to its dtype (a copy per adapter), or with
    LoRA dropout the mask (the cast's dtype on CPU; none where x needs no gradient) and the
    dropped copy instead; x·A (r values);
    and the base's inputs that stay alive (``qlora.kept_inputs``: the cast is x itself when the
    dtypes match; bitsandbytes < 0.43.2)."""
    from .qlora import INPUT_OF, kept_inputs

    lora = w.lora
    assert lora is not None
    adapter_b, out = lora.adapter_bits / 8, 0.0
    mask_b = (w.kernels.dropout_mask_bits or lora.adapter_bits) / 8
    inputs = adapter_inputs(arch, lora).get(layer, ())
    for stem, d_in in inputs:
        if lora.dropout > 0:  # no mask where x needs no gradient (the first layer's attention input)
            needs_grad = layer > 0 or INPUT_OF.get(stem) != "attention input"
            kept = (mask_b * needs_grad + adapter_b) * d_in
        else:
            kept = adapter_b * d_in if lora.adapter_bits != w.bits else 0.0
        out += kept + adapter_b * lora.rank
    return out + kept_inputs(arch, w, layer, tuple(stem for stem, _ in inputs))


@functools.lru_cache(maxsize=64)
def adapter_inputs(arch: Architecture, lora: LoraSpec) -> dict[int | None, tuple[tuple[str, int], ...]]:
    """Each layer's adapted linears (the stem's last part, ``attn_q``) and input widths d_in, in
    ``adapter_tensors`` order (read-only: the dict is shared by every call)."""
    out: dict[int | None, tuple[tuple[str, int], ...]] = {}
    for t in adapter_tensors(arch, lora):
        if t.name.endswith("lora_A.weight"):
            kind = t.name.removesuffix(".lora_A.weight").rsplit(".", 1)[-1]
            out[t.layer] = (*out.get(t.layer, ()), (kind, t.shape[1]))
    return out


def skipped(arch: Architecture, layer: int) -> bool:
    """Whether a text-only batch skips the layer: a Llama 3.2 Vision cross-attention layer runs
    only with cross-attention states (transformers 5.24 ``MllamaTextModel.forward``: ``continue``
    when ``cross_attention_states is None`` and nothing is cached); image tokens are not modelled.
    A skipped layer saves nothing, not even a full-recompute checkpoint."""
    return arch.layer_types[layer] == "cross"


def layer_per_token(arch: Architecture, w: ActivationSpec, layer: int) -> list[tuple[str, float]]:
    """The lines of ``layer_saved`` in bytes per token (only "attention" depends on s); none
    for a layer a text-only batch skips (``skipped``). A hybrid's layer saves its mixer's tensors
    (``mixers.py``) where others save attention's; a single-block layer (Mamba, Nemotron-H) has one
    norm, one block input and its mixer or MLP."""
    if skipped(arch, layer):
        return []
    ff = ff_line(arch, layer)
    kind = arch.layer_types[layer] if layer < len(arch.layer_types) else "full"
    blocks = 1 if arch.single_block else 2
    has_ff = not arch.single_block or kind == "none"
    lines = [("norms", norms(arch, w, layer)), ("block inputs", block_inputs(arch, w) * blocks / 2),
             ("attention", attention_saved(arch, w, masked=masked(arch, w, layer), layer=layer)),
             (ff, (moe_saved(arch, w) if ff == "moe" else mlp_saved(arch, w, arch.ff_width(layer)))
              if has_ff else 0.0)]
    if arch.is_hybrid:
        lines.insert(3, ("mixer", mixer_saved(arch, w, kind)))
    if arch.altup_inputs or arch.laurel_rank or arch.per_layer_input:
        lines.append(("AltUp, LAuReL, per-layer input", gemma3n_saved(arch, w)))
    if w.lora is not None:
        lines.append(("LoRA adapters", adapter_saved(arch, w, layer)))
    return lines


def ff_line(arch: Architecture, layer: int) -> str:
    """The layer's MLP line: "moe" for a routed layer, else "mlp"."""
    return "moe" if arch.moe is not None and layer in arch.moe.layers else "mlp"


def layer_saved(arch: Architecture, w: ActivationSpec, layer: int) -> Part:
    """Everything layer ``layer`` saves for the backward pass, as a tree (bytes)."""
    return group(f"layer {layer}", [leaf(name, _total(p, w)) for name, p in layer_per_token(arch, w, layer)])


def checkpoint_per_token(arch: Architecture, w: ActivationSpec) -> float:
    """Full recompute (Chen et al. 2016; ``gradient_checkpointing``): only the layer's input,
    B·d per token (Korthikanti §5: 2sbh), sequence-split with SP."""
    return w.outside(w.B * arch.d_model)


def checkpoint_saved(arch: Architecture, w: ActivationSpec) -> int:
    """``checkpoint_per_token`` for the micro-batch's tokens."""
    return _total(checkpoint_per_token(arch, w), w)


def layer_stored(arch: Architecture, w: ActivationSpec, layer: int) -> int:
    """What a layer holds between its forward and its backward under ``w.recompute``."""
    if w.recompute == "full" and not skipped(arch, layer):
        return checkpoint_saved(arch, w)
    return layer_saved(arch, w, layer).value


# --- outside the layers ---------------------------------------------------------------------


def rotary_dim(arch: Architecture) -> int:
    return arch.mla.qk_rope_head_dim if arch.mla else arch.head_dim


# The lines of ``resident_per_token`` Gemma 3n adds: the first stage keeps the input side (freed
# at the embedding's backward), the last the output side (freed after the head's backward).
ALTUP_IN, ALTUP_OUT = "AltUp in-projections, per-layer inputs", "AltUp out-projections"


def resident_per_token(arch: Architecture, w: ActivationSpec) -> list[tuple[str, float]]:
    """Saved once per micro-batch, bytes per token: input ids and shifted labels (int64), the
    rotary cos and sin every layer's rotary saves (b·s·d_rot each), the embedding dropout's
    mask, the final norm and the head's input (or fused-ce's ∂hidden), the logits a plain loop
    keeps (``loop.py``)."""
    from .loop import grad_input_kept_per_token, kept_logits_per_token

    d = arch.d_model
    pos_bytes = 4 if arch.modeling.fp32_rotary else w.B
    positions = 2 * rotary_dim(arch) * pos_bytes if arch.position == "rotary" else 0
    return [("input ids and labels", 2 * INDEX_BYTES),
            ("rotary cos, sin", positions),
            ("embedding dropout mask", w.outside(w.mask_bytes * d) if w.dropout.embedding else 0),
            (ALTUP_IN, gemma3n_input_side(arch, w)),
            ("final norm and head input", w.outside(norm_saved(arch, w, d) + w.B * d * (not w.frozen))
             + grad_input_kept_per_token(arch, w)),
            (ALTUP_OUT, gemma3n_output_side(arch, w)),
            ("logits the loop keeps", kept_logits_per_token(arch, w))]


def resident(arch: Architecture, w: ActivationSpec) -> Part:
    """``resident_per_token`` for the micro-batch's tokens, as a tree (bytes)."""
    return group("outside the layers", [leaf(name, _total(p, w)) for name, p in resident_per_token(arch, w)])


def logits_forward_per_token(arch: Architecture, w: ActivationSpec) -> float:
    """The loss's forward peak (``ForCausalLMLoss``): B·V logits, their fp32 copy (none when
    already fp32) and the fp32 log-softmax cross-entropy saves, per token (vocab-parallel: V/tp);
    a fused cross-entropy's instead (``loop.fused_forward_per_token``)."""
    if w.loop == "fused-ce":
        from .loop import fused_forward_per_token

        return fused_forward_per_token(arch, w)
    v = arch.vocab_size
    upcast = 4 if w.bits < 32 and w.kernels.hf_upcasts else 0
    head = 0 if arch.modeling.fp32_logits and upcast else w.B  # cast at once: the B·V logits are freed
    return (head + upcast + 4) * v


def logits_forward(arch: Architecture, w: ActivationSpec) -> int:
    """``logits_forward_per_token`` for the micro-batch's tokens."""
    return _total(logits_forward_per_token(arch, w), w)


def logits_backward_per_token(arch: Architecture, w: ActivationSpec) -> int:
    """The loss's backward peak: the saved fp32 log-softmax, the gradient nll_loss writes into
    it and the log-softmax's gradient, 12·V bytes per token (the B·V logits are freed by then:
    the trainer keeps only the loss; a plain loop's are in ``resident``); none for a fused
    cross-entropy, whose forward did the work."""
    return 0 if w.loop == "fused-ce" else 12 * arch.vocab_size


def logits_backward(arch: Architecture, w: ActivationSpec) -> int:
    """``logits_backward_per_token`` for the micro-batch's tokens."""
    return _total(logits_backward_per_token(arch, w), w)


def recompute_transient(arch: Architecture, w: ActivationSpec, layer: int) -> int:
    """Under full recompute, the layer being recomputed holds all it would have saved."""
    return layer_saved(arch, w, layer).value if w.recompute == "full" else 0


# --- the reference: Korthikanti et al. 2022, Table 2 ------------------------------------------

korthikanti_table2 = korthikanti_layer_bytes
"""Table 2 as printed (``parallel.korthikanti_layer_bytes``): sbh(34 + 5as/h) per layer, with
tensor and sequence parallelism and selective or full recompute."""


def paper_arch(*, h: int, a: int) -> Architecture:
    """The GPT layer of Table 2: LayerNorm, MHA, a plain 4h MLP with GeLU, learned positions."""
    return Architecture(name="gpt (Korthikanti Table 2)", model_type="gpt-paper", n_layers=1, d_model=h,
                        n_heads=a, d_ff=4 * h, norm="layernorm", gated_mlp=False, activation="gelu",
                        position="learned", qkv_bias=True, o_bias=True, mlp_bias=True)


def paper_layer(*, s: int, b: int, h: int, a: int, t: int = 1, sp: bool = False,
                recompute: str = "none") -> int:
    """Table 2's layer through the generalised terms: the paper's kernels, eager attention,
    dropout on the probabilities and both residual branches, heads and MLP split over t."""
    from ..layout import rank_arch

    arch = rank_arch(paper_arch(h=h, a=a), t)
    w = ActivationSpec(batch=b, seq=s, attn="eager", recompute=recompute, kernels=PAPER, tp=t, sp=sp,
                       dropout=Dropout(embedding=0.1, attention=0.1, residual=0.1))
    return layer_stored(arch, w, 0)


def kept_logits(arch: Architecture, w: ActivationSpec) -> int:
    """A plain loop's logits (``loop.kept_logits_per_token``) for the micro-batch's tokens."""
    from .loop import kept_logits_per_token

    return _total(kept_logits_per_token(arch, w), w)
