"""``--engine llamacpp``: buffers checked against llama.cpp's own start-up logs.

Each log case below is a llama.cpp log printed in a public GitHub thread (URL and turn given);
the model's shapes come from the bundled catalog (the HF ``config.json``). Buffer sizes are
compared as llama.cpp prints them (``%.2f`` MiB): the KV and model buffers must match exactly;
the compute buffers come from a model of ggml-alloc's peak (see ``memory/llamacpp.py``) and must
land within ``COMPUTE_TOLERANCE`` of the log. Run with ``-s`` to see the comparison table.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field, replace

import pytest

from llmsize.arch import Architecture
from llmsize.errors import CheckpointError, ConfigError
from llmsize.inference.llamacpp import (
    LlamaCppConfig,
    LlamaCppWeights,
    geometry,
    kv_widths,
    weights_from_gguf,
)
from llmsize.inference.llamacpp_plan import device_bytes, llamacpp_plan, max_gpu_layers
from llmsize.sources import catalog
from llmsize.sources.hf_config import from_hf_config
from llmsize.tree import Part
from llmsize.units import GiB, MiB

COMPUTE_TOLERANCE = 0.01  # relative; the worst case (ollama #4139, partial offload) is +0.41 %


def arch_of(name: str) -> Architecture:
    arch, _ = from_hf_config(catalog.lookup(name).config, name)
    return arch


def no_weights(arch: Architecture) -> LlamaCppWeights:
    return LlamaCppWeights((0,) * arch.n_layers, 0, 0)


def q6_k_weights(arch: Architecture) -> LlamaCppWeights:
    """A llama-architecture Q6_K GGUF: every matrix Q6_K (256 weights in 2 + 128 + 64 + 16 = 210
    bytes, ggml ``block_q6_K``), norms F32. Per block: q, k, v, o, gate, up, down + 2 norms."""
    d, kv, ff = arch.d_model, arch.n_kv_heads * arch.head_dim, arch.d_ff
    q6k = 2 + 256 // 2 + 256 // 4 + 256 // 16
    matrices = 2 * d * d + 2 * d * kv + 3 * d * ff
    layer = matrices // 256 * q6k + 2 * d * 4
    embd = arch.vocab_size * d // 256 * q6k
    return LlamaCppWeights((layer,) * arch.n_layers, embd, embd + d * 4)


def mib(n: int) -> str:
    """As llama.cpp prints it: ``%8.2f`` of bytes / 1024 / 1024."""
    return f"{n / MiB:.2f}"


def node(root: Part, prefix: str) -> Part:
    """The first node named ``prefix…``; an empty one when the tree dropped it for being zero."""
    return next((p for _, p in root.walk() if p.name.startswith(prefix)), Part(prefix, 0))


@dataclass(frozen=True)
class LogCase:
    """One printed log: where it is, what ran, and the buffer lines it printed (MiB)."""

    id: str
    url: str
    model: str
    cfg: LlamaCppConfig
    exact: dict[str, str]  # "device:KV buffer" → "1536.00"
    compute: dict[str, float] = field(default_factory=dict)
    weights: str = "none"  # "q6_k": build the per-block bytes of a Q6_K file
    note: str = ""


LOGS = [
    LogCase(
        "llama3-8b-q6k-ngl10",
        "https://github.com/ggml-org/llama.cpp/issues/8463 (turn 5, GTX 1060 6GB)",
        "llama-3-8b",
        LlamaCppConfig(n_ctx=8192, n_batch=2048, n_ubatch=512, flash_attn="off", n_gpu_layers=10),
        # "offloaded 10/33 layers", "CUDA0 buffer size = 1706.56 MiB", "CPU buffer size = 6282.97"
        # (the mmap'd file: all of it), "CUDA_Host KV buffer size = 704.00", "CUDA0 KV ... 320.00"
        {"device:model buffer": "1706.56", "weights:total": "6282.97",
         "host:KV buffer": "704.00", "device:KV buffer": "320.00"},
        weights="q6_k",
        # the file type is read off the sizes: 6282.97 MiB is Llama-3-8B with every matrix Q6_K
        # (and 1706.56 MiB is 10 such blocks), which no other ggml type gives
        note="the 10 offloaded blocks are blk.22–31",
    ),
    LogCase(
        "llama3-8b-ollama-ngl16",
        "https://github.com/ollama/ollama/issues/4139 (turn 17)",
        "llama-3-8b",
        # ollama ran 12 parallel slots × 2048 in one unified cache, with embeddings on (the
        # output buffer 6.06 MiB = 12 × (128256 + 4096) × 4 B); no flash attention in that build
        LlamaCppConfig(n_ctx=24576, n_seq=12, kv_unified=True, embeddings=True, n_batch=512,
                       n_ubatch=512, flash_attn="off", n_gpu_layers=16),
        {"host:KV buffer": "1536.00", "device:KV buffer": "1536.00",
         "host:output buffer": "6.06", "host:compute buffer": "56.01"},
        compute={"device:compute buffer": 1705.00},
    ),
    LogCase(
        "qwen2.5-3b-llamasharp",
        "https://github.com/SciSharp/LLamaSharp/issues/1099 (turn 5, build 4701)",
        "qwen2.5-3b",
        # 36 blocks, n_embd_k_gqa 256, 434 tensors (tied): Qwen2.5-3B; its 144.00 MiB KV is
        # 4096 cells, which is the context the compute buffers are checked at (so the KV line is
        # a consistency check here, not an independent one)
        LlamaCppConfig(n_ctx=4096, flash_attn="off"),
        {"device:KV buffer": "144.00", "host:output buffer": "0.58", "host:compute buffer": "12.01"},
        compute={"device:compute buffer": 300.75},
    ),
    LogCase(
        "qwen3-1.7b-fa",
        "https://github.com/withcatai/node-llama-cpp/issues/560 (2026-02-25, --contextSize 4096 --fa)",
        "qwen3-1.7b",
        LlamaCppConfig(n_ctx=4096, flash_attn="on"),
        # "llama_kv_cache: size = 448.00 MiB (4096 cells, 28 layers, 1/1 seqs), K (f16): 224.00
        # MiB, V (f16): 224.00 MiB"; "CUDA0 compute buffer size = 300.75"; "CUDA_Host ... 16.01"
        {"device:KV buffer": "448.00", "device:K full": "224.00", "device:V full": "224.00",
         "host:compute buffer": "16.01"},
        compute={"device:compute buffer": 300.75},
    ),
    LogCase(
        "qwen2.5-32b-q8_0",
        "https://github.com/ggml-org/llama.cpp/issues/11200 (kv_size = 32768, type_k = 'q8_0')",
        "qwen2.5-32b",
        # Qwen2.5-Coder-32B (same shapes); split over two GPUs, so only the totals are compared:
        # "KV self size = 4352.00 MiB, K (q8_0): 2176.00 MiB, V (q8_0): 2176.00 MiB"
        LlamaCppConfig(n_ctx=32768, cache_type_k="q8_0", cache_type_v="q8_0"),
        {"device:KV buffer": "4352.00", "device:K full": "2176.00", "device:V full": "2176.00",
         "host:output buffer": "0.58"},
    ),
    LogCase(
        "deepseek-r1-mla-q8_0",
        "https://github.com/ikawrakow/ik_llama.cpp/pull/259 (turn 9, n_ctx_slot=32768)",
        "deepseek-r1",
        # ik_llama.cpp caches only the latent ("c^KV (q8_0): 1166.62 MiB, kv^T: not used"), the
        # layout mainline llama.cpp adopted in PR #19067: 61 × 32768 × row_q8_0(512 + 64)
        LlamaCppConfig(n_ctx=32768, cache_type_k="q8_0", cache_type_v="q8_0"),
        {"device:KV buffer": "1166.62"},
    ),
]


def measured(plan, weights: LlamaCppWeights, key: str) -> int:
    side, name = key.split(":")
    if side == "weights":
        return weights.total
    return node(plan.device if side == "device" else plan.host, name).value


@pytest.mark.parametrize("case", LOGS, ids=lambda c: c.id)
def test_against_llamacpp_logs(case: LogCase) -> None:
    arch = arch_of(case.model)
    weights = q6_k_weights(arch) if case.weights == "q6_k" else no_weights(arch)
    plan = llamacpp_plan(arch, weights, case.cfg)
    print(f"\n{case.id}  ({case.url})")
    for key, logged in case.exact.items():
        ours = mib(measured(plan, weights, key))
        print(f"  {key:28} log {logged:>9}  ours {ours:>9}")
        assert ours == logged, f"{key}: llama.cpp printed {logged} MiB, we size {ours}"
    for key, logged in case.compute.items():
        ours = measured(plan, weights, key) / MiB
        print(f"  {key:28} log {logged:9.2f}  ours {ours:9.2f}  ({ours / logged - 1:+.2%})")
        assert abs(ours / logged - 1) <= COMPUTE_TOLERANCE


# --- exact rules: quantized rows, padding, placement, SWA, MLA ----------------------------------


@pytest.mark.parametrize("model", ["llama-3-8b", "qwen2.5-7b", "gemma-2-9b", "deepseek-v2-lite"])
@pytest.mark.parametrize(("qtype", "ratio"), [("q8_0", (34, 64)), ("q4_0", (18, 64))])
def test_quantized_kv_is_block_ratio_of_f16(model: str, qtype: str, ratio: tuple[int, int]) -> None:
    """A block of 32 values: 2-byte scale + 32 int8 (34 B) or 16 nibble bytes (18 B), vs 64 B in f16."""
    arch = arch_of(model)
    f16 = llamacpp_plan(arch, no_weights(arch), LlamaCppConfig(n_ctx=8192))
    quant = llamacpp_plan(arch, no_weights(arch), LlamaCppConfig(n_ctx=8192, cache_type_k=qtype,
                                                                 cache_type_v=qtype))
    kv_f16, kv_q = node(f16.device, "KV buffer").value, node(quant.device, "KV buffer").value
    assert kv_q * ratio[1] == kv_f16 * ratio[0]


def test_quantized_cache_needs_whole_blocks_and_flash_attention() -> None:
    phi2 = arch_of("phi-2")  # head_dim 80 is not a multiple of 32
    with pytest.raises(ConfigError, match="multiple of 32"):
        llamacpp_plan(phi2, no_weights(phi2), LlamaCppConfig(n_ctx=2048, cache_type_k="q8_0"))
    with pytest.raises(ConfigError, match="flash attention"):
        LlamaCppConfig(n_ctx=2048, cache_type_v="q4_0", flash_attn="off")
    with pytest.raises(ConfigError, match="choose from"):
        LlamaCppConfig(n_ctx=2048, cache_type_k="q5_1")


def test_context_padding_and_streams() -> None:
    """llama-context.cpp: n_ctx → pad(n_ctx, 256); per stream pad(n_ctx / n_seq, 256)."""
    arch = arch_of("llama-3-8b")
    assert geometry(arch, LlamaCppConfig(n_ctx=5000)).n_ctx == 5120
    split = geometry(arch, LlamaCppConfig(n_ctx=8192, n_seq=3))
    assert (split.cells, split.n_stream, split.n_ctx) == (2816, 3, 8448)
    unified = geometry(arch, LlamaCppConfig(n_ctx=8192, n_seq=3, kv_unified=True))
    assert (unified.cells, unified.n_stream) == (8192, 1)
    small = geometry(arch, LlamaCppConfig(n_ctx=100))
    assert (small.n_ctx, small.n_tokens) == (256, 100)  # the batch is cut to -c before padding
    assert geometry(arch, LlamaCppConfig(n_ctx=0)).n_ctx == arch.max_position


def test_ngl_offloads_the_last_blocks_then_the_output_layer() -> None:
    arch = arch_of("llama-3-8b")
    w = q6_k_weights(arch)
    layer, L = w.layer_bytes[0], arch.n_layers
    for ngl in (0, 1, 10, L, L + 1, 99):
        plan = llamacpp_plan(arch, w, LlamaCppConfig(n_ctx=4096, n_gpu_layers=ngl))
        blocks = min(ngl, L)
        output = w.output_bytes if ngl > L else 0
        assert node(plan.device, "model buffer").value == blocks * layer + output
        assert node(plan.host, "model buffer").value == w.input_bytes + (L - blocks) * layer + (
            w.output_bytes if ngl <= L else 0)
        assert plan.output_offloaded == (ngl > L)
    partial = llamacpp_plan(arch, w, LlamaCppConfig(n_ctx=512, n_gpu_layers=10))
    assert any("blk.22–31" in p.name for _, p in partial.device.walk())


def test_kv_stays_on_host_with_no_kv_offload() -> None:
    arch = arch_of("qwen2.5-7b")
    plan = llamacpp_plan(arch, no_weights(arch), LlamaCppConfig(n_ctx=8192, offload_kqv=False))
    assert node(plan.host, "KV buffer").value == 28 * 2 * 512 * 2 * 8192
    assert node(plan.device, "KV buffer").value == 0


def test_gemma2_iswa_cache() -> None:
    """PR #13194: "The size of the SWA cache is computed as PAD(n_swa*n_seq_max + n_batch)" (the
    ubatch since); iSWA code: min(size_base, GGML_PAD(n_swa·(unified ? n_seq : 1) + n_ubatch, 256))."""
    arch = arch_of("gemma-2-9b")  # 42 layers alternating window 4096 / global, 8 kv heads × 256
    row = 8 * 256 * 2
    plan = llamacpp_plan(arch, no_weights(arch), LlamaCppConfig(n_ctx=8192))
    assert node(plan.device, "KV buffer").value == 2 * row * 21 * (8192 + 4608)
    assert geometry(arch, LlamaCppConfig(n_ctx=8192, swa_full=True)).swa_cells == 8192
    assert geometry(arch, LlamaCppConfig(n_ctx=32768, n_seq=4, kv_unified=True)).swa_cells == 16896
    per_stream = geometry(arch, LlamaCppConfig(n_ctx=32768, n_seq=4))
    assert (per_stream.cells, per_stream.swa_cells) == (8192, 4608)


def test_all_sliding_models_get_a_full_cache() -> None:
    """Mistral-7B-v0.1 converts to the llama architecture without its window: a full cache."""
    arch = arch_of("mistral-7b-v0.1")
    plan = llamacpp_plan(arch, no_weights(arch), LlamaCppConfig(n_ctx=32768))
    assert node(plan.device, "KV buffer").value == 32 * 2 * 1024 * 2 * 32768


def test_mla_caches_the_latent_only() -> None:
    """DeepSeek-V2-Lite: K = d_c + d^R_h = 576 per token and layer; V only before PR #19067."""
    arch = arch_of("deepseek-v2-lite")
    assert kv_widths(arch, LlamaCppConfig(n_ctx=1)) == (576, 0)
    assert kv_widths(arch, LlamaCppConfig(n_ctx=1, mla_v_cache=True)) == (576, 512)
    plan = llamacpp_plan(arch, no_weights(arch), LlamaCppConfig(n_ctx=4096))
    assert node(plan.device, "KV buffer").value == 27 * 576 * 2 * 4096


def test_flash_attention_removes_the_kq_matrix() -> None:
    """Without flash attention the F32 scores n_kv·T·heads are live; with it they never exist."""
    arch = arch_of("llama-3-8b")
    cfg = LlamaCppConfig(n_ctx=32768, flash_attn="off")
    off = llamacpp_plan(arch, no_weights(arch), cfg)
    on = llamacpp_plan(arch, no_weights(arch), replace(cfg, flash_attn="auto"))
    assert node(off.device, "KQ scores").value == 32768 * 512 * 32 * 4
    assert node(off.device, "compute buffer").value > 32768 * 512 * 32 * 4
    assert node(on.device, "compute buffer").value < 400 * MiB


def test_output_buffer() -> None:
    """output_reserve(n_seq_max): n_seq rows of V logits (+ d_model with --embeddings), F32."""
    arch = arch_of("llama-3-8b")
    plan = llamacpp_plan(arch, no_weights(arch), LlamaCppConfig(n_ctx=4096, n_seq=4))
    assert node(plan.host, "output buffer").value == 4 * 128256 * 4


# --- fitting --------------------------------------------------------------------------------


def test_device_bytes_grow_with_ngl() -> None:
    arch = arch_of("llama-3-8b")
    w, cfg = q6_k_weights(arch), LlamaCppConfig(n_ctx=8192)
    sizes = [device_bytes(arch, w, cfg, ngl) for ngl in range(arch.n_layers + 2)]
    assert sizes == sorted(sizes)


@pytest.mark.parametrize("model", ["llama-3-8b", "gemma-2-9b", "qwen2.5-7b"])
def test_max_gpu_layers_is_the_largest_that_fits(model: str) -> None:
    arch = arch_of(model)
    w, cfg = q6_k_weights(arch), LlamaCppConfig(n_ctx=8192)
    previous = -1
    for gib in (1, 2, 3, 4, 6, 8, 12, 16, 24, 80):
        ngl = max_gpu_layers(arch, w, cfg, gib * GiB)
        assert ngl >= previous
        previous = ngl
        budget = replace(cfg, gpu_memory_bytes=gib * GiB)
        if ngl > 0:
            assert llamacpp_plan(arch, w, replace(budget, n_gpu_layers=ngl)).fits
        if ngl <= arch.n_layers:
            assert not llamacpp_plan(arch, w, replace(budget, n_gpu_layers=ngl + 1)).fits
    assert max_gpu_layers(arch, w, cfg, 80 * GiB) == arch.n_layers + 1
    with pytest.raises(ConfigError):
        max_gpu_layers(arch, w, cfg)


# --- trees, inputs, purity ------------------------------------------------------------------


@pytest.mark.parametrize("model", ["llama-3-8b", "gemma-2-9b", "deepseek-v2-lite", "qwen3-1.7b"])
@pytest.mark.parametrize("cfg", [
    LlamaCppConfig(n_ctx=8192),
    LlamaCppConfig(n_ctx=8192, flash_attn="off", n_gpu_layers=5),
    LlamaCppConfig(n_ctx=4096, n_seq=4, n_gpu_layers=0, op_offload=False),
    LlamaCppConfig(n_ctx=4096, n_seq=3, cache_type_k="q8_0", cache_type_v="q8_0", offload_kqv=False),
])
def test_trees_sum_to_their_totals(model: str, cfg: LlamaCppConfig) -> None:
    arch = arch_of(model)
    dense = arch.moe is None and arch.mla is None
    plan = llamacpp_plan(arch, q6_k_weights(arch) if dense else no_weights(arch), cfg)
    for side in (plan.device, plan.host):
        for _, p in side.walk():
            if p.parts:
                assert p.value == sum(c.value for c in p.parts), p.name


def test_cpu_only_runs_the_whole_graph_on_the_host() -> None:
    arch = arch_of("llama-3-8b")
    plan = llamacpp_plan(arch, q6_k_weights(arch),
                         LlamaCppConfig(n_ctx=2048, n_gpu_layers=0, op_offload=False, flash_attn="off"))
    assert plan.device.value == 0
    assert node(plan.host, "compute buffer").value == 258.5 * MiB  # logits + final hidden, T = 512


def test_rejects_what_it_cannot_size() -> None:
    t5 = arch_of("t5-small")
    with pytest.raises(ConfigError):
        llamacpp_plan(t5, no_weights(t5), LlamaCppConfig(n_ctx=512))
    arch = arch_of("llama-3-8b")
    with pytest.raises(ConfigError, match="block sizes"):
        llamacpp_plan(arch, LlamaCppWeights((1,), 0, 0), LlamaCppConfig(n_ctx=512))


def _gguf(path, *, tied: bool) -> str:
    gguf = pytest.importorskip("gguf")
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    tensors = {"token_embd.weight": (16, 8), "output_norm.weight": (8,)}
    if not tied:
        tensors["output.weight"] = (16, 8)
    for i in range(2):
        tensors |= {f"blk.{i}.attn_q.weight": (8, 8), f"blk.{i}.attn_norm.weight": (8,)}
    for name, shape in tensors.items():
        w.add_tensor(name, np.zeros(shape, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return str(path)


@pytest.mark.parametrize("tied", [False, True])
def test_weights_from_gguf(tmp_path, tied: bool) -> None:
    from llmsize.sources.gguf import read_gguf

    ckpt = read_gguf(_gguf(tmp_path / "m.gguf", tied=tied))
    w = weights_from_gguf(ckpt)
    assert w.layer_bytes == (8 * 8 * 4 + 8 * 4,) * 2
    assert w.input_bytes == 16 * 8 * 4
    assert w.output_bytes == 8 * 4 + 16 * 8 * 4  # output.weight, or the token_embd copy
    assert w.tied == tied
    assert w.total == ckpt.stored_bytes


def test_weights_from_gguf_needs_blocks(tmp_path) -> None:
    from llmsize.sources.checkpoint import Checkpoint, TensorInfo

    ckpt = Checkpoint("gguf", "x.gguf", (TensorInfo("token_embd.weight", "F32", (4, 4), 64),))
    with pytest.raises(CheckpointError):
        weights_from_gguf(ckpt)


def test_core_imports_no_numpy_torch_or_gguf() -> None:
    code = ("import sys, llmsize.inference.llamacpp_plan; "
            "print([m for m in ('numpy', 'torch', 'gguf') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the CLI/API flags (-b, -ub, -np, --kv-unified, -fa) against printed logs ------------------


@dataclass(frozen=True)
class FlagCase:
    """A printed log reproduced through ``llmsize.infer`` with the flags its command line used."""

    id: str
    url: str
    model: str
    options: dict[str, object]
    kv_mib: str  # "CUDA0 KV buffer size", exact
    compute_mib: float  # "CUDA0 compute buffer size", within COMPUTE_TOLERANCE
    held_out: bool  # True: not among the logs ATTN_HIDDEN_TENSORS / ATTN_QUERY_TENSORS were fitted on


FLAG_CASES = [
    FlagCase("ollama-np12-unified-b512", "https://github.com/ollama/ollama/issues/4139 (turn 17)",
             "llama-3-8b", {"ctx_size": 2048, "parallel": 12, "kv_unified": True, "batch_size": 512,
                            "flash_attn": "off", "n_gpu_layers": 16}, "1536.00", 1705.00, held_out=False),
    FlagCase("qwen3-1.7b-fa-on", "https://github.com/withcatai/node-llama-cpp/issues/560 (2026-02-25)",
             "qwen3-1.7b", {"ctx_size": 4096, "flash_attn": "on"}, "448.00", 300.75, held_out=False),
    # Mistral-7B-Instruct-v0.2 shapes (32 × 8 × 128, rope 1e6: 4096.00 MiB of f16 KV at 32768 cells),
    # llama-server -c 32768 -b 512, no flash attention: "CUDA0 compute buffer size = 2144.00 MiB".
    # Never used to fit anything: the held-out check of the compute model at a long context.
    FlagCase("mistral-7b-c32768-b512", "https://github.com/fedora-copr/logdetective/pull/106",
             "mistral-7b-v0.3", {"ctx_size": 32768, "batch_size": 512, "flash_attn": "off"},
             "4096.00", 2144.00, held_out=True),
]


@pytest.mark.parametrize("case", FLAG_CASES, ids=lambda c: c.id)
def test_flags_through_the_api_reproduce_logs(case: FlagCase) -> None:
    from llmsize import api

    r = api.infer(case.model, engine="llamacpp", **case.options)
    parts = {p.name: p.value for p in r.tree.parts}
    compute = parts["activations"] / MiB
    print(f"\n{case.id} ({case.url}){' held out' if case.held_out else ''}: KV {mib(parts['kv_cache'])} "
          f"(log {case.kv_mib}), compute {compute:.2f} (log {case.compute_mib:.2f}, "
          f"{compute / case.compute_mib - 1:+.2%})")
    assert mib(parts["kv_cache"]) == case.kv_mib
    assert abs(compute / case.compute_mib - 1) <= COMPUTE_TOLERANCE


def test_parallel_splits_the_context_unless_unified() -> None:
    """llama-context.cpp (quoted in https://github.com/ggml-org/llama.cpp/issues/27901):
    ``n_ctx_seq = kv_unified ? n_ctx : GGML_PAD(n_ctx / n_seq_max, 256)``; llmsize's ``ctx_size`` is
    the per-sequence figure, so ``-np 4`` makes ``-c`` four times it: the same cells either way,
    in four streams or one."""
    from llmsize import api

    def kv(**options: object) -> int:
        r = api.infer("llama-3-8b", engine="llamacpp", ctx_size=1000, **options)
        return next(p for p in r.tree.parts if p.name == "kv_cache").value

    per_cell = 2 * 32 * 8 * 128 * 2  # K and V, 32 layers × 8 heads × 128, f16
    assert kv(parallel=4) == 4 * 1024 * per_cell  # each stream padded to 256 cells: 1024
    assert kv(parallel=4, kv_unified=True) == 4096 * per_cell  # -c 4000 padded once: 4096
    assert kv(parallel=4) == kv(batch=4)  # -np is --batch under llama.cpp's name


def test_ubatch_sets_the_reserved_graph() -> None:
    """``n_ubatch = min(n_batch, n_ubatch)`` before padding (llama-context.cpp); the reserved graph has
    n_ubatch tokens, so without flash attention the KQ scores grow with it (n_kv · T · heads · 4)."""
    from llmsize import api

    def compute(**options: object) -> int:
        r = api.infer("llama-3-8b", engine="llamacpp", ctx_size=8192, flash_attn="off", **options)
        return next(p for p in r.tree.parts if p.name == "activations").value

    assert compute(ubatch_size=1024) - compute() == 8192 * 512 * 32 * 4 + 8192 * 512 * 4 + 4 * 4096 * 512 * 4
    assert compute(batch_size=256) == compute(ubatch_size=256)  # -b caps -ub
