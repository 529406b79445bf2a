"""Decoupled weight decay, warm restarts and lr multipliers for any Keras optimizer.

``decoupled(Base)`` returns a subclass of a Keras 3 optimizer class. At each
applied step, for every trainable variable w (Loshchilov & Hutter, *Decoupled
Weight Decay Regularization*, ICLR 2019, Algorithms 1 and 2):

    alpha_t = learning_rate (a float, or a LearningRateSchedule at iterations)
    eta_t   = schedule multiplier (schedule.py); 1 without use_cosine_annealing
    mu(w)   = learning-rate multiplier of w (1 when no key matches)
    l1, l2  = decays of w (0, 0 when none)
    s       = sqrt(1 / T_norm) with normalization, else 1

    decay   = eta_t * s * (l1 * sign(w) + l2 * w)        # w before the step
    w      <- w - decay
    w      <- base_update(w, g, learning_rate = eta_t * mu(w) * alpha_t)

The decay is not multiplied by alpha_t or mu(w). With ``lr_scaled_decay=True`` it is
``alpha_t * mu(w) * eta_t * s * (l1 * sign(w) + l2 * w)`` instead, the convention
of ``torch.optim.AdamW`` and ``keras.optimizers.AdamW``.

The base optimizer's math is reused untouched: its ``update_step`` is called with the
scaled learning rate. Per-step scalars (eta_t, the decay scale) are computed once per
step in ``_backend_update_step``; the schedule state (``t_cur``, the cycle length)
lives in optimizer variables, so it is saved, restored and distributed with the
optimizer, and advances once per applied update (not on gradient-accumulation
micro-steps, nor on steps a LossScaleOptimizer skipped).
"""

import dataclasses
import re
import warnings
from typing import Optional

from . import fused, matching, regularizers, report, schedule, validation
from ._keras import keras, ops

__all__ = ["decoupled", "DecoupledWeightDecay"]


@dataclasses.dataclass(frozen=True)
class VariableSetting:
    """What one trainable variable gets: resolved once, at ``build()``."""

    path: str
    lr_multiplier: float = 1.0
    l1: float = 0.0
    l2: float = 0.0


class DecoupledWeightDecay:
    """Mixin placed before a Keras optimizer class; see the module docstring.

    Only use it through :func:`decoupled`.
    """

    def __init__(
        self,
        *args,
        model=None,
        weight_decays=None,
        lr_multipliers=None,
        exclude_from_weight_decay=None,
        lr_scaled_decay: bool = False,
        use_cosine_annealing: bool = False,
        total_iterations: Optional[int] = None,
        total_iterations_wd: Optional[int] = None,
        t_mult: int = 1,
        eta_min: float = 0.0,
        eta_max: float = 1.0,
        t_cur: int = 0,
        autorestart: Optional[bool] = None,
        zero_penalties: bool = True,
        init_verbose: bool = True,
        model_weight_decays=None,
        variable_paths=None,
        **kwargs,
    ):
        args, model = _model_from_args(args, model)
        args, kwargs = _learning_rate_args(args, kwargs)
        if kwargs.pop("weight_decay", None) is not None:
            raise ValueError(
                "`weight_decay` is Keras' lr-scaled decay and is not used by "
                f"{type(self).__name__}: pass `weight_decays=` (a float for every "
                "variable, or {name: l2 or (l1, l2)}), decoupled from the learning "
                "rate as in the paper; add `lr_scaled_decay=True` for the "
                "torch.optim.AdamW / keras.optimizers.AdamW convention.")
        kwargs.setdefault("name", _snake_case(type(self).__name__))

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

        super().__init__(*args, **kwargs)

        self.use_cosine_annealing = bool(use_cosine_annealing)
        self.total_iterations = total_iterations
        self.total_iterations_wd = total_iterations_wd
        self.t_mult = t_mult
        self.eta_min = eta_min
        self.eta_max = eta_max
        self.autorestart = bool(autorestart)
        self.lr_scaled_decay = bool(lr_scaled_decay)
        self.zero_penalties = bool(zero_penalties)
        self.init_verbose = bool(init_verbose)
        self.lr_multipliers = lr_multipliers
        self.exclude_patterns = exclude_patterns
        self._t_cur_start = t_cur
        self._variable_settings = ()
        self._fused_update = None
        self._variable_paths = list(variable_paths) if variable_paths else None
        if model is not None:
            model_decays.update(regularizers.get_weight_decays(model))
            if self.zero_penalties:
                regularizers.zero_penalties(model)
            if isinstance(user_decays, dict):
                overridden = [p for p in model_decays if matching.find_key(user_decays, p)]
                if overridden:
                    warnings.warn("keras_adamw: `weight_decays` overrides the decays "
                                  f"read from the model for {overridden}.", stacklevel=2)
        self._user_decays = user_decays
        self._model_decays = model_decays

        with keras.name_scope(self.name, caller=self):
            self.t_cur = keras.Variable(
                t_cur, name="t_cur", dtype="int", trainable=False,
                aggregation="only_first_replica")
            self._cycle_length = keras.Variable(
                self.total_iterations or 1, name="cycle_length", dtype="int",
                trainable=False, aggregation="only_first_replica")
            self._decay_scale = keras.Variable(
                0.0, name="decay_scale", dtype="float32", trainable=False,
                aggregation="only_first_replica")

    # ------------------------------------------------------------------ reading

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
    def eta_t(self):
        """The schedule multiplier the next applied step will use."""
        if not self.use_cosine_annealing:
            return ops.convert_to_tensor(1.0)
        return schedule.cosine_multiplier(
            self.t_cur.value, self._cycle_length.value, self.eta_min, self.eta_max)

    @property
    def variable_settings(self) -> dict:
        """``{path: VariableSetting}`` for each variable, after ``build()``."""
        return {s.path: s for s in self._variable_settings}

    # -------------------------------------------------------------------- build

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        paths = self._names_for(variables)
        self._variable_settings = tuple(
            self._resolve(path, excluded=not self._use_weight_decay(v))
            for path, v in zip(paths, variables))
        self._check_names(paths)
        self._fused_update = fused.fused_update_for(self, DecoupledWeightDecay)
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
                    if p in self._model_decays and regularizers.zero_variable_penalties([v])]
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

    # ------------------------------------------------------------------- update

    def _decay_scale_value(self, eta):
        """eta_t * s (or s with lr_scaled_decay, which multiplies by the lr later)."""
        if self.total_iterations_wd is not None:
            s = schedule.normalization_scale(self.total_iterations_wd)
        elif self.total_iterations is not None:
            s = schedule.normalization_scale(self._cycle_length.value)
        else:
            s = 1.0
        return s if self.lr_scaled_decay else eta * s

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        """One applied step: eta_t once, every variable's update, then t_cur += 1."""
        t_cur, cycle_length = self.t_cur.value, self._cycle_length.value
        if self.use_cosine_annealing:
            eta = schedule.cosine_multiplier(t_cur, cycle_length, self.eta_min, self.eta_max)
            learning_rate = ops.multiply(ops.cast(learning_rate, "float32"), eta)
        else:
            eta = 1.0
        self._decay_scale.assign(ops.cast(self._decay_scale_value(eta), "float32"))
        super()._backend_update_step(grads, trainable_variables, learning_rate)
        t_next, cycle_next = schedule.advance(t_cur, cycle_length, self.t_mult, self.autorestart)
        self.t_cur.assign(t_next)
        self._cycle_length.assign(cycle_next)

    def update_step(self, gradient, variable, learning_rate):
        setting = self._variable_settings[self._get_variable_index(variable)]
        if setting.lr_multiplier != 1.0:
            learning_rate = ops.multiply(learning_rate, setting.lr_multiplier)
        if setting.l1 or setting.l2:
            self._apply_decoupled_decay(variable, setting, learning_rate)
        if self._fused_update is None or not self._fused_update(
                self, gradient, variable, learning_rate):
            super().update_step(gradient, variable, learning_rate)

    def _apply_decoupled_decay(self, variable, setting, learning_rate):
        """w <- w - c * (l1 * sign(w) + l2 * w), c = eta_t * s (times lr * mu if scaled)."""
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
        self.assign_sub(variable, decay)

    # ------------------------------------------------------------------- config

    def get_config(self):
        config = super().get_config()
        config.update({
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
        })
        return config


def _path(variable) -> str:
    path = getattr(variable, "path", None)
    return matching.normalize_name(path if path else variable.name)


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower()


def _model_from_args(args, model):
    """``AdamW(model, ...)``: a model as the first positional argument."""
    if args and isinstance(args[0], keras.layers.Layer):
        if model is not None:
            raise TypeError("`model` given twice: as the first positional argument "
                            "and as model=.")
        return args[1:], args[0]
    if model is not None and not isinstance(model, keras.layers.Layer):
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


_CLASSES = {}


def decoupled(base_cls, name: Optional[str] = None, doc: Optional[str] = None):
    """A subclass of the Keras optimizer ``base_cls`` with decoupled weight decay,
    cosine warm restarts and per-variable learning-rate multipliers.

    ``decoupled(keras.optimizers.Adam) is AdamW``. The class is registered for
    serialization as ``keras_adamw>{name}`` (default: base name + ``"W"``), so a
    saved model loads with ``keras.saving.load_model`` without ``custom_objects``
    once the class exists in the loading process (call ``decoupled`` there too).
    """
    if not (isinstance(base_cls, type) and issubclass(base_cls, keras.optimizers.Optimizer)):
        raise TypeError("`base_cls` must be a Keras 3 optimizer class such as "
                        f"keras.optimizers.Lion; got {base_cls!r}.")
    if issubclass(base_cls, DecoupledWeightDecay):
        raise TypeError(f"{base_cls.__name__} already has decoupled weight decay.")
    name = name or base_cls.__name__ + "W"
    key = (base_cls, name)
    if key not in _CLASSES:
        cls = type(name, (DecoupledWeightDecay, base_cls), {
            "__doc__": doc or (
                f"{base_cls.__name__} with decoupled weight decay, cosine warm "
                f"restarts and lr multipliers (keras_adamw.decoupled).\n\n"
                + __doc__),
            "__module__": __name__,
        })
        keras.saving.register_keras_serializable(package="keras_adamw", name=name)(cls)
        _CLASSES[key] = cls
    return _CLASSES[key]
