"""The decoupled optimizers on tf_keras (Keras 2): ``tf_keras.optimizers.Optimizer``.

TensorFlow >= 2.16 routes ``tf.keras`` to tf_keras when ``TF_USE_LEGACY_KERAS=1``.
Same arguments, formulas and matching rules as on Keras 3 (``core.py``,
``decoupled.py``); only the hooks differ:

* ``_distributed_apply_gradients_fn`` (cross-replica context, once per applied step):
  ``core``'s ``_begin_step`` (eta_t and the decay scale into optimizer variables),
  the base updates, then ``_end_step`` (``t_cur`` advances);
* ``_update_step`` (once per variable, in its update context): the step's scalars
  read back from those variables, the decoupled decay (``core._decay_variable``),
  then the base ``update_step`` with the learning rate scaled by eta_t * mu(w). The
  Keras 2 ``update_step`` reads ``self.learning_rate`` itself, so the scale is set on
  the optimizer for the duration of that one call (``learning_rate`` below).
"""

import tensorflow as tf
import tf_keras

from .. import step as steps
from ..core import DecoupledCore
from ..kernels import tensorflow as tf_kernels
from ..regularizers import tf_keras as tf_keras_regularizers

__all__ = ["TFKerasDecoupledWeightDecay"]


class TFKerasDecoupledWeightDecay(DecoupledCore):
    """Mixin placed before a tf_keras optimizer class; use it through ``decoupled``."""

    _regularizers = tf_keras_regularizers
    _layer_types = (tf_keras.layers.Layer,)
    _keeps_decays_by_path = True

    def __init__(self, *args, **kwargs):
        args, kwargs, model, settings = self._parse_arguments(args, kwargs)
        super().__init__(*args, **kwargs)
        if getattr(self, "weight_decay", None) is not None:
            self.weight_decay = None
        self._adopt_arguments(settings, model)
        self._lr_scale = None
        self._resolved = False
        with tf.init_scope():
            self._create_state(lambda name, value, dtype: tf.Variable(
                value, name=name, dtype=tf.int64 if dtype == "int" else tf.float32,
                trainable=False))
            self._eta = tf.Variable(1.0, name="eta", dtype=tf.float32, trainable=False)
        self._variables.extend([v for v in (self.t_cur, self._cycle_length, self._decay_scale,
                                            self._eta, self._cycle) if v is not None])

    @property
    def learning_rate(self):
        lr = super().learning_rate
        scale = getattr(self, "_lr_scale", None)
        return lr if scale is None else tf.cast(lr, scale.dtype) * scale

    @learning_rate.setter
    def learning_rate(self, value):
        tf_keras.optimizers.Optimizer.learning_rate.fset(self, value)

    def build(self, var_list):
        super().build(var_list)
        if self._resolved:
            return
        self._resolved = True
        self._resolve_variables(list(var_list))
        self._make_anchors(
            list(var_list), lambda v: self.add_variable_from_reference(v, "decay_anchor"),
            lambda: self.add_variable((), dtype=tf.int64, name="decay_anchored"))
        self._anchor_kernel = tf_kernels.take_anchors

    def _distributed_apply_gradients_fn(self, distribution, grads_and_vars, **kwargs):
        # alpha_t only where the decay follows the schedule (the base update reads the
        # learning rate itself)
        alpha = self.learning_rate if self.decay_follows_schedule else 1.0
        state = self._begin_step(alpha, read_variable=tf.identity)
        self._eta.assign(self._step.eta)
        iteration = super()._distributed_apply_gradients_fn(distribution, grads_and_vars,
                                                            **kwargs)
        with tf.control_dependencies([iteration]):
            self._end_step(state)
        return iteration

    def _update_step(self, gradient, variable):
        key = self._var_key(variable)
        if getattr(variable, "_unique_id", None) is None or key not in self._index_dict:
            return super()._update_step(gradient, variable)
        index = self._index_dict[key]
        setting = self.plan.settings[index]
        eta = tf.identity(self._eta)
        step = steps.Step(eta, tf.identity(self._decay_scale),
                          tf.cast(super().learning_rate, tf.float32) * eta, self.lr_scaled_decay,
                          steps.normalization(self, tf.identity(self._cycle_length)))
        self._lr_scale = eta * setting.lr_multiplier
        result = []

        def base_update():
            result.append(super(TFKerasDecoupledWeightDecay, self)._update_step(
                gradient, variable))

        try:
            self._decayed_update(variable, index, step, base_update)
        finally:
            self._lr_scale = None
        return result[0]

    def get_config(self):
        config = super().get_config()
        config.update(self._config_entries())
        return config
