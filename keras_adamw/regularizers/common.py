"""What reading and turning off penalties shares on both Kerases: the decay a
penalty declares, kept on its variable, and the layer attributes that keep it for the
config. ``keras3.py`` and ``tf_keras.py`` each depend on this module only."""

import warnings
from typing import Iterable, Optional, Sequence, Tuple

import numpy as np

__all__ = ["Decay", "DECAY_ATTRIBUTE", "as_written", "penalty_decay", "turn_off",
           "replace_layer_attributes", "require_built", "warn_untranslatable", "unique"]

Decay = Tuple[float, float]
#: the attribute of a variable that holds the decay its penalty declared
DECAY_ATTRIBUTE = "declared_decay"


def penalty_decay(regularizer, module, marker) -> Optional[Decay]:
    """``(l1, l2)`` of an L1, L2 or L1L2 regularizer of ``module`` (Keras 3's or
    tf_keras' ``regularizers``) or of a ``marker``; None for any other."""
    kind = type(regularizer)
    if kind is marker:
        return regularizer.l1, regularizer.l2
    if kind is module.L1:
        return as_written(regularizer.l1), 0.0
    if kind is module.L2:
        return 0.0, as_written(regularizer.l2)
    if kind is module.L1L2:
        return as_written(regularizer.l1), as_written(regularizer.l2)
    return None


def as_written(value) -> float:
    """A factor as a Python float. Keras 3 keeps L1's factor as a float32 tensor and
    tf_keras keeps every factor as float32: those become the shortest decimal that
    rounds to them (1e-4, not 9.99999975e-05), i.e. what the user wrote."""
    if isinstance(value, float):
        return value
    return float(str(np.float32(value)))


def turn_off(variable, decay: Decay) -> None:
    """Keep ``decay`` on the variable and remove its penalty from the loss."""
    setattr(variable, DECAY_ATTRIBUTE, tuple(decay))
    variable.regularizer = None


def replace_layer_attributes(layers: Iterable, replacement) -> None:
    """Set each layer attribute (never an activity regularizer) for which
    ``replacement(value)`` is not None to that value: the regularizers a layer keeps
    for its config."""
    for layer in layers:
        for attribute, value in list(vars(layer).items()):
            if "activity" in attribute or attribute.startswith("__"):
                continue
            new = replacement(value)
            if new is not None:
                setattr(layer, attribute, new)


def require_built(model) -> None:
    if not getattr(model, "built", False) or not model.weights:
        raise ValueError(
            f"`model` {getattr(model, 'name', model)!r} has no weights yet: build it "
            "first (give it an `Input`, or call `model.build(input_shape)`), then "
            "create the optimizer with `model=`.")


def warn_untranslatable(names: Sequence[str]) -> None:
    if names:
        warnings.warn(
            "keras_adamw: these regularizers are not L1/L2/L1L2, so they are not "
            "read as weight decays and stay in the loss: " + ", ".join(names),
            stacklevel=3)


def unique(variables):
    seen = set()
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            yield variable
