"""The command line: output shapes, lookups, and one-line errors (exit 2, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmsize.cli import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmsize", *args], capture_output=True, text=True,
                          timeout=60)


def llama_cfg(**changes) -> dict:
    cfg = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
           "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
           "intermediate_size": 128, "vocab_size": 100}
    cfg.update(changes)
    return {k: v for k, v in cfg.items() if v is not None}


def write(tmp_path: Path, content: str | bytes, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_json_has_the_promised_keys():
    proc = run("params", "llama-3.1-8b", "--json")
    out = json.loads(proc.stdout)
    for key in ("total", "trainable", "non_embedding", "active_per_token"):
        assert isinstance(out[key], int)
    assert out["total"] == 8_030_261_248
    assert out["breakdown"]["value"] == out["total"]


def test_table_output_and_module_entry_point():
    proc = run("params", "gpt2")
    assert proc.returncode == 0
    assert "124,439,808" in proc.stdout


@pytest.mark.parametrize("name", ["Llama-3.1-8B", "meta-llama/Llama-3.1-8B", "META-LLAMA/llama-3.1-8b"])
def test_lookup_by_short_name_or_hf_id_any_case(name, capsys):
    assert main(["params", name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 8_030_261_248


def test_config_path_and_directory(tmp_path, capsys):
    path = write(tmp_path, json.dumps(llama_cfg()))
    assert main(["params", str(path), "--json"]) == 0
    by_file = json.loads(capsys.readouterr().out)["total"]
    assert main(["params", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == by_file


def test_flags_override_a_source(capsys):
    hf_truth = pytest.importorskip("hf_truth")
    from llmsize.sources.catalog import lookup

    assert main(["params", "llama-3.1-8b", "--num-layers", "16", "--num-kv-heads", "4", "--json"]) == 0
    cfg = dict(lookup("llama-3.1-8b").config, num_hidden_layers=16, num_key_value_heads=4)
    assert json.loads(capsys.readouterr().out)["total"] == hf_truth.hf_counts(cfg).total


def test_explicit_hyperparameters_show_exact_and_seed(capsys):
    argv = ["params", "--hidden-size", "512", "--num-layers", "12", "--num-heads", "8",
            "--vocab-size", "50000"]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seed"]["total"] == 60_637_184
    assert out["total"] > out["seed"]["total"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "60,637,184" in text and "3,932,160" in text


def test_seed_method_and_given_params(capsys):
    assert main(["params", "--params", "61423616", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bytes"]["fp16"] == 122_847_232
    assert main(["params", "gpt2", "--method", "seed", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "seed"


def test_catalog_lists_and_filters(capsys):
    assert main(["catalog", "qwen3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["models"]
    assert rows and all("qwen3" in r["name"] or r["model_type"].startswith("qwen3") for r in rows)
    assert all(r["total"] > 0 for r in rows)


def test_unknown_keys_that_could_change_size_warn(tmp_path):
    path = write(tmp_path, json.dumps(llama_cfg(num_extra_experts=4)))
    proc = run("params", str(path))
    assert proc.returncode == 0
    assert "num_extra_experts" in proc.stderr and "warning" in proc.stderr


BAD_CONFIGS = {
    "not json": ("{'hidden_size': 1", "not valid JSON"),
    "json list": ("[1, 2]", "expected a JSON object"),
    "missing key": (json.dumps(llama_cfg(num_hidden_layers=None)), "num_hidden_layers"),
    "no model_type": (json.dumps(llama_cfg(model_type=None)), "model_type"),
    "heads do not divide hidden": (json.dumps(llama_cfg(num_attention_heads=5, num_key_value_heads=5)),
                                   "not divisible"),
    "kv heads do not divide heads": (json.dumps(llama_cfg(num_key_value_heads=3)), "kv heads"),
    "zero layers": (json.dumps(llama_cfg(num_hidden_layers=0)), "positive"),
    "negative vocab": (json.dumps(llama_cfg(vocab_size=-5)), "positive"),
    "string size": (json.dumps(llama_cfg(num_key_value_heads="2")), "integer"),
    "unsupported type": (json.dumps(llama_cfg(model_type="rwkv9")), "not supported"),
}


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=list(BAD_CONFIGS))
def test_bad_config_is_one_line_exit_2(tmp_path, case):
    content, needle = BAD_CONFIGS[case]
    path = write(tmp_path, content)
    assert_one_line_error(run("params", str(path)), str(path), needle)


def test_binary_file_is_rejected(tmp_path):
    path = write(tmp_path, b"\x89PNG\r\n\x1a\n\xff\xfe", "weights.json")
    assert_one_line_error(run("params", str(path)), str(path))


def test_unsupported_type_lists_supported(tmp_path):
    path = write(tmp_path, json.dumps(llama_cfg(model_type="rwkv9")))
    proc = run("params", str(path))
    assert "llama" in proc.stderr and "qwen3_moe" in proc.stderr


def test_unknown_name_suggests_close_matches():
    assert_one_line_error(run("params", "lama-3.1-8b"), "lama-3.1-8b", "did you mean", "llama-3.1-8b")


def test_missing_path_and_empty_directory(tmp_path):
    assert_one_line_error(run("params", str(tmp_path / "nope.json")), "no such file")
    assert_one_line_error(run("params", str(tmp_path)), "has no config.json")


def test_explicit_flags_need_the_core_sizes():
    assert_one_line_error(run("params", "--hidden-size", "512"), "--num-layers")


def test_inconsistent_explicit_flags():
    proc = run("params", "--hidden-size", "500", "--num-layers", "2", "--num-heads", "3",
               "--vocab-size", "10")
    assert_one_line_error(proc, "not divisible")


@pytest.mark.parametrize("value", ["0", "-3", "abc"])
def test_bad_flag_values_exit_2(value):
    assert_one_line_error(run("params", "gpt2", "--num-layers", value), "--num-layers")


def test_nothing_is_written_next_to_the_input(tmp_path):
    path = write(tmp_path, json.dumps(llama_cfg()))
    before = path.read_bytes()
    run("params", str(path), "--json")
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]


def test_core_imports_no_heavy_module():
    code = ("import sys, llmsize; from llmsize.cli import main; main(['params', 'gpt2', '--json']); "
            "heavy = {'torch', 'transformers', 'numpy'} & set(sys.modules); assert not heavy, heavy")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_other_multimodal_configs_count_the_text_model_and_say_so(tmp_path):
    cfg = {"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"],
           "text_config": llama_cfg(), "vision_config": {"model_type": "clip_vision_model"}}
    proc = run("params", str(write(tmp_path, json.dumps(cfg))), "--json")
    assert proc.returncode == 0
    # with transformers installed, LLaVA (not native) is counted whole by the transformers path;
    # without it, llmsize counts the native text model and says what it left out
    assert json.loads(proc.stdout)["counted_by"] == "transformers"
    text_only = run("params", str(write(tmp_path, json.dumps(llama_cfg()), "text.json")), "--json")
    assert json.loads(proc.stdout)["total"] > json.loads(text_only.stdout)["total"]
