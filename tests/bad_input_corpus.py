"""A corpus of hostile inputs, generated from compact tables (issue 13).

Each ``Case`` is one way to hand llmsize something bad: a mutated ``config.json`` (a wrong type, a
zero, a negative, an absurd size, an unknown value, duplicated keys, deep nesting), a file that is
not a regular file (a FIFO, a device, a directory, a symlink loop, a sparse multi-GiB config), a
malformed shard index, or a bad option. ``argv`` runs it through the CLI, ``api`` through the
Python API; ``expect`` is a substring the one-line error must contain (case-insensitive): the
field, option or file it names.

``tests/test_bad_input.py`` runs every case in-process; ``benchmarks/bad_input_corpus.py`` runs
them in fresh processes under a time and memory limit and prints the fraction that ends cleanly,
for any checkout (``PYTHONPATH=.../src``), so the figure before and after a change is measured the
same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# --- tiny valid configs, one per family the mutations touch ------------------------------------

LLAMA = {
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "intermediate_size": 128, "vocab_size": 256, "max_position_embeddings": 512,
}
BASES: dict[str, dict[str, Any]] = {
    "llama": LLAMA,
    "mistral": {**LLAMA, "model_type": "mistral", "sliding_window": 128},
    "gemma2": {**LLAMA, "model_type": "gemma2", "head_dim": 16,
               "layer_types": ["sliding_attention", "full_attention"], "sliding_window": 128},
    "qwen2_moe": {**LLAMA, "model_type": "qwen2_moe", "num_experts": 4, "num_experts_per_tok": 2,
                  "moe_intermediate_size": 32, "shared_expert_intermediate_size": 64,
                  "decoder_sparse_step": 1, "mlp_only_layers": []},
    "mixtral": {**LLAMA, "model_type": "mixtral", "num_local_experts": 4, "num_experts_per_tok": 2},
    "deepseek_v3": {**LLAMA, "model_type": "deepseek_v3", "num_key_value_heads": 4,
                    "moe_intermediate_size": 32, "n_routed_experts": 4, "num_experts_per_tok": 2,
                    "n_shared_experts": 1, "first_k_dense_replace": 1, "moe_layer_freq": 1,
                    "kv_lora_rank": 16, "q_lora_rank": 24, "qk_nope_head_dim": 16,
                    "qk_rope_head_dim": 8, "v_head_dim": 16},
    "mamba": {"model_type": "mamba", "architectures": ["MambaForCausalLM"], "hidden_size": 64,
              "num_hidden_layers": 2, "vocab_size": 256, "state_size": 16, "conv_kernel": 4,
              "expand": 2, "time_step_rank": "auto"},
    "gemma3": {"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"],
               "text_config": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                               "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 128,
                               "vocab_size": 256, "max_position_embeddings": 512},
               "vision_config": {"model_type": "siglip_vision_model", "vision_use_head": False,
                                 "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                                 "intermediate_size": 64, "patch_size": 8, "image_size": 32}},
    "mllama": {"model_type": "mllama", "architectures": ["MllamaForConditionalGeneration"],
               "text_config": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                               "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 256,
                               "cross_attention_layers": [1], "pad_token_id": 0},
               "vision_config": {"hidden_size": 32, "num_hidden_layers": 1, "num_global_layers": 1,
                                 "attention_heads": 2, "intermediate_size": 64, "patch_size": 8,
                                 "image_size": 32, "max_num_tiles": 2, "vision_output_dim": 64,
                                 "supported_aspect_ratios": [[1, 1], [1, 2], [2, 1]]}},
    # Qwen2-VL's text keys sit at the top level; its vision hidden_size is the merger's output
    "qwen2_vl": {**LLAMA, "model_type": "qwen2_vl", "architectures": ["Qwen2VLForConditionalGeneration"],
                 "vision_config": {"depth": 1, "embed_dim": 32, "hidden_size": 64, "mlp_ratio": 2,
                                   "num_heads": 2}},
    "qwen3_vl": {"model_type": "qwen3_vl", "architectures": ["Qwen3VLForConditionalGeneration"],
                 "text_config": {k: v for k, v in LLAMA.items() if k not in ("model_type", "architectures")},
                 "vision_config": {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
                                   "out_hidden_size": 64, "num_position_embeddings": 16,
                                   "deepstack_visual_indexes": [0]}},
}

COMMANDS = ("params", "infer", "train", "summary")  # each reads a SOURCE's config
API_COMMANDS = ("params", "infer", "train")


@dataclass(frozen=True)
class Case:
    """One hostile input. ``setup(tmp)`` writes the files and returns the SOURCE; ``argv`` and
    ``api`` take that SOURCE. ``hang``: a FIFO case, guarded by a timeout."""

    id: str
    setup: Callable[[Path], str]
    expect: str
    argv: Callable[[str], list[str]] | None = None
    api: tuple[str, dict[str, Any]] | None = None
    hang: bool = False
    tags: tuple[str, ...] = field(default=())


# --- writers ----------------------------------------------------------------------------------


def _model_dir(tmp: Path, text: str) -> str:
    folder = tmp / "model"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(text, encoding="utf-8")
    return str(folder)


def _config(base: str, mutate: Callable[[dict[str, Any]], object]) -> Callable[[Path], str]:
    def setup(tmp: Path) -> str:
        cfg = json.loads(json.dumps(BASES[base]))
        out = mutate(cfg)
        return _model_dir(tmp, out if isinstance(out, str) else json.dumps(cfg if out is None else out))

    return setup


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(cfg: dict[str, Any]) -> None:
        *parents, key = path.split(".")
        node = cfg
        for p in parents:
            node = node[p]
        node[key] = value

    return mutate


def _raw(text: str) -> Callable[[dict[str, Any]], str]:
    return lambda cfg: text


# --- 1. config.json fields --------------------------------------------------------------------

# Values no size field may hold, each with what the error must name besides the key.
_BAD_INTS: dict[str, object] = {
    "zero": 0, "negative": -1, "float": 1.5, "huge_float": 1e30, "huge_int": 10**30,
    "string": "64", "bool": True, "list": [64], "object": {"n": 64},
}
_INT_KEYS = {
    "llama": ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
              "intermediate_size", "vocab_size", "max_position_embeddings"),
    "mistral": ("sliding_window",),
    "gemma2": ("head_dim",),
    "qwen2_moe": ("num_experts", "num_experts_per_tok", "moe_intermediate_size", "decoder_sparse_step"),
    "mixtral": ("num_local_experts",),
    "deepseek_v3": ("moe_layer_freq", "n_routed_experts", "kv_lora_rank", "qk_rope_head_dim",
                    "v_head_dim", "moe_intermediate_size"),
    "mamba": ("state_size", "conv_kernel", "expand"),
    "gemma3": ("vision_config.patch_size", "vision_config.image_size", "text_config.num_hidden_layers"),
    "mllama": ("vision_config.max_num_tiles", "vision_config.attention_heads",
               "vision_config.vision_output_dim"),
    "qwen2_vl": ("vision_config.depth", "vision_config.embed_dim", "vision_config.num_heads"),
    "qwen3_vl": ("vision_config.spatial_merge_size", "vision_config.out_hidden_size",
                 "vision_config.temporal_patch_size", "text_config.hidden_size"),
}
# Which bad values each key gets: every key gets the type errors; zero is fine where 0 means "none".
_ZERO_OK = {"sliding_window"}
# Where 0 is valid in a config (a dense model) but not for this family, the Architecture names it.
_ZERO_NAMED = {"num_local_experts": "n_experts", "num_experts": "n_experts"}

# Wrong values that are not sizes: (base, key path, value, substring)
_OTHER_FIELDS: list[tuple[str, str, object, str]] = [
    ("llama", "model_type", 123, "model_type"),
    ("llama", "model_type", ["llama"], "model_type"),
    ("llama", "model_type", {"x": 1}, "model_type"),
    ("llama", "model_type", "", "model_type"),
    ("llama", "model_type", "no\nsuch", "model_type"),
    ("llama", "architectures", "LlamaForCausalLM", "architectures"),
    ("llama", "architectures", 5, "architectures"),
    ("llama", "architectures", [5], "architectures"),
    ("llama", "architectures", {"a": 1}, "architectures"),
    ("llama", "tie_word_embeddings", "false", "tie_word_embeddings"),
    ("llama", "tie_word_embeddings", "yes", "tie_word_embeddings"),
    ("llama", "tie_word_embeddings", [], "tie_word_embeddings"),
    ("llama", "attention_bias", "true", "attention_bias"),
    ("llama", "mlp_bias", "no", "mlp_bias"),
    ("llama", "head_dim", 0, "head_dim"),
    ("llama", "head_dim", -16, "head_dim"),
    ("llama", "num_key_value_heads", 3, "heads"),
    ("llama", "hidden_act", 5, "hidden_act"),
    ("llama", "quantization_config", "fp8", "quantization_config"),
    # an unknown or invalid method, bits or group size inside the object is a warning saying what
    # is assumed (formats.stored.stored_format), not a refusal: tests/test_quant_config.py
    ("mistral", "sliding_window", -5, "sliding_window"),
    ("gemma2", "layer_types", ["sliding_attention", "bogus_attention"], "layer_types"),
    ("gemma2", "layer_types", "sliding_attention", "layer_types"),
    ("gemma2", "layer_types", [1, 2], "layer_types"),
    ("gemma2", "layer_types", ["full_attention"], "layer_types"),
    ("qwen2_moe", "mlp_only_layers", "1", "mlp_only_layers"),
    ("qwen2_moe", "mlp_only_layers", [-1], "mlp_only_layers"),
    ("qwen2_moe", "mlp_only_layers", [1.5], "mlp_only_layers"),
    ("qwen2_moe", "num_experts_per_tok", 99, "experts"),
    ("deepseek_v3", "first_k_dense_replace", -1, "first_k_dense_replace"),
    ("deepseek_v3", "first_k_dense_replace", 10**9, "first_k_dense_replace"),
    ("deepseek_v3", "n_shared_experts", -1, "n_shared_experts"),
    ("deepseek_v3", "q_lora_rank", -3, "q_lora_rank"),
    ("deepseek_v3", "num_nextn_predict_layers", -1, "num_nextn_predict_layers"),
    ("mamba", "time_step_rank", "bogus", "time_step_rank"),
    ("mamba", "time_step_rank", -4, "time_step_rank"),
    ("mamba", "use_conv_bias", "yes", "use_conv_bias"),
    ("gemma3", "text_config", "llama", "text_config"),
    ("gemma3", "text_config", [1], "text_config"),
    ("gemma3", "vision_config", "siglip", "vision_config"),
    ("gemma3", "vision_config.vision_use_head", "no", "vision_use_head"),
    ("gemma3", "tie_word_embeddings", "true", "tie_word_embeddings"),
    ("mllama", "vision_config.supported_aspect_ratios", [[1]], "supported_aspect_ratios"),
    ("mllama", "vision_config.supported_aspect_ratios", "1x1", "supported_aspect_ratios"),
    ("mllama", "text_config.cross_attention_layers", [-1], "cross_attention_layers"),
    ("mllama", "text_config.cross_attention_layers", "3", "cross_attention_layers"),
    ("qwen2_vl", "vision_config.mlp_ratio", "4", "mlp_ratio"),
    ("qwen2_vl", "vision_config.mlp_ratio", -2, "mlp_ratio"),
    ("qwen3_vl", "vision_config.deepstack_visual_indexes", "8", "deepstack_visual_indexes"),
    ("qwen3_vl", "vision_config.deepstack_visual_indexes", [-1], "deepstack_visual_indexes"),
    ("qwen3_vl", "tie_word_embeddings", "no", "tie_word_embeddings"),
]

# Whole-file problems: (id, text, substring)
_RAW_TEXTS: list[tuple[str, str, str]] = [
    ("duplicate_key", '{"model_type": "llama", "hidden_size": 64, "hidden_size": 128}', "duplicate"),
    ("duplicate_nested", '{"model_type": "gemma3", "text_config": {"vocab_size": 1, "vocab_size": 2}}',
     "duplicate"),
    ("deep_list", '{"model_type": "llama", "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
    ("deep_object", '{"model_type": "llama", "x": ' + '{"a":' * 50_000 + "1" + "}" * 50_000 + "}", "nested"),
    ("deep_modest", '{"model_type": "llama", "x": ' + "[" * 900 + "]" * 900 + "}", "nested"),
    ("top_list", "[]", "object"),
    ("top_string", '"llama"', "object"),
    ("top_null", "null", "object"),
    ("top_number", "1e999", "object"),
    ("empty", "", "JSON"),
    ("truncated", '{"model_type": "llama", ', "JSON"),
    ("nan", json.dumps(LLAMA)[:-1] + ', "hidden_size": NaN}', "hidden_size"),
    ("infinity_layers", json.dumps({**LLAMA, "num_hidden_layers": 1}).replace(
        '"num_hidden_layers": 1', '"num_hidden_layers": Infinity'), "num_hidden_layers"),
    ("int_400_digits", json.dumps(LLAMA).replace('"vocab_size": 256', '"vocab_size": ' + "9" * 400),
     "vocab_size"),
    ("int_5000_digits", json.dumps(LLAMA).replace('"vocab_size": 256', '"vocab_size": ' + "9" * 5000),
     "digits"),
]


def _config_cases() -> list[tuple[str, Callable[[Path], str], str]]:
    out = []
    for base, keys in _INT_KEYS.items():
        for key in keys:
            for name, value in _BAD_INTS.items():
                if name == "zero" and key in _ZERO_OK:
                    continue
                expect = _ZERO_NAMED.get(key, key.split(".")[-1]) if name == "zero" else key.split(".")[-1]
                out.append((f"{base}.{key}={name}", _config(base, _set(key, value)), expect))
    for base, key, value, expect in _OTHER_FIELDS:
        out.append((f"{base}.{key}={value!r}"[:60], _config(base, _set(key, value)), expect))
    for name, text, expect in _RAW_TEXTS:
        out.append((f"raw.{name}", _config("llama", _raw(text)), expect))
    return out


# --- 2. files that are not regular files, and shard indexes ------------------------------------


def _fifo_config(tmp: Path) -> str:
    folder = tmp / "model"
    folder.mkdir()
    os.mkfifo(folder / "config.json")
    return str(folder)


def _fifo_source(tmp: Path) -> str:
    os.mkfifo(tmp / "config.json")
    return str(tmp / "config.json")


def _fifo_gguf(tmp: Path) -> str:
    os.mkfifo(tmp / "model.gguf")
    return str(tmp / "model.gguf")


def _fifo_safetensors(tmp: Path) -> str:
    os.mkfifo(tmp / "model.safetensors")
    return str(tmp / "model.safetensors")


def _device_config(tmp: Path) -> str:
    folder = tmp / "model"
    folder.mkdir()
    os.symlink("/dev/zero", folder / "config.json")
    return str(folder)


def _dir_config(tmp: Path) -> str:
    folder = tmp / "model"
    (folder / "config.json").mkdir(parents=True)
    return str(folder)


def _loop_config(tmp: Path) -> str:
    folder = tmp / "model"
    folder.mkdir()
    os.symlink(folder / "config.json", folder / "config.json")
    return str(folder)


def _loop_source(tmp: Path) -> str:
    os.symlink(tmp / "a.json", tmp / "b.json")
    os.symlink(tmp / "b.json", tmp / "a.json")
    return str(tmp / "a.json")


def _huge_config(tmp: Path) -> str:
    """A sparse 3 GiB config.json: valid JSON start, then NULs (no disk is used)."""
    folder = tmp / "model"
    folder.mkdir()
    with open(folder / "config.json", "wb") as f:
        f.write(b'{"model_type": "llama", "pad": "')
        f.truncate(3 * 2**30)
    return str(folder)


def _index(weight_map: object, *, fifo_shard: bool = False, text: str | None = None) -> Callable[[Path], str]:
    def setup(tmp: Path) -> str:
        folder = tmp / "model"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(LLAMA))
        body = text if text is not None else json.dumps({"metadata": {}, "weight_map": weight_map})
        (folder / "model.safetensors.index.json").write_text(body)
        if fifo_shard:
            os.mkfifo(folder / "model-00001.safetensors")
        return str(folder)

    return setup


_FILES: list[tuple[str, Callable[[Path], str], str, bool]] = [
    ("fifo_config_in_dir", _fifo_config, "not a regular file", True),
    ("fifo_config_path", _fifo_source, "not a regular file", True),
    ("device_config", _device_config, "not a regular file", False),
    ("dir_config", _dir_config, "not a regular file", False),
    ("loop_config", _loop_config, "symbolic links", False),
    ("loop_source", _loop_source, "symbolic links", False),
    ("dev_zero_source", lambda tmp: "/dev/zero", "not a regular file", False),
    ("dev_null_source", lambda tmp: "/dev/null", "not a regular file", False),
    ("huge_config", _huge_config, "MiB", False),
    ("index_empty_map", _index({}), "weight_map", False),
    ("index_map_list", _index([["a", "b"]]), "weight_map", False),
    ("index_deep", _index(None, text='{"weight_map": ' + "[" * 100_000 + "]" * 100_000 + "}"), "nested",
     False),
    ("index_duplicate", _index(None, text='{"weight_map": {"a": "x.safetensors", "a": "y.safetensors"}}'),
     "duplicate", False),
    ("index_fifo_shard", _index({"w": "model-00001.safetensors"}, fifo_shard=True), "not a regular file",
     True),
    ("index_dir_shard", _index({"w": "."}), "shard", False),
    ("fifo_gguf", _fifo_gguf, "not a regular file", True),
    ("fifo_safetensors", _fifo_safetensors, "not a regular file", True),
]


# --- 3. options -------------------------------------------------------------------------------

# (command, CLI flags, API keywords, substring); the SOURCE is the tiny llama directory.
_OPTIONS: list[tuple[str, list[str], dict[str, Any] | None, str]] = [
    ("infer", ["-c", str(10**12)], {"ctx_size": 10**12}, "ctx"),
    ("infer", ["-c", "0"], {"ctx_size": 0}, "ctx"),
    ("infer", ["-c", "-4"], {"ctx_size": -4}, "ctx"),
    ("infer", ["-c", "1e30"], {"ctx_size": 1e30}, "ctx"),
    ("infer", ["--new-tokens", "-1"], {"new_tokens": -1}, "new"),
    ("infer", ["--new-tokens", "100000"], {"new_tokens": 100000}, "new"),
    ("infer", ["--quant", ""], {"quant": ""}, "quant"),
    ("infer", ["--quant", "gptq:0:128"], {"quant": "gptq:0:128"}, "gptq"),
    ("infer", ["--quant", "gptq:4:0"], {"quant": "gptq:4:0"}, "gptq"),
    ("infer", ["--quant", "gptq:99:128"], {"quant": "gptq:99:128"}, "gptq"),
    ("infer", ["--quant", "gptq:4:99999999999999999999"], {"quant": "gptq:4:99999999999999999999"}, "gptq"),
    ("infer", ["--quant", "gptq::"], {"quant": "gptq::"}, "gptq"),
    ("infer", ["--quant", "bogus\nformat"], {"quant": "bogus\nformat"}, "quant"),
    ("infer", ["--quant", "x" * 5000], {"quant": "x" * 5000}, "quant"),
    ("infer", ["--kv-dtype", ""], {"kv_dtype": ""}, "kv"),
    ("infer", ["--kv-dtype", "q3"], {"kv_dtype": "q3"}, "kv"),
    ("infer", ["--gpu-mem", "0"], {"gpu_mem": 0}, "gpu"),
    ("infer", ["--gpu-mem", "0GiB"], {"gpu_mem": "0GiB"}, "gpu"),
    ("infer", ["--gpu-mem", "1e400GiB"], {"gpu_mem": "1e400GiB"}, "gpu"),
    ("infer", ["--gpu-mem", "1e30GiB"], {"gpu_mem": "1e30GiB"}, "gpu"),
    ("infer", ["--gpu-mem", "nanGiB"], {"gpu_mem": "nanGiB"}, "gpu"),
    ("infer", ["--gpu-mem", "infGiB"], {"gpu_mem": "infGiB"}, "gpu"),
    ("infer", ["--gpu-mem", "-5GiB"], {"gpu_mem": "-5GiB"}, "gpu"),
    ("infer", ["--gpu-mem", "0.5"], {"gpu_mem": 0.5}, "gpu"),
    ("infer", ["--engine", "vllm", "--gpu-mem", "0"], {"engine": "vllm", "gpu_mem": 0}, "gpu"),
    ("infer", ["--gpu-util", "0"], {"gpu_util": 0}, "gpu"),
    ("infer", ["--gpu-util", "nan"], {"gpu_util": float("nan")}, "gpu"),
    ("infer", ["--gpu-util", "2"], {"gpu_util": 2}, "gpu"),
    ("infer", ["--engine", "vllm", "--vllm-version", "0.9"], {"engine": "vllm", "vllm_version": "0.9"},
     "version"),
    ("infer", ["--engine", "vllm", "--vllm-version", ""], {"engine": "vllm", "vllm_version": ""}, "version"),
    ("infer", ["--disable-custom-all-reduce"], {"custom_all_reduce": False}, "custom"),
    ("infer", ["--engine", "llamacpp", "--vllm-version", "0.21.0"],
     {"engine": "llamacpp", "vllm_version": "0.21.0"}, "version"),
    ("infer", ["--batch", "-1"], {"batch": -1}, "batch"),
    ("infer", ["--batch", str(10**12)], {"batch": 10**12}, "batch"),
    ("infer", ["--chunk", str(10**15)], {"chunk": 10**15}, "chunk"),
    ("infer", ["--max-num-seqs", str(10**15)], {"max_num_seqs": 10**15}, "max"),
    ("infer", ["--tp", str(10**9)], {"tp": 10**9}, "tp"),
    ("infer", ["--engine", "llamacpp", "--quant", "nf4"], {"engine": "llamacpp", "quant": "nf4"}, "nf4"),
    ("infer", ["--engine", "llamacpp", "--tp", "2"], {"engine": "llamacpp", "tp": 2}, "tp"),
    ("infer", ["--engine", "llamacpp", "-ngl", "-5"], {"engine": "llamacpp", "n_gpu_layers": -5}, "gpu"),
    ("infer", ["--overhead", "nccl=-1"], {"overhead": ["nccl=-1"]}, "overhead"),
    ("infer", ["--overhead", "bogus=1"], {"overhead": ["bogus=1"]}, "overhead"),
    ("infer", ["--overhead", "nccl=1e400GiB"], {"overhead": ["nccl=1e400GiB"]}, "overhead"),
    ("infer", ["--overhead", "nccl"], {"overhead": ["nccl"]}, "overhead"),
    ("infer", ["--engine", "tgi"], {"engine": "tgi"}, "engine"),
    ("infer", ["--bogus-flag"], {"bogus_flag": 1}, "bogus"),
    ("train", ["--lora-rank", str(10**9)], {"lora_rank": 10**9}, "lora"),
    ("train", ["--lora-rank", "0"], {"lora_rank": 0}, "lora"),
    ("train", ["--lora-rank", "8", "--lora-targets", ""], {"lora_rank": 8, "lora_targets": ""}, "lora"),
    ("train", ["--lora-rank", "8", "--lora-targets", ","], {"lora_rank": 8, "lora_targets": ","}, "lora"),
    ("train", ["--lora-rank", "8", "--lora-targets", "bogus,q"],
     {"lora_rank": 8, "lora_targets": "bogus,q"}, "bogus"),
    ("train", ["--lora-targets", "q,v"], {"lora_targets": "q,v"}, "lora"),
    ("train", ["--seq", str(10**12)], {"seq": 10**12}, "seq"),
    ("train", ["--seq", "-1"], {"seq": -1}, "seq"),
    ("train", ["--micro-batch", str(10**12)], {"micro_batch": 10**12}, "micro"),
    ("train", ["--grad-accum", "0"], {"grad_accum": 0}, "grad"),
    ("train", ["--dp", "-2"], {"dp": -2}, "dp"),
    ("train", ["--zero", "5"], {"zero": 5}, "zero"),
    ("train", ["--fsdp", "bogus"], {"fsdp": "bogus"}, "fsdp"),
    ("train", ["--overhead", "nccl=-1GiB"], {"overhead": ["nccl=-1GiB"]}, "overhead"),
    # speed options (perf/setting.py): they need --gpu, and each is bounded
    ("infer", ["--input-len", "1000"], {"input_len": 1000}, "gpu"),
    ("infer", ["--price", "2.5"], {"price": 2.5}, "gpu"),
    ("infer", ["--gpu", "h100", "--input-len", "0"], {"gpu": "h100", "input_len": 0}, "input"),
    ("infer", ["--gpu", "h100", "--output-len", "-3"], {"gpu": "h100", "output_len": -3}, "output"),
    ("infer", ["--gpu", "h100", "--output-len", "1e30"], {"gpu": "h100", "output_len": 1e30}, "output"),
    ("infer", ["--gpu", "h100", "--concurrency", "0"], {"gpu": "h100", "concurrency": 0}, "concurrency"),
    ("infer", ["--gpu", "h100", "--concurrency", str(10**12)], {"gpu": "h100", "concurrency": 10**12},
     "concurrency"),
    ("infer", ["--gpu", "h100", "--mfu", "0"], {"gpu": "h100", "mfu": 0}, "mfu"),
    ("infer", ["--gpu", "h100", "--mfu", "1.5"], {"gpu": "h100", "mfu": 1.5}, "mfu"),
    ("infer", ["--gpu", "h100", "--mfu", "nan"], {"gpu": "h100", "mfu": float("nan")}, "mfu"),
    ("infer", ["--gpu", "h100", "--price", "h100=abc"], {"gpu": "h100", "price": "h100=abc"}, "price"),
    ("infer", ["--gpu", "h100", "--price", "-1"], {"gpu": "h100", "price": -1}, "price"),
    ("infer", ["--gpu", "h100", "--price", "inf"], {"gpu": "h100", "price": float("inf")}, "price"),
    ("infer", ["--gpu", "h100", "--price", "h200=2"], {"gpu": "h100", "price": "h200=2"}, "h200"),
    ("infer", ["--gpu", "h100", "--price", "nosuchgpu=2"], {"gpu": "h100", "price": "nosuchgpu=2"},
     "nosuchgpu"),
    ("infer", ["--gpu", "h100", "--input-len", "100", "--max-context"],
     {"gpu": "h100", "input_len": 100, "max_context": True}, "input"),
    ("infer", ["--gpu", "h100", "--method", "seed", "--mfu", "0.5"],
     {"gpu": "h100", "method": "seed", "mfu": 0.5}, "mfu"),
    ("train", ["--tokens", "1e12"], {"tokens": 1e12}, "gpu"),
    ("train", ["--mfu", "0.5"], {"mfu": 0.5}, "gpu"),
    ("train", ["--gpu", "h100", "--tokens", "0"], {"gpu": "h100", "tokens": 0}, "tokens"),
    ("train", ["--gpu", "h100", "--tokens", "-5"], {"gpu": "h100", "tokens": -5}, "tokens"),
    ("train", ["--gpu", "h100", "--tokens", "1e40"], {"gpu": "h100", "tokens": 1e40}, "tokens"),
    ("train", ["--gpu", "h100", "--tokens", "lots"], {"gpu": "h100", "tokens": "lots"}, "tokens"),
    ("train", ["--gpu", "h100", "--mfu", "-0.1"], {"gpu": "h100", "mfu": -0.1}, "mfu"),
    ("train", ["--gpu", "h100", "--price", "h100="], {"gpu": "h100", "price": "h100="}, "price"),
    ("params", ["--depth", "-1"], None, "depth"),
    ("params", ["--depth", "x"], None, "depth"),
    ("params", ["--hidden-size", "-64"], {"hidden_size": -64}, "hidden"),
    ("params", ["--num-layers", str(10**12)], {"num_layers": 10**12}, "layers"),
    ("params", ["--num-layers", "1e9"], {"num_layers": 1e9}, "layers"),
    ("params", ["--vocab-size", str(10**30)], {"vocab_size": 10**30}, "vocab"),
    ("params", ["--num-heads", "3"], {"num_heads": 3}, "heads"),
    ("params", ["--params", str(10**40)], {"params": 10**40}, "params"),
    ("params", ["--method", "bogus"], {"method": "bogus"}, "method"),
    ("summary", ["-c", "-1"], None, "ctx"),
    ("summary", ["-c", str(10**12)], None, "ctx"),
]

# Whole command lines, no model files: (id, argv, substring)
_ARGV: list[tuple[str, list[str], str]] = [
    ("unknown_top_option", ["--bogus"], "--bogus"),
    ("unknown_option_after_source", ["llama-2-7b", "--bogus"], "--bogus"),
    ("unknown_option_params", ["params", "llama-2-7b", "--bogus"], "--bogus"),
    ("unknown_command_typo", ["parmas", "--json"], "parmas"),
    ("source_newline", ["params", "no\nsuch"], "no"),
    ("source_missing_path", ["params", "./no/such/config.json"], "no such"),
    ("source_long", ["params", "y" * 5000], "y"),
    ("catalog_newline", ["catalog", "no\nmatch"], "catalog"),
    ("schema_bogus", ["schema", "bogus"], "bogus"),
    ("infer_no_source", ["infer"], "SOURCE"),
    ("train_no_source", ["train"], "SOURCE"),
    ("params_negative_flag_value", ["params", "--num-layers", "-3"], "num-layers"),
    ("infer_negative_batch", ["infer", "llama-2-7b", "-b", "-3"], "batch"),
]


def cases() -> list[Case]:
    """Every case of the corpus, each through the CLI and, where it has one, the API."""
    out: list[Case] = []
    for i, (cid, setup, expect) in enumerate(_config_cases()):  # each through one command in turn
        command, api_command = COMMANDS[i % len(COMMANDS)], API_COMMANDS[i % len(API_COMMANDS)]
        out.append(Case(f"cli-{command}-{cid}", setup, expect, argv=lambda s, c=command: [c, s],
                        tags=("config",)))
        out.append(Case(f"api-{api_command}-{cid}", setup, expect, api=(api_command, {}), tags=("config",)))
    for cid, setup, expect, hang in _FILES:
        for command in (*COMMANDS, "inspect"):
            if command == "inspect" and cid in ("huge_config", "device_config", "loop_config", "dir_config",
                                                "fifo_config_in_dir"):
                continue  # inspect reads checkpoints; a directory with a bad config and no weights
            out.append(Case(f"cli-{command}-{cid}", setup, expect, argv=lambda s, c=command: [c, s],
                            hang=hang, tags=("file",)))
        for command in API_COMMANDS:
            out.append(Case(f"api-{command}-{cid}", setup, expect, api=(command, {}), hang=hang,
                            tags=("file",)))
    llama = _config("llama", lambda cfg: None)
    for i, (command, flags, kwargs, expect) in enumerate(_OPTIONS):
        cid = f"{command}-{i:02d}-{' '.join(flags)[:40]}"
        out.append(Case(f"cli-opt-{cid}", llama, expect, argv=lambda s, c=command, f=flags: [c, s, *f],
                        tags=("option",)))
        if kwargs is not None:
            out.append(Case(f"api-opt-{cid}", llama, expect, api=(command, kwargs), tags=("option",)))
    for cid, argv, expect in _ARGV:
        out.append(Case(f"cli-argv-{cid}", lambda tmp: "", expect, argv=lambda s, a=argv: a, tags=("argv",)))
    return out


def snapshot(tmp: Path) -> dict[str, tuple[str, int, int]]:
    """What the case wrote, to check that llmsize changed and deleted nothing: (kind, size, mtime)."""
    out = {}
    for root, dirs, files in os.walk(tmp, followlinks=False):
        for name in dirs + files:
            p = os.path.join(root, name)
            st = os.lstat(p)
            out[p] = (oct(st.st_mode), st.st_size, st.st_mtime_ns)
    return out


# --- running one case -------------------------------------------------------------------------

TIME_LIMIT_S = 5.0


class Hung(Exception):
    """The case ran past ``TIME_LIMIT_S`` (raised from SIGALRM, which also interrupts a blocked open)."""


def _alarm(signum: int, frame: object) -> None:
    raise Hung(f"ran past {TIME_LIMIT_S} s")


def run_case(case: Case, tmp: Path) -> tuple[bool, str]:
    """(ended cleanly, why not) for one case: exit code 2 (CLI) or an ``LlmsizeError`` (API), one line
    naming the input, no traceback, within the time limit, and every file left as it was."""
    import signal
    import time

    source = case.setup(tmp)
    before = snapshot(tmp)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
    start = time.perf_counter()
    try:
        ok, why = _run_cli(case, source) if case.argv else _run_api(case, source)
    except Hung as e:
        ok, why = False, f"hang: {e}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    if ok and time.perf_counter() - start > TIME_LIMIT_S:
        ok, why = False, "too slow"
    if ok and snapshot(tmp) != before:
        ok, why = False, "a file was changed or deleted"
    return ok, why


def _line_ok(text: str, expect: str) -> tuple[bool, str]:
    if "Traceback" in text:
        return False, "traceback"
    lines = [line for line in text.splitlines() if not line.startswith("warning:")]
    if len(lines) != 1:
        return False, f"{len(lines)} error lines: {text[:200]!r}"
    if expect.lower() not in lines[0].lower():
        return False, f"does not name {expect!r}: {lines[0][:200]!r}"
    if len(lines[0]) > 1000:
        return False, f"a {len(lines[0])}-character line"
    return True, ""


def _run_cli(case: Case, source: str) -> tuple[bool, str]:
    import contextlib
    import io

    from llmsize.cli import main

    assert case.argv is not None
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(case.argv(source))
            except SystemExit as e:
                code = e.code
    except Hung:
        raise
    except BaseException as e:  # noqa: BLE001 - a crash is what the corpus looks for
        return False, f"crash: {type(e).__name__}: {str(e)[:120]}"
    if code != 2:
        return False, f"exit code {code}"
    return _line_ok(err.getvalue(), case.expect)


def _run_api(case: Case, source: str) -> tuple[bool, str]:
    import llmsize
    from llmsize.errors import LlmsizeError

    assert case.api is not None
    command, kwargs = case.api
    try:
        getattr(llmsize, command)(source, **kwargs)
    except Hung:
        raise
    except LlmsizeError as e:
        return _line_ok(str(e), case.expect)
    except BaseException as e:  # noqa: BLE001
        return False, f"crash: {type(e).__name__}: {str(e)[:120]}"
    return False, "no error"
