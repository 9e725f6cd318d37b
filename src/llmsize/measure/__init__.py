"""Measure real memory with PyTorch itself, on the CPU, without allocating (optional extra).

A transformers model is built from its config alone under ``FakeTensorMode`` (tensors carry
shapes and dtypes, no storage) and one real step runs under
``torch.distributed._tools.mem_tracker.MemTracker``, which records every storage the step
creates, by category (parameters, buffers, gradients, activations, optimizer states,
temporaries) and by module. Needs ``pip install 'llmsize[measure]'`` (torch, transformers,
peft for LoRA). ``harness.py`` runs a prefill, ``train.py`` a steady-state training step, and
``compare.py`` puts llmsize's estimate beside either.
"""
