"""The package's arguments, in one place: name, default, check, config form, doc.

Every optimizer made by ``decoupled()`` takes these on top of its base class's
arguments. ``parse`` checks them all (also across arguments) before anything
changes, ``to_config`` writes them back, and the docstrings and the README's
argument table are checked against ``ARGUMENTS`` by the tests.
"""

import dataclasses
from typing import Any, Callable, Tuple

from . import compat, matching, validation
from .units import Timescale

__all__ = ["Argument", "ARGUMENTS", "CONFIG_ONLY", "Settings", "parse", "to_config",
           "NAMES"]


@dataclasses.dataclass(frozen=True)
class Argument:
    name: str
    default: Any
    doc: str
    check: Callable[[Any], Any] = lambda value: value
    #: the checked value as written in a config (JSON: string keys)
    to_config: Callable[[Any], Any] = lambda value: value


def _bool(name):
    return lambda value: validation.boolean(name, value)


ARGUMENTS: Tuple[Argument, ...] = (
    Argument("model", None,
             "A built Keras model (keyword; 1.38's `AdamW(model, ...)` works too). The "
             "decays its L1/L2/L1L2 regularizers declare are applied to their own weights, "
             "and the penalties are turned off (see `zero_penalties`). Also the model whose "
             "layers the layer classes in `exclude_from_weight_decay` refer to."),
    Argument("weight_decays", None,
             "`None`; a float or a `Timescale`: that `l2` for every trainable variable (with "
             "`model=`: every one that declares no decay of its own); or a dict `{name: l2}` "
             "/ `{name: (l1, l2)}`, l2 a float or a `Timescale` (its entries win over "
             "declared decays).",
             lambda v: validation.weight_decays_arg(v), lambda v: _decays_to_config(v)),
    Argument("lr_multipliers", None, "`{name: multiplier}`: mu(w).",
             validation.lr_multipliers_arg, lambda v: _keys_to_config(v)),
    Argument("exclude_from_weight_decay", None,
             "Never decayed: names (whole path components, e.g. `['bias']`), compiled "
             "regular expressions, layer classes (e.g. `keras.layers.LayerNormalization`, "
             "with `model=`) and `keras_adamw.NORM_LAYERS` (every normalization layer's "
             "own weights, with `model=`). Win over every decay; an entry that excludes "
             "nothing gets a warning.",
             validation.exclude_arg,
             lambda v: [matching.key_to_config(k) for k in v[0]] + list(v[1])),
    Argument("exclude_1d", False,
             "`True`: no decay on variables with at most one dimension (biases, norm "
             "scales and offsets), whatever their names.", _bool("exclude_1d")),
    Argument("lr_scaled_decay", False,
             "`True`: decay also times `alpha_t * mu(w)` (PyTorch / Keras convention).",
             _bool("lr_scaled_decay")),
    Argument("decay_follows_schedule", False,
             "`True`: the decay also follows the learning-rate schedule's shape, times "
             "`alpha_t / alpha_peak` (rises through its warmup, falls with it), while its "
             "size stays independent of the learning rate's. With `lr_scaled_decay`: "
             "corrected decay (AdamC), times `gamma_t / gamma_max`.",
             _bool("decay_follows_schedule")),
    Argument("cautious_decay", False,
             "`True`: decay only the elements that the base update moves toward the decay's "
             "target (`[u * d >= 0]`, u the base's step, d = w or w - w0): cautious weight "
             "decay.",
             _bool("cautious_decay")),
    Argument("learning_rate_peak", None,
             "alpha_peak for `decay_follows_schedule` (> 0). Read from the schedule only "
             "where Keras' own class says it for certain (its largest value); any other "
             "schedule needs it. With a constant learning rate it makes the decay follow "
             "the current learning rate (callbacks that change it included).",
             lambda v: validation.optional_positive("learning_rate_peak", v)),
    Argument("decay_toward", "zero",
             "`'zero'`, `'initial'` (decay toward w0, the weight's value when this optimizer "
             "first updates it: the weights fine-tuning starts from, also when loaded after "
             "compile; L2-SP), or `{name: 'zero' or 'initial'}` (keys matched as "
             "`weight_decays` keys; unmatched variables: zero).",
             validation.decay_toward_arg, lambda v: _keys_to_config(v)),
    Argument("use_cosine_annealing", False,
             "Turn on eta_t (SGDR). Needs `total_iterations`.",
             _bool("use_cosine_annealing")),
    Argument("total_iterations", None,
             "T_0, the length of the first cycle in applied steps (integer >= 1; 0 means "
             "not given, as in 1.38). Also turns on normalization by the cycle length.",
             compat.total_iterations_arg),
    Argument("total_iterations_wd", None, "T_norm for the normalized decay (integer >= 1).",
             lambda v: validation.optional_positive_int("total_iterations_wd", v)),
    Argument("t_mult", 1, "Integer >= 1: each cycle is `t_mult` times the previous.",
             lambda v: validation.positive_int("t_mult", v)),
    Argument("eta_min", 0.0, "Lower end of eta_t, `0 <= eta_min <= eta_max`.",
             lambda v: validation.non_negative("eta_min", v)),
    Argument("eta_max", 1.0, "Upper end of eta_t.",
             lambda v: validation.non_negative("eta_max", v)),
    Argument("t_cur", 0,
             "Start value of the `optimizer.t_cur` variable (steps already taken in the "
             "cycle).", lambda v: validation.non_negative_int(
                 "t_cur", v, " (steps already taken in the current cycle)")),
    Argument("warmup_iterations", 0,
             "Warmup of eta_t at the start of the first cycle, in applied steps (integer "
             ">= 0, leaving at least 2 steps of the cycle): its step k (0 to w - 1) uses "
             "`eta_min + (peak - eta_min) * (k + 1) / (w + 1)`, and the cosine starts at "
             "the peak.",
             lambda v: validation.non_negative_int("warmup_iterations", v)),
    Argument("warmup_each_cycle", False, "`True`: warm up at the start of every cycle.",
             _bool("warmup_each_cycle")),
    Argument("cycle_decay", 1.0,
             "In (0, 1]: the peak of cycle i is `max(eta_min, eta_max * cycle_decay**i)` "
             "(i counts automatic restarts: needs `autorestart`).",
             lambda v: validation.unit_interval("cycle_decay", v)),
    Argument("cycle_limit", None,
             "Integer >= 1: after this many cycles eta_t stays at `eta_min` (needs "
             "`autorestart`).",
             lambda v: validation.optional_positive_int("cycle_limit", v)),
    Argument("autorestart", None,
             "Defaults to `use_cosine_annealing`; `True` without annealing is an error.",
             lambda v: validation.optional_boolean("autorestart", v)),
    Argument("zero_penalties", True,
             "With `model=`: turn the penalties that declare decays off on their variables "
             "(they add nothing to the loss and stay readable as decays; layers keep them "
             "for their config, so a saved model loads in Keras alone, and its restored "
             "optimizer turns them off again). `False` keeps them (the weights are then "
             "decayed twice); `restore_penalties(model)` gives them back.",
             _bool("zero_penalties")),
    Argument("init_verbose", True,
             "Print one table of each variable's path, shape, lr multiplier, l1, l2, "
             "first-step decay and timescale: at construction with `model=`, else at build "
             "(in `fit`, after Keras' first 'Epoch' line); not again when `load_model` "
             "restores the optimizer.",
             _bool("init_verbose")),
)

#: written by ``get_config`` so that a restored optimizer needs no model; rarely given
#: by hand
CONFIG_ONLY: Tuple[Argument, ...] = (
    Argument("decays_from_model", False,
             "Created with `model=`: apply the decays the variables' regularizers "
             "declare (written by `get_config`).", _bool("decays_from_model")),
    Argument("model_weight_decays", None,
             "Decays keyed by exact variable path: how keras-adamw 2.0.0 and tf_keras "
             "models keep what `model=` read.",
             lambda v: validation.weight_decays_arg(v or {}, "model_weight_decays")),
    Argument("variable_paths", None,
             "The variable paths in build order (written by `get_config`): a restored "
             "optimizer built on the same model matches its keys against these, since "
             "Keras does not keep every path through save and load."),
    Argument("declared_decays", None,
             "The decays the model declared, per variable in build order (written by "
             "`get_config`, for tf_keras, whose variables do not keep them)."),
    Argument("alpha_peak_at_start", None,
             "The learning rate's peak that timescales and the units warning used when the "
             "optimizer was made (written by `get_config`: a resumed run keeps it, whatever a "
             "callback set the learning rate to since).",
             lambda v: validation.optional_positive("alpha_peak_at_start", v)),
    Argument("excluded_by_type", None,
             "Build-order indices of the variables excluded by layer type (written by "
             "`get_config`)."),
)


def _keys_to_config(mapping):
    if not isinstance(mapping, dict):
        return mapping
    return {matching.key_to_config(k): value for k, value in mapping.items()}


def _decays_to_config(value):
    """``weight_decays`` in a config: keys as strings, Timescales as their dicts."""
    def plain(v):
        return v.get_config() if isinstance(v, Timescale) else v

    if isinstance(value, dict):
        return {matching.key_to_config(k): (v[0], plain(v[1])) for k, v in value.items()}
    return plain(value)


#: Every argument but ``model``, checked and normalized (``exclude_from_weight_decay``
#: as ``(name keys, layer types)``).
Settings = dataclasses.make_dataclass(
    "Settings", [a.name for a in ARGUMENTS + CONFIG_ONLY if a.name != "model"], frozen=True)


def parse(values: dict, has_model: bool) -> Settings:
    """Check every argument (``values`` holds each of ARGUMENTS and CONFIG_ONLY but
    ``model``) and the rules between them."""
    v = {a.name: a.check(values[a.name]) for a in ARGUMENTS + CONFIG_ONLY if a.name != "model"}
    annealing = v["use_cosine_annealing"]
    if annealing and v["total_iterations"] is None:
        raise ValueError("`total_iterations` (the length of the first cycle, in applied "
                         "steps) is required when use_cosine_annealing=True; got "
                         f"{values['total_iterations']!r}.")
    v["total_iterations"] = validation.optional_positive_int(
        "total_iterations", v["total_iterations"],
        " when use_cosine_annealing=True" if annealing else "")
    if v["eta_min"] > v["eta_max"]:
        raise ValueError(f"`eta_min` ({v['eta_min']}) must be <= `eta_max` ({v['eta_max']}).")
    if v["autorestart"] is None:
        v["autorestart"] = annealing
    if v["autorestart"] and not annealing:
        raise ValueError("`autorestart=True` needs `use_cosine_annealing=True`.")
    validation.cycle_lengths(v["total_iterations"], v["t_mult"], v["autorestart"])
    shaped = [n for n, default in (("warmup_iterations", 0), ("cycle_decay", 1.0),
                                   ("cycle_limit", None), ("warmup_each_cycle", False))
              if v[n] != default]
    if shaped and not annealing:
        raise ValueError(f"{', '.join(f'`{n}`' for n in shaped)} shape the cosine cycles "
                         "and need use_cosine_annealing=True.")
    if v["warmup_iterations"] and v["warmup_iterations"] > v["total_iterations"] - 2:
        raise ValueError(f"`warmup_iterations` ({v['warmup_iterations']}) must leave at least "
                         f"2 steps of the first cycle (`total_iterations`="
                         f"{v['total_iterations']}) to the cosine, which ends it at eta_min: "
                         "the warmup is part of the cycle.")
    counting = [n for n in ("cycle_decay", "cycle_limit") if n in shaped]
    if counting and not v["autorestart"]:
        raise ValueError(f"{', '.join(f'`{n}`' for n in counting)} count automatic restarts, "
                         "and there are none with autorestart=False.")
    if v["autorestart"] and v["t_cur"] >= v["total_iterations"]:
        raise ValueError(f"`t_cur` ({v['t_cur']}) must be < `total_iterations` "
                         f"({v['total_iterations']}) with autorestart: it counts the steps "
                         "already taken in the first cycle.")
    if v["learning_rate_peak"] is not None and not (v["decay_follows_schedule"]
                                                     or v["lr_scaled_decay"]):
        raise ValueError("`learning_rate_peak` is used only with decay_follows_schedule=True "
                         "or lr_scaled_decay=True; got learning_rate_peak="
                         f"{v['learning_rate_peak']!r} without them.")
    keys, types = v["exclude_from_weight_decay"]
    paths = v["variable_paths"]
    if paths is not None and not (isinstance(paths, (list, tuple))
                                  and all(isinstance(p, str) for p in paths)):
        raise TypeError("`variable_paths` (written by get_config) must be a list of "
                        f"variable paths; got {paths!r}.")
    excluded = v["excluded_by_type"]
    if excluded is not None and not (isinstance(excluded, (list, tuple)) and all(
            type(i) is int and i >= 0 for i in excluded)):
        raise TypeError("`excluded_by_type` (written by get_config) must be a list of "
                        f"variable indices; got {excluded!r}.")
    if types and not has_model and (excluded is None or paths is None):
        raise ValueError(
            "`exclude_from_weight_decay` has layer classes "
            f"{[t[len(validation.TYPE_PREFIX):] for t in types]}, which need the model: "
            "pass model=model (the optimizer sees only variables otherwise), or use "
            "exclude_1d=True for biases and norm scales.")
    v["exclude_from_weight_decay"] = (keys, types)
    v["variable_paths"] = list(paths) if paths is not None else None
    v["excluded_by_type"] = list(excluded) if excluded is not None else None
    return Settings(**v)


def to_config(settings) -> dict:
    """The config entries of ``settings`` (keys as strings, regular expressions as
    ``'re:...'``, layer classes as ``'type:...'``)."""
    return {a.name: a.to_config(getattr(settings, a.name))
            for a in ARGUMENTS + CONFIG_ONLY if a.name != "model"}


#: every argument name, config-only ones included
NAMES = tuple(a.name for a in ARGUMENTS + CONFIG_ONLY)
