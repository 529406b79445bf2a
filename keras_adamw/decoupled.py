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
scaled learning rate, or a kernel does the same arithmetic for the whole step
(``kernels/``). The step's scalars are computed once per step (``step.py``); the
schedule state lives in optimizer variables (``state.py``), so it is saved, restored
and distributed with the optimizer, and advances once per applied update (not on
gradient-accumulation micro-steps, nor on steps a LossScaleOptimizer skipped). On
eager PyTorch the step reads nothing from the device.
"""

import inspect
from typing import Optional

from . import arguments, kernels
from .core import DecoupledCore, VariableSetting  # noqa: F401 (VariableSetting: re-exported)
from ._keras import TF_KERAS_REFUSED, is_tf_keras_optimizer_class, keras
from .kernels import generic, tensorflow as tf_kernels, torch as torch_kernels
from .state import HostMirror

__all__ = ["decoupled", "DecoupledWeightDecay"]


class DecoupledWeightDecay(DecoupledCore):
    """Mixin placed before a Keras 3 optimizer class; see the module docstring.

    Only use it through :func:`decoupled`. The arguments, the plan, the step
    sequence and the config are shared with the tf_keras glue (``core.py``).
    """

    _layer_types = (keras.layers.Layer,)

    def __init__(self, *args, **kwargs):
        args, kwargs, model, settings = self._parse_arguments(args, kwargs)
        super().__init__(*args, **kwargs)
        _turn_off_base_decay(self)
        self._adopt_arguments(settings, model)
        self._fused_update = None  # chosen at build (kernels/tensorflow.py)
        self._whole_step = None  # chosen at build (kernels/)
        with keras.name_scope(self.name, caller=self):
            self._create_state(lambda name, value, dtype: keras.Variable(
                value, name=name, dtype="int32" if dtype == "int" else dtype,
                trainable=False, aggregation="only_first_replica"))
        if keras.backend.backend() == "torch":  # the host mirrors (state.py)
            self._state.mirror()
            self._iterations_mirror = HostMirror(self._iterations, 0)

    # -------------------------------------------------------------------- build

    def build(self, variables):
        if self.built:
            return
        variables = list(variables)
        if not variables:
            # keras.saving's legacy .h5 loader builds the optimizer on no variables and
            # then drops its state; Keras' own optimizers build again on first use.
            return
        super().build(variables)
        torch = keras.backend.backend() == "torch"
        self._resolve_variables(variables, torch_kernels.placement if torch else None)
        self._make_anchors(
            variables, lambda v: self.add_variable_from_reference(v, name="decay_anchor"),
            lambda: self.add_variable((), initializer="zeros", dtype="int32",
                                      aggregation="only_first_replica",
                                      name="decay_anchored"))
        if self._anchored is not None:
            self._anchor_kernel = (tf_kernels.take_anchors if keras.backend.backend() ==
                                   "tensorflow" else generic.take_anchors)
            if torch:
                self._anchored_mirror = HostMirror(self._anchored, 0)
        self._fused_update = tf_kernels.fused_update_for(self, DecoupledWeightDecay)
        if kernels.whole_step_allowed(type(self), DecoupledWeightDecay):
            self._whole_step = (  # a whole-step kernel, or None
                torch_kernels.parallel_update_for(self, DecoupledWeightDecay)
                or tf_kernels.step_update_for(self, DecoupledWeightDecay))

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        """One applied step (``core.py``): the step's scalars once, every variable's
        update (or a whole-step kernel), then the schedule advances."""
        if isinstance(learning_rate, keras.Variable):
            learning_rate = learning_rate.value
        host = self._state.mirrors is not None and torch_kernels.runs_eagerly()
        state = self._begin_step(learning_rate, host)
        step = self._step
        if self._whole_step is None or not self._whole_step(
                self, grads, trainable_variables, step):
            super()._backend_update_step(grads, trainable_variables, step.learning_rate)
        self._end_step(state)

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        step = self._current_step(learning_rate)
        learning_rate = step.lr(self.plan.settings[index].lr_multiplier)

        def base_update():
            if self._fused_update is None or not self._fused_update(
                    self, gradient, variable, learning_rate):
                super(DecoupledWeightDecay, self).update_step(gradient, variable,
                                                              learning_rate)

        self._decayed_update(variable, index, step, base_update)

    def load_own_variables(self, store):
        """Keras' own, and a file of keras_adamw 2.2.0, which has no ``decay_anchored``
        flag (the last variable here): its w0 was taken at build and is restored
        as it is (the flag set), not taken again."""
        flag, variables = self._anchored, self.variables
        if flag is not None and variables and variables[-1] is flag and \
                len(store.keys()) == len(variables) - 1 and all(
                    tuple(store[str(i)].shape) == tuple(v.shape)
                    for i, v in enumerate(variables[:-1])):
            for i, variable in enumerate(variables[:-1]):
                variable.assign(store[str(i)])
            flag.assign(1)
            return
        super().load_own_variables(store)

    def _subtract(self, variable, value) -> None:
        self.assign_sub(variable, value)

    # ------------------------------------------------------------------- config

    def get_config(self):
        config = super().get_config()
        config.update(self._config_entries())
        return config


_CLASSES = {}
#: the classes made here, by their ``__qualname__``: pickle finds them in this module
_BY_QUALNAME = {}


def decoupled(base_cls, name: Optional[str] = None, doc: Optional[str] = None):
    """A subclass of the Keras optimizer ``base_cls`` with decoupled weight decay,
    cosine warm restarts and per-variable learning-rate multipliers.

    ``base_cls`` is a Keras 3 optimizer class, or a tf_keras (Keras 2) one
    (``tf_keras.optimizers.Adam``), which gets the tf_keras glue.
    ``decoupled(keras.optimizers.Adam) is AdamW``. The class is registered for
    serialization as ``keras_adamw>{name}`` (default: base name + ``"W"``), so a
    saved model loads with ``load_model`` without ``custom_objects`` once the class
    exists in the loading process (call ``decoupled`` there too).
    """
    mixin, register = _flavour(base_cls)
    if issubclass(base_cls, DecoupledCore):
        raise TypeError(f"{base_cls.__name__} already has decoupled weight decay.")
    name = name or base_cls.__name__ + "W"
    key = (base_cls, name)
    if key not in _CLASSES:
        doc = (doc or f"{base_cls.__name__} with decoupled weight decay, cosine warm "
               "restarts and lr multipliers (keras_adamw.decoupled).\n")
        qualname, n = name, 1
        while qualname in _BY_QUALNAME:  # another base with the same name
            n += 1
            qualname = f"{name}_{n}"
        cls = type(name, (mixin, base_cls), {
            "__doc__": doc + _ARGUMENTS_DOC.replace("{base}", base_cls.__name__),
            "__module__": __name__,
            "__qualname__": qualname,
            "__init__": _init_with_signature(mixin, base_cls),
            "_base_takes_name": _takes_name(base_cls),
        })
        register(package="keras_adamw", name=name)(cls)
        _CLASSES[key] = _BY_QUALNAME[qualname] = cls
    return _CLASSES[key]


_ARGUMENTS_DOC = """
    Per applied step, for each trainable variable w (Loshchilov & Hutter, 2019):

        decay = eta_t * s * (l1 * sign(w) + l2 * w)        # w before the step
        w    <- w - decay
        w    <- {base}.update_step(w, g, learning_rate = eta_t * mu(w) * alpha_t)

    Every argument of {base} keeps its meaning, except its own lr-scaled
    `weight_decay`, which raises (use `weight_decays`, and `lr_scaled_decay=True` for
    the PyTorch / Keras convention). `lr` is an alias of `learning_rate`.

    Arguments of keras_adamw (keyword):
""" + "".join(f"        {a.name}={a.default!r}: {a.doc}\n" for a in arguments.ARGUMENTS)


def __getattr__(attribute: str):
    """A class made by :func:`decoupled`, for pickle: those made in this process, and
    ``{Base}W`` for any Keras optimizer class (made on first use, so that a pickle of
    ``decoupled(keras.optimizers.Lion)`` loads in a fresh process)."""
    if attribute in _BY_QUALNAME:
        return _BY_QUALNAME[attribute]
    base = getattr(keras.optimizers, attribute[:-1], None) if attribute.endswith("W") else None
    if isinstance(base, type) and issubclass(base, keras.optimizers.Optimizer):
        made = decoupled(base)
        if made.__qualname__ == attribute:
            return made
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")


def _takes_name(base_cls) -> bool:
    """Whether the base class's ``__init__`` takes ``name`` (or any keyword)."""
    try:
        parameters = inspect.signature(base_cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == "name" or p.kind is p.VAR_KEYWORD for p in parameters)


def _init_with_signature(mixin, base_cls):
    """``__init__`` of a decoupled class, with the signature ``help()`` and
    ``inspect.signature`` show: the base class's arguments (but its own
    ``weight_decay``), then ours, keyword-only, with their defaults."""

    def __init__(self, *args, **kwargs):
        mixin.__init__(self, *args, **kwargs)

    base = inspect.signature(base_cls.__init__)
    params = [p for p in base.parameters.values()
              if p.kind is not p.VAR_KEYWORD and not p.name.endswith("weight_decay")]
    ours = [inspect.Parameter(a.name, inspect.Parameter.KEYWORD_ONLY, default=a.default)
            for a in arguments.ARGUMENTS if a.name not in {p.name for p in params}]
    if any(p.kind is p.KEYWORD_ONLY for p in params):
        ours = [p.replace(kind=p.KEYWORD_ONLY) for p in ours]
    params = ([p for p in params if p.kind is not p.KEYWORD_ONLY] + ours
              + [p for p in params if p.kind is p.KEYWORD_ONLY]
              + [inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])
    __init__.__signature__ = base.replace(parameters=params)
    __init__.__qualname__ = f"{base_cls.__name__}W.__init__"
    return __init__


def _flavour(base_cls):
    """The mixin and the registration function for a Keras 3 or a tf_keras class."""
    if isinstance(base_cls, type) and issubclass(base_cls, keras.optimizers.Optimizer):
        _check_base(base_cls)
        return DecoupledWeightDecay, keras.saving.register_keras_serializable
    if is_tf_keras_optimizer_class(base_cls):
        if TF_KERAS_REFUSED:
            raise TypeError(f"decoupled({base_cls.__name__}): {TF_KERAS_REFUSED}")
        import tf_keras

        from .tf_keras import glue

        return glue.TFKerasDecoupledWeightDecay, tf_keras.saving.register_keras_serializable
    raise TypeError("`base_cls` must be a Keras 3 optimizer class such as "
                    f"keras.optimizers.Lion (or a tf_keras one); got {base_cls!r}.")


#: Keras 3 optimizer classes that cannot take a decoupled decay, and why
_UNSUPPORTED = {
    "LossScaleOptimizer": "it wraps another optimizer: decouple the inner one "
                          "(Keras wraps AdamW in a LossScaleOptimizer itself under "
                          "mixed precision)",
    "MultiOptimizer": "it routes variables to other optimizers: decouple those",
    "OptimizerMap": "it routes variables to other optimizers: decouple those",
    "ScheduleFreeAdamW": "its variables hold an interpolation y between the averaged "
                         "iterate x and the base sequence z, from which it recovers x at "
                         "every step; a decay subtracted from y alone breaks that "
                         "relation (schedule-free decay acts on y inside its own step)",
}


def _check_base(base_cls) -> None:
    for klass in base_cls.__mro__:
        if klass.__module__.startswith("keras") and klass.__name__ in _UNSUPPORTED:
            raise TypeError(f"decoupled({base_cls.__name__}): not supported, because "
                            f"{_UNSUPPORTED[klass.__name__]}.")
    if base_cls is keras.optimizers.Optimizer or \
            getattr(base_cls, "update_step", None) is keras.optimizers.Optimizer.update_step:
        raise TypeError(f"decoupled({base_cls.__name__}): the class has no update_step "
                        "of its own; give a concrete optimizer such as keras.optimizers.Adam.")


def _turn_off_base_decay(optimizer) -> None:
    """The base class's own lr-scaled decays (``weight_decay``, Muon's
    ``adam_weight_decay``; Keras' AdamW and Muon default to 0.004) are off: the only
    decay is ours. Keras skips its decay when the attribute is None."""
    for name in ("weight_decay", "adam_weight_decay"):
        if hasattr(optimizer, name):
            setattr(optimizer, name, None)
