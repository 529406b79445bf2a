"""decay_follows_schedule: alpha_peak is read only where it is known for certain
(Keras' own schedule classes, exactly), else learning_rate_peak= or a ValueError at
construction; a constant learning rate warns without learning_rate_peak and, with it,
is followed as callbacks change it. tests/test_backends.py runs this file on JAX and
PyTorch."""

import warnings

import numpy as np
import pytest

import keras
from helpers import LINEAR_START, linear_fit, linear_gradients, linear_loss, linear_model
from reference import Reference

from keras_adamw import SGDW, AdamW

S = keras.optimizers.schedules


def peak(schedule, **kwargs):
    return AdamW(learning_rate=schedule, weight_decays=0.01, decay_follows_schedule=True,
                 init_verbose=False, **kwargs)._learning_rate_peak


def largest(schedule):
    """The schedule's largest value, by evaluation at every step where one of these
    reaches its peak (the ends of warmups and decays, inside each piece)."""
    steps = sorted(set(range(0, 61, 5)) | {8})
    return max(float(keras.ops.convert_to_numpy(schedule(t))) for t in steps)


KNOWN = {
    "cosine": lambda: S.CosineDecay(0.01, 50, alpha=0.1),
    "cosine_warmup": lambda: S.CosineDecay(0.0, 50, warmup_target=0.02, warmup_steps=10),
    "cosine_warmdown": lambda: S.CosineDecay(0.05, 50, warmup_target=0.02, warmup_steps=10),
    "cosine_rising_alpha": lambda: S.CosineDecay(0.01, 50, alpha=3.0),
    "polynomial": lambda: S.PolynomialDecay(0.05, 20, end_learning_rate=1e-3),
    "polynomial_warmup": lambda: S.PolynomialDecay(0.005, 8, end_learning_rate=0.05),
    "polynomial_cycle": lambda: S.PolynomialDecay(0.005, 8, end_learning_rate=0.05, cycle=True),
    "piecewise": lambda: S.PiecewiseConstantDecay([10, 20], [0.01, 0.03, 0.002]),
    "exponential": lambda: S.ExponentialDecay(0.02, 10, 0.5),
    "inverse_time": lambda: S.InverseTimeDecay(0.02, 10, 0.5),
    "restarts": lambda: S.CosineDecayRestarts(0.02, 10, m_mul=0.8),
}


@pytest.mark.parametrize("name", list(KNOWN))
def test_the_peak_of_keras_own_schedules_is_their_largest_value(name):
    schedule = KNOWN[name]()
    assert peak(schedule) == pytest.approx(largest(schedule), rel=1e-6)


class MyCosine(S.CosineDecay):
    """A subclass: its __call__ may do anything."""


class LinearWarmup(S.LearningRateSchedule):
    """A user's warmup whose `initial_learning_rate` is its start, not its peak."""

    def __init__(self, initial_learning_rate=1e-3, target=0.05, steps=8):
        self.initial_learning_rate, self.target, self.steps = initial_learning_rate, target, steps

    def __call__(self, step):
        done = keras.ops.minimum(keras.ops.cast(step, "float32") / self.steps, 1.0)
        return self.initial_learning_rate + (self.target - self.initial_learning_rate) * done

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "target": self.target,
                "steps": self.steps}


UNKNOWN = {
    "subclass": lambda: MyCosine(0.01, 50),
    "user_class": lambda: LinearWarmup(),
    "increasing_exponential": lambda: S.ExponentialDecay(0.01, 10, 1.5),
    "increasing_inverse_time": lambda: S.InverseTimeDecay(0.01, 10, -0.05),
    "growing_restarts": lambda: S.CosineDecayRestarts(0.01, 10, m_mul=1.2),
    "polynomial_negative_power": lambda: S.PolynomialDecay(0.01, 10, 1e-3, power=-1.0),
    "callable": lambda: (lambda: 0.01),
}


@pytest.mark.parametrize("name", list(UNKNOWN))
def test_other_schedules_need_learning_rate_peak(name):
    with pytest.raises(ValueError, match="learning_rate_peak"):
        peak(UNKNOWN[name]())
    assert peak(UNKNOWN[name](), learning_rate_peak=0.05) == 0.05


@pytest.mark.parametrize("schedule, kwargs", [
    (lambda: S.PolynomialDecay(0.0, 10, end_learning_rate=0.0), {}),
    (lambda: S.PiecewiseConstantDecay([5], [0.0, 0.0]), {}),
    (lambda: LinearWarmup(), {"learning_rate_peak": 0.0}),
    (lambda: 0.01, {"learning_rate_peak": -1.0}),
])
def test_a_peak_of_zero_or_less_is_an_error(schedule, kwargs):
    with pytest.raises(ValueError, match="alpha_peak|learning_rate_peak"):
        peak(schedule(), **kwargs)


def test_a_constant_learning_rate_without_a_peak_warns():
    with pytest.warns(UserWarning, match="learning_rate_peak"):
        assert peak(0.01) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        peak(0.01, learning_rate_peak=0.01)
        peak(KNOWN["cosine"]())


def _scheduled_fit(**kwargs):
    """SGDW on the linear fit case (helpers.py), learning rate 0.04, 0.02, 0.01 by epoch
    through LearningRateScheduler, decaying 0.1 * w (l2) and 0.01 * sign(w) (l1)."""
    model = linear_model()
    model.compile(SGDW(learning_rate=0.04, momentum=0.5, weight_decays={"d": (0.01, 0.1)},
                       decay_follows_schedule=True, init_verbose=False, **kwargs),
                  loss=linear_loss)
    model.set_weights(LINEAR_START)
    callback = keras.callbacks.LearningRateScheduler(lambda epoch: 0.04 / 2 ** epoch)
    linear_fit(model, 3, callbacks=[callback])
    return [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]


def _replay(alpha_peak):
    ref = Reference("sgd", LINEAR_START, lambda t: 0.04 / 2 ** (t // 2), [1.0, 1.0],
                    [(0.01, 0.1), (0.01, 0.1)], momentum=0.5, alpha_peak=alpha_peak)
    for grads in linear_gradients(3):
        ref.step(grads)
    return ref.w


@pytest.mark.parametrize("given", [None, 0.04])
def test_a_constant_learning_rate_is_followed_with_learning_rate_peak(given):
    """With learning_rate_peak, alpha_t is the learning rate the callback set; without,
    the decay stays fixed (and construction warned)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = _scheduled_fit(**({} if given is None else {"learning_rate_peak": given}))
    for v, w in zip(ours, _replay(given)):
        np.testing.assert_allclose(v, w, rtol=2e-5, atol=2e-6)
