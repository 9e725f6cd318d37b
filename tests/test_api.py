"""The Python API (``llmsize.params/infer/train/inspect``): the same documents as the CLI's
``--json``, every option checked at the door with a one-line error, and the README's example."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gguf
import numpy as np
import pytest
import tomllib
from cli_run import cli_json, run
from safetensors.numpy import save_file

import llmsize
from llmsize import LlmsizeError
from llmsize.inference.estimate import InferenceSpec
from llmsize.layout import Layout
from llmsize.training.estimate import Recipe, TrainSpec

ROOT = Path(__file__).resolve().parents[1]
GiB = 2**30


def same_as_cli(capsys, result, *argv: str) -> None:
    """``result.to_dict()``, through JSON (tuples become lists), equals ``llmsize ARGV --json``."""
    assert json.loads(json.dumps(result.to_dict())) == cli_json(capsys, *argv)


# --- to_dict() is the CLI's --json ------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "argv"), [
    ({}, ()),
    ({"method": "seed"}, ("--method", "seed")),
    ({"num_layers": 4}, ("--num-layers", "4")),
])
def test_params_of_a_catalog_model(capsys, kwargs, argv):
    same_as_cli(capsys, llmsize.params("llama-3.1-8b", **kwargs), "params", "llama-3.1-8b", *argv)


def test_params_from_hyperparameters_has_the_seed_beside(capsys):
    r = llmsize.params(hidden_size=512, num_layers=12, num_heads=8, vocab_size=50_000)
    same_as_cli(capsys, r, "params", "--hidden-size", "512", "--num-layers", "12", "--num-heads", "8",
                "--vocab-size", "50000")
    assert r.seed is not None and r.to_dict()["seed"]["method"] == "seed"


def test_params_seed_from_a_count(capsys):
    same_as_cli(capsys, llmsize.params(params=7_000_000_000), "params", "--params", "7000000000")


def test_params_is_the_published_count():
    """GPT-2 124,439,808 with the tied head (STYLE point 12)."""
    assert llmsize.params("gpt2").total == 124_439_808


@pytest.mark.parametrize(("kwargs", "argv"), [
    ({"ctx_size": 8192}, ("-c", "8192")),
    ({"ctx_size": 4096, "batch": 4, "quant": "fp8", "attn": "eager", "new_tokens": 512},
     ("-c", "4096", "-b", "4", "--quant", "fp8", "--attn", "eager", "--new-tokens", "512")),
    ({"engine": "vllm", "gpu_mem": "80GiB", "ctx_size": 32768},
     ("--engine", "vllm", "--gpu-mem", "80GiB", "-c", "32768")),
    ({"engine": "llamacpp", "quant": "Q4_K_M", "gpu_mem": 8 * GiB, "n_gpu_layers": 20},
     ("--engine", "llamacpp", "--quant", "Q4_K_M", "--gpu-mem", "8GiB", "-ngl", "20")),
    ({"tp": 2, "pp": 2, "ctx_size": 8192, "overhead": {"nccl": "0"}},
     ("--tp", "2", "--pp", "2", "-c", "8192", "--overhead", "nccl=0")),
    ({"method": "seed", "ctx_size": 2048}, ("--method", "seed", "-c", "2048")),
])
def test_infer(capsys, kwargs, argv):
    same_as_cli(capsys, llmsize.infer("llama-3.1-8b", **kwargs), "infer", "llama-3.1-8b", *argv)


def test_infer_layout_splits_over_gpus():
    one = llmsize.infer("llama-3.1-8b", ctx_size=8192)
    four = llmsize.infer("llama-3.1-8b", ctx_size=8192, tp=2, pp=2)
    assert four.gpus == 4 and four.spec.layout == Layout(tp=2, pp=2)
    assert four.to_dict()["all_gpus"]["weights"] == one.part("weights")


def test_gpu_mem_as_a_string_is_the_bytes():
    r = llmsize.infer("llama-3.1-8b", engine="vllm", gpu_mem="80GiB")
    assert r.to_dict()["vllm"]["gpu_memory_bytes"] == 80 * 2**30
    assert llmsize.infer("llama-3.1-8b", engine="vllm", gpu_mem="40GB").spec.gpu_mem == 40 * 10**9


@pytest.mark.parametrize(("kwargs", "argv"), [
    ({"seq": 2048, "lora_rank": 16, "lora_targets": "q,k,v,o"},
     ("--seq", "2048", "--lora-rank", "16", "--lora-targets", "q,k,v,o")),
    ({"seq": 4096, "qlora": True}, ("--seq", "4096", "--qlora")),
    ({"seq": 4096, "recipe": "deepspeed", "zero": 3, "dp": 8},
     ("--seq", "4096", "--recipe", "deepspeed", "--zero", "3", "--dp", "8")),
    ({"seq": 4096, "fsdp": "full", "offload": "params", "dp": 8},
     ("--seq", "4096", "--fsdp", "full", "--offload", "params", "--dp", "8")),
    ({"seq": 4096, "recipe": "megatron", "tp": 4, "sp": True, "pp": 2, "dp": 2, "zero": 1,
      "grad_accum": 8},
     ("--seq", "4096", "--recipe", "megatron", "--tp", "4", "--sp", "--pp", "2", "--dp", "2", "--zero",
      "1", "--grad-accum", "8")),
])
def test_train(capsys, kwargs, argv):
    same_as_cli(capsys, llmsize.train("llama-3.1-8b", **kwargs), "train", "llama-3.1-8b", *argv)


def test_train_strategies_as_enums_or_strings_agree():
    from llmsize import FsdpStrategy, Offload

    by_text = llmsize.train("llama-3.1-8b", seq=1024, fsdp="full_shard", offload="parameters", dp=4)
    by_enum = llmsize.train("llama-3.1-8b", seq=1024, fsdp=FsdpStrategy.FULL_SHARD,
                            offload=Offload.PARAMETERS, dp=4)
    by_cli = llmsize.train("llama-3.1-8b", seq=1024, fsdp="full", offload="params", dp=4)
    assert by_text.to_dict() == by_enum.to_dict() == by_cli.to_dict()


LLAMA_SHAPES = {"model.embed_tokens.weight": (96, 64), "model.norm.weight": (64,),
                "lm_head.weight": (96, 64),
                **{f"model.layers.0.{n}.weight": s for n, s in (
                    ("self_attn.q_proj", (64, 64)), ("self_attn.k_proj", (32, 64)),
                    ("self_attn.v_proj", (32, 64)), ("self_attn.o_proj", (64, 64)),
                    ("mlp.gate_proj", (128, 64)), ("mlp.up_proj", (128, 64)),
                    ("mlp.down_proj", (64, 128)), ("input_layernorm", (64,)),
                    ("post_attention_layernorm", (64,)))}}
LLAMA_CONFIG = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
                "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
                "intermediate_size": 128, "vocab_size": 96, "tie_word_embeddings": False}


def test_inspect_a_safetensors_checkpoint(capsys, tmp_path):
    """The safetensors writer's file: every element is a parameter, and the config's count agrees."""
    save_file({n: np.zeros(s, np.float16) for n, s in LLAMA_SHAPES.items()}, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_CONFIG))
    r = llmsize.inspect(str(tmp_path), tensors=True)
    same_as_cli(capsys, r, "inspect", str(tmp_path), "--tensors")
    assert r.weights.logical_params == sum(int(np.prod(s)) for s in LLAMA_SHAPES.values())
    assert r.to_dict()["architecture"]["delta"] == 0


def test_inspect_a_gguf_file(capsys, tmp_path):
    """gguf-py's writer: a Q8_0 tensor of 4 × 64 is 4 · 2 blocks of 34 bytes (ggml-common.h)."""
    path = str(tmp_path / "m.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_tensor("token_embd.weight", np.zeros((4, 64), np.float32))
    w.add_tensor("blk.0.ffn_up.weight", np.zeros((4, 68), np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    r = llmsize.inspect(path)
    same_as_cli(capsys, r, "inspect", path)
    q8_0_block_bytes = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0][1]
    assert r.weights.stored_bytes == 4 * 64 * 4 + 4 * 2 * q8_0_block_bytes


# --- every option is checked ----------------------------------------------------------------

ARCH_BAD = [("hidden_size", 0), ("num_layers", -1), ("num_heads", "x"), ("num_kv_heads", 0), ("head_dim", 0),
            ("intermediate_size", 1.5), ("vocab_size", 0), ("max_position", 0), ("tie_embeddings", "yes"),
            ("gated_mlp", 1), ("family", 3)]
BAD = {
    "params": [("method", "fast"), ("params", 0), ("revision", 3), *ARCH_BAD],
    "infer": [("ctx_size", 0), ("batch", 0), ("new_tokens", -1), ("logits", "first"), ("chunk", 0),
              ("dtype", "fp64"), ("quant", "q9"), ("kv_dtype", "int3"), ("attn", "xformers"),
              ("engine", "tgi"), ("tp", 0), ("pp", -2), ("gpu_mem", "lots"), ("gpu_util", 1.5),
              ("max_num_seqs", 0),
              ("max_num_batched_tokens", 0), ("n_gpu_layers", -2), ("overhead", {"warp": "1GiB"}),
              ("method", "guess"), ("params", 0), ("activations", "lots"), ("input_data", -1),
              ("revision", 3), ("gpu", "h10"), ("host_mem", "lots"), ("max_context", "yes"),
              ("max_batch", 1), ("max_concurrency", "no"), ("sampler", "greedy"), ("vllm_version", "0.10"),
              ("custom_all_reduce", "off"), ("batch_size", 0),
              ("ubatch_size", -1), ("parallel", 0), ("kv_unified", "yes"), ("flash_attn", "maybe"),
              ("input_len", 0), ("output_len", -5), ("concurrency", 0), ("price", "lots"), ("mfu", 1.5),
              ("images", -1)],
    "train": [("seq", 0), ("micro_batch", 0), ("grad_accum", "many"), ("recipe", "fp8"),
              ("optimizer", "adam"),
              ("optim_dtype", "int8"), ("optim_impl", "cuda"), ("recompute", "some"), ("attn", "xformers"),
              ("lora_rank", 0), ("lora_targets", 7), ("qlora", "yes"), ("zero", 4), ("fsdp", "half"),
              ("offload", "disk"), ("dp", 0), ("tp", 0), ("pp", 0), ("vpp", 0), ("ep", 0), ("cp", 0),
              ("sp", "yes"), ("overhead", ["warp=1GiB"]), ("revision", 3), ("gpu", "h100:0"),
              ("gpu_mem", -1), ("host_mem", "lots"), ("lora_dropout", 1.5), ("adapter_dtype", "fp8"),
              ("double_quant", "no"), ("bnb_version", 41), ("loop", "keras"), ("tokens", "many"),
              ("price", -2), ("mfu", 0), ("images", 1.5)],
    "inspect": [("revision", 3), ("tensors", "yes")],
    "plan": [("mode", "pretrain"), ("gpu", 3), ("gpu_mem", "lots"), ("max_gpus", 0), ("host_mem", -1),
             ("keep", 0), ("revision", 3), ("ctx_size", 0), ("batch", 0), ("engine", "tgi"),
             ("dtype", "fp64"),
             ("quant", "q9"), ("kv_dtype", "int3"), ("gpu_util", 0), ("seq", 0), ("micro_batch", 0),
             ("grad_accum", 0), ("recipe", "fp8"), ("optimizer", "adam"), ("lora_rank", 0),
             ("lora_targets", 7), ("qlora", "yes"), ("attn", "xformers"), ("recompute", "some"), ("tp", 0),
             ("pp", 0), ("cp", 0), ("ep", 0), ("zero", 4), ("fsdp", "half"), ("offload", "disk"),
             ("input_len", 0), ("output_len", -5), ("concurrency", 0), ("tokens", "many"), ("price", "lots"),
             ("mfu", 1.5), ("rank", "fastest"), ("images", "two")],
}
OPTION_TABLES = {"params": "PARAMS_OPTIONS", "infer": "INFER_OPTIONS", "train": "TRAIN_OPTIONS",
                 "inspect": "INSPECT_OPTIONS", "plan": "PLAN_OPTIONS"}


def test_every_option_has_a_bad_case():
    from llmsize import api

    for command, table in OPTION_TABLES.items():
        assert {name for name, _ in BAD[command]} == set(getattr(api, table)), command


@pytest.mark.parametrize(("command", "option", "value"),
                         [(c, o, v) for c, cases in BAD.items() for o, v in cases])
def test_a_bad_value_is_one_line_naming_option_and_value(command, option, value):
    with pytest.raises(LlmsizeError) as info:
        getattr(llmsize, command)("gpt2", **{option: value})
    message = str(info.value)
    shown = "warp=1GiB" if option == "overhead" else repr(value)
    assert "\n" not in message and option in message and shown in message, message
    assert "--" not in message  # the API names its options, not CLI flags


@pytest.mark.parametrize("command", list(OPTION_TABLES))
def test_an_unknown_option_names_itself_and_close_matches(command):
    with pytest.raises(LlmsizeError, match=r"unknown option 'revison'; did you mean revision\?"):
        getattr(llmsize, command)("gpt2", revison="main")


def test_none_is_the_default():
    assert llmsize.infer("gpt2", batch=None, tp=None).to_dict() == llmsize.infer("gpt2").to_dict()


def test_new_tokens_must_leave_a_prompt():
    with pytest.raises(LlmsizeError, match="^new_tokens 100 must be smaller than ctx_size 100$"):
        llmsize.infer("gpt2", ctx_size=100, new_tokens=100)


def test_specs_check_their_own_choices():
    with pytest.raises(LlmsizeError, match="engine 'tgi' is not one of hf, vllm, llamacpp"):
        InferenceSpec(1024, engine="tgi")
    assert TrainSpec(seq=1024, recipe="amp") == TrainSpec(seq=1024, recipe=Recipe.AMP)
    with pytest.raises(LlmsizeError, match="recipe 'amp16'"):
        TrainSpec(seq=1024, recipe="amp16")
    assert InferenceSpec(1024, gpu_mem="80GiB").gpu_mem == 80 * 2**30


def test_an_inference_layout_takes_tp_and_pp_only():
    from llmsize.inference.engines import estimate

    arch = llmsize.resolve("gpt2").arch
    with pytest.raises(LlmsizeError, match="tp and pp only; dp, zero are training degrees"):
        estimate(arch, InferenceSpec(1024, layout=Layout(dp=2, zero=1)))


def test_layout_takes_strategy_values():
    from llmsize import FsdpStrategy, Offload, ZeroStage

    assert Layout(zero=3, fsdp="none", offload="params") == Layout(zero=ZeroStage.PARAMETERS,
                                                                   offload=Offload.PARAMETERS)
    assert Layout(fsdp="hybrid").fsdp is FsdpStrategy.HYBRID_SHARD
    with pytest.raises(LlmsizeError, match="zero 5 is not one of 0, 1, 2, 3"):
        Layout(zero=5)


# --- the CLI's own options --------------------------------------------------------------------


def test_version_is_the_package_version(capsys):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"llmsize {version}" == f"llmsize {llmsize.__version__}"


@pytest.mark.parametrize("argv", [("--foo",), ("infer", "gpt2", "--foo"), ("train", "gpt2", "--foo", "1")])
def test_an_unknown_flag_names_itself(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2 and "--foo" in err and err.strip().count("\n") == 0


def test_cli_errors_name_the_flag(capsys):
    code, _, err = run(capsys, "infer", "gpt2", "-c", "100", "--new-tokens", "100")
    assert code == 2 and "--new-tokens 100 must be smaller than --ctx-size 100" in err


# --- the README's example runs ----------------------------------------------------------------


def test_the_readme_example_runs(capsys):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    exec(compile(code.group(1), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "8,030,261,248 parameters" in out and "engine 'tgi' is not one of" in out


def test_every_export_resolves():
    """Every name the package lists is importable (a moved function breaks the lazy table)."""
    missing = [name for name in llmsize.__all__ if getattr(llmsize, name, None) is None]
    assert missing == []


def test_importing_the_parameters_module_keeps_the_api_function():
    import llmsize.parameters  # noqa: F401

    assert callable(llmsize.params) and llmsize.params("gpt2").total == 124_439_808


def test_option_choices_are_the_strategies_the_estimates_know():
    """options.py lists the choices below the packages that define the enums; they must agree."""
    from llmsize import options as o
    from llmsize.layout import FSDP_ALIASES, OFFLOAD_ALIASES, FsdpStrategy, Offload, ZeroStage
    from llmsize.training.estimate import Recipe
    from llmsize.training.optimizers import Optimizer, StepKernel

    assert o.RECIPES == tuple(r.value for r in Recipe)
    assert o.OPTIMIZERS == tuple(x.value for x in Optimizer)
    assert o.OPTIM_IMPLS == tuple(x.value for x in StepKernel)
    assert o.ZERO_STAGES == tuple(z.value for z in ZeroStage)
    assert {FsdpStrategy.NONE, *FSDP_ALIASES.values()} == set(FsdpStrategy)
    assert set(o.FSDP) == {"none", *FSDP_ALIASES}
    aliased = {a.value for a in OFFLOAD_ALIASES.values()}
    assert set(o.OFFLOAD) == {x.value for x in Offload} - aliased | set(OFFLOAD_ALIASES)


def test_parallel_and_batch_must_agree_and_engine_flags_are_refused_elsewhere():
    """``parallel`` is llama.cpp's ``-np``, i.e. ``batch``: both given, they must agree. An engine's
    flag given to another engine's profile is refused (``ENGINE_ONLY``), not ignored."""
    with pytest.raises(LlmsizeError, match="^parallel 4 sequences") as info:
        llmsize.infer("gpt2", engine="llamacpp", batch=2, parallel=4)
    assert "\n" not in str(info.value)
    assert llmsize.infer("gpt2", engine="llamacpp", batch=4, parallel=4).spec.batch == 4
    with pytest.raises(LlmsizeError, match="^ubatch_size is an option of --engine llamacpp, not of vllm"):
        llmsize.infer("gpt2", engine="vllm", ubatch_size=1024)
    with pytest.raises(LlmsizeError, match="^sampler is an option of --engine vllm, not of llamacpp"):
        llmsize.infer("gpt2", engine="llamacpp", sampler="flashinfer")
