"""How fast and how much: prefill and decode rates, latency, training step time, MFU, time and cost.

A roofline with efficiency factors that are data, calibrated on published runs and judged on
others (``validation/perf_cases.json``, ``validation/perf_calibration.py``). Every figure carries
the band measured on the held-out runs of its kind and engine (``bands.json``)::

    figures.py      Figure (a value, its unit and its band), Band, Performance (the result)
    efficiency.py   the efficiency factors (``efficiency.json``), each with its source, overridable
    roofline.py     the laws: max(compute, memory) per step, experts touched, all-reduce cost
    traffic.py      an architecture and weight format compiled into what a step reads and computes
    serving.py      decode, prefill, TTFT/TPOT, aggregate throughput, Little's law, replicas, $/Mtok
    training.py     step time, tokens/s/GPU, MFU, GPU-hours and cost of a training run
    llamacpp.py     llama.cpp single-stream prompt processing and generation, partial offload

Nothing here imports torch; the inputs are the same ``Architecture``, ``WeightFormat``, ``Layout``
and catalog ``Gpu`` the memory estimates use.
"""
