"""The schedule in view: a callback that logs it, and a preview without training.

For an applied step with schedule state (t_cur, T_i, i) and learning rate alpha_t:

    eta_t              = the multiplier (schedule.py)
    lr                 = alpha_t * eta_t                 (the learning rate of mu = 1)
    lr_mu=<mu>         = alpha_t * eta_t * mu            (each other multiplier group)
    decay_l2=<l2>      = c * l2,  decay_l1=<l1> = c * l1 (each decay group; w loses
                                                          c * (l1 sign(w) + l2 w))

with c = eta_t * s (times alpha_t * mu with ``lr_scaled_decay``: then the group key
ends in ``_mu=<mu>``).
"""

import numbers
from typing import Dict, Optional

import numpy as np

from . import schedule
from ._keras import TF_KERAS_IS_LEGACY, keras, ops
from .core import DecoupledCore

__all__ = ["ScheduleLogger", "preview_schedule", "plot_schedule"]


def _inner(optimizer):
    """The optimizer itself, also inside Keras' LossScaleOptimizer; a TypeError for an
    optimizer that is not one of keras_adamw's."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if not isinstance(inner, DecoupledCore):
        raise TypeError("the schedule is that of a keras_adamw optimizer (AdamW, SGDW, "
                        f"decoupled(...)); got {type(inner).__name__}.")
    return inner


def _number(value) -> float:
    return float(ops.convert_to_numpy(value))


def _alpha(optimizer, step: int) -> float:
    lr = optimizer._learning_rate
    if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule) or (
            callable(lr) and hasattr(lr, "get_config") and not hasattr(lr, "numpy")):
        return _number(lr(step))
    if callable(lr) and not hasattr(lr, "numpy"):
        return _number(lr())
    return _number(lr)


def _state(optimizer):
    """(t_cur, T_i, i) as Python ints."""
    return tuple(int(_number(value)) for value in optimizer._schedule_state())


def step_values(optimizer, state, alpha: float) -> Dict[str, float]:
    """The logged values of the step with schedule ``state`` and learning rate alpha
    (see the module docstring); groups from the optimizer's variable settings."""
    eta, c = optimizer._step_scalars(*state)
    values = {"eta_t": float(eta), "lr": alpha * float(eta)}
    for setting in optimizer._variable_settings:
        mu = setting.lr_multiplier
        if mu != 1.0:
            values[f"lr_mu={mu:g}"] = alpha * float(eta) * mu
        scale = float(c) * (alpha * float(eta) * mu if optimizer.lr_scaled_decay else 1.0)
        suffix = f"_mu={mu:g}" if optimizer.lr_scaled_decay else ""
        if setting.l2:
            values[f"decay_l2={setting.l2:g}{suffix}"] = scale * setting.l2
        if setting.l1:
            values[f"decay_l1={setting.l1:g}{suffix}"] = scale * setting.l1
    return values


if TF_KERAS_IS_LEGACY:  # the callbacks of tensorflow.keras, i.e. tf_keras
    import tf_keras as _callback_keras
else:
    _callback_keras = keras


class ScheduleLogger(_callback_keras.callbacks.Callback):
    """Puts eta_t, the learning rate of each multiplier group and the decay of each
    decay group into the logs: the progress bar, ``History``, ``CSVLogger`` and
    ``TensorBoard`` show them. Batch logs hold the values the step used; epoch logs
    those of the last logged step. Put it before those callbacks in ``callbacks=``.

    With ``steps_per_execution > 1`` Keras calls batch callbacks once per execution:
    the values are those of the execution's first step.
    """

    def __init__(self):
        super().__init__()
        self._pending = None
        self._last = {}

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = _inner(self.model.optimizer)
        self._pending = (_state(optimizer), _alpha(optimizer, int(_number(optimizer.iterations))))

    def on_train_batch_end(self, batch, logs=None):
        if self._pending is None or logs is None:
            return
        optimizer = _inner(self.model.optimizer)
        self._last = step_values(optimizer, *self._pending)
        logs.update(self._last)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self._last)


def preview_schedule(optimizer, steps: int) -> Dict[str, np.ndarray]:
    """The next ``steps`` applied steps of the schedule, from the optimizer's current
    state, without training: ``step``, ``t_cur``, ``cycle``, ``eta_t``, ``lr``
    (alpha_t * eta_t) and ``decay_scale`` (c above; a weight with decay l2 loses
    ``c * l2 * w`` per step, times alpha_t * mu with ``lr_scaled_decay``)."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"`steps` must be an integer >= 1; got {steps!r}.")
    steps = int(steps)
    optimizer = _inner(optimizer)
    t_cur, length, cycle = _state(optimizer)
    start = int(_number(optimizer.iterations))
    rows = []
    for n in range(steps):
        eta, c = optimizer._step_scalars(t_cur, length, cycle)
        rows.append((start + n, t_cur, cycle, eta, _alpha(optimizer, start + n) * eta, c))
        if optimizer.use_cosine_annealing:
            t_cur, length, cycle = schedule.advance(t_cur, length, optimizer.t_mult,
                                                    optimizer.autorestart, cycle)
    columns = list(zip(*rows))
    names = ("step", "t_cur", "cycle", "eta_t", "lr", "decay_scale")
    return {name: np.asarray(column) for name, column in zip(names, columns)}


def plot_schedule(optimizer, steps: int, path: Optional[str] = None):
    """A matplotlib figure of ``preview_schedule``: eta_t and alpha_t * eta_t, and the
    decay scale; saved to ``path`` when given. Needs matplotlib; leaves its backend
    and pyplot's figures alone."""
    from matplotlib.figure import Figure

    p = preview_schedule(optimizer, steps)
    fig = Figure(figsize=(7, 5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(p["step"], p["eta_t"], label="eta_t")
    top.plot(p["step"], p["lr"], label="alpha_t * eta_t")
    bottom.plot(p["step"], p["decay_scale"], color="C2", label="decay scale c")
    bottom.set_xlabel("applied step")
    for ax in (top, bottom):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
