"""How the KV cache is made up, per layer type and per engine.

Every attention layer keeps, for every cached token, its keys and values::

    full attention     2 · k · d_h           elements per token and layer (k kv heads, GQA/MQA)
    sliding window     same, but only the last w tokens are kept
    MLA (DeepSeek-V2)  d_c + d^R_h           the compressed latent and the shared rotary key
    + DSA indexer      + d_I                 DeepSeek-V3.2: the indexer's one key per token
    cross-attention    2 · k · d_h           per encoder token, in every decoder layer
    image cross-attn   2 · k · d_h           per image token, in Llama 3.2 Vision's cross layers
                                             (T · ((S/p)² + 1) per image; none for text only)
    SSM (Mamba)        conv_dim · d_conv + d_inner · d_state   per sequence, whatever its length
    Gated DeltaNet     conv_dim · d_conv + H_v · d_k · d_v     per sequence (Qwen3-Next; Kimi
                       Delta Attention the same with H_k = H_v)
    short conv (LFM2)  d · L                                    per sequence
    hybrids            each layer by its kind (``Architecture.layer_types``): only full-attention
                       layers grow with the context
    shared K/V         layers that reuse an earlier layer's keys and values (Gemma 3n's last
                       ``num_kv_shared_layers``) cache nothing of their own
    Gemma 4            full layers 2 · k_g · d_g (their own heads); KV-shared layers: nothing

    bytes = layers · batch · tokens · row_bytes(elements, kv dtype)

``head_dim`` is the architecture's own (Qwen3-32B: 128, not 5120/64 = 80) and ``k`` is the number
of key/value heads, not query heads (Llama-3.1-8B at 8k in bf16: 1 GiB, not 4 GiB).

What an engine stores differs, so each engine profile sizes what that engine keeps. This module
has the rows (bytes per token and layer) every profile uses and the transformers (``hf``) cache:
sliding-window layers keep the last w − 1 tokens, MLA layers the latent d_c + d^R_h (since 5.0),
and the cache grows token by token with no rounding. vLLM's paged pool (whole blocks, windows
plus the chunked-prefill budget, hybrid groups) is in ``vllm.py``; llama.cpp's cache (streams
padded to 256 cells, its sliding-window cache, latent-only MLA since PR #19067) in ``llamacpp.py``.

Sources: transformers 5.24 ``cache_utils.DynamicSlidingWindowLayer`` (keeps ``sliding_window − 1``
tokens) and ``modeling_deepseek_v3.DeepseekV3Attention`` (caches ``kv_nope`` and ``k_rot``; the
4.x releases cached decompressed per-head keys and values, ~9× more for DeepSeek-V2-Lite);
``tests/test_kvcache.py`` checks the hf profile against the cache objects
transformers itself builds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arch import Architecture, MllamaVision
from ..errors import ConfigError
from ..tree import Part, group, leaf

ENGINES = ("hf",)  # vLLM and llama.cpp size their pools in their own modules

# KV cache element formats: (elements per block, bytes per block). llama.cpp quantizes each
# cached row in blocks of 32 (ggml type traits: Q8_0 = fp16 scale + 32 int8, Q4_0 = fp16 scale
# + 32 nibbles); the float formats are blocks of one.
QK = 32
KV_FORMATS: dict[str, tuple[int, int]] = {
    "fp32": (1, 4),
    "fp16": (1, 2),
    "bf16": (1, 2),
    "fp8": (1, 1),
    "fp8_e4m3": (1, 1),
    "fp8_e5m2": (1, 1),
    "q8_0": (QK, 2 + QK),  # fp16 scale + 32 int8
    "q5_1": (QK, 2 + 2 + 4 + QK // 2),  # fp16 scale and min, 32 high bits, 32 nibbles
    "q5_0": (QK, 2 + 4 + QK // 2),
    "q4_1": (QK, 2 + 2 + QK // 2),
    "q4_0": (QK, 2 + QK // 2),
    "iq4_nl": (QK, 2 + QK // 2),
}
_SPELLINGS = {"f32": "fp32", "f16": "fp16", "float32": "fp32", "float16": "fp16", "bfloat16": "bf16",
              "auto": "bf16", "fp8_e4m3fn": "fp8_e4m3"}
# transformers keeps a Mamba layer's recurrent (SSM) state in fp32 whatever the model dtype
# (transformers 5.24 ``cache_utils.LinearAttentionLayer``); the conv state is in the model dtype.
SSM_STATE_BITS = 32


def kv_format(name: str) -> tuple[int, int]:
    """(block elements, block bytes) of a KV dtype name; a ConfigError lists the valid ones."""
    key = name.lower().replace("-", "_")
    key = _SPELLINGS.get(key, key)
    if key not in KV_FORMATS:
        choices = ", ".join(KV_FORMATS)
        raise ConfigError(f"--kv-dtype {name!r}: not a KV cache dtype; choose from {choices}")
    return KV_FORMATS[key]


def row_bytes(elements: int, kv_dtype: str) -> int:
    """Bytes of one cached row of ``elements`` values: ⌈n / block⌉ · block bytes."""
    block, size = kv_format(kv_dtype)
    return -(-elements // block) * size


def kv_heads_per_gpu(arch: Architecture, tp: int) -> int:
    """Key/value heads one tensor-parallel rank holds: max(1, k / tp). With fewer kv heads than
    ranks, each head is replicated (vLLM ``get_num_kv_heads``; Megatron GQA)."""
    return max(1, arch.n_kv_heads // tp)


# --- bytes per token and layer --------------------------------------------------------------


def attention_row(arch: Architecture, *, kv_dtype: str, tp: int = 1) -> int:
    """Bytes one token adds to one attention layer: K and V rows of k·d_h values each
    (Vaswani et al. 2017 §3.2; GQA, Ainslie et al. 2023 §2)."""
    k, d_h = kv_heads_per_gpu(arch, tp), arch.head_dim
    return 2 * row_bytes(k * d_h, kv_dtype)


def mla_row(arch: Architecture, *, kv_dtype: str) -> int:
    """Bytes one token adds to one MLA layer that caches the latent: d_c + d^R_h values
    (DeepSeek-V2, arXiv 2405.04434, §2.1.2: "only c^KV_t and k^R_t need to be cached").
    The latent is shared by all heads, so tensor parallelism replicates it on every rank."""
    mla = arch.mla
    assert mla is not None, "mla_row needs an MLA architecture"
    d_c, d_r = mla.kv_lora_rank, mla.qk_rope_head_dim
    return row_bytes(d_c, kv_dtype) + row_bytes(d_r, kv_dtype)


def indexer_row(arch: Architecture, *, kv_dtype: str) -> int:
    """Bytes one token adds to one layer's sparse-attention indexer: its single key of d_I values
    (DeepSeek-V3.2-Exp §2.1; transformers 5.24 ``cache_utils.DynamicIndexedLayer.indexer_keys``,
    shape [batch, tokens, index_head_dim]); 0 without an indexer."""
    return row_bytes(arch.indexer.head_dim, kv_dtype) if arch.indexer else 0


def token_row(arch: Architecture, *, kv_dtype: str, tp: int = 1) -> int:
    """Bytes per token and attention layer, whichever attention the architecture has."""
    if arch.mla:
        return mla_row(arch, kv_dtype=kv_dtype) + indexer_row(arch, kv_dtype=kv_dtype)
    return attention_row(arch, kv_dtype=kv_dtype, tp=tp)


def kind_row(arch: Architecture, kind: str, *, kv_dtype: str, tp: int = 1) -> int:
    """Bytes one token adds to one attention layer of ``kind``: ``token_row``, except Gemma 4's
    full-attention layers, whose heads have their own width and count (transformers 5.24
    ``Gemma4TextAttention``: ``per_layer_config``'s global_head_dim and kv heads; with K = V the
    cache still holds the keys and the values, normed and rotated apart)."""
    g = arch.gemma4
    if g and kind == "full":
        return 2 * row_bytes(max(1, g.global_kv_heads // tp) * g.global_head_dim, kv_dtype)
    return token_row(arch, kv_dtype=kv_dtype, tp=tp)


def cached_layers(arch: Architecture) -> tuple[int, int]:
    """(full, sliding) attention layers that keep a KV cache ("parallel" counts as full; an
    encoder-decoder's decoder layers are full). Gemma 4's KV-shared layers keep none: transformers
    gives them a ``DummyLayer`` (``cache_utils``, ``kv_sharing_modes`` "reuse")."""
    layers = cache_layer_types(arch)  # Gemma 3n's shared layers cut at the end
    g = arch.gemma4
    kept = [t for i, t in enumerate(layers) if not (g and g.shares_kv(arch.n_layers, i))]
    return sum(t in ("full", "parallel") for t in kept), sum(t == "sliding" for t in kept)


def ssm_state(arch: Architecture, *, kv_dtype: str) -> int:
    """Bytes of one Mamba layer's state for one sequence (Gu & Dao 2023, arXiv 2312.00752, §3.3;
    Mamba-2, arXiv 2405.21060 §7): a conv window of d_conv inputs over the conv channels (d_inner,
    or d_inner + 2·G·N in Mamba-2, whose B and C pass the conv too) plus an SSM state of d_state
    per channel (Mamba-2's H heads × P channels × N is d_inner · N). transformers keeps the conv
    window in the model dtype and the SSM state in fp32 (``LinearAttentionLayer``: the recurrent
    state is allocated like the kernel's fp32 output; Nemotron-H's ``mamba_ssm_cache_dtype``)."""
    s = arch.ssm
    assert s is not None, "ssm_state needs a Mamba architecture"
    conv = row_bytes(s.conv_dim * s.d_conv, kv_dtype)
    return conv + s.d_inner * s.d_state * SSM_STATE_BITS // 8


def deltanet_state(arch: Architecture, *, kv_dtype: str) -> int:
    """Bytes of one Gated DeltaNet layer's state for one sequence (Yang et al. 2024, arXiv
    2412.06464, §2.2: S_t ∈ R^{d_v×d_k} per head): the conv window over q, k, v
    ((2·H_k·d_k + H_v·d_v) · d_conv, model dtype) plus H_v · d_k · d_v in fp32
    (``torch_chunk_gated_delta_rule`` returns its final state in fp32; transformers 5.24
    ``modeling_qwen3_next.py``)."""
    la = arch.linear_attn
    assert la is not None, "deltanet_state needs a linear-attention architecture"
    conv = row_bytes(la.conv_dim * la.d_conv, kv_dtype)
    return conv + la.n_v_heads * la.head_k_dim * la.head_v_dim * SSM_STATE_BITS // 8


def short_conv_state(arch: Architecture, *, kv_dtype: str) -> int:
    """Bytes of one LFM2 short-conv layer's state for one sequence: the last L inputs of its d
    channels in the model dtype (``Lfm2ShortConv``, ``conv_L_cache``); no recurrent state."""
    sc = arch.short_conv
    assert sc is not None, "short_conv_state needs a short-conv architecture"
    return row_bytes(arch.d_model * sc.d_conv, kv_dtype)


# What one layer of each state kind keeps per sequence, and how the tree names it.
STATE_ROWS = {
    "mamba": ("SSM state", ssm_state),
    "parallel": ("SSM state beside attention", ssm_state),
    "linear": ("Gated DeltaNet state", deltanet_state),  # and Kimi Delta Attention (_state_label)
    "conv": ("short-conv state", short_conv_state),
}


def _state_label(arch: Architecture, kind: str) -> str:
    """How the tree names a state kind; Kimi Linear's linear layers are Kimi Delta Attention."""
    if kind == "linear" and arch.linear_attn and arch.linear_attn.variant == "kda":
        return "Kimi Delta Attention state"
    return STATE_ROWS[kind][0]


def state_per_sequence(arch: Architecture, *, kv_dtype: str = "bf16") -> int:
    """Bytes of every recurrent layer's state for one sequence, whatever its length (a model
    counted by transformers: what its cache held after a step on the meta device, in bf16)."""
    measured = (arch.transformers.state_bytes or 0) if arch.transformers else 0
    return measured + sum(
        n * STATE_ROWS[kind][1](arch, kv_dtype=kv_dtype)
        for kind, n in state_layer_counts(arch).items()
    )


def state_layer_counts(arch: Architecture) -> dict[str, int]:
    """How many layers of each state kind (``arch.STATE_KINDS``) the model has."""
    counts: dict[str, int] = {}
    for t in arch.layer_types:
        if t in STATE_ROWS:
            counts[t] = counts.get(t, 0) + 1
    return counts


# --- tokens each layer keeps ----------------------------------------------------------------


def cache_layer_types(arch: Architecture) -> tuple[str, ...]:
    """The kinds of the layers whose keys and values are cached: the decoder's layers of an
    encoder-decoder, else every layer but those that reuse an earlier layer's K/V (Gemma 3n's
    last ``kv_shared_layers``, which transformers gives a ``DummyLayer`` that stores nothing)."""
    return ("full",) * arch.decoder_layers if arch.kind == "encoder-decoder" else arch.kv_layer_types


def window_tokens(arch: Architecture, tokens: int) -> int:
    """Tokens a transformers sliding-window layer keeps: the last w − 1
    (``DynamicSlidingWindowLayer``)."""
    return min(tokens, (arch.sliding_window or tokens + 1) - 1)


def image_tokens(arch: Architecture, images: int) -> int:
    """Vision tokens ``images`` images put in each of Llama 3.2 Vision's cross-attention layers
    (``MllamaVision.tokens_per_image``: 4 tiles × 1,601 = 6,404 for the 560-pixel tiles); 0 for
    any other model."""
    vt = arch.vision
    return images * vt.tokens_per_image if isinstance(vt, MllamaVision) else 0


def cross_layers(arch: Architecture) -> int:
    """Llama 3.2 Vision's cross-attention layers (kind "cross"), whose K/V are the image's."""
    return sum(t == "cross" for t in arch.layer_types)


@dataclass(frozen=True)
class KVRequest:
    """What to size: ``tokens`` of context per sequence, ``batch`` sequences, for an
    encoder-decoder model the encoder length (cross-attention keys and values), and for Llama 3.2
    Vision the ``images`` per sequence whose tokens its cross-attention layers cache. With no
    image those layers are skipped and cache nothing (transformers 5.24 ``MllamaTextModel``:
    ``continue`` when there are no cross_attention_states and none cached)."""

    tokens: int
    batch: int = 1
    kv_dtype: str = "bf16"
    engine: str = "hf"
    tp: int = 1
    encoder_tokens: int = 0
    images: int = 0


def kv_cache(arch: Architecture, req: KVRequest) -> Part:
    """The KV cache as a tree: one leaf per kind of layer, bytes for the whole batch (per GPU
    under tensor parallelism)."""
    if req.engine not in ENGINES:
        raise ConfigError(f"--engine {req.engine!r}: choose from {', '.join(ENGINES)}")
    if arch.kind == "encoder":  # BERT-style encoders attend bidirectionally and cache nothing
        return group("kv_cache", [])
    states = [
        leaf(f"{_state_label(arch, kind)} ({n} layers)",
             n * req.batch * STATE_ROWS[kind][1](arch, kv_dtype=req.kv_dtype))
        for kind, n in state_layer_counts(arch).items()
    ]
    if arch.transformers and arch.transformers.state_bytes:
        states.append(leaf("fixed per-sequence state (transformers' cache, bf16)",
                           req.batch * arch.transformers.state_bytes))
    if arch.kind == "decoder" and not arch.n_attention_layers:
        return group("kv_cache", states)
    row = token_row(arch, kv_dtype=req.kv_dtype, tp=req.tp)
    full_row = kind_row(arch, "full", kv_dtype=req.kv_dtype, tp=req.tp)
    slots = req.tokens
    n_full, n_swa = cached_layers(arch)
    swa = window_tokens(arch, slots) if n_swa else 0
    parts = [
        leaf(f"full attention ({n_full} layers × {slots:,} tokens)", n_full * req.batch * slots * full_row),
        leaf(f"sliding window ({n_swa} layers × {swa:,} tokens)", n_swa * req.batch * swa * row),
        *states,
    ]
    if arch.kind == "encoder-decoder":
        cross = arch.decoder_layers * req.batch * req.encoder_tokens * row
        label = f"cross-attention ({arch.decoder_layers} layers × {req.encoder_tokens:,} tokens)"
        parts.append(leaf(label, cross))
    if n_cross := cross_layers(arch):
        seen = image_tokens(arch, req.images)
        label = f"image cross-attention ({n_cross} layers × {seen:,} image tokens)"
        parts.append(leaf(label, n_cross * req.batch * seen * row))
    return group("kv_cache", parts)


def kv_bytes_per_token(arch: Architecture, *, kv_dtype: str = "bf16", tp: int = 1) -> int:
    """Bytes one more token of context costs across all full-attention layers (per GPU)."""
    return cached_layers(arch)[0] * kind_row(arch, "full", kv_dtype=kv_dtype, tp=tp)
