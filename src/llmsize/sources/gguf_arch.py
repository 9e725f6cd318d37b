"""GGUF metadata → ``Architecture``: enough, with the tensor names, to size a model from a GGUF alone.

Sizes come from the ``{arch}.*`` keys (see the rosetta table in ``arch.py``); what the keys do not
say (biases, a gated MLP, norm type and placement, a tied head, QK-norm) is read off the tensor
names llama.cpp's converters write (``blk.N.attn_q.bias``, ``ffn_gate``, ``output.weight``…).
A warning is given wherever the metadata and the stored elements disagree.
"""

from __future__ import annotations

from ..arch import MLA, Architecture, MoE
from ..errors import CheckpointError
from ..parameters import count_params
from .checkpoint import Checkpoint
from .gguf import MAX_BLOCKS

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any, TypeGuard


# GGUF architectures the rules below were written from (names: llama.cpp src/llama-arch.cpp);
# Mistral and Mixtral convert to "llama". Values are facts the tensor names cannot show.
FAMILIES: dict[str, dict[str, Any]] = {
    **dict.fromkeys(("llama", "qwen2", "qwen3", "qwen2moe", "qwen3moe", "gemma", "gemma2", "gemma3",
                     "deepseek2", "gpt2", "falcon", "starcoder", "starcoder2", "phi2"), {}),
    # ffn_up holds gate and up fused, 2·I rows (convert_hf_to_gguf.py, Phi3MiniModel)
    "phi3": {"gated_mlp": True},
}


# Sliding-window period p where the file has no sliding_window_pattern: layer i is global when
# i % p == p - 1, the rest slide (llama.cpp src/llama-model.cpp, hparams.set_swa_pattern).
SWA_PERIOD = {"gemma2": 2, "gemma3": 6}


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class _Meta:
    """The ``{arch}.*`` keys of one GGUF, read as integers; a per-layer array gives its largest
    value, with a warning."""

    def __init__(self, ckpt: Checkpoint, name: str, warnings: list[str]) -> None:
        self.md, self.path, self.name, self.warnings = ckpt.metadata, ckpt.path, name, warnings
        arch = self.md.get("general.architecture")
        if not isinstance(arch, str) or not arch:
            raise CheckpointError(f"{self.path}: no general.architecture key")
        self.arch: str = arch

    def need(self, suffix: str) -> int:
        """A key that must be there, as a positive integer."""
        value = self.int(suffix, required=True)
        assert value is not None  # int(required=True) raises rather than answer None
        return value

    def int(self, suffix: str, *, required: bool = False) -> int | None:
        key = f"{self.arch}.{suffix}"
        value = self.md.get(key)
        if isinstance(value, list) and value and all(_is_int(v) for v in value):
            if len(set(value)) > 1:
                self.warnings.append(f"{self.name}: {key} varies per layer ({min(value)}–{max(value)}); "
                                     "the largest is counted for every layer")
            value = max(value)
        if value is None and not required:
            return None
        if not _is_int(value) or (required and value <= 0):
            raise CheckpointError(f"{self.path}: {key} must be a positive integer, got {value!r}")
        return value


class _Tensors:
    """Tensor names, and the per-block names (``attn_q.bias`` for ``blk.0.attn_q.bias``)."""

    def __init__(self, ckpt: Checkpoint) -> None:
        self.by_name = {t.name: t for t in ckpt.tensors}
        self.blk = {n.split(".", 2)[2] for n in self.by_name if n.startswith("blk.") and n.count(".") >= 2}

    def rows(self, name: str) -> int | None:
        """The first PyTorch dim of a tensor (V of token_embd, I_s of ffn_up_shexp), if stored."""
        t = self.by_name.get(name)
        return t.shape[0] if t and t.shape else None


def _layout(t: _Tensors) -> dict[str, Any]:
    """What the tensor names show (llama.cpp LLM_TENSOR_NAMES): biases, a gate, the norm type
    (``attn_norm.bias`` → LayerNorm) and placement, a parallel block (no ffn_norm), the head."""
    blk, names = t.blk, t.by_name
    layernorm = "attn_norm.bias" in blk
    pre = "attn_norm.weight" in blk
    parallel = pre and not blk & {"ffn_norm.weight", "post_attention_norm.weight"}
    sandwich = pre and {"post_attention_norm.weight", "post_ffw_norm.weight"} <= blk
    return dict(
        qkv_bias=bool(blk & {"attn_q.bias", "attn_qkv.bias"}), o_bias="attn_output.bias" in blk,
        mlp_bias=bool(blk & {"ffn_up.bias", "ffn_down.bias"}),
        gated_mlp=bool(blk & {"ffn_gate.weight", "ffn_gate_exps.weight", "ffn_gate_shexp.weight"}),
        norm="layernorm" if layernorm else "rmsnorm", norm_bias=layernorm,
        norm_placement="sandwich" if sandwich else "pre" if pre else "post",
        parallel_block=parallel, shared_block_norm=parallel and "attn_norm_2.weight" not in blk,
        tie_embeddings="output.weight" not in names, lm_head_bias="output.bias" in names,
        final_norm="output_norm.weight" in names, embedding_norm="token_embd_norm.weight" in names,
    )


def _vocab(m: _Meta, t: _Tensors) -> int:
    """V: the length of ``tokenizer.ggml.tokens``; the token_embd rows win if they differ."""
    tokens = m.md.get("tokenizer.ggml.tokens")
    n_tokens = tokens.get("array_length") if isinstance(tokens, dict) else (
        len(tokens) if isinstance(tokens, list) else None)
    rows = t.rows("token_embd.weight")
    if rows and n_tokens and rows != n_tokens:
        m.warnings.append(f"{m.name}: the tokenizer has {n_tokens} tokens, token_embd {rows} rows; "
                          "the rows are counted")
    vocab = rows or n_tokens or m.int("vocab_size")
    if not vocab:
        raise CheckpointError(f"{m.path}: no tokenizer.ggml.tokens, token_embd.weight or vocab_size")
    return vocab


def _sizes(m: _Meta, t: _Tensors) -> dict[str, Any]:
    """The rosetta table's widths (``arch.py``), read from ``{arch}.*`` keys."""
    n_heads = m.need("attention.head_count")
    d_ff = m.int("feed_forward_length") or m.int("expert_feed_forward_length")
    if not d_ff:
        raise CheckpointError(f"{m.path}: missing required key '{m.arch}.feed_forward_length'")
    positions = t.rows("position_embd.weight")
    n_layers = m.need("block_count")
    if n_layers > MAX_BLOCKS:
        raise CheckpointError(f"{m.path}: {m.arch}.block_count {n_layers} is more than {MAX_BLOCKS} layers")
    return dict(
        n_layers=n_layers, d_model=m.need("embedding_length"),
        n_heads=n_heads, n_kv_heads=m.int("attention.head_count_kv") or n_heads, d_ff=d_ff,
        vocab_size=_vocab(m, t), max_position=m.int("context_length") or Architecture.max_position,
        position="learned" if positions else "rotary", position_rows=positions or 0,
    )


def _mla(m: _Meta) -> MLA | None:
    """DeepSeek-V2 MLA. Newer converters write the MQA view into key/value_length and the per-head
    widths into ``key_length_mla``/``value_length_mla`` (convert_hf_to_gguf.py, DeepseekV2Model)."""
    rank = m.int("attention.kv_lora_rank")
    if not rank:
        return None
    rope = m.need("rope.dimension_count")
    qk = m.int("attention.key_length_mla") or m.need("attention.key_length")
    v = m.int("attention.value_length_mla") or m.need("attention.value_length")
    return MLA(kv_lora_rank=rank, q_lora_rank=m.int("attention.q_lora_rank") or None,
               qk_nope_head_dim=qk - rope, qk_rope_head_dim=rope, v_head_dim=v)


def _attention(m: _Meta, t: _Tensors, out: dict[str, Any]) -> dict[str, Any]:
    """Head width (``key_length``, else d/a), MLA, and a QK-norm: one γ of width d_h ("head") or
    of width a·d_h ("full"), told apart by the stored width."""
    mla = _mla(m)
    if mla:
        return {"mla": mla, "head_dim": mla.qk_head_dim, "n_kv_heads": out["n_heads"]}
    head_dim = m.int("attention.key_length")
    width = head_dim or out["d_model"] // out["n_heads"]
    value = m.int("attention.value_length")
    if value and value != width:
        m.warnings.append(f"{m.name}: value heads are {value} wide, key heads {width}; both are "
                          f"counted {width} wide")
    q_norm = t.by_name.get("blk.0.attn_q_norm.weight")
    qk_norm = "none" if q_norm is None else "head" if q_norm.elements == width else "full"
    return {"head_dim": head_dim, "qk_norm": qk_norm, "qk_norm_bias": "attn_q_norm.bias" in t.blk}


def _moe(m: _Meta, t: _Tensors, n_layers: int, d_ff: int) -> MoE | None:
    """Routed layers are those with a router (``ffn_gate_inp``), else those after
    ``leading_dense_block_count``; the shared-expert width is read from ``ffn_up_shexp``."""
    n_experts = m.int("expert_count")
    if not n_experts:
        return None
    names = t.by_name
    routed = tuple(i for i in range(n_layers) if f"blk.{i}.ffn_gate_inp.weight" in names)
    routed = routed or tuple(range(m.int("leading_dense_block_count") or 0, n_layers))
    first = routed[0] if routed else 0
    d_e = m.int("expert_feed_forward_length") or d_ff
    n_shared = m.int("expert_shared_count") or 0
    d_shared = (t.rows(f"blk.{first}.ffn_up_shexp.weight") or n_shared * d_e
                or m.int("expert_shared_feed_forward_length") or 0)
    return MoE(
        n_experts=n_experts, top_k=m.need("expert_used_count"), d_ff_expert=d_e,
        layers=routed, n_shared_experts=n_shared or int(bool(d_shared)), d_ff_shared=d_shared,
        shared_expert_gate=f"blk.{first}.ffn_gate_inp_shexp.weight" in names,
        router_bias=f"blk.{first}.ffn_gate_inp.bias" in names,
    )


def _sliding(m: _Meta, n_layers: int) -> dict[str, Any]:
    """``attention.sliding_window`` with ``sliding_window_pattern``: a period p (0: every layer
    slides) or one flag per layer (true: sliding); no pattern: the family's, else all slide."""
    window = m.int("attention.sliding_window")
    if not window:
        return {}
    key = f"{m.arch}.attention.sliding_window_pattern"
    p = m.md.get(key, SWA_PERIOD.get(m.arch, 0))
    if isinstance(p, list) and len(p) == n_layers:
        types = tuple("sliding" if flag else "full" for flag in p)
    elif _is_int(p) and p >= 0:
        types = tuple("full" if p and i % p == p - 1 else "sliding" for i in range(n_layers))
    else:
        raise CheckpointError(f"{m.path}: {key} = {p!r} is neither a period nor one flag per layer")
    return {"sliding_window": window, "layer_types": types}


def gguf_param_count(ckpt: Checkpoint) -> int:
    """Logical parameters of a GGUF: its element sum (a quantized block holds ``block_size``
    weights, so elements are weights whatever the storage type)."""
    return ckpt.stored_elements


def gguf_architecture(ckpt: Checkpoint, name: str) -> tuple[Architecture, list[str]]:
    """An ``Architecture`` from GGUF metadata and tensor names, and the warnings met on the way."""
    warnings: list[str] = []
    m, t = _Meta(ckpt, name, warnings), _Tensors(ckpt)
    fixed = FAMILIES.get(m.arch)
    if fixed is None:
        warnings.append(f"{name}: GGUF architecture {m.arch!r} is not one llmsize knows; it is sized "
                        "as a llama-like decoder from its metadata and tensor names")
    out: dict[str, Any] = {"name": name, "model_type": m.arch, **_sizes(m, t), **_layout(t), **(fixed or {})}
    out.update(_attention(m, t, out))
    out["moe"] = _moe(m, t, out["n_layers"], out["d_ff"])
    out.update(_sliding(m, out["n_layers"]))
    arch = Architecture(**out)
    counted, stored = count_params(arch).total, gguf_param_count(ckpt)
    if counted != stored:
        warnings.append(f"{name}: the metadata describe {counted:,} parameters but the file stores "
                        f"{stored:,} elements ({stored - counted:+,})")
    return arch, warnings
