"""The schedule multiplier eta_t: cosine annealing with warm restarts (SGDR).

Loshchilov & Hutter, *SGDR: Stochastic Gradient Descent with Warm Restarts*
(ICLR 2017), in the cycle shape of keras-adamw 1.38: for the k-th applied step of a
cycle of length T_i (k = 0, 1, ..., T_i - 1)

    eta_t = eta_min + 0.5 * (eta_max - eta_min) * (1 + cos(pi * k / (T_i - 1)))   T_i > 1
    eta_t = eta_max                                                               T_i = 1

so the first step of a cycle uses eta_max and the last uses eta_min exactly.
After a step k <- k + 1; with autorestart, when k reaches T_i it becomes 0 and the
next cycle is T_{i+1} = t_mult * T_i long. Without autorestart k keeps counting and
is clamped to T_i - 1 (eta stays at eta_min) until the user assigns ``t_cur``.

Weight-decay normalization (*Decoupled Weight Decay Regularization*, ICLR 2019,
Appendix B.1): lambda = lambda_norm * sqrt(b / (B T)); with T_norm = B T / b applied
steps the factor is

    s = sqrt(1 / T_norm).

Every function here takes and returns ``keras.ops`` tensors, so it runs inside a
compiled train step on every backend.
"""

import math

from ._keras import ops

__all__ = ["cosine_multiplier", "advance", "normalization_scale"]


def cosine_multiplier(t_cur, cycle_length, eta_min: float, eta_max: float):
    """eta_t for the step that has ``t_cur`` steps of its cycle behind it.

    ``k = clip(t_cur, 0, T_i - 1)``; a cycle of length 1 gives ``eta_max``
    (k = 0, and the division is guarded). Python numbers in, a float out;
    tensors in, a float32 tensor out.
    """
    if isinstance(t_cur, int) and isinstance(cycle_length, int):
        k = min(max(t_cur, 0), max(cycle_length - 1, 0))
        cos = math.cos(math.pi * k / max(cycle_length - 1, 1))
    else:
        t = ops.cast(t_cur, "float32")
        length = ops.cast(cycle_length, "float32")
        k = ops.clip(t, 0.0, ops.maximum(length - 1.0, 0.0))
        cos = ops.cos(math.pi * k / ops.maximum(length - 1.0, 1.0))
    return eta_min + 0.5 * (eta_max - eta_min) * (1.0 + cos)


def advance(t_cur, cycle_length, t_mult: int, autorestart: bool):
    """(t_cur, T_i) after one applied step: count it, restart at the cycle's end."""
    t_next = t_cur + 1
    if not autorestart:
        return t_next, cycle_length
    restart = ops.greater_equal(t_next, cycle_length)
    return (
        ops.where(restart, ops.zeros_like(t_next), t_next),
        ops.where(restart, cycle_length * t_mult, cycle_length),
    )


def normalization_scale(t_norm):
    """s = sqrt(1 / T_norm) for a step count (a Python int or a tensor)."""
    if isinstance(t_norm, int):
        return math.sqrt(1.0 / t_norm)
    return ops.sqrt(1.0 / ops.cast(t_norm, "float32"))
