"""Cautious decay (Chen et al. 2025) and corrected decay (AdamC, Defazio 2025) against
the NumPy reference: with restarts, l1, lr groups, decay toward w0, in fit() under mixed
precision, and through an exact resume; their errors and what the views say.
tests/test_bases.py checks every base with them; tests/test_backends.py runs this file
on JAX and PyTorch."""

import math

import numpy as np
import pytest

import keras
from helpers import (ALGOS, LINEAR_START, compare_with_reference, linear_fit,
                     linear_gradients, linear_loss, linear_model, resume_model, resumed_runs,
                     two_layer_model)
from reference import Reference

from keras_adamw import AdamW, SGDW, preview_schedule

DECAYS = {"a": (2e-3, 5e-2), "b": (1e-3, 8e-2)}
MUS = {"a": 1.0, "b": 0.5}
RESTARTS = dict(use_cosine_annealing=True, total_iterations=6, t_mult=2)
S = keras.optimizers.schedules


def warmup_cosine():
    return S.CosineDecay(0.0, 12, alpha=0.1, warmup_target=1e-2, warmup_steps=4)


def warmup_cosine_formula(step):
    """Keras' CosineDecay as documented: a linear warmup, then a cosine to alpha."""
    if step < 4:
        return 1e-2 * step / 4
    done = min((step - 4) / 12, 1.0)
    return 1e-2 * (0.9 * 0.5 * (1 + math.cos(math.pi * done)) + 0.1)


@pytest.mark.parametrize("toward", ["zero", "initial"])
@pytest.mark.parametrize("algo", ["adam", "nadam", "sgd_momentum", "sgd_nesterov"])
def test_cautious_decay_with_restarts_groups_l1_and_w0(algo, toward,
                                                       no_per_variable_step_on_torch):
    cls, kwargs, lr, ref_kwargs = ALGOS[algo]
    model = two_layer_model()
    variables = model.trainable_variables
    w0 = [keras.ops.convert_to_numpy(v) for v in variables]
    opt = cls(learning_rate=lr, weight_decays=DECAYS, lr_multipliers=MUS, decay_toward=toward,
              cautious_decay=True, init_verbose=False, **RESTARTS, **kwargs)
    ref = Reference("sgd" if algo.startswith("sgd") else algo, w0, lr, [1.0, 0.5],
                    [DECAYS["a"], DECAYS["b"]], annealing=True, total_iterations=6, t_mult=2,
                    norm="cycle", cautious=True,
                    anchors=[w0[0], w0[1]] if toward == "initial" else None, **ref_kwargs)
    compare_with_reference(opt, ref, variables, what=f"{algo} toward={toward}")


@pytest.mark.parametrize("cautious", [False, True])
@pytest.mark.parametrize("algo", ["adam", "nadam", "sgd_momentum"])
def test_corrected_decay_follows_the_squared_learning_rate(algo, cautious,
                                                           no_per_variable_step_on_torch):
    """lr_scaled_decay with decay_follows_schedule: the decay is gamma_t * (gamma_t /
    gamma_max) * s * (l1 sign(w) + l2 w), gamma_t = alpha_t eta_t mu (a warmup-cosine
    schedule and restarts)."""
    cls, kwargs, _, ref_kwargs = ALGOS[algo]
    model = two_layer_model()
    variables = model.trainable_variables
    opt = cls(learning_rate=warmup_cosine(), weight_decays=DECAYS, lr_multipliers=MUS,
              lr_scaled_decay=True, decay_follows_schedule=True, cautious_decay=cautious,
              init_verbose=False, **RESTARTS, **kwargs)
    ref = Reference("sgd" if algo.startswith("sgd") else algo,
                    [keras.ops.convert_to_numpy(v) for v in variables], warmup_cosine_formula,
                    [1.0, 0.5], [DECAYS["a"], DECAYS["b"]], annealing=True,
                    total_iterations=6, t_mult=2, norm="cycle", lr_scaled=True,
                    alpha_peak=1e-2, corrected=True, cautious=cautious, **ref_kwargs)
    compare_with_reference(opt, ref, variables, what=f"{algo} cautious={cautious}")


def test_corrected_decay_is_the_lr_scaled_decay_times_gamma_over_gamma_max():
    """The views agree: the decay per step is lr-scaled decay's times alpha_t eta_t /
    (alpha_peak eta_max)."""
    common = dict(learning_rate=warmup_cosine(), weight_decays=0.05, lr_scaled_decay=True,
                  init_verbose=False, **RESTARTS)
    scaled = preview_schedule(AdamW(**common), 12)
    corrected = preview_schedule(AdamW(decay_follows_schedule=True, **common), 12)
    gamma = corrected["lr"]
    np.testing.assert_allclose(corrected["decay_l2=0.05_mu=1"],
                               scaled["decay_l2=0.05_mu=1"] * gamma / 1e-2, rtol=1e-6)


@pytest.fixture
def mixed_precision():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    yield
    keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.parametrize("options", ["cautious", "corrected"])
def test_in_fit_under_mixed_precision(options, mixed_precision):
    """The linear fit case (helpers.py: gradients exact in float16), through Keras'
    LossScaleOptimizer, decay toward w0 on the kernel."""
    if options == "cautious":
        ours = dict(cautious_decay=True)
        theirs = dict(cautious=True)
    else:
        ours = dict(lr_scaled_decay=True, decay_follows_schedule=True, learning_rate_peak=0.05)
        theirs = dict(lr_scaled=True, corrected=True, alpha_peak=0.05)
    decays = {"d/kernel": (1e-3, 0.05), "d/bias": (0.0, 0.02)}
    model = linear_model()
    model.compile(SGDW(learning_rate=0.05, momentum=0.9, weight_decays=decays,
                       decay_toward={"kernel": "initial"}, init_verbose=False,
                       use_cosine_annealing=True, total_iterations=3, **ours),
                  loss=linear_loss)
    model.set_weights(LINEAR_START)
    linear_fit(model, 3)
    ref = Reference("sgd", LINEAR_START, 0.05, [1.0, 1.0], list(decays.values()),
                    momentum=0.9, annealing=True, total_iterations=3, norm="cycle",
                    anchors=[LINEAR_START[0], None], **theirs)
    for grads in linear_gradients(3):
        ref.step(grads)
    for v, w in zip(model.trainable_variables, ref.w):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(v), w, rtol=2e-5, atol=2e-6)


def _optimizer(init_verbose=False):
    return AdamW(learning_rate=warmup_cosine(), weight_decays={"body": 0.05, "head": (1e-3, 0.02)},
                 decay_toward={"body": "initial"}, lr_scaled_decay=True,
                 decay_follows_schedule=True, cautious_decay=True, init_verbose=init_verbose,
                 use_cosine_annealing=True, total_iterations=3, t_mult=2)


def test_exact_resume_through_a_keras_file(tmp_path):
    straight, second = resumed_runs(_optimizer, "keras", tmp_path)
    assert second.optimizer.cautious_decay and second.optimizer.decay_follows_schedule
    for a, b in zip(straight.trainable_variables, second.trainable_variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(b), keras.ops.convert_to_numpy(a),
                                   rtol=1e-6, atol=1e-7)


def test_the_views_say_which_decay(capsys):
    model = resume_model()
    opt = _optimizer(init_verbose=True)
    opt.build(model.trainable_variables)
    title = capsys.readouterr().out.splitlines()[0]
    assert "corrected (AdamC) decay, cautious" in title
    keys = list(preview_schedule(opt, 1))
    assert any(k.startswith("decay_l2=") and k.endswith("_cautious") for k in keys), keys


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_cautious_decay_must_be_a_boolean(value):
    with pytest.raises(TypeError, match="cautious_decay"):
        AdamW(cautious_decay=value, init_verbose=False)
