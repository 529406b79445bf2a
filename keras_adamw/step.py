"""The per-step scalars, computed once per applied step for every kernel family, and
for the logger, the preview and the ``init_verbose`` table.

For the step with schedule state (t_cur, T_i, i) and learning rate alpha_t:

    eta_t   = schedule.multiplier(t_cur, T_i, i)   (1 without use_cosine_annealing)
    s       = sqrt(1 / T_norm)                     (1 without normalization)
    c       = eta_t * s                            (the decay scale; s alone with
                                                    lr_scaled_decay, whose lr holds eta_t)
    c       = c * alpha_t / alpha_peak             (decay_follows_schedule)
    c       = c * eta_t / eta_max                  (both: corrected decay, AdamC: c * lr_mu
                                                    = gamma_t * (gamma_t / gamma_max) * s,
                                                    gamma_t = alpha_t eta_t mu)
    lr_mu   = eta_t * mu * alpha_t                 (each learning-rate group)
    a1, a2  = c * l1, c * l2                       (each decay group, times lr_mu with
                                                    lr_scaled_decay; c / s for a decay
                                                    given as a Timescale)

A variable w of a decay group then loses ``a1 * sign(d) + a2 * d`` with d = w (or
d = w - w0 with ``decay_toward="initial"``; w before the step) and gets the base
update with ``lr_mu``. Python numbers in give floats out
(eager PyTorch, the views); tensors in give tensors, so it runs inside a compiled
train step on every backend.
"""

import math
import sys
from typing import Dict, Optional, Tuple

from . import schedule
from ._keras import keras, ops

__all__ = ["schedule_scalars", "normalization", "schedule_peak", "is_constant", "Step",
           "step_values"]


def schedule_scalars(optimizer, t_cur, cycle_length, cycle=0):
    """(eta_t, c) of the step with ``t_cur`` steps of cycle ``cycle`` (of length
    ``cycle_length``) behind it; see the module docstring."""
    return _scalars(optimizer, t_cur, cycle_length, cycle)[:2]


def _scalars(optimizer, t_cur, cycle_length, cycle=0):
    """(eta_t, c, s): ``schedule_scalars`` and the normalization s in c."""
    eta = (schedule.multiplier(t_cur, cycle_length, cycle, optimizer._shape)
           if optimizer.use_cosine_annealing else 1.0)
    s = normalization(optimizer, cycle_length)
    if not optimizer.lr_scaled_decay:
        return eta, eta * s, s
    if optimizer.decay_follows_schedule and optimizer.use_cosine_annealing:
        # corrected decay: c * lr_mu = gamma_t * (gamma_t / gamma_max) * s; the
        # alpha_t / alpha_peak part is _follow's
        return eta, (s * eta / optimizer.eta_max if optimizer.eta_max else 0.0 * eta), s
    return eta, s, s


def _known_peak(schedule) -> Optional[float]:
    """alpha_peak of one of Keras' or tf_keras' own schedule classes (exactly those
    classes, not subclasses), where its formula gives the largest value it takes; None
    where it does not (an increasing ExponentialDecay or InverseTimeDecay, a
    CosineDecayRestarts whose peaks grow, any other class)."""
    get = lambda name: float(getattr(schedule, name))  # noqa: E731
    name = type(schedule).__name__
    if name == "CosineDecay":  # warmup from initial to target, then cosine to alpha*target
        target = schedule.warmup_target
        warmup = target is not None and schedule.warmup_steps > 0
        target = get("initial_learning_rate") if target is None else float(target)
        return max([target, target * get("alpha")]
                   + ([get("initial_learning_rate")] if warmup else []))
    if name == "PolynomialDecay":  # from initial to end (power > 0: between them)
        if get("power") <= 0:
            return None
        return max(get("initial_learning_rate"), get("end_learning_rate"))
    if name == "PiecewiseConstantDecay":
        return max(float(v) for v in schedule.values)
    if name == "ExponentialDecay":  # initial * rate^(t / steps)
        return get("initial_learning_rate") if 0 <= get("decay_rate") <= 1 else None
    if name == "InverseTimeDecay":  # initial / (1 + rate * t / steps)
        return get("initial_learning_rate") if get("decay_rate") >= 0 else None
    if name == "CosineDecayRestarts":  # cycle i: initial * m_mul^i, down to alpha times it
        if 0 <= get("_m_mul") <= 1:
            return get("initial_learning_rate") * max(1.0, get("alpha"))
    return None


def _own_schedule_classes() -> tuple:
    """The schedule classes of Keras 3 (``keras.optimizers.schedules``, also
    ``tensorflow.keras``'s) and of tf_keras where it is imported."""
    modules = [keras.optimizers.schedules]
    if "tf_keras" in sys.modules:
        modules.append(sys.modules["tf_keras"].optimizers.schedules)
    return tuple(klass for module in modules for klass in vars(module).values()
                 if isinstance(klass, type))


def is_constant(learning_rate) -> bool:
    """A number or a variable (what a callback may change), not a schedule."""
    return not callable(learning_rate) or hasattr(learning_rate, "numpy") or hasattr(
        learning_rate, "assign")


def normalization(optimizer, cycle_length):
    """s = sqrt(1 / T_norm): T_norm = total_iterations_wd, else the cycle length (with
    total_iterations), else no normalization (1.0)."""
    if optimizer.total_iterations_wd is not None:
        return schedule.normalization_scale(optimizer.total_iterations_wd)
    if optimizer.total_iterations is not None:
        return schedule.normalization_scale(cycle_length)
    return 1.0


def schedule_peak(learning_rate, given=None) -> Optional[float]:
    """alpha_peak for ``decay_follows_schedule``: ``given`` (``learning_rate_peak``);
    else, for a schedule, its largest value where Keras' or tf_keras' own class says it
    for certain (``_known_peak``); else a ValueError that asks for
    ``learning_rate_peak``. None for a constant learning rate without one (then the
    decay does not follow it; the caller warns). A peak <= 0 is a ValueError."""
    if given is not None:
        peak = float(given)
    elif is_constant(learning_rate):
        return None
    else:
        peak = (_known_peak(learning_rate) if type(learning_rate) in _own_schedule_classes()
                else None)
        if peak is None:
            raise ValueError(
                "`decay_follows_schedule=True` needs alpha_peak, the largest learning "
                f"rate the schedule reaches, and {type(learning_rate).__name__} does not "
                "say it for certain (only Keras' and tf_keras' own schedule classes, "
                "decreasing or with their peak in their arguments, do): pass "
                "learning_rate_peak=<that largest learning rate>.")
    if not peak > 0:
        raise ValueError(
            f"`decay_follows_schedule=True` divides the decay by alpha_peak, the largest "
            f"learning rate; got alpha_peak={peak!r}"
            f"{' (learning_rate_peak)' if given is not None else ' from the schedule'}: "
            "it must be > 0.")
    return peak


def _cast(value, dtype):
    if dtype is None or isinstance(value, (int, float)):
        return value
    return ops.cast(value, dtype)


class Step:
    """One applied step's scalars: eta_t, c, and (once each, on first use) the
    learning rate of each multiplier and the coefficients of each decay group, cast
    to the dtype a kernel asks for. Values of this step, never state."""

    def __init__(self, eta, decay_scale, learning_rate, lr_scaled_decay: bool, norm=1.0):
        self.eta = eta
        self.decay_scale = decay_scale
        #: s, the normalization in decay_scale (a Timescale's decay is without it)
        self.norm = norm
        #: alpha_t * eta_t: the learning rate of mu = 1
        self.learning_rate = learning_rate
        self.lr_scaled_decay = lr_scaled_decay
        self._memo: Dict[tuple, object] = {}

    def lr(self, mu: float, dtype=None):
        """lr_mu = eta_t * mu * alpha_t."""
        key = ("lr", mu, dtype)
        if key not in self._memo:
            lr = _cast(self.learning_rate, dtype)
            self._memo[key] = lr if mu == 1.0 else lr * mu
        return self._memo[key]

    def decay(self, mu: float, l1: float, l2: float, dtype=None, normalized: bool = True
              ) -> Tuple:
        """(a1, a2) = (c l1, c l2), times lr_mu with lr_scaled_decay; None for a zero
        factor. ``normalized=False`` (a decay given as a Timescale): c / s, the same
        shrink in every cycle."""
        key = ("decay", mu, l1, l2, dtype, normalized)
        if key not in self._memo:
            c = self.decay_scale if normalized else _unnormalized(self.decay_scale, self.norm)
            c = _cast(c, dtype)
            if self.lr_scaled_decay:
                c = c * self.lr(mu, dtype)
            self._memo[key] = (c * l1 if l1 else None, c * l2 if l2 else None)
        return self._memo[key]


def _unnormalized(c, s):
    if isinstance(s, (int, float)):
        return c / s if s != 1.0 else c
    return ops.divide(c, ops.cast(s, "float32"))


def _follow(optimizer, c, alpha):
    """c * alpha_t / alpha_peak with decay_follows_schedule (and a peak), else c."""
    peak = getattr(optimizer, "_learning_rate_peak", None)
    if not optimizer.decay_follows_schedule or peak is None:
        return c
    if isinstance(alpha, (int, float)):
        return c * alpha / peak
    return ops.multiply(ops.cast(alpha, "float32"), c / peak)


def begin(optimizer, state, learning_rate) -> Step:
    """The step's scalars from its schedule state and Keras' learning rate alpha_t."""
    eta, c, norm = _scalars(optimizer, *state)
    c = _follow(optimizer, c, learning_rate)
    if not isinstance(eta, float):
        eta = ops.cast(eta, "float32")
    if optimizer.use_cosine_annealing:
        learning_rate = (learning_rate * eta if isinstance(eta, float)
                         else ops.multiply(ops.cast(learning_rate, "float32"), eta))
    return Step(eta, c, learning_rate, optimizer.lr_scaled_decay, norm)


def step_values(optimizer, state, alpha) -> Dict[str, object]:
    """What the step with schedule ``state`` (Python ints) and learning rate alpha
    uses, by the logger's keys: ``eta_t``, ``lr`` (alpha_t * eta_t), ``lr_mu=<mu>`` for
    each other multiplier, ``decay_l2=<l2>`` / ``decay_l1=<l1>`` (a2, a1 above) and
    ``timescale_l2=<l2>`` (1 / a2, applied steps) for each decay group (suffixed
    ``_mu=<mu>`` with lr_scaled_decay, ``_to_w0`` toward w0, ``_cautious`` with
    cautious_decay: then a2 is what an element the mask keeps loses). alpha is a number, or a
    device value (a schedule's): then the values that depend on it are tensors, not
    read."""
    state = tuple(int(x) for x in state)
    eta, c, norm = (float(x) for x in _scalars(optimizer, *state))
    if isinstance(alpha, (int, float)):
        alpha = float(alpha)
    step = Step(eta, _follow(optimizer, c, alpha), alpha * eta, optimizer.lr_scaled_decay, norm)
    values = {"eta_t": step.eta, "lr": step.learning_rate}
    multipliers, decays = _groups(optimizer)
    for mu in multipliers:
        if mu != 1.0:
            values[f"lr_mu={mu:g}"] = step.lr(mu)
    for mu, l1, l2, toward, timescale in decays:
        a1, a2 = step.decay(mu, l1, l2, normalized=not timescale)
        suffix = (f"_mu={mu:g}" if optimizer.lr_scaled_decay else "") + (
            "_to_w0" if toward == "initial" else "") + (
            "_cautious" if optimizer.cautious_decay else "")
        if a2 is not None:
            values[f"decay_l2={l2:g}{suffix}"] = a2
            # the timescale of this step's decay: applied steps to shrink w by e
            values[f"timescale_l2={l2:g}{suffix}"] = (
                (1.0 / a2 if a2 else math.inf) if isinstance(a2, float) else 1.0 / a2)
        if a1 is not None:
            values[f"decay_l1={l1:g}{suffix}"] = a1
    return values


def _groups(optimizer):
    """The multipliers and (mu, l1, l2) decay groups: the plan's after build, else
    what the arguments say (before build the variables are not known)."""
    if optimizer.plan is not None:
        return optimizer.plan.multipliers, optimizer.plan.decays
    multipliers = (1.0,) + tuple((optimizer.lr_multipliers or {}).values())
    decays = optimizer._user_decays
    toward = optimizer.decay_toward if isinstance(optimizer.decay_toward, str) else "zero"
    if decays is None:
        return multipliers, ()
    pairs = decays.values() if isinstance(decays, dict) else [(0.0, decays)]
    pairs = [(l1, l2, False) if isinstance(l2, float) else
             (l1, optimizer._timescale_l2(l2, 1.0), True) for l1, l2 in pairs]
    return multipliers, tuple(dict.fromkeys((1.0, l1, l2, toward, t) for l1, l2, t in pairs
                                            if l1 or l2))
