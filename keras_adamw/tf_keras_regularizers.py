"""Weight decays from a tf_keras (Keras 2) model's regularizers, and the penalties zeroed.

tf_keras keeps a weight's penalty on its layer, not on the variable: ``add_weight(
regularizer=r)`` adds ``functools.partial(_loss_for_variable, variable)`` (wrapped by
``add_loss`` in another partial) to the layer's ``_callable_losses``, with ``r`` in the
function's closure. Reading those
partials finds every weight penalty (nested models, RNN cells, wrappers, custom
layers) with its variable; zeroing removes the partial (``model.losses``) and clears
the layer attributes holding the regularizer (the config, so a reloaded model has no
penalty either). Same contract as ``regularizers.py`` for Keras 3.
"""

import functools
from typing import Dict, Tuple

import tf_keras

from . import matching, regularizers

__all__ = ["get_weight_decays", "zero_penalties", "zero_variable_penalties", "is_tf_keras_model"]


def is_tf_keras_model(model) -> bool:
    return isinstance(model, tf_keras.layers.Layer)


def regularizer_decay(regularizer):
    return regularizers.regularizer_decay(regularizer, tf_keras.regularizers)


def _penalties(model):
    """(layer, loss function, variable, regularizer) for each weight penalty."""
    for layer in model._flatten_layers(include_self=True, recursive=True):
        for fn in list(getattr(layer, "_callable_losses", [])):
            inner = fn  # add_loss wraps it: partial(_tag_callable, partial(_loss_for_variable, v))
            while (isinstance(inner, functools.partial) and inner.args
                   and isinstance(inner.args[0], functools.partial)):
                inner = inner.args[0]
            if not (isinstance(inner, functools.partial) and inner.args):
                continue
            code = inner.func.__code__
            if "regularizer" not in code.co_freevars or inner.func.__closure__ is None:
                continue
            cell = inner.func.__closure__[code.co_freevars.index("regularizer")]
            yield layer, fn, inner.args[0], cell.cell_contents


def get_weight_decays(model, warn: bool = True) -> Dict[str, Tuple[float, float]]:
    """``{variable name without ':0': (l1, l2)}`` for every L1/L2/L1L2-penalized weight."""
    regularizers.require_built(model)
    trainable = {id(v) for v in model.trainable_weights}
    return regularizers.decays_by_name(
        ((matching.normalize_name(v.name), r) for _, _, v, r in _penalties(model)
         if id(v) in trainable),
        regularizer_decay, warn)


def zero_penalties(model) -> None:
    """Remove every L1/L2/L1L2 weight penalty from the model and its config."""
    regularizers.require_built(model)
    removed = []
    for layer, fn, _, regularizer in list(_penalties(model)):
        if regularizer_decay(regularizer) is not None:
            layer._callable_losses.remove(fn)
            removed.append(regularizer)
    if removed:
        # The objects whose penalties were removed, and any other L1/L2/L1L2 a layer
        # keeps for its config (Bidirectional's untracked original layer holds
        # copies of its children's regularizers).
        regularizers.clear_regularizer_attributes(
            _all_layers(model),
            lambda attribute, value: any(value is r for r in removed) or (
                attribute.endswith("_regularizer") and regularizer_decay(value) is not None))


def _all_layers(model):
    """Every layer reachable from the model, also those a layer holds without
    tracking them (tf_keras' Bidirectional keeps the layer it was given, untracked,
    and serializes it in its config)."""
    seen, stack = set(), [model]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        stack.extend(layer._flatten_layers(include_self=False, recursive=False))
        stack.extend(v for v in vars(layer).values() if isinstance(v, tf_keras.layers.Layer))


def zero_variable_penalties(variables) -> list:
    """tf_keras variables do not know their layer's penalties: nothing to clear here
    (``zero_penalties(model)`` does it from the model)."""
    return []
