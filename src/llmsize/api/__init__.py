"""The Python API: ``params``, ``infer``, ``train`` and ``inspect``, the four questions the CLI asks.

Each takes a SOURCE (catalog name, HF id, config.json, model directory or checkpoint) and the
CLI's options as keywords, named like the flags in snake_case (``--ctx-size`` → ``ctx_size``)
with the same defaults::

    import llmsize
    r = llmsize.infer("llama-3.1-8b", ctx_size=8192, engine="vllm", gpu_mem="80GiB")
    r.total_bytes, r.to_dict()   # the dict is the CLI's --json document

Every value is checked first (``options.py``): a bad choice, size or count, or an unknown keyword,
raises ``LlmsizeError`` with a one-line message that names the option and the value. Results are
frozen dataclasses (``ParamReport``, ``InferenceReport``, ``TrainReport``, ``InspectReport``).
What the CLI prints as ``warning:`` lines on stderr (a config key that could change the size, a
checkpoint without a config) the API keeps on the result, in ``result.warnings``; they are not
part of ``to_dict()``, as they are not part of ``--json``.

The package: ``tables.py`` holds each command's options (default and check) and ``checks.py`` the
checks of its own option types; ``source.py`` opens the SOURCE and ``target.py`` picks the GPU an
estimate is judged against; one module per command assembles its result (``params_cmd``,
``infer_cmd`` with ``engine`` and ``speed``, ``train_cmd``, ``plan_cmd``). Each is imported on
first use, so that ``llmsize --help`` and ``llmsize params`` import only the tables.
"""

from __future__ import annotations

from .checks import checked, nonempty_text
from .tables import DEFAULT_GPU as DEFAULT_GPU
from .tables import ENGINE_FLAGS as ENGINE_FLAGS
from .tables import ENGINE_ONLY as ENGINE_ONLY
from .tables import FINETUNE_LORA_RANK as FINETUNE_LORA_RANK
from .tables import INFER_OPTIONS as INFER_OPTIONS
from .tables import INSPECT_OPTIONS as INSPECT_OPTIONS
from .tables import LLAMACPP_DEFAULT_CTX as LLAMACPP_DEFAULT_CTX
from .tables import LORA_RANK as LORA_RANK
from .tables import MAX_GPUS as MAX_GPUS
from .tables import PARAMS_OPTIONS as PARAMS_OPTIONS
from .tables import PLAN_MODES as PLAN_MODES
from .tables import PLAN_OPTIONS as PLAN_OPTIONS
from .tables import QLORA_RANK as QLORA_RANK
from .tables import SPEED_OPTIONS as SPEED_OPTIONS
from .tables import STATE_BITS as STATE_BITS
from .tables import TRAIN_OPTIONS as TRAIN_OPTIONS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..formats.checkpoint_report import InspectReport
    from ..inference.estimate import InferenceReport
    from ..parameters import ParamReport
    from ..plan.limits import InferenceLimits
    from ..plan.report import PlanReport
    from ..seed import SeedMemory, SeedReport
    from ..training.estimate import TrainReport
    from .source import Source as Source


def params(source: Source | None = None, **options: Any) -> ParamReport | SeedReport:
    """The exact parameter count of SOURCE, or of the architecture the overrides describe
    (``hidden_size``, ``num_layers``, ``num_heads``, ``vocab_size``, … of ``family``, by default
    ``gpt2``: a GPT-2-style decoder);
    ``method="seed"`` gives the blog's simplified formulas, ``params=N`` its byte sizing of N."""
    from .params_cmd import params_report

    return params_report(source, checked("params", options, PARAMS_OPTIONS))


def infer(source: Source | None, **options: Any) -> InferenceReport | SeedMemory | InferenceLimits:
    """Memory to serve SOURCE per GPU: weights, KV cache, activations and overhead, as the engine
    profile ``engine`` (hf, vllm, llamacpp) sizes them; ``method="seed"`` the blog's rule.
    ``max_context``, ``max_batch`` or ``max_concurrency=True`` ask the inverse questions instead
    (on one GPU of ``gpu``, or of ``gpu_mem`` bytes): an ``InferenceLimits``.

    With ``gpu`` given, ``result.performance`` holds the speed on it (``perf/setting.py``):
    prefill and decode rates, TTFT, TPOT, throughput at ``concurrency`` (else ``batch``) requests
    of ``input_len`` + ``output_len`` tokens, and the cost at ``price`` (USD per GPU-hour, else
    the dated table's); ``mfu`` replaces the prefill's share of peak FLOP/s."""
    from .infer_cmd import infer_report

    return infer_report(source, checked("infer", options, INFER_OPTIONS), options)


def train(source: Source | None, **options: Any) -> TrainReport:
    """Memory to train or fine-tune SOURCE, per GPU, at the peak of one step. With ``gpu`` given,
    ``result.performance`` holds the step time, tokens/s per GPU and MFU on it, and with ``tokens``
    the time, GPU-hours and cost (at ``price``) of a run over that many tokens; ``mfu`` replaces
    the model-FLOPs utilisation."""
    from .train_cmd import train_report

    return train_report(source, checked("train", options, TRAIN_OPTIONS), options)


def inspect(source: str, **options: Any) -> InspectReport:
    """What a checkpoint holds, from its headers only: tensors, dtypes, stored bytes, the
    quantization, and a cross-check against the architecture when a config is there."""
    from ..formats.checkpoint_report import inspect_checkpoint
    from ..sources.resolve import open_source

    opts = checked("inspect", options, INSPECT_OPTIONS)
    found = open_source(nonempty_text("source", source), revision=opts["revision"])
    return inspect_checkpoint(source, found, tensors=opts["tensors"])


def plan(source: Source | None, **options: Any) -> PlanReport:
    """What SOURCE needs: per GPU type, the fewest GPUs and the layouts that fit, to serve it
    (``mode="serve"``: ctx_size, batch, engine…), to train it (``"train"``) or to fine-tune it
    (``"finetune"``: LoRA rank 16 on every linear layer over a bf16 base; ``qlora=True``: QLoRA,
    rank 64 over an NF4 base). The GPUs: ``gpu`` ("all", the default, or catalog names separated
    by commas), or ``gpu_mem`` (the bytes one process can use on a GPU of another kind)."""
    from .plan_cmd import plan_report

    return plan_report(source, checked("plan", options, PLAN_OPTIONS))
