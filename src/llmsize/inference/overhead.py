"""A named overhead budget: what a GPU process uses beyond tensors PyTorch allocates.

PyTorch's own accounting (``torch.cuda.max_memory_allocated``, MemTracker) sees tensors only.
``nvidia-smi`` also shows, per process::

    CUDA context        driver state, kernels of loaded modules (lazy loading since CUDA 11.7)
    cuBLAS workspace    scratch for GEMMs, one per handle and stream
    NCCL buffers        communicator buffers, only with more than one GPU
    fragmentation       the caching allocator's reserved − allocated (transient activations)
    CUDA graphs         captured graphs' memory pools (vLLM; not used by transformers generate)

Each default below is a documented constant with its source, shown on its own line of the
estimate and overridable (``--overhead cuda_context=600MiB``). They are not measured by this
machine, and they vary with driver, GPU and library versions: treat them as ±50%.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import ConfigError
from ..tree import Part, group, leaf
from ..units import GiB, MiB, parse_bytes

# Defaults, each with its source:
CUDA_CONTEXT_BYTES = 500 * MiB
"""CUDA context with lazy module loading (``CUDA_MODULE_LOADING=LAZY``, the default since CUDA
11.7 / PyTorch 1.13): 300–600 MiB on A100/H100 with PyTorch 2.x; vram.asmirnov's calculator
quotes "between 300 MiB and 2 GiB" (reference §5). 500 MiB is the middle of the usual range."""

CUBLAS_WORKSPACE_BYTES = 32 * MiB
"""cuBLAS workspace PyTorch allocates per handle and stream: 32 MiB on Hopper (sm90), the
size NVIDIA's cuBLAS documentation recommends there; 4 MiB + 8×16 KiB (``:4096:2:16:8``) on
older GPUs (PyTorch ``aten/src/ATen/cuda/CublasHandlePool.cpp``, ``getChosenWorkspaceSize``;
``parseChosenWorkspaceSize``: 4096 KiB · 8 on sm90). The vLLM profile counts the same workspace."""

NCCL_BYTES = round(0.42 * GiB)
"""NCCL and custom all-reduce buffers with tensor parallelism: the llm-d vLLM measurements
(reference §2.9) show non-torch memory of 0.13 GiB at tp=1 and 0.54–0.55 GiB at tp=2."""

FRAGMENTATION_FRACTION = 0.05
"""Caching-allocator slack on transient activations: blocks are rounded up (512 B, 2 MiB
segments for large tensors, ``c10/cuda/CUDACachingAllocator.cpp``) and freed blocks are
reused imperfectly. 5% of the activation peak is an assumption, not a measurement."""

NAMES = ("cuda_context", "cublas_workspace", "nccl", "fragmentation", "cuda_graphs")


@dataclass(frozen=True)
class Overheads:
    """The overhead lines of one GPU; ``fixed`` holds user overrides in bytes."""

    gpus: int = 1
    cuda_graphs: int = 0
    fixed: dict[str, int] = field(default_factory=dict)

    def with_overrides(self, pairs: list[str]) -> Overheads:
        """Apply ``name=size`` overrides (``cuda_context=600MiB``, ``nccl=0``)."""
        fixed = dict(self.fixed)
        for pair in pairs:
            name, _, size = pair.partition("=")
            if name not in NAMES or not size:
                names = ", ".join(NAMES)
                raise ConfigError(f"--overhead {pair!r}: expected NAME=SIZE with NAME one of {names}")
            try:
                fixed[name] = parse_bytes(size)
            except ValueError as e:
                raise ConfigError(f"--overhead {pair!r}: {e}") from None
        return replace(self, fixed=fixed)


def overhead(o: Overheads, *, activation_bytes: int) -> Part:
    """The overhead budget of one GPU as a tree, one line per named item."""
    defaults = {
        "cuda_context": CUDA_CONTEXT_BYTES,
        "cublas_workspace": CUBLAS_WORKSPACE_BYTES,
        "nccl": NCCL_BYTES if o.gpus > 1 else 0,
        "fragmentation": round(FRAGMENTATION_FRACTION * activation_bytes),
        "cuda_graphs": o.cuda_graphs,
    }
    values = {**defaults, **o.fixed}
    return group("overhead", [leaf(name.replace("_", " "), values[name]) for name in NAMES])
