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

from typing import Optional

from . import fused, schedule, torch_parallel
from .core import DecoupledCore, VariableSetting  # noqa: F401
from ._keras import keras, ops

__all__ = ["decoupled", "DecoupledWeightDecay"]


class DecoupledWeightDecay(DecoupledCore):
    """Mixin placed before a Keras 3 optimizer class; see the module docstring.

    Only use it through :func:`decoupled`. The arguments, their checks, the name
    matching and the config are shared with the tf_keras glue (``core.py``).
    """

    _layer_types = (keras.layers.Layer,)

    def __init__(self, *args, **kwargs):
        args, kwargs, model, parsed = self._parse_arguments(args, kwargs)
        super().__init__(*args, **kwargs)
        self._adopt_arguments(parsed, model)
        self._fused_update = None  # chosen at build (fused.py)
        self._parallel_update = None  # chosen at build (torch_parallel.py, fused.py)
        with keras.name_scope(self.name, caller=self):
            self.t_cur = keras.Variable(
                parsed["t_cur"], name="t_cur", dtype="int", trainable=False,
                aggregation="only_first_replica")
            self._cycle_length = keras.Variable(
                self.total_iterations or 1, name="cycle_length", dtype="int",
                trainable=False, aggregation="only_first_replica")
            self._decay_scale = keras.Variable(
                0.0, name="decay_scale", dtype="float32", trainable=False,
                aggregation="only_first_replica")

    @property
    def eta_t(self):
        """The schedule multiplier the next applied step will use."""
        if not self.use_cosine_annealing:
            return ops.convert_to_tensor(1.0)
        return schedule.cosine_multiplier(
            self.t_cur.value, self._cycle_length.value, self.eta_min, self.eta_max)

    # -------------------------------------------------------------------- build

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._resolve_variables(variables)
        self._fused_update = fused.fused_update_for(self, DecoupledWeightDecay)
        self._parallel_update = (  # a whole-step fast path, or None
            torch_parallel.parallel_update_for(self, DecoupledWeightDecay)
            or fused.step_update_for(self, DecoupledWeightDecay))

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        """One applied step: eta_t once, every variable's update, then t_cur += 1."""
        t_cur, cycle_length = self.t_cur.value, self._cycle_length.value
        if self.use_cosine_annealing:
            eta = schedule.cosine_multiplier(t_cur, cycle_length, self.eta_min, self.eta_max)
            learning_rate = ops.multiply(ops.cast(learning_rate, "float32"), eta)
        else:
            eta = 1.0
        self._decay_scale.assign(ops.cast(self._decay_scale_value(eta, cycle_length), "float32"))
        if self._parallel_update is None or not self._parallel_update(
                self, grads, trainable_variables, learning_rate):
            super()._backend_update_step(grads, trainable_variables, learning_rate)
        t_next, cycle_next = schedule.advance(t_cur, cycle_length, self.t_mult, self.autorestart)
        self.t_cur.assign(t_next)
        self._cycle_length.assign(cycle_next)

    def update_step(self, gradient, variable, learning_rate):
        setting = self._variable_settings[self._get_variable_index(variable)]
        if setting.lr_multiplier != 1.0:
            learning_rate = ops.multiply(learning_rate, setting.lr_multiplier)
        if setting.l1 or setting.l2:
            self.assign_sub(variable, self._decoupled_decay(variable, setting, learning_rate))
        if self._fused_update is None or not self._fused_update(
                self, gradient, variable, learning_rate):
            super().update_step(gradient, variable, learning_rate)

    # ------------------------------------------------------------------- config

    def get_config(self):
        config = super().get_config()
        config.update(self._config_entries())
        return config


_CLASSES = {}


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
        cls = type(name, (mixin, base_cls), {
            "__doc__": doc or (
                f"{base_cls.__name__} with decoupled weight decay, cosine warm "
                f"restarts and lr multipliers (keras_adamw.decoupled).\n\n"
                + __doc__),
            "__module__": __name__,
        })
        register(package="keras_adamw", name=name)(cls)
        _CLASSES[key] = cls
    return _CLASSES[key]


def _flavour(base_cls):
    """The mixin and the registration function for a Keras 3 or a tf_keras class."""
    if isinstance(base_cls, type) and issubclass(base_cls, keras.optimizers.Optimizer):
        return DecoupledWeightDecay, keras.saving.register_keras_serializable
    try:
        from . import tf_keras_glue
    except ImportError:
        tf_keras_glue = None
    if tf_keras_glue is not None and tf_keras_glue.is_tf_keras_optimizer(base_cls):
        import tf_keras

        return (tf_keras_glue.TFKerasDecoupledWeightDecay,
                tf_keras.saving.register_keras_serializable)
    raise TypeError("`base_cls` must be a Keras 3 optimizer class such as "
                    f"keras.optimizers.Lion (or a tf_keras one); got {base_cls!r}.")
