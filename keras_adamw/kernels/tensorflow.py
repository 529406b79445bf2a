"""The TensorFlow kernels: fused training ops for Keras' Adam and SGD updates.

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
float32/float64 variable. Nadam has no such kernel: its whole-step form below keeps
Keras' lines and computes their scalars once per step. The whole-step path replaces
the per-variable calls only under Keras' own step code (``whole_step_allowed``: no
subclass overriding ``update_step``, no override of the base's
``_backend_update_step``). On TensorFlow everything else (sparse gradients, amsgrad,
float16, a user's optimizer) goes through the base class's ``keras.ops`` code; the
PyTorch backend has its own kernels (torch.py). The tests compare
every path with the NumPy reference.
"""

import functools
from typing import Callable, Optional

from .._keras import keras, ops
from . import base_update_step, generic

__all__ = ["fused_update_for", "step_update_for", "take_anchors"]


def fused_update_for(optimizer, mixin) -> Optional[Callable]:
    """A fused update for this optimizer, or None to use the base class's code."""
    if keras.backend.backend() != "tensorflow":
        return None
    base = base_update_step(type(optimizer), mixin)
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


def _tf_variable(variable):
    return variable.value if isinstance(variable, keras.Variable) else variable


def take_anchors(pairs, flag) -> None:
    """w0 <- w for each (w, w0) of ``pairs`` when ``flag`` is 0 (the first applied
    update), then flag <- 1, in one ``tf.cond`` (the assignments run only in the step
    that takes the weights; XLA compiles it). In a replica context of a distribution
    strategy, through a merge call: w0 is mirrored like w, so it is assigned in the
    cross-replica context (Keras 3 and tf_keras variables alike)."""
    tf = _tf()
    flag = _tf_variable(flag)

    def take():
        for w, w0 in pairs:
            _tf_variable(w0).assign(_tf_variable(w).read_value())
        flag.assign(tf.ones_like(flag))
        return tf.constant(True)

    def in_cross_replica_context(*_):
        tf.cond(tf.equal(flag.read_value(), 0), take, lambda: tf.constant(False))

    context = tf.distribute.get_replica_context()
    if context is None:  # already cross-replica (tf_keras' apply)
        in_cross_replica_context()
    else:
        context.merge_call(in_cross_replica_context)


# ------------------------------------------------------------------ whole step

def step_update_for(optimizer, mixin) -> Optional[Callable]:
    """``update(optimizer, grads, variables, step) -> bool`` doing a whole
    applied step, or None. Each per-step scalar is computed once per step, not once
    per variable (the per-variable path recomputes the bias corrections, the casts and
    the decay coefficient for every variable):

        t = iterations + 1, beta_1^t, beta_2^t, casts of beta_1, beta_2, epsilon
        lr_mu = eta_t * mu * alpha_t                 once per multiplier mu
        c     = decay_scale [* lr_mu]                once per (mu, l1, l2)
        w    <- w - (c l2) w - (c l1) sign(w)        per variable, w before the step,
                                                     as ResourceApplyGradientDescent
        w    <- the base update with lr_mu           per variable
        (cautious_decay: the decay after the update, where its step agrees with d:
        generic.cautious)

    The base update is a fused kernel above (Adam, SGD), or for Nadam its ``keras.ops``
    lines with the per-step scalars taken out of the per-variable work (``_nadam``).
    Returns False (the caller then takes the per-variable path) inside a distribution
    strategy, for a sparse gradient, or for a variable that is not float32/float64.
    """
    if keras.backend.backend() != "tensorflow":
        return None
    kernel = fused_update_for(optimizer, mixin)
    if kernel is not None:
        return functools.partial(_whole_step, algorithm="adam" if kernel is _adam else "sgd")
    if base_update_step(type(optimizer), mixin) is vars(keras.optimizers.Nadam)["update_step"]:
        return functools.partial(_whole_step, algorithm="nadam")
    return None


def _whole_step(optimizer, grads, variables, step, *, algorithm: str) -> bool:
    tf = _tf()
    if tf.distribute.has_strategy():
        return False
    values = [v.value if isinstance(v, keras.Variable) else v for v in variables]
    if not all(g is not None and _fusable(g, v) for g, v in zip(grads, values)):
        return False
    if algorithm == "nadam":
        _advance_u_product(optimizer)
    settings = optimizer.plan.settings
    scalars = {}
    for g, variable, value in zip(grads, variables, values):
        dtype = value.dtype
        if dtype not in scalars:
            scalars[dtype] = _STEP_SCALARS[algorithm](optimizer, dtype)
        index = optimizer._get_variable_index(variable)
        s = settings[index]
        decayed = s.l1 or s.l2
        if decayed:
            anchor = optimizer._anchors[index]
            anchor = None if anchor is None else anchor.value
            coefficients = step.decay(s.lr_multiplier, s.l1, s.l2, dtype,
                                      normalized=not s.timescale)
            if optimizer.cautious_decay:  # after the update, masked by its step
                before = value.read_value()
                d = before if anchor is None else before - anchor
                decay = generic.decay(value, *coefficients, d)
            else:
                _decay(value, *coefficients, anchor=anchor)
        _UPDATES[algorithm](optimizer, scalars[dtype], index, value, ops.cast(g, dtype),
                            step.lr(s.lr_multiplier, dtype))
        if decayed and optimizer.cautious_decay:
            _tf().raw_ops.ResourceApplyGradientDescent(
                var=_handle(value), alpha=ops.cast(1.0, dtype),
                delta=generic.cautious(decay, d, before, value.read_value()),
                use_locking=False)
    return True


def _adam_scalars(optimizer, dtype) -> dict:
    t = ops.cast(optimizer.iterations + 1, dtype)
    s = {"beta1": ops.cast(optimizer.beta_1, dtype), "beta2": ops.cast(optimizer.beta_2, dtype),
         "epsilon": ops.cast(optimizer.epsilon, dtype)}
    s["beta1_power"] = ops.power(s["beta1"], t)
    s["beta2_power"] = ops.power(s["beta2"], t)
    return s


def _adam_update(optimizer, s, index, value, g, lr):
    _tf().raw_ops.ResourceApplyAdam(
        var=_handle(value), m=_handle(optimizer._momentums[index]),
        v=_handle(optimizer._velocities[index]), beta1_power=s["beta1_power"],
        beta2_power=s["beta2_power"], lr=lr, beta1=s["beta1"], beta2=s["beta2"],
        epsilon=s["epsilon"], grad=g, use_locking=False, use_nesterov=False)


def _sgd_scalars(optimizer, dtype) -> dict:
    return {"momentum": ops.cast(optimizer.momentum, dtype)}


def _sgd_update(optimizer, s, index, value, g, lr):
    raw = _tf().raw_ops
    if optimizer.momentum != 0:
        raw.ResourceApplyKerasMomentum(
            var=_handle(value), accum=_handle(optimizer.momentums[index]), lr=lr, grad=g,
            momentum=s["momentum"], use_locking=False, use_nesterov=bool(optimizer.nesterov))
    else:
        raw.ResourceApplyGradientDescent(var=_handle(value), alpha=lr, delta=g,
                                         use_locking=False)


def _advance_u_product(optimizer):
    """Keras' ``Nadam._backend_update_step``: u_product <- u_product u_t, once per step."""
    dtype = optimizer._u_product.dtype
    t = ops.cast(optimizer.iterations + 1, dtype)
    optimizer._u_product.assign(
        optimizer._u_product * optimizer.beta_1 * (1.0 - 0.5 * ops.power(0.96, t)))


def _nadam_scalars(optimizer, dtype) -> dict:
    """Keras' Nadam scalars, once per step (t = iterations + 1; P_t = u_product, which
    already holds u_t):

        u_t = beta_1 (1 - 0.5 * 0.96^t),  u_{t+1} = beta_1 (1 - 0.5 * 0.96^(t+1))
        a = u_{t+1} / (1 - P_t u_{t+1}),  b = (1 - u_t) / (1 - P_t)
        k = sqrt(1 - beta_2^t)
    """
    t = ops.cast(optimizer.iterations + 1, dtype)
    decay = ops.cast(0.96, dtype)
    beta_1, beta_2 = ops.cast(optimizer.beta_1, dtype), ops.cast(optimizer.beta_2, dtype)
    u_t = beta_1 * (1.0 - 0.5 * ops.power(decay, t))
    u_next = beta_1 * (1.0 - 0.5 * ops.power(decay, t + 1.0))
    u_product = ops.cast(optimizer._u_product, dtype)
    k = ops.sqrt(1.0 - ops.power(beta_2, t))
    return {"one_minus_beta1": 1.0 - beta_1, "one_minus_beta2": 1.0 - beta_2,
            "a_k": u_next / (1.0 - u_product * u_next) * k,
            "b_k": (1.0 - u_t) / (1.0 - u_product) * k,
            "epsilon_k": ops.cast(optimizer.epsilon, dtype) * k}


def _nadam_update(optimizer, s, index, value, g, lr):
    """Keras' Nadam lines, m_hat = a m + b g multiplied out by k:

        m <- m + (g - m)(1 - beta_1);  v <- v + (g^2 - v)(1 - beta_2)
        w <- w - lr (a k m + b k g) / (sqrt(v) + epsilon k)

    which is ``w <- w - lr m_hat / (sqrt(v / (1 - beta_2^t)) + epsilon)``."""
    m = optimizer._momentums[index].value
    v = optimizer._velocities[index].value
    m.assign_add((g - m.read_value()) * s["one_minus_beta1"])
    v.assign_add((ops.square(g) - v.read_value()) * s["one_minus_beta2"])
    step = (m.read_value() * (lr * s["a_k"]) + g * (lr * s["b_k"])) / (
        ops.sqrt(v.read_value()) + s["epsilon_k"])
    value.assign_sub(step)


_STEP_SCALARS = {"adam": _adam_scalars, "sgd": _sgd_scalars, "nadam": _nadam_scalars}
_UPDATES = {"adam": _adam_update, "sgd": _sgd_update, "nadam": _nadam_update}


def _decay(value, a1, a2, anchor=None):
    """w <- w - a2 d - a1 sign(d), d = w - w0 (``anchor``) or w (None for a zero
    coefficient), from w before the step: the decay of ``step.py``, as two fused
    subtractions."""
    tf = _tf()
    d = value.read_value()
    if anchor is not None:
        d = d - anchor
    if a2 is not None:
        tf.raw_ops.ResourceApplyGradientDescent(var=_handle(value), alpha=a2, delta=d,
                                                use_locking=False)
    if a1 is not None:
        tf.raw_ops.ResourceApplyGradientDescent(var=_handle(value), alpha=a1,
                                                delta=tf.sign(d), use_locking=False)
