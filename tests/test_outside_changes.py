"""A change made from outside the step takes effect on the very next step, on every
backend: on eager PyTorch the step reads its state from host mirrors
(keras_adamw/state.py), which must notice ``t_cur.assign(0)``,
``iterations.assign(...)``, a checkpoint restore and a ``.keras`` load. Checked
against the NumPy reference, which is told of the same change."""

import copy

import numpy as np
import pytest

import keras
from helpers import ALGOS, gradient_stream, two_layer_model
from reference import Reference

MUS = {"a": 1.0, "b": 0.5}
DECAYS = {"a": (1e-3, 4e-2), "b": (0.0, 6e-2)}


def _pair(algo):
    cls, kwargs, lr, ref_kwargs = ALGOS[algo]
    model = two_layer_model()
    variables = model.trainable_variables
    opt = cls(learning_rate=lr, weight_decays=DECAYS, lr_multipliers=MUS,
              use_cosine_annealing=True, total_iterations=4, t_mult=2, init_verbose=False,
              **kwargs)
    ref = Reference("sgd" if algo.startswith("sgd") else algo, [v.numpy() for v in variables],
                    lr, [1.0, 0.5], [DECAYS["a"], DECAYS["b"]], annealing=True,
                    total_iterations=4, t_mult=2, norm="cycle", **ref_kwargs)
    return model, opt, ref


def _steps(opt, ref, variables, n, seed):
    for grads in gradient_stream(variables, n, seed=seed):
        opt.apply_gradients(zip(grads, variables))
        ref.step(grads)


def _same(variables, ref, what):
    for v, w in zip(variables, ref.w):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(v), w, rtol=1e-5, atol=1e-6,
                                   err_msg=what)


@pytest.mark.parametrize("algo", ["adam", "nadam", "sgd_momentum"])
def test_assignments_take_effect_on_the_next_step(algo):
    model, opt, ref = _pair(algo)
    variables = model.trainable_variables
    _steps(opt, ref, variables, 3, seed=1)
    opt.t_cur.assign(0)  # a manual restart
    ref.t_cur = 0
    _steps(opt, ref, variables, 1, seed=2)
    _same(variables, ref, "after t_cur.assign(0)")
    opt.iterations.assign(10)  # Adam's t, Nadam's momentum schedule
    ref.t = 10
    _steps(opt, ref, variables, 1, seed=3)
    _same(variables, ref, "after iterations.assign(10)")
    assert int(keras.ops.convert_to_numpy(opt.iterations)) == 11


@pytest.mark.parametrize("algo", ["adam", "nadam", "sgd_momentum"])
def test_a_checkpoint_restore_takes_effect_on_the_next_step(algo):
    """``load_own_variables`` (what a checkpoint or ``load_weights`` does) puts back
    every optimizer variable: the schedule state, iterations, u_product, the slots."""
    model, opt, ref = _pair(algo)
    variables = model.trainable_variables
    _steps(opt, ref, variables, 2, seed=1)
    store = {}
    opt.save_own_variables(store)
    weights = [v.numpy() for v in variables]
    saved_ref = copy.deepcopy(ref)
    _steps(opt, ref, variables, 3, seed=2)  # through a restart, then back
    opt.load_own_variables(store)
    for v, w in zip(variables, weights):
        v.assign(w)
    ref = saved_ref
    _steps(opt, ref, variables, 1, seed=3)
    _same(variables, ref, "after a checkpoint restore")


def test_a_keras_load_continues_the_run(tmp_path):
    model, opt, ref = _pair("nadam")
    model.compile(opt, loss="mse")
    variables = model.trainable_variables
    _steps(opt, ref, variables, 3, seed=1)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    variables = loaded.trainable_variables
    _steps(loaded.optimizer, ref, variables, 2, seed=2)
    _same(variables, ref, "after load_model")
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.t_cur)) == ref.t_cur == 1
