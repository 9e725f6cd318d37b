"""The fit verdict on every engine and on training: at the boundary (one byte under and over the
budget), with the GPU's usable memory from the catalog, COUNT against the layout, and warnings.

The vLLM boundary is checked against vLLM's own start-up check (``vllm_startup`` mirrors
``check_enough_kv_cache_memory``): the verdict must say "fits" exactly where vLLM would start.
"""

from __future__ import annotations

import pytest
from cli_run import run

import llmsize
from llmsize.errors import LlmsizeError
from llmsize.hardware import gpu
from llmsize.hardware.fit import Target, crossing, judge
from llmsize.inference.engines import vllm_config
from llmsize.inference.vllm import VllmWontStart, vllm_startup
from llmsize.sources.catalog import lookup
from llmsize.sources.hf_config import from_hf_config
from llmsize.units import GB, GiB

SMALL = "qwen3-0.6b"


@pytest.mark.parametrize("engine", ["hf", "llamacpp"])
def test_boundary_one_byte_under_and_over(engine):
    total = llmsize.infer(SMALL, ctx_size=4096, engine=engine, gpu_mem=GiB).total_bytes
    at = llmsize.infer(SMALL, ctx_size=4096, engine=engine, gpu_mem=total)
    under = llmsize.infer(SMALL, ctx_size=4096, engine=engine, gpu_mem=total - 1)
    assert at.total_bytes == under.total_bytes == total  # the GPU's size does not change the estimate
    assert at.verdict.fits and at.verdict.headroom_bytes == 0
    assert not under.verdict.fits and under.verdict.headroom_bytes == -1


def test_vllm_boundary_is_where_vllm_starts():
    first = llmsize.infer(SMALL, ctx_size=4096, engine="vllm", gpu_mem=8 * GiB, gpu_util=1.0)
    need = first.verdict.need_bytes
    arch = from_hf_config(lookup(SMALL).config, SMALL)[0]
    for budget, fits in ((need, True), (need - 1, False)):
        r = llmsize.infer(SMALL, ctx_size=4096, engine="vllm", gpu_mem=budget, gpu_util=1.0)
        assert r.verdict.fits is fits and r.verdict.need_bytes == need
        cfg = vllm_config(r.spec)
        if fits:
            vllm_startup(arch, weights_bytes=r.weights_all_gpus, cfg=cfg)
        else:
            with pytest.raises(VllmWontStart):
                vllm_startup(arch, weights_bytes=r.weights_all_gpus, cfg=cfg)


def test_train_boundary():
    total = llmsize.train(SMALL, seq=1024).total_bytes
    assert llmsize.train(SMALL, seq=1024, gpu_mem=total).verdict.fits
    assert not llmsize.train(SMALL, seq=1024, gpu_mem=total - 1).verdict.fits


def test_host_memory_boundary_llamacpp():
    r = llmsize.infer(SMALL, ctx_size=4096, engine="llamacpp", n_gpu_layers=4, gpu_mem=8 * GiB)
    host = r.verdict.host_need_bytes
    assert host and host == r.extra["llamacpp"]["host_bytes"]
    assert llmsize.infer(SMALL, ctx_size=4096, engine="llamacpp", n_gpu_layers=4, host_mem=host).verdict.fits
    short = llmsize.infer(SMALL, ctx_size=4096, engine="llamacpp", n_gpu_layers=4, host_mem=host - 1).verdict
    assert not short.fits and "host side needs" in short.reason


def test_default_gpu_is_named():
    v = llmsize.infer(SMALL, ctx_size=4096).verdict
    assert v.default_gpu and v.gpu == "h100-sxm" and v.budget_bytes == gpu("h100-sxm").usable_bytes
    assert "default GPU" in v.line()


@pytest.mark.parametrize("engine", ["vllm", "llamacpp"])
def test_engines_take_the_catalog_usable_memory(engine):
    r = llmsize.infer(SMALL, ctx_size=4096, engine=engine, gpu="l4")
    assert r.spec.gpu_mem == gpu("l4").usable_bytes and r.verdict.gpu == "l4"
    if engine == "vllm":
        assert r.extra["vllm"]["gpu_memory_bytes"] == gpu("l4").usable_bytes
    over = llmsize.infer(SMALL, ctx_size=4096, engine=engine, gpu="l4", gpu_mem="20GiB")
    assert over.spec.gpu_mem == 20 * GiB and "replacing l4's usable" in over.verdict.budget_source


def test_gpu_mem_in_gb_shows_both_units():
    v = llmsize.infer(SMALL, ctx_size=4096, gpu_mem="80GB").verdict
    assert v.budget_bytes == 80 * GB
    assert "74.51 GiB = 80.00 GB" in v.line()


def test_the_issue_cases():
    # "the hf engine ignores the GPU size: 17.43 GiB needed on a 12 GiB card, exit 0, no verdict"
    r = llmsize.infer("llama-3.1-8b", ctx_size=8192, gpu_mem="12GiB")
    assert not r.verdict.fits and r.total_bytes > 12 * GiB
    assert r.verdict.reason.startswith("KV at 8,192 tokens: needs") or r.verdict.reason.startswith("weights")
    # llama.cpp at -c 32768 on a 12 GiB card: does not fit with every layer, and says which -ngl does
    cpp = llmsize.infer("llama-3.1-8b", ctx_size=32768, engine="llamacpp", gpu_mem="12GiB").verdict
    assert not cpp.fits and "-ngl" in cpp.reason
    # vLLM at a context that does not start: a verdict, not an exception naming gpu_memory_utilization
    v = llmsize.infer("llama-3.1-8b", ctx_size=131072, engine="vllm", gpu="l4").verdict
    assert not v.fits and v.reason.startswith("KV at 131,072 tokens (one max_model_len request): needs")
    assert "--gpu-util" in v.reason


def test_crossing_names_the_part_and_the_free_bytes():
    parts = [("weights", 10 * GiB), ("KV at 32,768 tokens", 5 * GiB), ("overhead", GiB)]
    assert crossing(parts, int(10.9 * GiB)) == "KV at 32,768 tokens: needs 5.00 GiB, 0.90 GiB free"
    target = Target(None, 1, 20 * GiB, "--gpu-mem")
    assert judge(parts, target).reason.startswith("4.00 GiB free")


def test_count_sets_tp_or_dp_and_must_agree():
    assert llmsize.infer(SMALL, ctx_size=4096, gpu="h100:2").spec.layout.tp == 2
    assert llmsize.infer(SMALL, ctx_size=4096, gpu="h100:2").verdict.count == 2
    assert llmsize.infer(SMALL, ctx_size=4096, gpu="h100", tp=2).verdict.count == 2  # no count: the layout's
    assert llmsize.infer(SMALL, ctx_size=4096, gpu="h100:2", pp=2).spec.layout.tp == 1
    with pytest.raises(LlmsizeError, match=r"h100:2 names 2 GPUs but tp 4 × pp 1 = 4"):
        llmsize.infer(SMALL, ctx_size=4096, gpu="h100:2", tp=4)
    with pytest.raises(LlmsizeError, match="llamacpp sizes one GPU"):
        llmsize.infer(SMALL, ctx_size=4096, engine="llamacpp", gpu="rtx-4090:2")
    t = llmsize.train(SMALL, seq=1024, gpu="a100:8", zero=3)
    assert t.spec.layout.dp == 8 and t.verdict.count == 8
    with pytest.raises(LlmsizeError, match=r"names 8 GPUs but dp 1 × tp 2 × pp 1 × cp 1 = 2"):
        llmsize.train(SMALL, seq=1024, gpu="a100:8", tp=2)


def test_warnings():
    r = llmsize.infer(SMALL, ctx_size=50_000)  # Qwen3-0.6B: max_position_embeddings 40,960
    assert any("beyond the model's maximum context 40,960" in w for w in r.warnings)
    t = llmsize.train(SMALL, seq=1024, zero=3)
    assert any("zero 3 shards over one data-parallel rank" in w for w in t.warnings)
    assert not any("shards over one" in w for w in llmsize.train(SMALL, seq=1024, zero=3, dp=2).warnings)
    assert any("host_mem is inert without offload" in w
               for w in llmsize.train(SMALL, seq=1024, host_mem="64GiB").warnings)
    hf = llmsize.infer(SMALL, ctx_size=4096, host_mem="64GiB")
    assert any("host_mem is inert" in w for w in hf.warnings)


def test_cli_prints_the_verdict(capsys):
    code, out, err = run(capsys, "infer", SMALL, "-c", "4096", "--gpu", "NVIDIA GeForce RTX 4090")
    assert code == 0 and "VERDICT: fits on 1× NVIDIA GeForce RTX 4090 24GB" in out
    code, out, err = run(capsys, "train", SMALL, "--zero", "3")
    assert code == 0 and "VERDICT:" in out and "zero 3 shards over one data-parallel rank" in err
    code, out, err = run(capsys, "infer", SMALL, "--gpu", "h100:2", "--tp", "4")
    assert code == 2 and err.count("\n") == 1 and "--gpu h100:2 names 2 GPUs but --tp 4 × --pp 1 = 4" in err
