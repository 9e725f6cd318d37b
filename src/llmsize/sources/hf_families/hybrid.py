"""The rules of the state-space, linear-attention and hybrid families: Mamba and Mamba-2, and
the hybrids that choose a mixer per layer (Jamba, Bamba, Nemotron-H, Falcon-H1, LFM2, Qwen3-Next…).
"""

from __future__ import annotations

from ...arch import SSM, LinearAttention, MoE, SharedBlocks, ShortConv
from ...errors import ConfigError
from ...limits import MAX_WIDTH
from .. import validate
from .attention import mtp_note
from .keys import D_FF

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

    from .keys import Reader


def mamba(r: Reader, out: dict[str, Any]) -> None:
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


def _kinds(r: Reader, state_kind: str, default: list[str] | None = None) -> tuple[str, ...] | None:
    """The ``layer_types`` list, with "linear_attention"/"mamba" read as ``state_kind``."""
    raw = r.get("layer_types", "layers_block_type", default=default)
    if raw is None:
        return None
    return tuple(state_kind if t in ("linear_attention", "mamba") else _HF_KINDS.get(t, "full")
                 for t in raw)


def _mamba2_mixer(r: Reader, d: int, *, prefix: str, d_inner: int | None = None) -> SSM:
    """A Mamba-2 mixer from ``{prefix}n_heads``, ``{prefix}n_groups``, ``{prefix}d_state``,
    ``{prefix}d_conv``, ``{prefix}expand`` (Bamba, GraniteMoeHybrid; Mamba2Mixer in each)."""
    expand = r.get(prefix + "expand", default=2)
    r.get(prefix + "d_head")  # d_inner = H · P is given by expand
    return SSM(
        chunk_size=r.get(prefix + "chunk_size", default=256) or 256,
        d_inner=d_inner or int(expand * d), d_state=r.need(prefix + "d_state"),
        d_conv=r.need(prefix + "d_conv"), conv_bias=bool(r.get(prefix + "conv_bias", default=True)),
        proj_bias=bool(r.get(prefix + "proj_bias", default=False)), version=2,
        n_heads=r.need(prefix + "n_heads"), n_groups=r.need(prefix + "n_groups"),
    )


def mamba2(r: Reader, out: dict[str, Any]) -> None:
    """Mamba-2 (models/mamba2/configuration_mamba2.py): d_inner = int(expand · d); ``num_heads``
    heads (``head_dim`` · heads is d_inner in every checkpoint; the layers read only ``expand``).
    The gated RMSNorm is always built: ``rms_norm`` and ``norm_before_gate`` change no shape."""
    d = out["d_model"]
    for key in ("head_dim", "time_step_rank", "rms_norm", "norm_before_gate"):
        r.get(key)
    out["ssm"] = SSM(
        chunk_size=r.get("chunk_size", default=256),
        d_inner=int(r.get("expand", default=2) * d), d_state=r.get("state_size", default=128),
        d_conv=r.get("conv_kernel", default=4), conv_bias=bool(r.get("use_conv_bias", default=True)),
        proj_bias=bool(r.get("use_bias", default=False)), version=2,
        n_heads=r.get("num_heads", default=128), n_groups=r.get("n_groups", default=8),
    )
    out.update(n_heads=1, n_kv_heads=1, head_dim=d, d_ff=out["ssm"].d_inner, single_block=True,
               layer_types=("mamba",) * out["n_layers"])


def bamba(r: Reader, out: dict[str, Any]) -> None:
    """Bamba (models/bamba/modeling_bamba.py): ``attn_layer_indices`` are attention layers, the
    rest Mamba-2; every layer has a gated MLP."""
    attn = set(r.get("attn_layer_indices", default=None) or ())
    out["layer_types"] = tuple("full" if i in attn else "mamba" for i in range(out["n_layers"]))
    out["ssm"] = _mamba2_mixer(r, out["d_model"], prefix="mamba_")


def granitemoehybrid(r: Reader, out: dict[str, Any]) -> None:
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


def nemotron_h(r: Reader, out: dict[str, Any]) -> None:
    """Nemotron-H (models/nemotron_h/): each layer is one norm and one of a Mamba-2 mixer ("M"),
    attention without rotary ("*"), a plain MLP ("-") or a MoE ("E"), as ``hybrid_override_pattern``
    or ``layers_block_type`` says; ``num_hidden_layers`` is then ignored. The Mamba-2 mixer has
    ``mamba_num_heads`` · ``mamba_head_dim`` channels; MoE experts and the shared expert are plain
    (up, down) MLPs, the experts in a latent of ``moe_latent_size`` when given (Nemotron-3); the
    router has no bias (its correction bias is a buffer). The LM head is never
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
    for key in ("expand", "mamba_expand"):
        r.get(key)
    out["ssm"] = SSM(
        chunk_size=r.get("chunk_size", "mamba_chunk_size", default=128),
        d_inner=heads * head_dim, d_state=r.get("ssm_state_size", default=128),
        d_conv=r.get("conv_kernel", "mamba_d_conv", default=4),
        conv_bias=bool(r.get("use_conv_bias", "mamba_conv_bias", default=True)),
        proj_bias=bool(r.get("use_bias", default=False)), version=2, n_heads=heads,
        n_groups=r.get("n_groups", "mamba_n_groups", default=8),
    )
    # stored by the config class, read by no layer: the attention has no biases and reads head_dim
    # (and the multi-token-prediction block's pattern, which transformers does not build; Nemotron-3's
    # moe_shared_expert_overlap only schedules the shared expert beside the routed ones)
    for key in ("mamba_proj_bias", "attention_bias", "attention_head_dim", "mtp_layers_block_type",
                "moe_shared_expert_overlap"):
        r.get(key)
    routed = tuple(i for i, b in enumerate(blocks) if b == "moe")
    if routed:
        n_shared = r.get("n_shared_experts", default=1)
        width = r.get("moe_shared_expert_intermediate_size", default=7688)
        out["moe"] = MoE(
            n_experts=r.get("n_routed_experts", "num_local_experts", default=8),
            top_k=r.get("num_experts_per_tok", default=2),
            d_ff_expert=r.get("moe_intermediate_size", default=7688), layers=routed,
            n_shared_experts=n_shared, d_ff_shared=width, expert_bias=False,
            latent_dim=r.get("moe_latent_size", default=0) or 0,
        )
    mtp_note(r, out)


def jamba(r: Reader, out: dict[str, Any]) -> None:
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


def falcon_h1(r: Reader, out: dict[str, Any]) -> None:
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
        chunk_size=r.get("mamba_chunk_size", default=256) or 256,
    )
    for key in ("mamba_d_head", "mamba_norm_before_gate"):
        r.get(key)
    out["layer_types"] = ("parallel",) * out["n_layers"]


def lfm2(r: Reader, out: dict[str, Any]) -> None:
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


def deltanet_hybrid(r: Reader, out: dict[str, Any]) -> None:
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


def _shared_gated_moe(r: Reader, out: dict[str, Any], layers: tuple[int, ...]) -> None:
    """Routed experts of width ``moe_intermediate_size`` and one sigmoid-gated shared expert."""
    out["moe"] = MoE(n_experts=r.need("num_experts"), top_k=r.need("num_experts_per_tok"),
                     d_ff_expert=r.need("moe_intermediate_size"), layers=layers, n_shared_experts=1,
                     d_ff_shared=r.need("shared_expert_intermediate_size"), shared_expert_gate=True)


def qwen3_next(r: Reader, out: dict[str, Any]) -> None:
    """Qwen3-Next: a routed MoE with a sigmoid-gated shared expert where ``num_experts`` > 0,
    (i+1) % ``decoder_sparse_step`` == 0 and i is not in ``mlp_only_layers``, else a dense MLP."""
    deltanet_hybrid(r, out)
    e, step = r.get("num_experts", default=512), r.get("decoder_sparse_step", default=1)
    dense = set(r.get("mlp_only_layers", default=None) or ())
    layers = tuple(i for i in range(out["n_layers"]) if e > 0 and (i + 1) % step == 0 and i not in dense)
    if layers:
        _shared_gated_moe(r, out, layers)


def qwen3_5_moe(r: Reader, out: dict[str, Any]) -> None:
    """Qwen3.5-MoE (``Qwen3_5MoeDecoderLayer``): every layer's MLP is the gated-shared MoE."""
    deltanet_hybrid(r, out)
    _shared_gated_moe(r, out, tuple(range(out["n_layers"])))
    out["d_ff"] = out["d_ff"] or out["moe"].d_ff_expert  # no dense MLP; configs omit the key


def qwen3_5_unused(r: Reader, out: dict[str, Any]) -> None:
    """Qwen3.5 configs still write Qwen3-Next's ``mlp_only_layers`` and ``decoder_sparse_step``,
    which modular_qwen3_5.py and modular_qwen3_5_moe.py delete: read here, never used."""
    r.read.update(("mlp_only_layers", "decoder_sparse_step"))


def _kda_sizes(r: Reader) -> dict[str, Any]:
    """KimiLinearConfig.__post_init__: ``linear_attn_config`` (the checkpoint's sub-dict) overrides
    ``linear_head_dim``, ``linear_num_heads`` and ``linear_conv_kernel_dim``."""
    sub = r.get("linear_attn_config", default={})
    if not isinstance(sub, dict):
        raise ConfigError(f"{r.label}: linear_attn_config must be an object, got {sub!r:.40}")
    sizes = {}
    for ours, key, inner, default in (("head", "linear_head_dim", "head_dim", 128),
                                      ("heads", "linear_num_heads", "num_heads", 32),
                                      ("conv", "linear_conv_kernel_dim", "short_conv_kernel_size", 4)):
        value = sub.get(inner)
        checked = validate.check(r.label, f"linear_attn_config.{inner}", value, kind=("pos", MAX_WIDTH))
        sizes[ours] = checked if value is not None else r.get(key, default=default)
    return sizes | {"sub": sub}


def _kimi_kinds(r: Reader, n: int, sub: dict[str, Any]) -> tuple[str, ...]:
    """``layer_types``, else the checkpoint's 1-based ``full_attn_layers`` / ``kda_layers``, else
    MLA at every i > 0 with i % 4 == 0 (KimiLinearConfig.__post_init__)."""
    kinds = _kinds(r, "linear")
    if kinds is not None:
        return kinds
    full, kda = sub.get("full_attn_layers"), sub.get("kda_layers")
    if full is not None and kda is not None:
        for name, value in (("full_attn_layers", full), ("kda_layers", kda)):
            validate.check(r.label, f"linear_attn_config.{name}", value, kind=("ints", n))
        return tuple("full" if i + 1 in set(full) and i + 1 not in set(kda) else "linear" for i in range(n))
    return tuple("full" if i and i % 4 == 0 else "linear" for i in range(n))


def kimi_linear(r: Reader, out: dict[str, Any]) -> None:
    """Kimi Linear (arXiv 2510.26692 §3–4; models/kimi_linear/): Kimi Delta Attention or MLA per
    layer (``_kimi_kinds``); MLA as DeepSeek-V2's (the ``mla`` rule runs first) without rotary; the
    MLP per ``mlp_layer_types`` ("dense"/"sparse"), else the first ``first_k_dense_replace`` (1)
    dense: routed layers have a sigmoid router without bias (its correction bias is a buffer),
    E gated experts of width I_e and one shared MLP of n_shared · I_e, built even when n_shared is 0.
    The LM head is never tied, whatever ``tie_word_embeddings`` says."""
    n = out["n_layers"]
    out["tie_embeddings"] = False  # KimiLinearForCausalLM._tied_weights_keys = {}: never tied
    # KimiLinearConfig.attribute_map: max_position_embeddings is stored as model_max_length
    out["max_position"] = r.get("model_max_length", "max_position_embeddings", default=1048576)
    kda = _kda_sizes(r)
    out["layer_types"] = _kimi_kinds(r, n, kda["sub"])
    heads, width = kda["heads"], kda["head"]
    out["linear_attn"] = LinearAttention(n_k_heads=heads, n_v_heads=heads, head_k_dim=width,
                                         head_v_dim=width, d_conv=kda["conv"], variant="kda")
    mlp = r.get("mlp_layer_types")
    if mlp is None:
        first = r.get("first_k_dense_replace", default=1)
        mlp = ["dense" if i < first else "sparse" for i in range(n)]
    elif len(mlp) != n:
        raise ConfigError(f"{r.label}: mlp_layer_types has {len(mlp)} values for {n} layers")
    for key in ("moe_layer_freq", "mla_use_nope", "use_grouped_topk", "num_expert_group", "moe_renormalize"):
        r.get(key)
    routed = tuple(i for i, t in enumerate(mlp) if t == "sparse")
    if routed:
        d_e = r.need("moe_intermediate_size")
        shared = r.get("num_shared_experts", "n_shared_experts", default=1)
        out["moe"] = MoE(n_experts=r.get("num_experts", "num_local_experts", default=256),
                         top_k=r.get("num_experts_per_token", "num_experts_per_tok", default=8),
                         d_ff_expert=d_e, layers=routed, n_shared_experts=shared, d_ff_shared=shared * d_e)


# Zamba2Config's default ``layers_block_type`` (54 layers, hybrid at 6, 12, …)
_ZAMBA2_BLOCKS = (["mamba"] + (["mamba"] * 5 + ["hybrid"]) * 7 + ["mamba"] * 4 + ["hybrid"]
                  + ["mamba"] * 3 + ["hybrid"] + ["mamba"] * 2)


def zamba2(r: Reader, out: dict[str, Any]) -> None:
    """Zamba2 (arXiv 2411.15242 §2; models/zamba2/): one layer per ``layers_block_type`` entry
    (``num_hidden_layers`` is not read): a Mamba-2 layer, or a hybrid layer that first calls the
    next shared block (``num_mem_blocks`` of them, in turn) on [h; x_emb] and adds its output,
    through a Linear(d, d), before the Mamba-2 mixer. The mixer has ``n_mamba_heads`` heads over
    int(``mamba_expand`` · d) channels and ``mamba_ngroups`` groups; its conv always has a bias,
    whatever ``use_conv_bias`` says. The shared attention has heads of 2d / a."""
    blocks = r.get("layers_block_type", "layer_types") or _ZAMBA2_BLOCKS
    out["n_layers"] = len(blocks)
    out["layer_types"] = tuple("parallel" if b == "hybrid" else "mamba" for b in blocks)
    d, a = out["d_model"], out["n_heads"]
    out["head_dim"] = 2 * d // a  # Zamba2Config.attention_head_dim; a "head_dim" key is overwritten
    out["d_ff"] = out["d_ff"] or 4 * d
    out["ssm"] = SSM(
        d_inner=int(r.get("mamba_expand", default=2) * d), d_state=r.get("mamba_d_state", default=64),
        d_conv=r.get("mamba_d_conv", default=4), conv_bias=True, proj_bias=out["mlp_bias"], version=2,
        n_heads=r.get("n_mamba_heads", default=8), n_groups=r.get("mamba_ngroups", default=1),
    )
    out["shared_blocks"] = SharedBlocks(
        n_blocks=r.get("num_mem_blocks", default=1), adapter_rank=r.get("adapter_rank", default=128),
        attention_adapters=bool(r.get("use_shared_attention_adapter", default=False)),
        tied=out["tie_embeddings"])
    out["position"] = "rotary" if r.get("use_mem_rope", default=False) else "none"
    # derived by Zamba2Config from the keys above, or read by no layer
    for key in ("hybrid_layer_ids", "mamba_headdim", "attention_hidden_size", "attention_head_dim",
                "kv_channels", "num_query_groups", "use_conv_bias", "num_hidden_layers", "use_long_context",
                "num_logits_to_keep", "use_mem_eff_path", "use_mamba_kernels"):
        r.get(key)
