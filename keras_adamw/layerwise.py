"""Layer-wise learning-rate decay as ordinary ``lr_multipliers``.

The recipe of BEiT, ELECTRA and timm's ``param_groups_layer_decay``: with n blocks
numbered 1..n from the input, the weights of block j learn at ``decay ** (n + 1 - j)``
times the learning rate, and the other weights by where they sit in the model's
variable order (its forward order for Functional and Sequential models):

    mu(block j)                          = decay ** (n + 1 - j)
    mu(weights before the first block)   = decay ** (n + 1)        (embeddings, stem)
    mu(weights between blocks j-1 and j) = mu(block j)             (downsampling)
    mu(weights after the last block)     = 1                       (the head)

The result is a plain ``{key: multiplier}`` dict for ``lr_multipliers``, with keys that
the public name matching applies to exactly the intended variables (checked here), so
it is ordinary, serializable config.
"""

import collections
import numbers
import re
from typing import Dict, Optional, Sequence, Union

from . import matching

__all__ = ["layerwise_lr_multipliers"]


def _path(variable) -> str:
    path = getattr(variable, "path", None)
    return matching.normalize_name(path if path else variable.name)


def _find_layer(model, block):
    if not isinstance(block, str):
        return block
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if layer.name == block:
            return layer
    raise ValueError(f"`blocks`: the model has no layer named {block!r} (nested layers "
                     "included).")


def layerwise_lr_multipliers(model, decay: float, blocks: Optional[Sequence] = None
                             ) -> Dict[Union[str, "re.Pattern"], float]:
    """``lr_multipliers`` that give each block ``decay ** (depth from the top)``.

    Args:
        model: a built Keras model (Functional or Sequential, sub-models included).
        decay: in (0, 1]; e.g. 0.65 to 0.9 for fine-tuning a transformer.
        blocks: the blocks, from input to output, as layers or layer names (nested
            layers too), e.g. the transformer blocks. Default: every layer of
            ``model.layers`` that has trainable weights but the last, which is the head.

    Returns ``{key: multiplier}`` (see the module docstring for who gets what): a
    block's name when it is a path component of exactly that block's variables, else
    a regular expression for each exact path (``re:^path$`` in a config). Raises
    ValueError for blocks out of order, given twice, or not in the model, and when no
    key can tell two variables that need different multipliers apart.
    """
    if isinstance(decay, bool) or not isinstance(decay, numbers.Real) or not 0 < decay <= 1:
        raise ValueError(f"`decay` must be a number in (0, 1]; got {decay!r}.")
    decay = float(decay)
    if not getattr(model, "built", False) or not model.trainable_weights:
        raise ValueError("`model` must be built and have trainable weights.")
    if blocks is None:
        blocks = [layer for layer in model.layers if layer.trainable_weights][:-1]
    blocks = [_find_layer(model, b) for b in blocks]
    if not blocks:
        raise ValueError("`blocks` is empty: give the model's blocks, input to output.")
    if len({id(b) for b in blocks}) != len(blocks):
        raise ValueError("`blocks` names a layer twice.")

    variables = list(model.trainable_variables)
    position = {id(v): i for i, v in enumerate(variables)}
    n = len(blocks)
    block_of = {}  # variable position -> block index (0-based)
    starts = []
    for j, block in enumerate(blocks):
        own = [position[id(v)] for v in block.trainable_variables if id(v) in position]
        if not own:
            if block.trainable_variables:
                raise ValueError(f"`blocks`: {block.name!r} is not a layer of this model.")
            starts.append(None)
            continue
        for i in own:
            block_of.setdefault(i, j)
        starts.append(min(own))
    known = [s for s in starts if s is not None]
    if known != sorted(known):
        raise ValueError("`blocks` must be given from input to output (in the model's "
                         "variable order).")

    mus = []
    for i in range(len(variables)):
        if i in block_of:
            mus.append(decay ** (n - block_of[i]))
            continue
        following = [j for j, s in enumerate(starts) if s is not None and s > i]
        if not following:
            mus.append(1.0)  # after the last block: the head
        elif following[0] == min(j for j, s in enumerate(starts) if s is not None):
            mus.append(decay ** (n + 1))  # before the first block
        else:
            mus.append(decay ** (n - following[0]))  # between blocks: the next one's
    return _as_keys(model, blocks, variables, mus, block_of)


def _as_keys(model, blocks, variables, mus, block_of):
    """Keys that give each variable its multiplier through the public matching."""
    paths = [_path(v) for v in variables]
    counts = collections.Counter(paths)
    out, covered = {}, set()
    for j, block in enumerate(blocks):
        members = [i for i, b in block_of.items() if b == j]
        if not members or mus[members[0]] == 1.0:
            covered.update(members)
            continue
        key = matching.normalize_key("blocks", block.name)
        matcher = matching.Matcher([key])
        hits = [i for i, p in enumerate(paths) if matcher.specificity(key, p) is not None]
        if sorted(hits) == sorted(members):
            out[key] = mus[members[0]]
            covered.update(members)
    for i, (path, mu) in enumerate(zip(paths, mus)):
        if i in covered or mu == 1.0:
            continue
        twins = [k for k, p in enumerate(paths) if p == path]
        if counts[path] > 1 and len({mus[k] for k in twins}) > 1:
            raise ValueError(
                f"variables with the path {path!r} need different multipliers, and no "
                "name key can tell them apart; rename the layers.")
        out[re.compile("^" + re.escape(path) + "$")] = mu
        covered.update(twins)
    return out
