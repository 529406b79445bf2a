"""What every decoupled optimizer shares, whatever Keras it runs on.

The arguments (``arguments.py``), the plan (``plan.py``: which variable gets what,
resolved once at build by ``build.py``, restored from a config by ``restore.py``), the
schedule state (``state.py``), the step sequence and the config. The glue for one Keras
(``decoupled.py`` for Keras 3, ``tf_keras/glue.py`` for tf_keras) creates the
variables and hooks the update into that Keras' step, the same way for both:

    state <- the schedule state (t_cur, T_i, i)          once per applied step
    step  <- step.begin(state, alpha_t)                  eta_t, c, lr per group, ...
    every variable (or a whole-step kernel):
        w <- w - decay                                   kernels/, from step.decay
        w <- base_update(w, g, step.lr(mu))
    state <- schedule.advance(state)                     t_cur += 1, restarts
"""

import dataclasses
import re
import warnings

from . import (arguments, compat, matching, plan as plans, regularizers, restore, schedule,
               step as steps, units, validation)
from ._keras import ops
from .anchors import Anchoring
from .build import PlanBuilding, warn_unmatched_exclusions
from .kernels import generic
from .plan import VariableSetting
from .state import ScheduleState, value_of

__all__ = ["DecoupledCore", "VariableSetting"]


#: arguments kept otherwise: the model is not kept, ``weight_decays`` is a property,
#: ``exclude_from_weight_decay`` is Keras' method, ``t_cur`` is the schedule variable
_NOT_ATTRIBUTES = ("model", "weight_decays", "exclude_from_weight_decay", "t_cur")


class DecoupledCore(PlanBuilding, Anchoring):
    """Shared part of the mixins; see the module docstring."""

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
        if "name" not in kwargs and getattr(cls, "_base_takes_name", True):
            kwargs["name"] = _unique_name(_snake_case(cls.__name__))
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
        self.plan = None
        self._variable_paths = settings.variable_paths
        self._excluded_by_type = settings.excluded_by_type
        self._type_excluded_ids = None
        self._declared = {}  # {path: (l1, l2)} for the weight_decays property
        self._declared_by_index = settings.declared_decays
        self._previewed = None  # the settings the table showed at construction
        self._restored = False  # made by from_config (load_model): no table at build
        #: with model=: the paths of its weights not trained now (frozen), which keys may
        #: name (a warning at build, not an error)
        self._frozen_paths = None
        self._step = None  # the scalars of the step being run or traced
        self._anchors = ()  # w0 per variable (decay_toward="initial"), made at build
        self._anchor_pairs = None  # (w, w0) of those variables (anchors.AnchorPairs)
        self._anchored = None  # the flag: 1 once w0 holds the weights (anchors.py)
        self._learning_rate_peak = None
        self._units_warned = False
        #: the learning rate's largest value where known (units.py: timescales, the
        #: warning), read now: a build inside a traced step cannot read it
        self._alpha_peak = settings.alpha_peak_at_start or units.alpha_peak(
            getattr(self, "_learning_rate", None), self.learning_rate_peak)
        if self.decay_follows_schedule:  # alpha_peak, or a ValueError now
            self._learning_rate_peak = steps.schedule_peak(
                getattr(self, "_learning_rate", None), self.learning_rate_peak)
            if self._learning_rate_peak is None:
                warnings.warn(
                    "keras_adamw: decay_follows_schedule=True with a constant learning "
                    "rate changes nothing, and a callback that changes the learning rate "
                    "(LearningRateScheduler, ReduceLROnPlateau) would not be followed: "
                    "pass learning_rate_peak=<the largest learning rate> to make the "
                    "decay follow the current learning rate.", stacklevel=4)
        for value in _timescales(self._user_decays):  # a ValueError now if unreachable
            self._timescale_l2(value, 1.0)
        if model is not None:
            # a key that matches none of the model's weights is a typo: say it now, not
            # at the first step of fit (the build checks the trained variables again)
            plans.require_matched(self._rules(), [restore.path_of(v) for v in model.weights])
            self._declared = self._regularizers.get_weight_decays(model, warn_collisions=False)
            # what a config saved before build needs: the paths Keras will build on,
            # and the decays they declare (a reloaded model's live penalties are
            # then known as its own, and turned off without a warning)
            trained = list(model.trainable_variables)
            self._variable_paths = [restore.path_of(v) for v in trained]
            trained_ids = {id(v) for v in trained}
            self._frozen_paths = [restore.path_of(v) for v in model.weights
                                  if id(v) not in trained_ids]
            self._declared_by_index = [
                list(d) if d is not None else None
                for d in (self._regularizers.declared_decay(v) for v in trained)]
            if self._keeps_decays_by_path:
                self._settings = settings = dataclasses.replace(
                    settings, model_weight_decays={**self._declared,
                                                   **settings.model_weight_decays})
            if self._exclude_types:
                by_type = restore.type_excluded_ids(model, self._exclude_types)
                warn_unmatched_exclusions(  # frozen weights count: nothing is decayed
                    [t[len(validation.TYPE_PREFIX):] for t, ids in by_type.items()
                     if not ids], "layer class", model, stacklevel=5)
                self._type_excluded_ids = set().union(*by_type.values())
                # the excluded positions, for a config saved before build
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
            self._preview(model)

    def _timescale_l2(self, timescale, mu: float) -> float:
        """The l2 of a decay given as ``timescale`` for a variable with multiplier
        ``mu`` (``units.timescale_l2``)."""
        return units.timescale_l2(self, timescale, mu)

    def _create_state(self, create) -> None:
        """The schedule variables (``state.py``), with ``create(name, value, dtype)``."""
        self._state = ScheduleState(
            create, self._t_cur_start, self.total_iterations or 1,
            self.use_cosine_annealing and self._shape.needs_cycle_index)
        # attributes, in this order, so that Keras tracks (saves, restores) them as before
        self.t_cur = self._state.t_cur
        self._cycle_length = self._state.cycle_length
        self._decay_scale = self._state.decay_scale
        self._cycle = self._state.cycle

    # ---------------------------------------------------------- what is in effect

    @property
    def weight_decays(self):
        """The decays in effect: a float, or ``{name: (l1, l2)}``: the decays the
        model's regularizers declare (``model=``), with the user's dict merged over
        them (its entries win). With a float and ``model=``, the declared ones (the
        float applies to every other variable)."""
        if self._user_decays is not None and not isinstance(self._user_decays, dict) \
                and not self._settings.decays_from_model:
            return self._user_decays  # a float or a Timescale
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
        for s in self.plan.settings if self.plan else ():
            key, n = s.path, 1
            while key in out:
                n += 1
                key = f"{s.path}#{n}"
            out[key] = s
        return out

    def setting_of(self, variable) -> VariableSetting:
        """The setting of one of the variables this optimizer was built on."""
        return self.plan.settings[self._get_variable_index(variable)]

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Keras' method, kept through save and load: each of ``var_names`` becomes a
        name key of ``exclude_from_weight_decay`` (whole path components, so
        ``'bias'`` excludes every bias), and is written in the config. ``var_list``
        (variable objects) is Keras' own exclusion, in memory only, as in Keras."""
        if getattr(self, "built", False) or self.plan is not None:
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

    # ------------------------------------------------------------------ the step

    def _begin_step(self, learning_rate, host: bool = False, read_variable=None):
        """Once per applied step, before any variable: the schedule state and the
        step's scalars (kept as ``self._step`` while the step runs), and the decay
        scale into its variable. Returns the state for ``_end_step``."""
        state = self._state.read(host, read_variable)
        if self._anchored is not None:
            self._take_anchors(host)
        self._step = steps.begin(self, state, learning_rate)
        self._state.write_decay_scale(self._step.decay_scale)
        return state

    def _end_step(self, state) -> None:
        """Once per applied step, after every variable: t_cur += 1, and a restart
        when the cycle is over (``schedule.advance``)."""
        self._step = None
        self._state.write(*self.next_schedule_state(state))

    def _current_step(self, learning_rate):
        """The step's scalars for an ``update_step`` given ``learning_rate``: the
        step's own (memoized) when that is the step's learning rate, else the same
        scalars with this one (a subclass that changes it, a call on its own)."""
        step = self._step
        if step is not None and learning_rate is step.learning_rate:
            return step
        if step is not None:
            return steps.Step(step.eta, step.decay_scale, learning_rate,
                              self.lr_scaled_decay, step.norm)
        return steps.Step(None, self._state.decay_scale.value, learning_rate,
                          self.lr_scaled_decay,
                          steps.normalization(self, self._state.cycle_length.value))

    def _decay_terms(self, variable, index: int, step, value=None):
        """(a1 sign(d) + a2 d, d), d = w or w - w0 with w = ``value`` (w before the step;
        the variable itself by default), for the variable at build position ``index``;
        None where it is not decayed."""
        setting = self.plan.settings[index]
        if not (setting.l1 or setting.l2):
            return None
        a1, a2 = step.decay(setting.lr_multiplier, setting.l1, setting.l2,
                            normalized=not setting.timescale)
        anchor = self._anchors[index] if self._anchors else None
        d = generic.target_offset(variable if value is None else value, anchor)
        return generic.decay(variable, a1, a2, d), d

    def _decay_variable(self, variable, index: int, step) -> None:
        """w <- w - (a1 sign(d) + a2 d), d = w or w - w0: the generic kernel."""
        terms = self._decay_terms(variable, index, step)
        if terms is not None:
            self._subtract(variable, terms[0])

    def _decayed_update(self, variable, index: int, step, base_update) -> None:
        """The decay and the base update (``base_update()``) of one variable: the decay
        first, or with ``cautious_decay`` after it, where the base's step (w before
        minus w after) agrees with d (``kernels.generic.cautious``)."""
        if not self.cautious_decay:
            self._decay_variable(variable, index, step)
            base_update()
            return
        setting = self.plan.settings[index]
        if not (setting.l1 or setting.l2):
            base_update()
            return
        before = ops.copy(value_of(variable))  # w before the step, kept
        terms = self._decay_terms(variable, index, step, value=before)
        base_update()
        self._subtract(variable, generic.cautious(*terms, before, value_of(variable)))

    def _subtract(self, variable, value) -> None:
        """variable <- variable - value (Keras 3: ``self.assign_sub``, as Keras'
        optimizers update, so a sparse-aware override of it sees the update)."""
        variable.assign_sub(value)

    # ------------------------------------------------------- public accessors

    def schedule_state(self) -> tuple:
        """(t_cur, T_i, i) now, as Python ints: the state the next applied step uses
        (one read of each variable)."""
        return tuple(int(ops.convert_to_numpy(v)) for v in self._state.read(False))

    def next_schedule_state(self, state) -> tuple:
        """The state after one applied step from ``state`` (Python ints, or tensors
        in a step); the cycle index stays 0 where the optimizer keeps none (cycles
        without a shape)."""
        t_cur, length, cycle = schedule.advance(*state[:2], self.t_mult, self.autorestart,
                                                state[2])
        return t_cur, length, cycle if self._state.cycle is not None else 0

    def step_values(self, state, alpha: float) -> dict:
        """What the applied step with schedule ``state`` and learning rate ``alpha``
        uses: eta_t, the learning rate of each multiplier group and the decay of each
        decay group, by the keys ``ScheduleLogger`` logs (``step.step_values``)."""
        return steps.step_values(self, state, alpha)

    def schedule_scalars(self, state) -> tuple:
        """(eta_t, c) of the applied step with schedule ``state`` (Python ints)."""
        return steps.schedule_scalars(self, *state)

    @property
    def eta_t(self):
        """The schedule multiplier the next applied step will use."""
        return ops.convert_to_tensor(steps.schedule_scalars(self, *self._state.read(False))[0],
                                     "float32")

    @property
    def cycle(self):
        """The index of the current cycle (0 for the first; counts automatic
        restarts), or 0 when the schedule has no shaped cycles."""
        return self._state.cycle if self._state.cycle is not None else 0

    @property
    def _variable_settings(self) -> tuple:
        return self.plan.settings if self.plan is not None else ()

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Keras' own; the optimizer it restores (``load_model``, a checkpoint's
        config) does not print the ``init_verbose`` table at build: it was printed
        when the optimizer was first made, and would show step 0 after a resume."""
        optimizer = super().from_config(config, custom_objects=custom_objects)
        optimizer._restored = True
        return optimizer

    def _config_entries(self) -> dict:
        config = arguments.to_config(self._settings)
        config.update(t_cur=self._t_cur_start, variable_paths=self._variable_paths,
                      excluded_by_type=self._excluded_by_type,
                      declared_decays=self._declared_by_index,
                      alpha_peak_at_start=self._alpha_peak)
        return config


def _timescales(decays) -> list:
    """The Timescales among ``weight_decays`` (checked: a float, a Timescale, a dict
    of (l1, l2))."""
    values = [l2 for _, l2 in decays.values()] if isinstance(decays, dict) else [decays]
    return [v for v in values if isinstance(v, units.Timescale)]


def _unique_name(name: str) -> str:
    """``adamw``, then ``adamw_1``, ... as Keras names its own optimizers (two
    optimizers in one program must not share variable paths)."""
    try:
        from keras.src.utils.naming import uniquify
    except ImportError:  # pragma: no cover - a Keras without it
        return name
    return uniquify(name)


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
