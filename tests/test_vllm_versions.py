"""vLLM version profiles (``--vllm-version``) and the custom all-reduce (``--disable-custom-all-reduce``).

Independent truths: vLLM's own source constants (cited per test) and the llm-d H100 start-up logs
that ``test_vllm.py`` reads (two of them at tp=2, custom all-reduce on, vLLM's default). No published
start-up log pair with the custom all-reduce on and off, and no clean start-up log of a release ≥ 0.21
with a dense model, a known GPU and its memory lines, was found (see ``vllm_versions.py``): the
0.21.0 profile is checked against the source only.
"""

from __future__ import annotations

import json

from cli_run import cli_json
from test_vllm import runs, startup

from llmsize import options
from llmsize.inference import vllm_versions
from llmsize.inference.vllm import CUDAGRAPH_BYTES, NON_TORCH_TP1_BYTES, NON_TORCH_TPN_BYTES
from llmsize.inference.vllm_versions import custom_all_reduce_bytes
from llmsize.schemas import SCHEMA_PATH

MiB = 2**20


def align(n: int, to: int) -> int:
    return -(-n // to) * to


# csrc/custom_all_reduce.cuh (vllm-project/vllm): kMaxBlocks = 36, FlagType = uint32_t,
#   struct Signal { alignas(128) FlagType start[kMaxBlocks][8]; alignas(128) FlagType end[kMaxBlocks][8];
#                   alignas(128) FlagType _flag[kMaxBlocks]; };   ops.meta_size() = sizeof(Signal)
META_SIZE = align(36 * 8 * 4, 128) + align(36 * 8 * 4, 128) + align(36 * 4, 128)
# custom_all_reduce.py: CustomAllreduce(max_size=8192 * 1024); _complete_init allocates
# create_shared_buffer(meta_size() + max_size) and create_shared_buffer(max_size) with cudaMalloc
# (2 MiB pages); rank_data is a torch tensor (not non-torch).
MAX_SIZE = 8192 * 1024
CUSTOM_AR_PER_GPU = align(META_SIZE + MAX_SIZE, 2 * MiB) + align(MAX_SIZE, 2 * MiB)


def tp2_runs():
    return [r for r in runs() if r.tp == 2]


def test_custom_all_reduce_buffers_follow_vllm_source():
    assert META_SIZE == 2560 and CUSTOM_AR_PER_GPU == 18 * MiB
    for tp in (2, 4, 6, 8):  # CustomAllreduce._SUPPORTED_WORLD_SIZES
        assert custom_all_reduce_bytes(tp) == CUSTOM_AR_PER_GPU
        assert custom_all_reduce_bytes(tp, enabled=False) == 0
    for tp in (1, 3, 16):  # world size 1: "no need"; others: "unsupported world size", not built
        assert custom_all_reduce_bytes(tp) == 0


def test_disabling_custom_all_reduce_on_0_11_frees_its_buffers_from_non_torch():
    """0.11.0 counts every non-torch byte allocated after its init snapshot, the custom all-reduce's
    IPC buffers included: the llm-d tp=2 logs (0.55, 0.54 GiB) hold them; disabled, non-torch is
    18 MiB lower and the KV pool 18 MiB larger. tp=1 builds no custom all-reduce."""
    for run in tp2_runs():
        on, off = startup(run), startup(run, custom_all_reduce=False)
        assert abs((on.non_torch - run.measured[2] * 2**30) / 2**30) <= 0.011, run.name
        assert on.non_torch - off.non_torch == CUSTOM_AR_PER_GPU, run.name
        assert off.kv_available - on.kv_available == CUSTOM_AR_PER_GPU, run.name
    single = next(r for r in runs() if r.tp == 1)
    assert startup(single, custom_all_reduce=False).non_torch == startup(single).non_torch


def test_0_21_takes_nccl_out_of_non_torch_and_reserves_cuda_graphs():
    """gpu_worker.py ``init_device`` (commit 00d618aab604): the distributed environment (NCCL) is
    initialised before the memory snapshot, so non-torch at tp=2 is the tp=1 figure plus the custom
    all-reduce (allocated later, in ``finalize_p2p``); VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS
    (default since v0.21.0) subtracts the CUDA-graph estimate from the budget."""
    for run in tp2_runs():
        old, new = startup(run), startup(run, version="0.21.0")
        assert new.non_torch == NON_TORCH_TP1_BYTES + CUSTOM_AR_PER_GPU, run.name
        nccl = NON_TORCH_TPN_BYTES - NON_TORCH_TP1_BYTES - CUSTOM_AR_PER_GPU
        assert new.kv_available - old.kv_available == nccl - CUDAGRAPH_BYTES, run.name
        assert new.in_use == new.requested and old.in_use == old.requested + CUDAGRAPH_BYTES
        kept = startup(run, version="0.21.0", cudagraphs_in_budget=False)  # VLLM_..._CUDAGRAPHS=0
        assert kept.kv_available - old.kv_available == nccl
        off = startup(run, version="0.21.0", custom_all_reduce=False)
        assert off.non_torch == NON_TORCH_TP1_BYTES


def test_flags_reach_the_report(capsys):
    """The CLI flags travel through the API into the JSON (the store_const False of
    --disable-custom-all-reduce survives the infer command's filter of unset flags)."""
    def overhead(doc: dict) -> int:
        part = next(p for p in doc["tree"]["parts"] if p["name"] == "overhead")
        return next(q["value"] for q in part["parts"] if q["name"].startswith("non-torch"))

    base = ("infer", "llama-3.1-8b", "--engine", "vllm", "-c", "16000", "--tp", "2")
    on, off = cli_json(capsys, *base), cli_json(capsys, *base, "--disable-custom-all-reduce")
    new = cli_json(capsys, *base, "--vllm-version", "0.21.0")
    assert (on["vllm"]["custom_all_reduce"], off["vllm"]["custom_all_reduce"]) == (True, False)
    assert overhead(on) - overhead(off) == CUSTOM_AR_PER_GPU
    assert new["vllm"]["version"] == "0.21.0" and overhead(new) == NON_TORCH_TP1_BYTES + CUSTOM_AR_PER_GPU


def test_the_versions_are_one_list():
    with open(SCHEMA_PATH) as f:
        schema = json.load(f)
    enum = schema["$defs"]["vllm"]["properties"]["version"]["enum"]
    assert tuple(enum) == options.VLLM_VERSIONS == vllm_versions.VERSIONS
    assert vllm_versions.DEFAULT_VERSION == "0.11.0"
