"""What every decoupled optimizer shares, whatever Keras it runs on.

The arguments (``arguments.py``), which setting each variable gets (resolved once, at
build), the normalization factor, the decay formula and the config. The glue for one
Keras (``decoupled.py`` for Keras 3, ``tf_keras/glue.py`` for tf_keras) creates the
schedule variables and hooks the update.

Which decay a variable gets, in order (the first that applies):

1. none, if it is excluded: by Keras' ``exclude_from_weight_decay()`` method, by a
   name or regular expression of ``exclude_from_weight_decay``, by a layer class there
   (with ``model=``), or by ``exclude_1d`` for a variable of at most one dimension;
2. the value of the ``weight_decays`` dict key that matches its path (see
   ``matching.py`` for the precedence between keys);
3. with ``model=``: the decay its own regularizer declares (``regularizers.py``),
   read from the variable itself, never from a name;
4. a float ``weight_decays``;
5. none.
"""

import contextlib
import dataclasses
import re
import warnings

from . import arguments, compat, matching, regularizers, report, schedule, validation
from ._keras import ops

__all__ = ["DecoupledCore", "VariableSetting"]


#: arguments kept otherwise: the model is not kept, ``weight_decays`` is a property,
#: ``exclude_from_weight_decay`` is Keras' method, ``t_cur`` is the schedule variable
_NOT_ATTRIBUTES = ("model", "weight_decays", "exclude_from_weight_decay", "t_cur")


@dataclasses.dataclass(frozen=True)
class VariableSetting:
    """What one trainable variable gets: resolved once, at ``build()``."""

    path: str
    lr_multiplier: float = 1.0
    l1: float = 0.0
    l2: float = 0.0


class DecoupledCore:
    """Shared part of the mixins; see ``decoupled.py`` for the update it serves."""

    #: reads and turns off regularizers for this Keras (tf_keras has its own)
    _regularizers = regularizers
    #: what counts as a model given positionally
    _layer_types: tuple = ()
    #: tf_keras variables cannot carry their decay through save and load (its penalties
    #: live on layers), so there the config keeps the decays read by path as well
    _keeps_decays_by_path = False

    @classmethod
    def _parse_arguments(cls, args, kwargs):
        """Check every argument before anything changes (the model included).

        Returns the base class's (args, kwargs), the model, and our settings.
        """
        ours = {name: kwargs.pop(name, default) for name, default in
                [(a.name, a.default) for a in arguments.ARGUMENTS + arguments.CONFIG_ONLY]}
        args, model = compat.model_from_args(args, ours.pop("model"), cls._layer_types)
        args, kwargs = compat.learning_rate_args(args, kwargs)
        _refuse_base_weight_decay(cls.__name__, kwargs)
        kwargs.setdefault("name", _snake_case(cls.__name__))
        settings = arguments.parse(ours, has_model=model is not None)
        if model is not None:
            settings = dataclasses.replace(settings, decays_from_model=True)
        return args, kwargs, model, settings

    def _adopt_arguments(self, settings, model):
        """After the base class's __init__: our attributes, and the model's decays
        turned into declared decays (``zero_penalties``)."""
        self._settings = settings
        for argument in arguments.ARGUMENTS:  # the plain ones, as attributes
            if argument.name not in _NOT_ATTRIBUTES:
                setattr(self, argument.name, getattr(settings, argument.name))
        self._shape = schedule.Shape(
            eta_min=settings.eta_min, eta_max=settings.eta_max,
            warmup=settings.warmup_iterations, warmup_each_cycle=settings.warmup_each_cycle,
            cycle_decay=settings.cycle_decay, cycle_limit=settings.cycle_limit)
        self._t_cur_start = settings.t_cur
        self._user_decays = settings.weight_decays
        self._exclude_keys, self._exclude_types = settings.exclude_from_weight_decay
        self._variable_settings = ()
        self._variable_paths = settings.variable_paths
        self._excluded_by_type = settings.excluded_by_type
        self._type_excluded_ids = None
        self._declared = {}  # {path: (l1, l2)} for the weight_decays property
        self._declared_by_index = settings.declared_decays
        self._previewed = None
        self._memo = None
        if model is not None:
            self._declared = self._regularizers.get_weight_decays(model, warn_collisions=False)
            if self._keeps_decays_by_path:
                self._settings = settings = dataclasses.replace(
                    settings, model_weight_decays={**self._declared,
                                                   **settings.model_weight_decays})
            if self._exclude_types:
                self._type_excluded_ids = _type_excluded_ids(model, self._exclude_types)
                # What a config saved before build needs to restore the exclusion without
                # the model: the paths Keras will build on, and the excluded positions.
                trained = list(model.trainable_variables)
                self._variable_paths = [_path(v) for v in trained]
                self._excluded_by_type = [i for i, v in enumerate(trained)
                                          if id(v) in self._type_excluded_ids]
            if self.zero_penalties:
                self._regularizers.zero_penalties(model)
            if isinstance(self._user_decays, dict):
                user = matching.Matcher(self._user_decays)
                overridden = [p for p in self._declared if user.find(p) is not None]
                if overridden:
                    warnings.warn("keras_adamw: `weight_decays` overrides the decays "
                                  f"declared by the model for {overridden}.", stacklevel=3)
            if self.init_verbose:
                self._preview(model)

    @property
    def weight_decays(self):
        """The decays in effect: a float, or ``{name: (l1, l2)}``: the decays the
        model's regularizers declare (``model=``), with the user's dict merged over
        them (its entries win). With a float and ``model=``, the declared ones (the
        float applies to every other variable)."""
        if isinstance(self._user_decays, float) and not self._settings.decays_from_model:
            return self._user_decays
        merged = dict(self._settings.model_weight_decays)
        merged.update(self._declared)
        if isinstance(self._user_decays, dict):
            merged.update({matching.key_to_config(k): v for k, v in self._user_decays.items()})
        return merged

    @property
    def variable_settings(self) -> dict:
        """``{path: VariableSetting}`` for each variable, after ``build()``. A path
        shared by several variables (Keras 3 paths are not unique) appears once per
        variable, as ``path``, ``path#2``, ... in build order; ``setting_of(variable)``
        gives one variable's setting whatever its path."""
        out = {}
        for s in self._variable_settings:
            key, n = s.path, 1
            while key in out:
                n += 1
                key = f"{s.path}#{n}"
            out[key] = s
        return out

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Keras' method, kept through save and load: each of ``var_names`` becomes a
        name key of ``exclude_from_weight_decay`` (whole path components, so
        ``'bias'`` excludes every bias), and is written in the config. ``var_list``
        (variable objects) is Keras' own exclusion, in memory only, as in Keras."""
        if getattr(self, "built", False) or self._variable_settings:
            raise ValueError("`exclude_from_weight_decay()` can only be configured before "
                             "the optimizer is built (its settings are resolved at build).")
        if var_names:
            keys = list(self._exclude_keys)
            for name in var_names:
                key = matching.normalize_key("exclude_from_weight_decay", name)
                if key not in keys:
                    keys.append(key)
            self._exclude_keys = keys
            self._settings = dataclasses.replace(
                self._settings, exclude_from_weight_decay=(keys, self._exclude_types))
        if var_list:
            super().exclude_from_weight_decay(var_list=var_list)

    def setting_of(self, variable) -> VariableSetting:
        """The setting of one of the variables this optimizer was built on."""
        return self._variable_settings[self._get_variable_index(variable)]

    # -------------------------------------------------------------- resolving

    def _resolve_variables(self, variables):
        """Settings of every variable, once, at build; then the checks and the table."""
        paths, same_model = self._names_for(variables)
        type_excluded = self._type_excluded(variables, same_model)
        user = matching.Matcher(self._user_decays if isinstance(self._user_decays, dict) else {})
        if self._settings.decays_from_model:
            declared = self._declared_decays(variables, paths, same_model)
        else:
            declared = [None] * len(variables)
            self._warn_unapplied_declared(variables, paths, user)
        settings, dropped = self._settings_for(variables, paths, declared, type_excluded)
        self._variable_settings = tuple(settings)
        self._excluded_by_type = sorted(type_excluded) if self._exclude_types else None
        if self._settings.decays_from_model:
            self._declared_by_index = [list(d) if d is not None else None for d in declared]
        multipliers = matching.Matcher(self.lr_multipliers)
        multipliers.require_all_matched("lr_multipliers", paths)
        user.require_all_matched("weight_decays", paths)
        multipliers.warn_never_applied("lr_multipliers", paths)
        user.warn_never_applied("weight_decays", paths)
        if dropped:
            warnings.warn(
                "keras_adamw: the decays declared for "
                f"{dropped[:10]}{' ...' if len(dropped) > 10 else ''} are not applied: "
                "`exclude_from_weight_decay` / `exclude_1d` exclude these variables, and "
                "their penalties are off (exclusions win over every decay).", stacklevel=4)
        self._check_legacy_paths(paths)
        if self.init_verbose and [s for s in settings] != list(self._previewed or ()):
            print(report.settings_table(self, settings, variables))

    def _settings_for(self, variables, paths, declared, type_excluded):
        """The ``VariableSetting`` of each variable (the order of the module docstring),
        and the paths whose declared decay, or decay given by their exact path, an
        exclusion drops."""
        multipliers = matching.Matcher(self.lr_multipliers)
        excludes = matching.Matcher(self._exclude_keys)
        user = matching.Matcher(self._user_decays if isinstance(self._user_decays, dict) else {})
        legacy = self._settings.model_weight_decays
        default = self._user_decays if isinstance(self._user_decays, float) else None
        settings, dropped = [], []
        for index, (path, variable) in enumerate(zip(paths, variables)):
            key = multipliers.find(path)
            mu = 1.0 if key is None else self.lr_multipliers[key]
            l1 = l2 = 0.0
            excluded = (not self._use_weight_decay(variable) or excludes.matches(path)
                        or index in type_excluded
                        or (self.exclude_1d and len(variable.shape) <= 1))
            key = user.find(path)
            if key is not None:
                l1, l2 = self._user_decays[key]
            elif declared[index] is not None:
                l1, l2 = declared[index]
            elif path in legacy:
                l1, l2 = legacy[path]
            elif default is not None:
                l2 = default
            if excluded:
                if key == path or (key is None and declared[index] is not None
                                   and any(declared[index])):
                    # a decay given for exactly this variable, or declared by its
                    # regularizer; a broad key with exclusions is the usual recipe
                    dropped.append(path)
                l1 = l2 = 0.0
            settings.append(VariableSetting(path, mu, l1, l2))
        return settings, dropped

    def _preview(self, model):
        """With ``model=`` and ``init_verbose``: the table at construction, before any
        training starts (a build inside ``fit`` would print it between Keras' "Epoch
        1/N" line and its progress bar). The build prints again only if its settings
        differ."""
        variables = list(model.trainable_variables)
        try:
            paths = [_path(v) for v in variables]
            declared = [self._regularizers.declared_decay(v) for v in variables]
            type_excluded = {i for i, v in enumerate(variables)
                             if id(v) in (self._type_excluded_ids or ())}
            settings, _ = self._settings_for(variables, paths, declared, type_excluded)
        except Exception:  # the build reports whatever is wrong
            return
        self._previewed = tuple(settings)
        print(report.settings_table(self, settings, variables))

    def _names_for(self, variables):
        """The path each variable is matched by, and whether the saved build-time
        paths describe these variables.

        Keras 3 does not keep every path through ``model.save`` and ``load_model``:
        the weights of layers inside wrappers (Bidirectional, TimeDistributed, RNN
        cells) come back without the wrapper's prefix (``bidi/forward_gru/...``
        becomes ``forward_gru/...``). A config saved after build records the paths
        in build order (``variable_paths``); they are used only when they describe
        the same model: as many variables, each current path equal to the saved one
        or a tail of it after a ``/``. A config reused on another model matches the
        new model's own paths.
        """
        paths = [_path(v) for v in variables]
        saved = self._variable_paths
        same = saved is not None and len(saved) == len(paths) and all(
            s == p or s.endswith("/" + p) for s, p in zip(saved, paths))
        if same:
            paths = list(saved)
        self._variable_paths = paths
        return paths, same

    def _type_excluded(self, variables, same_model: bool) -> set:
        """Build-order indices of the variables excluded by layer class."""
        if not self._exclude_types:
            return set()
        if self._type_excluded_ids is not None:
            return {i for i, v in enumerate(variables) if id(v) in self._type_excluded_ids}
        if same_model and self._excluded_by_type is not None:
            return set(self._excluded_by_type)
        raise ValueError(
            "`exclude_from_weight_decay` has layer classes "
            f"{self._exclude_types} but this optimizer was built on variables of "
            "another model than the one it was saved with, so it cannot tell their "
            "layers: create it with model=model.")

    def _declared_decays(self, variables, paths, same_model: bool) -> list:
        """The decay each variable's regularizer declares (``model=``), or the one
        saved for its position (``declared_decays``) when the variable carries none
        and the saved paths describe this model (tf_keras variables lose their
        declared decay through save and load).

        A penalty that came back (a custom layer that rebuilds its regularizer from
        its own config after ``load_model``) is turned off again, with a warning:
        otherwise the weight would be decayed twice."""
        saved = self._settings.declared_decays if same_model else None
        if saved is not None and len(saved) != len(variables):
            saved = None
        declared, restored = [], []
        for index, (path, variable) in enumerate(zip(paths, variables)):
            decay = self._regularizers.declared_decay(variable)
            if decay is None and saved is not None and saved[index] is not None:
                decay = tuple(saved[index])
            if decay is not None and self.zero_penalties and \
                    self._regularizers.turn_off_variable(variable, decay):
                restored.append(path)
            declared.append(decay)
        if restored:
            warnings.warn(
                "keras_adamw: removed the L1/L2 penalties of "
                f"{restored}: their decays are applied by the optimizer "
                "(zero_penalties=True), and a penalty in the loss would decay them "
                "twice.", stacklevel=4)
        for path, decay in zip(paths, declared):
            if decay is not None:
                self._declared.setdefault(path, decay)
        return declared

    def _warn_unapplied_declared(self, variables, paths, user):
        """Variables whose penalties an earlier ``model=`` turned into declared decays,
        trained by an optimizer created without ``model=`` and not named in its
        ``weight_decays``: say that they get none."""
        unapplied = [p for p, v in zip(paths, variables)
                     if user.find(p) is None and not isinstance(self._user_decays, float)
                     and self._regularizers.declared_decay(v, turned_off_only=True) is not None]
        if unapplied:
            warnings.warn(
                "keras_adamw: the regularizers of "
                f"{unapplied[:10]}{' ...' if len(unapplied) > 10 else ''} were turned "
                "into declared decays by an optimizer created with model=, but "
                "this one was created without model= and does not apply them: pass "
                "model=model.", stacklevel=4)

    def _check_legacy_paths(self, paths):
        legacy = self._settings.model_weight_decays
        if not legacy:
            return
        known = set(paths)
        missing = [p for p in legacy if p not in known]
        if missing:
            warnings.warn(
                "keras_adamw: decays read from the model for variables this optimizer "
                f"does not train (frozen, or another model?): {missing}; they are "
                "not applied.", stacklevel=4)

    # ------------------------------------------------------------------ update

    def _step_scalars(self, t_cur, cycle_length, cycle=0):
        """(eta_t, c) of the applied step that has ``t_cur`` steps of cycle number
        ``cycle`` (of length ``cycle_length``) behind it: Python numbers in, floats
        out; tensors in, tensors out.

            eta_t = schedule.multiplier(t_cur, T_i, i)  (1 without annealing)
            s     = sqrt(1 / T_norm)                    (1 without normalization)
            c     = eta_t * s                           (s alone with lr_scaled_decay:
                                                         the lr, which holds eta_t,
                                                         multiplies it later)
        """
        eta = (schedule.multiplier(t_cur, cycle_length, cycle, self._shape)
               if self.use_cosine_annealing else 1.0)
        if self.total_iterations_wd is not None:
            s = schedule.normalization_scale(self.total_iterations_wd)
        elif self.total_iterations is not None:
            s = schedule.normalization_scale(cycle_length)
        else:
            s = 1.0
        return eta, (s if self.lr_scaled_decay else eta * s)

    def _schedule_variables(self, create):
        """Create the schedule state with ``create(name, value, dtype)``: ``t_cur``,
        the cycle length, the step's decay scale, and the cycle index when the shape
        needs it (an optimizer without shaped cycles keeps 2.0.0's variables, so its
        saved files load as before)."""
        self.t_cur = create("t_cur", self._t_cur_start, "int")
        self._cycle_length = create("cycle_length", self.total_iterations or 1, "int")
        self._decay_scale = create("decay_scale", 0.0, "float32")
        self._cycle = (create("cycle", 0, "int")
                       if self.use_cosine_annealing and self._shape.needs_cycle_index else None)

    def _schedule_state(self, as_numbers: bool = False):
        """(t_cur, T_i, i) as values for this step: tensors, or Python ints when
        ``as_numbers`` (eager PyTorch, where each scalar op is a kernel launch)."""
        value = _read_int if as_numbers else self._read_state
        cycle = value(self._cycle) if self._cycle is not None else 0
        return value(self.t_cur), value(self._cycle_length), cycle

    def _begin_step(self, t_cur, cycle_length, cycle=0):
        """Once per applied step, before any variable: eta_t, and the decay scale c
        into its optimizer variable. Returns eta_t: a float32 tensor, or a float for
        Python numbers in."""
        eta, c = self._step_scalars(t_cur, cycle_length, cycle)
        if isinstance(c, float):  # Python numbers in (see _schedule_state)
            self._decay_scale.assign(c)
            return eta
        self._decay_scale.assign(ops.cast(c, "float32"))
        return ops.cast(eta, "float32")

    def _end_step(self, t_cur, cycle_length, cycle=0):
        """Once per applied step, after every variable: t_cur += 1, and a restart
        when the cycle is over (``schedule.advance``)."""
        t_next, cycle_next, index_next = schedule.advance(
            t_cur, cycle_length, self.t_mult, self.autorestart, cycle)
        for variable, value in ((self.t_cur, t_next), (self._cycle_length, cycle_next),
                                (self._cycle, index_next)):
            if variable is not None:
                variable.assign(value if isinstance(value, int)
                                else ops.cast(value, variable.dtype))

    @property
    def eta_t(self):
        """The schedule multiplier the next applied step will use."""
        return ops.convert_to_tensor(self._step_scalars(*self._schedule_state())[0], "float32")

    @property
    def cycle(self):
        """The index of the current cycle (0 for the first; counts automatic
        restarts), or 0 when the schedule has no shaped cycles."""
        return self._cycle if self._cycle is not None else 0

    def _decoupled_decay(self, variable, setting, learning_rate):
        """The decay of one variable at this step, from w before the step:

            c     = eta_t * s                     (decay_scale, set once per step)
            c     = c * alpha_t * mu(w)           (lr_scaled_decay only)
            decay = (c l1) * sign(w) + (c l2) * w

        ``learning_rate`` is the variable's own, eta_t * mu(w) * alpha_t; the caller
        subtracts the decay from w. The coefficients ``c l1``, ``c l2`` are computed once
        per (mu, l1, l2, dtype) and step while a step memo is open (``_step_memo``).
        """
        dtype = variable.dtype
        key = ("decay", setting.lr_multiplier, setting.l1, setting.l2, dtype)
        memo = getattr(self, "_memo", None)
        if memo is None or key not in memo:
            c = ops.cast(self._decay_scale, dtype)
            if self.lr_scaled_decay:
                c = c * ops.cast(learning_rate, dtype)
            coefficients = (c * setting.l1 if setting.l1 else None,
                            c * setting.l2 if setting.l2 else None)
            if memo is not None:
                memo[key] = coefficients
        else:
            coefficients = memo[key]
        l1, l2 = coefficients
        decay = None
        if l2 is not None:
            decay = ops.multiply(variable, l2)
        if l1 is not None:
            l1_term = ops.multiply(ops.sign(variable), l1)
            decay = l1_term if decay is None else ops.add(decay, l1_term)
        return decay

    def _multiplied_learning_rate(self, learning_rate, mu: float):
        """eta_t * mu * alpha_t, once per multiplier and step while a memo is open."""
        if mu == 1.0:
            return learning_rate
        memo = getattr(self, "_memo", None)
        if memo is None:
            return ops.multiply(learning_rate, mu)
        key = ("lr", mu)
        if key not in memo:
            memo[key] = ops.multiply(learning_rate, mu)
        return memo[key]

    @contextlib.contextmanager
    def _step_memo(self):
        """The per-step scalars (the learning rate of each multiplier group, the decay
        coefficients of each decay group) computed once while one step is run or
        traced, then dropped: they are values of this step, never state."""
        self._memo = {}
        try:
            yield
        finally:
            self._memo = None

    def _config_entries(self) -> dict:
        config = arguments.to_config(self._settings)
        config.update(t_cur=self._t_cur_start, variable_paths=self._variable_paths,
                      excluded_by_type=self._excluded_by_type,
                      declared_decays=self._declared_by_index)
        return config


def _type_excluded_ids(model, type_names) -> set:
    """ids of every weight inside a layer of one of the classes (``'type:...'``)."""
    classes = tuple(_layer_class(name) for name in type_names)
    ids = set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, classes):
            ids.update(id(v) for v in layer.weights)
    return ids


def _layer_class(config_name: str):
    """``'type:LayerNormalization'`` -> ``keras.layers.LayerNormalization`` (also a
    registered ``'type:package>Name'`` or an import path ``'type:module.Name'``)."""
    import importlib

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
        import sys

        tf_keras = sys.modules.get("tf_keras")
        found = getattr(tf_keras.layers, name, None) if tf_keras is not None else None
    if not isinstance(found, type):
        raise ValueError(f"`exclude_from_weight_decay`: no layer class {name!r} (from "
                         f"{config_name!r}); give the class itself.")
    return found


def _read_int(variable) -> int:
    return int(ops.convert_to_numpy(variable))


def _path(variable) -> str:
    path = getattr(variable, "path", None)
    return matching.normalize_name(path if path else variable.name)


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower()


def _refuse_base_weight_decay(class_name: str, kwargs) -> None:
    """Keras' own lr-scaled decay arguments (``weight_decay``, Muon's
    ``adam_weight_decay``): a ValueError when set, and off otherwise (the glue sets
    them to None after the base class's __init__)."""
    for name in [k for k in kwargs if k.endswith("weight_decay")]:
        value = kwargs.pop(name)
        if value is not None and value != 0:
            raise ValueError(
                f"`{name}` is Keras' lr-scaled decay and is not used by "
                f"{class_name}: pass `weight_decays=` (a float for every "
                "variable, or {name: l2 or (l1, l2)}), decoupled from the learning "
                "rate as in the paper; add `lr_scaled_decay=True` for the "
                "torch.optim.AdamW / keras.optimizers.AdamW convention.")
