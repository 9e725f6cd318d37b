"""Memory estimates: the KV cache, the prefill workspace, named overheads and engine profiles."""
