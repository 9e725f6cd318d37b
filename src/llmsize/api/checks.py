"""The checks of the API's own option types.

Each check takes (option, value) and returns the value as the estimators take it, or raises
``OptionError`` naming the option and the value. The generic ones (sizes, counts, choices) are in
``options.py``; these need a parser of their own (a weight format, a GPU spec, a price).
``checked`` applies a command's table (``tables.py``) to the keywords given.
"""

from __future__ import annotations

from .. import options as o
from ..errors import LlmsizeError, shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from ..layout import FsdpStrategy, Offload, ZeroStage

    Check = Callable[[str, Any], Any]


def nonempty_text(option: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise o.OptionError(option, f"{shown(value, 40)} is not a non-empty string")
    return value


def flag(option: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise o.OptionError(option, f"{value!r} is not True or False")
    return value


def quant(option: str, value: object) -> str:
    from ..formats.dtypes import parse_format

    text = nonempty_text(option, value)
    try:
        parse_format(text)
    except LlmsizeError as e:
        raise o.OptionError(option, str(e)) from None
    return text


def kv_dtype(option: str, value: object) -> str:
    from ..inference.kvcache import KV_FORMATS, kv_format

    text = nonempty_text(option, value)
    try:
        kv_format(text)
    except LlmsizeError:
        raise o.OptionError(option, f"{shown(value, 40)} is not a KV cache dtype; choose from "
                                    f"{', '.join(KV_FORMATS)}") from None
    return text


def zero(option: str, value: object) -> ZeroStage:
    from ..layout import ZeroStage  # imported on use, as inference/ and training/ are: params never needs it

    return o.enum_option(option, value, enum=ZeroStage)


def fsdp(option: str, value: object) -> FsdpStrategy:
    from ..layout import FSDP_ALIASES, FsdpStrategy

    return o.enum_option(option, value, enum=FsdpStrategy, aliases=FSDP_ALIASES)


def offload(option: str, value: object) -> Offload:
    from ..layout import OFFLOAD_ALIASES, Offload

    return o.enum_option(option, value, enum=Offload, aliases=OFFLOAD_ALIASES)


def gpu_spec(option: str, value: object) -> str:
    """``NAME[:COUNT]``: a catalog GPU, alias, nvidia-smi name or ``custom:…`` spec (checked here)."""
    from ..hardware import parse_gpu_spec

    text = nonempty_text(option, value)
    try:
        parse_gpu_spec(text)
    except LlmsizeError as e:
        raise o.OptionError(option, str(e), prefix=False) from None
    return text


def price(option: str, value: object) -> tuple[str, ...]:
    """USD per GPU-hour: a number or ``"2.5"`` for ``gpu``, ``"h100=2.5"``, or a list of them (the
    CLI's repeated ``--price``); checked here, looked up by ``perf.setting.price_for``."""
    from ..hardware.prices import price_overrides, usd_per_hour

    one = isinstance(value, (str, int, float)) and not isinstance(value, bool)
    items = [value] if one else value
    if not isinstance(items, (list, tuple)):
        raise o.OptionError(option, f"{shown(value, 40)} is not a price per GPU-hour (2.5, or h100=2.5)")
    out = []
    for item in items:
        text = str(item) if isinstance(item, (str, int, float)) and not isinstance(item, bool) else ""
        if "=" in text:
            try:
                price_overrides([text])
            except LlmsizeError as e:  # the price parser names the option; a GPU lookup does not
                own = str(e).startswith(f"{option} ")
                problem = str(e) if own else f"{shown(item, 40)}: {e}"
                raise o.OptionError(option, problem, prefix=not own) from None
        elif usd_per_hour(text) is None:
            raise o.OptionError(option, f"{shown(item, 40)} is not an amount in USD per GPU-hour "
                                        "(2.5, or h100=2.5; 0 to 10,000)")
        out.append(text)
    return tuple(out)


def overhead(option: str, value: object) -> tuple[str, ...]:
    """``{"nccl": "0", "cuda_context": 600 * MiB}`` or ``["nccl=0", …]`` → ("name=size", …)."""
    from ..inference.overhead import NAMES

    pairs = [f"{k}={v}" for k, v in value.items()] if isinstance(value, dict) else value
    if isinstance(pairs, str) or not isinstance(pairs, (list, tuple)):
        raise o.OptionError(option, f"{value!r} is not a mapping of NAME to SIZE")
    for pair in pairs:
        name, _, amount = str(pair).partition("=")
        if name not in NAMES or not amount:
            raise o.OptionError(option, f"{shown(pair, 40)}: expected NAME=SIZE with NAME one of "
                                        f"{', '.join(NAMES)}")
        o.size(option, amount if not amount.isdigit() else int(amount))
    return tuple(str(p) for p in pairs)


def checked(command: str, given: Mapping[str, object], table: Mapping[str, tuple[object, Check]]
             ) -> dict[str, Any]:
    """The options of ``command``: each given one checked, the others (and any given as None,
    as an absent flag is) at their defaults."""
    unknown = [k for k in given if k not in table]
    if unknown:
        from difflib import get_close_matches

        close = get_close_matches(unknown[0], list(table), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"options: {', '.join(table)}"
        raise LlmsizeError(f"{command}: unknown option {shown(unknown[0], 40)}; {hint}")
    out = {}
    for name, (default, check) in table.items():
        value = given.get(name)
        value = default if value is None else value
        out[name] = None if value is None else check(name, value)
    return out
