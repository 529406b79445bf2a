"""The PyTorch kernels: multi-tensor (``torch._foreach_*``) and fused updates, eager.

Keras swaps ``keras.optimizers.Adam``, ``Nadam``, ``SGD``, ... for subclasses
(``keras/src/backend/torch/optimizers/``) that update a whole list of variables at
once. A class made by ``decoupled()`` is not in Keras' swap table; here is its
whole step, with the groups of the plan (``plan.py``) and the step's scalars
(``step.py``):

    for each decay group (mu, l1, l2, dtype, device):
        w <- w (1 - a2) - a1 sign(w)          (a1, a2 = step.decay(mu, l1, l2); w
                                               before the step)
    for each learning-rate group (mu, dtype, device):
        the base update with lr_mu = step.lr(mu)
    (cautious_decay: the decay after the updates, where their step agrees with d:
    ``_cautious_decay``)

No value is read from the device: the schedule state, ``iterations`` and Nadam's
``u_product`` come from host mirrors (``state.py``), and a learning rate that is a
device value (every Keras learning rate is a variable or a schedule's output) stays
one: the ``_foreach`` ops and the fused kernels take it as a tensor on the group's
device. On a CPU the tensors are host memory, so there scalars are Python numbers
(no transfer exists) and the fused kernels serve tensors of at least ``GRAIN_SIZE``
elements (torch's thread-pool grain; smaller ones take the ``_foreach`` form, which
measures faster there). Elsewhere the fused kernels serve every size.

The base updates, t = iterations + 1 (Keras' forms are the reference):

* Adam (amsgrad=False): ``torch._fused_adam_``, where Keras'
  ``w <- w - lr sqrt(1 - beta_2^t) / (1 - beta_1^t) m / (sqrt(v) + eps)`` is torch's
  ``w <- w - lr / (1 - beta_1^t) m / (sqrt(v) / sqrt(1 - beta_2^t) + eps')`` with
  eps' = eps / sqrt(1 - beta_2^t); m <- m + (g - m)(1 - beta_1),
  v <- beta_2 v + (1 - beta_2) g^2. The ``_foreach`` form: those m and v, then
  w <- w - alpha m / (sqrt(v) + eps), alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t).
* Nadam: with u_t = beta_1 (1 - 0.5 * 0.96^t), u_{t+1} likewise, P_t = u_product u_t
  (stored), a = u_{t+1} / (1 - P_t u_{t+1}), b = (1 - u_t) / (1 - P_t),
  k = sqrt(1 - beta_2^t): m and v as Adam's, w <- w - lr a k (m + (b / a) g) /
  (sqrt(v) + eps k), Keras' ``w <- w - lr m_hat / (sqrt(v / (1 - beta_2^t)) + eps)``
  with m_hat = a m + b g multiplied out.
* SGD: Keras' ``m <- momentum m - lr g; w <- w + m`` (Nesterov:
  ``w <- w + momentum m - lr g``; no momentum: ``w <- w - lr g``). On a CPU, with
  momentum and without Nesterov, torch's ``_fused_sgd_`` with dampening = 1 + lr
  and lr' = -1 (the slot keeps Keras' meaning, so checkpoints and a change of
  learning rate behave as in Keras).
* Adadelta: Keras' lines (its own torch form passes the learning rate as a number).
* Adam with amsgrad, Adagrad, Adamax, Lion, RMSprop: Keras' own torch parallel
  update, which reads nothing from the device.

Taken where it is that math: the torch backend outside ``torch.compile`` and
stateless scopes (``runs_eagerly``), a base whose ``update_step`` is one of those
Keras classes', and no override of the step (``kernels.whole_step_allowed``).
"""

import functools
import math
from typing import Callable, Optional

import numpy as np

from .._keras import keras, ops
from ..state import HostMirror
from . import base_update_step

__all__ = ["parallel_update_for", "runs_eagerly", "take_anchors", "GRAIN_SIZE"]

#: torch's at::internal::GRAIN_SIZE (see the module docstring)
GRAIN_SIZE = 32768


def _torch():
    import torch

    return torch


def runs_eagerly() -> bool:
    """The torch backend outside ``torch.compile`` and stateless scopes: there the
    step reads its state from host mirrors."""
    if keras.backend.backend() != "torch":
        return False
    from keras.src.backend.common.stateless_scope import in_stateless_scope

    return not _torch().compiler.is_compiling() and not in_stateless_scope()


def take_anchors(pairs) -> None:
    """w0 <- w for each (w, w0) of ``pairs``: one multi-tensor copy (the caller
    decides, from the host mirror of ``decay_anchored``, that this is the first
    applied update)."""
    torch = _torch()
    with torch.no_grad():
        torch._foreach_copy_([w0._value for _, w0 in pairs], [w._value for w, _ in pairs])


def placement(variable):
    """What one kernel call needs shared: dtype and device."""
    value = variable._value
    return (str(value.dtype), str(value.device))


def _keras_forms():
    """Keras' own torch parallel updates that read nothing from the device, by the
    Keras 3 class whose ``update_step`` they stand for."""
    from keras.src.backend.torch.optimizers import (torch_adagrad, torch_adam,
                                                    torch_adamax, torch_lion,
                                                    torch_rmsprop)

    o = keras.optimizers
    return {o.Adam: torch_adam.Adam, o.Adagrad: torch_adagrad.Adagrad,
            o.Adamax: torch_adamax.Adamax, o.Lion: torch_lion.Lion,
            o.RMSprop: torch_rmsprop.RMSprop}


def _update_for(optimizer, base) -> Optional[Callable]:
    o = keras.optimizers
    if base is vars(o.Adam)["update_step"] and not optimizer.amsgrad:
        return _adam
    if base is vars(o.Nadam)["update_step"]:
        return _nadam
    if base is vars(o.SGD)["update_step"]:
        return _sgd
    if base is vars(o.Adadelta)["update_step"]:
        return _adadelta
    for cls, torch_cls in _keras_forms().items():
        if base is vars(cls)["update_step"]:
            return functools.partial(_keras_form, torch_cls._parallel_update_step)
    return None


def parallel_update_for(optimizer, mixin) -> Optional[Callable]:
    """``update(optimizer, grads, variables, step) -> bool`` doing the whole step
    (False: not done, use the per-variable path), or None where this module does not
    apply. Call after the optimizer's ``build()`` (it reads the plan)."""
    if keras.backend.backend() != "torch":
        return None
    update = _update_for(optimizer, base_update_step(type(optimizer), mixin))
    if update is None:
        return None
    if hasattr(optimizer, "_u_product"):
        optimizer._u_product_mirror = HostMirror(optimizer._u_product, 1.0, _float32)
    variables = optimizer._trainable_variables
    lr_groups = []
    for group in optimizer.plan.lr_groups:
        host = variables[group.indices[0]]._value.device.type == "cpu"
        sizes = {True: [], False: []}
        for i in group.indices:
            sizes[not host or math.prod(variables[i].shape) >= GRAIN_SIZE].append(i)
        lr_groups += [(group.lr_multiplier, large, tuple(ix)) for large, ix in sizes.items() if ix]
    # Keras' ``iterations`` from its micro-step counter ``_iterations`` (the mirror):
    # under gradient accumulation the Kerases whose ``iterations`` counts applied steps
    every = optimizer.gradient_accumulation_steps
    per = every if every and optimizer.iterations is not optimizer._iterations else 1
    return functools.partial(_parallel_step, update=update, lr_groups=lr_groups,
                             decay_groups=optimizer.plan.decay_groups, micro_per_step=per)


def _float32(value) -> float:
    return float(np.float32(value))


def _scalar(x, like):
    """A step scalar for the group whose first tensor is ``like``: a Python number on
    a CPU, else a 0-d tensor of its dtype on its device (a number stays a number)."""
    if isinstance(x, (int, float)):
        return x
    if like.device.type == "cpu":
        return float(x)
    return x.to(device=like.device, dtype=like.dtype)


def _parallel_step(opt, grads, variables, step, *, update, lr_groups, decay_groups,
                   micro_per_step) -> bool:
    torch = _torch()
    if not runs_eagerly():
        return False
    built = opt._trainable_variables
    grads = [g if isinstance(g, torch.Tensor) else ops.convert_to_tensor(g) for g in grads]
    if len(variables) == len(built) and all(a is b for a, b in zip(variables, built)):
        values = [v._value for v in built]  # every variable, in build order (usual)
    else:  # a subset (empty gradients filtered out) or another order
        values, by_index = [None] * len(built), [None] * len(built)
        for g, v in zip(grads, variables):
            i = opt._get_variable_index(v)
            values[i], by_index[i] = v._value, g
        grads = by_index
    t = opt._iterations_mirror.get() // micro_per_step + 1  # Keras' iterations + 1
    cautious = opt.cautious_decay
    decayed, decays = [], []  # with cautious_decay: the weights and their decays
    with torch.no_grad():
        for group in decay_groups:
            present = [i for i in group.indices if values[i] is not None]
            if present:
                ws = [values[i] for i in present]
                anchors = ([opt._anchors[i]._value for i in present]
                           if group.toward == "initial" else None)
                a1, a2 = step.decay(group.lr_multiplier, group.l1, group.l2,
                                    normalized=group.normalized)
                a1 = _scalar(a1, ws[0]) if a1 is not None else None
                a2 = _scalar(a2, ws[0]) if a2 is not None else None
                if cautious:
                    decayed += ws
                    decays += _decay_terms(ws, a1, a2, anchors)
                else:
                    _decay(ws, a1, a2, anchors)
        before = torch._foreach_mul(decayed, 1.0) if decayed else None  # w, copied
        groups = []
        for mu, large, indices in lr_groups:
            present = [i for i in indices if values[i] is not None]
            if present:
                w = [values[i] for i in present]
                g = [grads[i] if grads[i].dtype == w[0].dtype else grads[i].to(w[0].dtype)
                     for i in present]
                groups.append(_Group(opt, present, w, g, _scalar(step.lr(mu), w[0]), large))
        update(opt, groups, t)
        if decayed:
            _cautious_decay(decayed, decays, before)
    opt._iterations_mirror.expect(t)
    return True


class _Group:
    """One kernel call's lists (build-order ``indices``): weights ``w``, gradients
    ``g``, the optimizer slots by name (``slot("_momentums")``), and its lr."""

    def __init__(self, opt, indices, w, g, lr, large):
        self.opt, self.indices, self.w, self.g, self.lr, self.large = opt, indices, w, g, lr, large
        self.host = w[0].device.type == "cpu"

    def slot(self, name):
        slots = getattr(self.opt, name)
        return [slots[i]._value for i in self.indices]

    def keras_variables(self):
        return [self.opt._trainable_variables[i] for i in self.indices]


def _add_scaled(w, x, scale):
    """w <- w + scale x (scale a number or a 0-d tensor)."""
    torch = _torch()
    if isinstance(scale, (int, float)):
        torch._foreach_add_(w, x, alpha=scale)
    else:
        torch._foreach_add_(w, torch._foreach_mul(x, scale))


def _add_scaled_ratio(w, numerator, denominator, scale):
    """w <- w + scale numerator / denominator."""
    torch = _torch()
    if isinstance(scale, (int, float)):
        torch._foreach_addcdiv_(w, numerator, denominator, value=scale)
    else:
        ratio = torch._foreach_div(numerator, denominator)
        torch._foreach_mul_(ratio, scale)
        torch._foreach_add_(w, ratio)


def _decay(ws, a1, a2, anchors=None):
    """w <- w - a2 d - a1 sign(d), d = w - w0 (``anchors``) or w, in place, from w
    before the step (None: a zero coefficient). Toward zero the l2 term is one
    multiplication, w (1 - a2)."""
    torch = _torch()
    d = ws if anchors is None else torch._foreach_sub(ws, anchors)
    signs = torch._foreach_sign(d) if a1 is not None else None
    if a2 is not None:
        if anchors is None:
            torch._foreach_mul_(ws, 1.0 - a2)
        else:
            _add_scaled(ws, d, -a2)
    if a1 is not None:
        _add_scaled(ws, signs, -a1)


def _decay_terms(ws, a1, a2, anchors=None) -> list:
    """a2 d + a1 sign(d), d = w - w0 (``anchors``) or w, from w before the step, as new
    tensors (cautious_decay applies them after the update)."""
    torch = _torch()
    d = ws if anchors is None else torch._foreach_sub(ws, anchors)
    out = torch._foreach_mul(d, a2) if a2 is not None else None
    if a1 is not None:
        signs = torch._foreach_sign(d)
        if out is None:
            out = torch._foreach_mul(signs, a1)
        else:
            _add_scaled(out, signs, a1)
    return out


def _cautious_decay(ws, decays, before) -> None:
    """w <- w - [u * d >= 0] (a2 d + a1 sign(d)), with lr u = ``before`` - w the base's
    step and d's sign that of its decay (a1, a2 >= 0): cautious weight decay, as
    ``generic.cautious``. In place; ``before`` and ``decays`` are consumed:

        p = (before - w) * decay;  s = min(sign(p), 0)  (-1 where they disagree)
        w <- w - decay * (1 + s)
    """
    torch = _torch()
    torch._foreach_sub_(before, ws)
    torch._foreach_mul_(before, decays)
    torch._foreach_sign_(before)
    torch._foreach_clamp_max_(before, 0.0)
    torch._foreach_addcmul_(decays, decays, before)
    torch._foreach_sub_(ws, decays)


# Each update below: (opt, groups, t), groups of the step (``_Group``), t = iterations + 1.

def _adam(opt, groups, t):
    torch = _torch()
    beta_1, beta_2, eps = float(opt.beta_1), float(opt.beta_2), float(opt.epsilon)
    k = math.sqrt(1.0 - beta_2 ** t)
    for group in groups:
        w, g, m, v = group.w, group.g, group.slot("_momentums"), group.slot("_velocities")
        fusable = not group.host or w[0].dtype in (torch.float32, torch.float64)
        if group.large and fusable:
            steps = torch.full((), float(t), dtype=torch.float32, device=w[0].device)
            lr = group.lr if group.host else group.lr.float()  # the kernel reads float32
            torch._fused_adam_(w, g, m, v, [], [steps] * len(w), lr=lr, beta1=beta_1,
                               beta2=beta_2, weight_decay=0.0, eps=eps / k, amsgrad=False,
                               maximize=False)
            continue
        torch._foreach_lerp_(m, g, 1.0 - beta_1)
        torch._foreach_mul_(v, beta_2)
        torch._foreach_addcmul_(v, g, g, value=1.0 - beta_2)
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, eps)
        _add_scaled_ratio(w, m, denom, group.lr * (-k / (1.0 - beta_1 ** t)))


def _nadam(opt, groups, t):
    torch = _torch()
    beta_1, beta_2, eps = float(opt.beta_1), float(opt.beta_2), float(opt.epsilon)
    u_t = beta_1 * (1.0 - 0.5 * 0.96 ** t)
    u_next = beta_1 * (1.0 - 0.5 * 0.96 ** (t + 1))
    u_product = _float32(opt._u_product_mirror.get() * u_t)  # Keras' float32 variable
    opt._u_product_mirror.put(u_product)
    a = u_next / (1.0 - u_product * u_next)
    b = (1.0 - u_t) / (1.0 - u_product)
    k = math.sqrt(1.0 - beta_2 ** t)
    for group in groups:
        w, g, m, v = group.w, group.g, group.slot("_momentums"), group.slot("_velocities")
        torch._foreach_lerp_(m, g, 1.0 - beta_1)
        torch._foreach_mul_(v, beta_2)
        torch._foreach_addcmul_(v, g, g, value=1.0 - beta_2)
        m_hat = torch._foreach_add(m, g, alpha=b / a)
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, eps * k)
        _add_scaled_ratio(w, m_hat, denom, group.lr * (-a * k))


def _sgd(opt, groups, t):
    torch = _torch()
    momentum = float(opt.momentum)
    for group in groups:
        w, g, neg_lr = group.w, group.g, -group.lr
        if momentum == 0:
            _add_scaled(w, g, neg_lr)
            continue
        m = group.slot("momentums")
        if not opt.nesterov and group.host and group.large and \
                w[0].dtype in (torch.float32, torch.float64):
            torch._fused_sgd_(w, g, m, weight_decay=0.0, momentum=momentum, lr=-1.0,
                              dampening=1.0 - neg_lr, nesterov=False, maximize=False,
                              is_first_step=False)
            continue
        torch._foreach_mul_(m, momentum)
        _add_scaled(m, g, neg_lr)
        if opt.nesterov:
            _add_scaled(w, g, neg_lr)
            torch._foreach_add_(w, m, alpha=momentum)
        else:
            torch._foreach_add_(w, m)


def _adadelta(opt, groups, t):
    """Keras' Adadelta: E[g^2] <- rho E[g^2] + (1 - rho) g^2;
    d = -sqrt(E[dx^2] + eps) g / sqrt(E[g^2] + eps); E[dx^2] <- rho E[dx^2] + (1 - rho) d^2;
    w <- w + lr d."""
    torch = _torch()
    rho, eps = float(opt.rho), float(opt.epsilon)
    for group in groups:
        g = group.g
        acc_g = group.slot("_accumulated_grads")
        acc_d = group.slot("_accumulated_delta_vars")
        torch._foreach_mul_(acc_g, rho)
        torch._foreach_addcmul_(acc_g, g, g, value=1.0 - rho)
        rms_d = torch._foreach_sqrt(torch._foreach_add(acc_d, eps))
        rms_g = torch._foreach_sqrt(torch._foreach_add(acc_g, eps))
        delta = torch._foreach_div(torch._foreach_mul(rms_d, g), rms_g)
        torch._foreach_neg_(delta)
        torch._foreach_mul_(acc_d, rho)
        torch._foreach_addcmul_(acc_d, delta, delta, value=1.0 - rho)
        _add_scaled(group.w, delta, group.lr)


def _keras_form(parallel_update_step, opt, groups, t):
    """Keras' own torch parallel update of each group, with its lr."""
    for group in groups:
        parallel_update_step(opt, group.g, group.keras_variables(), group.lr)
