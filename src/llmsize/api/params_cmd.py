"""``params``: the exact count of a SOURCE or of explicit hyperparameters, or the blog's."""

from __future__ import annotations

from dataclasses import replace

from .. import options as o
from .source import opened

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..arch import Architecture
    from ..parameters import ParamReport
    from ..seed import SeedReport
    from .source import Source


def params_report(source: Source | None, opts: dict[str, Any]) -> ParamReport | SeedReport:
    """``llmsize.api.params`` once its options are checked."""
    from ..parameters import count_params
    from ..sources.explicit import FAMILY_DEFAULT, OVERRIDES, from_hyperparameters, override

    values = {k: opts[k] for k in OVERRIDES if opts[k] is not None}
    if source and opts["family"]:
        raise o.OptionError("family", "params: --family describes explicit hyperparameters; a SOURCE "
                            "has its own family", prefix=False)
    if opts["params"] is not None:
        from ..seed import seed_from_params

        return seed_from_params(opts["params"])
    warnings: tuple[str, ...] = ()
    if source:
        from ..sources.resolve import resolve

        resolved, base = opened(source, "params", opts["revision"], reader=resolve)
        arch, warnings = override(base, values), resolved.warnings
    else:
        missing = [k for k in ("hidden_size", "num_layers", "num_heads", "vocab_size") if k not in values]
        if missing:
            problem = f"params: give a SOURCE, or the hyperparameters {', '.join(missing)}"
            raise o.OptionError(missing[0], problem, mentions=missing, prefix=False)
        arch, warnings = from_hyperparameters(values, family=opts["family"] or FAMILY_DEFAULT)
    if opts["method"] == "seed":
        return replace(_seed(arch), warnings=warnings)
    exact = count_params(arch, warnings)
    return exact if source else replace(exact, seed=_seed(arch))


def _seed(arch: Architecture) -> SeedReport:
    """The blog's count of ``arch``'s GPT-2-style core (imported here: a SOURCE's exact count
    does not show it)."""
    from ..seed import seed_count

    return seed_count(d_model=arch.d_model, n_layers=arch.n_layers, n_heads=arch.n_heads,
                      vocab_size=arch.vocab_size)
