"""decay_follows_schedule (the decay also follows a learning-rate schedule's shape,
alpha_t / alpha_peak) and decay_toward (decay toward w0, L2-SP): the NumPy reference's
trajectory on every backend (tests/test_backends.py runs this file on JAX and PyTorch;
there the whole-step kernels must do the step), exact resume, a model= re-creation,
and the bad-input errors."""

import math

import numpy as np
import pytest

import keras
from helpers import ALGOS, compare_with_reference, gradient_stream, resumed_runs, two_layer_model
from reference import Reference

from keras_adamw import AdamW

DECAYS = {"a": (2e-3, 5e-2), "b": (1e-3, 8e-2)}
MUS = {"a": 1.0, "b": 0.5}
STEPS = 16


def cosine_with_warmup(step, initial=0.0, target=1e-2, warmup=4, decay_steps=12, alpha=0.1):
    """Keras' CosineDecay as its documentation writes it: a linear warmup from
    ``initial`` to ``target``, then target * ((1 - alpha) * cosine + alpha)."""
    if step < warmup:
        return initial + (target - initial) * step / warmup
    done = min((step - warmup) / decay_steps, 1.0)
    return target * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * done)) + alpha)


def polynomial(step, initial=1e-2, decay_steps=12, end=1e-3, power=2.0):
    """Keras' PolynomialDecay as documented (no cycle)."""
    return (initial - end) * (1 - min(step, decay_steps) / decay_steps) ** power + end


SCHEDULES = {
    "cosine_warmup": (lambda: keras.optimizers.schedules.CosineDecay(
        0.0, 12, alpha=0.1, warmup_target=1e-2, warmup_steps=4), cosine_with_warmup, 1e-2),
    "polynomial": (lambda: keras.optimizers.schedules.PolynomialDecay(
        1e-2, 12, end_learning_rate=1e-3, power=2.0), polynomial, 1e-2),
    # an increasing schedule (a warmup): its peak is its end, 5e-2
    "polynomial_warmup": (lambda: keras.optimizers.schedules.PolynomialDecay(
        5e-3, 8, end_learning_rate=5e-2, power=1.0),
        lambda step: polynomial(step, 5e-3, 8, 5e-2, 1.0), 5e-2),
}


@pytest.mark.parametrize("restarts", [False, True])
@pytest.mark.parametrize("schedule", list(SCHEDULES))
@pytest.mark.parametrize("algo", ["adam", "nadam", "sgd_momentum"])
def test_decay_follows_the_schedule(algo, schedule, restarts, no_per_variable_step_on_torch):
    cls, kwargs, _, ref_kwargs = ALGOS[algo]
    make, formula, peak = SCHEDULES[schedule]
    annealing = dict(use_cosine_annealing=True, total_iterations=6, t_mult=2) if restarts else {}
    model = two_layer_model()
    variables = model.trainable_variables
    opt = cls(learning_rate=make(), weight_decays=DECAYS, lr_multipliers=MUS,
              decay_follows_schedule=True, init_verbose=False, **annealing, **kwargs)
    ref = Reference("sgd" if algo.startswith("sgd") else algo, [v.numpy() for v in variables],
                    formula, [1.0, 0.5], [DECAYS["a"], DECAYS["b"]], alpha_peak=peak,
                    annealing=restarts, total_iterations=6 if restarts else None, t_mult=2,
                    norm="cycle" if restarts else None, **ref_kwargs)
    compare_with_reference(opt, ref, variables, what=f"{algo} {schedule} restarts={restarts}")


def test_a_constant_learning_rate_changes_nothing():
    runs = []
    for follows in (False, True):
        model = two_layer_model()
        opt = AdamW(learning_rate=1e-2, weight_decays=DECAYS, decay_follows_schedule=follows,
                    init_verbose=False)
        for grads in gradient_stream(model.trainable_variables, 5):
            opt.apply_gradients(zip(grads, model.trainable_variables))
        runs.append([v.numpy() for v in model.trainable_variables])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("toward", ["initial", "dict"])
@pytest.mark.parametrize("algo", ["adam", "nadam", "sgd_momentum"])
def test_decay_toward_the_initial_weights(algo, toward, no_per_variable_step_on_torch):
    """w0 is the weights when the optimizer is built; the dict sends the head (b) to
    zero. With restarts and normalization, l1 and l2."""
    cls, kwargs, lr, ref_kwargs = ALGOS[algo]
    model = two_layer_model()
    variables = model.trainable_variables
    w0 = [v.numpy() for v in variables]
    arg = "initial" if toward == "initial" else {"a": "initial", "b": "zero"}
    opt = cls(learning_rate=lr, weight_decays=DECAYS, lr_multipliers=MUS, decay_toward=arg,
              use_cosine_annealing=True, total_iterations=6, t_mult=2, init_verbose=False,
              **kwargs)
    ref = Reference("sgd" if algo.startswith("sgd") else algo, w0, lr, [1.0, 0.5],
                    [DECAYS["a"], DECAYS["b"]], annealing=True, total_iterations=6, t_mult=2,
                    norm="cycle", anchors=[w0[0], w0[1] if toward == "initial" else None],
                    **ref_kwargs)
    compare_with_reference(opt, ref, variables, what=f"{algo} toward={toward}")
    assert [s.toward for s in opt.plan.settings] == (
        ["initial", "initial"] if toward == "initial" else ["initial", "zero"])


def test_both_options_together_with_lr_groups():
    model = two_layer_model()
    variables = model.trainable_variables
    w0 = [v.numpy() for v in variables]
    make, formula, peak = SCHEDULES["cosine_warmup"]
    opt = AdamW(learning_rate=make(), weight_decays=DECAYS, lr_multipliers=MUS,
                decay_toward={"a": "initial"}, decay_follows_schedule=True, init_verbose=False)
    ref = Reference("adam", w0, formula, [1.0, 0.5], [DECAYS["a"], DECAYS["b"]],
                    alpha_peak=peak, anchors=[w0[0], None])
    compare_with_reference(opt, ref, variables)


def _resume_optimizer():
    make, _, _ = SCHEDULES["cosine_warmup"]
    return AdamW(learning_rate=make(), weight_decays={"body": 0.05, "head": (1e-3, 0.02)},
                 decay_toward={"body": "initial"}, decay_follows_schedule=True,
                 use_cosine_annealing=True, total_iterations=3, t_mult=2, init_verbose=False)


@pytest.mark.parametrize("how", ["keras", "checkpoint"])
def test_exact_resume_mid_run(how, tmp_path):
    straight, second = resumed_runs(_resume_optimizer, how, tmp_path)
    for a, b in zip(straight.trainable_variables, second.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    anchors = [a for a in second.optimizer._anchors if a is not None]
    assert len(anchors) == 2  # body kernel and bias: w0 restored, not retaken
    np.testing.assert_allclose(anchors[0].numpy(), straight.optimizer._anchors[0].numpy())


def test_decay_toward_across_a_model_recreation():
    """A second AdamW(model=m) (a re-run cell, a recompile after unfreezing) reads the
    same declared decays, and its w0 is the weights at its first update."""
    inp = keras.Input((4,))
    out = keras.layers.Dense(3, name="d", kernel_regularizer=keras.regularizers.L2(0.1))(inp)
    model = keras.Model(inp, out)
    variables = model.trainable_variables
    for _ in range(2):
        opt = AdamW(model=model, learning_rate=1e-2, decay_toward="initial",
                    init_verbose=False)
        w0 = [v.numpy() for v in variables]
        ref = Reference("adam", w0, 1e-2, [1.0, 1.0], [(0.0, 0.1), (0.0, 0.0)],
                        anchors=[w0[0], None])
        compare_with_reference(opt, ref, variables, steps=4)
        assert opt.setting_of(variables[0]).l2 == 0.1


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(learning_rate=lambda: 0.1, decay_follows_schedule=True), ValueError,
     "learning_rate_peak"),
    (dict(learning_rate_peak=0.1), ValueError, "decay_follows_schedule"),
    (dict(decay_follows_schedule=True, learning_rate_peak=0.0), ValueError,
     "learning_rate_peak"),
    (dict(decay_toward="pretrained"), ValueError, "decay_toward"),
    (dict(decay_toward={"a": "start"}), ValueError, "decay_toward"),
    (dict(decay_toward=["initial"]), TypeError, "decay_toward"),
    (dict(decay_follows_schedule="yes"), TypeError, "decay_follows_schedule"),
])
def test_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        AdamW(init_verbose=False, **kwargs)


def test_a_decay_toward_key_that_matches_nothing_is_an_error_at_build():
    opt = AdamW(weight_decays=0.1, decay_toward={"bakbone": "initial"}, init_verbose=False)
    with pytest.raises(ValueError, match="bakbone"):
        opt.build(two_layer_model().trainable_variables)


def test_config_round_trip():
    opt = AdamW(learning_rate=SCHEDULES["polynomial"][0](), decay_follows_schedule=True,
                decay_toward={"a": "initial"}, weight_decays=0.1, init_verbose=False)
    config = opt.get_config()
    assert config["decay_toward"] == {"a": "initial"} and config["decay_follows_schedule"]
    again = AdamW.from_config(config)
    assert again.decay_toward == {"a": "initial"} and again._learning_rate_peak == 1e-2


def test_fit_builds_w0_from_the_weights():
    """fit() builds the optimizer inside its first traced step on TensorFlow: w0 must
    still be the weights' values (a regression: it stayed 0 there)."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="body")])
    start = [keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables]
    opt = AdamW(learning_rate=1e-2, weight_decays=0.1, decay_toward="initial",
                init_verbose=False)
    model.compile(opt, loss="mse")
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 3), "float32"), verbose=0, epochs=2)
    for anchor, w0 in zip(opt._anchors, start):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(anchor), w0)
