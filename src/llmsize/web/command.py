"""The ``llmsize`` command line equivalent to what the page asks: its options as flags.

Options at the API's default are left out, so the line reads like one a person would type;
``llmsize … --json`` run in a shell prints the same document the page's API call returned
(a test runs it). A pasted config has no path: the line names ``config.json``, to be saved first.
"""

from __future__ import annotations

import shlex

from .. import api
from ..charts import command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

FLAGS = {"n_gpu_layers": "--n-gpu-layers"}  # every other option: --name-with-dashes
NEGATABLE = ("tie_embeddings", "gated_mlp")  # argparse BooleanOptionalAction: --no-NAME for False
TABLES = {"params": api.PARAMS_OPTIONS, "infer": api.INFER_OPTIONS, "train": api.TRAIN_OPTIONS}


def flags(name: str, value: Any) -> list[str]:
    flag = FLAGS.get(name, "--" + name.replace("_", "-"))
    if isinstance(value, bool):
        return [flag] if value else ([f"--no-{flag[2:]}"] if name in NEGATABLE else [])
    if isinstance(value, dict):
        return [w for k, v in value.items() for w in (flag, f"{k}={v}")]
    if isinstance(value, (list, tuple)):
        return [w for v in value for w in (flag, str(v))]
    return [flag, str(value)]


def command_line(task: str, source: object, options: Mapping[str, Any]) -> str:
    """``llmsize infer llama-3.1-8b --ctx-size 8192 --engine vllm --json`` for a task and options."""
    name = command(task) if task not in TABLES else task
    table = TABLES[name]
    words = ["llmsize", name, source if isinstance(source, str) else "config.json"]
    for key, value in options.items():
        if key not in table:  # gpu_mem to train: the GPU the page compares with, not a train flag
            continue
        if value is None or value == table[key][0] or value == () or value == []:
            continue
        words += flags(key, value)
    return shlex.join([*words, "--json"])
