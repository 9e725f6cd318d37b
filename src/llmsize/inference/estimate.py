"""How inference memory is made up, per GPU::

    total = weights + KV cache + activations (prefill workspace) + overhead

    weights      exact: the checkpoint's header bytes, or parameters × format (dtypes.py)
    KV cache     exact: what the engine keeps per token and layer (kvcache.py)
    activations  modelled: the widest phase of the prefill forward pass (prefill.py)
    overhead     named defaults: CUDA context, cuBLAS, NCCL, fragmentation (overhead.py)

The ``hf`` profile (transformers ``generate``) sizes the KV cache for batch × context tokens,
the prompt being context − new tokens, and adds the workspace of prefilling that prompt. This
is a sum, so it bounds the real peak (the prefill's workspace is freed before the cache fills).

Tensor parallelism splits heads, MLP width, experts' width and the vocabulary across ``tp``
ranks; key/value heads are replicated when there are fewer than ranks (max(1, k/tp)), as are
norms and MLA's latent cache. Pipeline parallelism gives each of ``pp`` stages ⌈L/pp⌉ layers;
the first stage also holds the embeddings, the last the head; the heaviest stage is reported.
The layout and these splits are ``layout.py`` (``Layout``, ``rank_arch``, ``stages``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..arch import Architecture, VisionTower
from ..errors import ConfigError
from ..layout import Layout, rank_arch, stage_arch, stages
from ..schemas import versioned
from ..sources.checkpoint import Checkpoint
from ..tree import Part, Totalled, group, leaf
from .kvcache import KVRequest, kv_cache
from .overhead import Overheads, overhead
from .prefill import Prefill, workspace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from ..hardware.fit import Target, Verdict
    from ..perf.figures import Performance

FLOAT_KV = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class InferenceSpec:
    """What to size. ``context`` is the KV capacity per sequence (llama.cpp ``-c``)."""

    context: int
    batch: int = 1
    new_tokens: int = 0
    dtype: str = "bf16"  # activations, and the weights unless ``quant`` is given
    quant: str | None = None  # a weight format (dtypes.parse_format)
    kv_dtype: str | None = None  # None: the activation dtype
    attn: str = "sdpa"
    engine: str = "hf"
    layout: Layout = field(default_factory=Layout)  # tp and pp only
    logits: str = "last"
    chunk: int | None = None  # chunked prefill: tokens per forward pass
    mixer_kernels: bool = False  # SSM / linear-attention prefill: fused kernels, not torch (mixers.py)
    overrides: tuple[str, ...] = ()
    gpu_mem: int | None = None  # bytes of one GPU (vLLM's budget, llama.cpp's -ngl fit)
    gpu_util: float = 0.9  # vLLM gpu_memory_utilization
    max_num_seqs: int | None = None  # vLLM; None: vLLM's default for the GPU
    max_num_batched_tokens: int | None = None
    n_gpu_layers: int | None = None  # llama.cpp -ngl; None: all
    sampler: str = "torch"  # vLLM top-k/top-p sampler: torch, or flashinfer (vllm.py)
    vllm_version: str = "0.11.0"  # whose start-up accounting is mirrored (vllm_versions.py)
    custom_all_reduce: bool = True  # False: vLLM --disable-custom-all-reduce
    n_batch: int = 2048  # llama.cpp -b (logical batch); common/common.h default
    n_ubatch: int = 512  # llama.cpp -ub (physical batch: the reserved graph's tokens)
    kv_unified: bool = False  # llama.cpp --kv-unified: one KV stream shared by the -np sequences
    flash_attn: str | None = None  # llama.cpp -fa auto|on|off; None: off for attn eager, else auto
    target: Target | None = None  # the GPU to judge the estimate against (hardware/fit.py)
    images: int = 0  # Llama 3.2 Vision: images per sequence, cached by its cross-attention layers

    def __post_init__(self) -> None:
        """Choices and sizes are checked here, so a spec built by hand is as safe as the API's."""
        from ..options import (
            ATTN,
            DTYPES,
            ENGINES,
            FLASH_ATTN,
            LOGITS,
            SAMPLERS,
            VLLM_VERSIONS,
            choice,
            optional,
            size,
        )

        for name, allowed in (("engine", ENGINES), ("dtype", DTYPES), ("attn", ATTN), ("logits", LOGITS),
                              ("sampler", SAMPLERS), ("vllm_version", VLLM_VERSIONS)):
            choice(name, getattr(self, name), allowed)
        object.__setattr__(self, "gpu_mem", optional(size)("gpu_mem", self.gpu_mem))
        if self.flash_attn is not None:
            choice("flash_attn", self.flash_attn, FLASH_ATTN)

    @property
    def prompt(self) -> int:
        return self.context - self.new_tokens

    @property
    def kv(self) -> str:
        """The KV dtype: as given, else llama.cpp's f16 default, else the activation dtype."""
        if self.kv_dtype:
            return self.kv_dtype
        return "fp16" if self.engine == "llamacpp" else self.dtype

    def check(self) -> None:
        if self.new_tokens >= self.context:
            from ..options import OptionError

            raise OptionError("new_tokens", f"{self.new_tokens} must be smaller than ctx_size {self.context}",
                              mentions=("ctx_size",))
        for name in ("context", "batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not isinstance(self.images, int) or isinstance(self.images, bool) or self.images < 0:
            from ..options import OptionError

            raise OptionError("images", f"must be an integer ≥ 0 (images per sequence), got {self.images!r}")
        self.layout.check_inference()


@dataclass(frozen=True)
class InferenceReport(Totalled):
    """Per-GPU memory as a tree whose four parts sum to ``total_bytes``."""

    name: str
    spec: InferenceSpec
    tree: Part
    gpus: int
    weights_all_gpus: int
    notes: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # from reading the source; not part of the JSON (see api.py)
    verdict: Verdict | None = None  # fits spec.target or not; None without a target
    performance: Performance | None = None  # speed on the GPU given (api.infer); None without one

    def error_bars(self) -> dict[str, str | dict[str, Any]]:
        from ..errorbars import bars

        terms = ("weights", "kv_cache", "activations", "overhead")
        kind, scans = str(self.extra.get("kind", "")), str(self.extra.get("unmodelled_scans", ""))
        engine = self.extra.get(self.spec.engine)
        version = str(engine["version"]) if isinstance(engine, dict) and "version" in engine else None
        sizes = {k: self.part(k) for k in terms}
        return bars("infer", terms, engine=self.spec.engine, attn=self.spec.attn, kind=kind, version=version,
                    sizes=sizes, quant=self.spec.quant or "", unmodelled_scans=scans,
                    counted_by=str(self.extra.get("counted_by", "llmsize")))

    def to_dict(self) -> dict[str, object]:
        s = self.spec
        return versioned({
            "model": self.name, "engine": s.engine, "total_bytes": self.total_bytes,
            "per_gpu": self.gpus > 1, "gpus": self.gpus, "tp": s.layout.tp, "pp": s.layout.pp,
            "breakdown": {k: self.part(k) for k in ("weights", "kv_cache", "activations", "overhead")},
            "all_gpus": {"total_bytes": self.total_bytes * self.gpus, "weights": self.weights_all_gpus},
            "inputs": {"context": s.context, "batch": s.batch, "new_tokens": s.new_tokens, "dtype": s.dtype,
                       "quant": s.quant, "kv_dtype": s.kv, "attn": s.attn, "logits": s.logits,
                       "chunk": s.chunk, "images": s.images},
            "error_bars": self.error_bars(), "tree": self.tree.to_dict(), "notes": list(self.notes),
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
            "performance": None if self.performance is None else self.performance.to_dict(),
            **self.extra,
        })


# --- weights --------------------------------------------------------------------------------


def weights_tree(arch: Architecture, spec: InferenceSpec, layers: range | None = None) -> Part:
    """Weights of one GPU: the format's bytes for this rank's slice and this stage's layers."""
    from ..formats.dtypes import parse_format
    from ..formats.tensors import layer_bytes, non_layer_bytes, weights_bytes

    fmt = parse_format(spec.quant or spec.dtype)
    base = spec.dtype if spec.dtype in FLOAT_KV else "bf16"
    if layers is None or len(layers) == arch.n_layers:
        return weights_bytes(arch, fmt, base=base)
    in_stage = sum(layer_bytes(arch, fmt, base=base)[i] for i in layers)
    edges = non_layer_bytes(arch, fmt, base=base)
    first, last = layers.start == 0, layers.stop == arch.n_layers
    return group("weights", [leaf(f"layers {layers.start}–{layers.stop - 1}", in_stage),
                             leaf("embeddings", edges.input_bytes if first else 0),
                             leaf("final norm and head", edges.output_bytes if last else 0)])


# --- the hf profile -------------------------------------------------------------------------


def scaled_weights(stored: Part, per_gpu_estimate: int, all_estimate: int) -> Part:
    """A checkpoint's bytes split like the format estimate splits them over GPUs."""
    if per_gpu_estimate == all_estimate:
        return group("weights", [replace(stored, name="checkpoint (header bytes)")])
    share = stored.value * per_gpu_estimate // all_estimate
    return group("weights", [leaf("checkpoint share (header bytes × this GPU's share)", share)])


def gpu_slice(arch: Architecture, spec: InferenceSpec) -> tuple[Architecture, Architecture, Part]:
    """What one GPU holds under ``spec.layout``: its tensor-parallel rank of the model, that
    rank's heaviest pipeline stage (whose layers it caches) and the stage's weights."""
    tp, pp = spec.layout.tp, spec.layout.pp
    rank = rank_arch(arch, tp)
    heavy = max(stages(arch.n_layers, pp), key=len) if pp > 1 else range(arch.n_layers)
    stage = stage_arch(rank, heavy) if pp > 1 else rank
    return rank, stage, weights_tree(rank, spec, heavy if pp > 1 else None)


def estimate_hf(arch: Architecture, spec: InferenceSpec, *, name: str = "", stored: Part | None = None,
                checkpoint: Checkpoint | None = None) -> InferenceReport:
    """transformers ``generate``: weights + KV(batch × context) + prefill workspace + overhead."""
    spec.check()
    gpus = spec.layout.gpus
    rank, stage, weights = gpu_slice(arch, spec)
    all_weights = weights_tree(arch, spec).value
    if stored is not None:
        weights, all_weights = scaled_weights(stored, weights.value, all_weights), stored.value
    encoder = spec.prompt if arch.kind == "encoder-decoder" else 0
    kv_tokens = max(spec.new_tokens, 1) if arch.kind == "encoder-decoder" else spec.context
    check_images(arch, spec)
    kv = kv_cache(stage, KVRequest(kv_tokens, spec.batch, spec.kv, "hf", 1, encoder, spec.images))  # per rank
    chunk = min(spec.chunk or spec.prompt, spec.prompt)
    bits = 32 if spec.dtype == "fp32" else 16
    act = workspace(rank, Prefill(spec.batch, chunk, spec.prompt, bits, spec.attn, spec.logits,
                                  spec.mixer_kernels))
    over = overhead(Overheads(gpus=gpus).with_overrides(list(spec.overrides)), activation_bytes=act.value)
    tree = group("per GPU" if gpus > 1 else "total", [weights, kv, act, over])
    verdict = judged(spec, fit_parts(spec, weights.value, kv.value, act.value, over.value))
    notes = _notes(arch, spec)
    return InferenceReport(name or arch.name, spec, tree, gpus, all_weights, notes, verdict=verdict)


# --- the verdict ------------------------------------------------------------------------------


def fit_parts(spec: InferenceSpec, weights: int, kv: int, activations: int, overhead: int,
              ) -> list[tuple[str, int]]:
    """The four parts, labelled for a verdict's reason, in the order an engine allocates them."""
    seqs = f" × {spec.batch} sequences" if spec.batch > 1 else ""
    return [(f"weights ({spec.quant or spec.dtype})", weights), (f"KV at {spec.context:,} tokens{seqs}", kv),
            ("activations (prefill workspace)", activations),
            ("overhead (CUDA context, cuBLAS, …)", overhead)]


def judged(spec: InferenceSpec, parts: Sequence[tuple[str, int]], **how: Any) -> Verdict | None:
    """The verdict on ``parts`` against ``spec.target`` (None without one); ``how`` as ``judge``'s."""
    if spec.target is None:
        return None
    from ..hardware.fit import judge

    return judge(parts, spec.target, **how)


def _notes(arch: Architecture, spec: InferenceSpec) -> tuple[str, ...]:
    notes = []
    if arch.kind == "encoder-decoder":
        notes.append(f"encoder-decoder: the prompt ({spec.prompt:,} tokens) is the encoder input; "
                     "the decoder caches its own tokens plus cross-attention keys/values of the prompt")
    if arch.mla and spec.engine == "hf":
        notes.append("MLA: transformers ≥ 5 caches the latent (d_c + d^R_h per token); 4.x cached "
                     "decompressed per-head keys and values")
    if spec.attn == "eager":
        notes.append("eager attention materialises b·a·s² scores per layer during the prefill")
    if isinstance(arch.vision, VisionTower):
        notes.append("the vision tower's weights are counted (it caches nothing); its activations "
                     "while prefilling images are not: the prompt is sized as text")
    notes += _image_note(arch, spec)
    if arch.has_state and spec.engine == "hf":
        notes.append("SSM / linear-attention / conv mixers: the fused kernels' prefill (mixer_kernels; not "
                     "validated on a GPU)" if spec.mixer_kernels else
                     "SSM / linear-attention / conv mixers: the prefill of transformers' pure-torch paths "
                     "(validated on the CPU; without mamba-ssm / flash-linear-attention on a GPU); "
                     "the fused kernels hold far less (mixer_kernels=True, not validated on a GPU)")
    return tuple(notes)


def check_images(arch: Architecture, spec: InferenceSpec) -> None:
    """Images are sized only where they have a cache of their own: Llama 3.2 Vision's
    cross-attention layers. Any other vision model reads an image as tokens of its prompt (count
    them in the context); a text model takes none."""
    from ..options import OptionError
    from .kvcache import cross_layers

    if not spec.images or cross_layers(arch):
        return
    why = ("an image is tokens of its prompt: count them in ctx_size" if arch.vision or arch.gemma4_vision
           else "it has no vision tower")
    raise OptionError("images", f"{spec.images}: {arch.name} has no cross-attention layers to cache an "
                      f"image; {why}", mentions=("ctx_size",))


def _image_note(arch: Architecture, spec: InferenceSpec) -> list[str]:
    """Llama 3.2 Vision: what the sizing assumes (text only, or ``spec.images`` per sequence) and
    what one image adds."""
    from .kvcache import attention_row, cross_layers, image_tokens

    n = cross_layers(arch)
    if not n:
        return []
    tokens = image_tokens(arch, 1)
    per_image = n * tokens * attention_row(arch, kv_dtype=spec.kv)
    if spec.images:
        return [f"{spec.images} image(s) per sequence: the {n} cross-attention layers cache {tokens:,} "
                f"vision tokens per image, {per_image / 2**20:,.1f} MiB of KV per image and sequence "
                "(whole model), counted; NOT modelled: the vision tower's and the cross-attention layers' "
                "prefill activations (the activations are sized as for text)"]
    return [f"text-only prompts: the {n} cross-attention layers are skipped and cache nothing; each "
            f"image adds {tokens:,} vision tokens to each of them, {per_image / 2**20:,.1f} MiB of KV "
            "per sequence (whole model), not counted here (--images N counts them)"]
