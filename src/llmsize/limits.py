"""Plausibility limits: the largest value any input may hold, checked before any work is done.

A limit is not a claim about what is possible; it stops nonsense (a 10³⁰-layer config, a 1e400 GiB
GPU) from turning into minutes of work, a MemoryError or a confident number. Each sits one to two
orders of magnitude above the largest published model or machine, so no real input meets one:

=================  ===========  =============================================================
limit              value        the largest real value (and its source)
=================  ===========  =============================================================
MAX_LAYERS         10,000       126 layers (Llama-3.1-405B config.json, num_hidden_layers)
MAX_WIDTH          2²⁰          53,248 (Llama-3.1-405B intermediate_size)
MAX_VOCAB          2²⁴          262,208 (Gemma 3 vocab_size)
MAX_HEADS          2¹⁶          128 (Llama-3.1-405B, DeepSeek-V3 num_attention_heads)
MAX_EXPERTS        2¹⁶          384 routed experts (Kimi K2 config.json, n_routed_experts)
MAX_CONTEXT        2²⁷          10,485,760 tokens (Llama 4 Scout max_position_embeddings)
MAX_BATCH          2²⁰          vLLM's max_num_seqs defaults to 256 (1,024 on large GPUs)
MAX_DEGREE         2¹⁶          the largest published training runs use ~2¹⁵ GPUs in all
MAX_BYTES          2⁶⁰          1 EiB: ~10⁵× the memory of the largest GPU node
MAX_PARAMS         10¹⁵         ~10³× the largest published model (DeepSeek-V3, 671 B)
MAX_TOKENS         10¹⁷         ~10⁴× the largest published pre-training set (Llama 3: 15.6 T tokens)
MAX_USD_PER_HOUR   10⁴          ~10³× the dearest on-demand GPU-hour in hardware/prices.json
=================  ===========  =============================================================
"""

from __future__ import annotations

MAX_LAYERS = 10_000
MAX_WIDTH = 2**20
MAX_VOCAB = 2**24
MAX_HEADS = 2**16
MAX_EXPERTS = 2**16
MAX_CONTEXT = 2**27
MAX_BATCH = 2**20
MAX_DEGREE = 2**16
MAX_BYTES = 2**60
MAX_PARAMS = 10**15
MAX_TOKENS = 10**17  # train --tokens: tokens of a whole training run
MAX_USD_PER_HOUR = 10**4  # --price: US dollars per GPU-hour

# Bounded reads (sources/files.py): a config.json or shard index larger than this is not one.
CONFIG_CAP_BYTES = 16 * 2**20  # the largest real config.json is ~0.2 MiB (id2label tables)
JSON_MAX_DEPTH = 64  # real configs nest 4–6 deep (quantization_config.config_groups.group_0.weights)
