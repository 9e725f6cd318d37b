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
from validation import gpu_measure, run  # noqa: E402
from validation.grid import FAST, FULL, MODELS, Case  # noqa: E402

ROWS: list[dict] = []


@pytest.mark.parametrize("case", FAST, ids=lambda c: c.label)
def test_fast_subset_within_tolerance(case):
    row = run.measure(case)
    ROWS.append(row)
    assert run.violations(row) == [], row["errors"]


def test_fast_subset_summary_prints():
    summary = run.summarize(ROWS)
    print("\n" + json.dumps(summary, indent=1))
    assert set(summary) <= {"infer", "train"}


def test_grid_covers_what_the_issue_asks():
    """≥ 10 architectures × infer and train × ≥ 3 (batch, seq) × recompute, eager/sdpa, LoRA."""
    assert len(MODELS) >= 10
    assert {c.mode for c in FULL} == {"infer", "train"}
    assert len({(c.batch, c.seq) for c in FULL if c.mode == "train"}) >= 3
    assert {c.attn for c in FULL} >= {"eager", "sdpa"}
    assert any(c.recompute == "full" for c in FULL) and any(c.lora_rank for c in FULL)


def test_committed_error_bars_match_the_report():
    from llmsize import errorbars

    bars = errorbars.load()
    assert {"infer", "train"} <= set(bars), "run `python -m validation.run` and commit its outputs"
    act = errorbars.bar("infer", "activations")
    assert isinstance(act, dict) and act["cases"] >= 30
    assert errorbars.bar("infer", "kv_cache") == "exact"


def test_infer_json_carries_error_bars(capsys):
    assert main(["infer", "llama-3.1-8b", "-c", "4096", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["error_bars"]["weights"] == "exact" and d["error_bars"]["kv_cache"] == "exact"
    assert "cases" in d["error_bars"]["activations"]


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
