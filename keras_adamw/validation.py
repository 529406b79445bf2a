"""Argument checks: each error names the argument, the value, and what is valid."""

import math
import numbers
import re
from typing import Mapping, Optional, Tuple

import numpy as np

from . import matching

__all__ = ["non_negative", "positive_int", "optional_positive_int", "boolean",
           "optional_boolean", "decay_pair", "weight_decays_arg", "lr_multipliers_arg",
           "exclude_arg", "cycle_lengths", "INT32_MAX", "REACHABLE_STEPS"]

#: schedule counters are int32 optimizer variables (JAX keeps "int64" as int32
#: unless x64 is on), so every cycle length must fit
INT32_MAX = 2 ** 31 - 1
#: the applied steps a run can reach (about a billion), for the overflow check of
#: the cycle lengths: every cycle that starts before this must fit in int32
REACHABLE_STEPS = 2 ** 30


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


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
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer >= 1{why}; got {value!r} "
                        f"of type {type(value).__name__}.")
    if value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1{why}; got {value!r}.")
    if value > INT32_MAX:
        raise ValueError(f"`{name}` must be at most {INT32_MAX} (it is kept in an int32 "
                         f"optimizer variable); got {value!r}.")
    return int(value)


def optional_positive_int(name: str, value, why: str = "") -> Optional[int]:
    return None if value is None else positive_int(name, value, why)


def non_negative_int(name: str, value, why: str = "") -> int:
    """An integer in [0, INT32_MAX]; anything else is a ValueError (naming ``name``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or not 0 <= value <= INT32_MAX:
        raise ValueError(f"`{name}` must be an integer >= 0 (at most {INT32_MAX}){why}; "
                         f"got {value!r}.")
    return int(value)


def unit_interval(name: str, value) -> float:
    """A number in (0, 1]."""
    if not _is_number(value):
        raise TypeError(f"`{name}` must be a number in (0, 1]; got {value!r} "
                        f"of type {type(value).__name__}.")
    if not 0 < value <= 1:
        raise ValueError(f"`{name}` must be in (0, 1]; got {value!r}.")
    return float(value)


def boolean(name: str, value) -> bool:
    """True or False (a NumPy bool too); a string such as "False" is a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False; got {value!r} of type "
                        f"{type(value).__name__}.")
    return bool(value)


def optional_boolean(name: str, value) -> Optional[bool]:
    return None if value is None else boolean(name, value)


def _l2(name: str, value):
    """l2: a number >= 0, or a Timescale (also as its config dict)."""
    from .units import Timescale

    if isinstance(value, Timescale):
        return value
    if Timescale.is_config(value):
        return Timescale.from_config(value)
    return non_negative(name, value)


def decay_pair(name: str, value) -> Tuple[float, object]:
    """A decay given as ``l2`` or as ``(l1, l2)``, returned as ``(l1, l2)``; l2 may be a
    ``Timescale``."""
    from .units import Timescale

    if _is_number(value) or isinstance(value, Timescale) or Timescale.is_config(value):
        return 0.0, _l2(name, value)
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"`{name}` must be a number (l2) or a pair (l1, l2); "
                             f"got {value!r} with {len(value)} entries.")
        return non_negative(f"{name}[0] (l1)", value[0]), _l2(f"{name}[1] (l2)", value[1])
    raise TypeError(f"`{name}` must be a number (l2), a Timescale, or a pair (l1, l2); got "
                    f"{value!r} of type {type(value).__name__}.")


def weight_decays_arg(value, name: str = "weight_decays"):
    """None, a float or a Timescale (l2 for every variable), or
    ``{name: l2 | Timescale | (l1, l2)}``.

    Returns None, a float, a Timescale, or a dict of normalized keys to ``(l1, l2)``.
    """
    from .units import Timescale

    if value is None:
        return None
    if _is_number(value) or isinstance(value, Timescale) or Timescale.is_config(value):
        return _l2(name, value)
    if isinstance(value, Mapping):
        value = matching.normalize_keys(name, value)
        return {k: decay_pair(f"{name}[{matching.key_to_config(k)!r}]", v)
                for k, v in value.items()}
    raise TypeError(
        f"`{name}` must be None, a number or a Timescale (l2 for every trainable "
        "variable) or a dict {variable name: l2, Timescale or (l1, l2)}; got "
        f"{value!r} of type {type(value).__name__}.")


DECAY_TARGETS = ("zero", "initial")


def decay_toward_arg(value):
    """``"zero"``, ``"initial"``, or ``{name: "zero" | "initial"}`` (keys normalized)."""
    def target(name, v):
        if not isinstance(v, str) or v not in DECAY_TARGETS:
            raise ValueError(f"`{name}` must be 'zero' or 'initial' (decay toward 0, or "
                             f"toward w0, the weight's value at the optimizer's first update); "
                             f"got {v!r}.")
        return v

    if isinstance(value, str):
        return target("decay_toward", value)
    if isinstance(value, Mapping):
        value = matching.normalize_keys("decay_toward", value)
        return {k: target(f"decay_toward[{matching.key_to_config(k)!r}]", v)
                for k, v in value.items()}
    raise TypeError("`decay_toward` must be 'zero', 'initial' or a dict {variable or layer "
                    f"name: 'zero' | 'initial'}}; got {value!r} of type "
                    f"{type(value).__name__}.")


def optional_positive(name: str, value) -> Optional[float]:
    """None, or a finite number > 0."""
    if value is None:
        return None
    value = non_negative(name, value)
    if value == 0:
        raise ValueError(f"`{name}` must be > 0; got {value!r}.")
    return value


def lr_multipliers_arg(value) -> dict:
    """None or ``{name: multiplier >= 0}``, returned as a dict."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError("`lr_multipliers` must be a dict {variable or layer name: "
                        f"multiplier}}; got {value!r} of type {type(value).__name__}.")
    value = matching.normalize_keys("lr_multipliers", value)
    return {k: non_negative(f"lr_multipliers[{matching.key_to_config(k)!r}]", v)
            for k, v in value.items()}


TYPE_PREFIX = "type:"


def exclude_arg(value):
    """None, or one or a list of: names, compiled regular expressions, and Keras layer
    classes (written ``'type:Name'`` in a config).

    Returns ``(keys, layer_types)``: the normalized name keys, and the layer types as
    config strings ``'type:...'``.
    """
    if value is None:
        return [], []
    if isinstance(value, (str, re.Pattern, type)):
        value = [value]
    if not isinstance(value, (list, tuple, set)):
        raise TypeError("`exclude_from_weight_decay` must be a list of names, compiled "
                        "regular expressions, layer classes or keras_adamw.NORM_LAYERS, "
                        f"e.g. [keras_adamw.NORM_LAYERS, 'bias']; got {value!r}.")
    keys, types = [], []
    for item in value:
        if isinstance(item, type) or (isinstance(item, str) and item.startswith(TYPE_PREFIX)):
            types.append(layer_type_to_config(item))
        else:
            key = matching.normalize_key("exclude_from_weight_decay", item)
            if key not in keys:
                keys.append(key)
    return keys, types


def layer_type_to_config(item) -> str:
    """``keras.layers.LayerNormalization`` -> ``'type:LayerNormalization'``; a custom
    class -> ``'type:package>Name'`` when registered, else its import path."""
    if isinstance(item, str):
        if len(item) == len(TYPE_PREFIX):
            raise ValueError("`exclude_from_weight_decay` has an empty layer type 'type:'.")
        return item
    import sys

    from ._keras import keras

    layer_bases = [keras.layers.Layer]
    if "tf_keras" in sys.modules:
        layer_bases.append(sys.modules["tf_keras"].layers.Layer)
    if not any(issubclass(item, base) for base in layer_bases):
        raise TypeError("`exclude_from_weight_decay`: a class must be a Keras layer class "
                        f"such as keras.layers.LayerNormalization; got {item!r}.")
    if getattr(keras.layers, item.__name__, None) is item:
        return TYPE_PREFIX + item.__name__
    registered = keras.saving.get_registered_name(item)
    if registered != item.__name__:
        return TYPE_PREFIX + registered
    return f"{TYPE_PREFIX}{item.__module__}.{item.__qualname__}"


def cycle_lengths(total_iterations: Optional[int], t_mult: int, autorestart: bool) -> None:
    """ValueError if a cycle a run can reach (within ``REACHABLE_STEPS`` applied
    steps) would be longer than its int32 counter holds."""
    if total_iterations is None or not autorestart or t_mult == 1:
        return
    start, length = 0, total_iterations
    while start < REACHABLE_STEPS:
        if length > INT32_MAX:
            raise ValueError(
                f"`total_iterations`={total_iterations} with `t_mult`={t_mult}: the cycle "
                f"that starts after {start} applied steps would be {length} steps long, "
                f"more than its int32 counter holds ({INT32_MAX}). Use a smaller "
                "`t_mult` or `total_iterations`, or `autorestart=False`.")
        start += length
        length *= t_mult
