"""Build a transformers model under ``FakeTensorMode`` and track one step with ``MemTracker``.

The numbers are PyTorch's own accounting of live storages (CPU tensors are not rounded up to
the CUDA caching allocator's 512-byte blocks). What MemTracker cannot see, and so what these
measurements leave out: the CUDA context, cuBLAS/cuDNN workspaces, NCCL buffers and allocator
fragmentation (reserved − allocated); see ``memory/overhead.py`` for those.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import LlmsizeError
from ..sources.transformers_path import LOOSE_BOOLS, LOOSE_FLOATS, loose_config  # noqa: F401 - re-exported

TORCH_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def _imports() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError:
        raise LlmsizeError("measuring needs torch and transformers: pip install 'llmsize[measure]'") from None
    transformers.logging.set_verbosity_error()
    return torch, transformers


def hf_config(cfg: dict[str, Any], name: str) -> Any:
    """The transformers config object for a ``config.json`` dict (an old ``rope_scaling`` that
    transformers 5 refuses is dropped: it changes rotary buffers, never a shape; ``LOOSE_BOOLS``
    and ``LOOSE_FLOATS`` are retyped)."""
    from ..sources.hf_config import with_model_type

    _, transformers = _imports()
    cfg = loose_config(dict(with_model_type(cfg)))  # a remote-code config without model_type gets its class's
    try:
        return transformers.AutoConfig.for_model(**cfg)
    except (ValueError, KeyError, TypeError) as e:
        if "rope_scaling" in cfg:
            return transformers.AutoConfig.for_model(**{k: v for k, v in cfg.items() if k != "rope_scaling"})
        raise LlmsizeError(f"{name}: transformers cannot build this config ({e})") from None


def model_class(cfg: dict[str, Any], name: str) -> Any:
    """The class in ``architectures[0]``, or AutoModelForCausalLM / AutoModelForSeq2SeqLM (None).
    A remote-code class (named in the config's ``auto_map``: ERNIE 4.5's ``Ernie4_5_ForCausalLM``)
    whose ``model_type`` transformers maps to a causal LM of its own takes that one."""
    _, transformers = _imports()
    names = cfg.get("architectures") or []
    cls = getattr(transformers, names[0], None) if names else None
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES as causal

    remote = {str(v).rsplit(".", 1)[-1] for v in (cfg.get("auto_map") or {}).values()}
    if names and cls is None and names[0] in remote and cfg.get("model_type") in causal:
        return None
    if names and cls is None:
        raise LlmsizeError(
            f"{name}: architecture {names[0]!r} is not in transformers {transformers.__version__}"
        )
    return cls


def build(cfg: dict[str, Any], name: str, *, dtype: str, attn: str) -> Any:
    """Instantiate the model (call inside an active ``FakeTensorMode``)."""
    torch, transformers = _imports()
    config = hf_config(cfg, name)
    cls = model_class(cfg, name)
    kwargs: dict[str, Any] = {"dtype": getattr(torch, TORCH_DTYPES[dtype])}
    if cls is None or cls._supports_sdpa or attn == "eager":  # Mamba has no attention to choose
        kwargs["attn_implementation"] = attn
    try:
        if cls is None:
            seq2seq = config.is_encoder_decoder
            auto = transformers.AutoModelForSeq2SeqLM if seq2seq else transformers.AutoModelForCausalLM
            model = auto.from_config(config, **kwargs)
        else:
            model = cls._from_config(config, **kwargs)
    except ValueError as e:
        raise LlmsizeError(f"{name}: {str(e).splitlines()[0]}") from None
    return _static_expert_loops(torch, model)


def _static_expert_loops(torch: Any, model: Any) -> Any:
    """DBRX's experts loop over the experts a batch hits (``DbrxExperts.forward``: ``nonzero`` and
    ``torch.where`` on the routing mask), whose shapes depend on the data, which FakeTensorMode
    cannot run. Each such module runs the same loop with balanced routing instead: every expert
    gets T·k/E of the T·k routed slots, and holds the same tensors as the original."""
    for module in model.modules():
        if type(module).__name__ == "DbrxExperts":
            module.forward = _balanced_dbrx_experts(torch, module)
    return model


def _balanced_dbrx_experts(torch: Any, self: Any) -> Callable[..., Any]:
    def forward(hidden_states: Any, top_k_index: Any, top_k_weights: Any) -> Any:
        batch_size = hidden_states.shape[0]
        hidden_states = hidden_states.reshape(-1, self.hidden_size)
        next_states = torch.zeros_like(hidden_states, dtype=hidden_states.dtype, device=hidden_states.device)
        tokens, top_k = top_k_index.shape
        per_expert = tokens * top_k // self.num_experts
        with torch.no_grad():  # the routing mask the original builds, then the experts it hits
            expert_mask = torch.nn.functional.one_hot(top_k_index, num_classes=self.num_experts + 1)
            expert_mask = expert_mask.permute(2, 1, 0)
        shape = (-1, self.ffn_hidden_size, self.hidden_size)
        for expert_idx in range(self.num_experts):
            with torch.no_grad():  # torch.where's two int64 index vectors: (slot in top-k, token)
                slot = torch.arange(per_expert, device=hidden_states.device)
                idx, token_idx = slot % top_k, (slot + expert_idx * per_expert) % tokens
            # views; detached under no_grad, where ModTracker cannot hook a view of a parameter
            w1, v1, w2 = (getattr(self.mlp, n).view(shape)[expert_idx] for n in ("w1", "v1", "w2"))
            if not torch.is_grad_enabled():
                w1, v1, w2 = w1.detach(), v1.detach(), w2.detach()
            states = self.mlp(hidden_states[token_idx], w1, v1, w2)
            states = states.view(-1, self.hidden_size) * top_k_weights[token_idx, idx, None]
            next_states.index_add_(0, token_idx, states)
        del expert_mask
        return next_states.view(batch_size, -1, self.hidden_size)

    return forward


SOFTMAX_KINDS = {"full_attention", "sliding_attention", "chunked_attention", "attention"}


def kept_layers(kinds: list[str], n: int) -> list[int]:
    """Which of a hybrid's layers a cut model keeps: the first layer of each kind, and the
    earliest others up to ``n``, in the family's order. A cut of the first n layers alone can
    miss a kind (Qwen3-Next's first full-attention layer is its fourth), and transformers' hybrid
    caches need an attention layer to tell their length."""
    firsts = {kinds.index(k) for k in set(kinds)}
    rest = [i for i in range(len(kinds)) if i not in firsts][: max(n - len(firsts), 0)]
    return sorted(firsts | set(rest))


def _hybrid_cut(cfg: dict[str, Any], n: int) -> dict[str, Any] | None:
    """A hybrid's config cut to ``kept_layers`` (None when the config lists no per-layer kinds)."""
    if isinstance(cfg.get("hybrid_override_pattern"), str):  # Nemotron-H
        pattern = cfg["hybrid_override_pattern"]
        keep = kept_layers(list(pattern), n)
        cut = "".join(pattern[i] for i in keep)
        return {**cfg, "hybrid_override_pattern": cut, "num_hidden_layers": len(keep)}
    total = cfg.get("num_hidden_layers")
    if not isinstance(total, int):
        return None
    if isinstance(cfg.get("cross_attention_layers"), list):  # Llama 3.2 Vision's text model
        kinds = ["cross" if i in cfg["cross_attention_layers"] else "self" for i in range(total)]
        keep = kept_layers(kinds, n)
        cross = [j for j, i in enumerate(keep) if kinds[i] == "cross"]
        return {**cfg, "cross_attention_layers": cross, "num_hidden_layers": len(keep)}
    for key in ("full_attn_idxs", "attn_layer_indices"):  # LFM2, Bamba
        if isinstance(cfg.get(key), list):
            kinds = ["attention" if i in cfg[key] else "other" for i in range(total)]
            keep = kept_layers(kinds, n)
            attention = [j for j, i in enumerate(keep) if kinds[i] == "attention"]
            return {**cfg, key: attention, "num_hidden_layers": len(keep)}
    sub = cfg.get("linear_attn_config")
    if isinstance(sub, dict) and "layer_types" not in cfg \
            and all(isinstance(sub.get(k), list) for k in ("full_attn_layers", "kda_layers")):
        return _kimi_cut(cfg, sub, total, n)
    if isinstance(cfg.get("layer_types"), list) and set(cfg["layer_types"]) - SOFTMAX_KINDS:
        keep = kept_layers(cfg["layer_types"], n)
        return {**cfg, "layer_types": [cfg["layer_types"][i] for i in keep], "num_hidden_layers": len(keep)}
    if cfg.get("model_type") == "qwen3_next" and "layer_types" not in cfg:
        every = cfg.get("full_attention_interval", 4)
        kinds = ["full_attention" if (i + 1) % every == 0 else "linear_attention" for i in range(total)]
        keep = kept_layers(kinds, n)
        return {**cfg, "layer_types": [kinds[i] for i in keep], "num_hidden_layers": len(keep)}
    if "attn_layer_offset" in cfg and "attn_layer_period" in cfg:  # Jamba: attention at i % period == offset
        m = max(n, 3)  # Mamba, Mamba + MoE, attention: expert layers keep their period
        return {**cfg, "attn_layer_offset": min(cfg["attn_layer_offset"], m - 1), "num_hidden_layers": m}
    return None


def _kimi_cut(cfg: dict[str, Any], sub: dict[str, Any], total: int, n: int) -> dict[str, Any]:
    """Kimi Linear cut to ``kept_layers``: its checkpoint lists MLA and KDA layers 1-based
    (``KimiLinearConfig.__init__``); the cut lists are renumbered the same way."""
    kinds = ["full" if i + 1 in sub["full_attn_layers"] else "kda" for i in range(total)]
    keep = kept_layers(kinds, n)
    lists = {kind: [j + 1 for j, i in enumerate(keep) if kinds[i] == kind] for kind in ("full", "kda")}
    cut = {**sub, "full_attn_layers": lists["full"], "kda_layers": lists["kda"]}
    return {**cfg, "linear_attn_config": cut, "num_hidden_layers": len(keep)}


def scaled_config(cfg: dict[str, Any], layers: int | None) -> dict[str, Any]:
    """The same layer shapes with fewer layers (per-layer terms scale exactly with L); a hybrid
    keeps one layer of each kind (``kept_layers``)."""
    cfg = dict(cfg)
    if layers is None:
        return cfg
    if isinstance(cfg.get("text_config"), dict):  # a multimodal wrapper: scale its text model
        cfg["text_config"] = scaled_config(cfg["text_config"], layers)
    cut = _hybrid_cut(cfg, layers)
    if cut is not None:
        return cut
    for key in ("num_hidden_layers", "n_layer", "num_layers", "n_layers"):
        if key in cfg:
            cfg[key] = layers
    if "num_decoder_layers" in cfg:
        cfg["num_decoder_layers"] = layers
    if isinstance(cfg.get("layer_types"), list):
        cfg["layer_types"] = cfg["layer_types"][:layers]
    if "first_k_dense_replace" in cfg:
        cfg["first_k_dense_replace"] = min(cfg["first_k_dense_replace"], max(layers - 1, 0))
    if isinstance(cfg.get("no_rope_layers"), list):  # Llama 4
        cfg["no_rope_layers"] = cfg["no_rope_layers"][:layers]
    if isinstance(cfg.get("moe_layers"), list):
        cfg["moe_layers"] = [i for i in cfg["moe_layers"] if i < layers]
    return cfg


@dataclass(frozen=True)
class Measured:
    """PyTorch's peak of one step, split by what holds the memory (bytes)."""

    peak_bytes: int
    params_bytes: int
    buffers_bytes: int
    kv_cache_bytes: int  # the cache object's tensors after the step
    by_category: dict[str, int]  # MemTracker categories at the peak
    peak_module: str

    @property
    def activation_bytes(self) -> int:
        """Everything at the peak that is not weights, buffers or the KV cache."""
        return self.peak_bytes - self.params_bytes - self.buffers_bytes - self.kv_cache_bytes


def _cache_bytes(torch: Any, cache: Any) -> int:
    """Bytes of every tensor a transformers cache object holds (any layer type)."""
    seen: set[int] = set()

    def walk(obj: Any) -> int:
        if isinstance(obj, torch.Tensor):
            key = id(obj)
            if key in seen:
                return 0
            seen.add(key)
            return obj.numel() * obj.element_size()
        if isinstance(obj, dict):
            return sum(walk(v) for v in obj.values())
        if isinstance(obj, (list, tuple)):
            return sum(walk(v) for v in obj)
        if hasattr(obj, "__dict__") and not isinstance(obj, type):
            return sum(walk(v) for k, v in vars(obj).items() if not k.startswith("_"))
        return 0

    return walk(cache) if cache is not None else 0


def _peak_module(tracker: Any, dev: Any, peak: int) -> str:
    """The deepest module whose local peak is the global peak."""
    hits = [s.mod_fqn for s in tracker.memory_tracking.values() if s.local_peak.get(dev) == peak]
    return max(hits, key=lambda f: f.count("."), default="")


def _quiet(_: str) -> None:
    return None


def measure_prefill(
    cfg: dict[str, Any], name: str = "config.json", *, batch: int, tokens: int, dtype: str = "bf16",
    attn: str = "sdpa", logits: str = "last", layers: int | None = None, encoder_tokens: int | None = None,
    progress: Callable[[str], None] = _quiet,
) -> Measured:
    """Peak of one prefill forward pass with ``use_cache=True`` (generation's first step)."""
    torch, _ = _imports()
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    cfg = scaled_config(cfg, layers)
    with FakeTensorMode():
        progress("building the model under FakeTensorMode")
        model = build(cfg, name, dtype=dtype, attn=attn).eval()
        progress("prefill under MemTracker")
        ids = torch.randint(0, 100, (batch, tokens))
        kwargs: dict[str, Any] = {"use_cache": True}
        if model.config.is_encoder_decoder:
            kwargs["decoder_input_ids"] = ids[:, :1]
            ids = torch.randint(0, 100, (batch, encoder_tokens or tokens))
        else:
            kwargs["logits_to_keep"] = 1 if logits == "last" else 0
        tracker = MemTracker()
        tracker.track_external(model)
        with tracker, torch.no_grad(), contextlib.redirect_stderr(None):
            out = model(input_ids=ids, **kwargs)
        dev = torch.device("cpu")
        snap = tracker.get_tracker_snapshot("peak")[dev]
        params = sum(p.numel() * p.element_size() for p in model.parameters())
        buffers = sum(b.numel() * b.element_size() for b in model.buffers())
        cache = _cache_bytes(torch, getattr(out, "past_key_values", None))
    by_cat = {str(k).rsplit(".", 1)[-1].lower(): v for k, v in snap.items() if k != "Total"}
    return Measured(snap["Total"], params, buffers, cache, by_cat, _peak_module(tracker, dev, snap["Total"]))
