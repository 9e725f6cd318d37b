"""The inversions and the plan, checked against the full estimate they invert.

Independent truth here is the full estimate itself, run through the public API exactly as a user
would (``llmsize.infer`` / ``llmsize.train``), not the cost models the plan uses:

- ``--max-context`` / ``--max-batch`` / ``--max-concurrency`` equal a plain bisection over the full
  estimate, and are tight: the answer fits, one more token or sequence does not;
- the plan's fewest GPUs: its first layout fits by the ``infer``/``train`` call its command
  names, and no valid layout (the engine's TP rule, every training shape and dp) of fewer GPUs
  does — checked by brute force over every such layout.
"""

from __future__ import annotations

import shlex

import pytest

import llmsize
from llmsize.errors import LlmsizeError
from llmsize.invert import largest

GiB = 2**30

# --- inversions: tight against bisection over the full estimate ----------------------------------


def full_fits(model: str, budget: int, *, engine: str, context: int, batch: int, **opts: object) -> bool:
    """Does the full estimate at (batch, context) fit a GPU of ``budget`` bytes, as the engine says?"""
    try:
        r = llmsize.infer(model, engine=engine, ctx_size=context, batch=1 if engine == "vllm" else batch,
                          gpu_mem=budget, **opts)
    except LlmsizeError:
        return False  # vLLM refuses to start
    if engine == "vllm":
        return int(r.to_dict()["vllm"]["max_concurrency"]) >= batch
    return r.total_bytes <= budget


LIMIT_CASES = [
    ("llama-3.1-8b", "hf", 24 * GiB, {}),
    ("qwen3-8b", "hf", 40 * GiB, {"attn": "eager"}),  # eager's s² scores: the widest phase moves
    ("gemma-2-9b", "hf", 20 * GiB, {}),  # sliding-window layers
    ("mistral-7b-v0.3", "vllm", 18 * GiB, {}),
    ("llama-3.1-8b", "vllm", 20 * GiB, {"kv_dtype": "fp8"}),
    ("qwen3-8b", "llamacpp", 6 * GiB, {"quant": "Q4_K_M"}),
    ("llama-3.2-3b", "llamacpp", 12 * GiB, {}),
]


@pytest.mark.parametrize(("model", "engine", "budget", "opts"), LIMIT_CASES,
                         ids=[f"{m}-{e}-{b // GiB}GiB" for m, e, b, _ in LIMIT_CASES])
def test_max_context_is_the_bisection_of_the_full_estimate(model, engine, budget, opts):
    r = llmsize.infer(model, engine=engine, gpu_mem=budget, max_context=True, **opts)
    cap = r.model_max_context
    truth = largest(lambda c: full_fits(model, budget, engine=engine, context=c, batch=1, **opts), 1, cap)
    assert r.max_context == (truth or 0)
    if truth is not None and truth < cap:  # tight: one more token does not fit (unless capped)
        assert full_fits(model, budget, engine=engine, context=truth, batch=1, **opts)
        assert not full_fits(model, budget, engine=engine, context=truth + 1, batch=1, **opts)
        assert not r.capped


@pytest.mark.parametrize(("model", "engine", "budget", "opts"), LIMIT_CASES,
                         ids=[f"{m}-{e}-{b // GiB}GiB" for m, e, b, _ in LIMIT_CASES])
def test_max_batch_is_tight_on_the_full_estimate(model, engine, budget, opts):
    context = 4096
    r = llmsize.infer(model, engine=engine, gpu_mem=budget, ctx_size=context, max_batch=True, **opts)
    truth = largest(lambda b: full_fits(model, budget, engine=engine, context=context, batch=b, **opts), 1,
                    4096) or 0
    assert r.max_batch == truth
    assert not full_fits(model, budget, engine=engine, context=context, batch=truth + 1, **opts)


def test_max_concurrency_is_vllms_figure_at_that_context():
    r = llmsize.infer("llama-3.1-8b", engine="vllm", gpu_mem="24GiB", ctx_size=32768, max_concurrency=True,
                      max_batch=True)
    full = llmsize.infer("llama-3.1-8b", engine="vllm", gpu_mem="24GiB", ctx_size=32768).to_dict()["vllm"]
    assert round(r.max_concurrency, 2) == full["max_concurrency"]  # vLLM logs two decimals
    assert r.kv_capacity_tokens == full["kv_cache_tokens"]
    assert r.max_batch == int(full["max_concurrency"])


def test_the_limits_document_is_the_clis(capsys):
    import json

    from llmsize.cli import main

    argv = ["infer", "llama-3.1-8b", "--gpu-mem", "24GiB", "--max-context", "--max-batch", "--json"]
    assert main(argv) == 0
    api = llmsize.infer("llama-3.1-8b", gpu_mem="24GiB", max_context=True, max_batch=True)
    assert json.loads(capsys.readouterr().out) == api.to_dict()


def test_inversions_take_the_gpu_and_need_vllm_for_concurrency():
    by_name = llmsize.infer("llama-3.1-8b", gpu="rtx-4090", max_context=True)
    by_size = llmsize.infer("llama-3.1-8b", gpu_mem=llmsize.gpu("rtx-4090").usable_bytes, max_context=True)
    assert by_name.budget_bytes == by_size.budget_bytes and by_name.max_context == by_size.max_context
    assert by_name.to_dict()["gpu"] == "rtx-4090" and by_size.to_dict()["gpu"] is None
    with pytest.raises(LlmsizeError, match="vLLM"):
        llmsize.infer("gpt2", gpu_mem="8GiB", max_concurrency=True)


# --- plan: the fewest GPUs, checked by brute force --------------------------------------------


def _api_call(command: str) -> tuple[str, str, dict[str, object]]:
    """An ``llmsize infer|train SOURCE --flag value …`` command → (function, source, keywords)."""
    words = shlex.split(command)
    assert words[0] == "llmsize"
    func, source, flags = words[1], words[2], words[3:]
    names = {"-c": "ctx_size", "-b": "batch", "-ngl": "n_gpu_layers"}
    out: dict[str, object] = {}
    i = 0
    while i < len(flags):
        name = names.get(flags[i], flags[i].removeprefix("--").replace("-", "_"))
        if i + 1 < len(flags) and not flags[i + 1].startswith("-"):
            value = flags[i + 1]
            out[name], i = int(value) if value.isdigit() else value, i + 2  # as argparse's type=int
        else:
            out[name], i = True, i + 1
    return func, source, out


SERVE_CASES = [
    ("llama-3.1-70b-instruct", "vllm", 80 * GiB, 32768),
    ("qwen2.5-72b", "vllm", 48 * GiB, 8192),
    ("mixtral-8x7b", "vllm", 40 * GiB, 4096),
    ("qwen3-8b", "hf", 12 * GiB, 16384),
    ("llama-3.1-8b", "hf", 16 * GiB, 32768),
]


@pytest.mark.parametrize(("model", "engine", "budget", "context"), SERVE_CASES,
                         ids=[f"{m}-{e}-{b // GiB}GiB" for m, e, b, _ in SERVE_CASES])
def test_serve_plan_fewest_gpus_by_brute_force(model, engine, budget, context):
    from llmsize.plan.layouts import tp_valid

    plan = llmsize.plan(model, engine=engine, ctx_size=context, gpu_mem=budget, max_gpus=16)
    target = plan.targets[0]
    assert target.gpus is not None and target.rows
    func, source, kw = _api_call(target.commands[0])
    assert func == "infer" and source == model
    first = llmsize.infer(source, **kw)  # the printed command, through the API
    assert first.gpus == target.gpus and first.total_bytes == target.rows[0].total_bytes
    assert full_fits(model, budget, engine=engine, context=context, batch=1, tp=first.spec.layout.tp,
                     pp=first.spec.layout.pp)
    arch = llmsize.resolve(model).arch
    for n in range(1, target.gpus):  # every valid layout of fewer GPUs: tp · pp = n
        for tp in (t for t in range(1, n + 1) if n % t == 0 and tp_valid(arch, t, engine=engine)):
            if n // tp <= arch.n_layers:
                fits = full_fits(model, budget, engine=engine, context=context, batch=1, tp=tp, pp=n // tp)
                assert not fits, (tp, n // tp)


TRAIN_CASES = [
    ("qwen3-1.7b", "train", 16 * GiB, 4096, {}),
    ("llama-3.2-1b-instruct", "train", 8 * GiB, 2048, {}),
    ("qwen3-8b", "finetune", 8 * GiB, 2048, {"qlora": True}),
    ("qwen3-1.7b", "train", 12 * GiB, 2048, {"tp": 1, "pp": 1}),  # data parallel only: dp is solved for
    ("llama-3.2-1b-instruct", "train", 10 * GiB, 4096, {"tp": 1, "recompute": "selective"}),
]


@pytest.mark.parametrize(("model", "mode", "budget", "seq", "opts"), TRAIN_CASES,
                         ids=[f"{m}-{mo}-{b // GiB}GiB" for m, mo, b, _, _ in TRAIN_CASES])
def test_train_plan_fewest_gpus_by_brute_force(model, mode, budget, seq, opts):
    from dataclasses import replace

    from llmsize.plan.train import TrainSearch

    plan = llmsize.plan(model, mode=mode, seq=seq, gpu_mem=budget, max_gpus=64, **opts)
    target = plan.targets[0]
    assert target.gpus is not None and target.rows
    func, source, kw = _api_call(target.commands[0])
    first = llmsize.train(source, **kw)  # the printed command, through the API
    assert func == "train" and first.total_bytes == target.rows[0].total_bytes <= budget
    assert first.spec.layout.gpus == target.gpus
    # brute force: every shape the search enumerates, at every dp of fewer GPUs, by the full estimate
    pins = {k: v for k, v in opts.items() if k in ("tp", "pp", "recompute")}
    search = TrainSearch(llmsize.resolve(model).arch, first.spec, pins=pins)
    for shape in search.shapes:
        g = shape.gpus_per_replica
        for dp in range(1, (target.gpus - 1) // g + 1):
            layout = shape.with_dp(dp)
            try:
                r = llmsize.estimate_training(search.arch, replace(first.spec, layout=layout,
                                                                   recompute=shape.recompute))
            except LlmsizeError:
                continue
            assert r.total_bytes > budget, (layout, shape.recompute)


def test_plan_document_is_the_clis(capsys):
    import json

    from llmsize.cli import main

    argv = ["plan", "llama-3.2-1b-instruct", "--train", "--gpu-mem", "24GiB", "--keep", "2"]
    assert main([*argv, "--json"]) == 0
    api = llmsize.plan("llama-3.2-1b-instruct", mode="train", gpu_mem="24GiB", keep=2)
    assert json.loads(capsys.readouterr().out) == api.to_dict()


def test_when_nothing_fits_each_fix_fits():
    plan = llmsize.plan("llama-3.1-70b-instruct", ctx_size=32768, gpu_mem="80GiB", max_gpus=2)
    target = plan.targets[0]
    assert target.gpus is None and target.fixes
    changes = {f.change.split()[0] for f in target.fixes}
    assert {"--quant", "-c", "--max-gpus"} <= changes
    for fix in target.fixes:
        flag, _, value = fix.change.partition(" ")
        key = {"-c": "ctx_size", "--quant": "quant", "--kv-dtype": "kv_dtype", "--max-gpus": "max_gpus"}[flag]
        asked = {"ctx_size": 32768, "max_gpus": 2, key: int(value) if value.isdigit() else value}
        again = llmsize.plan("llama-3.1-70b-instruct", gpu_mem="80GiB", **asked).targets[0]
        assert again.gpus == fix.gpus


def test_the_api_name_survives_importing_the_package():
    import llmsize.plan.serve  # noqa: F401  (the import system would set llmsize.plan to the package)

    assert callable(llmsize.plan)


@pytest.mark.parametrize("model", ["llama-3.1-8b", "gemma-2-9b", "mistral-7b-v0.1"])
def test_vllm_batches_at_any_length_equal_the_full_start_up(model):
    """The plan reads vLLM's concurrency at every max_model_len off one start-up; the full
    start-up at each length must agree (sliding windows included)."""
    from llmsize.inference.cost import compile_inference
    from llmsize.inference.estimate import InferenceSpec
    from llmsize.plan.serve import _vllm_batch, vllm_batches

    arch = llmsize.resolve(model).arch
    cost = compile_inference(arch, InferenceSpec(4096, engine="vllm"))
    for budget in (20 * GiB, 40 * GiB, 80 * GiB):
        batches = vllm_batches(cost, budget, 1)
        for c in (1, 17, 4095, 4096, 4097, 8191, 30000, arch.max_position):
            assert batches(c) == _vllm_batch(cost, budget, c), (budget, c)


def test_serve_rows_limits_equal_the_inversions():
    """Each serving row's max context and max batch are what ``infer --max-context --max-batch``
    answers at that layout (an independent path: the cost model's own inversions)."""
    plan = llmsize.plan("qwen2.5-72b", ctx_size=8192, gpu_mem="48GiB", max_gpus=8)
    for row in plan.targets[0].rows:
        lim = llmsize.infer("qwen2.5-72b", engine="vllm", ctx_size=8192, gpu_mem="48GiB", tp=row.layout.tp,
                            pp=row.layout.pp, max_context=True, max_batch=True, max_concurrency=True)
        assert (row.max_context, row.max_batch) == (lim.max_context, lim.max_batch)
        assert row.max_concurrency == lim.max_concurrency and row.kv_capacity_tokens == lim.kv_capacity_tokens


@pytest.mark.parametrize(("mode", "model", "gpu", "extra"), [
    ("serve", "llama-3.1-70b-instruct", "a100-sxm-80,h100-sxm,l40s", {"ctx_size": 32768}),
    ("serve", "qwen3-8b", "rtx-4090", {"engine": "llamacpp", "ctx_size": 65536}),
    ("train", "qwen2.5-7b", "l40s", {"keep": 2}),
])
def test_catalog_rows_reproduce_with_gpu_name_and_count(mode, model, gpu, extra):
    """A catalog GPU's rows print ``--gpu KEY:COUNT``; infer/train run that way total the same
    and give the verdict that it fits."""
    for target in llmsize.plan(model, mode=mode, gpu=gpu, **extra).targets:
        assert target.rows
        for row, command in zip(target.rows, target.commands, strict=True):
            func, source, kw = _api_call(command)
            name = target.target.name
            assert kw["gpu"] == (name if row.gpus == 1 else f"{name}:{row.gpus}")
            r = getattr(llmsize, func)(source, **kw)
            assert r.total_bytes == row.total_bytes and r.verdict.fits
