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

Shaped restarts and warmup (the recipe of timm's and optax's schedules, with the
state kept in the optimizer). With i the cycle index (0 for the first cycle; it
counts automatic restarts) and w the warmup length of this cycle (``warmup_iterations``
in the first cycle, and in every cycle with ``warmup_each_cycle``; else 0):

    peak_i = max(eta_min, eta_max * cycle_decay^i)
    eta_t  = eta_min + (peak_i - eta_min) * (k + 1) / (w + 1)                 k < w
    eta_t  = cosine of the rest of the cycle, from peak_i at k = w to eta_min
             at k = T_i - 1 (the formula above, k - w of T_i - w steps)       k >= w
    eta_t  = eta_min                                 i >= cycle_limit (if given)

The warmup is part of the cycle (cycle lengths and restarts stay where
``total_iterations`` and ``t_mult`` put them); it rises linearly from eta_min (where
the previous cycle ended) and reaches peak_i at k = w, the cosine's first step, so no
step of the warmup has eta = eta_min (the ramp's first value is above it).

Every function here takes Python numbers (then returns floats) or ``keras.ops``
tensors, so it runs inside a compiled train step on every backend.
"""

import dataclasses
import math
from typing import Optional

from ._keras import ops

__all__ = ["Shape", "multiplier", "cosine_multiplier", "advance", "normalization_scale"]


@dataclasses.dataclass(frozen=True)
class Shape:
    """The cycle shape: range, warmup, peak decay per restart, cycle limit."""

    eta_min: float = 0.0
    eta_max: float = 1.0
    warmup: int = 0
    warmup_each_cycle: bool = False
    cycle_decay: float = 1.0
    cycle_limit: Optional[int] = None

    @property
    def needs_cycle_index(self) -> bool:
        return (self.cycle_decay != 1.0 or self.cycle_limit is not None
                or (self.warmup > 0 and not self.warmup_each_cycle))


def _is_python(*values) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def multiplier(t_cur, cycle_length, cycle, shape: Shape):
    """eta_t of the step with ``t_cur`` steps of cycle number ``cycle`` (of length
    ``cycle_length``) behind it; see the module docstring."""
    if _is_python(t_cur, cycle_length, cycle):
        peak = max(shape.eta_min, shape.eta_max * shape.cycle_decay ** cycle)
        w = shape.warmup if (shape.warmup_each_cycle or cycle == 0) else 0
        k = min(max(t_cur, 0), max(cycle_length - 1, 0))
        if k < w:
            eta = shape.eta_min + (peak - shape.eta_min) * (k + 1) / (w + 1)
        else:
            eta = cosine_multiplier(k - w, cycle_length - w, shape.eta_min, peak)
        if shape.cycle_limit is not None and cycle >= shape.cycle_limit:
            eta = shape.eta_min
        return eta
    t = ops.cast(t_cur, "float32")
    length = ops.cast(cycle_length, "float32")
    i = ops.cast(cycle, "float32")
    peak = ops.maximum(shape.eta_min, shape.eta_max * ops.power(shape.cycle_decay, i)) \
        if shape.cycle_decay != 1.0 else shape.eta_max
    if shape.warmup == 0:
        w = 0.0
    elif shape.warmup_each_cycle:
        w = float(shape.warmup)
    else:
        w = ops.where(ops.equal(i, 0.0), float(shape.warmup), 0.0)
    k = ops.clip(t, 0.0, ops.maximum(length - 1.0, 0.0))
    eta = cosine_multiplier(k - w, length - w, shape.eta_min, peak)
    if shape.warmup:
        ramp = shape.eta_min + (peak - shape.eta_min) * (k + 1.0) / (w + 1.0)
        eta = ops.where(ops.less(k, w), ramp, eta)
    if shape.cycle_limit is not None:
        eta = ops.where(ops.greater_equal(i, float(shape.cycle_limit)), shape.eta_min, eta)
    return eta


def cosine_multiplier(t_cur, cycle_length, eta_min: float, eta_max: float):
    """eta_t for the step that has ``t_cur`` steps of its cycle behind it.

    ``k = clip(t_cur, 0, T_i - 1)``; a cycle of length 1 gives ``eta_max``
    (k = 0, and the division is guarded). Python numbers in, a float out;
    tensors in, a float32 tensor out.
    """
    if _is_python(t_cur, cycle_length):
        k = min(max(t_cur, 0), max(cycle_length - 1, 0))
        cos = math.cos(math.pi * k / max(cycle_length - 1, 1))
    else:
        t = ops.cast(t_cur, "float32")
        length = ops.cast(cycle_length, "float32")
        k = ops.clip(t, 0.0, ops.maximum(length - 1.0, 0.0))
        cos = ops.cos(math.pi * k / ops.maximum(length - 1.0, 1.0))
    return eta_min + 0.5 * (eta_max - eta_min) * (1.0 + cos)


def advance(t_cur, cycle_length, t_mult: int, autorestart: bool, cycle=0):
    """(t_cur, T_i, i) after one applied step: count it, restart at the cycle's end
    (the next cycle is t_mult times longer, and its index one more)."""
    t_next = t_cur + 1
    if not autorestart:
        return t_next, cycle_length, cycle
    if _is_python(t_cur, cycle_length, cycle):
        if t_next >= cycle_length:
            return 0, cycle_length * t_mult, cycle + 1
        return t_next, cycle_length, cycle
    restart = ops.greater_equal(t_next, cycle_length)
    return (
        ops.where(restart, ops.zeros_like(t_next), t_next),
        ops.where(restart, cycle_length * t_mult, cycle_length),
        ops.where(restart, cycle + 1, cycle),
    )


def normalization_scale(t_norm):
    """s = sqrt(1 / T_norm) for a step count (a Python int or a tensor)."""
    if isinstance(t_norm, int):
        return math.sqrt(1.0 / t_norm)
    return ops.sqrt(1.0 / ops.cast(t_norm, "float32"))
