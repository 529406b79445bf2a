"""What every decoupled optimizer shares, whatever Keras it runs on.

The arguments and their checks, the decays read from a model, which setting each
variable gets (resolved once, at build), the normalization factor, and the config.
The glue for one Keras (``decoupled.py`` for Keras 3, ``tf_keras_glue.py`` for
tf_keras) creates the schedule variables and hooks the update.
"""

import dataclasses
import re
import warnings

from . import matching, regularizers, report, schedule, validation
from ._keras import ops

__all__ = ["DecoupledCore", "VariableSetting"]

ARGUMENTS = dict(
    model=None, weight_decays=None, lr_multipliers=None, exclude_from_weight_decay=None,
    lr_scaled_decay=False, use_cosine_annealing=False, total_iterations=None,
    total_iterations_wd=None, t_mult=1, eta_min=0.0, eta_max=1.0, t_cur=0,
    autorestart=None, zero_penalties=True, init_verbose=True, model_weight_decays=None,
    variable_paths=None)


@dataclasses.dataclass(frozen=True)
class VariableSetting:
    """What one trainable variable gets: resolved once, at ``build()``."""

    path: str
    lr_multiplier: float = 1.0
    l1: float = 0.0
    l2: float = 0.0


class DecoupledCore:
    """Shared part of the mixins; see ``decoupled.py`` for the update it serves."""

    #: reads and zeroes regularizers for this Keras (tf_keras has its own)
    _regularizers = regularizers
    #: what counts as a model given positionally
    _layer_types: tuple = ()

    @classmethod
    def _parse_arguments(cls, args, kwargs):
        """Check every argument before anything changes (the model included).

        Returns the base class's (args, kwargs), the model, and our settings.
        """
        ours = {k: kwargs.pop(k, default) for k, default in ARGUMENTS.items()}
        model = ours.pop("model")
        weight_decays = ours["weight_decays"]
        lr_multipliers = ours["lr_multipliers"]
        exclude_from_weight_decay = ours["exclude_from_weight_decay"]
        use_cosine_annealing = ours["use_cosine_annealing"]
        total_iterations = ours["total_iterations"]
        total_iterations_wd = ours["total_iterations_wd"]
        t_mult, eta_min, eta_max = ours["t_mult"], ours["eta_min"], ours["eta_max"]
        t_cur, autorestart = ours["t_cur"], ours["autorestart"]
        model_weight_decays = ours["model_weight_decays"]
        variable_paths = ours["variable_paths"]
        args, model = _model_from_args(args, model, cls._layer_types)
        args, kwargs = _learning_rate_args(args, kwargs)
        weight_decay = kwargs.pop("weight_decay", None)
        if weight_decay is not None and weight_decay != 0:
            raise ValueError(
                "`weight_decay` is Keras' lr-scaled decay and is not used by "
                f"{cls.__name__}: pass `weight_decays=` (a float for every "
                "variable, or {name: l2 or (l1, l2)}), decoupled from the learning "
                "rate as in the paper; add `lr_scaled_decay=True` for the "
                "torch.optim.AdamW / keras.optimizers.AdamW convention.")
        kwargs.setdefault("name", _snake_case(cls.__name__))

        # Every argument is checked before anything is changed (the model included).
        if use_cosine_annealing and total_iterations is None:
            raise ValueError(
                "`total_iterations` (the length of the first cycle, in applied "
                "steps) is required when use_cosine_annealing=True; got None.")
        needed = " when use_cosine_annealing=True" if use_cosine_annealing else ""
        total_iterations = validation.optional_positive_int(
            "total_iterations", total_iterations, needed)
        total_iterations_wd = validation.optional_positive_int(
            "total_iterations_wd", total_iterations_wd)
        t_mult = validation.positive_int("t_mult", t_mult)
        eta_min = validation.non_negative("eta_min", eta_min)
        eta_max = validation.non_negative("eta_max", eta_max)
        if eta_min > eta_max:
            raise ValueError(f"`eta_min` ({eta_min}) must be <= `eta_max` ({eta_max}).")
        if isinstance(t_cur, bool) or not isinstance(t_cur, int) or t_cur < 0:
            raise ValueError(f"`t_cur` must be an integer >= 0 (steps already taken in "
                             f"the current cycle); got {t_cur!r}.")
        if autorestart is None:
            autorestart = use_cosine_annealing
        if autorestart and not use_cosine_annealing:
            raise ValueError("`autorestart=True` needs `use_cosine_annealing=True`.")
        user_decays = validation.weight_decays_arg(weight_decays)
        model_decays = validation.weight_decays_arg(model_weight_decays or {})
        if not isinstance(model_decays, dict):
            raise TypeError("`model_weight_decays` must be a dict {variable path: "
                            f"(l1, l2)}}; got {model_weight_decays!r}.")
        if model is not None and isinstance(user_decays, float):
            raise ValueError(
                "`weight_decays` is a float together with `model=`: give either "
                "model= (decays read from its regularizers), optionally with a "
                "dict of overrides, or a float for every variable, not both.")
        lr_multipliers = validation.lr_multipliers_arg(lr_multipliers)
        exclude_patterns = validation.exclude_arg(exclude_from_weight_decay)
        if variable_paths is not None and not (
                isinstance(variable_paths, (list, tuple))
                and all(isinstance(p, str) for p in variable_paths)):
            raise TypeError("`variable_paths` (written by get_config) must be a list of "
                            f"variable paths; got {variable_paths!r}.")

        parsed = dict(
            use_cosine_annealing=bool(use_cosine_annealing), total_iterations=total_iterations,
            total_iterations_wd=total_iterations_wd, t_mult=t_mult, eta_min=eta_min,
            eta_max=eta_max, autorestart=bool(autorestart),
            lr_scaled_decay=bool(ours["lr_scaled_decay"]),
            zero_penalties=bool(ours["zero_penalties"]),
            init_verbose=bool(ours["init_verbose"]), lr_multipliers=lr_multipliers,
            exclude_patterns=exclude_patterns, t_cur=t_cur, variable_paths=variable_paths,
            user_decays=user_decays, model_decays=model_decays)
        return args, kwargs, model, parsed

    def _adopt_arguments(self, parsed, model):
        """After the base class's __init__: our attributes, and the model's decays."""
        for name in ("use_cosine_annealing", "total_iterations", "total_iterations_wd",
                     "t_mult", "eta_min", "eta_max", "autorestart", "lr_scaled_decay",
                     "zero_penalties", "init_verbose", "lr_multipliers", "exclude_patterns"):
            setattr(self, name, parsed[name])
        self._t_cur_start = parsed["t_cur"]
        self._variable_settings = ()
        variable_paths = parsed["variable_paths"]
        self._variable_paths = list(variable_paths) if variable_paths else None
        user_decays, model_decays = parsed["user_decays"], parsed["model_decays"]
        if model is not None:
            model_decays.update(self._regularizers.get_weight_decays(model))
            if self.zero_penalties:
                self._regularizers.zero_penalties(model)
            if isinstance(user_decays, dict):
                overridden = [p for p in model_decays if matching.find_key(user_decays, p)]
                if overridden:
                    warnings.warn("keras_adamw: `weight_decays` overrides the decays "
                                  f"read from the model for {overridden}.", stacklevel=3)
        self._user_decays = user_decays
        self._model_decays = model_decays

    @property
    def weight_decays(self):
        """The decays in effect: a float, or ``{name: (l1, l2)}`` (model-read
        paths merged with the user's dict, whose entries win)."""
        if isinstance(self._user_decays, float):
            return self._user_decays
        merged = dict(self._model_decays)
        merged.update(self._user_decays or {})
        return merged

    @property
    def variable_settings(self) -> dict:
        """``{path: VariableSetting}`` for each variable, after ``build()``."""
        return {s.path: s for s in self._variable_settings}

    # -------------------------------------------------------------- resolving

    def _resolve_variables(self, variables):
        """Settings of every variable, once, at build; then the checks and the table."""
        paths = self._names_for(variables)
        self._variable_settings = tuple(
            self._resolve(path, excluded=not self._use_weight_decay(v))
            for path, v in zip(paths, variables))
        self._check_names(paths)
        if self.zero_penalties:
            self._zero_restored_penalties(variables, paths)
        if self.init_verbose:
            print(report.settings_table(self, variables))

    def _names_for(self, variables) -> list:
        """The path each variable is matched by: its own, or the one it had when
        this optimizer was first built.

        Keras 3 does not keep every path through ``model.save`` and ``load_model``:
        the weights of layers inside wrappers (Bidirectional, TimeDistributed, RNN
        cells) come back without the wrapper's prefix (``bidi/forward_gru/...``
        becomes ``forward_gru/...``). The optimizer's variables are restored by
        position, and so are the names: a config saved after build records the
        paths in build order (``variable_paths``), and a restored optimizer built
        on as many variables matches its keys against those.
        """
        paths = [_path(v) for v in variables]
        saved = self._variable_paths
        if saved is not None and len(saved) == len(paths):
            paths = list(saved)
        self._variable_paths = paths
        return paths

    def _resolve(self, path: str, excluded: bool) -> VariableSetting:
        key = matching.find_key(self.lr_multipliers, path)
        mu = 1.0 if key is None else self.lr_multipliers[key]
        l1 = l2 = 0.0
        if not excluded and not any(p in path for p in self.exclude_patterns):
            if isinstance(self._user_decays, float):
                l2 = self._user_decays
            else:
                key = matching.find_key(self._user_decays or {}, path)
                if key is not None:
                    l1, l2 = self._user_decays[key]
                elif path in self._model_decays:
                    l1, l2 = self._model_decays[path]
        return VariableSetting(path, mu, l1, l2)

    def _zero_restored_penalties(self, variables, paths):
        """A variable decayed from ``model_weight_decays`` must carry no penalty.

        ``model=`` zeroed the penalties already; this catches them when they come
        back, e.g. a loaded model whose custom layer rebuilds its regularizer from
        its config: without it the weight would be decayed twice.
        """
        restored = [p for v, p in zip(variables, paths)
                    if p in self._model_decays and self._regularizers.zero_variable_penalties([v])]
        if restored:
            warnings.warn(
                "keras_adamw: removed the L1/L2 penalties of "
                f"{restored}: their decays come from the model (zero_penalties=True), "
                "and a penalty in the loss would decay them twice.", stacklevel=3)

    def _check_names(self, paths):
        matching.require_all_matched("lr_multipliers", self.lr_multipliers, paths)
        if isinstance(self._user_decays, dict):
            matching.require_all_matched("weight_decays", self._user_decays, paths)
        missing = [p for p in self._model_decays if p not in paths]
        if missing:
            warnings.warn(
                "keras_adamw: decays read from the model for variables this optimizer "
                f"does not train (frozen, or another model?): {missing}; they are "
                "not applied.", stacklevel=3)

    def _decay_scale_value(self, eta, cycle_length):
        """eta_t * s (or s with lr_scaled_decay, which multiplies by the lr later)."""
        if self.total_iterations_wd is not None:
            s = schedule.normalization_scale(self.total_iterations_wd)
        elif self.total_iterations is not None:
            s = schedule.normalization_scale(cycle_length)
        else:
            s = 1.0
        return s if self.lr_scaled_decay else eta * s

    def _decoupled_decay(self, variable, setting, learning_rate):
        """The decay of one variable at this step, from w before the step:

            c     = eta_t * s                     (decay_scale, set once per step)
            c     = c * alpha_t * mu(w)           (lr_scaled_decay only)
            decay = c * (l1 * sign(w) + l2 * w)

        ``learning_rate`` is the variable's own, eta_t * mu(w) * alpha_t; the caller
        subtracts the decay from w.
        """
        dtype = variable.dtype
        c = ops.cast(self._decay_scale, dtype)
        if self.lr_scaled_decay:
            c = c * ops.cast(learning_rate, dtype)
        decay = None
        if setting.l2:
            decay = ops.multiply(variable, c * setting.l2)
        if setting.l1:
            l1_term = ops.multiply(ops.sign(variable), c * setting.l1)
            decay = l1_term if decay is None else ops.add(decay, l1_term)
        return decay

    def _config_entries(self) -> dict:
        return {
            "weight_decays": self._user_decays,
            "model_weight_decays": self._model_decays,
            "lr_multipliers": self.lr_multipliers,
            "exclude_from_weight_decay": self.exclude_patterns,
            "lr_scaled_decay": self.lr_scaled_decay,
            "use_cosine_annealing": self.use_cosine_annealing,
            "total_iterations": self.total_iterations,
            "total_iterations_wd": self.total_iterations_wd,
            "t_mult": self.t_mult,
            "eta_min": self.eta_min,
            "eta_max": self.eta_max,
            "t_cur": self._t_cur_start,
            "autorestart": self.autorestart,
            "zero_penalties": self.zero_penalties,
            "init_verbose": self.init_verbose,
            "variable_paths": self._variable_paths,
        }


def _path(variable) -> str:
    path = getattr(variable, "path", None)
    return matching.normalize_name(path if path else variable.name)


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower()


def _model_from_args(args, model, layer_types):
    """``AdamW(model, ...)``: a model as the first positional argument."""
    if args and isinstance(args[0], layer_types):
        if model is not None:
            raise TypeError("`model` given twice: as the first positional argument "
                            "and as model=.")
        return args[1:], args[0]
    if model is not None and not isinstance(model, layer_types):
        raise TypeError(f"`model` must be a Keras model or layer; got {model!r} "
                        f"of type {type(model).__name__}.")
    return args, model


def _learning_rate_args(args, kwargs):
    """``lr=`` alias; a negative float learning rate is an error."""
    if "lr" in kwargs:
        if "learning_rate" in kwargs or args:
            raise TypeError("Give the learning rate once: `lr=` is an alias of "
                            "`learning_rate=`.")
        kwargs["learning_rate"] = kwargs.pop("lr")
    if args:
        lr, where = args[0], "args"
    else:
        lr, where = kwargs.get("learning_rate"), "kwargs"
    if isinstance(lr, (int, float)) and not isinstance(lr, bool):
        lr = validation.non_negative("learning_rate", lr)
        if where == "args":
            args = (lr,) + tuple(args[1:])
        else:
            kwargs["learning_rate"] = lr
    return args, kwargs


