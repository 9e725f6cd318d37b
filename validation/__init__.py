"""llmsize's validation suite: estimates against PyTorch's own measurements (see README.md)."""
