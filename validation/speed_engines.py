"""The optional engines of ``gpu_speed.py``: vLLM and llama.cpp's ``llama-bench``, each detected.

vLLM (``import vllm``): one subprocess per model, so that each engine's GPU memory is returned
when it exits and the budget can stop it (``subprocess.run(timeout=...)`` keeps the rows it
printed). The model is the catalog config written to a temporary directory, with dummy weights
(``load_format="dummy"``) and no tokenizer (``skip_tokenizer_init=True``, prompts as token ids),
prefix caching off (the timed runs would otherwise hit the warm-up's blocks). Per batch B:

    prefill_s = ttft_s = t(generate, max_tokens=1)          B prompts of input_len random tokens
    tpot_s = (t(max_tokens=N) − t(max_tokens=1)) / (N − 1)  min_tokens = N, ignore_eos

(medians of ``repeats`` after a warm-up; ``LLM.generate`` returns when every sequence is done).

llama.cpp (``llama-bench`` on PATH, GGUF files given): ``llama-bench -m FILE -p input_len -n
output_len -r repeats -ngl 99 -o json``. Its JSON has one record per test: prompt processing
(``n_prompt`` > 0, ``n_gen`` = 0) and generation from an empty context (``n_prompt`` = 0); each
carries ``avg_ns`` (mean time of one run) and ``avg_ts`` (mean tokens/s over the runs, as the
table prints it). One sequence only: batch 1. See llama.cpp tools/llama-bench/README.md.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .gpu_speed import Budget, Shape, speed_row

if TYPE_CHECKING:
    import argparse

TORCH_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
ROW_PREFIX = "GPU_SPEED_ROW "


def available(engines: list[str], *, device: str, gguf: list[str]) -> list[str]:
    """The engines asked for that can run here; a line on stderr for each left out."""
    out = []
    for e in engines:
        why = {"hf": None,
               "vllm": ("vLLM needs a CUDA GPU" if not device.startswith("cuda") else
                        None if importlib.util.find_spec("vllm") else "no vllm installed"),
               "llamacpp": (None if shutil.which("llama-bench") and gguf else
                            "no llama-bench on PATH" if gguf else "no --gguf file given"),
               }.get(e, "unknown engine")
        if why:
            print(f"gpu_measure --speed: {e} skipped ({why})", file=sys.stderr)
        else:
            out.append(e)
    return out


# --- vLLM -----------------------------------------------------------------------------------


def vllm_cells(name: str, cfg: dict[str, Any], shapes: list[Shape], budget: Budget, *, dtype: str,
               repeats: int) -> Iterable[dict[str, object]]:
    """Rows from a vLLM subprocess for this model; it is stopped when the budget runs out."""
    job = {"name": name, "config": cfg, "shapes": [asdict(s) for s in shapes], "dtype": dtype,
           "repeats": repeats, "seconds": budget.left()}
    cmd = [sys.executable, "-m", "validation.speed_engines", "vllm"]
    try:
        done = subprocess.run(cmd, input=json.dumps(job), capture_output=True, text=True,
                              timeout=max(budget.left(), 1), cwd=Path(__file__).resolve().parents[1])
        out, err = done.stdout, done.stderr if done.returncode else ""
    except subprocess.TimeoutExpired as e:
        out, err = _text(e.stdout), f"stopped: the time budget ran out\n{_text(e.stderr)}"
    if err:
        print(f"gpu_measure --speed: vllm {name}: {err.strip().splitlines()[-1]}", file=sys.stderr)
    for line in out.splitlines():
        if line.startswith(ROW_PREFIX):
            yield json.loads(line[len(ROW_PREFIX):])


def _text(b: bytes | str | None) -> str:
    return b.decode(errors="replace") if isinstance(b, bytes) else b or ""


def vllm_worker(job: dict[str, Any]) -> None:  # pragma: no cover - needs vLLM and a GPU
    """The subprocess: build the engine once, time each shape, print each row as it comes."""
    import time

    import vllm

    budget = Budget(job["seconds"])
    with tempfile.TemporaryDirectory() as d:
        Path(d, "config.json").write_text(json.dumps(job["config"]))
        shapes = [Shape(**s) for s in job["shapes"]]
        longest = max(s.input_len + s.output_len for s in shapes)
        llm = vllm.LLM(model=d, load_format="dummy", skip_tokenizer_init=True,
                       dtype=TORCH_DTYPES[job["dtype"]], enable_prefix_caching=False,
                       max_model_len=longest + 16, seed=0)
        vocab = int(job["config"].get("vocab_size") or 1000)
        extra = json.dumps({"load_format": "dummy", "prefix_caching": False})
        last = 0.0
        for shape in shapes:
            if not budget.allows(last):
                return
            start = time.monotonic()
            ttft, tpot = _vllm_times(vllm, llm, shape, vocab, job["repeats"])
            row = {"engine": "vllm", "engine_version": vllm.__version__, "dtype": job["dtype"],
                   "repeats": job["repeats"], "extra": extra, **speed_row(shape, ttft, ttft, tpot)}
            print(ROW_PREFIX + json.dumps(row), flush=True)
            last = time.monotonic() - start


def _vllm_times(vllm: Any, llm: Any, shape: Shape, vocab: int,
                repeats: int) -> tuple[float, float]:  # pragma: no cover - needs vLLM
    """(ttft_s, tpot_s): t(max_tokens=1), and (t(max_tokens=N) − t(max_tokens=1)) / (N − 1)."""
    import random

    from .gpu_speed import median_time

    def run(n: int) -> object:
        prompts = [{"prompt_token_ids": [random.randrange(vocab) for _ in range(shape.input_len)]}
                   for _ in range(shape.batch)]
        params = vllm.SamplingParams(max_tokens=n, min_tokens=n, ignore_eos=True, temperature=0.0,
                                     detokenize=False)
        return llm.generate(prompts, params, use_tqdm=False)

    first = median_time(lambda: run(1), lambda: None, repeats)
    total = median_time(lambda: run(shape.output_len), lambda: None, repeats)
    return first, max(total - first, 0.0) / (shape.output_len - 1)


# --- llama.cpp ------------------------------------------------------------------------------


def gguf_weights(model_type: str) -> str:
    """llama-bench's ``model_type`` ("llama 8B Q4_K - Medium") → llmsize's format name (q4_k_m)."""
    m = re.match(r"^\S+ \S+ (\S+)(?: - (\w+))?", model_type)
    if not m:
        return ""
    size = {"Small": "_s", "Medium": "_m", "Large": "_l"}.get(m.group(2) or "", "")
    return m.group(1).lower() + size


def parse_llama_bench(text: str, *, model: str, repeats: int) -> list[dict[str, object]]:
    """Rows from ``llama-bench -o json`` output: one per (prompt test, generation test) pair of the
    same file, batch 1. prefill_s is the prompt test's ``avg_ns``; tpot_s the generation test's
    ``avg_ns`` / ``n_gen``; llama-bench's printed rates (``avg_ts``) go to ``extra``."""
    tests = json.loads(text)
    pps = [t for t in tests if t["n_prompt"] > 0 and t["n_gen"] == 0]
    tgs = [t for t in tests if t["n_gen"] > 0 and t["n_prompt"] == 0]
    rows = []
    for pp in pps:
        for tg in (t for t in tgs if t["model_filename"] == pp["model_filename"]):
            shape = Shape(1, pp["n_prompt"], tg["n_gen"])
            prefill = pp["avg_ns"] / 1e9
            extra = {"pp_tokens_per_s": pp["avg_ts"], "tg_tokens_per_s": tg["avg_ts"],
                     "n_gpu_layers": pp.get("n_gpu_layers"), "model_type": pp.get("model_type", ""),
                     "tg_depth": 0, "ttft": "= prefill_s (llama-bench times no first token)"}
            rows.append({"engine": "llamacpp", "engine_version": f"b{pp.get('build_number', '')} "
                         f"({pp.get('build_commit', '')})", "model": model, "config": "",
                         "dtype": gguf_weights(pp.get("model_type", "")), "repeats": repeats,
                         "extra": json.dumps(extra),
                         **speed_row(shape, prefill, prefill, tg["avg_ns"] / 1e9 / tg["n_gen"])})
    return rows


def llamacpp_cells(path: str, model: str | None, args: argparse.Namespace,
                   budget: Budget) -> list[dict[str, object]]:  # pragma: no cover - needs llama-bench
    if not budget.allows():
        print(f"gpu_measure --speed: out of time before llama-bench {path}", file=sys.stderr)
        return []
    cmd = ["llama-bench", "-m", path, "-p", str(args.input_len), "-n", str(args.output_len),
           "-r", str(args.repeats), "-ngl", "99", "-o", "json"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=max(budget.left(), 1), check=True)
    except (subprocess.TimeoutExpired, subprocess.CalledProcessError) as e:
        print(f"gpu_measure --speed: llama-bench {path}: {type(e).__name__}", file=sys.stderr)
        return []
    return parse_llama_bench(done.stdout, model=model or Path(path).stem, repeats=args.repeats)


if __name__ == "__main__":  # pragma: no cover - the vLLM subprocess
    if sys.argv[1:] == ["vllm"]:
        vllm_worker(json.loads(sys.stdin.read()))
