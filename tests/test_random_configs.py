"""Seeded random configs of every supported model_type: llmsize equals transformers on meta.

Each family gets a few dozen small configs whose optional keys are drawn from
{True, False, absent}, so that the adapters' defaults are checked against the transformers config
classes' defaults, and whose sizes vary independently (head_dim ≠ d/a, GQA, MoE patterns...).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from hf_truth import hf_config, hf_counts, t5_head_untied_by_checkpoint

from llmsize import Architecture, ArchitectureError, count_params, from_hf_config, supported_model_types
from llmsize.formats.tensors import model_tensors

PER_TYPE = 24
ABSENT = object()
Cfg = dict[str, Any]


def pick(rng: random.Random, cfg: Cfg, key: str, choices: list[Any]) -> None:
    value = rng.choice(choices)
    if value is not ABSENT:
        cfg[key] = value


def heads(rng: random.Random) -> tuple[int, int, int]:
    """(a, k, head_dim): k divides a; head_dim even (rotary needs it)."""
    a = rng.choice([1, 2, 4, 6, 8])
    k = rng.choice([x for x in range(1, a + 1) if a % x == 0])
    return a, k, rng.choice([4, 8, 12, 16])


def llama_like(rng: random.Random, *, explicit_head_dim: bool = True, kv: bool = True) -> Cfg:
    a, k, dh = heads(rng)
    explicit = explicit_head_dim and rng.random() < 0.5
    d = a * rng.choice([4, 6, 8]) if explicit else a * dh  # transformers wants a | d even then
    cfg: Cfg = dict(hidden_size=d, num_hidden_layers=rng.randint(1, 4), num_attention_heads=a,
                    intermediate_size=rng.choice([16, 40, 64]), vocab_size=rng.randint(64, 300),
                    max_position_embeddings=128)
    if explicit:
        cfg["head_dim"] = dh
    if kv:
        pick(rng, cfg, "num_key_value_heads", [k, ABSENT])
    pick(rng, cfg, "tie_word_embeddings", [True, False, ABSENT])
    return cfg


def flags(*keys: str) -> Callable[[random.Random, Cfg], None]:
    def apply(rng: random.Random, cfg: Cfg) -> None:
        for key in keys:
            pick(rng, cfg, key, [True, False, ABSENT])

    return apply


def gpt2_like(rng: random.Random, width_key: str = "n_embd") -> Cfg:
    a, _, dh = heads(rng)
    cfg: Cfg = {width_key: a * dh, "n_layer": rng.randint(1, 4), "n_head": a,
                "vocab_size": rng.randint(64, 300), "n_positions": rng.choice([32, 64])}
    pick(rng, cfg, "n_inner", [None, 24, ABSENT])
    pick(rng, cfg, "tie_word_embeddings", [True, False, ABSENT])
    return cfg


def moe_mixtral(rng: random.Random, cfg: Cfg) -> None:
    cfg["num_local_experts"] = e = rng.randint(2, 6)
    cfg["num_experts_per_tok"] = rng.randint(1, e)


def moe_olmoe(rng: random.Random, cfg: Cfg) -> None:
    cfg["num_experts"] = e = rng.randint(2, 6)
    cfg["num_experts_per_tok"] = rng.randint(1, e)


def moe_qwen(rng: random.Random, cfg: Cfg) -> None:
    cfg["num_experts"] = e = rng.randint(2, 6)
    cfg["num_experts_per_tok"] = rng.randint(1, e)
    cfg["moe_intermediate_size"] = rng.choice([8, 24])
    cfg["decoder_sparse_step"] = rng.choice([1, 2])
    cfg["mlp_only_layers"] = rng.choice([[], [0]])


def qwen2_moe(rng: random.Random, cfg: Cfg) -> None:
    moe_qwen(rng, cfg)
    pick(rng, cfg, "shared_expert_intermediate_size", [16, 32, ABSENT])
    pick(rng, cfg, "qkv_bias", [True, False, ABSENT])


def deepseek(rng: random.Random, cfg: Cfg) -> None:
    cfg.update(n_routed_experts=(e := rng.randint(2, 6)), num_experts_per_tok=rng.randint(1, e),
               moe_intermediate_size=rng.choice([8, 24]), n_shared_experts=rng.choice([0, 1, 2]),
               first_k_dense_replace=rng.choice([0, 1]), kv_lora_rank=rng.choice([8, 16]),
               q_lora_rank=rng.choice([None, 12]), qk_nope_head_dim=8, qk_rope_head_dim=4,
               v_head_dim=rng.choice([8, 12]), n_group=1, topk_group=1)
    cfg.pop("head_dim", None)
    pick(rng, cfg, "attention_bias", [True, False, ABSENT])


def llama4_text(rng: random.Random, cfg: Cfg) -> None:
    moe_mixtral(rng, cfg)
    cfg["intermediate_size_mlp"] = rng.choice([24, 48])
    pick(rng, cfg, "interleave_moe_layer_step", [1, 2, ABSENT])
    pick(rng, cfg, "attention_chunk_size", [16, None, ABSENT])
    pick(rng, cfg, "no_rope_layer_interval", [2, ABSENT])
    pick(rng, cfg, "attention_bias", [True, False, ABSENT])


def llama4(rng: random.Random) -> Cfg:
    text = with_(llama_like, llama4_text)(rng)
    d = rng.choice([16, 32])
    vision = dict(num_hidden_layers=rng.randint(1, 2), hidden_size=d, num_attention_heads=rng.choice([2, 4]),
                  intermediate_size=rng.choice([32, 64]), vision_output_dim=rng.choice([24, 40]),
                  projector_input_dim=(pin := rng.choice([16, 24])), projector_output_dim=pin,
                  image_size=rng.choice([28, 56]), patch_size=14)
    cfg: Cfg = {"text_config": text, "vision_config": vision}
    if "tie_word_embeddings" in text:
        cfg["tie_word_embeddings"] = text["tie_word_embeddings"]
    return cfg


def qwen_vit(rng: random.Random, kind: str, out: int) -> Cfg:
    """A small Qwen vision config of ``kind`` ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_5")
    whose merger writes ``out`` wide; the cheap keys may be absent (the config class's default)."""
    width, heads = rng.choice([16, 32]), rng.choice([2, 4])
    vision: Cfg = dict(depth=rng.randint(1, 3), num_heads=heads)
    if kind == "qwen2_vl":  # hidden_size is the merger's output; the MLP is int(embed_dim · mlp_ratio)
        vision.update(embed_dim=width, hidden_size=out, mlp_ratio=rng.choice([2, 3, 4]))
    else:
        vision.update(hidden_size=width, intermediate_size=rng.choice([24, 40]), out_hidden_size=out)
    if kind in ("qwen3_vl", "qwen3_5"):
        vision["num_position_embeddings"] = rng.choice([16, 64])
    if kind == "qwen3_vl":
        pick(rng, vision, "deepstack_visual_indexes",
             [sorted(rng.sample(range(vision["depth"]), rng.randint(0, vision["depth"]))), ABSENT])
    pick(rng, vision, "patch_size", [4, 14, ABSENT])
    pick(rng, vision, "temporal_patch_size", [1, 2, ABSENT])
    pick(rng, vision, "spatial_merge_size", [1, 2, ABSENT])
    pick(rng, vision, "in_channels", [1, 3, ABSENT])
    return vision


def qwen2_vl(kind: str) -> Callable[[random.Random], Cfg]:
    """Qwen2-VL / Qwen2.5-VL: the text keys at the top level (as their checkpoints write them) or
    under text_config; Qwen2's layers (head_dim = d / a whatever the config says)."""
    def make(rng: random.Random) -> Cfg:
        text = llama_like(rng)
        pick(rng, text, "use_sliding_window", [True, False, ABSENT])
        pick(rng, text, "sliding_window", [16, ABSENT])
        pick(rng, text, "max_window_layers", [1, ABSENT])
        vision = qwen_vit(rng, kind, rng.choice([text["hidden_size"], 24]))
        if rng.random() < 0.5:
            return {**text, "vision_config": vision}
        cfg: Cfg = {"text_config": {**text, "model_type": f"{kind}_text"}, "vision_config": vision}
        pick(rng, cfg, "tie_word_embeddings", [True, False, ABSENT])
        return cfg

    return make


def qwen3_vl(text_kind: str, vit: str,
             *extras: Callable[[random.Random, Cfg], None]) -> Callable[[random.Random], Cfg]:
    """Qwen3-VL(-MoE) and Qwen3.5(-MoE): text_config and vision_config; the LM head follows the
    wrapper's tie_word_embeddings alone, whatever the text config says."""
    def make(rng: random.Random) -> Cfg:
        text = with_(llama_like, *extras)(rng)
        text["model_type"] = text_kind
        cfg: Cfg = {"text_config": text, "vision_config": qwen_vit(rng, vit, text["hidden_size"])}
        pick(rng, cfg, "tie_word_embeddings", [True, False, ABSENT])
        return cfg

    return make


def mllama_text(rng: random.Random, cfg: Cfg) -> None:
    """Llama 3.2 Vision's text model: cross-attention layers at drawn indices (one may lie past
    the last layer, which builds nothing), a pad id inside the small vocabulary."""
    n = cfg["num_hidden_layers"]
    pick(rng, cfg, "cross_attention_layers", [sorted(rng.sample(range(n + 1), rng.randint(1, n))), ABSENT])
    cfg.pop("head_dim", None)  # MllamaTextConfig has none: head_dim is d / a
    cfg["pad_token_id"] = 0


def mllama(rng: random.Random) -> Cfg:
    text = with_(llama_like, mllama_text, explicit_head_dim=False)(rng)
    d = rng.choice([16, 32])
    tiles = rng.choice([1, 2, 4])
    vision: Cfg = dict(num_hidden_layers=rng.randint(1, 2), num_global_layers=rng.randint(0, 2),
                       hidden_size=d, attention_heads=rng.choice([2, 4]),
                       intermediate_size=rng.choice([24, 40]),
                       vision_output_dim=rng.choice([24, 48]), image_size=rng.choice([28, 42]),
                       patch_size=14, max_num_tiles=tiles, intermediate_layers_indices=[0])
    if tiles != 4 or rng.random() < 0.5:  # the default ratios need 4 tiles
        vision["supported_aspect_ratios"] = [[1, 1], [1, tiles], [tiles, 1]][:rng.randint(1, 3)]
    cfg: Cfg = {"text_config": text}
    pick(rng, cfg, "vision_config", [vision, vision, ABSENT])  # absent: MllamaVisionConfig's defaults
    return cfg


def shared_with_bias(rng: random.Random, cfg: Cfg) -> None:
    """DeepSeek-V2 builds its shared-expert MLP even with ``n_shared_experts: 0`` (width 0), and
    with ``mlp_bias`` that empty MLP still holds a d-wide down_proj bias: a degenerate config no
    checkpoint has, so a biased draw keeps at least one shared expert."""
    if cfg.get("mlp_bias") and not cfg["n_shared_experts"]:
        cfg["n_shared_experts"] = 1


def head_dim_given(rng: random.Random, cfg: Cfg) -> None:
    """Ministral and Hunyuan read ``config.head_dim`` without a fallback: a config always has it."""
    cfg.setdefault("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])


def deepseek_moe(rng: random.Random, cfg: Cfg) -> None:
    """DeepSeek-style routing without MLA (GLM-4.5, dots.llm1)."""
    cfg.update(n_routed_experts=(e := rng.randint(2, 6)), num_experts_per_tok=rng.randint(1, e),
               moe_intermediate_size=rng.choice([8, 24]), n_shared_experts=rng.choice([1, 2]),
               first_k_dense_replace=rng.choice([0, 1]), n_group=1, topk_group=1)


def deepseek_v32(rng: random.Random, cfg: Cfg) -> None:
    deepseek(rng, cfg)
    cfg.update(q_lora_rank=12, index_n_heads=rng.choice([2, 4]), index_head_dim=rng.choice([8, 16]),
               index_topk=8)
    if rng.random() < 0.3:
        n = cfg["num_hidden_layers"]
        cfg["mlp_layer_types"] = [rng.choice(["dense", "sparse"]) for _ in range(n)]
        cfg.pop("first_k_dense_replace")


def minicpm3(rng: random.Random, cfg: Cfg) -> None:
    cfg.update(kv_lora_rank=rng.choice([8, 16]), q_lora_rank=rng.choice([None, 12]), qk_nope_head_dim=8,
               qk_rope_head_dim=4)
    cfg.pop("head_dim", None)
    pick(rng, cfg, "v_head_dim", [8, ABSENT])
    for key in ("attention_bias", "mlp_bias"):
        pick(rng, cfg, key, [True, False, ABSENT])


def ernie_moe(rng: random.Random, cfg: Cfg) -> None:
    cfg.update(moe_num_experts=(e := rng.randint(2, 6)), moe_k=rng.randint(1, e),
               moe_intermediate_size=rng.choice([8, 24]), moe_num_shared_experts=rng.choice([0, 1, 2]))
    pick(rng, cfg, "moe_layer_start_index", [0, 1, ABSENT])
    pick(rng, cfg, "moe_layer_end_index", [-1, 1, ABSENT])
    pick(rng, cfg, "moe_layer_interval", [1, 2, ABSENT])
    pick(rng, cfg, "use_bias", [True, False, ABSENT])


def hunyuan_moe(rng: random.Random, cfg: Cfg) -> None:
    e = rng.randint(2, 6)
    k = rng.randint(1, e)
    cfg["num_experts"] = e
    cfg["moe_topk"] = rng.choice([k, [k] * cfg["num_hidden_layers"]])


def smollm3(rng: random.Random, cfg: Cfg) -> None:
    pick(rng, cfg, "use_sliding_window", [True, False, ABSENT])
    pick(rng, cfg, "sliding_window", [16, ABSENT])
    pick(rng, cfg, "no_rope_layer_interval", [2, ABSENT])


def windows(*patterns: Any) -> Callable[[random.Random, Cfg], None]:
    def apply(rng: random.Random, cfg: Cfg) -> None:
        pick(rng, cfg, "sliding_window", [16, ABSENT])
        pick(rng, cfg, "sliding_window_pattern", [*patterns, ABSENT])

    return apply


def dots1_windows(rng: random.Random, cfg: Cfg) -> None:
    pick(rng, cfg, "sliding_window", [16, None, ABSENT])
    pick(rng, cfg, "max_window_layers", [1, ABSENT])


def act(*names: str) -> Callable[[random.Random, Cfg], None]:
    def apply(rng: random.Random, cfg: Cfg) -> None:
        pick(rng, cfg, "hidden_act", [*names, ABSENT])

    return apply


def dbrx(rng: random.Random) -> Cfg:
    a, k, dh = heads(rng)
    e = rng.randint(2, 6)
    cfg: Cfg = dict(d_model=a * dh, n_heads=a, n_layers=rng.randint(1, 3), vocab_size=rng.randint(64, 300),
                    max_seq_len=64)
    # transformers 5.24 cannot build DBRX without an attn_config (it reads attn_config.rope_theta)
    cfg["attn_config"] = {"rope_theta": 10000.0}
    pick(rng, cfg["attn_config"], "kv_n_heads", [k, ABSENT])
    pick(rng, cfg, "ffn_config", [{"ffn_hidden_size": rng.choice([16, 40]), "moe_num_experts": e,
                                   "moe_top_k": rng.randint(1, e)}, ABSENT])
    return cfg


def mamba(rng: random.Random) -> Cfg:
    d = rng.choice([16, 32, 48])
    cfg: Cfg = dict(hidden_size=d, num_hidden_layers=rng.randint(1, 3), vocab_size=rng.randint(64, 300),
                    state_size=rng.choice([4, 16]), conv_kernel=rng.choice([2, 4]),
                    intermediate_size=2 * d)
    pick(rng, cfg, "time_step_rank", ["auto", 3, ABSENT])
    for key in ("use_bias", "use_conv_bias", "tie_word_embeddings"):
        pick(rng, cfg, key, [True, False, ABSENT])
    return cfg


def t5(rng: random.Random) -> Cfg:
    a, _, dh = heads(rng)
    cfg: Cfg = dict(d_model=rng.choice([16, 32]), d_kv=dh, d_ff=rng.choice([16, 48]),
                    num_layers=rng.randint(1, 3), num_heads=a, vocab_size=rng.randint(64, 300),
                    relative_attention_num_buckets=rng.choice([8, 32]))
    pick(rng, cfg, "num_decoder_layers", [1, 2, ABSENT])
    pick(rng, cfg, "feed_forward_proj", ["relu", "gated-gelu", ABSENT])
    return cfg


def bert(rng: random.Random) -> Cfg:
    a, _, dh = heads(rng)
    cfg: Cfg = dict(hidden_size=a * dh, num_hidden_layers=rng.randint(1, 3), num_attention_heads=a,
                    intermediate_size=rng.choice([16, 48]), vocab_size=rng.randint(64, 300),
                    max_position_embeddings=rng.choice([40, 64]))
    pick(rng, cfg, "type_vocab_size", [1, 2, ABSENT])
    pick(rng, cfg, "tie_word_embeddings", [True, False, ABSENT])
    return cfg


def opt(rng: random.Random) -> Cfg:
    a, _, dh = heads(rng)
    d = a * dh
    cfg: Cfg = dict(hidden_size=d, num_hidden_layers=rng.randint(1, 3), num_attention_heads=a,
                    ffn_dim=rng.choice([16, 48]), vocab_size=rng.randint(64, 300),
                    max_position_embeddings=rng.choice([40, 64]))
    pick(rng, cfg, "word_embed_proj_dim", [d, d // 2 if d > 2 else d, ABSENT])
    for key in ("do_layer_norm_before", "enable_bias", "layer_norm_elementwise_affine"):
        pick(rng, cfg, key, [True, False, ABSENT])
    return cfg


def falcon(rng: random.Random) -> Cfg:
    a, k, dh = heads(rng)
    cfg: Cfg = dict(hidden_size=a * dh, num_hidden_layers=rng.randint(1, 3), num_attention_heads=a,
                    vocab_size=rng.randint(64, 300))
    for key in ("new_decoder_architecture", "multi_query", "parallel_attn", "bias", "alibi"):
        pick(rng, cfg, key, [True, False, ABSENT])
    pick(rng, cfg, "num_kv_heads", [k, ABSENT])
    pick(rng, cfg, "ffn_hidden_size", [24, ABSENT])
    pick(rng, cfg, "num_ln_in_parallel_attn", [1, 2, ABSENT])
    pick(rng, cfg, "tie_word_embeddings", [True, False, ABSENT])
    return cfg


def mamba2(rng: random.Random) -> Cfg:
    d = rng.choice([16, 32, 48])
    heads = rng.choice([2, 4, 8])
    cfg: Cfg = dict(hidden_size=d, num_hidden_layers=rng.randint(1, 3), vocab_size=rng.randint(64, 300),
                    num_heads=heads, head_dim=2 * d // heads, n_groups=rng.choice([1, 2]),
                    state_size=rng.choice([4, 16]), conv_kernel=rng.choice([2, 4]))
    for key in ("use_bias", "use_conv_bias", "tie_word_embeddings"):
        pick(rng, cfg, key, [True, False, ABSENT])
    return cfg


def mamba2_keys(rng: random.Random, cfg: Cfg) -> None:
    """The ``mamba_*`` keys of Bamba and GraniteMoeHybrid."""
    heads = rng.choice([2, 4])
    cfg.update(mamba_n_heads=heads, mamba_d_head=2 * cfg["hidden_size"] // heads,
               mamba_n_groups=rng.choice([1, 2]), mamba_d_state=rng.choice([4, 8]),
               mamba_d_conv=rng.choice([2, 4]))
    for key in ("mamba_conv_bias", "mamba_proj_bias"):
        pick(rng, cfg, key, [True, False, ABSENT])


def bamba(rng: random.Random, cfg: Cfg) -> None:
    mamba2_keys(rng, cfg)
    n = cfg["num_hidden_layers"]
    cfg["attn_layer_indices"] = sorted(rng.sample(range(n), rng.randint(0, n)))


def falcon_h1(rng: random.Random, cfg: Cfg) -> None:
    heads = rng.choice([2, 4])
    cfg.update(mamba_n_heads=heads, mamba_d_head=rng.choice([4, 8]), mamba_n_groups=rng.choice([1, 2]),
               mamba_d_state=rng.choice([4, 8]), mamba_d_conv=rng.choice([2, 4]))
    pick(rng, cfg, "mamba_d_ssm", [heads * cfg["mamba_d_head"], ABSENT])
    if "mamba_d_ssm" not in cfg:  # the config class's default of 1024 channels
        cfg["mamba_d_head"] = 1024 // heads
    for key in ("mamba_conv_bias", "mamba_proj_bias", "mamba_rms_norm", "projectors_bias",
                "attention_bias", "mlp_bias"):
        pick(rng, cfg, key, [True, False, ABSENT])


def granitemoehybrid(rng: random.Random, cfg: Cfg) -> None:
    mamba2_keys(rng, cfg)
    cfg["layer_types"] = [rng.choice(["mamba", "attention"]) for _ in range(cfg["num_hidden_layers"])]
    cfg["num_local_experts"] = e = rng.choice([0, 2, 4])
    cfg["num_experts_per_tok"] = rng.randint(1, max(e, 1))
    pick(rng, cfg, "shared_intermediate_size", [8, 24, ABSENT])


def jamba(rng: random.Random, cfg: Cfg) -> None:
    cfg["num_hidden_layers"] = n = rng.randint(1, 4)
    cfg.update(attn_layer_period=(p := rng.randint(1, 3)), attn_layer_offset=rng.randrange(p),
               expert_layer_period=(q := rng.randint(1, 2)), expert_layer_offset=rng.randrange(q),
               num_experts=(e := rng.choice([1, 2, 4])), num_experts_per_tok=rng.randint(1, e),
               mamba_d_state=rng.choice([4, 16]), mamba_d_conv=rng.choice([2, 4]))
    pick(rng, cfg, "mamba_dt_rank", ["auto", 3, ABSENT])
    for key in ("mamba_conv_bias", "mamba_proj_bias"):
        pick(rng, cfg, key, [True, False, ABSENT])
    assert n >= 1


def lfm2(rng: random.Random, cfg: Cfg) -> None:
    n = cfg["num_hidden_layers"]
    kinds = [rng.choice(["conv", "full_attention"]) for _ in range(n)]
    if rng.random() < 0.5:
        cfg["layer_types"] = kinds
    else:
        pick(rng, cfg, "full_attn_idxs", [[i for i, k in enumerate(kinds) if k != "conv"], ABSENT])
    pick(rng, cfg, "conv_L_cache", [2, 3, ABSENT])
    pick(rng, cfg, "block_multiple_of", [8, 256, ABSENT])
    pick(rng, cfg, "block_ffn_dim_multiplier", [1.0, 1.5, ABSENT])
    for key in ("conv_bias", "block_auto_adjust_ff_dim"):
        pick(rng, cfg, key, [True, False, ABSENT])


def nemotron_h(rng: random.Random, cfg: Cfg) -> None:
    blocks = "".join(rng.choice("M*-E") for _ in range(rng.randint(1, 5)))
    if rng.random() < 0.5:
        cfg["hybrid_override_pattern"] = blocks
    else:
        names = {"M": "mamba", "*": "attention", "-": "mlp", "E": "moe"}
        cfg["layers_block_type"] = [names[c] for c in blocks]
    cfg.pop("num_hidden_layers")
    heads = rng.choice([2, 4])
    cfg.update(mamba_num_heads=heads, mamba_head_dim=rng.choice([4, 8]), n_groups=rng.choice([1, 2]),
               ssm_state_size=rng.choice([4, 8]), conv_kernel=rng.choice([2, 4]),
               n_routed_experts=(e := rng.randint(2, 4)), num_experts_per_tok=rng.randint(1, e),
               moe_intermediate_size=rng.choice([8, 24]), n_shared_experts=1,
               moe_shared_expert_intermediate_size=rng.choice([8, 16]))
    for key in ("use_bias", "use_conv_bias", "mlp_bias"):
        pick(rng, cfg, key, [True, False, ABSENT])
    if rng.random() < 0.4:  # drawn last: the seeds above keep their configs
        cfg["moe_latent_size"] = rng.choice([6, 12])  # Nemotron-3 Super/Ultra


def exaone_letters(rng: random.Random, cfg: Cfg) -> None:
    """EXAONE 4.0 checkpoints write ``sliding_window_pattern: "LLLG"`` beside an explicit
    ``layer_types`` (Exaone4Config cannot expand a string pattern itself)."""
    if rng.random() < 0.4:
        pattern = rng.choice(["LLLG", "LG", "G"])
        cfg.update(sliding_window=16, sliding_window_pattern=pattern)
        cfg["layer_types"] = ["full_attention" if pattern[i % len(pattern)] == "G" else "sliding_attention"
                              for i in range(cfg["num_hidden_layers"])]


def kimi_linear(rng: random.Random, cfg: Cfg) -> None:
    """MLA and Kimi Delta Attention layers (layer_types, the checkpoint's 1-based
    linear_attn_config lists, or the default), the KDA sizes in linear_attn_config or at the top
    level, and dense/sparse MLPs (mlp_layer_types or first_k_dense_replace)."""
    n = cfg["num_hidden_layers"]
    cfg.update(kv_lora_rank=rng.choice([8, 16]), qk_nope_head_dim=8, qk_rope_head_dim=4,
               v_head_dim=rng.choice([8, 12]), num_experts=(e := rng.randint(2, 5)),
               num_experts_per_token=rng.randint(1, e), moe_intermediate_size=rng.choice([8, 24]))
    pick(rng, cfg, "q_lora_rank", [None, 12, ABSENT])
    sizes = {"head_dim": rng.choice([4, 8]), "num_heads": rng.choice([1, 2, 3]),
             "short_conv_kernel_size": rng.choice([2, 4])}
    layout = rng.choice(["layer_types", "lists", "default"])
    if layout == "layer_types":
        cfg["layer_types"] = [rng.choice(["linear_attention", "full_attention"]) for _ in range(n)]
    elif layout == "lists":
        full = sorted(rng.sample(range(1, n + 1), rng.randint(0, n)))
        sizes.update(full_attn_layers=full, kda_layers=[i for i in range(1, n + 1) if i not in full])
    if layout == "lists" or rng.random() < 0.5:
        cfg["linear_attn_config"] = sizes
    else:
        cfg.update(linear_head_dim=sizes["head_dim"], linear_num_heads=sizes["num_heads"],
                   linear_conv_kernel_dim=sizes["short_conv_kernel_size"])
    if rng.random() < 0.4:
        cfg["mlp_layer_types"] = [rng.choice(["dense", "sparse"]) for _ in range(n)]
    else:
        pick(rng, cfg, "first_k_dense_replace", [0, 1, 2, ABSENT])
    pick(rng, cfg, "num_shared_experts", [0, 1, 2, ABSENT])
    pick(rng, cfg, "attention_bias", [True, False, ABSENT])


def zamba2(rng: random.Random) -> Cfg:
    """Mamba-2 and hybrid layers; shared blocks (1–3, called in turn), adapters on the MLP and
    optionally on q, k, v; the shared attention's heads are 2d / a wide."""
    a = rng.choice([2, 4])
    d, heads = a * rng.choice([4, 8]), rng.choice([2, 4])
    blocks = [rng.choice(["mamba", "hybrid"]) for _ in range(rng.randint(1, 6))]
    cfg: Cfg = dict(hidden_size=d, num_attention_heads=a, vocab_size=rng.randint(64, 300),
                    layers_block_type=blocks, num_hidden_layers=len(blocks), n_mamba_heads=heads,
                    mamba_expand=rng.choice([1, 2]), mamba_ngroups=rng.choice([1, 2]),
                    mamba_d_state=rng.choice([4, 8]), mamba_d_conv=rng.choice([2, 4]))
    pick(rng, cfg, "num_key_value_heads", [a, 1, ABSENT])
    pick(rng, cfg, "intermediate_size", [24, ABSENT])
    pick(rng, cfg, "num_mem_blocks", [1, 2, 3, ABSENT])
    pick(rng, cfg, "adapter_rank", [2, 4, ABSENT])
    for key in ("use_shared_attention_adapter", "add_bias_linear", "use_conv_bias", "tie_word_embeddings",
                "use_mem_rope"):
        pick(rng, cfg, key, [True, False, ABSENT])
    return cfg


def deltanet_layers(rng: random.Random, cfg: Cfg) -> None:
    """The layer pattern (layer_types or full_attention_interval) and the Gated DeltaNet sizes
    Qwen3-Next and Qwen3.5 share."""
    n = cfg["num_hidden_layers"]
    if rng.random() < 0.5:
        cfg["layer_types"] = [rng.choice(["linear_attention", "full_attention"]) for _ in range(n)]
    else:
        pick(rng, cfg, "full_attention_interval", [1, 2, ABSENT])
    hk = rng.choice([1, 2])
    cfg.update(linear_num_key_heads=hk, linear_num_value_heads=hk * rng.choice([1, 2]),
               linear_key_head_dim=rng.choice([4, 8]), linear_value_head_dim=rng.choice([4, 12]),
               linear_conv_kernel_dim=rng.choice([2, 4]))


def deltanet(rng: random.Random, cfg: Cfg) -> None:
    """Qwen3.5 / Qwen3.5-MoE text models: DeltaNet sizes and the layer pattern."""
    deltanet_layers(rng, cfg)
    pick(rng, cfg, "attention_bias", [True, False, ABSENT])
    pick(rng, cfg, "attn_output_gate", [True, False, ABSENT])


def qwen3_5_moe(rng: random.Random, cfg: Cfg) -> None:
    deltanet(rng, cfg)
    cfg.update(num_experts=(e := rng.choice([1, 2, 4])), num_experts_per_tok=rng.randint(1, e),
               moe_intermediate_size=rng.choice([8, 24]), shared_expert_intermediate_size=rng.choice([8, 16]))


def qwen3_next(rng: random.Random, cfg: Cfg) -> None:
    deltanet_layers(rng, cfg)  # drawn first, as before: the seeds keep their configs
    cfg.update(num_experts=(e := rng.choice([0, 2, 4])),
               num_experts_per_tok=rng.randint(1, max(e, 1)), moe_intermediate_size=rng.choice([8, 24]),
               shared_expert_intermediate_size=rng.choice([8, 16]), decoder_sparse_step=rng.choice([1, 2]),
               mlp_only_layers=rng.choice([[], [0]]))
    pick(rng, cfg, "attention_bias", [True, False, ABSENT])


def gemma3n_text(rng: random.Random, cfg: Cfg) -> None:
    """Gemma 3n: per-layer embeddings, AltUp, LAuReL, one MLP width per layer or one for all, and
    a KV-sharing tail whose layer types all appear before it (transformers refuses others)."""
    n = cfg["num_hidden_layers"] = rng.randint(2, 7)
    types = [rng.choice(["sliding_attention", "full_attention"]) for _ in range(n)]
    if rng.random() < 0.7:
        cfg["layer_types"] = types
    else:
        types = ["full_attention" if (i + 1) % 5 == 0 else "sliding_attention" for i in range(n)]
    ok = [s for s in range(n) if not set(types[n - s:]) - set(types[:n - s])]
    cfg["num_kv_shared_layers"] = rng.choice(ok)
    if rng.random() < 0.5:
        cfg["intermediate_size"] = [rng.choice([16, 24, 40]) for _ in range(n)]
    pick(rng, cfg, "hidden_size_per_layer_input", [2, 4, ABSENT])
    pick(rng, cfg, "vocab_size_per_layer_input", [50, 130, ABSENT])
    pick(rng, cfg, "altup_num_inputs", [1, 2, 3, ABSENT])
    pick(rng, cfg, "laurel_rank", [2, 5, ABSENT])
    pick(rng, cfg, "sliding_window", [16, ABSENT])
    pick(rng, cfg, "attention_bias", [True, False, ABSENT])


def gemma4_text(rng: random.Random, cfg: Cfg) -> None:
    """Gemma 4: per-layer-type heads, K = V with global kv heads, KV sharing (the shared layers'
    types must appear before them), double-wide MLPs, per-layer embeddings, the MoE block."""
    n = cfg["num_hidden_layers"] = rng.randint(2, 6)
    if "num_key_value_heads" not in cfg and cfg["num_attention_heads"] % 4:
        cfg["num_key_value_heads"] = 1  # the default 4 cannot group them (valid_case cannot read
        # a heterogeneous config's global kv heads to check that refusal)
    mixed = ["full_attention", "sliding_attention"] + [rng.choice(["sliding_attention", "full_attention"])
                                                       for _ in range(n - 2)]
    pick(rng, cfg, "layer_types", [mixed[:n], mixed[:n], ABSENT])
    pick(rng, cfg, "global_head_dim", [8, 20, ABSENT])
    pick(rng, cfg, "attention_k_eq_v", [True, False, ABSENT])
    pick(rng, cfg, "num_global_key_value_heads", [1, 2, None, ABSENT])
    pick(rng, cfg, "use_double_wide_mlp", [True, False, ABSENT])
    pick(rng, cfg, "hidden_size_per_layer_input", [0, 6, ABSENT])
    pick(rng, cfg, "vocab_size_per_layer_input", [50, ABSENT])
    pick(rng, cfg, "attention_bias", [True, False, ABSENT])
    pick(rng, cfg, "sliding_window", [16, ABSENT])
    if rng.random() < 0.4:
        e = rng.randint(2, 5)
        cfg.update(enable_moe_block=True, num_experts=e, top_k_experts=rng.randint(1, e),
                   moe_intermediate_size=rng.choice([8, 24]))
    # KV sharing needs every type among the shared layers to appear before them; with the
    # default layer types (and the last layer forced full) only the last layer can share
    types = cfg.get("layer_types") or ["sliding_attention"] * (n - 1) + ["full_attention"]
    types = [*types[:-1], "full_attention"]
    ok = [m for m in range(1, n) if set(types[n - m:]) <= set(types[:n - m])]
    pick(rng, cfg, "num_kv_shared_layers", [rng.choice(ok or [0]), rng.choice(ok or [0]), 0, ABSENT])
    if rng.random() < 0.3:  # the form transformers 5.24 saves: the full layers' shapes per layer
        shape = {"head_dim": rng.choice([8, 20]), "num_key_value_heads": rng.choice([1, 2])}
        cfg["per_layer_config"] = {str(i): shape for i, t in enumerate(types) if t == "full_attention"}
        cfg.pop("global_head_dim", None)


def gemma4(rng: random.Random) -> Cfg:
    text = with_(llama_like, gemma4_text)(rng)
    a = rng.choice([2, 4])
    vision = dict(num_hidden_layers=rng.randint(1, 2), hidden_size=8 * a, num_attention_heads=a,
                  num_key_value_heads=rng.choice([1, a]), head_dim=rng.choice([4, 8]),
                  intermediate_size=rng.choice([16, 40]), patch_size=rng.choice([2, 4]),
                  position_embedding_size=rng.choice([16, 64]))
    audio = dict(num_hidden_layers=rng.randint(1, 2), hidden_size=rng.choice([16, 24]), num_attention_heads=4,
                 subsampling_conv_channels=[rng.choice([8, 12]), rng.choice([4, 6])],
                 conv_kernel_size=rng.choice([3, 5]), output_proj_dims=rng.choice([20, 32]))
    cfg: Cfg = {"text_config": text, "vision_config": rng.choice([vision, None]),
                "audio_config": rng.choice([audio, None])}
    if "tie_word_embeddings" in text:
        cfg["tie_word_embeddings"] = text["tie_word_embeddings"]
    return cfg


def with_(base: Callable[..., Cfg], *extras: Callable[[random.Random, Cfg], None], **kw: Any):
    def make(rng: random.Random) -> Cfg:
        cfg = base(rng, **kw)
        for extra in extras:
            extra(rng, cfg)
        return cfg

    return make


def sliding(rng: random.Random, cfg: Cfg) -> None:
    pick(rng, cfg, "sliding_window", [16, None, ABSENT])


GENERATORS: dict[str, tuple[Callable[[random.Random], Cfg], list[str]]] = {
    "apertus": (with_(llama_like, flags("attention_bias"), act("xielu", "relu2")), ["ApertusForCausalLM"]),
    "cohere2": (with_(llama_like, flags("attention_bias"), windows(2), explicit_head_dim=False),
                ["Cohere2ForCausalLM"]),
    "dbrx": (dbrx, ["DbrxForCausalLM"]),
    "deepseek_v32": (with_(llama_like, deepseek_v32, explicit_head_dim=False), ["DeepseekV32ForCausalLM"]),
    "dots1": (with_(llama_like, deepseek_moe, flags("attention_bias"), dots1_windows), ["Dots1ForCausalLM"]),
    "ernie4_5": (with_(llama_like, flags("use_bias")), ["Ernie4_5ForCausalLM"]),
    "ernie4_5_moe": (with_(llama_like, ernie_moe), ["Ernie4_5_MoeForCausalLM"]),
    "exaone4": (with_(llama_like, windows(2), exaone_letters), ["Exaone4ForCausalLM"]),
    "glm4": (with_(llama_like, flags("attention_bias")), ["Glm4ForCausalLM"]),
    "glm4_moe": (with_(llama_like, deepseek_moe, flags("attention_bias", "use_qk_norm")),
                 ["Glm4MoeForCausalLM"]),
    "granitemoe": (with_(llama_like, moe_mixtral, flags("attention_bias")), ["GraniteMoeForCausalLM"]),
    "hunyuan_v1_dense": (with_(llama_like, head_dim_given, flags("attention_bias")),
                         ["HunYuanDenseV1ForCausalLM"]),
    "hunyuan_v1_moe": (with_(llama_like, head_dim_given, hunyuan_moe, flags("attention_bias")),
                       ["HunYuanMoEV1ForCausalLM"]),
    "minicpm3": (with_(llama_like, minicpm3, explicit_head_dim=False), ["MiniCPM3ForCausalLM"]),
    "ministral": (with_(llama_like, head_dim_given, sliding), ["MinistralForCausalLM"]),
    "olmo3": (with_(llama_like, flags("attention_bias"), explicit_head_dim=False), ["Olmo3ForCausalLM"]),
    "seed_oss": (with_(llama_like, flags("attention_bias", "attention_out_bias", "mlp_bias")),
                 ["SeedOssForCausalLM"]),
    "smollm3": (with_(llama_like, flags("attention_bias", "mlp_bias"), smollm3), ["SmolLM3ForCausalLM"]),
    "gpt2": (gpt2_like, ["GPT2LMHeadModel", "GPT2Model"]),
    "gpt_bigcode": (with_(gpt2_like, flags("multi_query")), ["GPTBigCodeForCausalLM"]),
    "gptj": (with_(gpt2_like), ["GPTJForCausalLM"]),
    "gpt_neox": (with_(llama_like, flags("attention_bias", "use_parallel_residual"),
                       explicit_head_dim=False, kv=False), ["GPTNeoXForCausalLM"]),
    "opt": (opt, ["OPTForCausalLM"]),
    "bloom": (with_(gpt2_like, width_key="hidden_size"), ["BloomForCausalLM"]),
    "falcon": (falcon, ["FalconForCausalLM"]),
    "llama": (with_(llama_like, flags("attention_bias", "mlp_bias")), ["LlamaForCausalLM", "LlamaModel"]),
    "gpt_oss": (with_(llama_like, moe_mixtral, flags("attention_bias"), sliding), ["GptOssForCausalLM"]),
    "granite": (with_(llama_like, flags("attention_bias", "mlp_bias")), ["GraniteForCausalLM"]),
    "llama4_text": (with_(llama_like, llama4_text), ["Llama4ForCausalLM"]),
    "llama4": (llama4, ["Llama4ForConditionalGeneration"]),
    "mllama": (mllama, ["MllamaForConditionalGeneration", "MllamaForCausalLM"]),
    "mllama_text_model": (with_(llama_like, mllama_text, explicit_head_dim=False), ["MllamaForCausalLM"]),
    "mistral": (with_(llama_like, sliding), ["MistralForCausalLM"]),
    "mixtral": (with_(llama_like, moe_mixtral, sliding), ["MixtralForCausalLM"]),
    "qwen2": (with_(llama_like, sliding, explicit_head_dim=False), ["Qwen2ForCausalLM"]),
    "qwen2_moe": (with_(llama_like, qwen2_moe, explicit_head_dim=False), ["Qwen2MoeForCausalLM"]),
    "qwen3": (with_(llama_like, flags("attention_bias")), ["Qwen3ForCausalLM"]),
    "qwen3_moe": (with_(llama_like, moe_qwen, flags("attention_bias")), ["Qwen3MoeForCausalLM"]),
    "gemma": (with_(llama_like, flags("attention_bias")), ["GemmaForCausalLM"]),
    "gemma2": (with_(llama_like, flags("attention_bias")), ["Gemma2ForCausalLM"]),
    "gemma3_text": (with_(llama_like, flags("attention_bias")), ["Gemma3ForCausalLM"]),
    "gemma3n_text": (with_(llama_like, gemma3n_text), ["Gemma3nForCausalLM"]),
    "gemma4_text": (with_(llama_like, gemma4_text), ["Gemma4ForCausalLM"]),
    "gemma4": (gemma4, ["Gemma4ForConditionalGeneration"]),
    "phi": (with_(llama_like, flags("qk_layernorm"), explicit_head_dim=False), ["PhiForCausalLM"]),
    "phi3": (with_(llama_like, sliding, explicit_head_dim=False), ["Phi3ForCausalLM"]),
    "phimoe": (with_(llama_like, moe_mixtral, flags("attention_bias", "lm_head_bias"),
                     explicit_head_dim=False), ["PhimoeForCausalLM"]),
    "starcoder2": (with_(llama_like, flags("use_bias"), explicit_head_dim=False),
                   ["Starcoder2ForCausalLM"]),
    "olmo": (with_(llama_like, flags("attention_bias"), explicit_head_dim=False), ["OlmoForCausalLM"]),
    "olmo2": (with_(llama_like, flags("attention_bias"), explicit_head_dim=False), ["Olmo2ForCausalLM"]),
    "olmoe": (with_(llama_like, moe_olmoe, flags("attention_bias"), explicit_head_dim=False),
              ["OlmoeForCausalLM"]),
    "cohere": (with_(llama_like, flags("attention_bias", "use_qk_norm"), explicit_head_dim=False),
               ["CohereForCausalLM"]),
    "stablelm": (with_(llama_like, flags("use_qkv_bias", "qk_layernorm", "use_parallel_residual"),
                       explicit_head_dim=False), ["StableLmForCausalLM"]),
    "deepseek_v2": (with_(llama_like, deepseek, flags("mlp_bias"), shared_with_bias, explicit_head_dim=False),
                    ["DeepseekV2ForCausalLM"]),
    "deepseek_v3": (with_(llama_like, deepseek, explicit_head_dim=False), ["DeepseekV3ForCausalLM"]),
    "t5": (t5, ["T5ForConditionalGeneration", "T5Model"]),
    "bert": (bert, ["BertForMaskedLM", "BertModel"]),
    "roberta": (bert, ["RobertaForMaskedLM"]),
    "bamba": (with_(llama_like, bamba, flags("attention_bias", "mlp_bias"), explicit_head_dim=False),
              ["BambaForCausalLM"]),
    "falcon_h1": (with_(llama_like, falcon_h1), ["FalconH1ForCausalLM"]),
    "granitemoehybrid": (with_(llama_like, granitemoehybrid, flags("attention_bias"),
                               explicit_head_dim=False),
                         ["GraniteMoeHybridForCausalLM"]),
    "jamba": (with_(llama_like, jamba, explicit_head_dim=False), ["JambaForCausalLM"]),
    "kimi_linear": (with_(llama_like, kimi_linear), ["KimiLinearForCausalLM"]),
    "lfm2": (with_(llama_like, lfm2, explicit_head_dim=False), ["Lfm2ForCausalLM"]),
    "mamba2": (mamba2, ["Mamba2ForCausalLM"]),
    "minimax_m2": (with_(llama_like, moe_mixtral), ["MiniMaxM2ForCausalLM"]),
    "nemotron_h": (with_(llama_like, nemotron_h), ["NemotronHForCausalLM"]),
    "qwen3_next": (with_(llama_like, qwen3_next), ["Qwen3NextForCausalLM"]),
    "qwen3_5_text": (with_(llama_like, deltanet), ["Qwen3_5ForCausalLM"]),
    "qwen3_5_moe_text": (with_(llama_like, qwen3_5_moe), ["Qwen3_5MoeForCausalLM"]),
    "qwen2_vl": (qwen2_vl("qwen2_vl"), ["Qwen2VLForConditionalGeneration"]),
    "qwen2_5_vl": (qwen2_vl("qwen2_5_vl"), ["Qwen2_5_VLForConditionalGeneration"]),
    "qwen3_vl": (qwen3_vl("qwen3_vl_text", "qwen3_vl", flags("attention_bias")),
                 ["Qwen3VLForConditionalGeneration"]),
    "qwen3_vl_moe": (qwen3_vl("qwen3_vl_moe_text", "qwen3_vl", moe_qwen, flags("attention_bias")),
                     ["Qwen3VLMoeForConditionalGeneration"]),
    "qwen3_5": (qwen3_vl("qwen3_5_text", "qwen3_5", deltanet), ["Qwen3_5ForConditionalGeneration"]),
    "qwen3_5_moe": (qwen3_vl("qwen3_5_moe_text", "qwen3_5", qwen3_5_moe),
                    ["Qwen3_5MoeForConditionalGeneration"]),
    "zamba2": (zamba2, ["Zamba2ForCausalLM"]),
    "mamba": (mamba, ["MambaForCausalLM"]),
    "falcon_mamba": (mamba, ["FalconMambaForCausalLM"]),
}
# covered by falcon, the catalog's Gemma 3, the Qwen VL wrappers (their text models alone have
# no causal-LM class in transformers 5.24), and gemma3n_text (transformers builds the Gemma 3n
# wrapper's vision tower with timm, which is not installed: the wrapper is counted without its towers)
ALIASES = {"RefinedWeb", "RefinedWebModel", "gemma3", "qwen2_vl_text", "qwen2_5_vl_text", "qwen3_vl_text",
           "qwen3_vl_moe_text", "gemma3n"}


def test_every_supported_type_has_a_generator():
    assert set(supported_model_types()) - ALIASES == set(GENERATORS)


def cases() -> list[tuple[str, int]]:
    return [(t, i) for t in GENERATORS for i in range(PER_TYPE)]


def valid_case(model_type: str, seed: int) -> tuple[dict[str, Any], Architecture]:
    """A random config of ``model_type`` that llmsize accepts.

    llmsize refuses a config only where transformers' own defaults make kv heads that cannot
    group the attention heads (e.g. Qwen2's default of 32 kv heads under 6 heads); such a draw is
    checked to be that case and drawn again.
    """
    make, classes = GENERATORS[model_type]
    for attempt in range(50):
        rng = random.Random(f"{model_type}-{seed}-{attempt}")
        cfg = make(rng)
        cfg.update(model_type=model_type, architectures=[rng.choice(classes)])
        cfg["pad_token_id"] = 0  # some families default to an id outside these small vocabularies
        try:
            return cfg, from_hf_config(cfg, f"{model_type}-{seed}")[0]
        except ArchitectureError:
            hf = hf_config(dict(cfg)).get_text_config()
            assert hf.num_attention_heads % hf.num_key_value_heads, cfg
    raise AssertionError(f"no valid {model_type} config drawn")


@pytest.mark.parametrize(("model_type", "seed"), cases(), ids=[f"{t}-{i}" for t, i in cases()])
def test_random_config_matches_transformers(model_type: str, seed: int):
    cfg, arch = valid_case(model_type, seed)
    report = count_params(arch)
    truth = hf_counts(cfg)
    expected = truth.total
    if t5_head_untied_by_checkpoint(cfg) and not cfg["architectures"][0].endswith("Model"):
        expected += arch.vocab_size * arch.d_model
    assert report.total == expected, cfg
    assert report.non_embedding == truth.non_embedding, cfg
    assert report.breakdown.value == report.total
    assert sum(t.numel for t in model_tensors(arch)) == report.total  # the per-tensor list agrees
    assert all(p.value == sum(c.value for c in p.parts) for _, p in report.breakdown.walk() if p.parts)


def test_gemma3n_defaults_are_the_e4b_text_model():
    """``Gemma3nTextConfig``'s defaults are the E4B text model (its docstring: "gemma3n_text-E4B
    style"): 35 layers, 15 sharing K/V, per-layer embeddings of 262,144 × 35 × 256."""
    cfg = {"model_type": "gemma3n_text", "architectures": ["Gemma3nForCausalLM"]}
    report, truth = count_params(from_hf_config(cfg)[0]), hf_counts(cfg)
    assert (report.total, report.non_embedding) == (truth.total, truth.non_embedding)
    assert report.total - report.non_embedding == 262_400 * 2048 + 262_144 * 35 * 256


def test_gemma3n_wrapper_counts_its_text_model_and_says_what_it_leaves_out():
    """transformers builds the wrapper's vision tower with timm (``TimmWrapperModel``), which
    is not installed here, so the wrapper's own count cannot be checked; its text model (and the
    tied head) is counted, and a warning names the towers left out."""
    text, _ = valid_case("gemma3n_text", 3)
    text = {k: v for k, v in text.items() if k != "architectures"}
    cfg = {"model_type": "gemma3n", "architectures": ["Gemma3nForConditionalGeneration"],
           "text_config": text, "vision_config": {"model_type": "gemma3n_vision"},
           "audio_config": {"model_type": "gemma3n_audio"}}
    arch, warnings = from_hf_config(cfg, "gemma-3n")
    assert count_params(arch).total == hf_counts({**text, "architectures": ["Gemma3nForCausalLM"]}).total
    assert any("vision tower" in w and "audio encoder" in w for w in warnings), warnings
