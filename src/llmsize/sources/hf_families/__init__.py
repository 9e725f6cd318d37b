"""The ``model_type`` families: how each ``transformers`` modeling file maps onto ``Architecture``.

A ``Family`` holds the structural facts of one modeling file (norm type, which projections carry
biases, parallel blocks…), the config keys that switch them with the default the ``transformers``
config class uses when the key is absent (read from transformers 5.24), and ``derive`` rules for
what a table cannot say (Falcon's norms, OPT's position offset, DeepSeek's routed layers…).
``hf_config.py`` reads a ``config.json`` through them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ...arch import MLA, SSM, Indexer, LinearAttention, MoE, ShortConv
from ...errors import ConfigError

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol

    class _Reader(Protocol):
        """What a rule reads a config through (``hf_config._Reader``, which records each key)."""

        raw: Mapping[str, Any]
        read: set[str]

        def get(self, *keys: str, default: Any = None) -> Any: ...

        def need(self, *keys: str) -> int: ...

    Derive = Callable[[_Reader, dict[str, Any]], None]

# One alias table for the size keys every family shares, most common spelling first.
N_LAYERS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
D_MODEL = ("hidden_size", "n_embd", "d_model", "n_embed")
N_HEADS = ("num_attention_heads", "n_head", "num_heads", "n_heads")
N_KV_HEADS = ("num_key_value_heads", "num_kv_heads", "n_head_kv")
D_FF = ("intermediate_size", "n_inner", "ffn_dim", "d_ff", "ffn_hidden_size")
MAX_POSITION = ("max_position_embeddings", "n_positions", "seq_length", "max_seq_len")


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


# --- family-specific rules ------------------------------------------------------------------


def _ff_default_4d(r: _Reader, out: dict[str, Any]) -> None:
    """GPT-2, GPT-J, BigCode, Falcon: the MLP is 4·d wide unless given."""
    out["d_ff"] = r.get(*D_FF) or 4 * out["d_model"]


def _ff_always_4d(r: _Reader, out: dict[str, Any]) -> None:
    """BLOOM: the MLP is 4·d wide, with no key to change it."""
    out["d_ff"] = 4 * out["d_model"]


def _learned_positions(r: _Reader, out: dict[str, Any]) -> None:
    out["position_rows"] = r.need(*MAX_POSITION)


def _multi_query(r: _Reader, out: dict[str, Any]) -> None:
    """GPT-BigCode: one shared key/value head when ``multi_query`` (default True)."""
    if r.get("multi_query", default=True):
        out["n_kv_heads"] = 1


def _opt(r: _Reader, out: dict[str, Any]) -> None:
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


def _falcon(r: _Reader, out: dict[str, Any]) -> None:
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


def _gpt_neox(r: _Reader, out: dict[str, Any]) -> None:
    """GPT-NeoX: two norms per layer whether or not ``use_parallel_residual``."""
    out["parallel_block"] = bool(r.get("use_parallel_residual", default=True))


def _stablelm(r: _Reader, out: dict[str, Any]) -> None:
    """StableLM: a parallel residual drops ``post_attention_layernorm``; QK LayerNorms are one per
    head without bias (``StableLmLayerNormPerHead``)."""
    parallel = bool(r.get("use_parallel_residual", default=False))
    out.update(parallel_block=parallel, shared_block_norm=parallel)
    out["qk_norm"] = "full" if r.get("qk_layernorm", default=False) else "none"


def _qk_norm_flag(key: str, kind: str, *, bias: bool = False) -> Derive:
    def rule(r: _Reader, out: dict[str, Any]) -> None:
        if r.get(key, default=False):
            out.update(qk_norm=kind, qk_norm_bias=bias)

    rule.__doc__ = f"``{key}`` switches on a QK-norm of kind {kind!r}."
    return rule


def _sliding_all(r: _Reader, out: dict[str, Any]) -> None:
    """Mistral, Mixtral, Phi-3, StarCoder2: every layer attends within ``sliding_window`` if set.
    An explicit ``"sliding_window": null`` (Mistral-7B-v0.3, Mistral-NeMo) turns it off; only an
    absent key takes the family default."""
    if "sliding_window" in r.raw and r.raw["sliding_window"] is None:
        r.read.add("sliding_window")
        return
    window = r.get("sliding_window")
    if window:
        out.update(sliding_window=window, layer_types=("sliding",) * out["n_layers"])


def _sliding_qwen(r: _Reader, out: dict[str, Any]) -> None:
    """Qwen2/3: with ``use_sliding_window``, layers from ``max_window_layers`` on slide."""
    window, first = r.get("sliding_window"), r.get("max_window_layers", default=28)
    if r.get("use_sliding_window", default=False) and window:
        types = tuple("sliding" if i >= first else "full" for i in range(out["n_layers"]))
        out.update(sliding_window=window, layer_types=types)


def _sliding_pattern(period: int, key: str, *, off_when_null: bool = False) -> Derive:
    def rule(r: _Reader, out: dict[str, Any]) -> None:
        if off_when_null and "sliding_window" in r.raw and r.raw["sliding_window"] is None:
            r.read.update(("sliding_window", key))
            return
        p = r.get(key, "_sliding_window_pattern", default=period)
        window = r.get("sliding_window", default=4096)
        n = out["n_layers"]
        if isinstance(p, str):  # EXAONE 4.0: "LLLG", L local, G global, repeated
            types = tuple("full" if p[i % len(p)] == "G" else "sliding" for i in range(n))
        else:
            types = tuple("full" if (i + 1) % p == 0 else "sliding" for i in range(n))
        out.update(sliding_window=window, layer_types=types)

    rule.__doc__ = f"Every {period}th layer is global, the rest slide (``{key}``)."
    return rule


def _sliding_after(r: _Reader, out: dict[str, Any]) -> None:
    """dots.llm1: layers from ``max_window_layers`` on slide when ``sliding_window`` is set."""
    window, first = r.get("sliding_window"), r.get("max_window_layers", default=out["n_layers"])
    if window:
        types = tuple("sliding" if i >= first else "full" for i in range(out["n_layers"]))
        if "sliding" in types:
            out.update(sliding_window=window, layer_types=types)


def _smollm3(r: _Reader, out: dict[str, Any]) -> None:
    """SmolLM3 (models/smollm3/configuration_smollm3.py): NoPE layers (``no_rope_layers[i]`` = 0,
    by default every ``no_rope_layer_interval``-th) slide when ``use_sliding_window``."""
    n, every = out["n_layers"], r.get("no_rope_layer_interval", default=4)
    rope = r.get("no_rope_layers") or [int((i + 1) % every != 0) for i in range(n)]
    window = r.get("sliding_window")
    if r.get("use_sliding_window", default=False) and window:
        types = tuple("sliding" if not rope[i] else "full" for i in range(n))
        if "sliding" in types:
            out.update(sliding_window=window, layer_types=types)


def _head_dim_is_d_over_a(r: _Reader, out: dict[str, Any]) -> None:
    """Cohere 2: head_dim = d / a whatever the config says (configuration_cohere2.py)."""
    r.get("head_dim")
    out["head_dim"] = None


def _moe_layers(n_layers: int, *, first_dense: int = 0, every: int = 1, phase: int = 0,
                dense: tuple[int, ...] = ()) -> tuple[int, ...]:
    """Indices of routed layers: from ``first_dense`` on, every ``every``-th (offset by ``phase``),
    minus explicitly dense ones (Qwen ``mlp_only_layers``)."""
    return tuple(
        i for i in range(n_layers)
        if i >= first_dense and (i + phase) % every == 0 and i not in dense
    )


def _moe_mixtral(r: _Reader, out: dict[str, Any]) -> None:
    """Mixtral, PhiMoE: every layer routed over ``num_local_experts`` experts of width I."""
    out["moe"] = MoE(
        n_experts=r.need("num_local_experts"), top_k=r.need("num_experts_per_tok"),
        d_ff_expert=out["d_ff"], layers=tuple(range(out["n_layers"])),
    )


def _moe_qwen(r: _Reader, out: dict[str, Any]) -> None:
    """Qwen2-MoE / Qwen3-MoE: routed layers every ``decoder_sparse_step`` (layer i routed when
    (i+1) % step == 0) except ``mlp_only_layers``; Qwen2-MoE adds a gated shared expert."""
    n_exp = r.need("num_experts", "num_local_experts")
    layers = _moe_layers(
        out["n_layers"], every=r.get("decoder_sparse_step", default=1), phase=1,
        dense=tuple(r.get("mlp_only_layers", default=())),
    )
    shared = r.get("shared_expert_intermediate_size", default=0)
    out["moe"] = MoE(
        n_experts=n_exp, top_k=r.need("num_experts_per_tok"),
        d_ff_expert=r.get("moe_intermediate_size") or out["d_ff"], layers=layers,
        n_shared_experts=int(bool(shared)), d_ff_shared=shared, shared_expert_gate=bool(shared),
    )


def _moe_olmoe(r: _Reader, out: dict[str, Any]) -> None:
    """OLMoE (arXiv 2409.02060 §2): every layer routed, no shared expert."""
    out["moe"] = MoE(
        n_experts=r.need("num_experts"), top_k=r.need("num_experts_per_tok"),
        d_ff_expert=out["d_ff"], layers=tuple(range(out["n_layers"])),
    )


def _moe_deepseek(r: _Reader, out: dict[str, Any]) -> None:
    """DeepSeek-V2/V3 (arXiv 2405.04434 §2.2; 2412.19437 §2.1.2): the first
    ``first_k_dense_replace`` layers are dense, then every ``moe_layer_freq``-th is routed;
    ``n_shared_experts`` shared experts form one MLP of width n_shared · I_e."""
    d_e = r.need("moe_intermediate_size")
    n_shared = r.get("n_shared_experts", default=0) or 0
    layers = _moe_layers(
        out["n_layers"], first_dense=r.get("first_k_dense_replace", default=0),
        every=r.get("moe_layer_freq", default=1),
    )
    out["moe"] = MoE(
        n_experts=r.need("n_routed_experts"), top_k=r.need("num_experts_per_tok"),
        d_ff_expert=d_e, layers=layers, n_shared_experts=n_shared, d_ff_shared=n_shared * d_e,
    )


def _moe_gpt_oss(r: _Reader, out: dict[str, Any]) -> None:
    """gpt-oss (models/gpt_oss/modeling_gpt_oss.py): every layer routed over
    ``num_local_experts`` experts of width I with biases (``gate_up_proj_bias``, ``down_proj_bias``),
    a router with a bias; layers alternate sliding (even i) and full unless ``layer_types`` says."""
    out["moe"] = MoE(
        n_experts=r.need("num_local_experts"), top_k=r.need("num_experts_per_tok", "experts_per_token"),
        d_ff_expert=out["d_ff"], layers=tuple(range(out["n_layers"])), router_bias=True,
        expert_bias=True,
    )
    _sliding_pattern(2, "_sliding_window_pattern")(r, out)


def _llama4(r: _Reader, out: dict[str, Any]) -> None:
    """Llama 4 text (models/llama4/configuration_llama4.py, modeling_llama4.py): ``moe_layers``
    (default every ``interleave_moe_layer_step``-th, from step − 1) route over ``num_local_experts``
    experts of width ``intermediate_size`` beside one shared expert of the same width; the other
    layers are dense with ``intermediate_size_mlp``. RoPE layers (``no_rope_layers[i]`` = 1, by
    default all but every ``no_rope_layer_interval``-th) attend in chunks of
    ``attention_chunk_size``, which the cache keeps as a sliding window (cache_utils
    ``LAYER_CLASS_MAP``: "chunked_attention" → DynamicSlidingWindowLayer); the NoPE layers attend
    to everything. The QK-norm is an L2 norm without weights."""
    n, step = out["n_layers"], r.get("interleave_moe_layer_step", default=1)
    layers = r.get("moe_layers")
    layers = tuple(layers) if layers is not None else tuple(range(step - 1, n, step))
    d_e = out["d_ff"]
    out["d_ff"] = r.need("intermediate_size_mlp")
    out["moe"] = MoE(n_experts=r.need("num_local_experts"), top_k=r.need("num_experts_per_tok"),
                     d_ff_expert=d_e, layers=layers, n_shared_experts=1, d_ff_shared=d_e)
    every = r.get("no_rope_layer_interval", default=4)
    rope = r.get("no_rope_layers") or [int((i + 1) % every != 0) for i in range(n)]
    chunk = r.get("attention_chunk_size", default=8192)
    types = r.get("layer_types") or ["chunked_attention" if x and chunk else "full_attention" for x in rope]
    if chunk and "chunked_attention" in types:
        out.update(sliding_window=chunk,
                   layer_types=tuple("sliding" if t == "chunked_attention" else "full" for t in types))
    r.read.update(("use_qk_norm", "layer_types"))


def _moe_every_layer(experts: tuple[str, ...], top_k: tuple[str, ...], *, d_ff: str | None = None,
                     shared: bool = False, router_bias: bool = False) -> Derive:
    def rule(r: _Reader, out: dict[str, Any]) -> None:
        d_e = r.need(d_ff) if d_ff else out["d_ff"]
        out["moe"] = MoE(n_experts=_first(r.get(*experts)), top_k=_first(r.get(*top_k)),
                         d_ff_expert=d_e, layers=tuple(range(out["n_layers"])),
                         n_shared_experts=int(shared), d_ff_shared=out["d_ff"] if shared else 0,
                         router_bias=router_bias)

    rule.__doc__ = (f"Every layer routed over ``{experts[0]}`` experts, top ``{top_k[0]}``"
                    + (", beside one shared expert of width I" if shared else "") + ".")
    return rule


def _first(value: Any) -> Any:
    """Hunyuan writes ``moe_topk`` (and may write ``num_experts``) per layer: one value for all."""
    if isinstance(value, list):
        if len(set(value)) != 1:
            from ...errors import ConfigError
            raise ConfigError(f"per-layer expert counts {value} differ; only one value is supported")
        return value[0]
    return value


def _moe_ernie(r: _Reader, out: dict[str, Any]) -> None:
    """ERNIE 4.5 MoE (models/ernie4_5_moe): layer i is routed when (i+1) % ``moe_layer_interval``
    == 0 and ``moe_layer_start_index`` ≤ i ≤ ``moe_layer_end_index`` (−1: the last layer);
    ``moe_num_shared_experts`` form one MLP of width n_s·I_e. The router keeps a score-correction
    vector of E values as a (frozen) Parameter, counted as the router's bias."""
    n = out["n_layers"]
    start, end = r.get("moe_layer_start_index", default=1), r.get("moe_layer_end_index", default=-1)
    end = n - 1 if end == -1 else end
    every = r.get("moe_layer_interval", default=1)
    d_e, n_s = r.need("moe_intermediate_size"), r.get("moe_num_shared_experts", default=0) or 0
    out["moe"] = MoE(
        n_experts=r.need("moe_num_experts"), top_k=r.need("moe_k"), d_ff_expert=d_e,
        layers=tuple(i for i in range(n) if (i + 1) % every == 0 and start <= i <= end),
        n_shared_experts=n_s, d_ff_shared=n_s * d_e, router_bias=True,
    )


def _dbrx(r: _Reader, out: dict[str, Any]) -> None:
    """DBRX (models/dbrx): ``attn_config.kv_n_heads`` kv heads (default 1) behind one fused Wqkv;
    every layer routes over ``ffn_config.moe_num_experts`` GLU experts (w1, v1, w2) of width
    ``ffn_config.ffn_hidden_size``, top ``moe_top_k``; LayerNorms without bias."""
    attn, ffn = r.get("attn_config") or {}, r.get("ffn_config") or {}
    out["n_kv_heads"] = attn.get("kv_n_heads", 1)
    out["d_ff"] = ffn.get("ffn_hidden_size", 3584)
    out["moe"] = MoE(n_experts=ffn.get("moe_num_experts", 4), top_k=ffn.get("moe_top_k", 1),
                     d_ff_expert=out["d_ff"], layers=tuple(range(out["n_layers"])))


def _indexer(r: _Reader, out: dict[str, Any]) -> None:
    """DeepSeek-V3.2 (models/deepseek_v32): the sparse-attention indexer on every layer, and
    ``mlp_layer_types`` ("dense"/"sparse") where given instead of ``first_k_dense_replace``."""
    out["indexer"] = Indexer(n_heads=r.need("index_n_heads"), head_dim=r.need("index_head_dim"),
                             topk=r.need("index_topk"))
    kinds = r.get("mlp_layer_types")
    if kinds:
        from dataclasses import replace
        out["moe"] = replace(out["moe"], layers=tuple(i for i, k in enumerate(kinds) if k == "sparse"))


def _mla_v_default(r: _Reader, out: dict[str, Any]) -> None:
    """MiniCPM3: ``v_head_dim`` defaults to d / a (configuration_minicpm3.py)."""
    if r.get("v_head_dim") is None:
        out["_v_head_dim"] = out["d_model"] // out["n_heads"]


def _explicit_or_default(r: _Reader, key: str) -> Any:
    """``key`` as the config writes it, an explicit null included (DeepSeek-V2-Lite's
    ``q_lora_rank: null`` means no query compression), else the family default; read and checked
    through the reader either way."""
    value = r.get(key)
    return r.raw[key] if key in r.raw else value


def _mtp_note(r: _Reader, out: dict[str, Any]) -> None:
    """DeepSeek-V3, GLM-4.5: multi-token-prediction layers the checkpoint stores and transformers
    does not build (``num_nextn_predict_layers``); named in a note, not counted."""
    mtp = r.get("num_nextn_predict_layers", default=0)
    if mtp:
        out["notes"] = (
            f"the checkpoint also stores {mtp} multi-token-prediction layer(s) (DeepSeek-V3 §2.2), "
            "which transformers does not build; they are not counted",
        )


def _mla(r: _Reader, out: dict[str, Any]) -> None:
    out["mla"] = MLA(
        kv_lora_rank=r.need("kv_lora_rank"),
        # an explicit null means a plain query projection, whatever the class default
        q_lora_rank=_explicit_or_default(r, "q_lora_rank"),
        qk_nope_head_dim=r.need("qk_nope_head_dim"), qk_rope_head_dim=r.need("qk_rope_head_dim"),
        v_head_dim=out.pop("_v_head_dim", None) or r.need("v_head_dim"),
    )
    out["head_dim"] = out["mla"].qk_head_dim
    _mtp_note(r, out)
    out["n_kv_heads"] = out["n_heads"]  # MLA: every head reads the shared latent


def _t5(r: _Reader, out: dict[str, Any]) -> None:
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


def _mamba(r: _Reader, out: dict[str, Any]) -> None:
    """Mamba / Falcon-Mamba: ``intermediate_size`` = expand · d; ``time_step_rank`` "auto" is
    ceil(d / 16) (Gu & Dao 2023, §3.6 / the reference implementation). One pseudo-head keeps the
    attention fields valid; they are unused."""
    d = out["d_model"]
    rank = r.get("time_step_rank", default="auto")
    d_inner = r.get("intermediate_size") or r.get("expand", default=2) * d
    out["ssm"] = SSM(
        d_inner=d_inner, d_state=r.get("state_size", default=16), d_conv=r.get("conv_kernel", default=4),
        dt_rank=-(-d // 16) if rank == "auto" else rank,
        conv_bias=bool(r.get("use_conv_bias", default=True)),
        proj_bias=bool(r.get("use_bias", default=False)),
    )
    out.update(n_heads=1, n_kv_heads=1, head_dim=d, d_ff=d_inner, single_block=True,
               layer_types=("mamba",) * out["n_layers"])


# --- hybrids: which mixer each layer has ------------------------------------------------------

# transformers' layer-type names (``configuration_utils._LEGACY_LAYER_TYPE_REMAP`` maps the old
# "mamba"/"attention" onto "linear_attention"/"full_attention") → ``LAYER_KINDS``.
_HF_KINDS = {"full_attention": "full", "attention": "full", "sliding_attention": "sliding",
             "conv": "conv", "mlp": "none", "moe": "none"}


def _kinds(r: _Reader, state_kind: str, default: list[str] | None = None) -> tuple[str, ...] | None:
    """The ``layer_types`` list, with "linear_attention"/"mamba" read as ``state_kind``."""
    raw = r.get("layer_types", "layers_block_type", default=default)
    if raw is None:
        return None
    return tuple(state_kind if t in ("linear_attention", "mamba") else _HF_KINDS.get(t, "full")
                 for t in raw)


def _mamba2_mixer(r: _Reader, d: int, *, prefix: str, d_inner: int | None = None) -> SSM:
    """A Mamba-2 mixer from ``{prefix}n_heads``, ``{prefix}n_groups``, ``{prefix}d_state``,
    ``{prefix}d_conv``, ``{prefix}expand`` (Bamba, GraniteMoeHybrid; Mamba2Mixer in each)."""
    expand = r.get(prefix + "expand", default=2)
    for key in ("d_head", "chunk_size"):  # d_inner = H · P is given by expand
        r.get(prefix + key)
    return SSM(
        d_inner=d_inner or int(expand * d), d_state=r.need(prefix + "d_state"),
        d_conv=r.need(prefix + "d_conv"), conv_bias=bool(r.get(prefix + "conv_bias", default=True)),
        proj_bias=bool(r.get(prefix + "proj_bias", default=False)), version=2,
        n_heads=r.need(prefix + "n_heads"), n_groups=r.need(prefix + "n_groups"),
    )


def _mamba2(r: _Reader, out: dict[str, Any]) -> None:
    """Mamba-2 (models/mamba2/configuration_mamba2.py): d_inner = int(expand · d); ``num_heads``
    heads (``head_dim`` · heads is d_inner in every checkpoint; the layers read only ``expand``)."""
    d = out["d_model"]
    for key in ("head_dim", "time_step_rank", "chunk_size"):
        r.get(key)
    out["ssm"] = SSM(
        d_inner=int(r.get("expand", default=2) * d), d_state=r.get("state_size", default=128),
        d_conv=r.get("conv_kernel", default=4), conv_bias=bool(r.get("use_conv_bias", default=True)),
        proj_bias=bool(r.get("use_bias", default=False)), version=2,
        n_heads=r.get("num_heads", default=128), n_groups=r.get("n_groups", default=8),
    )
    out.update(n_heads=1, n_kv_heads=1, head_dim=d, d_ff=out["ssm"].d_inner, single_block=True,
               layer_types=("mamba",) * out["n_layers"])


def _bamba(r: _Reader, out: dict[str, Any]) -> None:
    """Bamba (models/bamba/modeling_bamba.py): ``attn_layer_indices`` are attention layers, the
    rest Mamba-2; every layer has a gated MLP."""
    attn = set(r.get("attn_layer_indices", default=None) or ())
    out["layer_types"] = tuple("full" if i in attn else "mamba" for i in range(out["n_layers"]))
    out["ssm"] = _mamba2_mixer(r, out["d_model"], prefix="mamba_")


def _granitemoehybrid(r: _Reader, out: dict[str, Any]) -> None:
    """GraniteMoeHybrid (models/granitemoehybrid/modeling_granitemoehybrid.py): Mamba-2 or
    attention per ``layer_types`` (all Mamba when absent); every layer has a gated ``shared_mlp``
    of width ``shared_intermediate_size``, and a routed MoE of width I when
    ``num_local_experts`` > 0 (router without bias)."""
    n = out["n_layers"]
    out["layer_types"] = _kinds(r, "mamba") or ("mamba",) * n
    out["ssm"] = _mamba2_mixer(r, out["d_model"], prefix="mamba_")
    shared, e = r.need("shared_intermediate_size"), r.get("num_local_experts", default=8)
    if not e:
        out["d_ff"] = shared
        return
    out["moe"] = MoE(n_experts=e, top_k=r.need("num_experts_per_tok"), d_ff_expert=out["d_ff"],
                     layers=tuple(range(n)), n_shared_experts=1, d_ff_shared=shared)


_NEMOTRON_PATTERN = {"M": "mamba", "*": "full", "-": "mlp", "E": "moe"}


def _nemotron_h(r: _Reader, out: dict[str, Any]) -> None:
    """Nemotron-H (models/nemotron_h/): each layer is one norm and one of a Mamba-2 mixer ("M"),
    attention without rotary ("*"), a plain MLP ("-") or a MoE ("E"), as ``hybrid_override_pattern``
    or ``layers_block_type`` says; ``num_hidden_layers`` is then ignored. The Mamba-2 mixer has
    ``mamba_num_heads`` · ``mamba_head_dim`` channels; MoE experts and the shared expert are plain
    (up, down) MLPs; the router has no bias (its correction bias is a buffer). The LM head is never
    tied, whatever ``tie_word_embeddings`` says."""
    pattern = r.get("hybrid_override_pattern")
    if pattern:
        blocks = [_NEMOTRON_PATTERN[c] for c in str(pattern)]
    else:
        raw = r.get("layers_block_type", "layer_types",
                    default=["linear_attention", "moe", "full_attention", "mlp"])
        blocks = ["mamba" if t in ("linear_attention", "mamba") else
                  "full" if t in ("full_attention", "attention") else t for t in raw]
    out["n_layers"] = len(blocks)
    out["tie_embeddings"] = False  # NemotronHForCausalLM._tied_weights_keys = {}: never tied
    out["layer_types"] = tuple("none" if b in ("mlp", "moe") else b for b in blocks)
    heads, head_dim = r.get("mamba_num_heads", default=128), r.get("mamba_head_dim", default=64)
    for key in ("expand", "mamba_expand", "chunk_size", "mamba_chunk_size"):
        r.get(key)
    out["ssm"] = SSM(
        d_inner=heads * head_dim, d_state=r.get("ssm_state_size", default=128),
        d_conv=r.get("conv_kernel", "mamba_d_conv", default=4),
        conv_bias=bool(r.get("use_conv_bias", "mamba_conv_bias", default=True)),
        proj_bias=bool(r.get("use_bias", default=False)), version=2, n_heads=heads,
        n_groups=r.get("n_groups", "mamba_n_groups", default=8),
    )
    # stored by the config class, read by no layer: the attention has no biases and reads head_dim
    for key in ("mamba_proj_bias", "attention_bias", "attention_head_dim"):
        r.get(key)
    if r.get("moe_latent_size") is not None:
        raise ConfigError(f"{out['name']}: Nemotron-H with moe_latent_size is not supported yet")
    routed = tuple(i for i, b in enumerate(blocks) if b == "moe")
    if routed:
        n_shared = r.get("n_shared_experts", default=1)
        width = r.get("moe_shared_expert_intermediate_size", default=7688)
        out["moe"] = MoE(
            n_experts=r.get("n_routed_experts", "num_local_experts", default=8),
            top_k=r.get("num_experts_per_tok", default=2),
            d_ff_expert=r.get("moe_intermediate_size", default=7688), layers=routed,
            n_shared_experts=n_shared, d_ff_shared=width, expert_bias=False,
        )
    _mtp_note(r, out)


def _jamba(r: _Reader, out: dict[str, Any]) -> None:
    """Jamba (arXiv 2403.19887 §2; models/jamba/configuration_jamba.py): layer i attends when
    i % ``attn_layer_period`` == ``attn_layer_offset``, else a Mamba-1 mixer with RMSNorms on Δ, B
    and C; its MLP is routed when i % ``expert_layer_period`` == ``expert_layer_offset`` and
    ``num_experts`` > 1 (router without bias)."""
    n, d = out["n_layers"], out["d_model"]
    ap, ao = r.get("attn_layer_period", default=8), r.get("attn_layer_offset", default=4)
    out["layer_types"] = tuple("full" if i % ap == ao else "mamba" for i in range(n))
    rank = r.get("mamba_dt_rank", default="auto")
    out["ssm"] = SSM(
        d_inner=r.get("mamba_expand", default=2) * d, d_state=r.get("mamba_d_state", default=16),
        d_conv=r.get("mamba_d_conv", default=4), dt_rank=-(-d // 16) if rank == "auto" else rank,
        conv_bias=bool(r.get("mamba_conv_bias", default=True)),
        proj_bias=bool(r.get("mamba_proj_bias", default=False)), inner_norms=True,
    )
    e = r.get("num_experts", default=16)
    ep, eo = r.get("expert_layer_period", default=2), r.get("expert_layer_offset", default=1)
    if e > 1:
        out["moe"] = MoE(n_experts=e, top_k=r.get("num_experts_per_tok", default=2),
                         d_ff_expert=out["d_ff"], layers=tuple(i for i in range(n) if i % ep == eo))


def _falcon_h1(r: _Reader, out: dict[str, Any]) -> None:
    """Falcon-H1 (arXiv 2507.22448 §2; models/falcon_h1/): every layer runs attention and a
    Mamba-2 mixer side by side on the same normed input, then a gated MLP. The mixer has
    ``mamba_d_ssm`` channels (1024 when absent, expand · d when null), a gated RMSNorm only when
    ``mamba_rms_norm``, an in_proj bias when ``mamba_proj_bias`` and an out_proj bias when
    ``projectors_bias``."""
    d = out["d_model"]
    width = r.get("mamba_d_ssm", default=1024)  # the config class's default; null: expand · d
    if "mamba_d_ssm" in r.raw and r.raw["mamba_d_ssm"] is None:
        width = int(r.get("mamba_expand", default=2) * d)
    out["ssm"] = SSM(
        d_inner=width, d_state=r.get("mamba_d_state", default=256),
        d_conv=r.get("mamba_d_conv", default=4),
        conv_bias=bool(r.get("mamba_conv_bias", default=True)),
        proj_bias=bool(r.get("mamba_proj_bias", default=False)), version=2,
        n_heads=r.get("mamba_n_heads", default=128), n_groups=r.get("mamba_n_groups", default=1),
        gated_norm=bool(r.get("mamba_rms_norm", default=False)),
        out_proj_bias=bool(r.get("projectors_bias", default=False)),
    )
    for key in ("mamba_d_head", "mamba_chunk_size", "mamba_norm_before_gate"):
        r.get(key)
    out["layer_types"] = ("parallel",) * out["n_layers"]


def _lfm2(r: _Reader, out: dict[str, Any]) -> None:
    """LFM2 (models/lfm2/): a short-conv or attention mixer per ``layer_types`` (or
    ``full_attn_idxs``); the SwiGLU width is adjusted as ``Lfm2MLP`` does: I ← int(2I/3), then
    int(m·I) rounded up to a multiple of ``block_multiple_of`` when a multiplier is given."""
    n = out["n_layers"]
    kinds = _kinds(r, "conv")
    if kinds is None:
        full = r.get("full_attn_idxs", default=None)
        full = set(range(n)) if full is None else set(full)
        kinds = tuple("full" if i in full else "conv" for i in range(n))
    out["layer_types"] = kinds
    for key in ("block_dim", "conv_dim", "num_heads"):  # Liquid's duplicates of d and a; unread
        r.get(key)
    out["short_conv"] = ShortConv(d_conv=r.get("conv_L_cache", default=3),
                                  bias=bool(r.get("conv_bias", default=False)))
    ff = r.get("block_ff_dim", *D_FF, default=12288)
    if r.get("block_auto_adjust_ff_dim", default=True):
        ff = int(2 * ff / 3)
        mult = r.get("block_ffn_dim_multiplier", default=1.0)
        multiple = r.get("block_multiple_of", default=256)
        if mult is not None:
            ff = multiple * -(-int(mult * ff) // multiple)
    out["d_ff"] = ff
    if "tie_embedding" in r.raw:
        out["tie_embeddings"] = bool(r.get("tie_embedding"))


def _deltanet_hybrid(r: _Reader, out: dict[str, Any]) -> None:
    """Qwen3-Next / Qwen3.5 (models/qwen3_next/, models/qwen3_5/): a Gated DeltaNet or a gated
    attention per ``layer_types`` (else every ``full_attention_interval``-th layer, default 4,
    attends). The attention's output gate is built whatever ``attn_output_gate`` says."""
    n = out["n_layers"]
    every = r.get("full_attention_interval", default=4)
    out["layer_types"] = _kinds(r, "linear") or tuple(
        "full" if (i + 1) % every == 0 else "linear" for i in range(n))
    out["linear_attn"] = LinearAttention(
        n_k_heads=r.need("linear_num_key_heads"), n_v_heads=r.need("linear_num_value_heads"),
        head_k_dim=r.need("linear_key_head_dim"), head_v_dim=r.need("linear_value_head_dim"),
        d_conv=r.need("linear_conv_kernel_dim"),
    )
    for key in ("attn_output_gate", "mamba_ssm_dtype", "mtp_use_dedicated_embeddings"):
        r.get(key)
    mtp = r.get("mtp_num_hidden_layers", default=0)
    if mtp:
        out["notes"] = (f"the checkpoint also stores {mtp} multi-token-prediction layer(s), "
                        "which transformers does not build; they are not counted",)


def _shared_gated_moe(r: _Reader, out: dict[str, Any], layers: tuple[int, ...]) -> None:
    """Routed experts of width ``moe_intermediate_size`` and one sigmoid-gated shared expert."""
    out["moe"] = MoE(n_experts=r.need("num_experts"), top_k=r.need("num_experts_per_tok"),
                     d_ff_expert=r.need("moe_intermediate_size"), layers=layers, n_shared_experts=1,
                     d_ff_shared=r.need("shared_expert_intermediate_size"), shared_expert_gate=True)


def _qwen3_next(r: _Reader, out: dict[str, Any]) -> None:
    """Qwen3-Next: a routed MoE with a sigmoid-gated shared expert where ``num_experts`` > 0,
    (i+1) % ``decoder_sparse_step`` == 0 and i is not in ``mlp_only_layers``, else a dense MLP."""
    _deltanet_hybrid(r, out)
    e, step = r.get("num_experts", default=512), r.get("decoder_sparse_step", default=1)
    dense = set(r.get("mlp_only_layers", default=None) or ())
    layers = tuple(i for i in range(out["n_layers"]) if e > 0 and (i + 1) % step == 0 and i not in dense)
    if layers:
        _shared_gated_moe(r, out, layers)


def _qwen3_5_moe(r: _Reader, out: dict[str, Any]) -> None:
    """Qwen3.5-MoE (``Qwen3_5MoeDecoderLayer``): every layer's MLP is the gated-shared MoE."""
    _deltanet_hybrid(r, out)
    _shared_gated_moe(r, out, tuple(range(out["n_layers"])))
    out["d_ff"] = out["d_ff"] or out["moe"].d_ff_expert  # no dense MLP; configs omit the key


def _bert(r: _Reader, out: dict[str, Any]) -> None:
    out["position_rows"] = r.need(*MAX_POSITION)
    out["token_types"] = r.get("type_vocab_size", default=2)


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

FAMILIES: dict[str, Family] = {
    "apertus": Family(dict(_LLAMA_FIXED, gated_mlp=False, qk_norm="head"), flags=_ATTN_BIAS,
                      defaults={"hidden_act": "xielu"}),
    "cohere2": Family(dict(_LLAMA_FIXED, norm="layernorm", norm_bias=False, parallel_block=True,
                           shared_block_norm=True),
                      flags=_ATTN_BIAS, defaults={"tie_word_embeddings": True},
                      derive=(_head_dim_is_d_over_a, _sliding_pattern(4, "sliding_window_pattern"))),
    "dbrx": Family(dict(_LLAMA_FIXED, norm="layernorm", norm_bias=False), derive=(_dbrx,)),
    "deepseek_v32": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)},
                           defaults={"num_key_value_heads": 128, "first_k_dense_replace": 3,
                                     "index_n_heads": 64, "index_head_dim": 128, "index_topk": 2048},
                           derive=(_mla, _moe_deepseek, _indexer)),
    "dots1": Family(dict(_LLAMA_FIXED, qk_norm="head"), flags=_ATTN_BIAS,
                    defaults={"num_key_value_heads": 32, "first_k_dense_replace": 0},
                    derive=(_sliding_after, _moe_deepseek)),
    "ernie4_5": Family(_LLAMA_FIXED,
                       flags={"qkv_bias": ("use_bias", False), "o_bias": ("use_bias", False),
                              "mlp_bias": ("use_bias", False)},
                       defaults={"tie_word_embeddings": True, "head_dim": 128, "num_key_value_heads": 2}),
    "ernie4_5_moe": Family(_LLAMA_FIXED,  # unlike ERNIE 4.5 dense, the LM head takes a bias too
                           flags={"qkv_bias": ("use_bias", False), "o_bias": ("use_bias", False),
                                  "mlp_bias": ("use_bias", False), "lm_head_bias": ("use_bias", False)},
                           defaults={"tie_word_embeddings": True, "num_key_value_heads": 4,
                                     "moe_num_experts": 64, "moe_k": 6, "moe_num_shared_experts": 2},
                           derive=(_moe_ernie,)),
    "exaone4": Family(dict(_LLAMA_FIXED, norm_placement="post", qk_norm="head"),
                      defaults={"num_key_value_heads": 32},
                      derive=(_sliding_pattern(4, "sliding_window_pattern", off_when_null=True),)),
    "glm4": Family(dict(_LLAMA_FIXED, norm_placement="sandwich"),
                   flags={"qkv_bias": ("attention_bias", True)},
                   defaults={"head_dim": 128, "num_key_value_heads": 2}),
    "glm4_moe": Family(_LLAMA_FIXED, flags={"qkv_bias": ("attention_bias", False)},
                       defaults={"num_key_value_heads": 8, "n_routed_experts": 128, "num_experts_per_tok": 8,
                                 "n_shared_experts": 1, "moe_intermediate_size": 1408,
                                 "first_k_dense_replace": 1},
                       derive=(_qk_norm_flag("use_qk_norm", "head"), _moe_deepseek, _mtp_note)),
    "gpt2": Family(_GPT2_FIXED, defaults={"tie_word_embeddings": True},
                   derive=(_ff_default_4d, _learned_positions)),
    "gpt_bigcode": Family(_GPT2_FIXED, defaults={"tie_word_embeddings": True},
                          derive=(_ff_default_4d, _learned_positions, _multi_query)),
    "gptj": Family(dict(_LAYERNORM, gated_mlp=False, mlp_bias=True, parallel_block=True,
                        shared_block_norm=True, lm_head_bias=True),
                   derive=(_ff_default_4d,)),
    "gpt_neox": Family(dict(_LAYERNORM, gated_mlp=False, mlp_bias=True),
                       flags=_ATTN_BIAS | {"o_bias": ("attention_bias", True),
                                           "qkv_bias": ("attention_bias", True)},
                       derive=(_gpt_neox,)),
    "granitemoe": Family(_LLAMA_FIXED, flags=_ATTN_BIAS,
                         defaults={"num_local_experts": 8, "num_experts_per_tok": 2},
                         derive=(_moe_every_layer(("num_local_experts",), ("num_experts_per_tok",)),)),
    "hunyuan_v1_dense": Family(dict(_LLAMA_FIXED, qk_norm="head"), flags=_ATTN_BIAS),
    "hunyuan_v1_moe": Family(dict(_LLAMA_FIXED, qk_norm="head"), flags=_ATTN_BIAS,
                             defaults={"num_experts": 1, "moe_topk": 1},
                             derive=(_moe_every_layer(("num_experts", "num_local_experts"),
                                                      ("moe_topk", "num_experts_per_tok"), shared=True),)),
    "minicpm3": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)},
                       defaults={"tie_word_embeddings": True, "num_key_value_heads": 40, "kv_lora_rank": 256,
                                 "q_lora_rank": 768, "qk_nope_head_dim": 64, "qk_rope_head_dim": 32},
                       derive=(_mla_v_default, _mla)),
    "ministral": Family(_LLAMA_FIXED, defaults={"sliding_window": 4096, "num_key_value_heads": 8},
                        derive=(_sliding_all,)),
    "olmo3": Family(dict(_LLAMA_FIXED, norm_placement="post", qk_norm="full"), flags=_ATTN_BIAS,
                    derive=(_sliding_pattern(4, "_olmo3_has_no_pattern_key"),)),
    "opt": Family(dict(_LAYERNORM, position="learned", gated_mlp=False),
                  defaults={"tie_word_embeddings": True}, derive=(_opt,)),
    "bloom": Family(dict(_LAYERNORM, position="alibi", gated_mlp=False, qkv_bias=True,
                         o_bias=True, mlp_bias=True, embedding_norm=True),
                    defaults={"tie_word_embeddings": True}, derive=(_ff_always_4d,)),
    "falcon": Family(dict(_LAYERNORM, gated_mlp=False), defaults={"tie_word_embeddings": True},
                     derive=(_ff_default_4d, _falcon)),
    "llama": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)}),
    "gpt_oss": Family(dict(_LLAMA_FIXED, attention_sinks=True),
                      flags={"qkv_bias": ("attention_bias", True), "o_bias": ("attention_bias", True)},
                      defaults={"num_local_experts": 128, "num_experts_per_tok": 4, "head_dim": 64,
                                "num_key_value_heads": 8, "sliding_window": 128},
                      derive=(_moe_gpt_oss,)),
    "granite": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)}),
    "llama4_text": Family(_LLAMA_FIXED, flags=_ATTN_BIAS,
                          defaults={"num_local_experts": 16, "num_experts_per_tok": 1, "head_dim": 128,
                                    "num_key_value_heads": 8, "intermediate_size_mlp": 16384},
                          derive=(_llama4,)),
    "mistral": Family(_LLAMA_FIXED, defaults={"sliding_window": 4096, "num_key_value_heads": 8},
                      derive=(_sliding_all,)),
    "mixtral": Family(_LLAMA_FIXED, defaults={"num_local_experts": 8, "num_experts_per_tok": 2,
                                              "num_key_value_heads": 8},
                      derive=(_sliding_all, _moe_mixtral)),
    "qwen2": Family(dict(_LLAMA_FIXED, qkv_bias=True), defaults={"num_key_value_heads": 32},
                    derive=(_sliding_qwen,)),
    "qwen2_moe": Family(_LLAMA_FIXED, flags={"qkv_bias": ("qkv_bias", True)},
                        defaults={"num_experts": 60, "num_experts_per_tok": 4,
                                  "shared_expert_intermediate_size": 5632, "num_key_value_heads": 16},
                        derive=(_sliding_qwen, _moe_qwen)),
    "qwen3": Family(dict(_LLAMA_FIXED, qk_norm="head"), flags=_ATTN_BIAS,
                    defaults={"head_dim": 128, "num_key_value_heads": 32}, derive=(_sliding_qwen,)),
    "qwen3_moe": Family(dict(_LLAMA_FIXED, qk_norm="head"), flags=_ATTN_BIAS,
                        defaults={"num_experts": 128, "num_experts_per_tok": 8, "num_key_value_heads": 4},
                        derive=(_sliding_qwen, _moe_qwen)),
    "gemma": Family(_LLAMA_FIXED, flags=_ATTN_BIAS,
                    defaults={"head_dim": 256, "tie_word_embeddings": True, "num_key_value_heads": 16}),
    "gemma2": Family(dict(_LLAMA_FIXED, norm_placement="sandwich"), flags=_ATTN_BIAS,
                     defaults={"head_dim": 256, "tie_word_embeddings": True, "num_key_value_heads": 4},
                     derive=(_sliding_pattern(2, "sliding_window_pattern"),)),
    "gemma3_text": Family(dict(_LLAMA_FIXED, norm_placement="sandwich", qk_norm="head"),
                          flags=_ATTN_BIAS,
                          defaults={"head_dim": 256, "tie_word_embeddings": True, "vocab_size": 262_208,
                                    "num_key_value_heads": 4},
                          derive=(_sliding_pattern(6, "sliding_window_pattern"),)),
    "phi": Family(dict(_LAYERNORM, gated_mlp=False, qkv_bias=True, o_bias=True, mlp_bias=True,
                       parallel_block=True, shared_block_norm=True, lm_head_bias=True),
                  derive=(_qk_norm_flag("qk_layernorm", "head", bias=True),)),
    "phi3": Family(_LLAMA_FIXED, derive=(_sliding_all,)),
    "phimoe": Family(dict(_LAYERNORM, gated_mlp=True),
                     flags=_ATTN_BIAS | {"lm_head_bias": ("lm_head_bias", False)},
                     defaults={"num_local_experts": 16, "num_experts_per_tok": 2, "num_key_value_heads": 8},
                     derive=(_sliding_all, _moe_mixtral)),
    "seed_oss": Family(_LLAMA_FIXED,
                       flags={"qkv_bias": ("attention_bias", True), "o_bias": ("attention_out_bias", False),
                              "mlp_bias": ("mlp_bias", False)},
                       defaults={"head_dim": 128, "num_key_value_heads": 8}),
    "smollm3": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)},
                      defaults={"tie_word_embeddings": True, "num_key_value_heads": 4}, derive=(_smollm3,)),
    "starcoder2": Family(dict(_LAYERNORM, gated_mlp=False),
                         flags={"qkv_bias": ("use_bias", True), "o_bias": ("use_bias", True),
                                "mlp_bias": ("use_bias", True)},
                         defaults={"tie_word_embeddings": True, "num_key_value_heads": 2},
                         derive=(_sliding_all,)),
    "olmo": Family(dict(_LLAMA_FIXED, norm="layernorm", norm_weight=False), flags=_ATTN_BIAS),
    "olmo2": Family(dict(_LLAMA_FIXED, norm_placement="post", qk_norm="full"), flags=_ATTN_BIAS),
    "olmoe": Family(dict(_LLAMA_FIXED, qk_norm="full"), flags=_ATTN_BIAS,
                    defaults={"num_experts": 64, "num_experts_per_tok": 8},
                    derive=(_moe_olmoe,)),
    "cohere": Family(dict(_LLAMA_FIXED, norm="layernorm", norm_bias=False, parallel_block=True,
                          shared_block_norm=True),
                     flags=_ATTN_BIAS, defaults={"tie_word_embeddings": True},
                     derive=(_qk_norm_flag("use_qk_norm", "full"),)),
    "stablelm": Family(dict(_LAYERNORM, position="rotary", gated_mlp=True),
                       flags={"qkv_bias": ("use_qkv_bias", False)}, defaults={"num_key_value_heads": 32},
                       derive=(_stablelm,)),
    "deepseek_v2": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)},
                          derive=(_mla, _moe_deepseek)),
    "deepseek_v3": Family(_LLAMA_FIXED, flags=_ATTN_BIAS, defaults={"num_key_value_heads": 128},
                          derive=(_mla, _moe_deepseek)),
    "t5": Family(dict(_LLAMA_FIXED, kind="encoder-decoder", position="relative", gated_mlp=False),
                 defaults={"tie_word_embeddings": True}, derive=(_t5,)),
    "bert": Family(dict(_GPT2_FIXED, kind="encoder", norm_placement="post", final_norm=False,
                        embedding_norm=True),
                   defaults={"tie_word_embeddings": True, "max_position_embeddings": 512},
                   derive=(_bert,)),
    # --- state-space and linear-attention hybrids (alphabetical) ---
    "bamba": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)},
                    defaults=_MAMBA2_DEFAULTS | {"num_key_value_heads": 8}, derive=(_bamba,)),
    "falcon_h1": Family(_LLAMA_FIXED, flags=_ATTN_BIAS | {"mlp_bias": ("mlp_bias", False)},
                        defaults={"num_key_value_heads": 8}, derive=(_falcon_h1,)),
    "granitemoehybrid": Family(_LLAMA_FIXED, flags=_ATTN_BIAS,
                               defaults=_MAMBA2_DEFAULTS | {"num_experts_per_tok": 2,
                                                            "shared_intermediate_size": 1024},
                               derive=(_granitemoehybrid,)),
    "jamba": Family(_LLAMA_FIXED, defaults={"num_key_value_heads": 8}, derive=(_jamba,)),
    "lfm2": Family(dict(_LLAMA_FIXED, qk_norm="head"), defaults={"tie_word_embeddings": True,
                                                                 "num_key_value_heads": 8},
                   derive=(_lfm2,)),
    "mamba2": Family(dict(_LLAMA_FIXED, position="none"), derive=(_mamba2,), attention=False),
    # MiniMax-M2 (models/minimax_m2/): all-attention, a QK-norm over all heads, every layer routed
    # (``e_score_correction_bias`` is a buffer); no sliding window, unlike Mixtral.
    "minimax_m2": Family(dict(_LLAMA_FIXED, qk_norm="full"),
                         defaults={"num_local_experts": 256, "num_experts_per_tok": 8,
                                   "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 1536},
                         derive=(_moe_mixtral,)),
    "nemotron_h": Family(dict(_LLAMA_FIXED, gated_mlp=False, position="none", single_block=True),
                         flags={"mlp_bias": ("mlp_bias", False)},
                         defaults={"head_dim": 128, "intermediate_size": 21504, "num_key_value_heads": 8,
                                   "num_hidden_layers": 4},  # ignored: the pattern counts layers
                         derive=(_nemotron_h,)),
    "qwen3_5_moe_text": Family(dict(_LLAMA_FIXED, qk_norm="head", attn_output_gate=True), flags=_ATTN_BIAS,
                               defaults=_DELTANET_DEFAULTS | {
                                   "vocab_size": 248320, "num_key_value_heads": 2, "num_experts": 256,
                                   "num_experts_per_tok": 8, "moe_intermediate_size": 512,
                                   "shared_expert_intermediate_size": 512},
                               derive=(_qwen3_5_moe,)),
    "qwen3_5_text": Family(dict(_LLAMA_FIXED, qk_norm="head", attn_output_gate=True), flags=_ATTN_BIAS,
                           defaults=_DELTANET_DEFAULTS | {"vocab_size": 248320, "num_key_value_heads": 4,
                                                          "intermediate_size": 12288},
                           derive=(_deltanet_hybrid,)),
    "qwen3_next": Family(dict(_LLAMA_FIXED, qk_norm="head", attn_output_gate=True), flags=_ATTN_BIAS,
                         defaults=_DELTANET_DEFAULTS | {
                             "num_key_value_heads": 2, "moe_intermediate_size": 512,
                             "shared_expert_intermediate_size": 512, "num_experts_per_tok": 10},
                         derive=(_qwen3_next,)),
}
FAMILIES["mamba"] = FAMILIES["falcon_mamba"] = Family(
    dict(_LLAMA_FIXED, position="none"), defaults={"tie_word_embeddings": True},
    derive=(_mamba,), attention=False,
)
FAMILIES["roberta"] = FAMILIES["bert"]
FAMILIES["RefinedWeb"] = FAMILIES["RefinedWebModel"] = FAMILIES["falcon"]

# Multimodal configs: the text model lives under ``text_config``.
MULTIMODAL = {"gemma3": "gemma3_text", "llama4": "llama4_text"}
