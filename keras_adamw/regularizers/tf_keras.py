"""Weight decays from a tf_keras (Keras 2) model's regularizers, and the penalties
turned off.

tf_keras keeps a weight's penalty on its layer, not on the variable: ``add_weight(
regularizer=r)`` adds ``functools.partial(_loss_for_variable, variable)`` (wrapped by
``add_loss`` in another partial) to the layer's ``_callable_losses``, with ``r`` in the
function's closure. Reading those partials finds every weight penalty (nested models,
RNN cells, wrappers, custom layers) with its variable.

Turning a penalty off removes the partial (``model.losses``), keeps the decay on the
variable (``variable.declared_decay``) and puts a :class:`DeclaredDecay` marker in the
layer attributes that held the regularizer, so the config, and a model saved and
loaded again, declares the same decay: the reloaded layer's penalty is the marker,
which adds zero to the loss and is read as that decay. Same contract as
``keras3.py`` for Keras 3.
"""

import functools
import warnings
from typing import Dict, Optional

import tf_keras

from .. import matching
from . import common

__all__ = ["DeclaredDecay", "get_weight_decays", "zero_penalties", "declared_decay",
           "turn_off_variable"]

Decay = common.Decay


@tf_keras.saving.register_keras_serializable(package="keras_adamw", name="DeclaredDecay")
class DeclaredDecay(tf_keras.regularizers.Regularizer):
    """tf_keras' twin of ``keras_adamw.regularizers.DeclaredDecay``: no loss, and the
    decay ``(l1, l2)`` a penalty declared."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = float(l1)
        self.l2 = float(l2)

    def __call__(self, x):
        return tf_keras.backend.constant(0.0, dtype=x.dtype)

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


# tf_keras' legacy (h5) loader looks regularizers up by their bare class name.
tf_keras.utils.get_custom_objects().setdefault("DeclaredDecay", DeclaredDecay)


def regularizer_decay(regularizer) -> Optional[Decay]:
    return common.penalty_decay(regularizer, tf_keras.regularizers, DeclaredDecay)


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


def declared_decay(variable, turned_off_only: bool = False) -> Optional[Decay]:
    """The decay kept on a tf_keras variable whose penalty was turned off."""
    return getattr(variable, common.DECAY_ATTRIBUTE, None)


def turn_off_variable(variable, decay: Decay) -> bool:
    """tf_keras variables do not hold their penalties: nothing to turn off here
    (``zero_penalties(model)`` does it from the model)."""
    return False


def get_weight_decays(model, warn: bool = True, warn_collisions: bool = True) -> Dict[str, Decay]:
    """``{variable name without ':0': (l1, l2)}`` for every trainable weight that
    declares a decay (a live penalty, or one turned off)."""
    common.require_built(model)
    trainable = {id(v): v for v in model.trainable_weights}
    found, untranslatable = {}, []
    for _, _, variable, regularizer in _penalties(model):
        if id(variable) in trainable:
            decay = regularizer_decay(regularizer)
            if decay is None:
                untranslatable.append(
                    f"{matching.normalize_name(variable.name)} ({type(regularizer).__name__})")
            else:
                found[id(variable)] = decay
    decays, collisions = {}, []
    for variable in trainable.values():
        decay = declared_decay(variable) or found.get(id(variable))
        if decay is None:
            continue
        name = matching.normalize_name(variable.name)
        if name in decays and decays[name] != decay:
            collisions.append(name)
        decays.setdefault(name, decay)
    if warn:
        common.warn_untranslatable(untranslatable)
    if warn_collisions and collisions:
        warnings.warn(f"keras_adamw: several weights share the name(s) {collisions} "
                      "with different decays; this dict keeps the first.", stacklevel=2)
    return decays


def zero_penalties(model) -> None:
    """Turn every L1/L2/L1L2 weight penalty of the model into a declared decay."""
    common.require_built(model)
    markers = {}
    for layer, fn, variable, regularizer in list(_penalties(model)):
        decay = regularizer_decay(regularizer)
        if decay is None:
            continue
        layer._callable_losses.remove(fn)
        common.turn_off(variable, decay)
        if type(regularizer) is not DeclaredDecay:
            markers[id(regularizer)] = DeclaredDecay(*decay)

    def replacement(value):
        # The objects whose penalties were turned off, and any other L1/L2/L1L2 a
        # layer keeps for its config (Bidirectional's untracked original layer holds
        # copies of its children's regularizers).
        if id(value) in markers:
            return markers[id(value)]
        if type(value) is not DeclaredDecay and regularizer_decay(value) is not None:
            return DeclaredDecay(*regularizer_decay(value))
        return None

    if markers:
        common.replace_layer_attributes(_all_layers(model), replacement)


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
