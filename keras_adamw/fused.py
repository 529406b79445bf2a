"""Fused TensorFlow kernels for Keras' Adam and SGD updates (TensorFlow backend only).

Keras' ``Adam.update_step`` and ``SGD.update_step`` are written with ``keras.ops``:
without XLA, TensorFlow runs each op as its own pass over memory (about ten for Adam).
TensorFlow's training kernels compute the same arithmetic in one pass:

* ``ResourceApplyAdam`` (use_nesterov=False), with alpha = lr sqrt(1 - beta_2^t) /
  (1 - beta_1^t), t = iterations + 1:

      m <- m + (g - m) (1 - beta_1)
      v <- v + (g^2 - v) (1 - beta_2)
      w <- w - alpha m / (sqrt(v) + epsilon)

  the lines of ``keras.optimizers.Adam.update_step`` (amsgrad=False);
* ``ResourceApplyKerasMomentum``: m <- momentum m - lr g; w <- w + m, or with
  Nesterov w <- w + momentum m - lr g, the lines of ``keras.optimizers.SGD``;
* ``ResourceApplyGradientDescent``: w <- w - lr g (SGD without momentum).

They are used only where they are that same math: the TensorFlow backend, the base
class's ``update_step`` being Keras' own (not a subclass's), a dense gradient, and a
float32/float64 variable. Everything else (other backends, sparse gradients,
amsgrad, Nadam, float16, a user's optimizer) goes through the base class's
``keras.ops`` code. The tests compare both paths with the NumPy reference.
"""

from typing import Callable, Optional

from ._keras import keras, ops

__all__ = ["fused_update_for"]


def _base_update_step(cls, mixin):
    """The ``update_step`` the class inherits from below ``mixin`` in its MRO."""
    mro = cls.__mro__
    for klass in mro[mro.index(mixin) + 1:]:
        if "update_step" in vars(klass):
            return vars(klass)["update_step"]
    return None


def fused_update_for(optimizer, mixin) -> Optional[Callable]:
    """A fused update for this optimizer, or None to use the base class's code."""
    if keras.backend.backend() != "tensorflow":
        return None
    base = _base_update_step(type(optimizer), mixin)
    if base is vars(keras.optimizers.Adam)["update_step"] and not optimizer.amsgrad:
        return _adam
    if base is vars(keras.optimizers.SGD)["update_step"]:
        return _sgd
    return None


def _tf():
    import tensorflow as tf

    return tf


def _handle(variable):
    """The resource handle of a (Keras or tf) variable, the local one in a replica."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle


def _fusable(gradient, variable) -> bool:
    tf = _tf()
    return (not isinstance(gradient, tf.IndexedSlices)
            and variable.dtype in (tf.float32, tf.float64))


def _adam(optimizer, gradient, variable, learning_rate) -> bool:
    if not _fusable(gradient, variable):
        return False
    tf = _tf()
    dtype = variable.dtype
    index = optimizer._get_variable_index(variable)
    local_step = ops.cast(optimizer.iterations + 1, dtype)
    tf.raw_ops.ResourceApplyAdam(
        var=_handle(variable),
        m=_handle(optimizer._momentums[index]),
        v=_handle(optimizer._velocities[index]),
        beta1_power=ops.power(ops.cast(optimizer.beta_1, dtype), local_step),
        beta2_power=ops.power(ops.cast(optimizer.beta_2, dtype), local_step),
        lr=ops.cast(learning_rate, dtype),
        beta1=ops.cast(optimizer.beta_1, dtype),
        beta2=ops.cast(optimizer.beta_2, dtype),
        epsilon=ops.cast(optimizer.epsilon, dtype),
        grad=ops.cast(gradient, dtype),
        use_locking=False, use_nesterov=False)
    return True


def _sgd(optimizer, gradient, variable, learning_rate) -> bool:
    if not _fusable(gradient, variable):
        return False
    tf = _tf()
    dtype = variable.dtype
    lr = ops.cast(learning_rate, dtype)
    gradient = ops.cast(gradient, dtype)
    if optimizer.momentum != 0:
        m = optimizer.momentums[optimizer._get_variable_index(variable)]
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=_handle(variable), accum=_handle(m), lr=lr, grad=gradient,
            momentum=ops.cast(optimizer.momentum, dtype), use_locking=False,
            use_nesterov=bool(optimizer.nesterov))
    else:
        tf.raw_ops.ResourceApplyGradientDescent(var=_handle(variable), alpha=lr,
                                                delta=gradient, use_locking=False)
    return True
