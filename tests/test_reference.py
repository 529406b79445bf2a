"""Step-by-step agreement with the NumPy reference written from the papers."""

import math

import numpy as np
import pytest

import keras
from helpers import ALGOS, DECAYS, MUS, STEPS, T0, T_MULT, gradient_stream, two_layer_model
from reference import Reference, sgdr_multiplier

from keras_adamw import AdamW, NadamW, SGDW, decoupled



def run_both(algo, lr_scaled, norm, steps=STEPS, annealing=True, lr=None, **extra):
    cls, base_kwargs, default_lr, ref_kwargs = ALGOS[algo]
    lr = default_lr if lr is None else lr
    model = two_layer_model()
    variables = model.trainable_variables
    paths = [v.path for v in variables]
    ref = Reference(
        "sgd" if algo.startswith("sgd") else algo,
        [v.numpy() for v in variables], lr,
        [MUS[p] for p in paths], [DECAYS[p] for p in paths],
        annealing=annealing, total_iterations=T0, t_mult=T_MULT, eta_min=0.05,
        eta_max=1.0, norm=norm, lr_scaled=lr_scaled, **ref_kwargs)
    opt = cls(learning_rate=lr, weight_decays=DECAYS, lr_multipliers=MUS,
              use_cosine_annealing=annealing, total_iterations=T0, t_mult=T_MULT,
              eta_min=0.05, eta_max=1.0, lr_scaled_decay=lr_scaled,
              total_iterations_wd=norm if isinstance(norm, int) else None,
              init_verbose=False, **base_kwargs, **extra)
    etas, t_curs = [], []
    for grads in gradient_stream(variables, steps):
        etas.append(float(opt.eta_t))
        opt.apply_gradients(zip(grads, variables))
        ref.step(grads)
        t_curs.append((int(opt.t_cur.numpy()), ref.t_cur))
        for v, w in zip(variables, ref.w):
            np.testing.assert_allclose(v.numpy(), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(etas, ref.etas, rtol=1e-6, atol=1e-7)
    assert all(a == b for a, b in t_curs)
    return opt, ref


@pytest.mark.parametrize("algo", list(ALGOS))
@pytest.mark.parametrize("lr_scaled", [False, True])
def test_trajectory_matches_reference(algo, lr_scaled):
    """50 steps, two restarts with t_mult=2, two multipliers, l1 and l2, T_norm = T_i."""
    opt, ref = run_both(algo, lr_scaled, norm="cycle")
    # The reference really went through two restarts and the third cycle.
    assert ref.cycle == 40 and ref.t_cur == 20
    assert int(opt.t_cur.numpy()) == 20


@pytest.mark.parametrize("algo", ["adam", "sgd_momentum"])
@pytest.mark.parametrize("norm", [None, 25])
def test_normalization_modes(algo, norm):
    """T_norm from total_iterations_wd, and no normalization at all."""
    if norm is None:
        # No total_iterations_wd and no total_iterations: s = 1.
        cls, base_kwargs, lr, ref_kwargs = ALGOS[algo]
        model = two_layer_model()
        variables = model.trainable_variables
        paths = [v.path for v in variables]
        ref = Reference("sgd" if algo.startswith("sgd") else algo,
                        [v.numpy() for v in variables], lr, [MUS[p] for p in paths],
                        [DECAYS[p] for p in paths], norm=None, **ref_kwargs)
        opt = cls(learning_rate=lr, weight_decays=DECAYS, lr_multipliers=MUS,
                  init_verbose=False, **base_kwargs)
        for grads in gradient_stream(variables, 20):
            opt.apply_gradients(zip(grads, variables))
            ref.step(grads)
        for v, w in zip(variables, ref.w):
            np.testing.assert_allclose(v.numpy(), w, rtol=1e-5, atol=1e-6)
    else:
        run_both(algo, lr_scaled=False, norm=norm, steps=STEPS)


def test_learning_rate_schedule_is_multiplied_by_eta():
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=7, decay_rate=0.5)
    cls, base_kwargs, _, ref_kwargs = ALGOS["adam"]
    model = two_layer_model()
    variables = model.trainable_variables
    paths = [v.path for v in variables]
    ref = Reference("adam", [v.numpy() for v in variables],
                    lambda t: 1e-2 * 0.5 ** (t / 7),  # ExponentialDecay, written out
                    [MUS[p] for p in paths], [DECAYS[p] for p in paths], annealing=True,
                    total_iterations=T0, t_mult=T_MULT, norm="cycle", lr_scaled=True)
    opt = AdamW(learning_rate=schedule, weight_decays=DECAYS, lr_multipliers=MUS,
                use_cosine_annealing=True, total_iterations=T0, t_mult=T_MULT,
                lr_scaled_decay=True, init_verbose=False)
    for grads in gradient_stream(variables, 30):
        opt.apply_gradients(zip(grads, variables))
        ref.step(grads)
    for v, w in zip(variables, ref.w):
        np.testing.assert_allclose(v.numpy(), w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("algo", ["adam", "nadam"])
def test_epsilon_placement_with_gradients_of_its_size(algo):
    """Gradients of about epsilon's size make sqrt(v_hat) comparable to epsilon, so
    Keras' epsilon placement (outside the bias correction) shows: the fast paths
    (TensorFlow's kernels, torch's fused and multi-tensor forms) rescale epsilon,
    and a wrong rescaling changes these steps by a large factor."""
    cls, base_kwargs, lr, ref_kwargs = ALGOS[algo]
    model = two_layer_model()
    variables = model.trainable_variables
    ref = Reference(algo, [v.numpy() for v in variables], lr, [1.0, 1.0],
                    [(0.0, 0.0), (0.0, 0.0)], **ref_kwargs)
    opt = cls(learning_rate=lr, init_verbose=False, **base_kwargs)
    for grads in gradient_stream(variables, 10, scale=1e-7):
        opt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], variables))
        ref.step(grads)
    for v, w in zip(variables, ref.w):
        np.testing.assert_allclose(v.numpy(), w, rtol=1e-5, atol=1e-6)


def test_reference_is_not_trivially_equal():
    """The checks above can fail: the decay and the schedule change the weights."""
    _, decayed = run_both("adam", False, "cycle", steps=12)
    model = two_layer_model()
    variables = model.trainable_variables
    plain = Reference("adam", [v.numpy() for v in variables], 1e-2, [1, 1], [(0, 0), (0, 0)])
    for grads in gradient_stream(variables, 12):
        plain.step(grads)
    assert max(np.abs(a - b).max() for a, b in zip(decayed.w, plain.w)) > 1e-2


@pytest.mark.parametrize("cls", [AdamW, SGDW, NadamW])
@pytest.mark.parametrize("lr", [1e-4, 1e-1, 10.0])
def test_zero_gradients_decay_is_independent_of_learning_rate(cls, lr):
    """With g = 0, w_T = w_0 * prod_t (1 - eta_t * l2 * s), whatever alpha is."""
    model = two_layer_model()
    variables = model.trainable_variables
    w0 = [v.numpy().astype(np.float64) for v in variables]
    l2, steps = 0.1, 25
    opt = cls(learning_rate=lr, weight_decays=l2, use_cosine_annealing=True,
              total_iterations=T0, t_mult=T_MULT, init_verbose=False)
    zeros = [np.zeros(v.shape, "float32") for v in variables]
    factor, cycle, k = 1.0, T0, 0
    for _ in range(steps):
        opt.apply_gradients(zip(zeros, variables))
        factor *= 1 - sgdr_multiplier(k, cycle, 0.0, 1.0) * l2 * math.sqrt(1 / cycle)
        k += 1
        if k == cycle:
            k, cycle = 0, cycle * T_MULT
    for v, w in zip(variables, w0):
        np.testing.assert_allclose(v.numpy(), w * factor, rtol=1e-5)
    assert factor < 0.8  # the decay did something


def test_lr_scaled_decay_depends_on_learning_rate():
    """The torch/Keras convention: with g = 0, w_T = w_0 * prod(1 - alpha eta l2 s)."""
    model = two_layer_model()
    (v, _) = model.trainable_variables
    w0 = v.numpy().astype(np.float64)
    opt = AdamW(learning_rate=0.5, weight_decays={"a/kernel": 0.1}, lr_scaled_decay=True,
                init_verbose=False)
    for _ in range(10):
        opt.apply_gradients([(np.zeros(v.shape, "float32"), v)])
    np.testing.assert_allclose(v.numpy(), w0 * (1 - 0.5 * 0.1) ** 10, rtol=1e-5)


def _trajectory(make, steps, **kwargs):
    """The two-layer model's weights after ``steps`` steps of ``make(learning_rate=1e-2,
    **kwargs)`` on the shared gradient stream."""
    variables = two_layer_model().trainable_variables
    opt = make(learning_rate=1e-2, **kwargs)
    for grads in gradient_stream(variables, steps):
        # Backend tensors: Keras' own torch optimizers take no NumPy gradients.
        opt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], variables))
    return [v.numpy() for v in variables]


@pytest.mark.parametrize("base_cls, cls, kwargs", [
    (keras.optimizers.Adam, AdamW, {"amsgrad": True}),
    (keras.optimizers.Adam, AdamW, {"clipnorm": 0.5}),
    (keras.optimizers.Adam, AdamW, {"global_clipnorm": 0.5}),
    (keras.optimizers.Adam, AdamW, {"clipvalue": 0.1}),
    (keras.optimizers.Adam, AdamW, {"use_ema": True}),
    (keras.optimizers.Adam, AdamW, {"gradient_accumulation_steps": 3}),
    (keras.optimizers.SGD, SGDW, {"momentum": 0.5, "nesterov": True}),
    (keras.optimizers.Nadam, NadamW, {"beta_1": 0.8}),
])
def test_base_arguments_keep_their_meaning(base_cls, cls, kwargs):
    """Without decay or annealing, the W class is exactly its base class."""
    trajectories = [_trajectory(make, 12, **kwargs) for make in
                    (base_cls, lambda **kw: cls(init_verbose=False, **kw))]
    for a, b in zip(*trajectories):
        # Float32 rounding only: on TensorFlow the W classes run Adam and SGD through
        # TensorFlow's fused kernels (keras_adamw/fused.py), on torch Keras' own
        # classes use fused torch kernels; values here are O(1).
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


class _HalfStep:
    """A subclass's own update_step: half the learning rate."""

    def update_step(self, gradient, variable, learning_rate):
        super().update_step(gradient, variable, learning_rate * 0.5)


class _ShiftedGradients:
    """A base class's own _backend_update_step (a gradient hook): g + 0.3."""

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        grads = [keras.ops.add(g, 0.3) for g in grads]
        super()._backend_update_step(grads, trainable_variables, learning_rate)


@pytest.mark.parametrize("base_cls, cls, kwargs", [
    (keras.optimizers.Adam, AdamW, {}),
    (keras.optimizers.Nadam, NadamW, {}),
    (keras.optimizers.SGD, SGDW, {"momentum": 0.9}),
])
@pytest.mark.parametrize("override", ["update_step of a W subclass",
                                      "_backend_update_step of the base"])
def test_overridden_steps_run_instead_of_the_fast_paths(base_cls, cls, kwargs, override):
    """The whole-step fast paths (TensorFlow's fused.py, torch_parallel.py) replace the
    per-variable calls only under Keras' own step code: a user's override runs, and
    the result (no decay) equals the same override on Keras' class."""
    if override.startswith("update_step"):
        ours = type("HalfW", (_HalfStep, cls), {})
        theirs = type("Half", (_HalfStep, base_cls), {})
    else:
        theirs = type("Shifted", (_ShiftedGradients, base_cls), {})
        ours = decoupled(theirs)
    trajectories = [_trajectory(make, 6, **kwargs) for make in
                    (theirs, lambda **kw: ours(init_verbose=False, **kw))]
    plain = two_layer_model().trainable_variables
    for a, b, w0 in zip(*trajectories, plain):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        assert np.abs(a - w0.numpy()).max() > 1e-3  # the steps did move the weights


def test_gradient_accumulation_advances_t_cur_per_real_update():
    model = two_layer_model()
    variables = model.trainable_variables
    opt = AdamW(learning_rate=1e-2, weight_decays=0.1, gradient_accumulation_steps=3,
                use_cosine_annealing=True, total_iterations=100, init_verbose=False)
    for grads in gradient_stream(variables, 9):
        opt.apply_gradients(zip(grads, variables))
    assert int(opt.t_cur.numpy()) == 3
    assert int(keras.ops.convert_to_numpy(opt.iterations)) == 3


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("algo", ["adam", "sgd_momentum"])
def test_model_fit_matches_reference(algo, jit_compile):
    """The compiled train step of model.fit: linear least squares, full batch, so the
    reference can compute the gradient 2/N X^T (X w - y) itself."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 5)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    inp = keras.Input((5,))
    model = keras.Model(inp, keras.layers.Dense(1, use_bias=False, name="lin")(inp))
    w0 = rng.normal(size=(5, 1)).astype("float32")
    model.layers[-1].kernel.assign(w0)
    cls, base_kwargs, lr, ref_kwargs = ALGOS[algo]
    opt = cls(learning_rate=lr, weight_decays={"lin/kernel": (1e-3, 5e-2)},
              lr_multipliers={"lin": 0.7}, use_cosine_annealing=True, total_iterations=4,
              t_mult=2, init_verbose=False, **base_kwargs)
    model.compile(opt, loss="mse", jit_compile=jit_compile)
    model.fit(x, y, batch_size=16, epochs=15, shuffle=False, verbose=0)
    ref = Reference("sgd" if algo.startswith("sgd") else algo, [w0], lr, [0.7],
                    [(1e-3, 5e-2)], annealing=True, total_iterations=4, t_mult=2,
                    norm="cycle", **ref_kwargs)
    xd, yd = x.astype(np.float64), y.astype(np.float64)
    for _ in range(15):
        ref.step([2.0 / len(xd) * xd.T @ (xd @ ref.w[0] - yd)])
    np.testing.assert_allclose(model.layers[-1].kernel.numpy(), ref.w[0], rtol=1e-5, atol=1e-6)
    assert int(opt.t_cur.numpy()) == ref.t_cur == 3  # 4 + 8 steps, 3 into the third cycle
