"""Which variable gets what: the user's rules and the variables in, a plan out.

Pure: nothing here reads an optimizer or changes a variable. The optimizer resolves
its plan once, at build, and keeps it; the kernels and the views read it.

Which decay a variable gets, in order (the first that applies):

1. none, if it is excluded: by Keras' ``exclude_from_weight_decay()`` method
   (``Rules.use_weight_decay``), by a name or regular expression of
   ``exclude_from_weight_decay``, by a layer class there (``type_excluded``), or by
   ``exclude_1d`` for a variable of at most one dimension;
2. the value of the ``weight_decays`` dict key that matches its path (``matching.py``
   has the precedence between keys);
3. with ``model=``: the decay its own regularizer declares (``declared``), read from
   the variable itself, never from a name;
4. a decay saved by exact path (``model_weight_decays``: 2.0.0 and tf_keras configs);
5. a float (or ``Timescale``) ``weight_decays``;
6. none.

Its learning-rate multiplier mu(w) is that of the matching ``lr_multipliers`` key
(1.0 when none matches); its decay target (``decay_toward``) is ``"zero"`` or
``"initial"`` (w0, its value at the optimizer's first update), by the matching key of a
``decay_toward`` dict (``"zero"`` when none matches).

The plan also groups the variables for the multi-tensor kernels: by learning rate
(mu, placement) and by decay (mu, l1, l2, placement), where a placement is what a
kernel needs to be the same in one call (dtype, device), given by the caller.
"""

import dataclasses
from typing import Callable, Hashable, List, Optional, Sequence, Tuple

from . import matching

__all__ = ["VariableSetting", "Rules", "Group", "Plan", "resolve"]


@dataclasses.dataclass(frozen=True)
class VariableSetting:
    """What one trainable variable gets: resolved once, at ``build()``."""

    path: str
    lr_multiplier: float = 1.0
    l1: float = 0.0
    l2: float = 0.0
    #: "zero", or "initial": the decay pulls w toward w0 (only where l1 or l2 > 0)
    toward: str = "zero"
    #: l2 was given as a Timescale (units.py), resolved for this variable's mu; such a
    #: decay is not normalized (the same shrink per step in every cycle)
    timescale: bool = False


@dataclasses.dataclass(frozen=True)
class Rules:
    """The user's rules, checked (``arguments.py``)."""

    lr_multipliers: Optional[dict] = None
    weight_decays: object = None          # None, a float, or {key: (l1, l2)}
    exclude_keys: Sequence = ()
    exclude_1d: bool = False
    model_weight_decays: Optional[dict] = None   # {exact path: (l1, l2)}
    decay_toward: object = "zero"         # "zero", "initial", or {key: "zero" | "initial"}


@dataclasses.dataclass(frozen=True)
class Group:
    """Build-order indices of variables that share a learning rate (``l1 = l2 = 0``
    for a learning-rate group) or a decay, and a placement."""

    lr_multiplier: float
    l1: float
    l2: float
    placement: Hashable
    indices: Tuple[int, ...]
    toward: str = "zero"
    #: False for a decay given as a Timescale: not normalized (step.Step.decay)
    normalized: bool = True


@dataclasses.dataclass(frozen=True)
class Plan:
    """Each variable's setting (build order), the groups, and what the optimizer
    reports about them."""

    settings: Tuple[VariableSetting, ...]
    lr_groups: Tuple[Group, ...]
    decay_groups: Tuple[Group, ...]
    #: paths whose own decay (declared, or given by exact path) an exclusion drops
    dropped: Tuple[str, ...] = ()

    @property
    def multipliers(self) -> Tuple[float, ...]:
        """The distinct lr multipliers, in order of first use."""
        return tuple(dict.fromkeys(s.lr_multiplier for s in self.settings))

    @property
    def decays(self) -> Tuple[Tuple[float, float, float, str, bool], ...]:
        """The distinct (mu, l1, l2, toward, timescale) with a decay, in order of first
        use."""
        return tuple(dict.fromkeys((s.lr_multiplier, s.l1, s.l2, s.toward, s.timescale)
                                   for s in self.settings if s.l1 or s.l2))


def resolve(rules: Rules, variables: Sequence, paths: Sequence[str], *,
            declared: Optional[Sequence] = None, type_excluded=frozenset(),
            use_weight_decay: Callable = lambda variable: True,
            placement: Callable = lambda variable: str(variable.dtype),
            timescale_l2: Optional[Callable] = None) -> Plan:
    """The plan of ``variables`` (matched by ``paths``) under ``rules``.

    ``declared``: per variable, the (l1, l2) its regularizer declares, or None;
    ``type_excluded``: build-order indices excluded by layer class;
    ``use_weight_decay``: Keras' own per-variable exclusion;
    ``placement``: what one kernel call needs shared (dtype, device);
    ``timescale_l2(timescale, mu)``: the l2 of a decay given as a ``units.Timescale``.
    """
    declared = list(declared) if declared is not None else [None] * len(variables)
    multipliers = matching.Matcher(rules.lr_multipliers or {})
    excludes = matching.Matcher(rules.exclude_keys)
    user_dict = rules.weight_decays if isinstance(rules.weight_decays, dict) else {}
    user = matching.Matcher(user_dict)
    legacy = rules.model_weight_decays or {}
    default = rules.weight_decays if not isinstance(rules.weight_decays, dict) else None
    targets = rules.decay_toward if isinstance(rules.decay_toward, dict) else {}
    toward_keys = matching.Matcher(targets)
    settings: List[VariableSetting] = []
    dropped: List[str] = []
    for index, (path, variable) in enumerate(zip(paths, variables)):
        key = multipliers.find(path)
        mu = 1.0 if key is None else rules.lr_multipliers[key]
        l1 = l2 = 0.0
        excluded = (not use_weight_decay(variable) or excludes.matches(path)
                    or index in type_excluded
                    or (rules.exclude_1d and len(variable.shape) <= 1))
        key = user.find(path)
        if key is not None:
            l1, l2 = user_dict[key]
        elif declared[index] is not None:
            l1, l2 = declared[index]
        elif path in legacy:
            l1, l2 = legacy[path]
        elif default is not None:
            l2 = default
        timescale = not isinstance(l2, (int, float))
        if timescale:  # a units.Timescale: the l2 that gives it at this mu
            l2 = timescale_l2(l2, float(mu))
        if excluded:
            if key == path or (key is None and declared[index] is not None
                               and any(declared[index])):
                # a decay given for exactly this variable, or declared by its
                # regularizer; a broad key with exclusions is the usual recipe
                dropped.append(path)
            l1 = l2 = 0.0
        if isinstance(rules.decay_toward, str):
            toward = rules.decay_toward
        else:
            key = toward_keys.find(path)
            toward = "zero" if key is None else targets[key]
        settings.append(VariableSetting(path, float(mu), float(l1), float(l2),
                                        toward if (l1 or l2) else "zero",
                                        timescale and bool(l2)))
    return Plan(tuple(settings), *_groups(settings, variables, placement), tuple(dropped))


def _groups(settings, variables, placement):
    """Learning-rate groups (mu, placement) of every variable and decay groups
    (mu, l1, l2, placement) of the decayed ones, each in build order."""
    by_lr, by_decay = {}, {}
    for i, (s, variable) in enumerate(zip(settings, variables)):
        where = placement(variable)
        by_lr.setdefault((s.lr_multiplier, where), []).append(i)
        if s.l1 or s.l2:
            by_decay.setdefault((s.lr_multiplier, s.l1, s.l2, s.toward, s.timescale, where),
                                []).append(i)
    return (tuple(Group(mu, 0.0, 0.0, where, tuple(ix)) for (mu, where), ix in by_lr.items()),
            tuple(Group(mu, l1, l2, where, tuple(ix), toward, not timescale)
                  for (mu, l1, l2, toward, timescale, where), ix in by_decay.items()))


def require_matched(rules: Rules, paths: Sequence[str],
                    frozen: Optional[Sequence[str]] = None) -> None:
    """Every ``lr_multipliers``, ``weight_decays`` and ``decay_toward`` key matches one
    of ``paths``, else a ValueError naming the key and the closest paths (a warning
    for a key that matches only ``frozen`` paths: weights not trained now)."""
    matching.Matcher(rules.lr_multipliers or {}).require_all_matched(
        "lr_multipliers", paths, frozen)
    matching.Matcher(rules.weight_decays if isinstance(rules.weight_decays, dict)
                     else {}).require_all_matched("weight_decays", paths, frozen)
    if isinstance(rules.decay_toward, dict):
        matching.Matcher(rules.decay_toward).require_all_matched("decay_toward", paths, frozen)


def check_keys(rules: Rules, paths: Sequence[str],
               frozen: Optional[Sequence[str]] = None) -> None:
    """``require_matched``, and a warning for a key that matches only where a more
    specific one wins."""
    require_matched(rules, paths, frozen)
    matching.Matcher(rules.lr_multipliers or {}).warn_never_applied("lr_multipliers", paths)
    matching.Matcher(rules.weight_decays if isinstance(rules.weight_decays, dict)
                     else {}).warn_never_applied("weight_decays", paths)
