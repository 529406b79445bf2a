"""Weight decays declared by a model's regularizers, and the penalties turned off:
``keras3.py`` for Keras 3 models, ``tf_keras.py`` for tf_keras (Keras 2) ones, both
on ``common.py``. This module picks by the model's type."""

from .._keras import is_tf_keras_model
from . import keras3
from .keras3 import (DeclaredDecay, declared_decay, regularizer_decay,  # noqa: F401
                     turn_off_variable)

__all__ = ["DeclaredDecay", "get_weight_decays", "zero_penalties", "restore_penalties",
           "declared_decay", "turn_off_variable", "regularizer_decay"]

# Saved configs name the class by this module, as before the split.
DeclaredDecay.__module__ = __name__


def _for(model):
    if is_tf_keras_model(model):  # tf_keras keeps its penalties on layers
        from . import tf_keras

        return tf_keras
    return keras3


def get_weight_decays(model, warn: bool = True, warn_collisions: bool = True) -> dict:
    """``{variable.path: (l1, l2)}`` for every trainable weight that declares a decay
    (``keras3.get_weight_decays``; tf_keras models by ``tf_keras.get_weight_decays``)."""
    return _for(model).get_weight_decays(model, warn, warn_collisions)


get_weight_decays.__doc__ = keras3.get_weight_decays.__doc__


def zero_penalties(model) -> None:
    """Turn every L1/L2/L1L2 weight penalty of ``model`` into a declared decay."""
    _for(model).zero_penalties(model)


zero_penalties.__doc__ = keras3.zero_penalties.__doc__


def restore_penalties(model) -> dict:
    """Give a Keras 3 ``model`` its L1/L2 penalties back (``keras3.restore_penalties``)."""
    if is_tf_keras_model(model):
        raise TypeError("restore_penalties: tf_keras models keep their penalties on "
                        "their layers; rebuild the model from its code instead.")
    return keras3.restore_penalties(model)


restore_penalties.__doc__ = keras3.restore_penalties.__doc__
