"""Units of decay: the timescale, and the warning for a value in another library's units.

The decay here is per applied step and does not scale with the learning rate (the
paper's convention), so ``torch.optim.AdamW``'s and ``keras.optimizers.AdamW``'s values
are about 1 / learning rate times ours for the same decay: their 0.05 at lr 1e-3 is
5e-5 here (``lr_scaled_decay=True`` takes theirs as they are).

The timescale of a decay (Wang & Aitchison, *How to set AdamW's weight decay as you
scale model and dataset size*, ICML 2025) is the number of applied steps over which it
shrinks a weight by e, at the schedule's peak:

    tau = 1 / (c_peak(mu) * l2)

    c_peak(mu) = eta_peak * s_0                        decoupled decay
    c_peak(mu) = alpha_peak * mu * eta_peak * s_0      lr_scaled_decay (also corrected)

with eta_peak = eta_max (1 without annealing), s_0 = sqrt(1 / T_norm) of the first cycle
(1 without normalization) and alpha_peak the learning rate's largest value
(decay_follows_schedule's alpha_t / alpha_peak is 1 at the peak): ``learning_rate_peak``,
a Keras schedule's known peak, or a constant learning rate's value when the optimizer is
made (kept in its config; give ``learning_rate_peak`` if a callback will raise it). A decay given as
``Timescale(steps)`` is not normalized (it says its own length) and gets ``l2 = 1 /
(c_peak(mu) * steps)`` without s_0: at the peak of every cycle each weight loses
exactly 1 / steps of itself per applied step.

A decay whose per-step fraction c_peak(mu) * l2 is more than ``WARN_FRACTION`` (a
timescale under 100 applied steps) at the peak of the first cycle warns once: most
likely a value in another library's units.
"""

import math
import numbers
import warnings
from typing import Mapping, Optional

from . import step as steps
from ._keras import ops
from .regularizers.common import as_written

__all__ = ["Timescale", "peak_scale", "timescale_l2", "warn_other_units", "WARN_FRACTION"]

#: a decay that takes more than this fraction of a weight per step warns
WARN_FRACTION = 0.01


class Timescale:
    """A decay given as its timescale: the applied steps over which it shrinks a
    weight by e at the schedule's peak (``units`` module docstring). Give ``steps``,
    or ``epochs`` with ``steps_per_epoch``. Use it as ``weight_decays`` (every
    variable) or as a value of the ``weight_decays`` dict (alone, or as l2 in
    ``(l1, Timescale(...))``).

    >>> AdamW(weight_decays=Timescale(epochs=5, steps_per_epoch=469))
    """

    __slots__ = ("steps", "steps_per_epoch")

    def __init__(self, steps: Optional[float] = None, *, epochs: Optional[float] = None,
                 steps_per_epoch: Optional[int] = None):
        if steps_per_epoch is not None and (
                isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, numbers.Integral)
                or steps_per_epoch < 1):
            raise ValueError("Timescale: `steps_per_epoch` must be an integer >= 1; got "
                             f"{steps_per_epoch!r}.")
        if (steps is None) == (epochs is None) or (epochs is not None and steps_per_epoch is None):
            raise ValueError("Timescale: give `steps` (applied steps), or `epochs` with "
                             f"`steps_per_epoch`; got steps={steps!r}, epochs={epochs!r}, "
                             f"steps_per_epoch={steps_per_epoch!r}.")
        value, name = (steps, "steps") if steps is not None else (epochs, "epochs")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                not math.isfinite(value) or value <= 0:
            raise ValueError(f"Timescale: `{name}` must be a finite number > 0; got {value!r}.")
        self.steps = float(steps if steps is not None else epochs * steps_per_epoch)
        if self.steps < 1:  # a shorter one takes more than the whole weight in a step
            raise ValueError(f"Timescale: at least 1 applied step; got {self.steps:g} steps.")
        self.steps_per_epoch = None if steps_per_epoch is None else int(steps_per_epoch)

    @property
    def epochs(self) -> Optional[float]:
        return None if self.steps_per_epoch is None else self.steps / self.steps_per_epoch

    def __eq__(self, other):
        return isinstance(other, Timescale) and (self.steps, self.steps_per_epoch) == (
            other.steps, other.steps_per_epoch)

    def __hash__(self):
        return hash((Timescale, self.steps, self.steps_per_epoch))

    def __repr__(self):
        if self.steps_per_epoch is None:
            return f"Timescale(steps={self.steps:g})"
        return f"Timescale(epochs={self.epochs:g}, steps_per_epoch={self.steps_per_epoch})"

    def get_config(self) -> dict:
        """The config form: ``{"timescale_steps": steps, "steps_per_epoch": n}``."""
        return {"timescale_steps": self.steps, "steps_per_epoch": self.steps_per_epoch}

    @classmethod
    def from_config(cls, config: Mapping) -> "Timescale":
        return cls(steps=config["timescale_steps"],
                   steps_per_epoch=config.get("steps_per_epoch"))

    @staticmethod
    def is_config(value) -> bool:
        return isinstance(value, Mapping) and "timescale_steps" in value and set(value) <= {
            "timescale_steps", "steps_per_epoch"}


def peak_scale(optimizer, mu: float = 1.0, normalized: bool = True) -> Optional[float]:
    """c_peak(mu) (module docstring; without s_0 for a Timescale's decay,
    ``normalized=False``), or None where alpha_peak is not known (``lr_scaled_decay``
    with a schedule that does not say its peak)."""
    eta = optimizer.eta_max if optimizer.use_cosine_annealing else 1.0
    c = eta * (steps.normalization(optimizer, optimizer.total_iterations or 1)
               if normalized else 1.0)
    if optimizer.lr_scaled_decay:
        alpha = optimizer._alpha_peak
        if alpha is None:
            return None
        c *= alpha * mu
    return c


def timescale_l2(optimizer, timescale: Timescale, mu: float = 1.0) -> float:
    """l2 = 1 / (c_peak(mu) * steps) without normalization (a Timescale's decay is not
    normalized: the same shrink at the peak of every cycle): the decay whose timescale
    is ``timescale``. 0 for a variable whose learning rate is 0 with lr_scaled_decay
    (mu = 0: its decay is 0 whatever l2)."""
    c = peak_scale(optimizer, mu, normalized=False)
    if optimizer.lr_scaled_decay and mu == 0:
        return 0.0
    if c is None:
        raise ValueError(
            f"weight_decays: {timescale!r} with lr_scaled_decay=True needs the learning "
            "rate's peak, which this schedule does not say: pass learning_rate_peak=.")
    if c == 0:
        raise ValueError(f"weight_decays: {timescale!r} cannot be reached: the decay scale "
                         "at the schedule's peak is 0 (eta_max=0, or a zero learning rate "
                         "with lr_scaled_decay).")
    return 1.0 / (c * timescale.steps)


def alpha_peak(learning_rate, given: Optional[float]) -> Optional[float]:
    """The learning rate's largest value where it is known: ``given``, a constant's
    value now, or the peak of one of Keras' own schedules; else None."""
    if given is not None:
        return float(given)
    if steps.is_constant(learning_rate):
        try:  # a float32 variable: the shortest decimal that rounds to it (1e-3, as written)
            return as_written(ops.convert_to_numpy(learning_rate))
        except Exception:  # a symbolic value (inside a trace): not known here
            return None
    try:
        return steps.schedule_peak(learning_rate)
    except ValueError:
        return None


def warn_other_units(optimizer, settings, stacklevel: int) -> None:
    """Warn once per optimizer about every decay group whose per-step fraction at the
    peak, c_peak(mu) * l2, is above ``WARN_FRACTION``, unless it was given as a
    ``Timescale`` (then it is what the user asked for)."""
    if getattr(optimizer, "_units_warned", False) or getattr(optimizer, "_restored", False):
        return  # said once, when the optimizer was made (not again at a resume)
    strong = {}  # (l2, fraction of a weight per step) -> paths
    for s in settings:
        c = peak_scale(optimizer, s.lr_multiplier) if s.l2 and not s.timescale else None
        if c is not None and c * s.l2 > WARN_FRACTION:
            strong.setdefault((s.l2, c * s.l2), []).append(s.path)
    if not strong:
        return
    optimizer._units_warned = True
    alpha = optimizer._alpha_peak
    example = next(iter(strong))[0]
    lines = []
    for (l2, fraction), paths in strong.items():
        shown = ", ".join(paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
        lines.append(f"  l2={l2:g} on {shown}: {fraction:.3g} of each weight per step at the "
                     f"peak, a timescale of {1 / fraction:.3g} applied steps")
    if optimizer.lr_scaled_decay:
        fix = ("lr_scaled_decay=True already scales it by the learning rate: use a "
               "smaller value, or give a Timescale(steps=...) of at least a few hundred "
               "steps.")
    else:
        ported = (f" (l2 times the learning rate: {example:g} * {alpha:g} = "
                  f"{example * alpha:.3g})" if alpha else "")
        normalized = (" (and total_iterations_wd=1: theirs is not normalized by the run's "
                      "length)" if optimizer.total_iterations or optimizer.total_iterations_wd
                      else "")
        fix = ("decays here are per applied step and not multiplied by the learning rate "
               "(the paper's units), so a value from torch.optim.AdamW or "
               "keras.optimizers.AdamW is about 1/learning rate times too strong here. To "
               f"keep such a value, add lr_scaled_decay=True{normalized}; or give its value "
               f"in these units{ported}, or a Timescale(epochs=..., steps_per_epoch=...).")
    warnings.warn("keras_adamw: a weight decay shrinks weights by more than "
                  f"{WARN_FRACTION:.0%} per step:\n" + "\n".join(lines) + "\n" + fix,
                  stacklevel=stacklevel)
