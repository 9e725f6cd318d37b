"""The speed runner (``python -m validation.gpu_measure --speed``) on the CPU: the same timing loop
as on a GPU, on a tiny model (2 layers, d=64) at tiny shapes; the budget; the CSV; llama-bench's
JSON; and the converter to ``perf_cases.json``'s case format."""

from __future__ import annotations

import csv
import json
import re
import subprocess

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from validation import gpu_measure, gpu_speed, run, speed_engines, speed_rows  # noqa: E402

TINY_RUN = ["--speed", "--device", "cpu", "--engines", "hf", "--batches", "1,8", "--input-len", "16",
            "--output-len", "6", "--repeats", "3"]
# From perf_cases_format.md (the case format the calibration reads).
KINDS = {"decode", "prefill", "serving", "llamacpp_pp", "llamacpp_tg", "training"}
METRICS = {"prefill_s", "ttft_s", "tpot_s", "decode_tokens_per_s", "throughput_tokens_per_s",
           "total_tokens_per_s", "pp_tokens_per_s", "tg_tokens_per_s", "tokens_per_s_per_gpu",
           "tflops_per_gpu", "mfu", "gpu_hours"}


@pytest.fixture(scope="module")
def cpu_rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("speed") / "gpu_speed.csv"
    assert gpu_measure.main([*TINY_RUN, "--out", str(out)]) == 0
    with out.open() as f:
        header = next(csv.reader(f))
    return header, speed_rows.read(out)


def test_cpu_sweep_writes_one_row_per_batch(cpu_rows):
    header, rows = cpu_rows
    assert tuple(header) == gpu_speed.FIELDS
    assert [int(r["batch"]) for r in rows] == [1, 8]
    for r in rows:
        assert (r["engine"], r["model"], r["dtype"], r["gpu_key"]) == ("hf", "tiny-llama", "fp32", "")
        assert (int(r["input_len"]), int(r["output_len"]), int(r["repeats"])) == (16, 6, 3)
        assert r["torch"] and r["transformers"] == r["engine_version"] and r["date"]
        cfg = json.loads(r["config"])  # the model that ran: 2 layers, d=64
        assert (cfg["num_hidden_layers"], cfg["hidden_size"]) == (2, 64)


def test_rates_follow_from_tpot(cpu_rows):
    """decode_tokens_per_s = 1/tpot_s, throughput = batch/tpot_s (to the CSV's 6 significant digits)."""
    for r in cpu_rows[1]:
        tpot = float(r["tpot_s"])
        assert float(r["decode_tokens_per_s"]) == pytest.approx(1 / tpot, rel=1e-5)
        assert float(r["throughput_tokens_per_s"]) == pytest.approx(int(r["batch"]) / tpot, rel=1e-5)


def test_times_are_sane(cpu_rows):
    """Every time positive (and under 30 s even on a loaded machine: a step of this model takes
    milliseconds); batch 8 decodes more tokens per second in all than batch 1 (a 2-layer, d=64
    step is Python overhead: 8 sequences cost far less than 8 steps). Nothing sharper holds on a
    shared 2-core machine."""
    one, eight = cpu_rows[1]
    for r in (one, eight):
        times = [float(r[k]) for k in ("prefill_s", "ttft_s", "tpot_s")]
        assert all(0 < t < 30 for t in times), times
    assert float(eight["throughput_tokens_per_s"]) > float(one["throughput_tokens_per_s"])


def test_budget_stops_the_sweep_and_keeps_the_rows(tmp_path, capsys):
    """A clock that advances one second per reading and a 2.5 s budget: the sweep's check (1 s),
    the first cell's (2 s, 0.5 s left) runs batch 1, the second (3 s) stops it; the row is on disk."""
    ticks = iter(range(100))
    budget = gpu_speed.Budget(2.5, clock=lambda: float(next(ticks)))
    args = gpu_speed.parser().parse_args([*TINY_RUN[1:], "--batches", "1,2,4", "--dtype", "fp32"])
    sink = gpu_speed.Sink(tmp_path / "s.csv")
    gpu_speed.sweep(args, sink, budget)
    assert [r["batch"] for r in sink.rows] == [1]
    assert [r["batch"] for r in speed_rows.read(tmp_path / "s.csv")] == ["1"]
    out_of_time = gpu_speed.Budget(0.0)
    gpu_speed.sweep(args, gpu_speed.Sink(tmp_path / "s.csv"), out_of_time)
    assert "out of time" in capsys.readouterr().err
    assert len(speed_rows.read(tmp_path / "s.csv")) == 1  # appended to, never rewritten


def test_a_csv_with_other_columns_is_refused(tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("date,gpu\n2025-01-01,x\n")
    with pytest.raises(SystemExit, match="other columns"):
        gpu_speed.Sink(path)


def test_speed_refuses_cuda_without_a_gpu(capsys):
    assert gpu_measure.main(["--speed", "--models", "gpt2"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_engines_not_installed_are_skipped_with_a_line(capsys):
    assert speed_engines.available(["hf", "vllm", "llamacpp"], device="cpu", gguf=[]) == ["hf"]
    err = capsys.readouterr().err
    assert "vllm skipped" in err and "llamacpp skipped (no --gguf file given)" in err


def test_vllm_rows_survive_the_budget(monkeypatch):
    """The vLLM subprocess printed one row before the budget killed it: that row is kept."""
    row = {"engine": "vllm", "batch": 1}

    def killed(*args, **kwargs):
        printed = f"log\n{speed_engines.ROW_PREFIX}{json.dumps(row)}\n"
        raise subprocess.TimeoutExpired(args[0], 1, output=printed)

    monkeypatch.setattr(speed_engines.subprocess, "run", killed)
    shapes = [gpu_speed.Shape(1, 16, 6)]
    got = list(speed_engines.vllm_cells("m", {}, shapes, gpu_speed.Budget(10), dtype="bf16", repeats=1))
    assert got == [row]


# llama-bench -o json, as its README prints it (tools/llama-bench/README.md: pp512 5765.41 t/s and
# tg128 197.71 t/s for "qwen2 1.5B Q4_0"); the other fields trimmed.
FILE = {"build_commit": "8e672efe", "build_number": 4000, "model_filename": "q.gguf",
        "model_type": "qwen2 1.5B Q4_0", "n_gpu_layers": 99}
LLAMA_BENCH = [{**FILE, "n_prompt": 512, "n_gen": 0, "avg_ns": 88806000, "avg_ts": 5765.41},
               {**FILE, "n_prompt": 0, "n_gen": 128, "avg_ns": 647400000, "avg_ts": 197.71}]


def test_llama_bench_json_to_rows_and_cases():
    rows = speed_engines.parse_llama_bench(json.dumps(LLAMA_BENCH), model="qwen2.5-1.5b", repeats=5)
    assert len(rows) == 1
    r = rows[0]
    shape = (r["engine"], r["dtype"], r["batch"], r["input_len"], r["output_len"])
    assert shape == ("llamacpp", "q4_0", 1, 512, 128)
    assert float(r["prefill_s"]) == pytest.approx(0.088806)  # avg_ns of the prompt test
    assert float(r["tpot_s"]) == pytest.approx(0.6474 / 128)  # avg_ns of the generation test / n_gen
    where = {"date": "2026-01-01", "gpu": "NVIDIA H200", "gpu_key": "h200", "torch": "", "transformers": ""}
    cases = speed_rows.speed_rows_to_cases([{**r, **where}])
    got = {c["kind"]: c["measured"] for c in cases}
    assert got == {"llamacpp_pp": {"metric": "pp_tokens_per_s", "value": 5765.41},
                   "llamacpp_tg": {"metric": "tg_tokens_per_s", "value": 197.71}}  # as llama-bench printed
    assert all(c["n_gpu_layers"] == 99 for c in cases)
    import test_perf_cases as published

    for c in cases:
        published.test_setting_is_reproducible(c)
        published.test_gpu_and_weights_resolve(c)


@pytest.mark.parametrize(("model_type", "weights"), [
    ("llama 8B Q4_K - Medium", "q4_k_m"), ("qwen2 1.5B Q4_0", "q4_0"), ("llama 7B F16", "f16"),
    ("llama 70B Q3_K - Small", "q3_k_s")])
def test_gguf_weights(model_type, weights):
    assert speed_engines.gguf_weights(model_type) == weights


def test_converter_gives_cases_in_the_format(cpu_rows):
    """Rows on a catalog GPU (the CPU rows re-labelled h200) → two cases each, every key of
    perf_cases_format.md, values copied from the CSV, and each passes perf_cases.json's own
    checks (tests/test_perf_cases.py: metric per kind, setting, GPU and weights, model offline);
    a CPU row (no catalog key) gives none."""
    import test_perf_cases as published

    from llmsize.hardware import gpus
    from llmsize.sources.hf_config import from_hf_config

    rows = cpu_rows[1]
    assert speed_rows.speed_rows_to_cases(rows) == []
    labelled = [{**r, "gpu": "NVIDIA H200", "gpu_key": "h200"} for r in rows]
    cases = speed_rows.speed_rows_to_cases(labelled + labelled[:1])  # the first row twice: ids stay unique
    assert len(cases) == 6 and len({c["id"] for c in cases}) == 6
    keys = {g.key for g in gpus()}
    for c in cases:
        assert set(speed_rows.CASE_KEYS) <= set(c) and ("model" in c) != ("config" in c)
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", c["id"])
        assert c["kind"] in KINDS and c["measured"]["metric"] in METRICS and c["gpu"] in keys
        assert (c["confidence"], c["ref"]) == ("measured", "gpu_speed.csv") and c["group"]
        assert from_hf_config(c["config"], "tiny")[0].n_layers == 2
        for check in (published.test_measured_metric, published.test_setting_is_reproducible,
                      published.test_gpu_and_weights_resolve, published.test_model_resolves_offline):
            check(c)
    first = cases[:2]
    assert {c["kind"]: c["measured"] for c in first} == {
        "prefill": {"metric": "prefill_s", "value": float(rows[0]["prefill_s"])},
        "decode": {"metric": "tpot_s", "value": float(rows[0]["tpot_s"])}}
    assert speed_rows.reference(labelled)["gpu_speed.csv"]["date"] == rows[0]["date"]


def test_report_says_how_to_add_speed_rows(cpu_rows):
    results = json.loads((run.HERE / "results.json").read_text())[:3]
    summary = run.summarize(results)
    none = run.report(results, summary, None, None)
    assert "## Measured speed" in none and "None committed yet" in none and "--speed" in none
    shown = run.report(results, summary, None, cpu_rows[1])
    assert "| tiny-llama | fp32 | 8 | 16 | 6 |" in shown
