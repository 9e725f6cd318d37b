"""The rules of the attention families: MLP width, positions, norms, biases, QK-norms, sliding
windows, multi-head latent attention, and the encoders (T5, BERT).

Each rule reads the keys a table cannot say and writes ``Architecture`` fields into ``out``.
"""

from __future__ import annotations

from ...arch import MLA
from .keys import D_FF, MAX_POSITION

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

    from .keys import Derive, Reader


def ff_default_4d(r: Reader, out: dict[str, Any]) -> None:
    """GPT-2, GPT-J, BigCode, Falcon: the MLP is 4·d wide unless given."""
    out["d_ff"] = r.get(*D_FF) or 4 * out["d_model"]


def ff_always_4d(r: Reader, out: dict[str, Any]) -> None:
    """BLOOM: the MLP is 4·d wide, with no key to change it."""
    out["d_ff"] = 4 * out["d_model"]


def learned_positions(r: Reader, out: dict[str, Any]) -> None:
    out["position_rows"] = r.need(*MAX_POSITION)


def multi_query(r: Reader, out: dict[str, Any]) -> None:
    """GPT-BigCode: one shared key/value head when ``multi_query`` (default True)."""
    if r.get("multi_query", default=True):
        out["n_kv_heads"] = 1


def opt(r: Reader, out: dict[str, Any]) -> None:
    """OPT: positions are offset by 2 rows (``OPTLearnedPositionalEmbedding``); embeddings may be
    narrower than d (``word_embed_proj_dim``, with project_in/out); norms may be non-affine, and
    post-norm models (``do_layer_norm_before=False``, opt-350m) have no final norm."""
    out["position_rows"] = r.need(*MAX_POSITION) + 2
    out["d_embed"] = r.get("word_embed_proj_dim") or out["d_model"]
    bias = bool(r.get("enable_bias", default=True))
    out.update(qkv_bias=bias, o_bias=bias, mlp_bias=bias)
    affine = bool(r.get("layer_norm_elementwise_affine", default=True))
    out.update(norm_weight=affine, norm_bias=affine)
    pre = bool(r.get("do_layer_norm_before", default=True))
    out["final_norm"] = pre and not r.get("_remove_final_layer_norm", default=False)
    out["norm_placement"] = "pre" if pre else "post"


def falcon(r: Reader, out: dict[str, Any]) -> None:
    """Falcon (models/falcon/modeling_falcon.py): ``new_decoder_architecture`` (40B/180B) has
    ``num_kv_heads`` kv heads; otherwise ``multi_query`` (7B) keeps one, else a.  A parallel block
    (``parallel_attn``) has ``num_ln_in_parallel_attn`` input norms (2 by default in the new
    architecture, else 1); a sequential block has two."""
    a, new = out["n_heads"], bool(r.get("new_decoder_architecture", default=False))
    multi_query = bool(r.get("multi_query", default=True))
    out["n_kv_heads"] = (r.get("num_kv_heads", "n_head_kv") or a) if new else (1 if multi_query else a)
    parallel = bool(r.get("parallel_attn", default=True))
    n_ln = r.get("num_ln_in_parallel_attn", default=2 if new else None)
    out.update(parallel_block=parallel, shared_block_norm=parallel and n_ln != 2)
    bias = bool(r.get("bias", default=False))
    out.update(qkv_bias=bias, o_bias=bias, mlp_bias=bias)
    out["position"] = "alibi" if r.get("alibi", default=False) else "rotary"


def gpt_neox(r: Reader, out: dict[str, Any]) -> None:
    """GPT-NeoX: two norms per layer whether or not ``use_parallel_residual``."""
    out["parallel_block"] = bool(r.get("use_parallel_residual", default=True))


def stablelm(r: Reader, out: dict[str, Any]) -> None:
    """StableLM: a parallel residual drops ``post_attention_layernorm``; QK LayerNorms are one per
    head without bias (``StableLmLayerNormPerHead``)."""
    parallel = bool(r.get("use_parallel_residual", default=False))
    out.update(parallel_block=parallel, shared_block_norm=parallel)
    out["qk_norm"] = "full" if r.get("qk_layernorm", default=False) else "none"


def qk_norm_flag(key: str, kind: str, *, bias: bool = False) -> Derive:
    def rule(r: Reader, out: dict[str, Any]) -> None:
        if r.get(key, default=False):
            out.update(qk_norm=kind, qk_norm_bias=bias)

    rule.__doc__ = f"``{key}`` switches on a QK-norm of kind {kind!r}."
    return rule


def sliding_all(r: Reader, out: dict[str, Any]) -> None:
    """Mistral, Mixtral, Phi-3, StarCoder2: every layer attends within ``sliding_window`` if set.
    An explicit ``"sliding_window": null`` (Mistral-7B-v0.3, Mistral-NeMo) turns it off; only an
    absent key takes the family default."""
    if "sliding_window" in r.raw and r.raw["sliding_window"] is None:
        r.read.add("sliding_window")
        return
    window = r.get("sliding_window")
    if window:
        out.update(sliding_window=window, layer_types=("sliding",) * out["n_layers"])


def sliding_qwen(r: Reader, out: dict[str, Any]) -> None:
    """Qwen2/3: with ``use_sliding_window``, layers from ``max_window_layers`` on slide."""
    window, first = r.get("sliding_window"), r.get("max_window_layers", default=28)
    if r.get("use_sliding_window", default=False) and window:
        types = tuple("sliding" if i >= first else "full" for i in range(out["n_layers"]))
        out.update(sliding_window=window, layer_types=types)


def sliding_pattern(period: int, key: str, *, off_when_null: bool = False) -> Derive:
    def rule(r: Reader, out: dict[str, Any]) -> None:
        if off_when_null and "sliding_window" in r.raw and r.raw["sliding_window"] is None:
            r.read.update(("sliding_window", key))
            return
        p = r.get(key, "_sliding_window_pattern", default=period)
        window = r.get("sliding_window", default=4096)
        n = out["n_layers"]
        if r.get("layer_types") is not None:  # the config classes keep an explicit list
            out["sliding_window"] = window  # (from_hf_config reads it)
            return
        if isinstance(p, str):  # EXAONE 4.0: "LLLG", L local, G global, repeated
            types = tuple("full" if p[i % len(p)] == "G" else "sliding" for i in range(n))
        else:
            types = tuple("full" if (i + 1) % p == 0 else "sliding" for i in range(n))
        out.update(sliding_window=window, layer_types=types)

    rule.__doc__ = f"Every {period}th layer is global, the rest slide (``{key}``)."
    return rule


def sliding_after(r: Reader, out: dict[str, Any]) -> None:
    """dots.llm1: layers from ``max_window_layers`` on slide when ``sliding_window`` is set."""
    window, first = r.get("sliding_window"), r.get("max_window_layers", default=out["n_layers"])
    if window:
        types = tuple("sliding" if i >= first else "full" for i in range(out["n_layers"]))
        if "sliding" in types:
            out.update(sliding_window=window, layer_types=types)


def smollm3(r: Reader, out: dict[str, Any]) -> None:
    """SmolLM3 (models/smollm3/configuration_smollm3.py): NoPE layers (``no_rope_layers[i]`` = 0,
    by default every ``no_rope_layer_interval``-th) slide when ``use_sliding_window``."""
    n, every = out["n_layers"], r.get("no_rope_layer_interval", default=4)
    rope = r.get("no_rope_layers") or [int((i + 1) % every != 0) for i in range(n)]
    window = r.get("sliding_window")
    if r.get("use_sliding_window", default=False) and window:
        types = tuple("sliding" if not rope[i] else "full" for i in range(n))
        if "sliding" in types:
            out.update(sliding_window=window, layer_types=types)


def head_dim_is_d_over_a(r: Reader, out: dict[str, Any]) -> None:
    """Cohere 2: head_dim = d / a whatever the config says (configuration_cohere2.py)."""
    r.get("head_dim")
    out["head_dim"] = None


def mla_v_default(r: Reader, out: dict[str, Any]) -> None:
    """MiniCPM3: ``v_head_dim`` defaults to d / a (configuration_minicpm3.py)."""
    if r.get("v_head_dim") is None:
        out["_v_head_dim"] = out["d_model"] // out["n_heads"]


def _explicit_or_default(r: Reader, key: str) -> Any:
    """``key`` as the config writes it, an explicit null included (DeepSeek-V2-Lite's
    ``q_lora_rank: null`` means no query compression), else the family default; read and checked
    through the reader either way."""
    value = r.get(key)
    return r.raw[key] if key in r.raw else value


def mtp_note(r: Reader, out: dict[str, Any]) -> None:
    """DeepSeek-V3, GLM-4.5: multi-token-prediction layers the checkpoint stores and transformers
    does not build (``num_nextn_predict_layers``); named in a note, not counted."""
    mtp = r.get("num_nextn_predict_layers", default=0)
    if mtp:
        out["notes"] = (
            f"the checkpoint also stores {mtp} multi-token-prediction layer(s) (DeepSeek-V3 §2.2), "
            "which transformers does not build; they are not counted",
        )


def mla(r: Reader, out: dict[str, Any]) -> None:
    out["mla"] = MLA(
        kv_lora_rank=r.need("kv_lora_rank"),
        # an explicit null means a plain query projection, whatever the class default
        q_lora_rank=_explicit_or_default(r, "q_lora_rank"),
        qk_nope_head_dim=r.need("qk_nope_head_dim"), qk_rope_head_dim=r.need("qk_rope_head_dim"),
        v_head_dim=out.pop("_v_head_dim", None) or r.need("v_head_dim"),
    )
    out["head_dim"] = out["mla"].qk_head_dim
    mtp_note(r, out)
    out["n_kv_heads"] = out["n_heads"]  # MLA: every head reads the shared latent


def t5(r: Reader, out: dict[str, Any]) -> None:
    """T5 (Raffel et al. 2020 §2.1): encoder-decoder; ``d_kv`` is the head width; v1.1 and
    Flan-T5 use a gated-GELU MLP (``feed_forward_proj: "gated-gelu"``)."""
    out["n_decoder_layers"] = r.get("num_decoder_layers") or out["n_layers"]
    out["gated_mlp"] = str(r.get("feed_forward_proj", default="relu")).startswith("gated")
    out["relative_buckets"] = r.get("relative_attention_num_buckets", default=32)
    if not out["tie_embeddings"]:
        out["notes"] = (
            "transformers >= 5 ties T5's lm_head to the shared embedding whatever the config says "
            "(models/t5/configuration_t5.py); the checkpoint holds a separate lm_head, counted here",
        )


def bert(r: Reader, out: dict[str, Any]) -> None:
    out["position_rows"] = r.need(*MAX_POSITION)
    out["token_types"] = r.get("type_vocab_size", default=2)
