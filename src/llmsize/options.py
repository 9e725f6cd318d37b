"""The option types shared by the command line and the Python API, in one place.

Every option is checked at the door, and a bad value raises ``OptionError`` (an ``LlmsizeError``)
whose one-line message names the option, the value and what is allowed::

    engine 'tgi' is not one of hf, vllm, llamacpp
    gpu_mem 'lots' is not a size (try 80GiB, 1.5GB or 512MiB)
    batch 0 must be positive (an integer ≥ 1)

The API names its options (``new_tokens``); the CLI rewrites the name into its flag
(``--new-tokens``) with ``OptionError.for_cli``. Choices accept their string or their enum member,
sizes an integer of bytes or a string such as ``"80GiB"`` or ``"1.5GB"`` (``units.parse_bytes``).
The argparse types at the end wrap the same checks, so a flag and a keyword agree.
"""

from __future__ import annotations

from enum import Enum

from .errors import LlmsizeError, shown
from .limits import MAX_BYTES, MAX_CONTEXT, MAX_TOKENS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import TypeVar

    E = TypeVar("E", bound=Enum)

# --- the choices of each option (the CLI's choices= and the API's checks) ---------------------

ENGINES = ("hf", "vllm", "llamacpp")
DTYPES = ("fp32", "fp16", "bf16")
ATTN = ("eager", "sdpa", "flash")
LOGITS = ("last", "all")
SAMPLERS = ("torch", "flashinfer")  # vLLM's top-k/top-p sampler (inference/vllm.py)
VLLM_VERSIONS = ("0.11.0", "0.21.0")  # vLLM releases whose start-up is mirrored (inference/vllm_versions.py)
FLASH_ATTN = ("auto", "on", "off")  # llama.cpp -fa
INFER_METHODS = ("estimate", "seed")
PARAMS_METHODS = ("exact", "seed")
RECIPES = ("fp32", "amp", "pure-bf16", "megatron", "deepspeed")
OPTIMIZERS = ("adamw", "adam-8bit", "paged-adamw", "sgd", "sgd-momentum", "adafactor", "lion", "muon")
OPTIM_DTYPES = ("fp32", "bf16", "fp16")
OPTIM_IMPLS = ("fused", "foreach", "for-loop")
RECOMPUTE = ("none", "selective", "full")
LOOPS = ("trainer", "plain", "fused-ce")  # what the logits cost (training/loop.py); trainer is the default
ADAPTER_DTYPES = ("fp32", "bf16", "fp16")  # peft autocast_adapter_dtype=True keeps fp32 (training/lora.py)
ZERO_STAGES = (0, 1, 2, 3)
FSDP = ("none", "full", "shard-grad-op", "hybrid")
OFFLOAD = ("none", "optimizer", "params")

DEFAULT_SEQ = 4096  # train: tokens per sequence, capped at the model's context
# API options whose CLI flag is not --the-same-name (a flag that turns a default True off)
CLI_FLAGS = {"custom_all_reduce": "--disable-custom-all-reduce"}


class OptionError(LlmsizeError):
    """A bad option value: ``option`` names it as the API spells it, ``problem`` says what is wrong;
    ``mentions`` are other options the problem names. ``prefix=False``: the problem is the whole
    message (it names the option itself)."""

    def __init__(self, option: str, problem: str, *, mentions: Sequence[str] = (),
                 prefix: bool = True) -> None:
        super().__init__(f"{option} {problem}" if prefix else problem)
        self.option, self.problem, self.mentions = option, problem, (option, *mentions)

    def for_cli(self) -> str:
        """The same message with every option it names written as its CLI flag."""
        import re

        text = str(self)
        for name in self.mentions:
            flag = CLI_FLAGS.get(name, "--" + name.replace("_", "-"))
            text = re.sub(rf"(?<![\w-]){name}(?!\w)", flag, text)
        return text


def _listed(allowed: Sequence[object]) -> str:
    return ", ".join(str(a) for a in allowed)


def choice(option: str, value: object, allowed: Sequence[str]) -> str:
    """One of ``allowed``, given as the string or as an enum member whose value it is."""
    text = value.value if isinstance(value, Enum) else value
    if isinstance(text, str) and text in allowed:
        return text
    raise OptionError(option, f"{shown(value, 40)} is not one of {_listed(allowed)}")


def enum_option(option: str, value: object, enum: type[E], aliases: Mapping[str, E] | None = None) -> E:
    """A member of ``enum``: the member, its value, its name (any case) or one of ``aliases``."""
    if isinstance(value, enum):
        return value
    if isinstance(value, str) and aliases and value in aliases:
        return aliases[value]
    for member in enum:
        if not isinstance(value, bool) and (value == member.value or (
                isinstance(value, str) and value.upper().replace("-", "_") == member.name)):
            return member
    allowed = [*(m.value for m in enum), *(aliases or ())]
    raise OptionError(option, f"{shown(value, 40)} is not one of {_listed(allowed)}")


def integer(option: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    """An int (or its digits, ``_`` and ``,`` allowed as separators) in ``minimum..maximum``
    (``limits.py`` gives the plausibility limits)."""
    number = value
    if isinstance(value, str):
        try:
            number = int(value.replace("_", "").replace(",", ""))
        except ValueError:
            raise OptionError(option, f"{shown(value, 40)} is not an integer") from None
    if not isinstance(number, int) or isinstance(number, bool):
        raise OptionError(option, f"{shown(value, 40)} is not an integer")
    if number < minimum:
        what = "positive (an integer ≥ 1)" if minimum == 1 else f"an integer ≥ {minimum}"
        raise OptionError(option, f"{shown(value, 40)} must be {what}")
    if maximum is not None and number > maximum:
        raise OptionError(option, f"{shown(value, 40)} is beyond any real value (at most {maximum:,})")
    return number


def positive_int(option: str, value: object) -> int:
    return integer(option, value, minimum=1)


def bounded(maximum: int, minimum: int = 1) -> Callable[[str, object], int]:
    """The check of an integer option in ``minimum..maximum``."""
    def check(option: str, value: object) -> int:
        return integer(option, value, minimum=minimum, maximum=maximum)

    return check


def size(option: str, value: object) -> int:
    """Bytes: an int ≥ 0, or a string with a unit (``"80GiB"``, ``"1.5GB"``, ``"512"``), at most
    ``MAX_BYTES`` (1 EiB: ``1e400GiB`` is refused, not an OverflowError)."""
    from .units import parse_bytes

    if isinstance(value, str):
        try:
            number = parse_bytes(value)
        except ValueError as e:
            raise OptionError(option, str(e)) from None
    else:
        number = integer(option, value, minimum=0)
    if number > MAX_BYTES:
        raise OptionError(option, f"{shown(value, 40)} is beyond any real memory (at most 1 EiB)")
    return number


def positive_size(option: str, value: object) -> int:
    """A ``size`` of at least one byte (a GPU of 0 bytes holds nothing)."""
    number = size(option, value)
    if number < 1:
        raise OptionError(option, f"{shown(value, 40)} must be a positive size, such as 80GiB")
    return number


def fraction(option: str, value: object) -> float:
    """A float in (0, 1], such as vLLM's gpu_memory_utilization."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise OptionError(option, f"{shown(value, 40)} is not a number in (0, 1]")
    try:
        number = float(value)
    except ValueError:
        raise OptionError(option, f"{shown(value, 40)} is not a number in (0, 1]") from None
    if not 0 < number <= 1:
        raise OptionError(option, f"{shown(value, 40)} is not a number in (0, 1]")
    return number


def probability(option: str, value: object) -> float:
    """A float in [0, 1), such as a dropout probability."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise OptionError(option, f"{shown(value, 40)} is not a probability in [0, 1)")
    try:
        number = float(value)
    except ValueError:
        raise OptionError(option, f"{shown(value, 40)} is not a probability in [0, 1)") from None
    if not 0 <= number < 1:
        raise OptionError(option, f"{shown(value, 40)} is not a probability in [0, 1)")
    return number


TOKEN_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}  # SI; B (billion) as in "15T tokens"


def token_count(option: str, value: object) -> float:
    """A number of tokens, > 0 and at most ``MAX_TOKENS``: a number, or a string such as ``"1e12"``,
    ``"15T"``, ``"2.5B"`` (k, M, B or G, T: 10³, 10⁶, 10⁹, 10¹²)."""
    import math

    bad = OptionError(option, f"{shown(value, 40)} is not a token count (e.g. 1e12, 15T, 300B)")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise bad
    number: float
    if isinstance(value, str):
        text = value.strip().replace("_", "").replace(",", "")
        scale = TOKEN_SUFFIXES.get(text[-1:].lower(), 1.0) if text[-1:].isalpha() else 1.0
        try:
            number = float(text[:-1] if scale != 1.0 else text) * scale
        except ValueError:
            raise bad from None
    else:
        number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise OptionError(option, f"{shown(value, 40)} must be a count above 0 (e.g. 1e12)")
    if number > MAX_TOKENS:
        raise OptionError(option, f"{shown(value, 40)} is beyond any real training run "
                                  f"(at most {MAX_TOKENS:.0e})")
    return number


def optional(check: Callable[[str, object], object]) -> Callable[[str, object], object]:
    """``check``, letting None (the option left at its default) through."""
    def checked(option: str, value: object) -> object:
        return None if value is None else check(option, value)

    return checked


# --- argparse types: the same checks, reported as argparse reports a bad flag -----------------


def _argparse_type(check: Callable[[str, object], object], name: str) -> Callable[[str], object]:
    def parse(text: str) -> object:
        try:
            return check("", text)
        except OptionError as e:
            import argparse

            raise argparse.ArgumentTypeError(e.problem) from None

    parse.__name__ = name
    return parse


arg_positive_int = _argparse_type(positive_int, "positive_int")
arg_natural = _argparse_type(lambda option, value: integer(option, value, minimum=0), "natural")
arg_int = _argparse_type(lambda option, value: integer(option, value, minimum=-(2**63)), "int")
arg_size = _argparse_type(size, "size")
arg_probability = _argparse_type(probability, "probability")
arg_context = _argparse_type(lambda option, value: integer(option, value, minimum=1, maximum=MAX_CONTEXT),
                             "context")
