"""Multi-tensor updates on the PyTorch backend (eager mode).

On the torch backend Keras replaces ``keras.optimizers.Adam``, ``Nadam``, ``SGD``, ...
by subclasses (``keras/src/backend/torch/optimizers/``) that update a whole list of
variables with ``torch._foreach_*`` ops: a handful of kernel launches per step instead
of about twenty per variable. A class made by ``decoupled()`` is not in Keras' swap
table, so without this module it runs the per-variable ``update_step`` path.

Here one applied step is, with the groups fixed at build:

    for each group of variables sharing (mu, l1, l2, dtype), with l1 or l2 > 0:
        c  = decay_scale          (set once per step: eta_t * s, or s with lr_scaled_decay)
        c  = c * eta_t * mu * alpha_t                (lr_scaled_decay only)
        w <- w (1 - c l2) - c l1 sign(w)             (w before the step)
    for each group of variables sharing (mu, dtype):
        the base update with learning_rate = eta_t * mu * alpha_t

the arithmetic of ``DecoupledWeightDecay.update_step`` per variable. The base update
is the base class's math, written with as few passes over memory as it allows
(t = iterations + 1; Keras' forms on the left):

* Adam (amsgrad=False), one ``torch._fused_adam_`` kernel for tensors of at least
  ``GRAIN_SIZE`` elements:
  ``w <- w - lr sqrt(1 - beta_2^t) / (1 - beta_1^t) m / (sqrt(v) + eps)`` is torch's
  ``w <- w - lr / (1 - beta_1^t) m / (sqrt(v) / sqrt(1 - beta_2^t) + eps')`` with
  eps' = eps / sqrt(1 - beta_2^t) (Keras scales epsilon with the bias correction,
  torch adds it to the corrected sqrt(v)); m, v as in Keras: m <- m + (g - m)(1 - beta_1),
  v <- beta_2 v + (1 - beta_2) g^2. Smaller tensors: six ``_foreach`` passes, m and v
  as above, then w <- w - alpha m / (sqrt(v) + eps), alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
  (Keras' own form; its parallel Adam takes ten passes).
* SGD with momentum (nesterov=False), one ``torch._fused_sgd_`` kernel for tensors
  of at least ``GRAIN_SIZE`` elements (smaller: Keras' three ``_foreach`` passes):
  Keras' ``m <- momentum m - lr g; w <- w + m`` is torch's
  ``b <- momentum b + (1 - dampening) g; w <- w - lr' b`` with dampening = 1 + lr
  and lr' = -1 (the momentum slot keeps Keras' meaning, so checkpoints and a change
  of learning rate behave as in Keras; torch's own SGD keeps an lr-free buffer).
* Nadam, seven ``torch._foreach_*`` passes instead of Keras' sixteen, with
  u_t = beta_1 (1 - 0.5 * 0.96^t), u_{t+1} likewise, P_t = u_product * u_t (stored),
  a = u_{t+1} / (1 - P_t u_{t+1}), b = (1 - u_t) / (1 - P_t), k = sqrt(1 - beta_2^t):

      m <- m + (g - m)(1 - beta_1);  v <- beta_2 v + (1 - beta_2) g^2
      w <- w - lr a k (m + (b / a) g) / (sqrt(v) + eps k)

  which is Keras' ``w <- w - lr m_hat / (sqrt(v / (1 - beta_2^t)) + eps)``,
  m_hat = a m + b g, multiplied out.
* SGD with Nesterov momentum or without momentum: Keras' own torch parallel update.

Taken only where it is that math: the torch backend outside ``torch.compile`` and
stateless scopes (``runs_eagerly``), a base class whose ``update_step`` is Keras' own
Adam, Nadam or SGD, no override of the step by a subclass or of the base's
``_backend_update_step`` (``fused.whole_step_allowed``), no amsgrad, float32/float64
variables. Everything else keeps the per-variable path. No per-step state lives in
Python attributes: the groups are fixed at build, the schedule state is optimizer
variables, read once per step (as Python numbers: no scalar kernel launches).
"""

import functools
import math
from typing import Callable, Optional

from . import fused
from ._keras import keras, ops

__all__ = ["parallel_update_for"]

# torch's at::internal::GRAIN_SIZE: its elementwise ops use the thread pool from this
# many elements on. The fused kernels always do, which on small tensors costs more in
# thread wake-ups than it saves (much more when other processes hold the cores), so
# tensors below this size take the multi-tensor (_foreach) form of the same update.
GRAIN_SIZE = 32768


def _base_update(optimizer, base) -> Optional[Callable]:
    """The multi-tensor form of the base class's ``update_step``, or None."""
    optimizers = keras.optimizers
    if base is vars(optimizers.Adam)["update_step"] and not optimizer.amsgrad:
        return _adam
    if base is vars(optimizers.Nadam)["update_step"]:
        return _nadam
    if base is vars(optimizers.SGD)["update_step"]:
        if optimizer.momentum != 0 and not optimizer.nesterov:
            return _sgd_momentum
        return _keras_sgd
    return None


def parallel_update_for(optimizer, mixin) -> Optional[Callable]:
    """``update(optimizer, grads, variables, learning_rate) -> bool`` doing the whole
    step (False: not done, use the per-variable path), or None where this module does
    not apply. Call after the optimizer's ``build()``."""
    if keras.backend.backend() != "torch":
        return None
    variables = optimizer._trainable_variables
    if not variables or any(str(v.dtype) not in ("float32", "float64") for v in variables):
        return None
    update = _base_update(optimizer, fused.base_update_step(type(optimizer), mixin))
    if update is None:
        return None
    decay_groups, lr_groups = _groups(optimizer._variable_settings, variables)
    return functools.partial(_parallel_step, update=update, decay_groups=decay_groups,
                             lr_groups=lr_groups)


def runs_eagerly() -> bool:
    """The torch backend outside ``torch.compile`` and stateless scopes: there the step
    reads its schedule state as Python numbers (core._schedule_state), so the schedule
    arithmetic costs no kernel launches."""
    if keras.backend.backend() != "torch":
        return False
    import torch
    from keras.src.backend.common.stateless_scope import in_stateless_scope

    return not torch.compiler.is_compiling() and not in_stateless_scope()


def _groups(settings, variables):
    """Index lists in build order, fixed at build:
    ``[(mu, l1, l2, [i])]`` for the decayed variables, one per (mu, l1, l2, dtype), and
    ``[(mu, large, [i])]`` for all, one per (mu, dtype, size >= GRAIN_SIZE)."""
    decay_groups, lr_groups = {}, {}
    for i, (setting, variable) in enumerate(zip(settings, variables)):
        dtype, mu = str(variable.dtype), setting.lr_multiplier
        large = math.prod(variable.shape) >= GRAIN_SIZE
        lr_groups.setdefault((mu, dtype, large), []).append(i)
        if setting.l1 or setting.l2:
            decay_groups.setdefault((mu, setting.l1, setting.l2, dtype), []).append(i)
    return ([(mu, l1, l2, ix) for (mu, l1, l2, _), ix in decay_groups.items()],
            [(mu, large, ix) for (mu, _, large), ix in lr_groups.items()])


def _scalar(x) -> float:
    return float(ops.convert_to_numpy(x))


def _tensors(keras_variables) -> list:
    """The torch tensors the variables hold, updated in place: what ``Variable.value``
    returns outside a stateless scope (ruled out by the caller), without its per-call
    scope and device checks, which cost more than a small tensor's update."""
    return [v._value for v in keras_variables]


def _parallel_step(opt, grads, variables, learning_rate, *, update, decay_groups,
                   lr_groups) -> bool:
    import torch

    if not runs_eagerly():
        return False
    built = opt._trainable_variables
    grads = [g if isinstance(g, torch.Tensor) else ops.convert_to_tensor(g) for g in grads]
    if len(variables) == len(built) and all(a is b for a, b in zip(variables, built)):
        values = _tensors(built)  # every variable, in build order (the usual case)
    else:  # a subset (empty gradients filtered out) or another order
        values, by_index = [None] * len(built), [None] * len(built)
        for g, v in zip(grads, variables):
            i = opt._get_variable_index(v)
            values[i], by_index[i] = v._value, g
        grads = by_index
    lr = _scalar(learning_rate)
    with torch.no_grad():
        if decay_groups:
            scale = _scalar(opt._decay_scale)
            for mu, l1, l2, indices in decay_groups:
                ws = [values[i] for i in indices if values[i] is not None]
                if ws:
                    c = scale * lr * mu if opt.lr_scaled_decay else scale
                    _decay(ws, c * l1, c * l2)
        groups = []
        for mu, large, indices in lr_groups:
            present = [i for i in indices if values[i] is not None]
            if present:
                groups.append((lr * mu, large, present))
        update(opt, groups, values, grads)
    return True


def _decay(ws, l1: float, l2: float):
    """w <- w (1 - l2) - l1 sign(w), in place, for the torch tensors ws."""
    import torch

    signs = torch._foreach_sign(ws) if l1 else None
    if l2:
        torch._foreach_mul_(ws, 1.0 - l2)
    if l1:
        torch._foreach_add_(ws, signs, alpha=-l1)


def _pick(items, indices, dtype=None) -> list:
    """items[i] for i in indices (cast to dtype where it differs)."""
    picked = [items[i] for i in indices]
    if dtype is not None:
        picked = [g if g.dtype == dtype else g.to(dtype) for g in picked]
    return picked


# Each update below: (opt, groups, values, grads) with groups [(lr, large, indices)],
# values and grads indexed in build order.

def _adam(opt, groups, values, grads):
    import torch

    t = int(ops.convert_to_numpy(opt.iterations)) + 1
    beta_1, beta_2, epsilon = float(opt.beta_1), float(opt.beta_2), float(opt.epsilon)
    k = math.sqrt(1.0 - beta_2 ** t)
    step = torch.full((), float(t), dtype=torch.float32)
    ms, vs = _tensors(opt._momentums), _tensors(opt._velocities)
    for lr, large, indices in groups:
        w = _pick(values, indices)
        g, m, v = _pick(grads, indices, w[0].dtype), _pick(ms, indices), _pick(vs, indices)
        if large:
            torch._fused_adam_(
                w, g, m, v, [], [step] * len(w), lr=lr, beta1=beta_1, beta2=beta_2,
                weight_decay=0.0, eps=epsilon / k, amsgrad=False, maximize=False)
        else:
            torch._foreach_lerp_(m, g, 1.0 - beta_1)
            torch._foreach_mul_(v, beta_2)
            torch._foreach_addcmul_(v, g, g, value=1.0 - beta_2)
            denom = torch._foreach_sqrt(v)
            torch._foreach_add_(denom, epsilon)
            torch._foreach_addcdiv_(w, m, denom, value=-lr * k / (1.0 - beta_1 ** t))


def _sgd_momentum(opt, groups, values, grads):
    import torch

    momentum = float(opt.momentum)
    ms = _tensors(opt.momentums)
    for lr, large, indices in groups:
        w = _pick(values, indices)
        g, m = _pick(grads, indices, w[0].dtype), _pick(ms, indices)
        if large:
            torch._fused_sgd_(
                w, g, m, weight_decay=0.0, momentum=momentum, lr=-1.0,
                dampening=1.0 + lr, nesterov=False, maximize=False, is_first_step=False)
        else:
            torch._foreach_mul_(m, momentum)
            torch._foreach_add_(m, g, alpha=-lr)
            torch._foreach_add_(w, m)


def _keras_sgd(opt, groups, values, grads):
    from keras.src.backend.torch.optimizers import torch_sgd

    built = opt._trainable_variables
    for lr, _, indices in groups:
        torch_sgd.SGD._parallel_update_step(
            opt, _pick(grads, indices), _pick(built, indices), lr)


def _nadam(opt, groups, values, grads):
    import torch

    t = int(ops.convert_to_numpy(opt.iterations)) + 1
    beta_1, beta_2, eps = float(opt.beta_1), float(opt.beta_2), float(opt.epsilon)
    u_t = beta_1 * (1.0 - 0.5 * 0.96 ** t)
    u_next = beta_1 * (1.0 - 0.5 * 0.96 ** (t + 1))
    u_product = _scalar(opt._u_product) * u_t
    opt._u_product.assign(u_product)
    a = u_next / (1.0 - u_product * u_next)
    b = (1.0 - u_t) / (1.0 - u_product)
    k = math.sqrt(1.0 - beta_2 ** t)
    ms, vs = _tensors(opt._momentums), _tensors(opt._velocities)
    for lr, _, indices in groups:
        w = _pick(values, indices)
        g, m, v = _pick(grads, indices, w[0].dtype), _pick(ms, indices), _pick(vs, indices)
        torch._foreach_lerp_(m, g, 1.0 - beta_1)
        torch._foreach_mul_(v, beta_2)
        torch._foreach_addcmul_(v, g, g, value=1.0 - beta_2)
        m_hat = torch._foreach_add(m, g, alpha=b / a)
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, eps * k)
        torch._foreach_addcdiv_(w, m_hat, denom, value=-lr * a * k)
