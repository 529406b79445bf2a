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

import bisect
import collections
import numbers
import re
from typing import Dict, Optional, Sequence, Union

from . import matching

__all__ = ["layerwise_lr_multipliers"]


def _path(variable) -> str:
    path = getattr(variable, "path", None)
    return matching.normalize_name(path if path else variable.name)


def _layers_by_name(model) -> dict:
    """The model's layers (nested ones too) by name, the first of each name."""
    out = {}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        out.setdefault(layer.name, layer)
    return out


def _find_layer(names, block):
    if not isinstance(block, str):
        return block
    if block not in names:
        raise ValueError(f"`blocks`: the model has no layer named {block!r} (nested "
                         "layers included).")
    return names[block]


def _trained_inside(layer, position) -> list:
    """Positions, among the model's trainable variables, of the variables of
    ``layer`` and of its sub-layers, whatever ``trainable`` says on ``layer`` itself:
    a frozen block can hold trainable sub-layers (LoRA adapters), and Keras then
    reports no trainable variables for the block but trains those of the sub-layers."""
    return [position[id(v)] for v in layer.weights if id(v) in position]


def layerwise_lr_multipliers(model, decay: float, blocks: Optional[Sequence] = None
                             ) -> Dict[Union[str, "re.Pattern"], float]:
    """``lr_multipliers`` that give each block ``decay ** (depth from the top)``.

    Args:
        model: a built Keras model (Functional or Sequential, sub-models included).
        decay: in (0, 1]; e.g. 0.65 to 0.9 for fine-tuning a transformer.
        blocks: the blocks, from input to output, as layers or layer names (nested
            layers too), e.g. the transformer blocks. Default: every layer of
            ``model.layers`` that holds trainable variables of the model but the last,
            which is the head.

    Block j's multiplier goes to every trainable variable of the model inside block j
    (its own and its sub-layers'), whatever ``trainable`` says on the block itself: a
    block frozen with trainable adapters inside (LoRA, KerasHub's ``enable_lora``)
    gives its multiplier to the adapters.

    Returns ``{key: multiplier}`` (see the module docstring for who gets what): a
    block's name when it is a path component of exactly that block's variables, else
    a regular expression for each exact path (``re:^path$`` in a config). Raises
    ValueError for blocks out of order, given twice, or not in the model, for a layer
    shared by two blocks (its weights would need two multipliers), and when no key can
    tell two variables that need different multipliers apart.

    Cost: linear in the number of variables (and of blocks).
    """
    if isinstance(decay, bool) or not isinstance(decay, numbers.Real) or not 0 < decay <= 1:
        raise ValueError(f"`decay` must be a number in (0, 1]; got {decay!r}.")
    decay = float(decay)
    if not getattr(model, "built", False) or not model.trainable_weights:
        raise ValueError("`model` must be built and have trainable weights.")
    variables = list(model.trainable_variables)
    position = {id(v): i for i, v in enumerate(variables)}
    if blocks is None:
        blocks = [layer for layer in model.layers if _trained_inside(layer, position)][:-1]
    names = _layers_by_name(model) if any(isinstance(b, str) for b in blocks) else {}
    blocks = [_find_layer(names, b) for b in blocks]
    if not blocks:
        raise ValueError("`blocks` is empty: give the model's blocks, input to output.")
    if len({id(b) for b in blocks}) != len(blocks):
        raise ValueError("`blocks` names a layer twice.")

    n = len(blocks)
    block_of = {}  # variable position -> block index (0-based)
    starts = []
    model_ids = None
    inside = [_trained_inside(block, position) for block in blocks]
    _refuse_shared(blocks, inside, variables)
    for j, block in enumerate(blocks):
        own = inside[j]
        if not own:
            if block.weights:
                if model_ids is None:
                    model_ids = {id(v) for v in model.weights}
                if not any(id(v) in model_ids for v in block.weights):
                    raise ValueError(f"`blocks`: {block.name!r} is not a layer of this model.")
            starts.append(None)
            continue
        for i in own:
            block_of.setdefault(i, j)
        starts.append(min(own))
    known = [(s, j) for j, s in enumerate(starts) if s is not None]
    if [s for s, _ in known] != sorted(s for s, _ in known):
        raise ValueError("`blocks` must be given from input to output (in the model's "
                         "variable order).")

    known_starts = [s for s, _ in known]
    mus = []
    for i in range(len(variables)):
        if i in block_of:
            mus.append(decay ** (n - block_of[i]))
            continue
        # the first block (in the order given) that starts after variable i
        following = bisect.bisect_right(known_starts, i)
        if following == len(known):
            mus.append(1.0)  # after the last block: the head
        elif following == 0:
            mus.append(decay ** (n + 1))  # before the first block
        else:
            mus.append(decay ** (n - known[following][1]))  # between blocks: the next one's
    return _as_keys(blocks, variables, mus, block_of)


def _refuse_shared(blocks, inside, variables) -> None:
    """A variable inside two blocks (a layer shared between them, tied weights) would
    need two multipliers: a ValueError that names the layer and the blocks."""
    seen = {}  # variable position -> the first block holding it
    for j, positions in enumerate(inside):
        for i in positions:
            if i in seen and seen[i] != j:
                first, second = blocks[seen[i]], blocks[j]
                owner = _owner(second, variables[i])
                raise ValueError(
                    f"`blocks`: the layer {owner!r} (its weight {_path(variables[i])!r}) "
                    f"is shared by the blocks {first.name!r} (block {seen[i] + 1}) and "
                    f"{second.name!r} (block {j + 1}), which get different multipliers: "
                    "leave one of them out of `blocks`, or write lr_multipliers yourself "
                    "(one key per block, and one for the shared layer's path).")
            seen.setdefault(i, j)


def _owner(block, variable) -> str:
    """The name of the innermost layer of ``block`` whose own weight ``variable`` is."""
    for layer in reversed(list(block._flatten_layers(include_self=True, recursive=True))):
        if any(w is variable for w in layer.weights):
            return layer.name
    return block.name


def _as_keys(blocks, variables, mus, block_of):
    """Keys that give each variable its multiplier through the public matching."""
    paths = [_path(v) for v in variables]
    twins = collections.defaultdict(list)  # path -> positions of the variables with it
    for i, path in enumerate(paths):
        twins[path].append(i)
    members = collections.defaultdict(list)  # block index -> positions, in order
    for i, j in sorted(block_of.items()):
        members[j].append(i)
    keys = {}  # block index -> its name as a key, for the blocks that need one
    for j, block in enumerate(blocks):
        if members[j] and mus[members[j][0]] != 1.0:
            keys[j] = matching.normalize_key("blocks", block.name)
    # which variables each block name matches, one pass over the paths
    matcher = matching.Matcher(dict.fromkeys(keys.values()))
    hits = collections.defaultdict(list)
    for i, path in enumerate(paths):
        for key in matcher.all_matches(path):
            hits[key].append(i)
    out, covered = {}, set()
    for j in range(len(blocks)):
        if j not in keys:
            covered.update(members[j])
            continue
        if hits[keys[j]] == members[j]:
            out[keys[j]] = mus[members[j][0]]
            covered.update(members[j])
    for i, (path, mu) in enumerate(zip(paths, mus)):
        if i in covered or mu == 1.0:
            continue
        same = twins[path]
        if len(same) > 1 and len({mus[k] for k in same}) > 1:
            raise ValueError(
                f"variables with the path {path!r} need different multipliers, and no "
                "name key can tell them apart; rename the layers.")
        out[re.compile("^" + re.escape(path) + "$")] = mu
        covered.update(same)
    return out
