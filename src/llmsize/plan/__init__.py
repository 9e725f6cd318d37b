"""What do I need? Fit verdicts' inverse questions and the layout search.

    limits.py   the longest context, the largest batch and vLLM's concurrency that fit one GPU
                at one layout, from the compiled cost models (exact and tight)
    layouts.py  the layouts an engine or a training framework accepts for a model, and the
                per-GPU model-state bytes that bound a training layout from below
    serve.py    serving: per GPU type, the fewest GPUs and the layouts that fit
    train.py    training and fine-tuning: the same, over dp, tp, pp, cp, ep, ZeRO/FSDP, offload,
                recompute, micro-batch and LoRA/QLoRA
    report.py   the plan's result tree, the changes that make a model fit, and the command that
                reproduces every row
"""
