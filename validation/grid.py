"""The validation grid: which models, shapes and options are measured.

Models are built from their catalog configs with fewer layers (same layer shapes: every
per-layer term scales exactly with L, and activations become a larger share of the total, so
the check is stricter than at full depth). ``FAST`` is the subset CI runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Case:
    model: str
    mode: str  # infer | train
    batch: int
    seq: int
    attn: str = "sdpa"
    recompute: str = "none"  # train: none | full (gradient_checkpointing_enable)
    optimizer: str = "adamw"  # train: adamw | sgd
    lora_rank: int | None = None
    layers: int = 3

    @property
    def label(self) -> str:
        opts = [self.attn] + ([f"recompute {self.recompute}"] if self.recompute != "none" else [])
        opts += [self.optimizer] if self.mode == "train" else []
        opts += [f"LoRA r{self.lora_rank}"] if self.lora_rank else []
        return f"{self.model} {self.mode} b{self.batch} s{self.seq} {' '.join(opts)}"


# What each model stands for in the grid.
MODELS = {
    "llama-3.1-8b": "dense, GQA, SwiGLU",
    "qwen3-8b": "GQA with q/k norms",
    "qwen2.5-7b": "qkv bias",
    "mistral-7b-v0.1": "sliding window on every layer",
    "gemma-3-1b": "sliding/full interleaved, MQA, tied",
    "phi-2": "parallel block, Python tanh-GELU",
    "gpt2": "tied head, learned positions, plain MLP",
    "starcoder2-7b": "plain MLP, GQA",
    "olmo-2-1b": "post-norm",
    "qwen3-30b-a3b": "MoE, 128 experts top-8",
    "mixtral-8x7b": "MoE, 8 experts top-2",
    "deepseek-v2-lite": "MLA + MoE with shared experts",
    "t5-base": "encoder-decoder, relative position bias",
}
# State-space and hybrid families, one model each, on a lighter set of points (their CPU
# mixers run transformers' pure-torch paths, which are slow under FakeTensorMode). A cut model
# keeps one layer of each kind in the family's order (``measure.harness.kept_layers``).
HYBRIDS = {
    "mamba-2.8b-hf": "Mamba-1 (selective scan)",
    "falcon-mamba-7b": "Mamba-1 with RMS-normed B, C, Δ",
    "nemotron-h-8b-base-8k": "Mamba-2, MLP-only and attention layers",
    "jamba-1.5-mini": "Mamba-1 + attention + MoE",
    "qwen3-next-80b-a3b-instruct": "Gated DeltaNet + gated attention + MoE",
    "qwen3.5-9b": "Gated DeltaNet + gated attention, dense (its text model)",
    "lfm2-1.2b": "gated short convolution + attention",
}
# multimodal wrappers measured as their text model: the class to build
TEXT_MODELS = {"qwen3.5-9b": "Qwen3_5ForCausalLM"}
HYBRID_INFER_POINTS = [(1, 1024), (4, 256)]
HYBRID_TRAIN_POINTS = [(2, 512)]
# CPU sdpa runs MLA's unequal q/v head dims through the math kernel (it materialises the
# scores; CUDA's kernels do not): those models are measured with eager, which both model.
EAGER_ONLY = {"deepseek-v2-lite"}
INFER_POINTS = [(1, 4096), (4, 1024), (16, 256)]
TRAIN_POINTS = [(1, 1024), (2, 512), (4, 256)]


def _attn(model: str, attn: str) -> str:
    return "eager" if model in EAGER_ONLY else attn


def infer_cases() -> list[Case]:
    cases = []
    for model in MODELS:
        for batch, seq in INFER_POINTS:
            cases.append(Case(model, "infer", batch, seq, _attn(model, "sdpa")))
        if model not in EAGER_ONLY:
            cases.append(Case(model, "infer", 1, 1024, "eager"))
    return cases


def train_cases() -> list[Case]:
    cases = []
    for model in MODELS:
        if model == "t5-base":
            continue
        for batch, seq in TRAIN_POINTS:
            base = Case(model, "train", batch, seq, _attn(model, "sdpa"), layers=2)
            cases += [base, replace(base, recompute="full")]
        cases.append(replace(base, optimizer="sgd"))
        cases.append(replace(base, lora_rank=16))
    return cases


def hybrid_cases() -> list[Case]:
    cases = [Case(m, "infer", b, s) for m in HYBRIDS for b, s in HYBRID_INFER_POINTS]
    for model in HYBRIDS:
        for batch, seq in HYBRID_TRAIN_POINTS:
            base = Case(model, "train", batch, seq, layers=2)
            cases += [base, replace(base, recompute="full")]
    return cases


FULL = infer_cases() + train_cases() + hybrid_cases()
FAST = [c for c in FULL if c.model in ("llama-3.1-8b", "qwen3-30b-a3b", "gpt2", "mistral-7b-v0.1")
        and (c.batch, c.seq) in ((4, 1024), (2, 512))]
