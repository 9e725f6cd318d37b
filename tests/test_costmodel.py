"""Compiled cost models against the full estimate: the same bytes over the catalog and a grid of
(batch, context) points, and inversions that are tight (the answer fits, one more does not).

The truth here is the report tree each estimate builds (``estimate``/``estimate_training``),
which the rest of the suite checks against transformers, vLLM and llama.cpp; the compiled form
must agree with it to the byte wherever the estimate answers, and refuse where it refuses.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from llmsize import from_hf_config
from llmsize.errors import ConfigError
from llmsize.inference.cost import HfCost, compile_inference
from llmsize.inference.engines import estimate
from llmsize.inference.estimate import InferenceSpec
from llmsize.invert import MAX_CONTEXT, largest
from llmsize.layout import FsdpStrategy, Layout, Offload, ZeroStage
from llmsize.sources import catalog
from llmsize.training.activations import Dropout
from llmsize.training.cost import EXACT, compile_training
from llmsize.training.estimate import TrainSpec, estimate_training
from llmsize.training.lora import LoraSpec
from llmsize.units import GiB, MiB


def spec_of(context: int, **options: object) -> InferenceSpec:
    """An inference spec whose ``tp``/``pp`` options become its layout."""
    degrees = {k: options.pop(k) for k in ("tp", "pp") if k in options}
    return InferenceSpec(context, layout=Layout(**degrees), **options)  # type: ignore[arg-type]


ENTRIES = catalog.entries()
GRID = ((1, 1), (1, 4096), (3, 777), (8, 32768))  # (batch, context); context 1 → the shortest valid
# Options that change the pieces: each catalog entry is checked under two of them, so every
# variant meets every kind of model (dense, MoE, MLA, windows, SSM, encoders, T5) across the list.
VARIANTS = (
    {},
    {"attn": "eager"},
    {"logits": "all"},
    {"chunk": 512, "new_tokens": 64},
    {"tp": 2},
    {"pp": 2},
    {"kv_dtype": "fp8"},
    {"quant": "gptq:4:128"},
    {"dtype": "fp32"},
    {"overrides": ("fragmentation=1GiB", "cuda_context=0")},
    {"tp": 4, "pp": 2, "attn": "eager", "kv_dtype": "fp8", "quant": "fp8-block"},
)


def arch_of(name: str):
    return from_hf_config(catalog.lookup(name).config, name)[0]


def full(arch, spec: InferenceSpec, batch: int, context: int):
    """The estimate's report at (b, c), or the ConfigError it raises."""
    try:
        return estimate(arch, replace(spec, batch=batch, context=context))
    except ConfigError as e:
        return e


def check_grid(arch, spec: InferenceSpec) -> int:
    """Compile ``spec`` and compare it with the full tree at every grid point; returns the number
    of points compared."""
    try:
        cost = compile_inference(arch, spec)
    except ConfigError:
        with pytest.raises(ConfigError):
            estimate(arch, spec)
        return 0
    compared = 0
    for b, c in GRID:
        c = max(c, spec.new_tokens + 1)
        report = full(arch, spec, b, c)
        if isinstance(report, ConfigError):
            with pytest.raises(ConfigError):
                cost.total(b, c)
            continue
        assert cost.total(b, c) == report.total_bytes, (spec, b, c)
        if isinstance(cost, HfCost):
            assert cost.kv_bytes(b, c) == report.part("kv_cache")
            assert cost.activation_bytes(b, c) == report.part("activations")
            assert cost.widest_phase(b, c) in str(report.tree.find("activations").to_dict())
            frag = report.tree.find("fragmentation")
            scaled = 0 if frag is None or "fragmentation" in cost.overheads.fixed else frag.value
            assert cost.fixed_bytes == report.part("weights") + report.part("overhead") - scaled
        compared += 1
    return compared


@pytest.mark.parametrize("i", range(len(ENTRIES)), ids=lambda i: ENTRIES[i].name)
def test_hf_compiled_equals_the_tree(i):
    arch = from_hf_config(ENTRIES[i].config, ENTRIES[i].name)[0]
    compared = [check_grid(arch, spec_of(4096, **options))
                for options in ({}, VARIANTS[i % len(VARIANTS)], VARIANTS[(i + 4) % len(VARIANTS)])]
    assert compared[0] == len(GRID)  # every catalog model is sized by the hf profile


@pytest.mark.parametrize("engine", ["vllm", "llamacpp"])
def test_engine_compiled_equals_the_tree(engine):
    compared = 0
    for i, entry in enumerate(ENTRIES[::3]):
        arch = from_hf_config(entry.config, entry.name)[0]
        options = ({}, {"kv_dtype": "fp8"}, {"attn": "eager"}, {"gpu_mem": 141 * GiB})[i % 4]
        if engine == "llamacpp" and i % 5 == 0:
            options = {"quant": "Q4_K_M", "kv_dtype": "q8_0"}
        if i % 7 == 3:  # the engine flags: vLLM's sampler; llama.cpp's -ub, --kv-unified, -fa, -b
            options = {"sampler": "flashinfer"} if engine == "vllm" else (
                {"n_ubatch": 1024, "kv_unified": True, "flash_attn": "off"} if i % 2 else {"n_batch": 256})
        compared += check_grid(arch, spec_of(4096, engine=engine, **options))
    assert compared >= 40  # most of the catalog runs on both engines


def test_every_variant_compiles_somewhere():
    """Each variant is valid for at least one model (so the grid above is not all refusals)."""
    arch = arch_of("llama-3.1-8b")
    for options in VARIANTS:
        assert check_grid(arch, spec_of(4096, **options)) == len(GRID)


# --- inversions ---------------------------------------------------------------------------------

INVERT = ("gpt2", "llama-3.1-8b", "gemma-2-9b", "mixtral-8x7b", "deepseek-v2-lite", "t5-small",
          "falcon-mamba-7b", "qwen3-32b")


def test_largest_is_exact_on_a_step():
    for cut in (0, 1, 2, 3, 7, 8, 1000, 12345):
        assert largest(lambda n, cut=cut: n <= cut, 1, 1 << 20) == (cut or None)
    assert largest(lambda n: True, 5, 9) == 9
    assert largest(lambda n: False, 1, 9) is None


@pytest.mark.parametrize("name", INVERT)
@pytest.mark.parametrize("options", [{}, {"attn": "eager", "logits": "all"}, {"chunk": 256, "tp": 2}],
                         ids=["sdpa", "eager-all", "chunk-tp2"])
def test_hf_inversions_are_tight(name, options):
    arch = arch_of(name)
    if arch.n_heads % options.get("tp", 1):  # falcon-mamba has no heads to split
        options = {k: v for k, v in options.items() if k != "tp"}
    spec = spec_of(1024, **options)
    cost = compile_inference(arch, spec)
    assert cost.max_context(cost.fixed_bytes - 1) is None
    assert cost.max_batch(cost.fixed_bytes - 1, context=1024) == 0
    for b, c in ((1, 3000), (4, 20000), (16, 1024)):
        budget = cost.total(b, c) + 12345
        ctx = cost.max_context(budget, batch=b)
        assert ctx is not None and ctx >= c
        assert full(arch, spec, b, ctx).total_bytes <= budget
        # a chunked state-space model's memory stops growing: the search ends at its limit
        assert ctx == MAX_CONTEXT or budget < full(arch, spec, b, ctx + 1).total_bytes
        bat = cost.max_batch(budget, context=c)
        assert bat >= b
        assert full(arch, spec, bat, c).total_bytes <= budget < full(arch, spec, bat + 1, c).total_bytes


def test_hf_max_batch_is_closed_form(monkeypatch):
    """The batch inversion solves the linear total directly: a handful of evaluations, not a
    search (the tightness itself is checked above)."""
    calls = []
    total = HfCost.total
    monkeypatch.setattr(HfCost, "total", lambda self, b, c: calls.append(b) or total(self, b, c))
    for name in INVERT:
        for options in ({}, {"attn": "eager", "logits": "all"}):
            cost = compile_inference(arch_of(name), spec_of(1024, **options))
            for c in (100, 5000):
                budget = cost.total(7, c) + 10**6
                calls.clear()
                assert cost.max_batch(budget, context=c) >= 7
                assert len(calls) <= 5, (name, options, c, calls)


@pytest.mark.parametrize("name", INVERT)
def test_hf_total_grows_with_context_and_batch(name):
    """The premise of bisection: the total never falls when the context or the batch grows."""
    arch = arch_of(name)
    for options in ({}, {"attn": "eager"}, {"chunk": 100, "new_tokens": 10}):
        cost = compile_inference(arch, spec_of(1024, **options))
        for b in (1, 3):
            totals = [cost.total(b, c) for c in range(cost.min_context, 5000, 13)]
            assert totals == sorted(totals)
        totals = [cost.total(b, 700) for b in range(1, 200, 7)]
        assert totals == sorted(totals)


def test_hf_kv_bytes_per_token_is_the_published_figure():
    """Llama-3.1-8B in bf16: 32 layers × 2 × 8 kv heads × 128 × 2 bytes = 128 KiB per token."""
    cost = compile_inference(arch_of("llama-3.1-8b"), spec_of(1024))
    assert cost.kv_bytes_per_token() == 32 * 2 * 8 * 128 * 2 == 128 * 1024


def test_hf_widest_phase_switches_from_logits_to_mlp():
    """Llama-3.1-8B generating: a row of V = 128,256 logits (bf16 + fp32: 6 bytes each) per
    sequence outweighs the MLP's live tensors, 2·(2d + 3I) = 2·(8,192 + 43,008) bytes per token,
    for prompts under V·6 / 102,400 = 7.5 tokens, whatever the batch; the MLP wins from 8."""
    cost = compile_inference(arch_of("llama-3.1-8b"), spec_of(1024))
    for b in (1, 5):
        assert cost.widest_phase(b, 7) == "logits"
        assert cost.widest_phase(b, 8) == "MLP"
        assert cost.widest_phase(b, 100_000) == "MLP"
    eager = compile_inference(arch_of("llama-3.1-8b"), spec_of(1024, attn="eager"))
    assert eager.widest_phase(1, 100_000) == "attention"  # b·a·s² scores


def test_vllm_inversions_are_tight():
    arch = arch_of("llama-3.1-8b")
    spec = spec_of(8192, engine="vllm")
    cost = compile_inference(arch, spec)
    gpu = 24 * GiB
    ctx = cost.max_context(gpu)
    assert ctx is not None
    estimate(arch, replace(spec, context=ctx, gpu_mem=gpu))  # vLLM starts …
    with pytest.raises(ConfigError):
        estimate(arch, replace(spec, context=ctx + 1, gpu_mem=gpu))  # … and one more token does not
    assert cost.max_context(16 * GiB) is None  # 16 GiB of weights: no room for a KV cache
    assert cost.max_batch(16 * GiB, context=1024) == 0
    for c in (1000, 8192, 100_000):
        n = cost.max_batch(80 * GiB, context=c)
        tokens = cost.kv_capacity_tokens(c, 80 * GiB)
        per_seq = -(-c // 16) * 16  # whole blocks of 16 tokens
        assert n * per_seq <= tokens < (n + 1) * per_seq
    ctx2 = cost.max_context(80 * GiB, batch=4)
    assert cost.max_batch(80 * GiB, context=ctx2) >= 4 > cost.max_batch(80 * GiB, context=ctx2 + 1)


def test_llamacpp_inversions_are_tight():
    arch = arch_of("llama-3.1-8b")
    spec = spec_of(4096, engine="llamacpp", quant="Q4_K_M")
    cost = compile_inference(arch, spec)
    budget = 8 * GiB
    ctx = cost.max_context(budget, batch=2)
    assert full(arch, spec, 2, ctx).total_bytes <= budget < full(arch, spec, 2, ctx + 1).total_bytes
    bat = cost.max_batch(budget, context=2048)
    assert full(arch, spec, bat, 2048).total_bytes <= budget < full(arch, spec, bat + 1, 2048).total_bytes
    assert cost.max_context(4 * GiB) is None  # 4.6 GiB of weights


# --- training ------------------------------------------------------------------------------------

TRAIN = (("gpt2", {}), ("llama-3.2-3b", {"recompute": "full"}), ("qwen1.5-moe-a2.7b", {}),
         ("gemma-2-2b", {"attn": "eager"}),
         ("llama-3.1-8b", {"layout": Layout(dp=8, zero=ZeroStage.PARAMETERS)}),
         ("llama-3.1-8b", {"layout": Layout(tp=2, pp=2)}))


@pytest.mark.parametrize(("name", "options"), TRAIN, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TRAIN)])
def test_training_compiled_equals_the_tree_and_inverts_tightly(name, options):
    arch = arch_of(name)
    spec = TrainSpec(seq=512, **options)
    cost = compile_training(arch, spec)
    for b, s in ((1, 128), (2, 1000), (4, 4096)):
        report = estimate_training(arch, replace(spec, micro_batch=b, seq=s))
        assert cost.total(b, s) == report.total_bytes
        assert cost.peak(b, s) == (report.peak_phase, report.peak_where)
        assert cost.fixed_bytes < report.total_bytes
    assert cost.max_context(cost.fixed_bytes) is None  # the smallest step needs activations too
    budget = cost.total(2, 1000) + 64 * MiB
    seq = cost.max_context(budget, batch=2, limit=1 << 16)
    assert seq is not None and seq >= 1000
    total = lambda b, s: estimate_training(arch, replace(spec, micro_batch=b, seq=s)).total_bytes  # noqa: E731
    assert total(2, seq) <= budget < total(2, seq + 1)
    mb = cost.max_batch(budget, context=1000, limit=1 << 12)
    assert total(mb, 1000) <= budget < total(mb + 1, 1000)


def test_readme_cost_model_example_runs():
    """The README's "Cost models" example runs as printed, and says what it returns."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    section = text.split("## Cost models", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), scope)
    cost = scope["cost"]
    assert cost.kv_bytes_per_token() == 131_072 and cost.widest_phase(4, 32768) == "MLP"
    assert cost.report(4, 32768).total_bytes == cost.total(4, 32768)


def _write_safetensors(path, arch) -> None:
    """Every tensor of ``arch`` in F32, as the safetensors format lays it out: an 8-byte
    little-endian header length, the JSON header, then the data back to back."""
    import json
    import struct

    header, offset = {}, 0
    for t in arch_tensors(arch):
        n = 4 * t.numel
        header[t.name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        f.truncate(8 + len(text) + offset)  # sparse zeros: only the header is ever read


def arch_tensors(arch):
    from llmsize.formats.tensors import model_tensors

    return model_tensors(arch)


@pytest.mark.parametrize("engine", ["hf", "vllm", "llamacpp"])
def test_compiled_from_a_checkpoint_equals_the_tree(tmp_path, engine):
    """Weights read from a checkpoint's headers (split over tp like the format estimate)."""
    from llmsize.sources.safetensors import read_safetensors

    cfg = catalog.lookup("qwen2.5-0.5b").config
    arch = from_hf_config(cfg, "qwen")[0]
    _write_safetensors(tmp_path / "model.safetensors", arch)
    ckpt = read_safetensors(str(tmp_path / "model.safetensors"))
    for options in ({}, {"tp": 2}):
        spec = spec_of(2048, engine=engine, **options)
        cost = compile_inference(arch, spec, checkpoint=ckpt, config=dict(cfg))
        for b, c in ((1, 100), (4, 4096)):
            report = estimate(arch, replace(spec, batch=b, context=c), checkpoint=ckpt, config=dict(cfg))
            assert cost.total(b, c) == report.total_bytes
            assert cost.report(b, c).to_dict() == report.to_dict()
        if engine != "llamacpp":  # llama.cpp reads a GGUF's own bytes only
            bf16 = estimate(arch, spec).part("weights")  # without the checkpoint: bf16 weights
            assert cost.report().part("weights") > bf16


# --- the compiled vLLM and llama.cpp forms: every branch of their fast paths -------------------

DENSE_GRID = tuple((b, c) for b in (1, 2, 5) for c in (1, 255, 256, 257, 4000, 4097, 70_000))


LLAMACPP_OPTIONS = {
    "default": {}, "eager": {"attn": "eager"}, "ngl5": {"n_gpu_layers": 5}, "ngl0": {"n_gpu_layers": 0},
    "q4": {"quant": "Q4_K_M", "kv_dtype": "q8_0"},
    # the flags -ub, -b, --kv-unified and -fa (llama.cpp's own defaults are the first case)
    "ub1024-unified": {"n_ubatch": 1024, "kv_unified": True}, "b128": {"n_batch": 128, "n_ubatch": 128},
    "fa-off-ub2048": {"flash_attn": "off", "n_ubatch": 2048, "n_batch": 4096},
    "fa-on-unified-ngl7": {"attn": "eager", "flash_attn": "on", "kv_unified": True, "n_gpu_layers": 7},
}


@pytest.mark.parametrize("name", ["llama-3.1-8b", "gemma-2-9b", "deepseek-v2-lite", "mixtral-8x7b", "gpt2"])
@pytest.mark.parametrize("options", list(LLAMACPP_OPTIONS.values()), ids=list(LLAMACPP_OPTIONS))
def test_llamacpp_compiled_equals_the_plan_around_the_padding(name, options):
    """llama.cpp pads n_ctx to 256 cells per stream, sizes the SWA cache from the window and the
    ubatch, and stages host layers' K, V and weights on the GPU: the compiled polynomial in the
    geometry must agree with the full plan on both sides of every padding step."""
    arch = arch_of(name)
    spec = spec_of(4096, engine="llamacpp", **options)
    cost = compile_inference(arch, spec)
    assert cost._fast is not None  # the compiled path is the one under test
    for b, c in DENSE_GRID:
        report = full(arch, spec, b, c)
        assert cost.total(b, c) == report.total_bytes, (b, c)


@pytest.mark.parametrize("name", ["llama-3.1-8b", "gemma-2-9b", "deepseek-v2-lite"])
@pytest.mark.parametrize("gpu_mem", [24 * GiB, 80 * GiB])
def test_vllm_compiled_equals_the_startup_at_the_edge(name, gpu_mem):
    """Around the longest max_model_len vLLM starts with, the compiled form refuses exactly where
    the full start-up does and otherwise gives its total."""
    arch = arch_of(name)
    spec = spec_of(8192, engine="vllm", gpu_mem=gpu_mem)
    cost = compile_inference(arch, spec)
    edge = cost.max_context(gpu_mem)
    points = [1, 4096] + ([edge - 1, edge, edge + 1, edge + 17] if edge else [])
    for c in points:
        report = full(arch, replace(spec, gpu_mem=gpu_mem), 1, c)
        if isinstance(report, ConfigError):
            with pytest.raises(ConfigError):
                cost.total(1, c)
        else:
            assert cost._fast is not None
            assert cost.total(1, c) == report.total_bytes, c


TRAIN_VARIANTS = (
    ("gemma-2-2b", {"recompute": "selective", "grad_accum": 4}),
    ("llama-3.2-3b", {"lora": LoraSpec(rank=16, targets=("all-linear",)), "recompute": "full"}),
    ("qwen1.5-moe-a2.7b", {"layout": Layout(pp=2), "grad_accum": 8}),
    ("gpt2", {"recipe": "pure-bf16", "attn": "eager", "dropout": Dropout(0.1, 0.1, 0.1)}),
    ("llama-3.1-8b", {"layout": Layout(dp=4, zero=ZeroStage.PARAMETERS), "optimizer": "sgd-momentum"}),
)


@pytest.mark.parametrize(("name", "options"), TRAIN_VARIANTS, ids=[n for n, _ in TRAIN_VARIANTS])
def test_training_compiled_walk_equals_the_report(name, options):
    """The compiled form fixes the model states and the walk's inputs at the spec's own
    (micro-batch, seq) and reruns only the walk: the report must agree everywhere else too,
    sliding windows crossed (Gemma-2's 4096), pipeline stages, LoRA and recompute included."""
    arch = arch_of(name)
    spec = TrainSpec(seq=512, **options)  # type: ignore[arg-type]
    cost = compile_training(arch, spec)
    for b, s in ((1, 1), (3, 777), (2, 4095), (2, 4097), (1, 9000)):
        assert cost.total(b, s) == estimate_training(arch, replace(spec, micro_batch=b, seq=s)).total_bytes


# --- the compiled training walk over the catalog: every recipe meets every kind of model ---------

TRAIN_RECIPES = (
    {},  # amp, AdamW, flash attention
    {"recipe": "pure-bf16", "recompute": "selective", "attn": "sdpa"},
    {"lora": LoraSpec(rank=16, targets=("all-linear",))},
    {"lora": LoraSpec(rank=8, base="nf4-dq", adapter_bits=16), "recompute": "full"},  # QLoRA
    {"layout": Layout(dp=8, zero=ZeroStage.OPTIMIZER), "optimizer": "sgd-momentum", "step_kernel": "foreach"},
    {"layout": Layout(dp=8, zero=ZeroStage.GRADIENTS), "grad_accum": 4},
    {"layout": Layout(dp=8, zero=ZeroStage.PARAMETERS), "recipe": "deepspeed"},
    {"layout": Layout(dp=4, fsdp=FsdpStrategy.FULL_SHARD, offload=Offload.PARAMETERS),
     "optimizer": "adam-8bit"},
    {"layout": Layout(tp=2, sp=True, pp=2), "recipe": "megatron", "grad_accum": 4},
    {"recompute": "full", "attn": "eager", "dropout": Dropout(0.1, 0.1, 0.1), "recipe": "fp32"},
    {"layout": Layout(pp=2, vpp=2), "grad_accum": 8},  # 2.5 micro-batches in flight: the walk answers
    {"layout": Layout(tp=3, sp=True, cp=2)},
    {"capacity_factor": 1.1, "recompute": "selective"},  # 0.1 of a slot per token: the walk answers
)
# (micro-batch, seq): odd and even, around Gemma-2's 4096 window, long enough for the layers to peak
TRAIN_GRID = ((1, 1), (3, 778), (2, 4096), (1, 4097), (2, 6144), (4, 30000))
TRAIN_SEQ = 1536  # the specs' own: splits over tp=3 with sp and cp=2


def train_total(arch, spec: TrainSpec, batch: int, seq: int):
    try:
        return estimate_training(arch, replace(spec, micro_batch=batch, seq=seq))
    except ConfigError as e:
        return e


@pytest.mark.parametrize("i", range(len(ENTRIES)), ids=lambda i: ENTRIES[i].name)
def test_training_compiled_equals_the_report_over_the_catalog(i):
    """Every catalog model under two recipes of ``TRAIN_RECIPES`` (in turn, so that each recipe
    meets dense, MoE, MLA, windowed and tied models): the compiled total and peak equal the
    report's at every grid point, and refuse where it refuses."""
    arch = arch_of(ENTRIES[i].name)
    for options in (TRAIN_RECIPES[i % len(TRAIN_RECIPES)], TRAIN_RECIPES[(i + 5) % len(TRAIN_RECIPES)]):
        spec = TrainSpec(seq=TRAIN_SEQ, **options)  # type: ignore[arg-type]
        try:
            cost = compile_training(arch, spec)
        except ConfigError:
            with pytest.raises(ConfigError):
                estimate_training(arch, spec)
            continue
        for b, s in TRAIN_GRID:
            report = train_total(arch, spec, b, s)
            if isinstance(report, ConfigError):
                with pytest.raises(ConfigError):
                    cost.total(b, s)
                continue
            assert cost.total(b, s) == report.total_bytes, (options, b, s)
            assert cost.peak(b, s) == (report.peak_phase, report.peak_where), (options, b, s)


def test_every_training_recipe_compiles_somewhere():
    """Each recipe is valid and compared for Llama-3.2-3B, GPT-2 (12 heads: tp=3 splits them) or
    Qwen1.5-MoE (the capacity factor needs experts), so the catalog test is not all refusals."""
    for options in TRAIN_RECIPES:
        name = "qwen1.5-moe-a2.7b" if "capacity_factor" in options else "llama-3.2-3b"
        name = "gpt2" if "layout" in options and options["layout"].tp == 3 else name  # type: ignore[attr-defined]
        arch = arch_of(name)
        spec = TrainSpec(seq=TRAIN_SEQ, **options)  # type: ignore[arg-type]
        cost = compile_training(arch, spec)
        compared = 0
        for b, s in TRAIN_GRID:
            report = train_total(arch, spec, b, s)
            if not isinstance(report, ConfigError):
                assert cost.total(b, s) == report.total_bytes, (options, b, s)
                compared += 1
        assert compared >= 2, options


@pytest.mark.parametrize(("name", "options"), [
    ("llama-3.1-8b", {}), ("gemma-2-2b", {"attn": "eager"}), ("gemma-3-1b", {"recompute": "selective"}),
    ("deepseek-v2-lite", {"lora": LoraSpec(rank=8, base="nf4-dq")}),
    ("mixtral-8x7b", {"layout": Layout(pp=2)}),
    ("qwen3-30b-a3b", {"layout": Layout(dp=8, zero=ZeroStage.GRADIENTS), "grad_accum": 2}),
])
def test_training_closed_form_equals_the_walk(name, options):
    """The closed form (integer polynomials in T and s·T, fitted at three points) against the
    compiled walk it was fitted to, on a dense grid: every window edge, odd sizes, long sequences."""
    arch = arch_of(name)
    cost = compile_training(arch, TrainSpec(seq=TRAIN_SEQ, **options))  # type: ignore[arg-type]
    assert cost._pieces, "the closed form applies"  # whole bytes per token everywhere
    walk = replace(cost)  # compiled again, then without its pieces: the walk answers
    object.__setattr__(walk, "_pieces", ())
    edges = {k.mask_from for st in cost._stages for k in st.kinds if k.mask_from}
    seqs = {1, 2, 3, 127, 1000, 4095, 65537, 1 << 20} | {e + d for e in edges for d in (-1, 0, 1)}
    for s in sorted(seqs):
        for b in (1, 2, 7):
            assert cost.total(b, s) == walk.total(b, s), (b, s)
            assert cost.peak(b, s) == walk.peak(b, s), (b, s)


def test_training_beyond_exact_floats_falls_back_to_the_walk():
    """Above 2^52 bytes the walk's floats are no longer whole numbers: the compiled form answers
    with the walk there, and still equals the report."""
    arch = arch_of("gpt2")
    spec = TrainSpec(seq=512, attn="eager")
    cost = compile_training(arch, spec)
    b, s = 64, 1 << 22
    report = estimate_training(arch, replace(spec, micro_batch=b, seq=s))
    assert report.total_bytes > EXACT
    assert cost.total(b, s) == report.total_bytes


@pytest.mark.parametrize("options", [{"layout": Layout(tp=2, sp=True)}, {"layout": Layout(cp=2)},
                                     {"lora": LoraSpec(rank=8, base="nf4-dq"), "recompute": "full"}],
                         ids=["sp", "cp", "qlora"])
def test_training_inversions_step_over_valid_sequences(options):
    """With sequence or context parallelism only multiples of ``min_context`` split evenly: the
    longest sequence that fits is one, and the next one does not fit."""
    arch = arch_of("llama-3.1-8b")
    spec = TrainSpec(seq=TRAIN_SEQ, **options)  # type: ignore[arg-type]
    cost = compile_training(arch, spec)
    step = cost.min_context
    total = lambda b, s: estimate_training(arch, replace(spec, micro_batch=b, seq=s)).total_bytes  # noqa: E731
    budget = cost.total(2, 1000 * step) + 64 * MiB
    seq = cost.max_context(budget, batch=2, limit=1 << 18)
    assert seq is not None and seq % step == 0 and seq >= 1000 * step
    assert total(2, seq) <= budget < total(2, seq + step)
    mb = cost.max_batch(budget, context=1000 * step, limit=1 << 12)
    assert total(mb, 1000 * step) <= budget < total(mb + 1, 1000 * step)
    assert cost.fixed_bytes < cost.total(1, step)
