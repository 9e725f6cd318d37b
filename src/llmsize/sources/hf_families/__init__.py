"""The ``model_type`` families: how each ``transformers`` modeling file maps onto ``Architecture``.

A ``Family`` holds the structural facts of one modeling file (norm type, which projections carry
biases, parallel blocks…), the config keys that switch them with the default the ``transformers``
config class uses when the key is absent (read from transformers 5.24), and ``derive`` rules for
what a table cannot say (Falcon's norms, OPT's position offset, DeepSeek's routed layers…).
``hf_config.py`` reads a ``config.json`` through them.

``FAMILIES`` below is the one place the facts of each family live; the rules it names are in
``attention.py`` (norms, positions, biases, sliding windows, MLA, encoders), ``moe.py`` (routed
layers and experts) and ``hybrid.py`` (Mamba, linear attention and the hybrids' per-layer
mixers), and the shared key aliases in ``keys.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .attention import (
    bert,
    falcon,
    ff_always_4d,
    ff_default_4d,
    gpt_neox,
    head_dim_is_d_over_a,
    learned_positions,
    mla,
    mla_v_default,
    mtp_note,
    multi_query,
    opt,
    qk_norm_flag,
    sliding_after,
    sliding_all,
    sliding_pattern,
    sliding_qwen,
    smollm3,
    stablelm,
    t5,
)
from .gemma3n import DEFAULTS as _GEMMA3N_DEFAULTS
from .gemma3n import gemma3n
from .gemma4 import TEXT_DEFAULTS as _GEMMA4_DEFAULTS
from .gemma4 import gemma4_text
from .hybrid import (
    bamba,
    deltanet_hybrid,
    falcon_h1,
    granitemoehybrid,
    jamba,
    kimi_linear,
    lfm2,
    mamba,
    mamba2,
    nemotron_h,
    qwen3_5_moe,
    qwen3_5_unused,
    qwen3_next,
    zamba2,
)
from .keys import D_FF as D_FF
from .keys import D_MODEL as D_MODEL
from .keys import MAX_POSITION as MAX_POSITION
from .keys import N_HEADS as N_HEADS
from .keys import N_KV_HEADS as N_KV_HEADS
from .keys import N_LAYERS as N_LAYERS
from .keys import size_free
from .mllama import TEXT_DEFAULTS as _MLLAMA_TEXT
from .mllama import VISION_DEFAULTS as _MLLAMA_VISION
from .mllama import mllama_text
from .moe import (
    dbrx,
    indexer,
    llama4,
    moe_deepseek,
    moe_ernie,
    moe_every_layer,
    moe_gpt_oss,
    moe_mixtral,
    moe_olmoe,
    moe_qwen,
)

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any, Literal

    from .keys import Derive


@dataclass(frozen=True)
class Family:
    """How one ``model_type`` maps onto ``Architecture``.

    ``fixed``: structural facts of the modeling code. ``flags``: our field ← (HF key, HF default).
    ``derive``: family-specific rules that the tables cannot say (Falcon's norms, OPT's offset…).
    ``attention``: False for state-space models, whose configs have no head count.
    """

    fixed: Mapping[str, Any] = field(default_factory=dict)
    flags: Mapping[str, tuple[str, Any]] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    derive: tuple[Derive, ...] = ()
    attention: bool = True


# --- the families ---------------------------------------------------------------------------

_LLAMA_FIXED = dict(norm="rmsnorm", norm_bias=False, position="rotary", gated_mlp=True)
_ATTN_BIAS = {"qkv_bias": ("attention_bias", False), "o_bias": ("attention_bias", False)}
_LAYERNORM = dict(norm="layernorm", norm_bias=True)
_GPT2_FIXED = dict(_LAYERNORM, position="learned", gated_mlp=False,
                   qkv_bias=True, o_bias=True, mlp_bias=True)

# The Mamba-2 keys of Bamba and GraniteMoeHybrid, with their config classes' defaults.
_MAMBA2_DEFAULTS = {"mamba_n_heads": 128, "mamba_n_groups": 1, "mamba_d_state": 256, "mamba_d_conv": 4}

# The Gated DeltaNet keys of Qwen3-Next and Qwen3.5, with their config classes' defaults.
_DELTANET_DEFAULTS = {"head_dim": 256, "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128,
                      "linear_value_head_dim": 128, "linear_num_key_heads": 16, "linear_num_value_heads": 32}

# Qwen2VLTextConfig / Qwen2_5_VLTextConfig defaults that change a count or the layer types
_QWEN2_VL_TEXT = {"num_key_value_heads": 8, "sliding_window": 4096, "max_window_layers": 80}

FAMILIES: dict[str, Family] = {
    # models/apertus/modeling_apertus.py builds its MLP without bias and its QK-norm always.
    "apertus": Family(dict(_LLAMA_FIXED, gated_mlp=False, qk_norm="head"), flags=_ATTN_BIAS,
                      defaults={"hidden_act": "xielu"},
                      derive=(size_free("mlp_bias", "qk_norm", "post_norm"),)),
    "cohere2": Family(dict(_LLAMA_FIXED, norm="layernorm", norm_bias=False, parallel_block=True,
                           shared_block_norm=True),
                      flags=_ATTN_BIAS, defaults={"tie_word_embeddings": True},
                      derive=(head_dim_is_d_over_a, sliding_pattern(4, "sliding_window_pattern"),
                              size_free("order_of_interleaved_layers"))),
    "dbrx": Family(dict(_LLAMA_FIXED, norm="layernorm", norm_bias=False), derive=(dbrx,)),
    "deepseek_v32": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)},
                           defaults={"num_key_value_heads": 128, "first_k_dense_replace": 3,
                                     "index_n_heads": 64, "index_head_dim": 128, "index_topk": 2048},
                           derive=(mla, moe_deepseek, indexer)),
    "dots1": Family(dict(_LLAMA_FIXED, qk_norm="head"), flags=_ATTN_BIAS,
                    defaults={"num_key_value_heads": 32, "first_k_dense_replace": 0},
                    derive=(sliding_after, moe_deepseek)),
    "ernie4_5": Family(_LLAMA_FIXED,
                       flags={"qkv_bias": ("use_bias", False), "o_bias": ("use_bias", False),
                              "mlp_bias": ("use_bias", False)},
                       defaults={"tie_word_embeddings": True, "head_dim": 128, "num_key_value_heads": 2}),
    "ernie4_5_moe": Family(_LLAMA_FIXED,  # unlike ERNIE 4.5 dense, the LM head takes a bias too
                           flags={"qkv_bias": ("use_bias", False), "o_bias": ("use_bias", False),
                                  "mlp_bias": ("use_bias", False), "lm_head_bias": ("use_bias", False)},
                           defaults={"tie_word_embeddings": True, "num_key_value_heads": 4,
                                     "moe_num_experts": 64, "moe_k": 6, "moe_num_shared_experts": 2},
                           derive=(moe_ernie,)),
    "exaone4": Family(dict(_LLAMA_FIXED, norm_placement="post", qk_norm="head"),
                      defaults={"num_key_value_heads": 32},
                      derive=(sliding_pattern(4, "sliding_window_pattern", off_when_null=True),)),
    "glm4": Family(dict(_LLAMA_FIXED, norm_placement="sandwich"),
                   flags={"qkv_bias": ("attention_bias", True)},
                   defaults={"head_dim": 128, "num_key_value_heads": 2}),
    "glm4_moe": Family(_LLAMA_FIXED, flags={"qkv_bias": ("attention_bias", False)},
                       defaults={"num_key_value_heads": 8, "n_routed_experts": 128, "num_experts_per_tok": 8,
                                 "n_shared_experts": 1, "moe_intermediate_size": 1408,
                                 "first_k_dense_replace": 1},
                       derive=(qk_norm_flag("use_qk_norm", "head"), moe_deepseek, mtp_note)),
    "gpt2": Family(_GPT2_FIXED, defaults={"tie_word_embeddings": True},
                   derive=(ff_default_4d, learned_positions)),
    "gpt_bigcode": Family(_GPT2_FIXED, defaults={"tie_word_embeddings": True},
                          derive=(ff_default_4d, learned_positions, multi_query)),
    "gptj": Family(dict(_LAYERNORM, gated_mlp=False, mlp_bias=True, parallel_block=True,
                        shared_block_norm=True, lm_head_bias=True),
                   derive=(ff_default_4d,)),
    "gpt_neox": Family(dict(_LAYERNORM, gated_mlp=False, mlp_bias=True),
                       flags=_ATTN_BIAS | {"o_bias": ("attention_bias", True),
                                           "qkv_bias": ("attention_bias", True)},
                       derive=(gpt_neox,)),
    "granitemoe": Family(_LLAMA_FIXED, flags=_ATTN_BIAS,
                         defaults={"num_local_experts": 8, "num_experts_per_tok": 2},
                         derive=(moe_every_layer(("num_local_experts",), ("num_experts_per_tok",)),)),
    "hunyuan_v1_dense": Family(dict(_LLAMA_FIXED, qk_norm="head"), flags=_ATTN_BIAS),
    "hunyuan_v1_moe": Family(dict(_LLAMA_FIXED, qk_norm="head"), flags=_ATTN_BIAS,
                             defaults={"num_experts": 1, "moe_topk": 1},
                             derive=(moe_every_layer(("num_experts", "num_local_experts"),
                                                     ("moe_topk", "num_experts_per_tok"), shared=True),)),
    "minicpm3": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)},
                       defaults={"tie_word_embeddings": True, "num_key_value_heads": 40, "kv_lora_rank": 256,
                                 "q_lora_rank": 768, "qk_nope_head_dim": 64, "qk_rope_head_dim": 32},
                       derive=(mla_v_default, mla)),
    "ministral": Family(_LLAMA_FIXED, defaults={"sliding_window": 4096, "num_key_value_heads": 8},
                        derive=(sliding_all,)),
    "olmo3": Family(dict(_LLAMA_FIXED, norm_placement="post", qk_norm="full"), flags=_ATTN_BIAS,
                    derive=(sliding_pattern(4, "_olmo3_has_no_pattern_key"),)),
    "opt": Family(dict(_LAYERNORM, position="learned", gated_mlp=False),
                  defaults={"tie_word_embeddings": True}, derive=(opt,)),
    "bloom": Family(dict(_LAYERNORM, position="alibi", gated_mlp=False, qkv_bias=True,
                         o_bias=True, mlp_bias=True, embedding_norm=True),
                    defaults={"tie_word_embeddings": True}, derive=(ff_always_4d,)),
    "falcon": Family(dict(_LAYERNORM, gated_mlp=False), defaults={"tie_word_embeddings": True},
                     derive=(ff_default_4d, falcon)),
    "llama": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)}),
    "gpt_oss": Family(dict(_LLAMA_FIXED, attention_sinks=True),
                      flags={"qkv_bias": ("attention_bias", True), "o_bias": ("attention_bias", True)},
                      defaults={"num_local_experts": 128, "num_experts_per_tok": 4, "head_dim": 64,
                                "num_key_value_heads": 8, "sliding_window": 128},
                      derive=(moe_gpt_oss,)),
    "granite": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)}),
    "llama4_text": Family(_LLAMA_FIXED, flags=_ATTN_BIAS,
                          defaults={"num_local_experts": 16, "num_experts_per_tok": 1, "head_dim": 128,
                                    "num_key_value_heads": 8, "intermediate_size_mlp": 16384},
                          derive=(llama4,)),
    "mistral": Family(_LLAMA_FIXED, defaults={"sliding_window": 4096, "num_key_value_heads": 8},
                      derive=(sliding_all,)),
    "mixtral": Family(_LLAMA_FIXED, defaults={"num_local_experts": 8, "num_experts_per_tok": 2,
                                              "num_key_value_heads": 8},
                      derive=(sliding_all, moe_mixtral)),
    "qwen2": Family(dict(_LLAMA_FIXED, qkv_bias=True), defaults={"num_key_value_heads": 32},
                    derive=(sliding_qwen,)),
    "qwen2_moe": Family(_LLAMA_FIXED, flags={"qkv_bias": ("qkv_bias", True)},
                        defaults={"num_experts": 60, "num_experts_per_tok": 4,
                                  "shared_expert_intermediate_size": 5632, "num_key_value_heads": 16},
                        derive=(sliding_qwen, moe_qwen)),
    # The text models of Qwen2-VL and Qwen2.5-VL (modeling_qwen2_vl.py Qwen2VLTextModel): Qwen2's
    # layers (biased q k v, head_dim = d / a whatever the config says); M-RoPE changes no count
    "qwen2_vl_text": Family(dict(_LLAMA_FIXED, qkv_bias=True), defaults=_QWEN2_VL_TEXT,
                            derive=(head_dim_is_d_over_a, sliding_qwen)),
    "qwen2_5_vl_text": Family(dict(_LLAMA_FIXED, qkv_bias=True), defaults=_QWEN2_VL_TEXT,
                              derive=(head_dim_is_d_over_a, sliding_qwen)),
    # Qwen3-VL's (modeling_qwen3_vl.py Qwen3VLTextModel): Qwen3's layers, no sliding window
    "qwen3_vl_text": Family(dict(_LLAMA_FIXED, qk_norm="head"), flags=_ATTN_BIAS,
                            defaults={"head_dim": 128, "num_key_value_heads": 32}),
    # Qwen3-VL-MoE's: Qwen3-MoE's layers (routed every decoder_sparse_step, mlp_only_layers dense)
    "qwen3_vl_moe_text": Family(dict(_LLAMA_FIXED, qk_norm="head"), flags=_ATTN_BIAS,
                                defaults={"num_key_value_heads": 16, "num_experts": 60,
                                          "num_experts_per_tok": 4, "moe_intermediate_size": 1408},
                                derive=(moe_qwen,)),
    "qwen3": Family(dict(_LLAMA_FIXED, qk_norm="head"), flags=_ATTN_BIAS,
                    defaults={"head_dim": 128, "num_key_value_heads": 32}, derive=(sliding_qwen,)),
    "qwen3_moe": Family(dict(_LLAMA_FIXED, qk_norm="head"), flags=_ATTN_BIAS,
                        defaults={"num_experts": 128, "num_experts_per_tok": 8, "num_key_value_heads": 4},
                        derive=(sliding_qwen, moe_qwen)),
    "gemma": Family(_LLAMA_FIXED, flags=_ATTN_BIAS,
                    defaults={"head_dim": 256, "tie_word_embeddings": True, "num_key_value_heads": 16}),
    "gemma2": Family(dict(_LLAMA_FIXED, norm_placement="sandwich"), flags=_ATTN_BIAS,
                     defaults={"head_dim": 256, "tie_word_embeddings": True, "num_key_value_heads": 4},
                     derive=(sliding_pattern(2, "sliding_window_pattern"),)),
    "gemma3_text": Family(dict(_LLAMA_FIXED, norm_placement="sandwich", qk_norm="head"),
                          flags=_ATTN_BIAS,
                          defaults={"head_dim": 256, "tie_word_embeddings": True, "vocab_size": 262_208,
                                    "num_key_value_heads": 4},
                          derive=(sliding_pattern(6, "sliding_window_pattern"),)),
    # Gemma 3n (models/gemma3n): a Gemma 3 layer (sandwich norms, QK-norm; V's norm has no weight)
    # plus AltUp, LAuReL and per-layer inputs; the shared-KV layers drop k_proj, v_proj and k_norm
    "gemma3n_text": Family(dict(_LLAMA_FIXED, qk_norm="head"), flags=_ATTN_BIAS, defaults=_GEMMA3N_DEFAULTS,
                           derive=(gemma3n,)),
    # Gemma 4 (hf_families/gemma4.py): Gemma 3's layer, heads per layer type, KV sharing, PLE, MoE
    "gemma4_text": Family(dict(_LLAMA_FIXED, norm_placement="sandwich", qk_norm="head"),
                          flags=_ATTN_BIAS, defaults=_GEMMA4_DEFAULTS, derive=(gemma4_text,)),
    "phi": Family(dict(_LAYERNORM, gated_mlp=False, qkv_bias=True, o_bias=True, mlp_bias=True,
                       parallel_block=True, shared_block_norm=True, lm_head_bias=True),
                  derive=(qk_norm_flag("qk_layernorm", "head", bias=True),)),
    "phi3": Family(_LLAMA_FIXED, derive=(sliding_all,)),
    "phimoe": Family(dict(_LAYERNORM, gated_mlp=True),
                     flags=_ATTN_BIAS | {"lm_head_bias": ("lm_head_bias", False)},
                     defaults={"num_local_experts": 16, "num_experts_per_tok": 2, "num_key_value_heads": 8},
                     derive=(sliding_all, moe_mixtral)),
    "seed_oss": Family(_LLAMA_FIXED,
                       flags={"qkv_bias": ("attention_bias", True), "o_bias": ("attention_out_bias", False),
                              "mlp_bias": ("mlp_bias", False)},
                       defaults={"head_dim": 128, "num_key_value_heads": 8}),
    "smollm3": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)},
                      defaults={"tie_word_embeddings": True, "num_key_value_heads": 4}, derive=(smollm3,)),
    "starcoder2": Family(dict(_LAYERNORM, gated_mlp=False),
                         flags={"qkv_bias": ("use_bias", True), "o_bias": ("use_bias", True),
                                "mlp_bias": ("use_bias", True)},
                         defaults={"tie_word_embeddings": True, "num_key_value_heads": 2},
                         derive=(sliding_all,)),
    "olmo": Family(dict(_LLAMA_FIXED, norm="layernorm", norm_weight=False), flags=_ATTN_BIAS),
    "olmo2": Family(dict(_LLAMA_FIXED, norm_placement="post", qk_norm="full"), flags=_ATTN_BIAS),
    "olmoe": Family(dict(_LLAMA_FIXED, qk_norm="full"), flags=_ATTN_BIAS,
                    defaults={"num_experts": 64, "num_experts_per_tok": 8},
                    derive=(moe_olmoe,)),
    "cohere": Family(dict(_LLAMA_FIXED, norm="layernorm", norm_bias=False, parallel_block=True,
                          shared_block_norm=True),
                     flags=_ATTN_BIAS, defaults={"tie_word_embeddings": True},
                     derive=(qk_norm_flag("use_qk_norm", "full"),)),
    "stablelm": Family(dict(_LAYERNORM, position="rotary", gated_mlp=True),
                       flags={"qkv_bias": ("use_qkv_bias", False)}, defaults={"num_key_value_heads": 32},
                       derive=(stablelm,)),
    "deepseek_v2": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)},
                          derive=(mla, moe_deepseek)),
    "deepseek_v3": Family(_LLAMA_FIXED, flags=_ATTN_BIAS, defaults={"num_key_value_heads": 128},
                          derive=(mla, moe_deepseek)),
    "t5": Family(dict(_LLAMA_FIXED, kind="encoder-decoder", position="relative", gated_mlp=False),
                 defaults={"tie_word_embeddings": True}, derive=(t5,)),
    "bert": Family(dict(_GPT2_FIXED, kind="encoder", norm_placement="post", final_norm=False,
                        embedding_norm=True),
                   defaults={"tie_word_embeddings": True, "max_position_embeddings": 512},
                   derive=(bert,)),
    # --- state-space and linear-attention hybrids (alphabetical) ---
    "bamba": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)},
                    defaults=_MAMBA2_DEFAULTS | {"num_key_value_heads": 8, "max_position_embeddings": 262144},
                    derive=(bamba, size_free("mamba_dt_rank"))),
    "falcon_h1": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)},
                        defaults={"num_key_value_heads": 8}, derive=(falcon_h1,)),
    "granitemoehybrid": Family(_LLAMA_FIXED, flags=_ATTN_BIAS,
                               defaults=_MAMBA2_DEFAULTS | {"num_experts_per_tok": 2,
                                                            "shared_intermediate_size": 1024},
                               derive=(granitemoehybrid,)),
    "jamba": Family(_LLAMA_FIXED, defaults={"num_key_value_heads": 8}, derive=(jamba,)),
    # Kimi Linear: MLA without rotary (its layers build none) beside Kimi Delta Attention
    "kimi_linear": Family(dict(_LLAMA_FIXED, position="none"), flags=_ATTN_BIAS,
                          defaults={"vocab_size": 163840, "hidden_size": 2304, "intermediate_size": 9216,
                                    "num_hidden_layers": 27, "num_attention_heads": 32, "kv_lora_rank": 512,
                                    "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
                                    "moe_intermediate_size": 1024},
                          derive=(mla, kimi_linear)),
    "lfm2": Family(dict(_LLAMA_FIXED, qk_norm="head"), defaults={"tie_word_embeddings": True,
                                                                 "num_key_value_heads": 8},
                   derive=(lfm2,)),
    "mamba2": Family(dict(_LLAMA_FIXED, position="none"), derive=(mamba2,), attention=False),
    # MiniMax-M2 (models/minimax_m2/): all-attention, a QK-norm over all heads, every layer routed
    # (``e_score_correction_bias`` is a buffer); no sliding window, unlike Mixtral.
    "minimax_m2": Family(dict(_LLAMA_FIXED, qk_norm="full"),
                         defaults={"num_local_experts": 256, "num_experts_per_tok": 8,
                                   "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 1536},
                         derive=(moe_mixtral,)),
    "nemotron_h": Family(dict(_LLAMA_FIXED, gated_mlp=False, position="none", single_block=True),
                         flags={"mlp_bias": ("mlp_bias", False)},
                         defaults={"head_dim": 128, "intermediate_size": 21504, "num_key_value_heads": 8,
                                   "num_hidden_layers": 4},  # ignored: the pattern counts layers
                         derive=(nemotron_h,)),
    "zamba2": Family(dict(_LLAMA_FIXED, single_block=True),
                     flags={"mlp_bias": ("add_bias_linear", False)},
                     defaults={"vocab_size": 32000, "hidden_size": 2560, "num_hidden_layers": 54,
                               "max_position_embeddings": 4096,
                               "num_attention_heads": 32,
                               "hidden_act": "gelu", "tie_word_embeddings": True},
                     derive=(zamba2,)),
    "qwen3_5_moe_text": Family(dict(_LLAMA_FIXED, qk_norm="head", attn_output_gate=True), flags=_ATTN_BIAS,
                               defaults=_DELTANET_DEFAULTS | {
                                   "vocab_size": 248320, "num_key_value_heads": 2, "num_experts": 256,
                                   "num_experts_per_tok": 8, "moe_intermediate_size": 512,
                                   "shared_expert_intermediate_size": 512},
                               derive=(qwen3_5_moe, qwen3_5_unused)),
    "qwen3_5_text": Family(dict(_LLAMA_FIXED, qk_norm="head", attn_output_gate=True), flags=_ATTN_BIAS,
                           defaults=_DELTANET_DEFAULTS | {"vocab_size": 248320, "num_key_value_heads": 4,
                                                          "intermediate_size": 12288},
                           derive=(deltanet_hybrid, qwen3_5_unused)),
    "qwen3_next": Family(dict(_LLAMA_FIXED, qk_norm="head", attn_output_gate=True), flags=_ATTN_BIAS,
                         defaults=_DELTANET_DEFAULTS | {
                             "num_key_value_heads": 2, "moe_intermediate_size": 512,
                             "shared_expert_intermediate_size": 512, "num_experts_per_tok": 10},
                         derive=(qwen3_next,)),
}
FAMILIES["mamba"] = FAMILIES["falcon_mamba"] = Family(
    dict(_LLAMA_FIXED, position="none"), defaults={"tie_word_embeddings": True},
    derive=(mamba,), attention=False,
)
FAMILIES["roberta"] = FAMILIES["bert"]
FAMILIES["RefinedWeb"] = FAMILIES["RefinedWebModel"] = FAMILIES["falcon"]

# Llama 3.2 Vision's text model (mllama.py): the LM head is never tied (MllamaForConditionalGeneration's
# _tied_weights_keys is commented out in 5.24, and the embedding has 8 more rows than the head)
FAMILIES["mllama_text_model"] = Family(_LLAMA_FIXED, defaults=_MLLAMA_TEXT, derive=(mllama_text,))


@dataclass(frozen=True)
class Multimodal:
    """A multimodal wrapper ``model_type``: the family of its text model (under ``text_config``),
    the kind of its vision tower (``arch.VISION_KINDS``) with the defaults of its vision config
    class, and how the wrapper's ``tie_word_embeddings`` meets the text model's.

    ``tie``: "text" (the text config's value, else the wrapper's: Gemma 3, Llama 4), "either"
    (``Qwen2VLConfig.__post_init__``: the wrapper ties when either says so), "wrapper" (the
    ``lm_head`` follows the wrapper's key alone, default false: Qwen3-VL, Qwen3.5).
    ``flat``: the text keys may sit at the top level with no ``text_config`` (Qwen2-VL and
    Qwen2.5-VL checkpoints; their config classes collect them into one)."""

    text: str
    vision: str
    vision_defaults: Mapping[str, Any] = field(default_factory=dict)
    tie: Literal["text", "either", "wrapper"] = "text"
    flat: bool = False


# The vision config classes' defaults (transformers 5.24 configuration_*.py)
_QWEN2_VL_VISION = {"depth": 32, "embed_dim": 1280, "hidden_size": 3584, "mlp_ratio": 4, "num_heads": 16,
                    "in_channels": 3, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}
_QWEN2_5_VL_VISION = {"depth": 32, "hidden_size": 3584, "intermediate_size": 3420, "num_heads": 16,
                      "in_channels": 3, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
                      "out_hidden_size": 3584}
_QWEN3_5_VISION = {"depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16,
                   "in_channels": 3, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
                   "out_hidden_size": 3584, "num_position_embeddings": 2304}
_QWEN3_VL_VISION = {**_QWEN3_5_VISION, "deepstack_visual_indexes": [8, 16, 24]}
_LLAMA4_VISION = {"hidden_size": 768, "num_hidden_layers": 34, "num_attention_heads": 16,
                  "intermediate_size": 5632, "vision_output_dim": 7680, "image_size": 448,
                  "patch_size": 14, "projector_input_dim": 4096, "projector_output_dim": 4096}

MULTIMODAL: dict[str, Multimodal] = {
    "gemma3": Multimodal("gemma3_text", "gemma3"),
    # MllamaConfig builds its vision model from defaults when vision_config is absent
    "mllama": Multimodal("mllama_text_model", "mllama", _MLLAMA_VISION),
    "llama4": Multimodal("llama4_text", "llama4", _LLAMA4_VISION),
    # its towers are read by hf_families/gemma4.py, not through VISION_KINDS
    "gemma4": Multimodal("gemma4_text", "gemma4"),
    "gemma3n": Multimodal("gemma3n_text", "gemma3n"),  # its towers are left out (TOWERS_LEFT_OUT)
    "qwen2_vl": Multimodal("qwen2_vl_text", "qwen2_vl", _QWEN2_VL_VISION, tie="either", flat=True),
    "qwen2_5_vl": Multimodal("qwen2_5_vl_text", "qwen2_5_vl", _QWEN2_5_VL_VISION, tie="either", flat=True),
    "qwen3_vl": Multimodal("qwen3_vl_text", "qwen3_vl", _QWEN3_VL_VISION, tie="wrapper"),
    "qwen3_vl_moe": Multimodal("qwen3_vl_moe_text", "qwen3_vl", _QWEN3_VL_VISION, tie="wrapper"),
    "qwen3_5": Multimodal("qwen3_5_text", "qwen3_vl", _QWEN3_5_VISION, tie="wrapper"),
    "qwen3_5_moe": Multimodal("qwen3_5_moe_text", "qwen3_vl", _QWEN3_5_VISION, tie="wrapper"),
}
# Wrappers whose towers llmsize does not count, with what a warning says is left out. Gemma 3n's
# vision tower is a timm model (``mobilenetv5_300m_enc``, built by ``TimmWrapperModel``) that
# transformers cannot build without timm, so no count of it could be checked here.
TOWERS_LEFT_OUT = {"gemma3n": "the MobileNet-V5 vision tower (timm), the audio encoder (USM conformer) "
                              "and their embedders"}

# Remote-code configs written before transformers had their type carry no ``model_type``: their
# ``auto_map`` configuration class declares it, and transformers takes it from there (with
# ``trust_remote_code``). Keyed by ``architectures[0]``: openbmb/MiniCPM3-4B's
# configuration_minicpm.py has ``MiniCPM3Config.model_type = "minicpm3"``.
REMOTE_CODE_TYPES = {"MiniCPM3ForCausalLM": "minicpm3"}
