"""Argument checks: each error names the argument, the value, and what is valid."""

import math
import numbers
from typing import Mapping, Optional, Tuple

from . import matching

__all__ = ["non_negative", "positive_int", "decay_pair", "weight_decays_arg",
           "lr_multipliers_arg", "exclude_arg"]


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def non_negative(name: str, value) -> float:
    """A finite real number >= 0, as float."""
    if not _is_number(value):
        raise TypeError(f"`{name}` must be a number >= 0; got {value!r} "
                        f"of type {type(value).__name__}.")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0; got {value!r}.")
    return float(value)


def positive_int(name: str, value, why: str = "") -> int:
    """An integer >= 1 (an integral float such as 100.0 is not accepted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer >= 1{why}; got {value!r} "
                        f"of type {type(value).__name__}.")
    if value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1{why}; got {value!r}.")
    return int(value)


def decay_pair(name: str, value) -> Tuple[float, float]:
    """A decay given as ``l2`` or as ``(l1, l2)``, returned as ``(l1, l2)``."""
    if _is_number(value):
        return 0.0, non_negative(name, value)
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"`{name}` must be a number (l2) or a pair (l1, l2); "
                             f"got {value!r} with {len(value)} entries.")
        return non_negative(f"{name}[0] (l1)", value[0]), non_negative(f"{name}[1] (l2)", value[1])
    raise TypeError(f"`{name}` must be a number (l2) or a pair (l1, l2); got "
                    f"{value!r} of type {type(value).__name__}.")


def weight_decays_arg(value):
    """None, a float (l2 for every variable), or ``{name: l2 | (l1, l2)}``.

    Returns None, a float, or a dict of normalized names to ``(l1, l2)``.
    """
    if value is None:
        return None
    if _is_number(value):
        return non_negative("weight_decays", value)
    if isinstance(value, Mapping):
        value = matching.normalize_keys("weight_decays", value)
        return {k: decay_pair(f"weight_decays[{k!r}]", v) for k, v in value.items()}
    raise TypeError(
        "`weight_decays` must be None, a number (l2 for every trainable variable) "
        "or a dict {variable name: l2 or (l1, l2)}; got "
        f"{value!r} of type {type(value).__name__}.")


def lr_multipliers_arg(value) -> dict:
    """None or ``{name: multiplier >= 0}``, returned as a dict."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError("`lr_multipliers` must be a dict {variable or layer name: "
                        f"multiplier}}; got {value!r} of type {type(value).__name__}.")
    value = matching.normalize_keys("lr_multipliers", value)
    return {k: non_negative(f"lr_multipliers[{k!r}]", v) for k, v in value.items()}


def exclude_arg(value) -> list:
    """None, a name, or a list of names; returned as a list of normalized names."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple, set)) or not all(isinstance(v, str) for v in value):
        raise TypeError("`exclude_from_weight_decay` must be a list of name "
                        f"patterns (str), e.g. ['bias', 'norm']; got {value!r}.")
    return [matching.normalize_name(v) for v in value]


def optional_positive_int(name: str, value, why: str = "") -> Optional[int]:
    return None if value is None else positive_int(name, value, why)
