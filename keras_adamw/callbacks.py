"""The schedule in view: a callback that logs it, and a preview without training.

For an applied step with schedule state (t_cur, T_i, i) and learning rate alpha_t
(``step.py``, through the optimizer's public accessors ``schedule_state``,
``next_schedule_state`` and ``step_values``):

    eta_t              = the multiplier (schedule.py)
    alpha              = alpha_t, Keras' learning rate (a schedule's value, or what a
                         callback such as ReduceLROnPlateau set)
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


def _is_schedule(lr) -> bool:
    return isinstance(lr, keras.optimizers.schedules.LearningRateSchedule) or (
        callable(lr) and hasattr(lr, "get_config") and not hasattr(lr, "numpy"))


def _alpha(optimizer, iteration: int, constant=None):
    """alpha_t at Keras' iteration count ``iteration``: a schedule's value there (a
    tensor, not read), or ``constant`` (the learning rate read once)."""
    lr = optimizer._learning_rate
    if _is_schedule(lr):
        return lr(iteration)
    if callable(lr) and not hasattr(lr, "numpy"):
        return lr()
    return constant if constant is not None else _number(lr)


def _accumulation(optimizer) -> int:
    return int(getattr(optimizer, "gradient_accumulation_steps", None) or 1)


if TF_KERAS_IS_LEGACY:  # the callbacks of tensorflow.keras, i.e. tf_keras
    import tf_keras as _callback_keras
else:
    _callback_keras = keras


class ScheduleLogger(_callback_keras.callbacks.Callback):
    """Puts eta_t, alpha_t, the learning rate of each multiplier group and the decay
    of each decay group into the logs: the progress bar, ``History``, ``CSVLogger``
    and ``TensorBoard`` show them. Batch logs hold the values the batch's applied
    step used (under gradient accumulation, a batch that applies no step logs those
    of the last applied one, or of the first to come); epoch logs those of the last
    logged step. Put it before those callbacks in ``callbacks=``.

    It reads the optimizer's state from the device once per epoch (at its first
    batch, after every callback's ``on_epoch_begin``) and advances a host copy with
    the schedule's own function; a learning-rate schedule is evaluated at Keras'
    own counter (its micro-steps under gradient accumulation), as the update does.
    With ``steps_per_execution > 1`` Keras calls batch callbacks once per execution:
    the values are those of the execution's first step. Batch logs hold a schedule's
    values as device tensors (Keras converts them where it shows them); epoch logs
    hold floats.
    """

    def __init__(self):
        super().__init__()
        self._host = None  # (iterations, schedule state, alpha read once) or None
        self._last = {}
        self._begin = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._host = None  # read again at this epoch's first batch

    def on_train_batch_begin(self, batch, logs=None):
        self._begin = batch
        if self._host is None:
            optimizer = _inner(self.model.optimizer)
            lr = optimizer._learning_rate
            constant = None if callable(lr) and not hasattr(lr, "numpy") else _number(lr)
            self._host = (int(_number(optimizer._iterations)), optimizer.schedule_state(),
                          constant)

    def on_train_batch_end(self, batch, logs=None):
        if self._host is None:
            return
        optimizer = _inner(self.model.optimizer)
        iteration, state, constant = self._host
        every = _accumulation(optimizer)
        logged = None
        for _ in range(max(batch - self._begin + 1, 1)):  # the steps of this call
            if (iteration + 1) % every == 0:  # Keras applies an update at this micro-step
                if logged is None:
                    logged = self._values(optimizer, state, iteration, constant)
                state = optimizer.next_schedule_state(state)
            iteration += 1
        self._host = (iteration, state, constant)
        if logged is None and not self._last:  # no step applied yet: the first to come
            ahead = iteration + (-(iteration + 1)) % every
            logged = self._values(optimizer, state, ahead, constant)
        if logged is not None:
            self._last = logged
        if logs is not None:
            logs.update(self._last)

    @staticmethod
    def _values(optimizer, state, iteration, constant):
        alpha = _alpha(optimizer, iteration, constant)  # a schedule's: a device value
        return dict(optimizer.step_values(state, alpha), alpha=alpha)

    def on_epoch_end(self, epoch, logs=None):
        """The last logged step's values, as floats (one read per epoch)."""
        self._last = {k: v if isinstance(v, float) else _number(v) for k, v in self._last.items()}
        if logs is not None:
            logs.update(self._last)


def preview_schedule(optimizer, steps: int) -> Dict[str, np.ndarray]:
    """The next ``steps`` applied steps from the optimizer's current state, without
    training: a dict of arrays, one entry per step, with the keys

    * ``step``: Keras' iteration count at that step; ``t_cur`` and ``cycle``: the
      schedule state the step uses;
    * ``eta_t``; ``lr`` (alpha_t * eta_t, the learning rate of mu = 1);
      ``lr_mu=<mu>`` for each other multiplier;
    * per decay group: ``decay_l2=<l2>`` (the fraction of w the step removes),
      ``decay_l1=<l1>`` (times sign(w)), ``timescale_l2=<l2>`` (1 / that fraction, in
      applied steps); suffixed ``_mu=<mu>`` with ``lr_scaled_decay``, ``_to_w0`` for a
      decay toward w0,

    the keys ``ScheduleLogger`` logs (module docstring)."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"`steps` must be an integer >= 1; got {steps!r}.")
    optimizer = _inner(optimizer)
    state = optimizer.schedule_state()
    start = int(_number(optimizer._iterations))  # Keras' micro-step counter
    every = _accumulation(optimizer)
    rows = []
    for n in range(int(steps)):
        iteration = start + (n + 1) * every - 1 - start % every
        row = {"step": iteration, "t_cur": state[0], "cycle": state[2]}
        row.update(optimizer.step_values(state, _number(_alpha(optimizer, iteration))))
        rows.append(row)
        state = optimizer.next_schedule_state(state)
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return {k: np.asarray([row.get(k, np.nan) for row in rows]) for k in keys}


def _label(key: str) -> str:
    """A legend entry for a key of ``preview_schedule``."""
    if key == "lr":
        return "mu = 1"
    if key.startswith("lr_mu="):
        return "mu = " + key[len("lr_mu="):]
    kind, rest = key.split("=", 1)
    return ("l2" if kind.endswith("l2") else "l1") + " = " + rest.replace("_mu=", ", mu = ") \
        .replace("_to_w0", ", toward w0")


def plot_schedule(optimizer, steps: int, path: Optional[str] = None):
    """A matplotlib figure of ``preview_schedule`` over the next ``steps`` applied
    steps, one panel each: the multiplier eta_t (left out when it stays 1: no
    annealing); the learning rate of each lr-multiplier group; and the decay of each
    decay group, as the fraction of w one step removes (and, for l1, the amount times
    sign(w)). A panel whose lines are constant is drawn from 0, so that it does not
    look like a trend. Saved to ``path`` when given. Needs matplotlib; leaves its
    backend and pyplot's figures alone."""
    from matplotlib.figure import Figure

    optimizer = _inner(optimizer)
    p = preview_schedule(optimizer, steps)
    lrs = [k for k in p if k == "lr" or k.startswith("lr_mu=")]
    decays = [k for k in p if k.startswith("decay_")]
    panels = []
    if not np.all(p["eta_t"] == 1.0):
        panels.append(("schedule multiplier eta_t", "eta_t", ["eta_t"]))
    panels.append(("learning rate of each lr-multiplier group", "learning rate", lrs))
    if decays:
        panels.append(("weight decay of each decay group, per applied step",
                       "fraction of w", decays))
    fig = Figure(figsize=(7, 2.3 * len(panels) + 0.8))
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (title, ylabel, keys) in zip(axes, panels):
        for key in keys:
            ax.plot(p["step"], p[key], label=_label(key) if key != "eta_t" else None)
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if key != "eta_t":
            ax.legend(fontsize=8)
        values = np.concatenate([p[k] for k in keys])
        if np.nanmin(values) == np.nanmax(values):  # flat: from 0, not a +-4% zoom
            ax.set_ylim(0, 1.25 * np.nanmax(values) or 1.0)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    axes[-1].set_xlabel("applied step (Keras' iteration count)")
    fig.suptitle(f"{optimizer.name}: the next {int(steps)} applied steps"
                 + ("" if panels[0][1] == "eta_t" else " (eta_t = 1: no annealing)"),
                 fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
