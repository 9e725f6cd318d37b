"""The ``Architecture``: one vocabulary for every transformer llmsize sizes.

Every source (explicit flags, a Hugging Face ``config.json``, GGUF metadata, the bundled catalog)
is turned into this one frozen dataclass; every formula reads only from it.

Attention heads, as stored (``a`` query heads share ``k`` key/value heads, ``a/k`` per group)::

    MHA  k = a        GQA  1 < k < a        MQA  k = 1
    q: ▢▢▢▢▢▢▢▢       q: ▢▢▢▢▢▢▢▢           q: ▢▢▢▢▢▢▢▢
    k: ▢▢▢▢▢▢▢▢       k: ▢ ▢ ▢ ▢            k: ▢
    v: ▢▢▢▢▢▢▢▢       v: ▢ ▢ ▢ ▢            v: ▢

``head_dim`` is a field of its own, never assumed to be ``d_model / n_heads``: Qwen3-32B has
d=5120, a=64 and head_dim=128 (not 80); Gemma-7B has d=3072, a=16 and head_dim=256.

Rosetta table: our field ↔ HF ``config.json`` key (most common spelling; per-family aliases live in
``sources/hf_families.py``) ↔ GGUF key (``{arch}`` is ``general.architecture``) ↔ paper symbol.

=====================  ===========================  ==================================  ======
ours                   HF config.json               GGUF                                symbol
=====================  ===========================  ==================================  ======
n_layers               num_hidden_layers            {arch}.block_count                  L
d_model                hidden_size                  {arch}.embedding_length             d (h)
n_heads                num_attention_heads          {arch}.attention.head_count         a
n_kv_heads             num_key_value_heads          {arch}.attention.head_count_kv      k
head_dim               head_dim                     {arch}.attention.key_length         d_h
d_ff                   intermediate_size            {arch}.feed_forward_length          I
vocab_size             vocab_size                   tokenizer.ggml.tokens (length)      V
max_position           max_position_embeddings      {arch}.context_length               s_max
tie_embeddings         tie_word_embeddings          (no output.weight tensor)           —
sliding_window         sliding_window               {arch}.attention.sliding_window     w
norm_eps (not kept)    rms_norm_eps                 {arch}.attention.layer_norm_rms_eps ε
moe.n_experts          num_local_experts/n_routed…  {arch}.expert_count                 E
moe.top_k              num_experts_per_tok          {arch}.expert_used_count            k_e
moe.d_ff_expert        moe_intermediate_size        {arch}.expert_feed_forward_length   I_e
moe.n_shared_experts   n_shared_experts             {arch}.expert_shared_count          E_s
mla.kv_lora_rank       kv_lora_rank                 {arch}.attention.kv_lora_rank       d_c
mla.q_lora_rank        q_lora_rank                  {arch}.attention.q_lora_rank        d'_c
mla.qk_rope_head_dim   qk_rope_head_dim             {arch}.rope.dimension_count         d^R_h
mla.v_head_dim         v_head_dim                   {arch}.attention.value_length       d_h(v)
per_layer_input.d      hidden_size_per_layer_input  {arch}.embedding_length_per_layer_input  p
altup_inputs           altup_num_inputs             {arch}.altup.num_inputs             K
laurel_rank            laurel_rank                  (laurel_l tensor shape)             r
kv_shared_layers       num_kv_shared_layers         {arch}.attention.shared_kv_layers   L_s
d_ff_layers            intermediate_size (a list)   {arch}.feed_forward_length (array)  I_l
=====================  ===========================  ==================================  ======

Symbols follow Vaswani et al. 2017 and Korthikanti et al. 2022 (arXiv 2205.05198) for dense
transformers, and DeepSeek-V2 (arXiv 2405.04434, §2.1) for MLA.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import prod

from .errors import ConfigError
from .limits import MAX_CONTEXT, MAX_EXPERTS, MAX_HEADS, MAX_LAYERS, MAX_VOCAB, MAX_WIDTH

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any, Literal

    Kind = Literal["decoder", "encoder", "encoder-decoder"]
    NormType = Literal["layernorm", "rmsnorm"]
    NormPlacement = Literal["pre", "post", "sandwich"]
    Position = Literal["learned", "rotary", "alibi", "relative", "none"]
    QKNorm = Literal["none", "head", "full"]
    # The token mixer of each layer (see ``LAYER_KINDS``)
    LayerType = Literal["full", "sliding", "parallel", "linear", "mamba", "conv", "none", "cross"]
    Head = Literal["lm", "mlm", "none"]


class ArchitectureError(ConfigError):
    """An architecture whose numbers cannot describe a real model (names the model and the field)."""


@dataclass(frozen=True)
class MLA:
    """Multi-head latent attention, DeepSeek-V2 (arXiv 2405.04434) §2.1, Eq. 9–19.

    Keys and values are compressed into a latent of width ``kv_lora_rank`` (d_c); the decoupled
    rotary key has ``qk_rope_head_dim`` (d^R_h) per token, shared by all heads. Queries go through a
    low-rank ``q_lora_rank`` (d'_c) bottleneck, or a plain projection when it is ``None``.
    """

    kv_lora_rank: int
    q_lora_rank: int | None
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int

    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim


@dataclass(frozen=True)
class MoE:
    """Mixture-of-experts feed-forward (Shazeer et al. 2017; Fedus et al. 2021; DeepSeekMoE 2401.06066).

    ``layers`` lists the indices of the layers whose MLP is routed; the others are dense with the
    architecture's ``d_ff``. Shared experts (DeepSeekMoE §3.2, Qwen-MoE) see every token.
    """

    n_experts: int
    top_k: int
    d_ff_expert: int
    layers: tuple[int, ...]
    n_shared_experts: int = 0
    d_ff_shared: int = 0  # total width of the shared expert MLP (0 = none)
    shared_expert_gate: bool = False  # Qwen-MoE: sigmoid gate Linear(d, 1) on the shared expert
    router_bias: bool = False  # a bias on the router Linear(d, E) (ERNIE 4.5: its score-correction γ)
    expert_bias: bool = False  # biases on every expert's projections (gpt-oss); shared experts and
    # dense MLPs follow the architecture's ``mlp_bias`` (DeepSeek-V2 with mlp_bias: true)
    latent_dim: int = 0  # Nemotron-3 ``moe_latent_size``: routed experts run in a latent of this
    # width between fc1_latent_proj (d → latent) and fc2_latent_proj (latent → d); 0 = none

    @property
    def first_dense_layers(self) -> int:
        """How many leading layers are dense (DeepSeek ``first_k_dense_replace``)."""
        return min(self.layers, default=0)


# The token mixer a layer can have, and what it keeps between decoding steps:
LAYER_KINDS: dict[str, str] = {
    "full": "softmax attention over every token; its KV cache grows with the context",
    "sliding": "softmax attention over the last w tokens; its KV cache stops at the window",
    "parallel": "full attention and a Mamba-2 mixer in one layer (Falcon-H1 side by side; Zamba2 a "
                "shared attention block before the mixer): both caches",
    "linear": "linear attention (Gated DeltaNet, Kimi Delta Attention): a conv window and a d_k×d_v "
              "state per head",
    "mamba": "a Mamba / Mamba-2 selective SSM: a conv window and a state of N per channel",
    "conv": "a gated short convolution (LFM2): a conv window only",
    "none": "no token mixer: the layer is an MLP or MoE only (Nemotron-H '-' and 'E' blocks)",
    "cross": "tanh-gated cross-attention to the image tokens instead of self-attention (Llama 3.2 "
             "Vision): its K/V are a fixed size per image, and text-only input skips the layer",
}
ATTENTION_KINDS = ("full", "sliding", "parallel")  # layers with a KV cache
STATE_KINDS = ("parallel", "linear", "mamba", "conv")  # a fixed-size state per sequence


@dataclass(frozen=True)
class Indexer:
    """DeepSeek Sparse Attention's lightning indexer (DeepSeek-V3.2-Exp technical report, 2025, §2.1;
    transformers 5.24 ``DeepseekV32Indexer``): ``n_heads`` small query heads of width ``head_dim``
    read MLA's query latent, one shared key of width ``head_dim`` per token is cached beside the
    latent, and each query keeps its ``topk`` best-scoring tokens."""

    n_heads: int
    head_dim: int
    topk: int


@dataclass(frozen=True)
class SSM:
    """A selective state-space mixer: Mamba (Gu & Dao 2023, arXiv 2312.00752, §3.4 and Fig. 3) or
    Mamba-2 (Dao & Gu 2024, arXiv 2405.21060, §7 "Mamba-2 architecture", Fig. 6).

    Mamba: ``d_inner`` = expand · d channels, each with a ``d_state``-wide state, a depthwise
    causal conv of width ``d_conv`` and a rank-``dt_rank`` Δ; Jamba adds RMSNorms on Δ, B and C
    (``inner_norms``). Mamba-2: ``n_heads`` heads of ``d_inner / n_heads`` channels share a scalar
    A per head; B and C (``n_groups`` groups of ``d_state``) come from the input projection and go
    through the conv with x; a gated RMSNorm over d_inner precedes out_proj (``gated_norm``)."""

    d_inner: int
    d_state: int
    d_conv: int
    dt_rank: int = 0  # Mamba-1 only
    conv_bias: bool = True
    proj_bias: bool = False
    version: Literal[1, 2] = 1
    n_heads: int = 0  # Mamba-2 heads H
    n_groups: int = 1  # Mamba-2 B/C groups G
    gated_norm: bool = True  # Mamba-2: RMSNormGated(d_inner) before out_proj
    inner_norms: bool = False  # Jamba's Mamba-1: RMSNorms on Δ (r), B and C (N each)
    out_proj_bias: bool | None = None  # None: = proj_bias (Falcon-H1 reads ``projectors_bias``)
    chunk_size: int = 256  # Mamba-2: positions per chunk of the chunked scan (no parameter; workspace)

    @property
    def out_bias(self) -> bool:
        return self.proj_bias if self.out_proj_bias is None else self.out_proj_bias

    @property
    def conv_dim(self) -> int:
        """Channels through the causal conv: d_inner (Mamba-1); d_inner + 2·G·N (Mamba-2: x, B, C)."""
        return self.d_inner + (2 * self.n_groups * self.d_state if self.version == 2 else 0)


@dataclass(frozen=True)
class LinearAttention:
    """Gated DeltaNet (Yang, Kautz & Hatamizadeh 2024, arXiv 2412.06464, §3; Qwen3-Next's
    ``Qwen3NextGatedDeltaNet``): q and k have ``n_k_heads`` heads of ``head_k_dim``, v and the
    output gate z ``n_v_heads`` of ``head_v_dim``; q, k, v pass a depthwise causal conv of width
    ``d_conv``; each value head keeps a d_k × d_v recurrent state.

    ``variant`` "kda" is Kimi Delta Attention (Kimi Linear, arXiv 2510.26692, §3; transformers 5.24
    ``KimiLinearDeltaAttention``): the same state and conv, but a per-channel forget gate and an
    output gate, each through a rank-d_k bottleneck, and one width for every head (k = v)."""

    n_k_heads: int
    n_v_heads: int
    head_k_dim: int
    head_v_dim: int
    d_conv: int
    variant: Literal["gated_deltanet", "kda"] = "gated_deltanet"

    @property
    def key_dim(self) -> int:
        return self.n_k_heads * self.head_k_dim

    @property
    def value_dim(self) -> int:
        return self.n_v_heads * self.head_v_dim

    @property
    def conv_dim(self) -> int:
        """Channels through the conv: q, k (key_dim each) and v (value_dim)."""
        return 2 * self.key_dim + self.value_dim


@dataclass(frozen=True)
class SharedBlocks:
    """Zamba2's shared transformer blocks (Glorioso et al. 2024, arXiv 2411.15242, §2 and Fig. 2;
    transformers 5.24 ``Zamba2AttentionDecoderLayer``, ``Zamba2HybridLayer``).

    ``n_blocks`` attention + MLP blocks whose weights the hybrid layers call in turn (ABAB…).
    Each block reads [h; x_emb], the hidden state concatenated with the token embedding (width
    2d), through an RMSNorm of 2d; its attention has ``n_heads`` heads of 2d / a and no biases;
    then an RMSNorm of d and a gated MLP whose gate and up share one Linear(d, 2I). Every call
    has its own LoRA-style adapter (rank ``adapter_rank``) on gate_up, and on q, k and v when
    ``attention_adapters``; every hybrid layer adds a Linear(d, d) after the block.

    ``tied`` False: transformers 5.24 ties the blocks only with ``tie_word_embeddings``
    (``PreTrainedModel.get_expanded_tied_weights_keys`` returns nothing without it), so each call
    then builds its own copy of its block, with the adapters of every call of that block.
    """

    n_blocks: int
    adapter_rank: int
    attention_adapters: bool = False
    tied: bool = True

    def owners(self, calls: int) -> list[tuple[int, int]]:
        """(call index, block index) of each block copy the model holds: the first call of each
        block when tied, every call when not."""
        return [(j, j % self.n_blocks) for j in range(min(self.n_blocks, calls) if self.tied else calls)]

    def adapter_calls(self, block: int, calls: int) -> range:
        """The calls whose adapters a copy of ``block`` holds (``i % M == block``)."""
        return range(block, calls, self.n_blocks)


@dataclass(frozen=True)
class ShortConv:
    """LFM2's gated short convolution (``Lfm2ShortConv``): in_proj d → 3d (B, C, x), a depthwise
    causal conv of width ``d_conv`` over B·x, C· the result, out_proj d → d."""

    d_conv: int
    bias: bool = False


@dataclass(frozen=True)
class VisionFacts:
    """What one family's vision code builds (transformers 5.24): one record per ``VisionTower.kind``
    in ``VISION_KINDS``, read by the parameter tree (``parameters.vision_part``) and the tensor list
    (``formats/tensors.py``) alike.

    Every tower is a ViT (Dosovitskiy et al. 2021 §3.1): a patch embedding, optional positions,
    L_v pre-norm layers (q k v o with biases, whether fused into one qkv or not; an MLP), and a
    projector into the text model's width. The facts below are what differs between families.
    """

    norm: NormType = "layernorm"  # the tower's norms: LayerNorm (γ, β) or RMSNorm (γ)
    gated_mlp: bool = False  # SwiGLU gate, up, down (Qwen2.5-VL) or fc1, fc2; biased either way
    # the patch embedding: Conv2d(C, d_v, p), Conv3d(C, d_v, (t, p, p)) or an unfold + Linear(C·p², d_v)
    patch: Literal["conv2d", "conv3d", "linear"] = "conv2d"
    patch_bias: bool = True
    # learned positions: one row per patch (an nn.Embedding), per patch plus a class token (an
    # nn.Parameter, Llama 4), a table of ``position_rows`` resampled to each image (Qwen3-VL), none
    positions: Literal["patches", "patches+class", "table", "none"] = "patches"
    pre_norm: bool = False  # a LayerNorm before the layers (Llama 4)
    post_norm: bool = True  # a LayerNorm after the layers (SigLIP, Llama 4)
    # Gemma 3: RMSNorm + W; Llama 4: pixel-shuffle adapter + W; Qwen: PatchMerger (norm, 2-layer MLP)
    projector: Literal["gemma3", "llama4", "merger"] = "gemma3"


_QWEN2_VIT = VisionFacts(patch="conv3d", patch_bias=False, positions="none", post_norm=False,
                         projector="merger")

# One record per vision family (``VisionTower.kind``), read from each modeling file:
VISION_KINDS: dict[str, VisionFacts] = {
    # modeling_siglip.py SiglipVisionTransformer + modeling_gemma3.py Gemma3MultiModalProjector
    "gemma3": VisionFacts(),
    # modeling_llama4.py Llama4VisionModel (Llama4UnfoldConvolution, class_embedding,
    # positional_embedding_vlm, layernorm_pre/post, Llama4VisionPixelShuffleMLP) + projector
    "llama4": VisionFacts(patch="linear", patch_bias=False, positions="patches+class", pre_norm=True,
                          projector="llama4"),
    # modeling_qwen2_vl.py Qwen2VisionTransformerPretrainedModel: PatchEmbed (Conv3d, no bias),
    # Qwen2VLVisionBlock (LayerNorm, qkv + proj, fc1/fc2 of width embed_dim · mlp_ratio), PatchMerger
    "qwen2_vl": _QWEN2_VIT,
    # modeling_qwen2_5_vl.py: RMSNorms, a biased SwiGLU MLP, an RMSNorm in the merger; window
    # attention (fullatt_block_indexes) changes no count
    "qwen2_5_vl": replace(_QWEN2_VIT, norm="rmsnorm", gated_mlp=True),
    # modeling_qwen3_vl.py Qwen3VLVisionModel (and Qwen3.5's, without deepstack): a biased Conv3d,
    # a learned pos_embed of num_position_embeddings rows, LayerNorms, fc1/fc2, a merger, and one
    # more merger (normed after the 2×2 shuffle) per deepstack_visual_indexes entry
    "qwen3_vl": replace(_QWEN2_VIT, patch_bias=True, positions="table"),
}


@dataclass(frozen=True)
class VisionTower:
    """A ViT image encoder and its projector into the text model; ``kind`` names the family, whose
    facts (norms, MLP, patch embedding, positions, projector) are in ``VISION_KINDS``.

    Radford et al. 2021 (CLIP) / Zhai et al. 2023 (SigLIP) for Gemma 3's tower; Llama 4's vision
    model; Qwen2-VL (arXiv 2409.12191 §2.1: a 675M ViT, 2×2 patches merged by an MLP), Qwen2.5-VL
    (arXiv 2502.13923 §2.1: RMSNorm and SwiGLU) and Qwen3-VL (DeepStack: arXiv 2406.04334).
    The tower keeps no KV cache: only the text model caches.
    """

    n_layers: int
    d_model: int
    n_heads: int
    d_ff: int
    patch_size: int
    image_size: int = 0  # SigLIP, Llama 4: the square image the position table covers
    channels: int = 3
    kind: Literal["gemma3", "llama4", "qwen2_vl", "qwen2_5_vl", "qwen3_vl"] = "gemma3"
    # Llama 4 (modeling_llama4.py Llama4VisionModel): the pixel-shuffle adapter's fc1 (I_v → d_a)
    # and fc2 (d_a → d_a); the projector's input width (vision_output_dim)
    adapter_dim: int = 0
    output_dim: int = 0  # Llama 4: vision_output_dim; Qwen: the merger's output (out_hidden_size)
    temporal_patch: int = 1  # Qwen: frames per patch (temporal_patch_size), the Conv3d's depth
    merge: int = 1  # Qwen: spatial_merge_size m; the merger reads m² patches at once
    position_rows: int = 0  # Qwen3-VL: num_position_embeddings
    deepstack: int = 0  # Qwen3-VL: one extra merger per deepstack_visual_indexes entry

    @property
    def facts(self) -> VisionFacts:
        return VISION_KINDS[self.kind]

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def patch_in(self) -> int:
        """Inputs of one patch: C · p² (· t frames for a Conv3d)."""
        t = self.temporal_patch if self.facts.patch == "conv3d" else 1
        return self.channels * t * self.patch_size ** 2

    @property
    def merged_width(self) -> int:
        """Qwen's merger input: m² patches of d_v, concatenated."""
        return self.merge ** 2 * self.d_model


@dataclass(frozen=True)
class MllamaVision:
    """Llama 3.2 Vision's image encoder and projector (transformers 5.24 ``modeling_mllama.py``
    MllamaVisionModel; Llama 3 Herd of Models, arXiv 2407.21783, §7.2).

    An image is cut into up to ``max_num_tiles`` tiles of image_size²; each tile is
    (image_size/p)² patches (Conv2d without bias) plus a class token. Learned positions are gated
    by tanh and joined by tile-position tables, one row per supported aspect ratio (+ padding):
    before the local encoder, inside the gated positional embedding, and before the global
    encoder. ``n_layers`` local ViT layers (unbiased q k v o, biased fc1 fc2, two LayerNorms),
    then ``n_global_layers`` with tanh gates on attention and MLP; LayerNorms before and after the
    local encoder. The projector W ∈ R^{d_out×d} (+ bias) maps the concatenated final and
    intermediate hidden states (``output_dim`` wide) to the text width. The text model's
    cross-attention layers read its output: ``tokens_per_image`` K/V rows per image."""

    n_layers: int
    d_model: int
    n_heads: int
    d_ff: int
    patch_size: int
    image_size: int
    channels: int = 3
    n_global_layers: int = 8
    max_num_tiles: int = 4
    n_aspect_ratios: int = 8  # len(supported_aspect_ratios); the tables have one more row
    output_dim: int = 7680  # vision_output_dim

    @property
    def n_patches(self) -> int:
        """Patches of one tile plus its class token (``MllamaVisionModel.num_patches``)."""
        return (self.image_size // self.patch_size) ** 2 + 1

    @property
    def tokens_per_image(self) -> int:
        """Vision tokens one image gives the cross-attention layers: every tile, padded ones too
        (the processor pads to max_num_tiles), each with its class token: T · ((S/p)² + 1)."""
        return self.max_num_tiles * self.n_patches


@dataclass(frozen=True)
class PerLayerInput:
    """Gemma 3n's per-layer embeddings (PLE; transformers 5.24 ``Gemma3nTextModel``): a second token
    table of ``vocab_size`` rows holds, for every token, one vector of width ``d`` (p) per layer
    (V_p × L·p); a projection of the token embedding (d → L·p, then an RMSNorm of width p) is added
    to it, and each layer gates its slice into the residual stream (``per_layer_input_gate`` d → p,
    ``per_layer_projection`` p → d and an RMSNorm of width d)."""

    d: int  # hidden_size_per_layer_input, p
    vocab_size: int  # vocab_size_per_layer_input, V_p


@dataclass(frozen=True)
class Gemma4Text:
    """What Gemma 4's text model (transformers 5.24 ``modeling_gemma4.py`` Gemma4TextModel) has
    beyond Gemma 3's sandwich-normed, QK-normed attention; the architecture's ``head_dim`` and
    ``n_kv_heads`` are those of its sliding-window layers.

    - Full-attention layers have heads of ``global_head_dim`` and ``global_kv_heads`` key/value
      heads; with ``k_eq_v`` they have no v_proj (the values are the keys before k_norm and RoPE).
      Keys and values have an RMSNorm each (v_norm without a weight).
    - KV sharing: the last ``kv_shared_layers`` layers read the keys and values of the last
      earlier layer of their type: no k_proj, v_proj or k_norm, and nothing cached; with
      ``double_wide_mlp`` their MLP is 2·I wide.
    - Per-layer embeddings (PLE, ``ple_dim`` > 0): a table V_p × L·p and a projection d → L·p
      feed each layer a p-wide input through its gate d → p and projection p → d.
    - The MoE block (``Architecture.moe``, every layer): the dense MLP (a shared expert) beside E
      routed experts, a router with a d-wide scale and one scale per expert, and three more norms.
    """

    global_head_dim: int
    global_kv_heads: int
    k_eq_v: bool = False
    kv_shared_layers: int = 0
    double_wide_mlp: bool = False
    ple_dim: int = 0  # hidden_size_per_layer_input p
    ple_vocab: int = 0  # vocab_size_per_layer_input V_p

    def shares_kv(self, n_layers: int, i: int) -> bool:
        """Whether layer ``i`` reuses an earlier layer's keys and values (``kv_sharing_modes``)."""
        return i >= n_layers - self.kv_shared_layers


@dataclass(frozen=True)
class Gemma4Vision:
    """Gemma 4's image encoder (``Gemma4VisionModel``) and its projector ``embed_vision``: a
    patch Linear(3·p², d_v) without bias, a learned 2 × P × d_v table of x and y positions,
    L_v layers like the text model's (q k v o of ``head_dim`` heads without biases, q/k norms,
    a weightless v norm, a GeGLU MLP, four RMSNorms), no final norm; then a weightless RMSNorm
    and Linear(d_v, d)."""

    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    d_ff: int
    patch_size: int
    position_rows: int  # position_embedding_size P


@dataclass(frozen=True)
class Gemma4Audio:
    """Gemma 4's audio encoder (``Gemma4AudioModel``, a Conformer after USM, arXiv 2303.01037)
    and its projector ``embed_audio``: two 3×3 stride-2 convs (c₀, c₁ channels, no bias, each
    with a bias-free LayerNorm) and Linear((c₀/4)·c₁, d_a); L_a Conformer layers (two 4·d_a
    feed-forwards, chunked attention with a relative-key projection and a per-dim scale, a
    light conv with a depthwise kernel of ``conv_kernel``, RMSNorms); Linear(d_a, d_out) with
    bias; then a weightless RMSNorm and Linear(d_out, d)."""

    n_layers: int
    d_model: int
    n_heads: int
    conv_channels: tuple[int, int]
    conv_kernel: int
    output_dim: int


@dataclass(frozen=True)
class TensorSpec:
    """One parameter tensor: its GGUF-style name, PyTorch shape, role and decoder layer (or None).

    ``formats/tensors.py`` lists them for a native architecture; the transformers-backed path
    (``sources/transformers_path.py``) reads them off the model built on the meta device."""

    name: str
    shape: tuple[int, ...]
    role: str
    layer: int | None = None

    @property
    def numel(self) -> int:
        return prod(self.shape)

    @property
    def is_matrix(self) -> bool:
        """A weight a quantizer packs: a 2-D (or stacked 3-D) ``.weight`` that is neither a norm
        nor a convolution. Biases, norms, Mamba's A and D and conv kernels never are."""
        return (self.name.endswith(".weight") and len(self.shape) >= 2 and self.role != "norm"
                and "conv" not in self.name)

    @property
    def module(self) -> str:
        """embeddings, layers, final_norm, head or vision: where the tensor sits in the model."""
        if self.layer is not None:
            return "layers"
        if self.role == "vision":
            return "vision"
        if self.name.startswith(("token_embd", "position_embd", "token_types", "project_in",
                                 "per_layer_", "altup_proj")):  # Gemma 3n's and Gemma 4's input side
            return "embeddings"
        return "final_norm" if "output_norm" in self.name else "head"


@dataclass(frozen=True, eq=True)
class TransformersModel:
    """A model counted by ``transformers`` rather than by llmsize's formulas (a ``model_type``
    llmsize has no adapter for): the class in ``architectures[0]`` built on the meta device.

    ``tensors`` are its unique parameters (a tied head once), each with a role read off its module
    path; ``embedding_params`` counts every ``nn.Embedding`` weight and an untied output
    embedding (the non-embedding convention of ``parameters.embedding_params``);
    ``state_bytes`` is what its cache keeps per sequence whatever the length (recurrent and conv
    states, bf16), read off transformers' own cache after a step on the meta device, or None when
    that step could not run there."""

    version: str  # transformers.__version__
    model_class: str
    tensors: tuple[TensorSpec, ...] = field(repr=False)
    embedding_params: int
    active_params: int  # parameters one token passes through (routed experts: k of E)
    state_bytes: int | None = None

    def __hash__(self) -> int:  # the tensors are many; the class, version and sizes key it well
        return hash((self.version, self.model_class, len(self.tensors), self.embedding_params,
                     self.active_params, self.state_bytes))

    @property
    def total(self) -> int:
        return sum(t.numel for t in self.tensors)


# --- family facts of the modeling code -------------------------------------------------------


@dataclass(frozen=True)
class Modeling:
    """What a family's ``transformers`` modeling code (5.24) does that changes memory but not the
    parameter count: one record per ``model_type`` in ``MODELING``, read by the prefill workspace,
    the training activations, LoRA and the GGUF mixtures alike.

    Eager attention (``eager_attention_forward`` and its family variants) holds s²-sized tensors
    (scores, masked scores, probabilities, casts): ``eager_peak`` counts those alive at the forward
    pass's peak as (copies in the model dtype, copies in fp32), measured with PyTorch's MemTracker
    under FakeTensorMode in bf16 and fp32. ``softmax_fp32``: the probabilities (what backward keeps)
    are fp32, or in the model dtype.
    """

    softmax_fp32: bool = True  # modeling_llama.py: softmax(…, dtype=torch.float32).to(query.dtype)
    eager_peak: tuple[int, int] = (3, 1)  # scores, masked, fp32 softmax and its cast back: 3B + 4 (llama)
    fused_qkv: bool = False  # q, k and v come from one Linear: peft adapts it as one module
    qkv_views: bool = False  # q, k, v reach eager as views of that output: eager copies k^T and v
    fused_gate_up: bool = False  # gate and up come from one Linear
    fp32_norm: bool = False  # the norm's γ·x̂ is computed in fp32
    cat_rotary: bool = False  # partial rotary rebuilds q and k with torch.cat
    fp32_rotary: bool = False  # cos and sin are kept in fp32
    fp32_router: bool = False  # the router's linear runs on an fp32 copy of its input
    moe_all_experts: bool = False  # every token goes through every expert (Llama 4's bmm experts)
    fp32_routing_weights: bool = False  # routing weights stay fp32: the weighted expert outputs are fp32
    fp32_rotary_math: bool = False  # rotary computed on fp32 copies of q and k, tables interleaved (ERNIE)
    clamped_swiglu: bool = False  # gpt-oss's expert gate: clamps, sigmoid(α·gate), (up + 1)·glu; biased
    qkv_kept: bool = False  # q, k, v are views of one projection output bound through attention (DBRX)
    expert_loop: bool = False  # a Python loop over the experts hit, one expert's tokens at a time (DBRX)
    separate_expert_weights: bool = False  # gate, up and down as three tensors (DBRX's w1, v1, w2)
    fused_qkvz: bool = False  # Gated DeltaNet: one in_proj_qkvz whose output outlives the conv (Qwen3-Next)
    fp32_logits: bool = False  # lm_head(…).float(): only the fp32 logits outlive the head
    llamacpp_arch: str | None = None  # llama.cpp's LLM_ARCH_* where its quantization mixture asks
    mlp_live_hidden: int = 2  # d-wide states alive beside the MLP's intermediates (Gemma 3n: 6)
    mlp_keeps_gate: bool = False  # the MLP keeps gate_proj's output referenced (a 4th I-wide tensor)


_FP32_NORM = Modeling(fp32_norm=True)
# Each record was set from its own family's MemTracker measurements: those families are the
# calibration column of the terms they change (validation/calibration.py), never the held-out one.
MODELING: dict[str, Modeling] = {
    # modeling_gpt2.py eager_attention_forward: softmax(attn_weights, dim=-1) on model-dtype scores
    "gpt2": Modeling(softmax_fp32=False, eager_peak=(2, 0), fused_qkv=True, qkv_views=True),
    # modeling_gptj.py eager_attention_forward: matmul(query.to(torch.float32), key.to(torch.float32)),
    # softmax in fp32, .to(value.dtype): masked scores and softmax in fp32, one cast (B + 8 bytes)
    "gptj": Modeling(eager_peak=(1, 2)),
    # modeling_falcon.py FalconAttention.forward, rotary branch (alibi is None): F.softmax(scores +
    # mask, dim=-1, dtype=hidden_states.dtype) stays in the model dtype; 4B measured (falcon-7b,
    # falcon-40b). The ALiBi branch (falcon-rw) upcasts its scores to fp32 first: not measured.
    "falcon": Modeling(softmax_fp32=False, eager_peak=(4, 0), fused_qkv=True, llamacpp_arch="falcon"),
    "gpt_bigcode": Modeling(fused_qkv=True), "gpt_neox": Modeling(fused_qkv=True),
    "bloom": Modeling(fused_qkv=True), "mpt": Modeling(fused_qkv=True),
    "phi3": Modeling(fused_qkv=True, fused_gate_up=True),
    "phi": Modeling(cat_rotary=True),
    "gemma": _FP32_NORM, "gemma2": _FP32_NORM, "gemma3": _FP32_NORM, "gemma3_text": _FP32_NORM,
    # modeling_gemma3n.py Gemma3nTextDecoderLayer: the normed input, LAuReL's output, attn,
    # attn_gated, attn_laurel and attn_norm are all referenced while the MLP runs; Gemma3nTextMLP
    # names gate_proj's output, which stays alive beside act(gate), up and their product
    "gemma3n_text": Modeling(fp32_norm=True, mlp_live_hidden=6, mlp_keeps_gate=True),
    # modeling_gemma4.py Gemma4RMSNorm: _norm(hidden_states.float()), like Gemma 3's (not measured)
    "gemma4_text": _FP32_NORM,
    "olmo2": Modeling(fp32_norm=True, fp32_rotary=True), "olmo3": _FP32_NORM,
    "deepseek_v2": Modeling(fp32_router=True),
    # modeling_deepseek_v3.py / _v32 DeepseekV3TopkRouter: topk_weights gathered from the fp32 sigmoid
    # scores (as GLM-4.5's): the weighted expert outputs are fp32 (measured on deepseek-v3.2)
    "deepseek_v3": Modeling(fp32_router=True, fp32_routing_weights=True),
    "deepseek_v32": Modeling(fp32_router=True, fp32_routing_weights=True),
    "dots1": Modeling(fp32_router=True, fp32_routing_weights=True),  # Dots1TopkRouter: DeepSeek-V3's
    # modeling_minimax_m2.py MiniMaxM2TopKRouter: sigmoid(router_logits.float()), weights gathered from it
    "minimax_m2": Modeling(fp32_routing_weights=True),
    # modeling_glm4_moe.py: partial rotary (factor 0.5) rebuilds q and k with torch.cat; the router
    # runs F.linear on hidden_states.type(torch.float32)
    "glm4_moe": Modeling(cat_rotary=True, fp32_router=True, fp32_routing_weights=True),
    "glm4": Modeling(cat_rotary=True, fused_gate_up=True),
    # modeling_dbrx.py DbrxExperts.forward: for expert_idx in expert_hit (no experts_implementation
    # switch); DbrxExpertGLU stores w1, v1, w2 as (E·I_e, d) each; DbrxAttention keeps qkv_states
    # (the clamped Wqkv output, of which q, k, v are views) bound until out_proj (measured on dbrx)
    # modeling_ernie4_5.py apply_rotary_pos_emb: (q.float() * cos) + (rotate_half(q).float() * sin),
    # cos and sin repeat_interleave'd to d_h (measured on ernie-4.5-0.3b-pt)
    "ernie4_5": Modeling(fp32_rotary_math=True), "ernie4_5_moe": Modeling(fp32_rotary_math=True),
    # modeling_gpt_oss.py eager_attention_forward: scores, masked, cat with the sinks, minus the max,
    # softmax(dtype=combined_logits.dtype): every s² tensor in the model dtype; GptOssExperts._apply_gate
    "gpt_oss": Modeling(softmax_fp32=False, eager_peak=(3, 0), clamped_swiglu=True),
    "dbrx": Modeling(fused_qkv=True, qkv_kept=True, expert_loop=True, separate_expert_weights=True),
    # modeling_llama4.py Llama4TextMoe: hidden_states.repeat(E, 1) and Llama4TextExperts' bmm send
    # every token through every expert, zero-weighted where not routed
    "llama4_text": Modeling(moe_all_experts=True),
    # modeling_qwen3_next.py Qwen3NextGatedDeltaNet: q, k, v and z are views of in_proj_qkvz's output,
    # z's reshape copies it (Qwen3.5's separate in_proj_qkv is freed by the conv)
    "qwen3_next": Modeling(fused_qkvz=True, fp32_norm=True),
    # modeling_qwen3_5.py Qwen3_5RMSNorm: (x̂ · (1 + γ)) in fp32, as Gemma
    "qwen3_5_text": _FP32_NORM, "qwen3_5": _FP32_NORM,
    # modeling_nemotron_h.py: NemotronHRMSNorm multiplies γ in fp32; NemotronHForCausalLM, like
    # MambaForCausalLM and FalconMambaForCausalLM, returns lm_head(…).float()
    "nemotron_h": Modeling(fp32_norm=True, fp32_logits=True),
    "mamba": Modeling(fp32_logits=True), "falcon_mamba": Modeling(fp32_logits=True),
    # convert_hf_to_gguf.py writes Mistral as llama
    "llama": Modeling(llamacpp_arch="llama"), "mistral": Modeling(llamacpp_arch="llama"),
}
DEFAULT_MODELING = Modeling()


# Integer fields: (least, greatest) value (limits.py); None at construction is allowed where a
# default is derived. A sub-record's fields are checked the same way (``_SUB_FIELDS``).
_INT_FIELDS: dict[str, tuple[int, int]] = {
    "n_layers": (1, MAX_LAYERS), "d_model": (1, MAX_WIDTH), "n_heads": (1, MAX_HEADS),
    "n_kv_heads": (1, MAX_HEADS), "head_dim": (1, MAX_WIDTH), "d_ff": (1, MAX_WIDTH),
    "vocab_size": (1, MAX_VOCAB), "max_position": (1, MAX_CONTEXT), "n_decoder_layers": (1, MAX_LAYERS),
    "d_embed": (1, MAX_WIDTH), "sliding_window": (1, MAX_CONTEXT), "position_rows": (0, MAX_CONTEXT),
    "relative_buckets": (0, MAX_CONTEXT), "token_types": (0, MAX_VOCAB), "vocab_pad_multiple": (1, MAX_VOCAB),
    "vocab_extra_rows": (0, MAX_VOCAB),
    "altup_inputs": (0, MAX_HEADS), "laurel_rank": (0, MAX_WIDTH), "kv_shared_layers": (0, MAX_LAYERS),
}
_SUB_FIELDS: dict[str, dict[str, tuple[int, int]]] = {
    "moe": {"n_experts": (1, MAX_EXPERTS), "top_k": (1, MAX_EXPERTS), "d_ff_expert": (1, MAX_WIDTH),
            "n_shared_experts": (0, MAX_EXPERTS), "d_ff_shared": (0, MAX_WIDTH * MAX_EXPERTS),
            "latent_dim": (0, MAX_WIDTH)},
    "shared_blocks": {"n_blocks": (1, MAX_LAYERS), "adapter_rank": (1, MAX_WIDTH)},
    "mla": {"kv_lora_rank": (1, MAX_WIDTH), "q_lora_rank": (1, MAX_WIDTH),
            "qk_nope_head_dim": (1, MAX_WIDTH), "qk_rope_head_dim": (1, MAX_WIDTH),
            "v_head_dim": (1, MAX_WIDTH)},
    "ssm": {"d_inner": (1, MAX_WIDTH), "d_state": (1, MAX_WIDTH), "d_conv": (1, MAX_WIDTH),
            "dt_rank": (0, MAX_WIDTH)},
    "vision": {"n_layers": (1, MAX_LAYERS), "d_model": (1, MAX_WIDTH), "n_heads": (1, MAX_HEADS),
               "d_ff": (1, MAX_WIDTH), "patch_size": (1, MAX_WIDTH), "image_size": (0, MAX_WIDTH),
               "channels": (1, MAX_WIDTH), "output_dim": (0, MAX_WIDTH), "temporal_patch": (1, MAX_WIDTH),
               "merge": (1, MAX_WIDTH), "position_rows": (0, MAX_CONTEXT), "deepstack": (0, MAX_LAYERS)},
    "per_layer_input": {"d": (1, MAX_WIDTH), "vocab_size": (1, MAX_VOCAB)},
}
_KNOWN_LAYER_TYPES = tuple(LAYER_KINDS)  # the values of ``LayerType``
_DERIVED = ("n_kv_heads", "head_dim", "n_decoder_layers", "d_embed", "sliding_window", "q_lora_rank")


def _check_ints(model: str, prefix: str, record: object, bounds: dict[str, tuple[int, int]]) -> None:
    """Each field of ``record`` named in ``bounds`` is an int within them (None where derived)."""
    for key, (low, high) in bounds.items():
        value = getattr(record, key)
        if value is None and key in _DERIVED:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise ArchitectureError(f"{model}: {prefix}{key} must be an integer, got {value!r:.40}")
        if not low <= value <= high:
            text = str(value) if abs(value) < 10**12 else f"about 10^{len(str(abs(value))) - 1}"
            what = f"positive (at most {high:,})" if low == 1 else f"in {low}..{high:,}"
            raise ArchitectureError(f"{model}: {prefix}{key} is {text}; it must be {what}")


@dataclass(frozen=True)
class Architecture:
    """One transformer, described in llmsize's single vocabulary (see the module docstring)."""

    # --- identity -------------------------------------------------------------------------
    name: str
    model_type: str = "custom"
    kind: Kind = "decoder"

    # --- widths ---------------------------------------------------------------------------
    n_layers: int = 12
    d_model: int = 768
    n_heads: int = 12
    # None at construction means "derive it"; __post_init__ always fills both, so readers see an int
    n_kv_heads: int = None  # type: ignore[assignment]  # None: = n_heads (MHA)
    head_dim: int = None  # type: ignore[assignment]  # None: = d_model // n_heads
    d_ff: int = 3072
    vocab_size: int = 50257
    max_position: int = 2048
    n_decoder_layers: int | None = None  # encoder-decoder only; None: = n_layers
    d_embed: int | None = None  # OPT word_embed_proj_dim; None: = d_model

    # --- attention ------------------------------------------------------------------------
    qkv_bias: bool = False
    o_bias: bool = False
    qk_norm: QKNorm = "none"  # "head": one norm of width head_dim; "full": width heads·head_dim
    qk_norm_bias: bool = False
    attention_sinks: bool = False  # gpt-oss: one learned sink logit per query head and layer
    mla: MLA | None = None
    indexer: Indexer | None = None  # DeepSeek-V3.2's sparse-attention indexer (MLA layers only)
    layer_types: tuple[LayerType, ...] = ()  # each layer's token mixer (LAYER_KINDS); () = all "full"
    sliding_window: int | None = None
    attn_output_gate: bool = False  # Qwen3-Next: q_proj also yields a sigmoid gate on the output

    # --- norms ----------------------------------------------------------------------------
    norm: NormType = "layernorm"
    norm_weight: bool = True  # False: non-parametric LayerNorm (OLMo-1)
    norm_bias: bool = True
    norm_placement: NormPlacement = "pre"
    final_norm: bool = True
    embedding_norm: bool = False  # a norm right after the embeddings (BLOOM, BERT)

    # --- positions ------------------------------------------------------------------------
    position: Position = "rotary"
    position_rows: int = 0  # rows of a learned position table (OPT keeps 2 spare rows)
    relative_buckets: int = 0  # T5 relative-position buckets
    token_types: int = 0  # BERT segment embeddings

    # --- MLP ------------------------------------------------------------------------------
    gated_mlp: bool = True  # SwiGLU/GeGLU: gate, up, down; plain: up, down
    activation: str = "silu"  # HF ``hidden_act``; no parameters, but sets the MLP's temporaries
    mlp_bias: bool = False
    parallel_block: bool = False  # attention and MLP read the same input (GPT-J, Falcon, Phi-2)
    shared_block_norm: bool = False  # parallel block with one norm for both branches

    # --- mixture of experts ---------------------------------------------------------------
    moe: MoE | None = None

    # --- embeddings and head --------------------------------------------------------------
    tie_embeddings: bool = False
    vocab_pad_multiple: int = 1  # Megatron pads V to a multiple of 128·tp; HF configs are padded
    head: Head = "lm"  # "mlm": BERT's dense + norm transform before the tied decoder
    lm_head_bias: bool = False

    # --- other mixers and towers ----------------------------------------------------------
    ssm: SSM | None = None  # the mixer of "mamba" layers
    linear_attn: LinearAttention | None = None  # the mixer of "linear" layers
    short_conv: ShortConv | None = None  # the mixer of "conv" layers
    shared_blocks: SharedBlocks | None = None  # Zamba2: the blocks its "parallel" layers call
    single_block: bool = False  # each layer is one norm + one mixer, or + one MLP/MoE when "none"
    vision: VisionTower | MllamaVision | None = None
    vocab_extra_rows: int = 0  # Mllama: embed_tokens has V + 8 rows, the LM head V
    # Gemma 4 (transformers 5.24 modeling_gemma4.py): its text model's extras and its towers
    gemma4: Gemma4Text | None = None
    gemma4_vision: Gemma4Vision | None = None
    gemma4_audio: Gemma4Audio | None = None

    # --- Gemma 3n (models/gemma3n): per-layer embeddings, AltUp, LAuReL, KV sharing, MatFormer --
    per_layer_input: PerLayerInput | None = None
    altup_inputs: int = 0  # AltUp's K copies of the hidden state (Baykal et al. 2023); 0: none
    laurel_rank: int = 0  # LAuReL's low-rank residual branch d → r → d (Menghani et al. 2024); 0: none
    kv_shared_layers: int = 0  # the last N layers reuse the K/V of the last earlier layer of their type
    d_ff_layers: tuple[int, ...] = ()  # each layer's MLP width (MatFormer slices); (): d_ff everywhere

    # None: counted by llmsize's formulas; else the tensors transformers built (sources/transformers_path.py)
    transformers: TransformersModel | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        fill = object.__setattr__
        self._check_types()
        if self.n_kv_heads is None:
            fill(self, "n_kv_heads", self.n_heads)
        if self.head_dim is None and self.n_heads > 0:
            if self.d_model % self.n_heads:
                raise ArchitectureError(
                    f"{self.name}: hidden size {self.d_model} is not divisible by "
                    f"{self.n_heads} heads, and no head_dim is given"
                )
            fill(self, "head_dim", self.d_model // self.n_heads)
        if not self.layer_types:
            fill(self, "layer_types", ("full",) * self.n_layers)
        self._check()

    def _check_types(self) -> None:
        """Integer fields hold integers within their bounds (None where a default is derived),
        checked before any arithmetic so that a string, a negative or a 10³⁰ from a config is an
        error naming the model and the field, not a crash, minutes of work or a negative count."""
        _check_ints(self.name, "", self, _INT_FIELDS)
        for part, bounds in _SUB_FIELDS.items():
            record = getattr(self, part)
            if record is not None:
                # a field the record's class lacks (MllamaVision has no Qwen merger sizes) is skipped
                own = {k: b for k, b in bounds.items() if hasattr(record, k)}
                _check_ints(self.name, f"{part}.", record, own)

    def _check(self) -> None:
        if self.n_heads % self.n_kv_heads:
            raise ArchitectureError(
                f"{self.name}: {self.n_kv_heads} kv heads do not divide {self.n_heads} attention heads"
            )
        if self.head_dim is not None and self.head_dim <= 0:
            raise ArchitectureError(f"{self.name}: head_dim must be positive, got {self.head_dim}")
        unknown = set(self.layer_types) - set(_KNOWN_LAYER_TYPES)
        if unknown:
            raise ArchitectureError(f"{self.name}: layer_types must each be one of "
                                    f"{', '.join(_KNOWN_LAYER_TYPES)}, got {sorted(unknown)[0]!r}")
        if isinstance(self.vision, VisionTower) and self.vision.kind not in VISION_KINDS:
            raise ArchitectureError(f"{self.name}: vision kind must be one of {', '.join(VISION_KINDS)}, "
                                    f"got {self.vision.kind!r}")
        if self.vision and self.vision.d_model % self.vision.n_heads:
            raise ArchitectureError(f"{self.name}: vision width {self.vision.d_model} is not divisible "
                                    f"by {self.vision.n_heads} heads")
        if len(self.layer_types) != self.n_layers:
            raise ArchitectureError(
                f"{self.name}: {len(self.layer_types)} layer types for {self.n_layers} layers"
            )
        if "sliding" in self.layer_types and not self.sliding_window:
            raise ArchitectureError(f"{self.name}: sliding-window layers need a sliding_window")
        for kind, mixer in (("mamba", self.ssm), ("parallel", self.ssm), ("linear", self.linear_attn),
                            ("conv", self.short_conv)):
            if kind in self.layer_types and mixer is None:
                raise ArchitectureError(f"{self.name}: {kind!r} layers need their mixer's sizes")
        self._check_gemma3n()
        if self.moe and any(not 0 <= i < self.n_layers for i in self.moe.layers):
            raise ArchitectureError(f"{self.name}: MoE layer index outside 0..{self.n_layers - 1}")
        if self.moe and not 0 < self.moe.top_k <= self.moe.n_experts:
            raise ArchitectureError(
                f"{self.name}: top-k {self.moe.top_k} must be in 1..{self.moe.n_experts} experts"
            )

    def _check_gemma3n(self) -> None:
        widths, n = self.d_ff_layers, self.n_layers
        if widths and len(widths) != n:
            raise ArchitectureError(f"{self.name}: {len(widths)} MLP widths for {n} layers")
        if any(not isinstance(f, int) or isinstance(f, bool) or not 1 <= f <= MAX_WIDTH for f in widths):
            raise ArchitectureError(f"{self.name}: each layer's MLP width must be a positive integer "
                                    f"(at most {MAX_WIDTH:,})")
        if self.kv_shared_layers > n:
            raise ArchitectureError(f"{self.name}: {self.kv_shared_layers} KV-sharing layers of {n}")

    # --- derived --------------------------------------------------------------------------
    def ff_width(self, layer: int) -> int:
        """The MLP width of ``layer``: its own (Gemma 3n's MatFormer slices), else d_ff."""
        return self.d_ff_layers[layer] if self.d_ff_layers else self.d_ff

    def is_kv_shared(self, layer: int) -> bool:
        """Whether ``layer`` reuses an earlier layer's keys and values (one of the last
        ``kv_shared_layers``); a T5 decoder's layers, numbered after the encoder's, never do."""
        return self.n_layers - self.kv_shared_layers <= layer < self.n_layers

    @property
    def kv_layer_types(self) -> tuple[LayerType, ...]:
        """The kinds of the layers that keep a cache of their own: all but the last
        ``kv_shared_layers``, which reuse the K/V of the last earlier layer of their type (Gemma 3n,
        ``Gemma3nTextConfig.kv_sharing_modes``; transformers gives them a ``DummyLayer`` cache)."""
        return self.layer_types[: self.n_layers - self.kv_shared_layers]

    @property
    def attention(self) -> Literal["MHA", "GQA", "MQA", "MLA", "SSM"]:
        if not self.n_attention_layers:
            return "SSM"
        if self.mla:
            return "MLA"
        if self.n_kv_heads == self.n_heads:
            return "MHA"
        return "MQA" if self.n_kv_heads == 1 else "GQA"

    @property
    def n_attention_layers(self) -> int:
        """Layers with softmax attention (full or sliding): the only ones with a KV cache."""
        return sum(t in ATTENTION_KINDS for t in self.layer_types)

    @property
    def has_state(self) -> bool:
        """Whether some layer keeps a recurrent state (``STATE_KINDS``) rather than a KV cache."""
        return any(t in STATE_KINDS for t in self.layer_types)

    @property
    def is_hybrid(self) -> bool:
        """Anything but plain softmax attention in some layer (SSM, linear attention, conv,
        MLP-only, attention beside a Mamba mixer); Llama 3.2 Vision's cross-attention layers
        are softmax attention, not a hybrid."""
        return any(t not in ("full", "sliding", "cross") for t in self.layer_types)

    @property
    def counted_by(self) -> Literal["llmsize", "transformers"]:
        """Which path counted the parameters: llmsize's formulas or the transformers model."""
        return "transformers" if self.transformers else "llmsize"

    @property
    def embed_width(self) -> int:
        return self.d_embed or self.d_model

    @property
    def padded_vocab(self) -> int:
        m = self.vocab_pad_multiple
        return -(-self.vocab_size // m) * m

    @property
    def modeling(self) -> Modeling:
        """What this family's modeling code does that changes memory (``MODELING``)."""
        return MODELING.get(self.model_type, DEFAULT_MODELING)

    @property
    def decoder_layers(self) -> int:
        return self.n_decoder_layers if self.n_decoder_layers is not None else self.n_layers

    def with_(self, **changes: Any) -> Architecture:  # each value of its own field's type
        """A copy with some fields changed (re-validated). A new layer count without layer types
        keeps a uniform kind (all Mamba), cuts a hybrid's pattern, and resets attention to full."""
        if "n_layers" in changes and "layer_types" not in changes:
            changes["layer_types"] = self._resized_kinds(changes["n_layers"])
        if "n_layers" in changes and self.d_ff_layers and "d_ff_layers" not in changes:
            changes["d_ff_layers"] = self._resized_widths(changes["n_layers"])
        if "n_layers" in changes and "kv_shared_layers" not in changes:
            changes["kv_shared_layers"] = min(self.kv_shared_layers, changes["n_layers"])
        return replace(self, **changes)

    def _resized_widths(self, n: int) -> tuple[int, ...]:
        if n <= len(self.d_ff_layers):
            return self.d_ff_layers[:n]
        raise ArchitectureError(f"{self.name}: {n} layers need their MLP widths "
                                f"(the config gives {len(self.d_ff_layers)})")

    def _resized_kinds(self, n: int) -> tuple[LayerType, ...]:
        kinds = set(self.layer_types)
        if kinds <= set(ATTENTION_KINDS) - {"parallel"}:
            return ()
        if len(kinds) == 1:
            return (self.layer_types[0],) * n
        if n <= len(self.layer_types):
            return self.layer_types[:n]
        raise ArchitectureError(f"{self.name}: {n} layers of a hybrid need their layer types "
                                f"(the config gives {len(self.layer_types)})")
