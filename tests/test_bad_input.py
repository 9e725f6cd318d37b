"""Bad input never gets a traceback, a hang or a confident number (issue 13).

Every case of the hostile-input corpus (``bad_input_corpus.py``: mutated configs, files that are
not regular files, malformed shard indexes, bad options; ~860 cases from compact tables) runs
in-process through the CLI or the API and must end with exit code 2 / an ``LlmsizeError``, exactly
one error line that names the input, no traceback, within 5 s (SIGALRM interrupts a blocked open
of a FIFO), and every file it was given left as it was. ``benchmarks/bad_input_corpus.py`` runs the
same corpus in memory-limited children and prints the clean fraction per class.
"""

from __future__ import annotations

import json

import pytest
from bad_input_corpus import BASES, LLAMA, cases, run_case
from cli_run import run

import llmsize
from llmsize.errors import LlmsizeError

CASES = cases()


def test_the_corpus_is_large_and_covers_every_class():
    tags = {tag for case in CASES for tag in case.tags}
    assert len(CASES) >= 300 and tags == {"config", "file", "option", "argv"}
    assert sum(case.hang for case in CASES) >= 10  # FIFOs behind a model path, a config, a shard
    commands = {(case.argv("x") if case.argv else [case.api[0]])[0] for case in CASES}
    assert {"params", "infer", "train", "summary", "inspect", "catalog", "schema"} <= commands


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_ends_cleanly(case, tmp_path):
    ok, why = run_case(case, tmp_path)
    assert ok, why


# --- what the corpus cannot say in one substring --------------------------------------------


def _model(tmp_path, **changes):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**LLAMA, **changes}))
    return str(folder)


def test_a_valid_config_still_sizes(tmp_path):
    """The checks refuse nothing real: the tiny model of the corpus is counted (transformers'
    LlamaConfig with these values holds 2·(4·64·… ) — the catalog tests check real models)."""
    assert llmsize.params(_model(tmp_path)).total > 0


def test_n_gpu_layers_beyond_the_model_is_clamped_with_a_warning(tmp_path, capsys):
    """llama.cpp clamps -ngl to n_layer + 1 (``-ngl 999`` means "all"): llmsize does the same and
    says so, rather than refusing the common spelling of "offload everything"."""
    source = _model(tmp_path)
    many = llmsize.infer(source, engine="llamacpp", n_gpu_layers=999)
    all_ = llmsize.infer(source, engine="llamacpp", n_gpu_layers=3)  # 2 layers + the output layer
    assert many.total_bytes == all_.total_bytes
    assert any("999" in w and "all 3" in w for w in many.warnings)
    code, _, err = run(capsys, "infer", source, "--engine", "llamacpp", "-ngl", "999")
    assert code == 0 and "warning: n_gpu_layers 999" in err


def test_an_option_of_another_engine_is_refused(tmp_path):
    source = _model(tmp_path)
    for engine, option, value in (("hf", "n_gpu_layers", 10), ("vllm", "n_gpu_layers", 10),
                                  ("hf", "max_num_seqs", 8), ("llamacpp", "gpu_util", 0.5)):
        with pytest.raises(LlmsizeError, match=option):
            llmsize.infer(source, engine=engine, **{option: value})


def test_an_unknown_quant_method_is_assumed_with_a_warning(tmp_path):
    source = _model(tmp_path, quantization_config={"quant_method": "hqq", "nbits": 4})
    report = llmsize.infer(source)
    assert any("hqq" in w and "AWQ" in w for w in report.warnings), report.warnings


def test_error_lines_escape_what_they_echo(tmp_path, capsys):
    code, _, err = run(capsys, "params", "evil\nllmsize: error: forged")
    assert code == 2 and err.count("\n") == 1 and "\\n" in err


def test_a_dangling_symlink_is_no_such_file_and_a_loop_is_named(tmp_path):
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere.json")
    with pytest.raises(LlmsizeError, match="no such file"):
        llmsize.params(str(tmp_path / "dangling.json"))
    (tmp_path / "loop.json").symlink_to(tmp_path / "loop.json")
    with pytest.raises(LlmsizeError, match="symlink loop"):
        llmsize.params(str(tmp_path / "loop.json"))


# --- property: a mutated config is a clean error or a count transformers agrees with ---------

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
_MUTABLE = {base: [k for k in cfg if k not in ("model_type", "architectures")]
            for base, cfg in BASES.items() if base != "gemma3"}
_VALUES = st.one_of(
    st.integers(min_value=1, max_value=12), st.integers(min_value=-3, max_value=0),
    st.integers(min_value=10**6, max_value=10**31), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.text(max_size=3), st.none(), st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


@hypothesis.settings(max_examples=60, deadline=None, derandomize=True)
@hypothesis.given(data=st.data())
def test_a_mutated_config_is_a_clean_error_or_the_count_transformers_gives(data):
    """Two keys of a valid tiny config get arbitrary JSON values: llmsize either refuses with one
    line naming the file, or counts exactly what transformers builds on the meta device."""
    from hf_truth import hf_counts

    base = data.draw(st.sampled_from(sorted(_MUTABLE)))
    # a multimodal wrapper keeps its class: without it transformers' causal-LM class for mllama is
    # the text model alone, while the config (and llmsize) describe the model with its tower
    keep = ("architectures",) if "vision_config" in BASES[base] else ()
    cfg = {k: v for k, v in BASES[base].items() if k != "architectures" or k in keep}
    for key in data.draw(st.lists(st.sampled_from(_MUTABLE[base]), min_size=1, max_size=2, unique=True)):
        cfg[key] = data.draw(_VALUES)
    try:
        arch, _ = llmsize.from_hf_config(cfg, "mutated.json")
        ours = llmsize.count_params(arch).total
    except LlmsizeError as e:
        assert "\n" not in str(e) and str(e).startswith("mutated.json")
        return
    # null is "absent" to llmsize (the family default), a type error to transformers 5's strict configs
    assert ours == hf_counts({k: v for k, v in cfg.items() if v is not None}).total, cfg


def test_exaone_letter_pattern_is_read_and_a_wrong_letter_is_one_line():
    """EXAONE 4.0's ``sliding_window_pattern: "LLLG"`` (L local, G global, repeated) is a pattern,
    not a bad integer; any other letter is refused naming the key and what it may hold."""
    cfg = {"architectures": ["Exaone4ForCausalLM"], "model_type": "exaone4", "hidden_size": 64,
           "intermediate_size": 128, "num_hidden_layers": 8, "num_attention_heads": 4,
           "num_key_value_heads": 2, "vocab_size": 100, "sliding_window": 16,
           "sliding_window_pattern": "LLLG"}
    arch, _ = llmsize.from_hf_config(cfg, "exaone.json")
    assert arch.layer_types == ("sliding",) * 3 + ("full",) + ("sliding",) * 3 + ("full",)
    with pytest.raises(LlmsizeError, match=r'^exaone\.json: sliding_window_pattern is .LLXG.; .*"LLLG"$'):
        llmsize.from_hf_config({**cfg, "sliding_window_pattern": "LLXG"}, "exaone.json")
