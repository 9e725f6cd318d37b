"""Serving memory: the KV cache and recurrent state, the prefill workspace, named overheads, and
the engine profiles (transformers ``generate``, vLLM, llama.cpp) that assemble them per GPU."""
