"""The rules of the mixture-of-experts families: which layers route, over how many experts of
what width, with which shared experts and biases (Mixtral, Qwen-MoE, DeepSeek, gpt-oss, Llama 4…).
"""

from __future__ import annotations

from ...arch import Indexer, MoE
from .attention import sliding_pattern

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

    from .keys import Derive, Reader


def _moe_layers(n_layers: int, *, first_dense: int = 0, every: int = 1, phase: int = 0,
                dense: tuple[int, ...] = ()) -> tuple[int, ...]:
    """Indices of routed layers: from ``first_dense`` on, every ``every``-th (offset by ``phase``),
    minus explicitly dense ones (Qwen ``mlp_only_layers``)."""
    return tuple(
        i for i in range(n_layers)
        if i >= first_dense and (i + phase) % every == 0 and i not in dense
    )


def moe_mixtral(r: Reader, out: dict[str, Any]) -> None:
    """Mixtral, PhiMoE: every layer routed over ``num_local_experts`` experts of width I."""
    out["moe"] = MoE(
        n_experts=r.need("num_local_experts"), top_k=r.need("num_experts_per_tok"),
        d_ff_expert=out["d_ff"], layers=tuple(range(out["n_layers"])),
    )


def moe_qwen(r: Reader, out: dict[str, Any]) -> None:
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


def moe_olmoe(r: Reader, out: dict[str, Any]) -> None:
    """OLMoE (arXiv 2409.02060 §2): every layer routed, no shared expert."""
    out["moe"] = MoE(
        n_experts=r.need("num_experts"), top_k=r.need("num_experts_per_tok"),
        d_ff_expert=out["d_ff"], layers=tuple(range(out["n_layers"])),
    )


def moe_deepseek(r: Reader, out: dict[str, Any]) -> None:
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


def moe_gpt_oss(r: Reader, out: dict[str, Any]) -> None:
    """gpt-oss (models/gpt_oss/modeling_gpt_oss.py): every layer routed over
    ``num_local_experts`` experts of width I with biases (``gate_up_proj_bias``, ``down_proj_bias``),
    a router with a bias; layers alternate sliding (even i) and full unless ``layer_types`` says."""
    out["moe"] = MoE(
        n_experts=r.need("num_local_experts"), top_k=r.need("num_experts_per_tok", "experts_per_token"),
        d_ff_expert=out["d_ff"], layers=tuple(range(out["n_layers"])), router_bias=True,
        expert_bias=True,
    )
    sliding_pattern(2, "_sliding_window_pattern")(r, out)


def llama4(r: Reader, out: dict[str, Any]) -> None:
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


def moe_every_layer(experts: tuple[str, ...], top_k: tuple[str, ...], *, d_ff: str | None = None,
                    shared: bool = False, router_bias: bool = False) -> Derive:
    def rule(r: Reader, out: dict[str, Any]) -> None:
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


def moe_ernie(r: Reader, out: dict[str, Any]) -> None:
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


def dbrx(r: Reader, out: dict[str, Any]) -> None:
    """DBRX (models/dbrx): ``attn_config.kv_n_heads`` kv heads (default 1) behind one fused Wqkv;
    every layer routes over ``ffn_config.moe_num_experts`` GLU experts (w1, v1, w2) of width
    ``ffn_config.ffn_hidden_size``, top ``moe_top_k``; LayerNorms without bias."""
    attn, ffn = r.get("attn_config") or {}, r.get("ffn_config") or {}
    out["n_kv_heads"] = attn.get("kv_n_heads", 1)
    out["d_ff"] = ffn.get("ffn_hidden_size", 3584)
    out["moe"] = MoE(n_experts=ffn.get("moe_num_experts", 4), top_k=ffn.get("moe_top_k", 1),
                     d_ff_expert=out["d_ff"], layers=tuple(range(out["n_layers"])))


def indexer(r: Reader, out: dict[str, Any]) -> None:
    """DeepSeek-V3.2 (models/deepseek_v32): the sparse-attention indexer on every layer, and
    ``mlp_layer_types`` ("dense"/"sparse") where given instead of ``first_k_dense_replace``."""
    out["indexer"] = Indexer(n_heads=r.need("index_n_heads"), head_dim=r.need("index_head_dim"),
                             topk=r.need("index_topk"))
    kinds = r.get("mlp_layer_types")
    if kinds:
        from dataclasses import replace
        out["moe"] = replace(out["moe"], layers=tuple(i for i, k in enumerate(kinds) if k == "sparse"))
