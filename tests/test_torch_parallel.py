"""The PyTorch backend's multi-tensor path (keras_adamw/kernels/torch.py): it is taken,
and it gives the NumPy reference's trajectory with three lr-multiplier groups,
unregularized variables, l1 and l2, restarts, and tensors on both sides of the size
at which the fused kernels take over. Runs under KERAS_BACKEND=torch (test_backends.py
starts it there); skipped on the other backends."""

import numpy as np
import pytest

import keras
from helpers import ALGOS, gradient_stream
from reference import Reference

from keras_adamw import AdamW

pytestmark = pytest.mark.skipif(keras.backend.backend() != "torch",
                                reason="the PyTorch backend's fast path")

# (name, shape): two tensors at or above torch_parallel.GRAIN_SIZE (fused kernels),
# the rest below it (the _foreach form).
SHAPES = [("big_a", (256, 160)), ("big_b", (40000,)), ("s_a", (5, 7)), ("s_b", (13,)),
          ("s_c", (4, 4)), ("s_d", (9,)), ("s_e", (3, 3, 2))]
MUS = {"big_a": 1.0, "s_a": 1.0, "big_b": 0.5, "s_b": 0.5, "s_c": 2.0, "s_d": 2.0}
DECAYS = {"big_a": (0.0, 3e-2), "big_b": (1e-3, 2e-2), "s_a": (2e-3, 4e-2),
          "s_b": (0.0, 6e-2), "s_c": (1e-3, 0.0)}  # s_d, s_e: no decay



def _variables(seed=0):
    rng = np.random.default_rng(seed)
    return [keras.Variable(rng.normal(size=shape).astype("float32"), name=name)
            for name, shape in SHAPES]


def _run(algo, lr_scaled, steps=20, scale=0.5):
    cls, base_kwargs, lr, ref_kwargs = ALGOS[algo]
    variables = _variables()
    names = [name for name, _ in SHAPES]
    ref = Reference("sgd" if algo.startswith("sgd") else algo,
                    [v.numpy() for v in variables], lr,
                    [MUS.get(n, 1.0) for n in names], [DECAYS.get(n, (0.0, 0.0)) for n in names],
                    annealing=True, total_iterations=8, t_mult=2, eta_min=0.05,
                    eta_max=1.0, norm="cycle", lr_scaled=lr_scaled, **ref_kwargs)
    opt = cls(learning_rate=lr, weight_decays=DECAYS, lr_multipliers=MUS,
              use_cosine_annealing=True, total_iterations=8, t_mult=2, eta_min=0.05,
              eta_max=1.0, lr_scaled_decay=lr_scaled, init_verbose=False, **base_kwargs)
    for grads in gradient_stream(variables, steps, scale=scale):
        opt.apply_gradients(zip(grads, variables))
        ref.step(grads)
    for name, v, w in zip(names, variables, ref.w):
        np.testing.assert_allclose(v.numpy(), w, rtol=1e-5, atol=2e-6, err_msg=name)
    assert ref.cycle == 16 and int(opt.t_cur.numpy()) == ref.t_cur == 12  # one restart
    return opt


@pytest.mark.parametrize("algo", list(ALGOS))
@pytest.mark.parametrize("lr_scaled", [False, True])
def test_groups_match_reference(algo, lr_scaled):
    """Three multiplier groups, decays with l1 and/or l2 and none, large and small
    tensors, a warm restart: the reference's weights after every step's updates."""
    opt = _run(algo, lr_scaled)
    assert opt._whole_step is not None


@pytest.mark.parametrize("algo", ["adam", "nadam"])
def test_epsilon_placement_in_fused_and_foreach_forms(algo):
    """Gradients of about epsilon's size: sqrt(v_hat) is comparable to epsilon, so the
    rescaled epsilon of the fused and _foreach forms must be Keras' exactly."""
    _run(algo, lr_scaled=False, scale=1e-7)


def _spy(monkeypatch, module, names):
    calls = []
    for name in names:
        original = getattr(module, name)

        def wrapper(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)
    return calls


@pytest.mark.parametrize("algo, base, kernel", [
    ("adam", keras.optimizers.Adam, "_fused_adam_"),
    ("sgd_momentum", keras.optimizers.SGD, "_fused_sgd_"),
    ("nadam", keras.optimizers.Nadam, "_foreach_addcdiv_"),
])
def test_multi_tensor_path_is_taken(monkeypatch, algo, base, kernel):
    """The step runs torch's multi-tensor/fused kernels and never the per-variable
    update_step, and still matches the reference."""
    import torch

    def per_variable(*args, **kwargs):
        raise AssertionError("the per-variable update_step was called")

    cls, base_kwargs, lr, _ = ALGOS[algo]
    variables = _variables()
    opt = cls(learning_rate=lr, weight_decays=DECAYS, lr_multipliers=MUS,
              init_verbose=False, **base_kwargs)
    opt.build(variables)  # the fast path is chosen here, from Keras' own update_step
    monkeypatch.setattr(base, "update_step", per_variable)
    calls = _spy(monkeypatch, torch, [kernel, "_foreach_mul_"])
    for grads in gradient_stream(variables, 3):
        opt.apply_gradients(zip(grads, variables))
    assert kernel in calls
    # Per step at most one _foreach_mul_ per decay group with l2 (4) and per multiplier
    # group (3 groups, 2 sizes): far fewer than one per variable (7) times ops.
    assert calls.count("_foreach_mul_") <= 3 * (4 + 6)


def test_a_subclass_step_keeps_the_per_variable_path():
    """A subclass's own update_step runs (its math is not Keras'), while amsgrad takes
    Keras' own torch form for the whole step."""
    class MyAdam(keras.optimizers.Adam):
        def update_step(self, gradient, variable, learning_rate):
            super().update_step(gradient, variable, learning_rate)

    from keras_adamw import decoupled

    variables = _variables()
    mine = decoupled(MyAdam)(init_verbose=False)
    mine.build(variables)
    assert mine._whole_step is None
    amsgrad = AdamW(amsgrad=True, init_verbose=False)
    amsgrad.build(variables)
    assert amsgrad._whole_step is not None
