"""Hardware as data: the accelerator catalog (``gpus.json``), custom GPUs from flags, dated prices
(``prices.json``), and the fit verdict that compares an estimate with one GPU.

    from llmsize.hardware import gpu, gpus, parse_gpu_spec
    gpu("NVIDIA H100 80GB HBM3").usable_bytes      # 85,018,238,812 (79.18 GiB)
    parse_gpu_spec("a100:4")                        # (Gpu(key='a100-sxm-80', …), 4)
"""

from __future__ import annotations

from .catalog import Gpu, GpuError, Source, gpus
from .lookup import gpu, parse_gpu_spec
from .prices import Price, price, price_overrides, prices

__all__ = ["Gpu", "GpuError", "Price", "Source", "gpu", "gpus", "parse_gpu_spec", "price", "price_overrides",
           "prices"]
