"""What a config carries so that a restored optimizer rebuilds its plan without the
model: the variable paths in build order, the positions excluded by layer class and
the decays the variables declared (tf_keras variables lose theirs through save and
load).

Keras 3 does not keep every path through ``model.save`` and ``load_model``: the
weights of layers inside wrappers (Bidirectional, TimeDistributed, RNN cells) come
back without the wrapper's prefix (``bidi/forward_gru/...`` becomes
``forward_gru/...``). The saved paths are used only when they describe the same
model: as many variables, each current path equal to the saved one or a tail of it
after a ``/``. A config reused on another model matches the new model's own paths.
"""

import importlib
import re
import sys
from typing import Dict, Optional, Sequence

from . import matching, validation

__all__ = ["path_of", "paths_for", "type_excluded_ids", "type_excluded", "layer_class",
           "saved_decays", "NORM_LAYERS", "is_normalization_layer"]

#: the name-free exclusion of every normalization layer's own weights (its config form)
NORM_LAYERS = validation.TYPE_PREFIX + "all-normalization"
_NORM_NAME = re.compile(r"Norm(alization)?(?=[A-Z0-9_]|$)")


def path_of(variable) -> str:
    path = getattr(variable, "path", None)
    return matching.normalize_name(path if path else variable.name)


def paths_for(variables, saved: Optional[Sequence[str]]):
    """(the path each variable is matched by, whether ``saved`` describes them)."""
    paths = [path_of(v) for v in variables]
    same = saved is not None and len(saved) == len(paths) and all(
        s == p or s.endswith("/" + p) for s, p in zip(saved, paths))
    return (list(saved) if same else paths), same


def is_normalization_layer(layer) -> bool:
    """A normalization layer, by name: its class or a base class below Keras' ``Layer``
    is named ``...Norm`` or ``...Normalization`` (also followed by a capital, a digit
    or ``_``): Keras' LayerNormalization, RMSNormalization, BatchNormalization,
    GroupNormalization, KerasHub's RMSNormalization, LlamaLayerNorm, T5LayerNorm,
    RmsNorm2d ..., and a user's own."""
    return any(_NORM_NAME.search(klass.__name__) for klass in type(layer).__mro__)


def _own_weights(layer) -> list:
    """The weights of a layer that are none of its sub-layers' (a composite such as a
    conv-norm block keeps its conv kernel decayed, and so does the kernel a
    SpectralNormalization wrapper tracks of the layer it wraps)."""
    inner = {id(v) for sub in layer._flatten_layers(include_self=False, recursive=True)
             for v in sub.weights}
    return [v for v in layer.weights if id(v) not in inner]


def type_excluded_ids(model, type_names) -> Dict[str, set]:
    """For each layer type (``'type:...'``), the ids of the weights it excludes: every
    weight inside a layer of that class, or for ``NORM_LAYERS`` the own weights of
    every normalization layer (``is_normalization_layer``)."""
    layers = list(model._flatten_layers(include_self=True, recursive=True))
    out = {}
    for name in type_names:
        ids = set()
        if name == NORM_LAYERS:
            for layer in layers:
                if is_normalization_layer(layer):
                    ids.update(id(v) for v in _own_weights(layer))
        else:
            cls = layer_class(name)
            for layer in layers:
                if isinstance(layer, cls):
                    ids.update(id(v) for v in layer.weights)
        out[name] = ids
    return out


def type_excluded(variables, type_names, ids: Optional[set], saved: Optional[list],
                  same_model: bool) -> set:
    """Build-order indices of the variables excluded by layer class: from the model
    (``ids``), else from the saved positions when they describe these variables."""
    if not type_names:
        return set()
    if ids is not None:
        return {i for i, v in enumerate(variables) if id(v) in ids}
    if same_model and saved is not None:
        return set(saved)
    raise ValueError(
        "`exclude_from_weight_decay` has layer classes "
        f"{list(type_names)} but this optimizer was built on variables of "
        "another model than the one it was saved with, so it cannot tell their "
        "layers: create it with model=model.")


def saved_decays(saved: Optional[list], count: int, same_model: bool) -> Optional[list]:
    """The decays saved per build position, when they describe these variables."""
    if not same_model or saved is None or len(saved) != count:
        return None
    return saved


def layer_class(config_name: str):
    """``'type:LayerNormalization'`` -> ``keras.layers.LayerNormalization`` (also a
    registered ``'type:package>Name'`` or an import path ``'type:module.Name'``)."""
    from ._keras import keras

    name = config_name[len(validation.TYPE_PREFIX):]
    found = getattr(keras.layers, name, None) if "." not in name and ">" not in name else None
    if found is None and ">" in name:
        found = keras.saving.get_registered_object(name)
    if found is None and "." in name:
        module, _, attribute = name.rpartition(".")
        try:
            found = getattr(importlib.import_module(module), attribute, None)
        except ImportError:
            found = None
    if found is None:
        tf_keras = sys.modules.get("tf_keras")
        found = getattr(tf_keras.layers, name, None) if tf_keras is not None else None
    if not isinstance(found, type):
        raise ValueError(f"`exclude_from_weight_decay`: no layer class {name!r} (from "
                         f"{config_name!r}); give the class itself.")
    return found
