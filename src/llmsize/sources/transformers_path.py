"""The transformers-backed path: any model_type transformers can build, sized from the model itself.

llmsize counts the families it has adapters for (``hf_families.py``) with its own formulas, in pure
Python. Any other ``model_type`` goes through ``transformers`` (the ``measure`` extra), in three steps:

1. **Build.** The class in ``architectures[0]`` (else ``AutoModelForCausalLM``) is instantiated from
   the config on the ``meta`` device: every parameter has its shape and dtype, none has storage, so a
   405B model builds in seconds and in no memory.
2. **Walk.** ``named_parameters()`` yields each unique tensor once (a tied head is the embedding's
   tensor). Each becomes a ``TensorSpec``: a GGUF-style name where the module is one llama.cpp names
   (``blk.3.attn_q.weight``, ``ffn_down_exps.weight``), the HF path otherwise; its shape; a role
   read off the module path and type (``ROLE_PATTERNS``); and the layer index of the main stack.
   Weights in every format are priced from these tensors by the same code as the native path
   (``formats/tensors.py``); the count is exact by construction.
3. **Cache.** The KV cache follows transformers' own cache layout for the config
   (``cache_utils.get_layer_types_and_kwargs``: full, sliding or chunked, none) with the config's
   ``num_key_value_heads`` and ``head_dim``; two steps of 2 and 3 tokens on the meta device fill
   transformers' cache object, whose bytes give the per-token cost to check that layout against and
   the fixed per-sequence state (recurrent, conv) a hybrid keeps.

What this path does not know: the activations of a family llmsize has not modelled. The proxy
``Architecture`` (widths, heads, layer kinds) drives llmsize's generic activation model, and the
estimates say so with a wider error bar (``errorbars.TRANSFORMERS_PATH``).
"""

from __future__ import annotations

import functools
import json

from ..arch import MLA, Architecture, TensorSpec, TransformersModel
from ..errors import ConfigError, shown
from ..limits import MAX_CONTEXT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ..arch import LayerType

EXTRA = "measure"  # pyproject's optional dependencies that bring torch and transformers

# Keys real config.json files write as an int where transformers 5.24's strict config classes want
# a bool or a float, read as those: Llama-4-Scout's ``"attn_temperature_tuning": 4`` (true) and
# DBRX's ``"moe_normalize_expert_weights": 1`` (1.0). No shape depends on either.
LOOSE_BOOLS = ("attn_temperature_tuning",)
LOOSE_FLOATS = ("moe_normalize_expert_weights",)


def _loose(key: str, value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return bool(value) if key in LOOSE_BOOLS else float(value) if key in LOOSE_FLOATS else value
    return value


def loose_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``cfg`` with the ``LOOSE_BOOLS`` and ``LOOSE_FLOATS`` retyped, in sub-configs too."""
    out = {k: _loose(k, v) for k, v in cfg.items()}
    return {k: loose_config(v) if k.endswith("_config") and isinstance(v, dict) else v
            for k, v in out.items()}


class TransformersMissing(ConfigError):
    """A model_type llmsize has no adapter for, on a machine without torch and transformers."""


class UnknownToTransformers(ConfigError):
    """A model_type neither llmsize nor the installed transformers knows."""


def not_native(model_type: object, name: str) -> str:
    """The one line for a model_type llmsize has no adapter for when transformers is missing."""
    return (f"{name}: model_type {shown(model_type, 40)} is not supported natively; install "
            f"llmsize[{EXTRA}] (torch and transformers) to size it through transformers")


def _imports(model_type: object, name: str) -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError:
        raise TransformersMissing(not_native(model_type, name)) from None
    transformers.logging.set_verbosity_error()
    return torch, transformers


# --- build ----------------------------------------------------------------------------------


def hf_config(cfg: Mapping[str, Any], name: str) -> Any:
    """The transformers config object a ``config.json`` with this content loads as (an old
    ``rope_scaling`` transformers 5 refuses is dropped: it changes rotary buffers, never a shape)."""
    _, transformers = _imports(cfg.get("model_type"), name)
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    if cfg.get("model_type") not in CONFIG_MAPPING_NAMES:
        version = transformers.__version__
        raise UnknownToTransformers(f"{name}: model_type {shown(cfg.get('model_type'), 40)} is not "
                                    f"supported natively nor known to transformers {version}")
    loose = loose_config(cfg)
    try:
        return transformers.AutoConfig.for_model(**loose)
    except (ValueError, KeyError, TypeError) as e:
        if "rope_scaling" in loose:
            try:
                return transformers.AutoConfig.for_model(**{k: v for k, v in loose.items()
                                                            if k != "rope_scaling"})
            except (ValueError, KeyError, TypeError):
                pass
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"{name}: transformers {transformers.__version__} cannot read this config "
                          f"({reason[:200]})") from None


def build_meta(cfg: Mapping[str, Any], name: str) -> Any:
    """The class in ``architectures[0]`` (``AutoModelForCausalLM`` without one) on the meta
    device, in bf16. A composite config whose class wants its text model gets the text config."""
    torch, transformers = _imports(cfg.get("model_type"), name)
    config = hf_config(cfg, name)
    names = cfg.get("architectures") or []
    cls = getattr(transformers, names[0], None) if names and isinstance(names[0], str) else None
    if cls is None:
        cls = transformers.AutoModelForCausalLM
    errors: list[str] = []
    for attempt in (config, config.get_text_config(decoder=True)):
        try:
            with torch.device("meta"):
                if cls is transformers.AutoModelForCausalLM:
                    return cls.from_config(attempt, dtype=torch.bfloat16)
                return cls._from_config(attempt, dtype=torch.bfloat16)
        except Exception as e:  # noqa: BLE001 - any failure of the modeling code is the config's
            errors.append(str(e).splitlines()[0] if str(e) else type(e).__name__)
    raise ConfigError(f"{name}: transformers {transformers.__version__} cannot build "
                      f"{getattr(cls, '__name__', cls)} from this config ({errors[0][:200]})")


# --- walk -----------------------------------------------------------------------------------

# A tensor's role from its (lower-cased) module path, first match wins; norms and embeddings are
# found by module type before these. The roles are ``formats.tensors.ROLES``.
ROLE_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("vision", ("vision", "visual", "vqmodel", "image_", "audio", "patch_embed", "multi_modal_projector")),
    ("shared_expert", ("shared_expert", "shared_mlp", "shared_experts")),
    ("expert", ("experts.",)),
    ("router", ("router", "gate.weight", "gate.bias", "gate.e_score", "gating")),
    ("ssm", ("mamba", "mixer", "ssm", "conv", "a_log", "dt_", "rwkv", "time_mix", "recurrent",
             "linear_attn", "deltanet", "xlstm", "mlstm", "slstm")),
    ("attention", ("attn", "attention", "q_proj", "k_proj", "v_proj", "o_proj", "query", "key", "value")),
    ("mlp", ("mlp", "ffn", "feed_forward", "fc1", "fc2", "c_fc", "dense_h_to_4h", "dense_4h_to_h",
             "intermediate", "channel_mix", "up_proj", "down_proj", "gate_proj")),
)
# llama.cpp's names (src/llama-arch.cpp LLM_TENSOR_NAMES) for the modules most families share;
# a name the GGUF mixture rules key on (attn_v, ffn_down…) prices as llama.cpp would
GGUF_NAMES = {
    "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
    "qkv_proj": "attn_qkv", "query_key_value": "attn_qkv", "c_attn": "attn_qkv", "wqkv": "attn_qkv",
    "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down", "gate_up_proj": "ffn_gate_up",
    "fc1": "ffn_up", "fc2": "ffn_down", "c_fc": "ffn_up", "w1": "ffn_gate", "w3": "ffn_up", "w2": "ffn_down",
    "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
}
_SUFFIX = {"expert": "_exps", "shared_expert": "_shexp"}
_STACK_SKIP = ("vision", "visual", "audio", "encoder.", "vqmodel")


def _role(path: str, module: Any, nn: Any) -> str:
    low = path.lower()
    if any(k in low for k in ROLE_PATTERNS[0][1]):
        return "vision"
    if "norm" in type(module).__name__.lower() or isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
        return "norm"
    for role, keys in ROLE_PATTERNS[1:]:
        if any(k in low for k in keys):
            return role
    return "other"


def _main_stack(model: Any, nn: Any) -> tuple[str, int]:
    """The ``nn.ModuleList`` of decoder layers: the one holding the most parameters outside a
    vision or audio tower (its path and length); ("", 0) when the model has none."""
    best, size, length = "", 0, 0
    for path, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or any(k in path.lower() for k in _STACK_SKIP):
            continue
        n = sum(p.numel() for p in module.parameters())
        if n > size:
            best, size, length = path, n, len(module)
    return best, length


def _layer_name(rest: str, role: str) -> str:
    """``self_attn.q_proj.weight`` → ``attn_q.weight``; ``experts.down_proj`` (a bare 3-D
    parameter) → ``ffn_down_exps.weight``; other paths keep their HF spelling."""
    parts = rest.split(".")
    leaf = parts[-1]
    owner, kind = (parts[-2], leaf) if leaf in ("weight", "bias") else (leaf, "weight")
    if leaf.endswith("_bias"):
        owner, kind = leaf.removesuffix("_bias"), "bias"
    gguf = GGUF_NAMES.get(owner.lower())
    if gguf is None:
        return rest if leaf in ("weight", "bias") or "." not in rest else f"{rest}"
    return f"{gguf}{_SUFFIX.get(role, '')}.{kind}"


@functools.lru_cache(maxsize=2)
def _built(key: str, name: str) -> Any:
    return build_meta(json.loads(key), name)


@functools.lru_cache(maxsize=16)
def _walk_cached(key: str, name: str) -> tuple[tuple[TensorSpec, ...], int, int, int, bool, str]:
    torch, _ = _imports(json.loads(key).get("model_type"), name)
    model = _built(key, name)
    specs, embedding, n_layers, tied = walk(model, torch.nn)
    return specs, embedding, n_layers, _experts(model, specs), tied, type(model).__name__


def walk(model: Any, nn: Any) -> tuple[tuple[TensorSpec, ...], int, int, bool]:
    """(tensors, embedding parameters, layers of the main stack, tied head) of a built model."""
    modules = dict(model.named_modules())
    embeddings = {f"{p}.weight" for p, m in modules.items() if isinstance(m, nn.Embedding)}
    out_emb = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    inp = model.get_input_embeddings()
    out_w = getattr(out_emb, "weight", None)
    tied = out_w is not None and out_w is getattr(inp, "weight", None)
    stack, n_layers = _main_stack(model, nn)
    prefix = f"{stack}." if stack else "\0"
    specs: list[TensorSpec] = []
    used: set[str] = set()
    embedding = 0
    for path, p in model.named_parameters():
        owner = modules.get(path.rpartition(".")[0], model)
        spec = _spec(path, tuple(p.shape), owner, nn, prefix=prefix, embeddings=embeddings,
                     is_input=p is getattr(inp, "weight", None), is_output=p is out_w and not tied)
        if owner is out_emb and p is not out_w:  # the LM head's bias
            spec = TensorSpec("output.bias", spec.shape, "head")
        if spec.name in used:  # two modules with one llama.cpp name: keep the HF path
            spec = TensorSpec(path, spec.shape, spec.role, spec.layer)
        used.add(spec.name)
        specs.append(spec)
        if path in embeddings or (p is out_w and not tied):
            embedding += p.numel()
    return tuple(specs), embedding, n_layers, tied


def _spec(path: str, shape: tuple[int, ...], owner: Any, nn: Any, *, prefix: str, embeddings: set[str],
          is_input: bool, is_output: bool) -> TensorSpec:
    if is_input:
        return TensorSpec("token_embd.weight", shape, "embedding")
    if is_output:
        return TensorSpec("output.weight", shape, "head")
    if path in embeddings:
        role = "position" if "pos" in path.lower() else "embedding"
        if not path.startswith(prefix):
            table = "position_embd" if role == "position" else "token_embd"
            return TensorSpec(f"{table}.{path}", shape, role)
    else:
        role = _role(path, owner, nn)
    if path.startswith(prefix):
        index, _, rest = path[len(prefix):].partition(".")
        if index.isdigit():
            return TensorSpec(f"blk.{index}.{_layer_name(rest, role)}", shape, role, int(index))
    if role == "norm" and "layers" not in path:
        return TensorSpec(f"output_norm.{path}", shape, "norm")
    return TensorSpec(path, shape, role)


def _experts(model: Any, specs: tuple[TensorSpec, ...]) -> int:
    """Routed-expert parameters a token does not use: (E − k)/E of the expert tensors."""
    config = model.config.get_text_config(decoder=True)
    n = next((getattr(config, k) for k in ("num_experts", "num_local_experts", "n_routed_experts",
                                           "moe_num_experts", "num_routed_experts")
              if isinstance(getattr(config, k, None), int)), 0)
    k = next((getattr(config, key) for key in ("num_experts_per_tok", "top_k", "moe_topk", "moe_k",
                                               "num_experts_per_token")
              if isinstance(getattr(config, key, None), int)), 0)
    experts = sum(t.numel for t in specs if t.role == "expert")
    if not (n and k and 0 < k <= n and experts):
        return 0
    return experts * (n - k) // n


# --- cache ----------------------------------------------------------------------------------

_KINDS: dict[str, LayerType] = {
          "full_attention": "full", "indexed_attention": "full", "sliding_attention": "sliding",
          "chunked_attention": "sliding", "hybrid": "full", "hybrid_sliding": "sliding",
          "reference_sliding_attention": "sliding", "dummy": "none", "linear_attention": "none",
          "conv": "none", "mamba": "none"}


def cache_layout(config: Any, n_layers: int) -> tuple[tuple[LayerType, ...], int | None, list[str]]:
    """(our layer kinds, sliding window, notes) from transformers' own cache layout for the config
    (``cache_utils.get_layer_types_and_kwargs``, the function ``DynamicCache(config=…)`` calls)."""
    from transformers.cache_utils import get_layer_types_and_kwargs

    notes: list[str] = []
    try:
        types, kwargs = get_layer_types_and_kwargs(config)
    except Exception as e:  # noqa: BLE001
        full: tuple[LayerType, ...] = tuple("full" for _ in range(n_layers))
        return full, None, [f"the cache layout could not be read ({str(e)[:80]}): "
                                            "every layer sized as full attention"]
    kinds: list[LayerType] = [_KINDS.get(t, "full") for t in types][:n_layers]
    unknown = sorted({t for t in types if t not in _KINDS})
    if unknown:
        notes.append(f"cache layer types {', '.join(unknown)} sized as full attention")
    windows: set[int] = {kw["sliding_window"] for kw, k in zip(kwargs, kinds, strict=False)
                         if k == "sliding" and isinstance(kw.get("sliding_window"), int)}
    window = max(windows) if windows else None
    if len(windows) > 1:
        notes.append(f"sliding windows {sorted(windows)}: every sliding layer sized at {window}")
    if "sliding" in kinds and not window:
        kinds = ["full" if k == "sliding" else k for k in kinds]
    kinds += ["full"] * (n_layers - len(kinds))
    return tuple(kinds), window, notes


def filled_cache_bytes(model: Any, tokens: int) -> int | None:
    """Bytes of every tensor transformers' cache holds after one step of ``tokens`` on the meta
    device; None when the step cannot run there (data-dependent ops, ``.item()``)."""
    import torch

    ids = torch.zeros((1, tokens), dtype=torch.long, device="meta")
    try:
        with torch.no_grad():
            out = model(input_ids=ids, use_cache=True)
    except Exception:  # noqa: BLE001 - a modeling code that cannot run on meta: no measurement
        return None
    seen: set[int] = set()
    return sum(t.numel() * t.element_size() for t in _tensors(getattr(out, "past_key_values", None), seen))


def _tensors(obj: Any, seen: set[int], depth: int = 0) -> list[Any]:
    import torch

    if depth > 5 or id(obj) in seen or obj is None:
        return []
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        items: Any = obj
    elif isinstance(obj, dict):
        items = obj.values()
    elif hasattr(obj, "__dict__") and not isinstance(obj, (type, torch.nn.Module)):
        items = vars(obj).values()
    else:
        items = ()
    return [t for x in items for t in _tensors(x, seen, depth + 1)]


# --- the proxy architecture -----------------------------------------------------------------


def _int(config: Any, *keys: str) -> int | None:
    for key in keys:
        try:
            value = getattr(config, key, None)
        except Exception:  # noqa: BLE001 - a per-layer attribute (heterogeneous configs) has no one value
            continue
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _proxy(config: Any, name: str, model_type: str, n_layers: int, tied: bool) -> dict[str, Any]:
    """The widths llmsize's KV and activation formulas read, from the transformers config."""
    d = _int(config, "hidden_size", "d_model", "n_embd", "dim") or 1
    a = _int(config, "num_attention_heads", "n_head", "num_heads") or 1
    k = _int(config, "num_key_value_heads", "num_kv_heads") or a
    if a % k:
        k = a
    out: dict[str, Any] = dict(
        name=name, model_type=model_type, n_layers=n_layers, d_model=d, n_heads=a, n_kv_heads=k,
        head_dim=_int(config, "head_dim") or max(1, d // a),
        d_ff=_int(config, "intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim") or 4 * d,
        vocab_size=_int(config, "vocab_size") or 1,
        max_position=min(_int(config, "max_position_embeddings", "n_positions", "max_seq_len") or 2048,
                         MAX_CONTEXT),
        tie_embeddings=tied, norm="rmsnorm",
    )
    act = getattr(config, "hidden_act", None)
    out["activation"] = act if isinstance(act, str) else "silu"
    rank, rope = _int(config, "kv_lora_rank"), _int(config, "qk_rope_head_dim")
    if rank and rope:  # MLA: transformers ≥ 5 caches the latent and the rotary key
        nope = _int(config, "qk_nope_head_dim") or out["head_dim"]
        out["mla"] = MLA(kv_lora_rank=rank, q_lora_rank=_int(config, "q_lora_rank"), qk_nope_head_dim=nope,
                         qk_rope_head_dim=rope, v_head_dim=_int(config, "v_head_dim") or nope)
    return out


def from_transformers(cfg: Mapping[str, Any], name: str) -> tuple[Architecture, list[str]]:
    """An ``Architecture`` counted by transformers, and the notes met on the way."""
    torch, transformers = _imports(cfg.get("model_type"), name)
    key = json.dumps(cfg, sort_keys=True, default=str)
    specs, embedding, n_layers, inactive, tied, cls = _walk_cached(key, name)
    config = hf_config(cfg, name).get_text_config(decoder=True)
    model_type = str(cfg.get("model_type"))
    n_layers = n_layers or _int(config, "num_hidden_layers", "n_layer", "num_layers") or 1
    if not any(t.layer is not None for t in specs):  # no stack found: the layers hold nothing
        n_layers = 1
    kinds, window, notes = cache_layout(config, n_layers)
    warnings = [f"{name}: model_type {model_type!r} is counted by transformers {transformers.__version__} "
                f"({cls} on the meta device); activations use a generic model"]
    state, per_token, note = _measured_cache(key, name)
    if per_token == 0:  # the step filled no growing cache: nothing grows with the context
        kinds = tuple("none" for _ in range(n_layers))
    notes += [note] if note else []
    fields = _proxy(config, name, model_type, n_layers, tied)
    tm = TransformersModel(version=transformers.__version__, model_class=cls, tensors=specs,
                           embedding_params=embedding, active_params=sum(t.numel for t in specs) - inactive,
                           state_bytes=state or None)
    arch = Architecture(**fields, layer_types=kinds, sliding_window=window if "sliding" in kinds else None,
                        transformers=tm)
    expected = _row_bytes(arch) * sum(k in ("full", "sliding") for k in kinds)
    if per_token and per_token != expected:
        notes.append(f"transformers' cache grows {per_token:,} bytes per token in bf16 where the "
                     f"config's heads give {expected:,}: the KV cache follows the config")
    warnings += [f"{name}: {n}" for n in notes]
    return arch.with_(notes=tuple(notes)), warnings


def _row_bytes(arch: Architecture) -> int:
    """bf16 bytes one token adds to one attention layer: 2·k·d_h, or MLA's d_c + d^R_h
    (``inference/kvcache.py`` sizes it; repeated here as sources sit below inference)."""
    if arch.mla:
        return 2 * (arch.mla.kv_lora_rank + arch.mla.qk_rope_head_dim)
    return 2 * 2 * arch.n_kv_heads * arch.head_dim


@functools.lru_cache(maxsize=16)
def _measured_cache(key: str, name: str) -> tuple[int, int | None, str]:
    """(fixed bytes per sequence, bytes per token, a note) from transformers' cache after steps of
    2 and 3 tokens on the meta device: bytes(T) = T·per_token + fixed."""
    model = _built(key, name)
    two, three = filled_cache_bytes(model, 2), filled_cache_bytes(model, 3)
    if two is None or three is None:
        return 0, None, "transformers' cache could not be filled on the meta device: KV from the config"
    per_token = three - two
    return max(0, two - 2 * per_token), per_token, ""
