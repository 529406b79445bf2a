"""Multi-tensor updates on the PyTorch backend.

On the torch backend Keras replaces ``keras.optimizers.Adam``, ``Nadam``, ``SGD``, ...
by subclasses (``keras/src/backend/torch/optimizers/``) whose
``_parallel_update_step(grads, variables, learning_rate)`` updates a whole list of
variables with ``torch._foreach_*`` ops: a handful of kernel launches per step instead
of about twenty per variable. A class made by ``decoupled()`` is not in Keras' swap
table, so without this module it runs the per-variable ``update_step`` path.

Here one applied step, for the variables grouped at build, is

    for each group G of variables sharing (mu, l1, l2, dtype), with l1 or l2 > 0:
        c      = decay_scale                        (eta_t * s, set once per step)
        c      = c * eta_t * alpha_t * mu           (lr_scaled_decay only)
        w      <- w * (1 - c l2) - c l1 sign(w)      for all w in G, w before the step
    for each group H of variables sharing (mu, dtype):
        base_parallel_update(H, learning_rate = eta_t * mu * alpha_t)

the same arithmetic as ``DecoupledWeightDecay.update_step`` per variable (the decay
from w before the step, then the base update with the scaled learning rate), with the
base update being Keras' own torch parallel code, called once per multiplier group.
Keras' parallel Nadam advances its ``u_product`` each call, so it is restored before
each group's call: it advances once per step, as in the built-in.

Adam (amsgrad=False) uses ``torch._fused_adam_`` instead, one pass over memory:

    m <- m + (g - m)(1 - beta_1);  v <- beta_2 v + (1 - beta_2) g^2
    w <- w - (lr / (1 - beta_1^t)) m / (sqrt(v) / sqrt(1 - beta_2^t) + eps')

which is Keras' ``w <- w - lr sqrt(1 - beta_2^t) / (1 - beta_1^t) m / (sqrt(v) + eps)``
exactly when eps' = eps / sqrt(1 - beta_2^t) (Keras puts epsilon outside the bias
correction, torch inside), t = iterations + 1.

Taken only where it is that math: the torch backend, a base class whose
``update_step`` is Keras' own Adam, Nadam or SGD (not a subclass's override), no
amsgrad, float32/float64 variables. Everything else keeps the per-variable path.
No per-step state lives in Python attributes: the groups are fixed at build, the
schedule scalars are optimizer variables.
"""

import math
from typing import Callable, Optional

from ._keras import keras, ops

__all__ = ["parallel_update_for"]


def _base_update_step(cls, mixin):
    """The ``update_step`` the class inherits from below ``mixin`` in its MRO."""
    mro = cls.__mro__
    for klass in mro[mro.index(mixin) + 1:]:
        if "update_step" in vars(klass):
            return vars(klass)["update_step"]
    return None


def _keras_parallel_steps() -> dict:
    """{Keras' own update_step: the torch class's _parallel_update_step}."""
    from keras.src.backend.torch.optimizers import torch_nadam, torch_sgd

    return {
        vars(keras.optimizers.Nadam)["update_step"]: torch_nadam.Nadam._parallel_update_step,
        vars(keras.optimizers.SGD)["update_step"]: torch_sgd.SGD._parallel_update_step,
    }


def parallel_update_for(optimizer, mixin) -> Optional[Callable]:
    """``update(optimizer, grads, variables, learning_rate)`` for the whole step, or
    None to keep the per-variable path. Call after the optimizer's ``build()``."""
    if keras.backend.backend() != "torch":
        return None
    variables = optimizer._trainable_variables
    if not variables or any(str(v.dtype) not in ("float32", "float64") for v in variables):
        return None
    base = _base_update_step(type(optimizer), mixin)
    if base is vars(keras.optimizers.Adam)["update_step"]:
        if optimizer.amsgrad:
            return None
        step = _fused_adam
    else:
        step = _keras_parallel_steps().get(base)
        if step is None:
            return None
    nadam = base is vars(keras.optimizers.Nadam)["update_step"]
    decay_groups, lr_groups = _groups(optimizer._variable_settings, variables)

    def update(opt, grads, variables, learning_rate):
        _parallel_step(opt, grads, variables, learning_rate, step, nadam,
                       decay_groups, lr_groups)

    return update


def _groups(settings, variables):
    """Index lists, in build order: {(mu, l1, l2, dtype): [i]} for the decayed
    variables and {(mu, dtype): [i]} for all."""
    decay_groups, lr_groups = {}, {}
    for i, (setting, variable) in enumerate(zip(settings, variables)):
        dtype = str(variable.dtype)
        lr_groups.setdefault((setting.lr_multiplier, dtype), []).append(i)
        if setting.l1 or setting.l2:
            key = (setting.lr_multiplier, setting.l1, setting.l2, dtype)
            decay_groups.setdefault(key, []).append(i)
    return decay_groups, lr_groups


def _parallel_step(opt, grads, variables, learning_rate, step, nadam,
                   decay_groups, lr_groups):
    import torch

    n = len(opt._trainable_variables)
    if len(variables) == n and all(
            a is b for a, b in zip(variables, opt._trainable_variables)):
        position = range(n)  # every variable, in build order (the usual case)
    else:  # a subset (empty gradients filtered out) or another order
        position = [None] * n
        for j, v in enumerate(variables):
            position[opt._get_variable_index(v)] = j
    grads = [g if isinstance(g, torch.Tensor) else ops.convert_to_tensor(g) for g in grads]
    with torch.no_grad():
        for (mu, l1, l2, dtype), indices in decay_groups.items():
            ws = [variables[position[i]].value for i in indices if position[i] is not None]
            if ws:
                _decay(opt, ws, learning_rate, mu, l1, l2)
        u_product = opt._u_product.value.clone() if nadam else None
        for (mu, dtype), indices in lr_groups.items():
            chosen = [position[i] for i in indices if position[i] is not None]
            if not chosen:
                continue
            lr = learning_rate if mu == 1.0 else ops.multiply(learning_rate, mu)
            if nadam:
                opt._u_product.assign(u_product)
            step(opt, [grads[j] for j in chosen], [variables[j] for j in chosen], lr)


def _decay(opt, ws, learning_rate, mu, l1, l2):
    """w <- w (1 - c l2) - c l1 sign(w) for the torch tensors ws (w before the step),
    c = decay_scale, times eta_t mu alpha_t with lr_scaled_decay."""
    import torch

    c = opt._decay_scale.value.to(ws[0].dtype)
    if opt.lr_scaled_decay:
        c = c * ops.cast(ops.multiply(learning_rate, mu), ws[0].dtype)
    signs = torch._foreach_sign(ws) if l1 else None
    if l2:
        torch._foreach_mul_(ws, 1.0 - c * l2)
    if l1:
        torch._foreach_mul_(signs, c * l1)
        torch._foreach_sub_(ws, signs)


def _fused_adam(opt, grads, variables, learning_rate):
    """Keras' Adam update (amsgrad=False) with ``torch._fused_adam_``; see the module
    docstring for the epsilon rescaling that makes it Keras' arithmetic. Inside
    ``torch.compile`` (``jit_compile=True``), which cannot trace that kernel on CPU,
    Keras' own multi-tensor Adam."""
    import torch

    if torch.compiler.is_compiling():
        from keras.src.backend.torch.optimizers import torch_adam

        return torch_adam.Adam._parallel_update_step(opt, grads, variables, learning_rate)
    params = [v.value for v in variables]
    dtype = params[0].dtype
    index = opt._get_variable_index
    m = [opt._momentums[index(v)].value for v in variables]
    v = [opt._velocities[index(v)].value for v in variables]
    t = int(ops.convert_to_numpy(opt.iterations)) + 1
    step = torch.full((), float(t), dtype=torch.float32)
    lr = ops.cast(learning_rate, dtype)
    if not isinstance(lr, torch.Tensor):
        lr = torch.as_tensor(lr, dtype=dtype)
    grads = [g if g.dtype == dtype else g.to(dtype) for g in grads]
    torch._fused_adam_(
        params, grads, m, v, [], [step] * len(params), lr=lr,
        beta1=float(opt.beta_1), beta2=float(opt.beta_2), weight_decay=0.0,
        eps=float(opt.epsilon) / math.sqrt(1.0 - float(opt.beta_2) ** t),
        amsgrad=False, maximize=False)
