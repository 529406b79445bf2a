"""Weight decays read from a model's regularizers, and the penalties zeroed.

A Keras ``L1L2(l1, l2)`` regularizer on a weight w adds ``l1 * sum|w| + l2 * sum w^2``
to the loss. Read as a decoupled decay it becomes the pair ``(l1, l2)`` of the
update ``w <- w - eta_t * s * (l1 * sign(w) + l2 * w)`` (see ``decoupled.py``).
The pair is read first, then (``zero_penalties=True``) the penalty is removed from
the model so that the weight is not decayed twice, once by the optimizer and once
through the gradient. keras-adamw 1.38 did these two in the opposite order and so
read zeros.
"""

import warnings
from typing import Dict, Sequence, Tuple

import numpy as np

from ._keras import keras

__all__ = ["get_weight_decays", "zero_penalties", "zero_variable_penalties",
           "fill_dict_in_order", "regularizer_decay", "clear_regularizer_attributes",
           "as_written", "require_built"]

Decay = Tuple[float, float]


def as_written(value) -> float:
    """A factor as a Python float. Keras 3 keeps L1's factor as a float32 tensor and
    tf_keras keeps every factor as float32: those become the shortest decimal that
    rounds to them (1e-4, not 9.99999975e-05), i.e. what the user wrote."""
    if isinstance(value, float):
        return value
    return float(str(np.float32(value)))


def regularizer_decay(regularizer, module=None) -> "Decay | None":
    """``(l1, l2)`` of an L1, L2 or L1L2 regularizer of ``module`` (Keras 3's
    ``keras.regularizers`` by default, or tf_keras'); None for any other."""
    module = module or keras.regularizers
    kind = type(regularizer)
    if kind is module.L1:
        return as_written(regularizer.l1), 0.0
    if kind is module.L2:
        return 0.0, as_written(regularizer.l2)
    if kind is module.L1L2:
        return as_written(regularizer.l1), as_written(regularizer.l2)
    return None


def _regularized_variables(model):
    """(variable, regularizer) for each trainable weight that carries a penalty.

    Keras 3 keeps the regularizer on the variable (``add_weight(regularizer=...)``),
    which is what ``model.losses`` reads, so nested models, RNN cells, wrappers and
    custom layers are all covered by walking ``model.trainable_weights``.
    """
    seen = set()
    for variable in model.trainable_weights:
        regularizer = getattr(variable, "regularizer", None)
        if regularizer is None or id(variable) in seen:
            continue
        seen.add(id(variable))
        yield variable, regularizer


def get_weight_decays(model, warn: bool = True) -> Dict[str, Decay]:
    """``{variable.path: (l1, l2)}`` for every L1/L2/L1L2-regularized weight.

    A regularizer that is not L1, L2 or L1L2 (a custom one, an orthogonal
    regularizer) cannot be read as a decay: it stays in the loss, and is reported
    once in a warning.
    """
    if _is_tf_keras(model):
        from . import tf_keras_regularizers

        return tf_keras_regularizers.get_weight_decays(model, warn)
    require_built(model)
    return decays_by_name(((v.path, r) for v, r in _regularized_variables(model)),
                          regularizer_decay, warn)


def decays_by_name(named_regularizers, translate, warn: bool) -> Dict[str, Decay]:
    """``{name: (l1, l2)}`` of the regularizers ``translate`` can read; the others
    stay in the loss and are named once in a warning."""
    decays, untranslatable = {}, []
    for name, regularizer in named_regularizers:
        decay = translate(regularizer)
        if decay is None:
            untranslatable.append(f"{name} ({type(regularizer).__name__})")
        else:
            decays[name] = decay
    if untranslatable and warn:
        warnings.warn(
            "keras_adamw: these regularizers are not L1/L2/L1L2, so they are not "
            "read as weight decays and stay in the loss: " + ", ".join(untranslatable),
            stacklevel=3)
    return decays


def zero_penalties(model) -> None:
    """Remove every L1/L2/L1L2 weight penalty from ``model``, for good.

    The variable's regularizer is cleared (so ``model.losses`` holds no weight
    penalty), and so is every layer attribute that held the same regularizer
    object (``kernel_regularizer`` and the like), so the model's config, and thus
    a model saved and loaded again, has no penalty either. Activity regularizers
    and regularizers that are not L1/L2/L1L2 are left alone.
    """
    if _is_tf_keras(model):
        from . import tf_keras_regularizers

        return tf_keras_regularizers.zero_penalties(model)
    require_built(model)
    removed = zero_variable_penalties(v for v, _ in _regularized_variables(model))
    if removed:
        clear_regularizer_attributes(
            model._flatten_layers(include_self=True, recursive=True),
            lambda attribute, value: any(value is r for r in removed))


def clear_regularizer_attributes(layers, should_clear) -> None:
    """Set to None each layer attribute (not ``activity_regularizer``) for which
    ``should_clear(name, value)``: the regularizers a layer keeps for its config."""
    for layer in layers:
        for attribute, value in list(vars(layer).items()):
            if attribute == "activity_regularizer" or attribute.startswith("__"):
                continue
            if should_clear(attribute, value):
                setattr(layer, attribute, None)


def zero_variable_penalties(variables) -> list:
    """Clear the L1/L2/L1L2 regularizer of each variable; return those cleared."""
    removed = []
    for variable in variables:
        regularizer = getattr(variable, "regularizer", None)
        if regularizer is not None and regularizer_decay(regularizer) is not None:
            variable.regularizer = None
            removed.append(regularizer)
    return removed


def fill_dict_in_order(_dict: dict, values_list: Sequence) -> dict:
    """Assign ``values_list`` to the keys of ``_dict`` in order; return ``_dict``.

    As in keras-adamw 1.38: ``fill_dict_in_order(get_weight_decays(model),
    [(0, 1e-3), (1e-4, 2e-4)])``.
    """
    if len(values_list) != len(_dict):
        raise ValueError(
            f"fill_dict_in_order: got {len(values_list)} values for a dict of "
            f"{len(_dict)} keys {list(_dict)}; give one value per key.")
    for key, value in zip(list(_dict), values_list):
        _dict[key] = value
    return _dict


def _is_tf_keras(model) -> bool:
    """A tf_keras (Keras 2) model: its penalties live on layers, not variables."""
    if isinstance(model, keras.layers.Layer):
        return False
    try:
        from . import tf_keras_regularizers
    except ImportError:
        return False
    return tf_keras_regularizers.is_tf_keras_model(model)


def require_built(model) -> None:
    if not getattr(model, "built", False) or not model.weights:
        raise ValueError(
            f"`model` {getattr(model, 'name', model)!r} has no weights yet: build it "
            "first (give it an `Input`, or call `model.build(input_shape)`), then "
            "create the optimizer with `model=`.")
