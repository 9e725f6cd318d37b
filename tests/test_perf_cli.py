"""``infer`` and ``train`` with ``--gpu``: the performance section (``perf/setting.py``).

The section is there with a GPU and absent without one; the API, ``--json`` and the text show the
same figures; and each override moves the figures the way the model's laws say it must (the
laws themselves are ``test_perf_laws.py``): a compute-bound prefill takes 1/MFU, a run's cost is
GPU-hours × price, and so on. Ratios are checked to 1e-9 where the law is exact.
"""

from __future__ import annotations

import pytest
from cli_run import cli_json, run

import llmsize
from llmsize.hardware.prices import price, prices
from llmsize.render import amount

SERVE = dict(ctx_size=8192, gpu="h100", input_len=4096, output_len=256)


def test_the_section_appears_with_a_gpu_and_not_without(capsys):
    assert llmsize.infer("llama-3.1-8b", ctx_size=4096).performance is None
    assert llmsize.infer("llama-3.1-8b", ctx_size=4096, gpu="h100").performance is not None
    code, out, _ = run(capsys, "infer", "llama-3.1-8b", "-c", "4096")
    assert code == 0 and "PERFORMANCE" not in out and "speed: give --gpu NAME" in out
    code, out, _ = run(capsys, "infer", "llama-3.1-8b", "-c", "4096", "--gpu", "h100")
    assert code == 0 and "PERFORMANCE on 1× NVIDIA H100" in out and "bound: memory" in out


def test_train_section_with_a_gpu(capsys):
    code, out, _ = run(capsys, "train", "llama-3.2-1b-instruct")
    assert code == 0 and "PERFORMANCE" not in out and "speed: give --gpu" in out
    code, out, _ = run(capsys, "train", "llama-3.2-1b-instruct", "--gpu", "h100:8", "--tokens", "1e11")
    assert code == 0 and "PERFORMANCE on 8× NVIDIA H100" in out and "step time" in out and "GPU-hours" in out


def test_api_json_and_text_show_the_same_figures(capsys):
    argv = ("llama-3.1-8b", "-c", "8192", "--engine", "vllm", "--gpu", "h100", "--input-len", "1000",
            "--output-len", "1000", "--concurrency", "64", "--price", "h100=2.5")
    perf = llmsize.infer("llama-3.1-8b", ctx_size=8192, engine="vllm", gpu="h100", input_len=1000,
                         output_len=1000, concurrency=64, price="h100=2.5").performance
    doc = cli_json(capsys, "infer", *argv)["performance"]
    _, out, _ = run(capsys, "infer", *argv)
    assert set(doc) - {"bound", "terms_ns", "factors", "notes", "setting"} == set(perf.figures)
    for name, f in perf.figures.items():
        assert (doc[name]["value"], doc[name]["unit"], doc[name]["band"]) == (f.value, f.unit, f.band.text())
        assert amount(f.value, f.unit) in out, name
    assert doc["setting"]["batch"] == 64 and doc["setting"]["price"]["usd_per_hour"] == 2.5


def test_request_lengths_default_to_the_memory_question():
    asked = llmsize.infer("llama-3.1-8b", ctx_size=4096, new_tokens=512, gpu="h100").performance.setting
    assert (asked["input_len"], asked["output_len"]) == (4096 - 512, 512)
    bare = llmsize.infer("llama-3.1-8b", ctx_size=4096, gpu="h100").performance.setting
    assert (bare["input_len"], bare["output_len"]) == (2048, 128)


def test_mfu_sets_the_prefill_share_and_a_compute_bound_prefill_takes_one_over_it():
    """A 4,096-token prompt of an 8B model on one H100 is compute-bound (2·8e9·4096 FLOPs is ~0.3 s
    at 40% of 989 TFLOP/s; its 16 GB of weights take ~6 ms to read): TTFT less the fixed cost of
    its one pass ∝ 1/MFU. Decode of one sequence is bandwidth-bound: the MFU leaves it alone."""
    low = llmsize.infer("llama-3.1-8b", **SERVE, mfu=0.2).performance
    high = llmsize.infer("llama-3.1-8b", **SERVE, mfu=0.4).performance
    fixed = high.factors["prefill_overhead_s"]["value"]
    assert (low["ttft_s"] - fixed) / (high["ttft_s"] - fixed) == pytest.approx(2, rel=1e-9)
    assert low["decode_tokens_per_s"] == high["decode_tokens_per_s"]
    assert high.factors["prefill_mfu"]["value"] == 0.4 and "given" in high.factors["prefill_mfu"]["source"]


def test_more_concurrency_raises_throughput_and_time_per_token():
    chat = {**SERVE, "input_len": 128, "output_len": 512}  # decode-heavy: below the knee, 32× nearly
    one = llmsize.infer("llama-3.1-8b", **chat, concurrency=1).performance
    many = llmsize.infer("llama-3.1-8b", **chat, concurrency=32).performance
    assert many["throughput_tokens_per_s"] > 10 * one["throughput_tokens_per_s"]
    assert many["tpot_s"] > one["tpot_s"]  # 32 sequences' KV caches read every step
    assert many["decode_tokens_per_s"] == one["decode_tokens_per_s"]  # one sequence alone, either way


def test_vllm_runs_at_most_what_its_kv_pool_holds():
    r = llmsize.infer("llama-3.1-8b", engine="vllm", gpu="h100", input_len=1000, output_len=1000,
                      concurrency=100_000)
    pool = r.extra["vllm"]
    fits = min(pool["max_num_seqs"], pool["kv_cache_tokens"] // 2000)  # 2,000 tokens = 125 whole blocks
    assert r.performance.setting["batch"] == fits < 100_000
    assert any(f"capped at {fits}" in n for n in r.performance.notes)


def test_the_price_scales_the_cost_and_is_named_with_its_date(capsys):
    table = next(p for p in prices() if p.gpu == "h100-sxm")
    default = llmsize.infer("llama-3.1-8b", **SERVE).performance
    assert default.setting["price"]["provider"] == table.provider
    half = llmsize.infer("llama-3.1-8b", **SERVE, price=table.usd_per_hour / 2).performance
    ratio = default["usd_per_million_tokens"] / half["usd_per_million_tokens"]
    assert ratio == pytest.approx(2, rel=1e-9)
    _, out, _ = run(capsys, "infer", "llama-3.1-8b", "-c", "8192", "--gpu", "h100")
    assert f"({table.provider}, {table.date}" in out


def test_a_gpu_without_a_price_has_no_cost_and_says_how_to_give_one():
    unpriced = next(g for g in ("rtx-4090", "rtx-3090", "m2-ultra") if price(g) is None)
    perf = llmsize.infer("llama-3.2-1b-instruct", ctx_size=4096, gpu=unpriced).performance
    assert "usd_per_million_tokens" not in perf.figures and perf.setting["price"] is None
    assert any("--price" in n for n in perf.notes)


def test_tensor_parallel_gpus_from_the_count():
    one = llmsize.infer("llama-3.1-8b", ctx_size=8192, gpu="h100").performance
    two = llmsize.infer("llama-3.1-8b", ctx_size=8192, gpu="h100:2").performance
    assert two.setting["gpus"] == 2 and two["decode_tokens_per_s"] > one["decode_tokens_per_s"]
    assert "communication" in {p.name for p in two.terms.parts}


def test_a_custom_gpu_without_rates_gives_a_note_not_an_error():
    r = llmsize.infer("gpt2", gpu="custom:mem=48GiB")
    assert r.performance is None and any(n.startswith("no speed figures") for n in r.notes)


def test_training_compute_goes_as_one_over_mfu_and_cost_is_gpu_hours_times_price():
    """On one GPU the step is all compute: twice the MFU, half the step. On eight, the exposed
    gradient reduction does not shrink with it: the compute term halves, the step less."""
    one = [llmsize.train("llama-3.2-1b-instruct", gpu="h100", mfu=m).performance for m in (0.25, 0.5)]
    assert one[0]["step_time_s"] / one[1]["step_time_s"] == pytest.approx(2, rel=1e-9)
    ask = dict(gpu="h100:8", tokens=1e12, price=2.0)
    low = llmsize.train("llama-3.1-8b", **ask, mfu=0.25).performance
    high = llmsize.train("llama-3.1-8b", **ask, mfu=0.5).performance
    assert 1 < low["step_time_s"] / high["step_time_s"] <= 2
    if low.terms is not None:
        assert low.terms.parts[0].value / high.terms.parts[0].value == pytest.approx(2, rel=1e-6)
    assert high["cost_usd"] == pytest.approx(high["gpu_hours"] * 2.0, rel=1e-9)
    assert high.setting == {"gpu": "h100-sxm", "gpu_name": high.setting["gpu_name"], "gpus": 8,
                            "engine": "megatron", "tokens": 1e12, "price": high.setting["price"]}
    assert high.setting["price"]["provider"] == "given by the user"


@pytest.mark.parametrize("command", ["llmsize infer llama-3.1-8b --engine vllm",
                                     "llmsize train llama-3.1-8b --gpu h100:8"])
def test_the_readme_examples_print_what_the_readme_shows(capsys, command):
    """The README's two speed examples: every figure row it shows is what the command prints now
    (the price line of a user-given price carries today's date, so it is left out)."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ (" + re.escape(command) + r"[^\n]*)\n(.*?)```", readme, re.S)
    assert block, command
    code, out, _ = run(capsys, *block.group(1).split()[1:])
    shown = [line for line in block.group(2).splitlines() if not line.startswith("price:")]
    assert code == 0 and shown and all(line in out.splitlines() for line in shown)
