"""Weight decays declared by a Keras 3 model's regularizers, and the penalties turned off.

A Keras ``L1L2(l1, l2)`` regularizer on a weight w adds ``l1 * sum|w| + l2 * sum w^2``
to the loss. Read as a decoupled decay it becomes the pair ``(l1, l2)`` of the
update ``w <- w - eta_t * s * (l1 * sign(w) + l2 * w)`` (see ``decoupled.py``).

A read decay belongs to its variable, never to a name: Keras 3 paths are not unique
(two sub-models that each have a layer ``proj`` both give ``proj/kernel``).

Turning a penalty off (``zero_penalties``) must not forget the decay it declared, or a
second ``AdamW(model=m)`` (a re-run notebook cell, a recompile after unfreezing)
would read nothing. Keras 3 computes weight penalties from ``variable.regularizer``
alone, so a penalty is turned off on its variable: the decay is kept as
``variable.declared_decay`` and ``variable.regularizer`` becomes None (``model.losses``
holds no entry for it). The layer keeps its regularizer for its config: a saved model
is the model as written, which Keras alone loads (an inference server needs no
keras_adamw). Loaded again with keras_adamw, its penalties are live until an
optimizer that reads decays from the model (``model=``, or the one ``load_model``
restores, built while loading) turns them off again; ``restore_penalties`` gives a
model its penalties back.

keras_adamw 2.2.0 put a :class:`DeclaredDecay` marker in the layer attributes instead
(adds nothing to the loss, declares the decay): its saved files still load, and
declare the same decays.

keras-adamw 1.38 read the regularizers after zeroing them, and so read nothing.
"""

import warnings
from typing import Dict, Optional

from .._keras import keras, ops
from . import common
from .common import DECAY_ATTRIBUTE, Decay, require_built, turn_off, unique

__all__ = ["DeclaredDecay", "get_weight_decays", "zero_penalties", "restore_penalties",
           "declared_decay", "turn_off_variable", "regularizer_decay"]


@keras.saving.register_keras_serializable(package="keras_adamw", name="DeclaredDecay")
class DeclaredDecay(keras.regularizers.Regularizer):
    """An L1/L2/L1L2 penalty turned into a decoupled decay: adds nothing to the loss,
    and declares the decay ``(l1, l2)`` that keras_adamw's optimizers apply."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = float(l1)
        self.l2 = float(l2)

    def __call__(self, x):
        return ops.zeros((), dtype=getattr(x, "dtype", "float32"))

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self) -> str:
        return f"DeclaredDecay(l1={self.l1:g}, l2={self.l2:g})"


def regularizer_decay(regularizer) -> Optional[Decay]:
    """``(l1, l2)`` of a Keras 3 L1, L2, L1L2 or DeclaredDecay regularizer, else None."""
    return common.penalty_decay(regularizer, keras.regularizers, DeclaredDecay)


def is_penalty(regularizer) -> bool:
    """An L1/L2/L1L2 regularizer that adds to the loss (not a marker)."""
    return type(regularizer) is not DeclaredDecay and regularizer_decay(regularizer) is not None


def declared_decay(variable, turned_off_only: bool = False) -> Optional[Decay]:
    """The decay a Keras 3 variable's regularizer declares: kept on the variable
    once turned off, a marker (a reloaded model), or (unless ``turned_off_only``) a
    live L1/L2/L1L2 penalty."""
    kept = getattr(variable, DECAY_ATTRIBUTE, None)
    if kept is not None:
        return kept
    regularizer = getattr(variable, "regularizer", None)
    if regularizer is None or (turned_off_only and type(regularizer) is not DeclaredDecay):
        return None
    return regularizer_decay(regularizer)


def turn_off_variable(variable, decay: Decay) -> bool:
    """Turn the variable's penalty into its declared ``decay``; True when a penalty
    was live (it added to the loss until now)."""
    regularizer = getattr(variable, "regularizer", None)
    if regularizer is None or regularizer_decay(regularizer) is None:
        return False
    turn_off(variable, decay)
    return is_penalty(regularizer)


def get_weight_decays(model, warn: bool = True, warn_collisions: bool = True) -> Dict[str, Decay]:
    """``{variable.path: (l1, l2)}`` for every trainable weight that declares a decay.

    Reads live L1/L2/L1L2 penalties and the decays of penalties already turned off
    by ``zero_penalties`` alike, and changes nothing. Paths are not unique in Keras
    3: when two weights with the same path declare different decays, the dict can
    hold only one of them and a warning says so; ``AdamW(model=model)`` gives each
    weight its own. A regularizer that is not L1, L2 or L1L2 (a custom one, an
    orthogonal regularizer) cannot be read as a decay: it stays in the loss, and is
    reported in a warning.
    """
    require_built(model)
    decays, collisions, untranslatable = {}, [], []
    for variable in unique(model.trainable_weights):
        decay = declared_decay(variable)
        if decay is None:
            regularizer = getattr(variable, "regularizer", None)
            if regularizer is not None:
                untranslatable.append(f"{variable.path} ({type(regularizer).__name__})")
            continue
        if variable.path in decays and decays[variable.path] != decay:
            collisions.append(variable.path)
        decays.setdefault(variable.path, decay)
    if warn:
        common.warn_untranslatable(untranslatable)
    if warn_collisions and collisions:
        warnings.warn(
            "keras_adamw: several weights share the path(s) "
            f"{sorted(set(collisions))} with different decays; this dict keeps the "
            "first. AdamW(model=model) gives each weight its own decay.", stacklevel=2)
    return decays


def zero_penalties(model) -> None:
    """Turn every L1/L2/L1L2 weight penalty of ``model`` into a declared decay.

    Every weight is covered, trainable or not (a layer frozen now and unfrozen later
    keeps its declared decay). Activity regularizers and regularizers that are not
    L1/L2/L1L2 are left alone. Layers keep their regularizers for their config.
    """
    require_built(model)
    for variable in unique(model.weights):
        regularizer = getattr(variable, "regularizer", None)
        decay = None if regularizer is None else regularizer_decay(regularizer)
        if decay is not None:
            turn_off(variable, decay)


def restore_penalties(model) -> Dict[str, Decay]:
    """Give ``model`` its L1/L2 penalties back: each weight whose penalty a
    ``model=`` optimizer turned into a declared decay (or a 2.2.0 file's marker) gets
    ``L1L2(l1, l2)`` as its regularizer again, so another optimizer (a baseline with
    ``keras.optimizers.Adam``) trains it with the penalties the model declares.
    Returns ``{path: (l1, l2)}`` of the weights restored."""
    require_built(model)
    restored = {}
    for variable in unique(model.weights):
        decay = getattr(variable, DECAY_ATTRIBUTE, None)
        if decay is None and type(getattr(variable, "regularizer", None)) is DeclaredDecay:
            decay = regularizer_decay(variable.regularizer)
        if decay is None:
            continue
        variable.regularizer = keras.regularizers.L1L2(l1=decay[0], l2=decay[1])
        if hasattr(variable, DECAY_ATTRIBUTE):
            delattr(variable, DECAY_ATTRIBUTE)
        restored[variable.path] = tuple(decay)
    common.replace_layer_attributes(  # a 2.2.0 marker in a layer's config
        model._flatten_layers(include_self=True, recursive=True),
        lambda value: keras.regularizers.L1L2(l1=value.l1, l2=value.l2)
        if type(value) is DeclaredDecay else None)
    return restored
