"""Every ``--json`` document validates against ``llmsize schema``, and the schema is strict.

The documents are real outputs of the CLI (catalog models, checkpoints written in ``tmp_path``
with the official writers, a measured step); the schema is loaded through the functions the
``schema`` subcommand prints. Strictness is shown on real documents: removing a required key,
adding an unknown one, or making a byte count negative or fractional must fail validation.
"""

from __future__ import annotations

import copy
import json

import pytest

jsonschema = pytest.importorskip("jsonschema")
from cli_run import cli_json, run  # noqa: E402

from llmsize.schemas import COMMANDS, SCHEMA_VERSION, command_schema, load  # noqa: E402
from llmsize.sources import catalog  # noqa: E402

# JSON Schema's "integer" also admits 4.0 (any number with a zero fraction); the tests hold the
# documents to the stricter reading that a byte count is printed as an integer, as json.dumps does.
Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool)),
)
CATALOG = [e.name for e in catalog.entries()]

_validators: dict[str, object] = {}


def validator(command: str):
    if command not in _validators:
        _validators[command] = Validator(command_schema(command))
    return _validators[command]


def errors(command: str, doc: object) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator(command).iter_errors(doc)]  # type: ignore[attr-defined]


def check(command: str, doc: dict) -> dict:
    """``doc`` is valid for ``command`` (its own schema and the whole one) and starts with the version."""
    assert list(doc)[0] == "schema_version" and doc["schema_version"] == SCHEMA_VERSION
    assert errors(command, doc) == []
    assert not list(whole_validator().iter_errors(doc))
    return doc


_whole: list[object] = []


def whole_validator():
    if not _whole:
        _whole.append(Validator(load()))
    return _whole[0]


# --- the schema itself ---------------------------------------------------------------------


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_printed_schema_is_a_valid_draft_2020_12_schema(capsys, command):
    code, out, err = run(capsys, "schema", *([command] if command else []))
    assert code == 0, err
    printed = json.loads(out)
    assert printed == (command_schema(command) if command else load())
    jsonschema.Draft202012Validator.check_schema(printed)
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("command", COMMANDS)
def test_command_schema_is_self_contained_and_minimal(command):
    """Each ``$ref`` resolves inside the command's own document, and no unused $defs ride along."""
    s = command_schema(command)
    text = json.dumps(s)
    for name in s["$defs"]:
        if name != command:
            assert f'"#/$defs/{name}"' in text, name
    refs = {part.split('"')[0] for part in text.split('"$ref": "#/$defs/')[1:]}
    assert refs <= set(s["$defs"])


def test_unknown_command_is_one_line_exit_2(capsys):
    code, out, err = run(capsys, "schema", "nonsense")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "nonsense" in err and "infer" in err


def test_version_constant_is_the_schema_const():
    assert load()["$defs"]["schema_version"]["const"] == SCHEMA_VERSION
    major, minor = SCHEMA_VERSION.split(".")
    assert major.isdigit() and minor.isdigit()


def test_enums_are_the_code_choices():
    """The closed enums of the schema are exactly the choices the code accepts."""
    from llmsize.commands.summary import PRECISIONS
    from llmsize.layout import FsdpStrategy, Offload, ZeroStage
    from llmsize.training.estimate import Recipe
    from llmsize.training.lora import BASE_FORMATS, TARGETS
    from llmsize.training.optimizers import Optimizer, StepKernel

    d = load()["$defs"]
    inputs = d["train_estimate"]["properties"]["inputs"]["properties"]
    assert inputs["recipe"]["enum"] == [r.value for r in Recipe]
    assert inputs["optimizer"]["enum"] == [o.value for o in Optimizer]
    assert inputs["step_kernel"]["enum"] == [k.value for k in StepKernel]
    par = d["parallel"]["properties"]
    assert par["zero"]["enum"] == [z.value for z in ZeroStage]
    assert par["fsdp"]["enum"] == [f.value for f in FsdpStrategy]
    assert par["offload"]["enum"] == [o.value for o in Offload]
    assert d["lora"]["properties"]["base"]["enum"] == list(BASE_FORMATS)
    assert d["lora"]["properties"]["targets"]["items"]["enum"] == [*TARGETS, "all-linear"]
    row = d["summary"]["properties"]["precisions"]["items"]["properties"]
    assert row["format"]["enum"] == [f for f, _, _ in PRECISIONS]
    assert set(row["kv_dtype"]["enum"]) == {k for _, k, _ in PRECISIONS}


# --- params and summary: every catalog model -------------------------------------------------


@pytest.mark.parametrize("name", CATALOG)
def test_params_of_every_catalog_model(capsys, name):
    check("params", cli_json(capsys, "params", name))


@pytest.mark.parametrize("name", CATALOG)
def test_summary_of_every_catalog_model(capsys, name):
    check("summary", cli_json(capsys, name))


EXPLICIT = ("--hidden-size", "512", "--num-layers", "12", "--num-heads", "8", "--vocab-size", "50000")


@pytest.mark.parametrize("argv", [
    EXPLICIT,  # the exact count with the blog's count in a "seed" block
    (*EXPLICIT, "--num-kv-heads", "2", "--no-tie-embeddings", "--gated-mlp"),
    ("gpt2", "--method", "seed"),
    ("--params", "7000000000"),
    ("llama-3.1-8b", "--num-layers", "16", "--num-kv-heads", "4"),
])
def test_params_variants(capsys, argv):
    doc = check("params", cli_json(capsys, "params", *argv))
    if "seed" in doc:
        assert "schema_version" not in doc["seed"] and doc["seed"]["method"] == "seed"


def test_summary_with_a_context(capsys):
    check("summary", cli_json(capsys, "summary", "qwen3-8b", "-c", "8192"))


@pytest.mark.parametrize("filter_", ["", "qwen3", "t5"])
def test_catalog(capsys, filter_):
    doc = check("catalog", cli_json(capsys, "catalog", *([filter_] if filter_ else [])))
    assert len(doc["models"]) == len(catalog.search(filter_))


@pytest.mark.parametrize("filter_", ["", "h100", "amd"])
def test_gpus(capsys, filter_):
    doc = check("gpus", cli_json(capsys, "gpus", *([filter_] if filter_ else []), "--price", "h100=2.5"))
    assert len(doc["gpus"]) >= (35 if not filter_ else 1)
    assert all(g["sources"] for g in doc["gpus"])


# --- infer: every engine on every kind of architecture --------------------------------------

MODELS = {
    "dense": "llama-2-7b", "gqa": "llama-3.1-8b", "mla": "deepseek-v2-lite", "moe": "mixtral-8x7b",
    "small-moe": "olmoe-1b-7b-0125", "sliding-gemma2": "gemma-2-9b", "sliding-gemma3": "gemma-3-12b",
    "sliding-mistral": "mistral-7b-v0.1", "encoder-decoder": "t5-small", "mamba": "falcon-mamba-7b",
    "hybrid-mamba2": "nemotron-h-8b-base-8k", "hybrid-moe": "jamba-1.5-mini", "hybrid-conv": "lfm2-1.2b",
    "cross-attention": "llama-3.2-90b-vision-instruct", "gemma4-moe": "gemma-4-26b-a4b",
}
# The vLLM and llama.cpp profiles size decoder-only attention models (others, Llama 3.2 Vision
# and Gemma 4 among them, are refused with one line); Mixtral's 93 GB of bf16 weights leave vLLM no
# KV pool on one 80 GB GPU, and Falcon-Mamba's single "head" cannot be split over tensor-parallel ranks.
HF_ONLY = ("encoder-decoder", "mamba", "hybrid-mamba2", "hybrid-moe", "hybrid-conv", "cross-attention",
           "gemma4-moe")
NOT_WITH = {"moe": ("vllm",), "mamba": ("--tp",)}
ENGINE_OPTIONS = {
    "hf": [(), ("--tp", "2"), ("--pp", "2"), ("--quant", "nf4-dq", "--kv-dtype", "fp8"),
           ("--quant", "gptq:4:128", "--logits", "all", "--new-tokens", "128"),
           ("--chunk", "512", "-b", "4")],
    "vllm": [(), ("--tp", "2", "--pp", "2"), ("--quant", "fp8", "--kv-dtype", "fp8", "--gpu-mem", "48GiB"),
             ("--max-num-seqs", "64", "--max-num-batched-tokens", "4096", "--gpu-util", "0.85"),
             ("--tp", "2", "--vllm-version", "0.21.0", "--disable-custom-all-reduce")],
    "llamacpp": [(), ("--quant", "Q4_K_M", "--kv-dtype", "q8_0"), ("--gpu-mem", "8GiB"),
                 ("-ngl", "10", "-b", "2")],
}
INFER_CASES = [(kind, engine, opts) for kind in MODELS for engine, options in ENGINE_OPTIONS.items()
               for opts in options if (engine == "hf" or kind not in HF_ONLY)
               and not {engine, *opts} & set(NOT_WITH.get(kind, ()))]


@pytest.mark.parametrize(("kind", "engine", "opts"), INFER_CASES,
                         ids=[f"{k}-{e}-{'_'.join(o) or 'default'}" for k, e, o in INFER_CASES])
def test_infer(capsys, kind, engine, opts):
    doc = check("infer", cli_json(capsys, "infer", MODELS[kind], "-c", "4096", "--engine", engine, *opts))
    assert doc["engine"] == engine and (engine in doc) == (engine != "hf")


def test_infer_with_images(capsys):
    argv = ("llama-3.2-90b-vision-instruct", "-c", "4096", "--images", "2")
    doc = check("infer", cli_json(capsys, "infer", *argv))
    assert doc["inputs"]["images"] == 2


@pytest.mark.parametrize("argv", [
    ("llama-3.1-8b", "-c", "4096"),
    ("qwen3-8b", "-c", "2048", "--activations", "1GiB"),
    ("--params", "7000000000", "--activations", "200MiB", "--input-data", "50MiB", "--dtype", "fp32"),
])
def test_infer_seed(capsys, argv):
    doc = check("infer", cli_json(capsys, "infer", "--method", "seed", *argv))
    if "estimate" in doc:
        assert "schema_version" not in doc["estimate"]


# --- train --------------------------------------------------------------------------------

TRAIN_CASES = {
    "full": ("llama-3.2-1b-instruct",),
    "lora": ("llama-3.1-8b", "--lora-rank", "16", "--lora-targets", "q,k,v,o"),
    "qlora": ("llama-3.1-8b", "--qlora"),
    "qlora-options": ("llama-3.1-8b", "--qlora", "--no-double-quant", "--bnb-version", "0.41.1",
                      "--lora-dropout", "0.05", "--adapter-dtype", "bf16", "--loop", "plain",
                      "--recompute", "full"),
    "fused-ce": ("qwen3-1.7b", "--loop", "fused-ce"),
    "cross-attention-qlora": ("llama-3.2-90b-vision-instruct", "--qlora"),
    "cross-attention-text-only": ("llama-3.2-90b-vision-instruct", "--seq", "1024"),
    "cross-attention-images": ("llama-3.2-90b-vision-instruct", "--seq", "1024", "--images", "2"),
    "zero3": ("llama-3.1-8b", "--zero", "3", "--dp", "8", "--offload", "optimizer"),
    "fsdp": ("qwen3-8b", "--fsdp", "full", "--dp", "4", "--recompute", "full"),
    "pp": ("llama-3.1-70b-instruct", "--pp", "4", "--vpp", "2", "--tp", "2", "--sp", "--grad-accum", "8",
           "--recipe", "megatron"),
    "moe-ep": ("mixtral-8x7b", "--ep", "8", "--dp", "8", "--zero", "1", "--optimizer", "adam-8bit"),
    "gemma4-lora": ("gemma-4-26b-a4b", "--lora-rank", "16"),
    "deepspeed": ("qwen3-1.7b", "--recipe", "deepspeed", "--optimizer", "adafactor", "--seq", "2048",
                  "--micro-batch", "4", "--attn", "eager", "--optim-impl", "foreach"),
    "mamba": ("falcon-mamba-7b", "--seq", "1024"),
    "hybrid-mamba2": ("nemotron-h-8b-base-8k", "--recompute", "full"),
    "hybrid-deltanet-moe": ("qwen3-next-80b-a3b-instruct", "--zero", "3", "--dp", "8"),
    "hybrid-conv": ("lfm2-1.2b", "--lora-rank", "8"),
}


@pytest.mark.parametrize("argv", TRAIN_CASES.values(), ids=TRAIN_CASES.keys())
def test_train(capsys, argv):
    check("train", cli_json(capsys, "train", *argv))


# --- performance (--gpu): serving on every engine, training through a stand-in model -----------

PERF_CASES = {
    "hf": ("llama-3.1-8b", "-c", "4096", "--gpu", "h100"),
    "hf-tp2-nf4": ("llama-3.1-8b", "-c", "4096", "--gpu", "a100-sxm-80:2", "--quant", "nf4-dq",
                   "--concurrency", "8"),
    "vllm-fp8": ("qwen3-8b", "--engine", "vllm", "--gpu", "h100", "--quant", "fp8", "--input-len", "1000",
                 "--output-len", "500", "--concurrency", "64", "--price", "h100=2.5", "--mfu", "0.5"),
    "vllm-moe-pp": ("olmoe-1b-7b-0125", "--engine", "vllm", "--gpu", "l40s:2", "--pp", "2", "-c", "4096"),
    "llamacpp": ("llama-3.1-8b", "--engine", "llamacpp", "--quant", "Q4_K_M", "--gpu", "rtx-4090",
                 "--price", "0.7"),
    "mla": ("deepseek-v2-lite", "-c", "8192", "--new-tokens", "512", "--gpu", "h200"),
}


@pytest.mark.parametrize("argv", PERF_CASES.values(), ids=PERF_CASES.keys())
def test_infer_performance(capsys, argv):
    doc = check("infer", cli_json(capsys, "infer", *argv))
    perf = doc["performance"]
    figures = ("prefill_tokens_per_s", "decode_tokens_per_s", "throughput_tokens_per_s", "ttft_s", "tpot_s")
    if doc["engine"] == "llamacpp":  # llama-bench's single stream (perf/llamacpp.py)
        figures = ("pp_tokens_per_s", "tg_tokens_per_s", "ttft_s")
    for name in figures:
        assert perf[name]["value"] > 0 and perf[name]["band"], name
    assert perf["setting"]["gpu"] == doc["verdict"]["gpu"]


def test_no_gpu_means_performance_null(capsys):
    assert check("infer", cli_json(capsys, "infer", "gpt2"))["performance"] is None
    assert check("train", cli_json(capsys, "train", "gpt2"))["performance"] is None


@pytest.mark.parametrize("argv", [("llama-3.1-8b", "--gpu", "h100:8", "--tokens", "1e12"),
                                  ("qwen3-8b", "--gpu", "a100-sxm-80:4", "--lora-rank", "16", "--mfu", "0.3",
                                   "--price", "3")])
def test_train_performance(capsys, argv):
    doc = check("train", cli_json(capsys, "train", *argv))
    assert doc["performance"]["step_time_s"]["value"] > 0
    assert doc["performance"]["setting"]["gpus"] == doc["gpus"]


# --- infer's inversions and plan ------------------------------------------------------------

LIMITS_CASES = {
    "hf": ("llama-3.1-8b", "--gpu-mem", "24GiB", "-c", "8192", "--max-context", "--max-batch"),
    "vllm": ("llama-3.1-8b", "--engine", "vllm", "--gpu-mem", "24GiB", "-c", "32768", "--max-context",
             "--max-batch", "--max-concurrency"),
    "llamacpp": ("qwen3-8b", "--engine", "llamacpp", "--gpu-mem", "8GiB", "--max-batch"),
    "nothing-fits": ("llama-3.1-70b-instruct", "--gpu-mem", "8GiB", "--max-context"),
}


@pytest.mark.parametrize("argv", LIMITS_CASES.values(), ids=LIMITS_CASES.keys())
def test_infer_limits(capsys, argv):
    doc = check("infer", cli_json(capsys, "infer", *argv))
    assert doc["at"] is None or "schema_version" not in doc["at"]


PLAN_CASES = {
    "serve-vllm-fixes": ("llama-3.1-70b-instruct", "-c", "32768", "--gpu-mem", "80GiB", "--max-gpus", "2"),
    "serve-hf": ("qwen3-8b", "--engine", "hf", "-c", "8192", "--gpu-mem", "24GiB", "--max-gpus", "4"),
    "serve-llamacpp": ("llama-3.1-8b", "--engine", "llamacpp", "--gpu-mem", "8GiB", "--host-mem", "64GiB"),
    "train": ("qwen3-1.7b", "--train", "--gpu-mem", "24GiB", "--seq", "2048", "--max-gpus", "16"),
    "finetune": ("llama-3.2-1b-instruct", "--finetune", "--qlora", "--gpu-mem", "8GiB", "--keep", "2"),
    "train-nothing-fits": ("qwen3-1.7b", "--train", "--gpu-mem", "8GiB", "--max-gpus", "1", "--zero", "0"),
    "serve-speed": ("llama-3.1-8b", "--gpu", "h100-sxm,l40s,rtx-4090", "-c", "8192", "--rank", "tpot",
                    "--price", "l40s=1.1"),
    "train-speed": ("qwen3-1.7b", "--train", "--gpu", "h100-sxm,l4", "--tokens", "1e11", "--keep", "2"),
}


@pytest.mark.parametrize("argv", PLAN_CASES.values(), ids=PLAN_CASES.keys())
def test_plan(capsys, argv):
    doc = check("plan", cli_json(capsys, "plan", *argv))
    assert all(row["command"].startswith("llmsize ") for t in doc["gpus"] for row in t["layouts"])


# --- inspect: checkpoints written with the official writers -----------------------------------


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A plain, a GPTQ and a sharded safetensors folder, a bare safetensors file (no config) and
    a GGUF file, written by safetensors and gguf-py (tests/test_safetensors.py, tests/test_gguf.py)."""
    pytest.importorskip("torch")
    pytest.importorskip("gguf")
    import test_gguf as tg
    import test_safetensors as ts

    root = tmp_path_factory.mktemp("ckpt")
    plain = ts.write_model(root / "plain", ts.state())
    bare = root / "bare"
    bare.mkdir()
    ts.st_torch.save_file(ts.state(), bare / "model.safetensors")

    def kv(w):
        tg.llama_kv(w, d=64, layers=2, heads=4, kv_heads=2, ff=96)
        tg.tokens(w)

    tensors = tg.llama_tensors(v=100, d=64, layers=2, heads=4, kv_heads=2, dh=16, ff=96)
    return {
        "plain": str(plain),
        "gptq": str(ts.write_model(root / "gptq", ts.state("gptq"), quant=ts.SCHEMES["gptq"][1])),
        "sharded": str(ts.write_model(root / "sharded", ts.state(), shards=3)),
        "bare": str(bare / "model.safetensors"),
        "gguf": tg.write(root / "tiny.gguf", "llama", tensors, kv),
    }


@pytest.mark.parametrize("tensors", [False, True], ids=["summary", "tensors"])
@pytest.mark.parametrize("which", ["plain", "gptq", "sharded", "bare", "gguf"])
def test_inspect(capsys, checkpoints, which, tensors):
    flags = ["--tensors"] if tensors else []
    doc = check("inspect", cli_json(capsys, "inspect", checkpoints[which], *flags))
    assert (doc["tensor_list"] is None) != tensors
    assert (doc["architecture"] is None) == (which == "bare")


@pytest.mark.parametrize("which", ["gptq", "gguf"])
def test_infer_and_params_on_checkpoints(capsys, checkpoints, which):
    check("params", cli_json(capsys, "params", checkpoints[which]))
    check("infer", cli_json(capsys, "infer", checkpoints[which], "-c", "256"))


# --- measure ------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [("--compare",), ("--mode", "train", "--lora-rank", "4")],
                         ids=["infer-compare", "train-lora"])
def test_measure(capsys, argv):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    if "--lora-rank" in argv:
        pytest.importorskip("peft")
    check("measure", cli_json(capsys, "measure", "gpt2", "-c", "64", "--layers", "1", *argv))


@pytest.mark.parametrize("argv", [
    ("--kind", "breakdown", "-c", "8192", "--gpu-mem", "24GiB"),
    ("--kind", "context", "--engine", "vllm", "--gpu-mem", "24GiB"),  # vLLM refuses the long contexts
    ("--kind", "batch", "--task", "train", "--seq", "1024"),
    ("--kind", "throughput", "--gpu", "h100-sxm", "--engine", "vllm", "-c", "8192"),
], ids=["breakdown", "context-vllm", "batch-train", "throughput"])
def test_plot(capsys, argv):
    doc = check("plot", cli_json(capsys, "plot", "llama-3.1-8b", *argv))
    assert doc["rows"] or doc["series"] or doc["lines"]


@pytest.mark.parametrize("argv", [
    ("infer", "llama-3.1-8b", "--batch", "0", "--json"),  # an option's own check
    ("params", "no-such-model-xyz", "--json"),  # the source
    ("train", "llama-3.1-8b", "--zero", "9", "--json"),  # argparse's choices
], ids=["option", "source", "argparse"])
def test_an_error_under_json_is_a_json_document(capsys, argv):
    """Bad input with --json: the one stderr line, and the same message as an ``error`` document
    on stdout that the whole schema accepts (and that no other document shape would)."""
    code, out, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1
    doc = json.loads(out)
    assert list(doc) == ["schema_version", "error"] and doc["error"]["message"] in err
    assert not list(whole_validator().iter_errors(doc))
    assert list(whole_validator().iter_errors({**doc, "error": {"message": "a\nb", "exit_code": 2}}))


def test_an_error_without_json_prints_nothing_on_stdout(capsys):
    code, out, err = run(capsys, "infer", "llama-3.1-8b", "--batch", "0")
    assert code == 2 and out == "" and err.count("\n") == 1


# --- strictness: real documents, broken one way each ----------------------------------------


@pytest.fixture(scope="module")
def real():
    """One real document per shape, produced in-process (the same dicts the CLI prints)."""
    import io
    from contextlib import redirect_stdout

    from llmsize.cli import main

    def doc(*argv: str) -> dict:
        buf = io.StringIO()
        with redirect_stdout(buf):
            assert main([*argv, "--json"]) == 0
        return json.loads(buf.getvalue())

    return {
        "params": doc("params", *EXPLICIT),
        "infer": doc("infer", "llama-3.1-8b", "-c", "4096"),
        "vllm": doc("infer", "llama-3.1-8b", "-c", "4096", "--engine", "vllm"),
        "llamacpp": doc("infer", "llama-3.1-8b", "-c", "4096", "--engine", "llamacpp", "--gpu-mem", "8GiB"),
        "seed": doc("infer", "llama-3.1-8b", "-c", "4096", "--method", "seed"),
        "train": doc("train", "llama-3.1-8b", "--lora-rank", "8", "--zero", "2", "--dp", "2"),
        "perf": doc("infer", "llama-3.1-8b", "-c", "4096", "--engine", "vllm", "--gpu", "h100:2",
                    "--price", "h100=2"),
        "catalog": doc("catalog", "gpt2"),
        "gpus": doc("gpus", "h100"),
        "summary": doc("summary", "gpt2"),
        "limits": doc("infer", "llama-3.1-8b", "--engine", "vllm", "--gpu-mem", "24GiB", "--max-context",
                      "--max-concurrency"),
        "plan": doc("plan", "llama-3.2-1b-instruct", "--gpu-mem", "8GiB", "--max-gpus", "2"),
        "plan_train": doc("plan", "llama-3.2-1b-instruct", "--train", "--gpu-mem", "24GiB", "--keep", "2"),
    }


COMMAND_OF = {"vllm": "infer", "perf": "infer", "llamacpp": "infer", "seed": "infer", "limits": "infer",
              "plan_train": "plan"}


def broken(doc: dict, path: tuple, change) -> dict:
    d = copy.deepcopy(doc)
    *head, last = path
    node = d
    for key in head:
        node = node[key]
    change(node, last)
    return d


def drop(node, key):
    del node[key]


def add(node, key):
    node[key]["unexpected"] = 1


def negative(node, key):
    node[key] = -1


def fractional(node, key):
    node[key] = node[key] + 0.5


def as_float(node, key):
    node[key] = float(node[key])


# Per document: paths to a byte or parameter count, top-level and nested.
PATHS: dict[str, list[tuple[str | int, ...]]] = {
    "params": [("total",), ("breakdown", "value"), ("breakdown", "parts", 0, "parts", 0, "value"),
               ("seed", "total"), ("seed", "bytes", "fp16")],
    "infer": [("total_bytes",), ("breakdown", "kv_cache"), ("all_gpus", "weights"),
              ("tree", "parts", 0, "value"), ("parameters",)],
    "vllm": [("vllm", "num_blocks"), ("vllm", "requested_bytes")],
    "llamacpp": [("llamacpp", "host_bytes"), ("llamacpp", "host", "value"), ("llamacpp", "n_gpu_layers")],
    "seed": [("total_bytes",), ("breakdown", "activations"), ("estimate", "total_bytes")],
    "train": [("total_bytes",), ("breakdown", "gradients"), ("phases", "backward"), ("host_bytes",),
              ("bytes_per_parameter", 0, "parameters"), ("tree", "value")],
    "catalog": [("models", 0, "total")],
    "gpus": [("gpus", 0, "usable_bytes"), ("gpus", 0, "bandwidth_bytes_per_s"),
             ("gpus", 0, "scale_up_domain")],
    "summary": [("parameters",), ("precisions", 0, "kv_cache_bytes")],
    "limits": [("budget_bytes",), ("max_context",), ("kv_capacity_tokens",), ("at", "total_bytes")],
    "plan": [("max_gpus",), ("gpus", 0, "usable_bytes"), ("gpus", 0, "layouts", 0, "total_bytes"),
             ("gpus", 0, "layouts", 0, "max_batch")],
    "plan_train": [("gpus", 0, "fewest_gpus"), ("gpus", 0, "layouts", 0, "parallel", "dp"),
                   ("gpus", 0, "layouts", 0, "host_bytes")],
}
NUMBER_CASES = [(name, path, how) for name, paths in PATHS.items() for path in paths
                for how in (negative, fractional, as_float)]


@pytest.mark.parametrize(("name", "path", "how"), NUMBER_CASES,
                         ids=[f"{n}-{'.'.join(map(str, p))}-{h.__name__}" for n, p, h in NUMBER_CASES])
def test_a_count_made_negative_or_fractional_fails(real, name, path, how):
    command = COMMAND_OF.get(name, name)
    assert errors(command, real[name]) == []
    assert errors(command, broken(real[name], path, how))


# Per document: (path to an object whose shape is fixed, one of its required keys).
OBJECTS: dict[str, list[tuple[tuple[str | int, ...], str]]] = {
    "params": [((), "total"), (("breakdown",), "value"), (("seed",), "bytes"), (("seed", "bytes"), "int8")],
    "infer": [((), "tree"), (("inputs",), "kv_dtype"), (("breakdown",), "overhead"),
              (("error_bars",), "weights")],
    "vllm": [(("vllm",), "num_blocks")],
    "perf": [(("performance",), "tpot_s"), (("performance", "ttft_s"), "band"),
             (("performance", "setting"), "engine"), (("performance", "setting", "price"), "date"),
             (("performance", "factors", "bandwidth"), "source"), (("performance", "terms_ns"), "value")],
    "llamacpp": [(("llamacpp",), "host")],
    "seed": [((), "given"), (("estimate",), "inputs")],
    "train": [((), "peak_phase"), (("inputs",), "lora"), (("inputs", "parallel"), "zero"),
              (("inputs", "lora"), "rank"), (("bytes_per_parameter", 0), "bytes")],
    "catalog": [((), "models"), (("models", 0), "hf_id")],
    "gpus": [((), "gpus"), (("gpus", 0), "sources"), (("gpus", 0, "price"), "date"),
             (("gpus", 0, "sources", "*"), "confidence")],
    "summary": [((), "context"), (("precisions", 0), "weights_bytes")],
    "limits": [((), "max_batch"), ((), "asked"), (("at",), "breakdown")],
    "plan": [((), "question"), (("gpus", 0), "fixes"), (("gpus", 0, "layouts", 0), "command")],
    "plan_train": [(("gpus", 0, "layouts", 0), "recompute"), (("gpus", 0, "layouts", 0, "parallel"), "cp")],
}
SHAPE_CASES = [(name, where, key) for name, cases in OBJECTS.items() for where, key in cases]


@pytest.mark.parametrize(("name", "where", "key"), SHAPE_CASES,
                         ids=[f"{n}-{'.'.join(map(str, w)) or 'top'}-{k}" for n, w, k in SHAPE_CASES])
def test_a_missing_key_or_an_extra_key_fails(real, name, where, key):
    command = COMMAND_OF.get(name, name)
    assert errors(command, broken(real[name], (*where, key), drop))
    extra = broken(real[name], (*where, key), lambda node, k: node.__setitem__("unexpected", 1))
    assert errors(command, extra)


@pytest.mark.parametrize("name", PATHS)
def test_the_version_is_required_at_the_top_and_only_there(real, name):
    command = COMMAND_OF.get(name, name)
    assert errors(command, {k: v for k, v in real[name].items() if k != "schema_version"})
    assert errors(command, {**real[name], "schema_version": "0.9"})
    for key in ("seed", "estimate"):
        if key in real[name]:
            assert errors(command, broken(real[name], (key, "schema_version"),
                                          lambda node, k: node.__setitem__(k, SCHEMA_VERSION)))


def test_engine_blocks_go_with_their_engine(real):
    vllm = real["vllm"]
    assert errors("infer", {k: v for k, v in vllm.items() if k != "vllm"})  # vllm without its block
    assert errors("infer", {**vllm, "engine": "llamacpp"})  # a block of another engine
    assert errors("infer", {**real["infer"], "llamacpp": real["llamacpp"]["llamacpp"]})  # hf with a block
    assert errors("infer", {**real["infer"], "engine": "tgi"})


def test_a_part_tree_is_checked_at_any_depth(real):
    doc = copy.deepcopy(real["params"])
    node = doc["breakdown"]
    while "parts" in node:
        node = node["parts"][-1]
    node["value"] = "12"
    assert errors("params", doc)
    node["value"], node["parts"] = 12, []  # an empty parts list is never printed
    assert errors("params", doc)
