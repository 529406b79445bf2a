"""Layer-wise learning-rate decay as ordinary ``lr_multipliers``.

The recipe of BEiT, ELECTRA and timm's ``param_groups_layer_decay``: with n blocks
numbered 1..n from the input, the weights of block j learn at ``decay ** (n + 1 - j)``
times the learning rate; the layers before the first block (embeddings, stems) at
``decay ** (n + 1)``, those after the last (the head) at 1:

    mu(block j) = decay ** (depth from the top),   depth = n + 1 - j

The result is a plain ``{key: multiplier}`` dict for ``lr_multipliers``, with keys
that the public name matching applies to exactly the intended variables (checked
here), so it is ordinary, serializable config.
"""

import collections
import re
from typing import Dict, Optional, Sequence, Union

from . import matching
from ._keras import keras

__all__ = ["layerwise_lr_multipliers"]


def _layers_with_weights(model):
    return [layer for layer in model.layers if layer.trainable_weights]


def _as_layer(model, block):
    if isinstance(block, str):
        return model.get_layer(block)
    return block


def layerwise_lr_multipliers(model, decay: float,
                             blocks: Optional[Sequence[Union[str, "keras.layers.Layer"]]] = None
                             ) -> Dict[str, float]:
    """``lr_multipliers`` that give each block ``decay ** (depth from the top)``.

    Args:
        model: a built Keras model (Functional or Sequential).
        decay: in (0, 1]; e.g. 0.65 to 0.9 for fine-tuning a transformer.
        blocks: the blocks, from input to output, as layers or layer names (e.g. the
            transformer blocks). Default: every layer of ``model.layers`` that has
            trainable weights but the last, which is the head.

    Layers of ``model.layers`` with weights that are not blocks count as before the
    first block (``decay ** (n + 1)``) when they come before it in ``model.layers``,
    and get no entry (multiplier 1) when they come after the last.

    Returns ``{key: multiplier}``: a layer's name when it is a path component of
    exactly that layer's variables and of no other variable, else a regular
    expression for each exact path of its variables (``re:^path$`` in a config). Raises ValueError when no key can tell the layers apart (two
    layers whose variables have the same paths).
    """
    if not isinstance(decay, (int, float)) or isinstance(decay, bool) or not 0 < decay <= 1:
        raise ValueError(f"`decay` must be a number in (0, 1]; got {decay!r}.")
    if not getattr(model, "built", False) or not model.trainable_weights:
        raise ValueError("`model` must be built and have trainable weights.")
    with_weights = _layers_with_weights(model)
    if blocks is None:
        blocks = with_weights[:-1]  # the last layer with weights is the head
    blocks = [_as_layer(model, b) for b in blocks]
    if not blocks:
        raise ValueError("`blocks` is empty: give the model's blocks, input to output.")
    n = len(blocks)
    depth = {id(layer): n - j for j, layer in enumerate(blocks)}  # 1 for the last block
    order = [id(layer) for layer in with_weights]
    first = min((order.index(id(b)) for b in blocks if id(b) in order), default=0)
    stem = [layer for layer in with_weights[:first] if id(layer) not in depth]
    for layer in stem:
        depth[id(layer)] = n + 1
    groups = [(layer, decay ** depth[id(layer)]) for layer in stem + blocks]

    all_paths = [v.path for v in model.trainable_variables]
    counts = collections.Counter(all_paths)
    out = {}
    for layer, mu in groups:
        if mu == 1.0:
            continue
        own = [v.path for v in layer.trainable_variables]
        if not own:
            continue
        key = matching.normalize_key("blocks", layer.name)
        matcher = matching.Matcher([key])
        hits = [p for p in all_paths if matcher.specificity(key, p) is not None]
        if sorted(hits) == sorted(own):
            out[key] = mu
            continue
        mine = collections.Counter(own)
        if any(counts[p] != c for p, c in mine.items()):
            raise ValueError(
                f"layer {layer.name!r}: its variables' paths {own} are shared with other "
                "variables, so no name key can give it its own multiplier; rename the "
                "layer or its sub-layers.")
        out.update({re.compile("^" + re.escape(p) + "$"): mu for p in mine})
    return out
