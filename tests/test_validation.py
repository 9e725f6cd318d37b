"""CI's fast subset of the validation suite, the GPU runner's CPU-side logic, error bars, and
``llmsize measure`` end to end.

The fast subset runs the same code as ``python -m validation.run`` on a few cases and fails when
an error exceeds the committed tolerances (``validation/tolerances.py``).
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from llmsize.cli import main  # noqa: E402
from validation import gpu_measure, run, speed_rows  # noqa: E402
from validation.grid import FAST, FULL, MODELS, Case  # noqa: E402

ROWS: list[dict] = []


@pytest.mark.parametrize("case", FAST, ids=lambda c: c.label)
def test_fast_subset_within_tolerance(case):
    row = run.measure(case)
    ROWS.append(row)
    assert run.violations(row) == [], row["errors"]


def test_fast_subset_reproduces_the_committed_results():
    """Runs after the subset: every re-measured case equals its committed row in results.json
    byte for byte (MemTracker under FakeTensorMode is deterministic), so the report and the
    error bars built from that file describe the code as it is."""
    if len(ROWS) < len(FAST):
        pytest.skip(f"only {len(ROWS)} of the {len(FAST)} fast cases ran")
    committed = {r["label"]: r for r in json.loads((run.HERE / "results.json").read_text())}
    for row in ROWS:
        old = committed[row["label"]]
        assert (row["measured"], row["peak_bytes"]) == (old["measured"], old["peak_bytes"]), row["label"]
        assert row["estimate"] == old["estimate"], f"{row['label']}: re-run `python -m validation.run`"
    print("\n" + json.dumps(run.summarize(ROWS), indent=1))


def test_grid_covers_what_the_issue_asks():
    """≥ 10 architectures × infer and train × ≥ 3 (batch, seq) × recompute, eager/sdpa, LoRA."""
    assert len(MODELS) >= 10
    assert {c.mode for c in FULL} == {"infer", "train"}
    assert len({(c.batch, c.seq) for c in FULL if c.mode == "train"}) >= 3
    assert {c.attn for c in FULL} >= {"eager", "sdpa"}
    assert any(c.recompute == "full" for c in FULL) and any(c.lora_rank for c in FULL)


def test_committed_error_bars_match_the_report():
    """error_bars.json and REPORT.md are what the committed results.json gives (rebuild both with
    `python -m validation.run --from-results`), and the bar printed is the held-out column's."""
    from llmsize import errorbars

    rows = json.loads((run.HERE / "results.json").read_text())
    summary = run.summarize(rows)
    assert errorbars.load() == json.loads(json.dumps(summary)), "error_bars.json is stale"
    gpu = run.read_gpu(run.HERE / "gpu_results.csv")
    speed = speed_rows.read(run.HERE / "gpu_speed.csv")
    assert (run.HERE / "REPORT.md").read_text() == run.report(rows, summary, gpu, speed), "REPORT.md is stale"
    for mode, attn in (("infer", "sdpa"), ("infer", "eager"), ("train", "sdpa")):
        held = summary[mode]["held_out"]["by_attn"][attn]["activations"]
        shown = errorbars.bar(mode, "activations", attn=attn)
        assert isinstance(shown, dict) and shown["column"] == "held-out"
        assert (shown["max"], shown["cases"]) == (held["max"], held["cases"])
        assert shown["measured_on"] == errorbars.CPU_KERNELS


def test_held_out_cases_set_no_constant_of_their_term():
    """No family in a term's held-out column set one of its constants, except through a re-fitted
    one, which its held-out errors re-estimate without that family."""
    from validation import calibration

    summary = run.summarize(json.loads((run.HERE / "results.json").read_text()))
    for c in (c for c in calibration.CONSTANTS if c.refit is None):
        for term in (c.term, "total"):
            held = summary[c.mode]["held_out"]["models"].get(term, [])
            assert not {calibration.family(m) for m in held} & set(c.families), (c.where, term)
    assert "llama-3.1-8b" not in summary["infer"]["held_out"]["models"]["activations"]
    assert "qwen3-30b-a3b" in summary["infer"]["held_out"]["models"]["activations"]  # re-fitted without it


def test_refit_leaves_the_held_out_family_out():
    """INDEX_BYTES_PER_SLOT was set on qwen3-30b-a3b (72 B/slot); without it the other MoE families
    (mixtral-8x7b alone gave 44; with the newer families' cases in the grid) fit 71."""
    from validation import calibration

    rows = json.loads((run.HERE / "results.json").read_text())
    values = {fam: v for where, fam, v in calibration.refits(rows) if "INDEX_BYTES_PER_SLOT" in where}
    assert values["qwen3_moe"] == 71 and values["mixtral"] == 73


def test_infer_json_carries_error_bars(capsys):
    assert main(["infer", "llama-3.1-8b", "-c", "4096", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["error_bars"]["weights"] == "exact" and d["error_bars"]["kv_cache"] == "exact"
    act = d["error_bars"]["activations"]
    assert act["column"] == "held-out" and "not validated on GPU" in act["measured_on"]


def test_vllm_kv_pool_is_a_remainder_with_the_other_terms_bars(capsys):
    """vLLM sizes its KV pool from what is left: its bar is the sum of the weights', activations'
    and non-torch bars of the profile version (vLLM 0.11.0: 0.1 + 0.02 + 0.011 GiB), never "exact"."""
    from llmsize import errorbars

    assert main(["infer", "llama-3.1-8b", "-c", "8192", "--engine", "vllm", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    kv = d["error_bars"]["kv_cache"]
    p = errorbars.VLLM_PROFILES[d["vllm"]["version"]]
    assert kv["max_bytes"] == p["weights_bytes"] + p["activations_bytes"] + p["non_torch_bytes"]
    assert kv["max"] == pytest.approx(kv["max_bytes"] / d["breakdown"]["kv_cache"], abs=1e-4)
    assert d["error_bars"]["weights"] != "exact" and "0.11.0" in d["error_bars"]["activations"]
    mxfp4 = errorbars.bar("infer", "kv_cache", engine="vllm", version="0.11.0", quant="mxfp4",
                          sizes={"weights": 64 * 2**30, "kv_cache": 3 * 2**30})
    assert isinstance(mxfp4, dict) and mxfp4["max_bytes"] > 4 * 2**30  # gpt-oss: weights 4–7% low
    assert "not validated" in errorbars.bar("infer", "kv_cache", engine="vllm", version="0.99", sizes={})


# --- the GPU runner, without a GPU ------------------------------------------------------------


def test_parse_nvidia_smi():
    text = "1234, 40511\n 999, 100\n"
    assert gpu_measure.parse_nvidia_smi(text, 1234) == 40511
    assert gpu_measure.parse_nvidia_smi(text, 5) is None
    assert gpu_measure.parse_nvidia_smi("", 1) is None


def test_gpu_rows_csv_and_report(tmp_path):
    case = Case("gpt2", "infer", 2, 128, layers=2)
    table = gpu_measure.rows([case], step=lambda c: (123 * 2**20, 150 * 2**20), smi=lambda pid: 700)
    out = tmp_path / "gpu.csv"
    gpu_measure.write(out, table)
    back = run.read_gpu(out)
    assert back[0]["label"] == case.label and int(back[0]["max_allocated"]) == 123 * 2**20
    assert int(back[0]["estimate"]) > 0 and int(back[0]["estimate_with_overhead"]) > int(back[0]["estimate"])
    row = run.measure(case)
    text = run.report([row], run.summarize([row]), back)
    assert "GPU measurements" in text and "123.0" in text


def test_gpu_measure_refuses_without_cuda(capsys):
    assert gpu_measure.main(["--fast"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


# --- llmsize measure --------------------------------------------------------------------------


def test_measure_compare_infer(capsys):
    assert main(["measure", "gpt2", "-c", "256", "--layers", "2", "--compare", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["measured"]["kv_cache"] == d["estimate"]["kv_cache"]
    assert abs(d["errors"]["total"]) < 0.05


def test_measure_table(capsys):
    assert main(["measure", "gpt2", "-c", "128", "--layers", "1", "--compare"]) == 0
    out = capsys.readouterr().out
    assert "measured infer step" in out and "peak at" in out


def test_measure_unknown_architecture_is_one_line(tmp_path, capsys):
    cfg = {"model_type": "llama", "architectures": ["NoSuchForCausalLM"], "hidden_size": 64,
           "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert main(["measure", str(tmp_path / "config.json")]) == 2
    err = capsys.readouterr().err
    assert "NoSuchForCausalLM" in err and err.count("\n") == 1


def test_measure_without_the_extra_is_one_line(monkeypatch, capsys):
    import builtins

    real = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    assert main(["measure", "gpt2", "-c", "64", "--layers", "1"]) == 2
    err = capsys.readouterr().err
    assert "llmsize[measure]" in err and err.count("\n") == 1


# --- subset runs and the GPU CSV --------------------------------------------------------------


SHIPPED = (run.HERE / "results.json", run.HERE / "REPORT.md", run.ERROR_BARS)


def _committed_measure(monkeypatch):
    """``run.measure`` answering from results.json: the subset logic without re-measuring."""
    committed = {r["label"]: r for r in json.loads((run.HERE / "results.json").read_text())}
    monkeypatch.setattr(run, "measure", lambda case: committed[case.label])


@pytest.mark.parametrize("argv", [["--fast"], ["--only", "gpt2"], ["--mode", "infer"],
                                  ["--fast", "--mode", "train"]])
def test_subset_runs_never_touch_the_shipped_files(monkeypatch, tmp_path, capsys, argv):
    _committed_measure(monkeypatch)
    before = [p.read_bytes() for p in SHIPPED]
    assert run.main(argv) == 0
    assert "writes no report files" in capsys.readouterr().err
    assert run.main([*argv, "--out", str(tmp_path)]) == 0
    assert [p.read_bytes() for p in SHIPPED] == before
    written = json.loads((tmp_path / "error_bars.json").read_text())
    assert written["modes"] and (tmp_path / "REPORT.md").exists() and (tmp_path / "results.json").exists()


def test_from_results_refuses_a_subset(capsys):
    with pytest.raises(SystemExit):
        run.main(["--from-results", "--fast"])
    assert "--from-results" in capsys.readouterr().err


def test_gpu_csv_feeds_the_report_and_the_bars(monkeypatch, tmp_path):
    """A fake CSV (as gpu_measure writes it, two cases, one held-out family and one calibration
    family) gives the report its GPU columns and error_bars.json a ``gpu`` block, and the printed
    bar then comes from the GPU's held-out column, device named."""
    from llmsize import errorbars

    cases = [Case("qwen3-8b", "infer", 2, 128, layers=2), Case("llama-3.1-8b", "infer", 2, 128, layers=2)]
    fake = {"device": "NVIDIA Fake 80GB", "torch": "2.x", "transformers": "5.x"}

    def step(case):  # 1% above the estimate for qwen3, 3% for llama
        bare = gpu_measure.estimate(case)[0]
        return round(bare / (1.01 if case.model == "qwen3-8b" else 1.03)), bare * 2

    table = gpu_measure.rows(cases, step=step, smi=lambda pid: 900, where=fake)
    csv_path = tmp_path / "gpu_results.csv"
    gpu_measure.write(csv_path, table)
    gpu = run.read_gpu(csv_path)
    rows = json.loads((run.HERE / "results.json").read_text())
    _committed_measure(monkeypatch)
    monkeypatch.setattr(run, "read_gpu", lambda path: gpu)
    assert run.main(["--from-results", "--out", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "error_bars.json").read_text())
    held = doc["gpu"]["infer"]["held_out"]["by_attn"]["sdpa"]["total"]
    assert held["cases"] == 1 and held["max"] == pytest.approx(0.01, abs=1e-4)  # qwen3 only: llama calibrates
    calib = doc["gpu"]["infer"]["calibration"]["by_attn"]["sdpa"]["total"]
    assert calib["max"] == pytest.approx(0.03, abs=1e-4)
    text = (tmp_path / "out" / "REPORT.md").read_text()
    assert "GPU measurements (validation/gpu_results.csv)" in text and "NVIDIA Fake 80GB" in text
    monkeypatch.setattr(errorbars, "_document", lambda: doc)
    shown = errorbars.bar("infer", "total")
    assert isinstance(shown, dict) and "NVIDIA Fake 80GB" in shown["measured_on"]
    assert shown["max"] == held["max"]
    assert rows  # the committed results were used, not re-measured


def test_gpu_measure_is_one_command_over_the_grid(monkeypatch, tmp_path, capsys):
    """``python -m validation.gpu_measure`` with a stubbed CUDA step: every selected case of the
    grid gets a row, a failing case is reported and skipped, and the CSV reads back."""
    import torch

    def step(case):
        if case.lora_rank:
            raise RuntimeError("stub: no peft on this GPU")
        return 100 * 2**20, 120 * 2**20

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(gpu_measure, "cuda_step", step)
    monkeypatch.setattr(gpu_measure, "nvidia_smi_mib", lambda pid: None)
    monkeypatch.setattr(gpu_measure, "versions", lambda: {"device": "stub", "torch": "", "transformers": ""})
    out = tmp_path / "gpu.csv"
    assert gpu_measure.main(["--only", "gpt2", "--out", str(out)]) == 0
    back = run.read_gpu(out)
    wanted = [c for c in FULL if c.model == "gpt2" and not c.lora_rank]
    assert [r["label"] for r in back] == [c.label for c in wanted] and back[0]["device"] == "stub"
    assert "LoRA" in capsys.readouterr().err


@pytest.mark.parametrize("layers", [2, 3])
def test_cut_kimi_linear_keeps_both_kinds_in_order(layers):
    """A cut Kimi Linear renumbers its 1-based layer lists: transformers' own config reads the cut
    into the layer kinds of the kept layers (the first KDA and the first MLA layer among them)."""
    from llmsize.measure.harness import hf_config, scaled_config
    from llmsize.sources import catalog

    full = dict(catalog.lookup("kimi-linear-48b-a3b-instruct").config)
    kinds = hf_config(full, "kimi").layer_types
    cut = hf_config(scaled_config(full, layers), "kimi").layer_types
    keep = [0, 3] if layers == 2 else [0, 1, 3]  # the first MLA layer is the checkpoint's layer 4
    assert cut == [kinds[i] for i in keep]
    assert {"full_attention", "linear_attention"} <= set(cut)


def test_cut_mllama_keeps_a_cross_attention_layer():
    """A cut Llama 3.2 Vision keeps one gated cross-attention layer (renumbered), as transformers
    builds it: the text-only step then runs through the wrapper's skip of that layer."""
    import torch
    import transformers

    from llmsize.measure.harness import hf_config, scaled_config
    from llmsize.sources import catalog

    cfg = scaled_config(dict(catalog.lookup("llama-3.2-90b-vision-instruct").config), 3)
    with torch.device("meta"):
        model = transformers.MllamaForConditionalGeneration(hf_config(cfg, "mllama"))
    names = [type(layer).__name__ for layer in model.model.language_model.layers]
    assert names == ["MllamaSelfAttentionDecoderLayer"] * 2 + ["MllamaCrossAttentionDecoderLayer"]
