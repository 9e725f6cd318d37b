"""The validation grid: which models, shapes and options are measured.

Models are built from their catalog configs with fewer layers (same layer shapes: every
per-layer term scales exactly with L, and activations become a larger share of the total, so
the check is stricter than at full depth). ``FAST`` is the subset CI runs. ``FAMILIES_NEW``
adds one model per newer native attention/MoE family on a lighter set of points.
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
    "bamba-9b": "bamba: Mamba-2 + attention",
    "mamba-codestral-7b-v0.1-8bit": "mamba2: Mamba-2 alone",
    "kimi-linear-48b-a3b-instruct": "kimi_linear: Kimi Delta Attention + MLA without rotary + MoE",
}
# Kimi Linear is measured for inference only: a cut model's training step holds the torch
# ``chunk_kimi_delta_attention``'s per-channel decay products for the backward, and leaves some
# parameters without gradients, neither of which the training estimate models (measured:
# kimi-linear-48b-a3b-instruct train b2 s512 eager, activations −31.07%, gradients +17.65%).
HYBRID_INFER_POINTS = [(1, 1024), (4, 256)]
HYBRID_TRAIN_POINTS = [(2, 512)]
# One catalog model per newer native attention/MoE family (issue 12), measured on the lighter
# points below to keep the full run short; none is in FAST.
FAMILIES_NEW = {
    "gpt-oss-20b": "gpt_oss: attention sinks, sliding/full alternation, biased experts",
    "llama-4-scout-17b-16e": "llama4_text (the wrapper's text model): chunked attention, NoPE layers, "
                             "every token through every expert",
    "deepseek-v3.2": "deepseek_v32: MLA with the sparse-attention indexer",
    "dbrx-instruct-4bit": "dbrx: fused qkv, clip_qkv, a Python loop over experts",
    "glm-4.5-air": "glm4_moe: partial rotary, fp32 router, shared expert",
    "ernie-4.5-0.3b-pt": "ernie4_5: dense, tied head",
    "hy-mt2-7b": "hunyuan_v1_dense: q/k norms after rotary",
    "olmo-3.1-32b-instruct": "olmo3: post-norm, sliding/full, full-width q/k norms",
    "smollm3-3b": "smollm3: NoPE every fourth layer",
    "granite-3.3-8b": "granite: embedding, residual and logit multipliers",
    "olmoe-1b-7b-0125": "olmoe: MoE, 64 experts top-8, full-width q/k norms",
    "minimax-m2.5": "minimax_m2: MoE with sigmoid routing and score bias, full-width q/k norms",
    "aya-23-8b": "cohere: parallel block, LayerNorm without bias, logit scale",
    "apertus-8b-science-expert-r1": "apertus: xIELU plain MLP, full-width q/k norms",
    "command-r7b-12-2024-abliterated": "cohere2: parallel block, sliding/full, NoPE full layers",
    "glm-4-32b-glm-v2-lora": "glm4: partial rotary, fused gate-up, sandwich norms",
    "seed-oss-36b-4.3test2": "seed_oss: qkv bias, GQA",
    "dots.llm1.base": "dots1: MoE with shared expert, fp32 router, q/k norms",
    "granite-3.0-3b-a800m-instruct": "granitemoe: MoE with multipliers",
    "phi-3.5-moe-pruned-30-attn2": "phimoe: MoE top-2, sparsemixer routing, LayerNorm",
    "minicpm3-4b": "minicpm3: MLA in a dense model, scaled residuals",
    "exaone-4.0-32b": "exaone4: sliding/full from a letter pattern, post-norm",
    "llama-3.2-90b-vision-instruct": "mllama (the wrapper, text only): skips its cross-attention layers, "
                                     "whose parameters and the vision tower's train only with images",
}
# Inference only (HYBRIDS' comment says why). Llama 3.2 Vision trains here too: its text-only step
# gives the vision tower, projector and cross-attention layers no gradients or AdamW states, which
# the estimate models (``training.states.untouched``; before it: gradients and states +60.27%).
INFER_ONLY = {"kimi-linear-48b-a3b-instruct"}
NEW_INFER_POINTS = [(1, 1024), (4, 256)]
NEW_TRAIN_POINTS = [(2, 512)]
# The text model measured for a multimodal wrapper (its text_config, as the text-only class builds it):
# transformers 5.24's Llama4ForConditionalGeneration.forward reads ``outputs.image_outputs`` from a
# language model output that has none, so the wrapper cannot run a text-only step.
TEXT_MODEL_OF = {"llama-4-scout-17b-16e": "Llama4ForCausalLM", "qwen3.5-9b": "Qwen3_5ForCausalLM"}
# Qwen3.5's text_config has no tie_word_embeddings (its text class would tie): the wrapper's is kept
KEEP_WRAPPER_TIE = {"qwen3.5-9b"}
# CPU sdpa runs MLA's unequal q/v head dims through the math kernel (it materialises the
# scores; CUDA's kernels do not): those models are measured with eager, which both model.
# gpt-oss has no sdpa path in transformers 5.24 (``GptOssPreTrainedModel._supports_sdpa = False``).
EAGER_ONLY = {"deepseek-v2-lite", "deepseek-v3.2", "gpt-oss-20b", "minicpm3-4b",
              "kimi-linear-48b-a3b-instruct"}
INFER_POINTS = [(1, 4096), (4, 1024), (16, 256)]
TRAIN_POINTS = [(1, 1024), (2, 512), (4, 256)]


def _attn(model: str, attn: str) -> str:
    return "eager" if model in EAGER_ONLY else attn


def config(model: str) -> dict:
    """The config.json a case builds: the catalog's, or its text model's (``TEXT_MODEL_OF``)."""
    from llmsize.sources import catalog

    cfg = dict(catalog.lookup(model).config)
    if model in TEXT_MODEL_OF:
        keep = model in KEEP_WRAPPER_TIE
        tie = {"tie_word_embeddings": cfg.get("tie_word_embeddings", False)} if keep else {}
        cfg = {**cfg["text_config"], "architectures": [TEXT_MODEL_OF[model]], **tie}
    return cfg


def infer_cases() -> list[Case]:
    cases = []
    for model in MODELS:
        for batch, seq in INFER_POINTS:
            cases.append(Case(model, "infer", batch, seq, _attn(model, "sdpa")))
        if model not in EAGER_ONLY:
            cases.append(Case(model, "infer", 1, 1024, "eager"))
    for model in FAMILIES_NEW:
        cases += [Case(model, "infer", b, s, _attn(model, "sdpa")) for b, s in NEW_INFER_POINTS]
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
    for model in (m for m in FAMILIES_NEW if m not in INFER_ONLY):
        for batch, seq in NEW_TRAIN_POINTS:
            base = Case(model, "train", batch, seq, _attn(model, "sdpa"), layers=2)
            cases += [base, replace(base, recompute="full")]
    return cases


def hybrid_cases() -> list[Case]:
    cases = [Case(m, "infer", b, s, _attn(m, "sdpa")) for m in HYBRIDS for b, s in HYBRID_INFER_POINTS]
    for model in (m for m in HYBRIDS if m not in INFER_ONLY):
        for batch, seq in HYBRID_TRAIN_POINTS:
            base = Case(model, "train", batch, seq, _attn(model, "sdpa"), layers=2)
            cases += [base, replace(base, recompute="full")]
    return cases


FULL = infer_cases() + train_cases() + hybrid_cases()
FAST = [c for c in FULL if c.model in ("llama-3.1-8b", "qwen3-30b-a3b", "gpt2", "mistral-7b-v0.1")
        and (c.batch, c.seq) in ((4, 1024), (2, 512))]
