"""What changed in vLLM's start-up memory accounting after 0.11, and the custom all-reduce buffers.

``vllm.py`` mirrors vLLM 0.11.0. Two later changes move bytes between the terms it reports::

    available = requested − weights − activation_peak − non_torch [− cudagraph_estimate]

1. **NCCL moved out of non-torch.** ``non_torch`` is what the process holds outside torch's allocator,
   measured from the snapshot ``init_device`` takes (``vllm/utils/mem_utils.py`` ``memory_profiling``:
   ``non_torch_increase = diff_from_create.non_torch_memory``). In 0.11.0 that snapshot is taken
   *before* ``init_worker_distributed_environment``, so the NCCL communicators' buffers count as
   non-torch (0.13 GiB at tp=1, 0.55 GiB at tp=2 in the llm-d H100 logs). Later releases initialise
   the distributed environment first ("Initialize the distributed environment BEFORE taking memory
   snapshot … This ensures NCCL buffers are allocated before we measure", ``vllm/v1/worker/
   gpu_worker.py`` ``init_device``, vllm-project/vllm commit 00d618aab604): NCCL's buffers then sit
   outside ``requested``, in the ``1 − util`` headroom, and non-torch at tp > 1 is the tp=1 figure
   plus what is allocated after the snapshot: the custom all-reduce buffers, whose allocation is
   deferred to ``finalize_p2p`` inside ``determine_available_memory`` (same file and commit).
2. **CUDA graphs reserved inside the budget.** ``profile_cudagraph_memory`` captures a few graphs
   with a dummy KV cache and ``determine_available_memory`` subtracts the estimate
   (``cudagraph_memory_estimate_applied``); opt-in through ``VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS``
   from vllm-project/vllm PR #30515, the default "since v0.21.0" (the log line vLLM ≥ 0.21 prints,
   e.g. gpustack/runner PR #251 with 0.27.1). The estimate here is ``vllm.py``'s graph-pool constant.

Left out: ``gpu_memory_utilization``'s default rising to 0.92 (``vllm/config/cache.py``, v0.25.0;
llmsize keeps 0.9 unless ``--gpu-util`` is given), the newest ``memory_profiling`` that counts
``total_consumed`` through ``mem_get_info``, and any change to the profile run's activation peak.

Custom all-reduce (``vllm/distributed/device_communicators/custom_all_reduce.py``, ``CustomAllreduce``,
created by ``cuda_communicator.py`` for the tp group unless ``--disable-custom-all-reduce``), per GPU::

    meta    = cudaMalloc(meta_size + max_size)     Signal flags + a scratch buffer   (IPC, non-torch)
    buffer  = cudaMalloc(max_size)                 pre-registered input buffer        (IPC, non-torch)
    rank_data = torch.empty(8 MiB)                 peer-pointer tuples                (torch)

Only the two IPC buffers are non-torch. ``rank_data`` is a torch tensor alive before the profile run,
so it cancels out of the activation peak and is counted in no term (it sits in the headroom).
Registering CUDA-graph buffers opens peers' IPC handles (``register_graph_buffers``): mappings, no new
device memory. vLLM builds it only for tp in {2, 4, 6, 8} on one node with P2P access.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 2**20

# --- custom all-reduce: vLLM source constants ------------------------------------------------------
CUSTOM_AR_MAX_SIZE_BYTES = 8192 * 1024  # CustomAllreduce.__init__(max_size=8192 * 1024)
CUSTOM_AR_WORLD_SIZES = (2, 4, 6, 8)  # CustomAllreduce._SUPPORTED_WORLD_SIZES
# csrc/custom_all_reduce.cuh: struct Signal { alignas(128) uint32 start[kMaxBlocks][8], end[kMaxBlocks][8],
# _flag[kMaxBlocks] } with kMaxBlocks = 36: 36·8·4 = 1152 B twice (multiples of 128), 36·4 = 144 → 256 B.
K_MAX_BLOCKS = 36
SIGNAL_BYTES = 2 * (K_MAX_BLOCKS * 8 * 4) + -(-(K_MAX_BLOCKS * 4) // 128) * 128  # ops.meta_size() = 2560
# cudaMalloc backs allocations of this size with 2 MiB pages (the granularity cuMemGetAllocationGranularity
# reports on Ampere/Hopper), so each IPC buffer occupies whole 2 MiB pages of device memory.
CUDA_PAGE_BYTES = 2 * MiB


def custom_all_reduce_bytes(tp: int, *, enabled: bool = True, max_size: int = CUSTOM_AR_MAX_SIZE_BYTES,
                            ) -> int:
    """Non-torch device bytes the custom all-reduce allocates on each GPU of a tp group:
    ⌈meta_size + max_size⌉ + ⌈max_size⌉ in whole 2 MiB pages (``_complete_init``'s two
    ``create_shared_buffer`` calls),
    0 when disabled or when vLLM does not build it (tp not in 2, 4, 6, 8). At the default 8 MiB:
    ⌈2560 + 8 MiB⌉ = 10 MiB and 8 MiB, 18 MiB in all (0.018 GiB, about two 0.01 GiB log units).
    ``max_size`` is smaller with torch symmetric memory on (``CUSTOM_ALL_REDUCE_MAX_SIZES``: H100 at
    tp 6/8: 512/256 KiB); that clamp is not applied here."""
    if not enabled or tp not in CUSTOM_AR_WORLD_SIZES:
        return 0

    def pages(n: int) -> int:
        return -(-n // CUDA_PAGE_BYTES) * CUDA_PAGE_BYTES

    return pages(SIGNAL_BYTES + max_size) + pages(max_size)


# --- version profiles ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VllmProfile:
    """One vLLM release's start-up accounting, as far as llmsize mirrors it."""

    name: str
    nccl_in_non_torch: bool  # NCCL buffers allocated after the init snapshot (counted as non-torch)
    cudagraphs_in_budget: bool  # the CUDA-graph estimate subtracted from `requested` by default
    source: str


PROFILES = {
    "0.11.0": VllmProfile(
        "0.11.0", nccl_in_non_torch=True, cudagraphs_in_budget=False,
        source="vllm v0.11.0 v1/worker/gpu_worker.py init_device, determine_available_memory; "
               "8 llm-d H100 logs"),
    "0.21.0": VllmProfile(
        "0.21.0", nccl_in_non_torch=False, cudagraphs_in_budget=True,
        source="vllm gpu_worker.py at 00d618aab604 (distributed init before the snapshot); "
               "VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS on by default since v0.21.0"),
}
DEFAULT_VERSION = "0.11.0"  # the only profile checked against published start-up logs
VERSIONS = tuple(PROFILES)


def non_torch_bytes(profile: VllmProfile, *, tp: int, tp1_bytes: int, tpn_bytes: int,
                    custom_all_reduce: bool) -> int:
    """Non-torch memory one worker reports. ``tp1_bytes``/``tpn_bytes`` are the measured 0.11 figures
    (tp = 1; tp ≥ 2 with custom all-reduce on, vLLM's default). At tp ≥ 2:
    0.11: tpn − C·[disabled] (the logs hold C); later: tp1 + C·[enabled] (NCCL before the snapshot),
    with C = ``custom_all_reduce_bytes(tp)``."""
    if tp == 1:
        return tp1_bytes
    c = custom_all_reduce_bytes(tp)
    if profile.nccl_in_non_torch:
        return tpn_bytes - c + custom_all_reduce_bytes(tp, enabled=custom_all_reduce)
    return tp1_bytes + custom_all_reduce_bytes(tp, enabled=custom_all_reduce)
