"""The activation workspace of a prefill: the most memory the forward pass holds at once.

Inference keeps no activations for a backward pass, so the workspace is not a sum over layers
but the largest set of tensors alive at one moment, in one layer (the last one, where the KV
cache of every layer below is already written). For a pre-norm decoder layer that moment is
the widest of three phases, on top of the hidden states the model loop keeps::

    resident   embedding output (kept by the model's forward) + the layer's input   2·T·d
    attention  normed input x + projections q, k, v and their rotary copies          T·(d + 3(q + kv))
               eager: T·(d + 2q + 3kv) + b·a·s·s_kv scores, masked, fp32 softmax, cast
    MLP        hidden after attention + normed input + the MLP's intermediates      T·(2d + c·I)
               c = 3 gated (act(gate), up, product), 2 plain, 4 for a tanh-GELU written in Python
    MoE        per routed slot (T·k slots): max(d + 4·I_e, 4·d) + index bookkeeping
    logits     b·V at the last position (T·V when scoring), cast to fp32

T = b·s tokens in the forward pass (b·chunk with chunked prefill), q = a·d_h, kv = 2·k·d_h,
widths in elements of the activation dtype. The phases follow the live tensors of transformers
5.24's modeling code (``LlamaDecoderLayer``, ``LlamaMLP``, ``eager_attention_forward``,
``integrations/moe.py: grouped_mm_experts_forward``); every coefficient was checked against
PyTorch's MemTracker under FakeTensorMode (``tests/test_prefill.py`` prints the error table).
sdpa and flash attention never materialise the s² scores (Dao et al. 2022, FlashAttention §3).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arch import Architecture
from ..tree import Part, group, leaf
from .mixers import mixer_phase

# Activations computed in Python from several elementwise ops keep more temporaries than a
# fused kernel (transformers ``activations.NewGELUActivation``: 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))).
PYTHON_ACTIVATIONS = ("gelu_new", "gelu_fast", "quick_gelu", "gelu_python")
XIELU = "xielu"  # Apertus: Python on the CPU and without the xielu CUDA kernel
FP32_BITS = 32
LOGITS_BITS = 32  # transformers upcasts logits to fp32 before sampling / the loss
INDEX_BYTES_PER_SLOT = 72  # MoE routing: int64 sort keys, permutation, inverse, arange (measured)
# Set by qwen3-30b-a3b's sdpa cases (72.03 B/slot); mixtral-8x7b's give 44. Re-fitted without each MoE
# family for the held-out column (validation/calibration.py lists every fitted constant and its families).
POSITION_ID_BYTES = 8  # int64 position ids, one per position


@dataclass(frozen=True)
class Prefill:
    """One forward pass over ``tokens`` positions of ``batch`` sequences."""

    batch: int
    tokens: int  # positions per sequence in this forward pass (the chunk, if chunked)
    context: int  # positions attended to (cached + new); = tokens without chunking
    bits: int = 16  # activation dtype width
    attn: str = "sdpa"  # eager | sdpa | flash
    logits: str = "last"  # last (generation) | all (scoring, perplexity)
    mixer_kernels: bool = False  # SSM / linear-attention mixers: fused kernels, not torch (mixers.py)

    @property
    def n_tokens(self) -> int:
        return self.batch * self.tokens


def _bytes(elements: int, bits: int) -> int:
    return -(-elements * bits // 8)


def resident(arch: Architecture, p: Prefill) -> Part:
    """Hidden states the model loop holds across layers, and the position tables.
    The model's forward keeps the embedding output while the loop variable holds the layer
    input: two T·d tensors once there are two layers or more (three with a learned position
    table: the token embeddings and their sum with the positions both stay referenced).
    Rotary cos and sin are (s, d_rot) each; a learned position table produces (s, d)."""
    T, d = p.n_tokens, arch.d_model
    # the learned-position copy was found on gpt2 (validation/calibration.py: calibration family)
    copies = (2 if arch.n_layers > 1 else 1) + (arch.position == "learned")
    if arch.altup_inputs:
        copies = altup_copies(arch)
    hidden = copies * _bytes(T * d, p.bits)
    if arch.per_layer_input:  # Gemma 3n's per-layer inputs, (b, s, L, p), computed before the loop
        hidden += _bytes(T * arch.n_layers * arch.per_layer_input.d, p.bits)
    if arch.position == "learned":
        per_pos = _bytes(d, p.bits)
    elif arch.position == "rotary":
        per_pos = 2 * _bytes(rotary_dim(arch), p.bits)
    else:
        per_pos = 0
    return group("resident", [leaf("hidden states", hidden),
                              leaf("positions", p.tokens * (per_pos + POSITION_ID_BYTES)),
                              leaf("sliding-window mask", window_mask(arch, p)),
                              leaf("relative position bias", relative_bias(arch, p))])


def altup_copies(arch: Architecture) -> int:
    """T·d hidden states a Gemma 3n forward holds across layers: AltUp (Baykal et al. 2023 §3)
    carries K copies. ``Gemma3nTextModel.forward`` keeps the embeddings and the list of their
    K − 1 projections (``temp_hidden_states``) for the whole loop, the loop holds the layer's
    K-copy input, and the layer its K predictions: 1 + (K − 1) + K + K = 3K."""
    return 3 * arch.altup_inputs


def relative_bias(arch: Architecture, p: Prefill) -> int:
    """T5's relative position bias (Raffel et al. 2020 §2.1): one fp32 (1, a, s, s_kv) tensor,
    computed by the first layer and passed to every other (transformers ``T5Attention.compute_bias``),
    shared by the batch; sdpa takes it as its additive mask."""
    if arch.position != "relative":
        return 0
    return arch.n_heads * p.tokens * p.context * FP32_BITS // 8


def window_mask(arch: Architecture, p: Prefill) -> int:
    """A boolean b·s·s_kv mask, built once per forward pass, when a sliding window is shorter than
    the context: a causal kernel flag cannot express it (transformers ``masking_utils``
    ``sliding_window_causal_mask_function``), so sdpa receives an explicit mask."""
    w = arch.sliding_window
    if "sliding" not in arch.layer_types or not w or p.context < w or p.attn == "eager":
        return 0
    return p.batch * p.tokens * p.context


def rotary_dim(arch: Architecture) -> int:
    """Width of the rotary tables: d^R_h for MLA, else the head dim."""
    return arch.mla.qk_rope_head_dim if arch.mla else arch.head_dim


def attention_widths(arch: Architecture) -> tuple[int, int]:
    """(query width, key+value width) per token of the tensors attention works on. MLA
    expands the cached latent to per-head keys (d^nope_h + d^R_h) and values (d^v_h)
    before attending (transformers ``DeepseekV3Attention``). Gemma 4: the wider of its two
    layer types (full layers: heads of global_head_dim, global kv heads)."""
    a, k, d_h = arch.n_heads, arch.n_kv_heads, arch.head_dim
    if arch.mla:
        m = arch.mla
        return a * m.qk_head_dim, a * (m.qk_head_dim + m.v_head_dim)
    g = arch.gemma4
    if g and a * g.global_head_dim + 2 * g.global_kv_heads * g.global_head_dim > (a + 2 * k) * d_h:
        return a * g.global_head_dim, 2 * g.global_kv_heads * g.global_head_dim  # its widest layers
    return a * d_h, 2 * k * d_h


def attention_phase(arch: Architecture, p: Prefill) -> int:
    """sdpa/flash: T·(d + 3(q + kv)), the normed input, the projections and their rotary
    copies. eager: T·(d + 2q + 3kv) + b·a·s·s_kv·(3B + 4), the scores, the masked scores, the
    fp32 softmax and its cast back, which are alive once the rotary temporaries are freed
    (Korthikanti et al. 2022 §4.1 counts the same s² tensors for training)."""
    T, d = p.n_tokens, arch.d_model
    q, kv = attention_widths(arch)
    if p.attn != "eager":
        return max(_bytes(T * (d + 3 * (q + kv)), p.bits), output_moment(arch, p), fp32_rotary(arch, p),
                   indexer_phase(arch, p))
    scores = p.batch * arch.n_heads * p.tokens * p.context
    eager = _bytes(T * (d + 2 * q + 3 * kv), p.bits) + scores * eager_score_bits(arch, p.bits) // 8
    return max(eager, indexer_phase(arch, p))


def indexer_phase(arch: Architecture, p: Prefill) -> int:
    """DeepSeek Sparse Attention's indexer (transformers 5.24 ``DeepseekV32Indexer.forward``, run
    before the attention kernel): ``matmul(q.float(), k.float())`` gives fp32 scores per index head,
    (b, s, H_I, s_kv), scaled then ReLU'd: two fp32 copies at once, 8·b·s·H_I·s_kv bytes, beside
    the normed input and the attention's query and key/value states, twice each (before and after
    the rope's concatenation), T·(d + 2(q + kv)) (measured with equal q and v head dims, where CPU
    sdpa runs a fused kernel: within 1%). Zero without an indexer."""
    if arch.indexer is None:
        return 0
    T, d = p.n_tokens, arch.d_model
    q, kv = attention_widths(arch)
    scores = p.batch * p.tokens * p.context * arch.indexer.n_heads * 2 * FP32_BITS // 8
    return _bytes(T * (d + 2 * (q + kv)), p.bits) + scores


def fp32_rotary(arch: Architecture, p: Prefill) -> int:
    """Rotary on fp32 copies (``Modeling.fp32_rotary_math``; ERNIE 4.5's ``apply_rotary_pos_emb``:
    ``(q.float() * cos) + (rotate_half(q).float() * sin)``): the query's peak holds q·cos, the fp32
    rotated copy and its product with sin, or the two products and their sum, three fp32 copies of q,
    beside the normed input, the projections and the cos and sin tables interleaved to d_h (one
    row per position): T·(B·(d + q + kv) + 3·4·q) + s·2·B·d_h. Zero for the families that rotate
    in the model dtype."""
    if not arch.modeling.fp32_rotary_math:
        return 0
    T, d = p.n_tokens, arch.d_model
    q, kv = attention_widths(arch)
    tables = _bytes(p.tokens * 2 * rotary_dim(arch), p.bits)
    return _bytes(T * (d + q + kv), p.bits) + T * 3 * q * FP32_BITS // 8 + tables


def output_moment(arch: Architecture, p: Prefill) -> int:
    """When q, k and v are views of one projection output that stays bound through the attention
    forward (``Modeling.qkv_kept``; ``DbrxAttention``: ``qkv_states`` of the clamped ``Wqkv``), the
    widest moment is the output projection's: the normed input, that output (q + kv), the rotary
    query, sdpa's output and o_proj's, T·(2d + 2q + q + kv) (measured on dbrx). Zero otherwise: the
    projections are freed as their rotary copies replace them."""
    if not arch.modeling.qkv_kept:
        return 0
    T, d = p.n_tokens, arch.d_model
    q, kv = attention_widths(arch)
    return _bytes(T * (2 * d + 3 * q + kv), p.bits)


def eager_score_bits(arch: Architecture, bits: int) -> int:
    """Bits held per attention score at eager's peak: the family's count of s² tensors in the
    model dtype and in fp32 (``Modeling.eager_peak``). Most families hold the masked scores, the
    fp32 softmax and its cast back (3B + 4 bytes, measured on the CPU, where softmax(dtype=fp32)
    also converts its input first); GPT-2 2B, Falcon 4B, GPT-J B + 8 (its scores are fp32)."""
    in_model_dtype, in_fp32 = arch.modeling.eager_peak
    return in_model_dtype * bits + in_fp32 * FP32_BITS


def mlp_coefficient(arch: Architecture) -> int:
    """Intermediates of width I alive at the MLP's peak: gated 3 (act(gate), up, product), 4 when
    gate and up come from one Linear whose output stays bound through the product (GLM-4:
    ``gate_up_proj``, chunked into views); plain 2, 4 for a Python tanh-GELU, 5 for Apertus's
    Python xIELU (the up output, the positive branch, three temporaries of the negative one;
    ``activations.XIELUActivation._xielu_python``; its bool mask is ``mlp_mask``); one more where
    the modeling code keeps gate itself named (Gemma 3n: ``Modeling.mlp_keeps_gate``)."""
    if arch.gated_mlp:
        return (4 if arch.modeling.fused_gate_up else 3) + arch.modeling.mlp_keeps_gate  # 4: glm-4-32b
    if arch.activation == XIELU:
        return 5  # measured on apertus-8b
    return 4 if arch.activation in PYTHON_ACTIVATIONS else 2  # 4: checked on phi-2 and gpt2 (calibration)


def mlp_mask(arch: Architecture, p: Prefill) -> int:
    """xIELU's ``torch.where(x > 0, …)`` condition: one byte per MLP element (0 otherwise)."""
    return p.n_tokens * arch.d_ff if not arch.gated_mlp and arch.activation == XIELU else 0


def mlp_phase(arch: Architecture, p: Prefill) -> int:
    """T·(2d + c·I): the post-attention hidden state and its normed copy (post-norm blocks
    such as OLMo-2 feed the MLP the un-normed state: T·d), plus the MLP's intermediates; MoE
    layers route T·k slots through experts instead (the largest layer wins). Eager
    attention's returned weights (b·a·s·s_kv) are still alive here."""
    T, d = p.n_tokens, arch.d_model
    n_live = 1 if arch.norm_placement == "post" else arch.modeling.mlp_live_hidden  # post: set on olmo-2-1b
    live = _bytes(T * n_live * d, p.bits)
    dense = _bytes(T * mlp_coefficient(arch) * arch.d_ff, p.bits) + mlp_mask(arch, p)
    if arch.moe:
        dense = max(dense if len(arch.moe.layers) < arch.n_layers else 0, moe_phase(arch, p))
    if p.attn == "eager":
        live += _bytes(p.batch * arch.n_heads * p.tokens * p.context, p.bits)
    return live + dense


def moe_phase(arch: Architecture, p: Prefill) -> int:
    """Grouped experts (transformers ``grouped_mm_experts_forward``): S = T·k routed slots hold
    the gathered inputs, gate-up outputs, activation and product (d + 4·I_e), or, after the
    down projection, the gathered inputs, outputs, weighted outputs and their reorder (4·d; the
    last two in fp32 where the routing weights are fp32: GLM-4.5, DeepSeek-V3, MiniMax-M2); gpt-oss's
    gate holds more (``expert_width``). Shared experts (DeepSeekMoE §3.2) run as a dense gated MLP
    of width I_s after the routed ones, beside their output (DeepSeek, GLM-4.5, dots1:
    ``hidden_states + self.shared_experts(residuals)``), T·(d + 3·I_s), never beside the routed
    slots (Qwen-MoE runs it first and keeps only its T·d output, left out; measured on dots1).
    Llama 4 sends every token through every expert; DBRX loops over them."""
    m, T, d = arch.moe, p.n_tokens, arch.d_model
    assert m is not None, "moe_phase needs an MoE architecture"
    if arch.modeling.moe_all_experts:  # Llama 4: T·E slots in (E, T, ·) batched matmuls, no index
        # the shared expert runs after them, beside their (E, T, d) output (Llama4TextMoe.forward)
        experts, shared = T * m.n_experts * (d + 4 * m.d_ff_expert), T * (m.n_experts * d + 3 * m.d_ff_shared)
        return _bytes(max(experts, shared), p.bits)
    if arch.modeling.expert_loop:
        return expert_loop_phase(arch, p)
    slots = T * m.top_k
    after_down = 4 * d * p.bits
    if arch.modeling.fp32_routing_weights:  # proj_out · fp32 weights and its reorder are fp32
        after_down = 2 * d * p.bits + 2 * d * FP32_BITS
    per_slot = max((d + expert_width(arch)) * p.bits, after_down)
    routed = -(-slots * per_slot // 8) + slots * INDEX_BYTES_PER_SLOT
    return max(routed, _bytes(T * (d + 3 * m.d_ff_shared), p.bits))


def expert_width(arch: Architecture) -> int:
    """Elements per routed slot alive in the expert's gate, beside its gathered input: gate-up
    output, activation and product, 4·I_e; gpt-oss's clamped SwiGLU (``GptOssExperts._apply_gate``:
    clamp(gate), clamp(up), gate·σ(α·gate), up + 1, their product) on the biased gate-up output, with
    the gathered biases still bound (``grouped_mm_experts_forward``): 2·I_e + 2·I_e + 5·I_e."""
    m = arch.moe
    assert m is not None, "expert_width needs an MoE architecture"
    return (2 + 2 + 5 if arch.modeling.clamped_swiglu else 4) * m.d_ff_expert


def expert_loop_phase(arch: Architecture, p: Prefill) -> int:
    """Experts run one at a time in Python (transformers ``DbrxExperts.forward``): the output
    accumulator T·d (``zeros_like``), the int64 one-hot routing mask T·k·(E + 1), and one expert's
    T·k/E slots (balanced routing) holding the gathered input and the gated MLP's intermediates
    (d + 4·I_e)."""
    m, T, d = arch.moe, p.n_tokens, arch.d_model
    assert m is not None, "expert_loop_phase needs an MoE architecture"
    mask = T * m.top_k * (m.n_experts + 1) * POSITION_ID_BYTES
    slots = -(-T * m.top_k // m.n_experts)
    return _bytes(T * d + slots * (d + 4 * m.d_ff_expert), p.bits) + mask


def logits_phase(arch: Architecture, p: Prefill) -> int:
    """b·V logits (T·V when scoring every position) in the model dtype, then in fp32."""
    rows = p.batch if p.logits == "last" else p.n_tokens
    return rows * arch.vocab_size * (p.bits + LOGITS_BITS) // 8


def workspace(arch: Architecture, p: Prefill) -> Part:
    """The prefill's activation peak as a tree: what is resident, plus the widest phase."""
    phases = {
        "attention": attention_phase(arch, p),
        "MLP" if not arch.moe else "MoE": mlp_phase(arch, p),
        "logits": logits_phase(arch, p),
        "mixer (SSM, linear attention, conv)": mixer_phase(arch, p),
    }
    widest = max(phases, key=lambda k: phases[k])
    return group("activations", [resident(arch, p), leaf(f"{widest} (widest phase)", phases[widest])])
