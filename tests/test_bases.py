"""Every base Keras has a PyTorch multi-tensor form of, through ``decoupled()``, on every
backend: the NumPy reference's trajectory (tests/reference.py, from the papers) with
three lr-multiplier groups, l1 and l2, a warmup and warm restarts, tensors on both
sides of the CPU's fused-kernel size, and mixed bfloat16/float32 variables; decoupled,
lr-scaled, cautious, and corrected and cautious decay. On
PyTorch the whole-step kernels (keras_adamw/kernels/torch.py) must do the step: the
per-variable ``update_step`` is refused there."""

import numpy as np
import pytest

import keras
from helpers import ALGOS, gradient_stream
from reference import Reference

from keras_adamw import AdamW, decoupled

opt_ = keras.optimizers
#: name: (class, its kwargs, learning rate, reference algorithm, reference kwargs)
BASES = {name: (cls, kw, lr, "sgd" if name.startswith("sgd") else name, ref)
         for name, (cls, kw, lr, ref) in ALGOS.items()}
BASES.update({
    "amsgrad": (AdamW, {"amsgrad": True}, 1e-2, "adam", {"amsgrad": True}),
    "adamax": (decoupled(opt_.Adamax), {}, 1e-2, "adamax", {}),
    "adagrad": (decoupled(opt_.Adagrad), {}, 5e-2, "adagrad", {}),
    "adadelta": (decoupled(opt_.Adadelta), {}, 1.0, "adadelta", {"rho": 0.95}),
    "rmsprop": (decoupled(opt_.RMSprop), {}, 5e-3, "rmsprop", {"rho": 0.9}),
    "lion": (decoupled(opt_.Lion), {}, 2e-3, "lion", {"beta_2": 0.99}),
})

SHAPES = [("big_a", (256, 160)), ("big_b", (40000,)), ("s_a", (5, 7)), ("s_b", (13,)),
          ("s_c", (4, 4)), ("s_d", (9,)), ("s_e", (3, 3, 2))]
MUS = {"big_a": 1.0, "s_a": 1.0, "big_b": 0.5, "s_b": 0.5, "s_c": 2.0, "s_d": 2.0}
DECAYS = {"big_a": (0.0, 3e-2), "big_b": (1e-3, 2e-2), "s_a": (2e-3, 4e-2),
          "s_b": (0.0, 6e-2), "s_c": (1e-3, 0.0)}  # s_d, s_e: no decay
SCHEDULE = dict(use_cosine_annealing=True, total_iterations=6, t_mult=2, eta_min=0.05,
                warmup_iterations=2, warmup_each_cycle=True)
STEPS = 16  # cycles of 6 and 12 steps, each with a warmup of 2: one restart


def _start(dtypes):
    """The start values; a bfloat16 variable starts near 0.02, where its resolution
    (2^-13) is finer than one step (a weight near 1, with resolution 2^-7, would lose
    every update to rounding)."""
    rng = np.random.default_rng(0)
    return [(rng.normal(size=shape) * (0.02 if n in dtypes else 1.0)).astype("float32")
            for n, shape in SHAPES]


#: the decay options every base is checked with: ours, and the reference's
OPTIONS = {
    "plain": ({}, {}),
    "lr_scaled": (dict(lr_scaled_decay=True), dict(lr_scaled=True)),
    "cautious": (dict(cautious_decay=True), dict(cautious=True)),
    # corrected decay (AdamC) at a constant learning rate: gamma_t / gamma_max = eta_t
    "corrected_cautious": (dict(lr_scaled_decay=True, decay_follows_schedule=True,
                                learning_rate_peak="lr", cautious_decay=True),
                           dict(lr_scaled=True, corrected=True, alpha_peak="lr",
                                cautious=True)),
}


def _run(name, dtypes=None, option="plain"):
    cls, kwargs, lr, algo, ref_kwargs = BASES[name]
    ours, theirs = ({k: lr if v == "lr" else v for k, v in d.items()} for d in OPTIONS[option])
    dtypes = dtypes or {}
    variables = [keras.Variable(w, name=n, dtype=dtypes.get(n, "float32"))
                 for (n, _), w in zip(SHAPES, _start(dtypes))]
    names = [n for n, _ in SHAPES]
    ref = Reference(algo, [np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(v, "float32")))
                           for v in variables], lr,
                    [MUS.get(n, 1.0) for n in names], [DECAYS.get(n, (0.0, 0.0)) for n in names],
                    annealing=True, total_iterations=6, t_mult=2, eta_min=0.05, norm="cycle",
                    warmup=2, warmup_each_cycle=True, **theirs, **ref_kwargs)
    opt = cls(learning_rate=lr, weight_decays=DECAYS, lr_multipliers=MUS,
              init_verbose=False, **SCHEDULE, **ours, **kwargs)
    for grads in gradient_stream(variables, STEPS, scale=0.5):
        opt.apply_gradients(zip([keras.ops.cast(g, v.dtype) for g, v in zip(grads, variables)],
                                variables))
        ref.step(grads)
    assert ref.index == 1 and int(keras.ops.convert_to_numpy(opt.t_cur)) == ref.t_cur == 10
    return opt, names, variables, ref


@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("name", list(BASES))
def test_every_base_follows_the_reference(name, option, no_per_variable_step_on_torch):
    opt, names, variables, ref = _run(name, option=option)
    for n, v, w in zip(names, variables, ref.w):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(v), w, rtol=2e-5, atol=2e-6,
                                   err_msg=f"{name} {option}: {n}")
    if keras.backend.backend() == "torch":
        assert opt._whole_step is not None


@pytest.mark.skipif(keras.backend.backend() != "torch", reason=(
    "Keras' own per-variable steps compute their scalars in the variable's dtype: in "
    "bfloat16 beta_2 = 0.999 rounds to 1, so Adam's bias correction is 0 and the "
    "weights do not move (the generic path keeps that math); the torch kernels compute "
    "the scalars on the host in float64"))
@pytest.mark.parametrize("option", ["plain", "cautious"])
@pytest.mark.parametrize("name", ["adam", "nadam", "sgd", "sgd_momentum", "sgd_nesterov",
                                  "lion"])
def test_mixed_bfloat16_and_float32_variables(name, option, no_per_variable_step_on_torch):
    """bfloat16 variables in their own groups, on the torch fast path, next to float32
    ones. The reference is float64: bfloat16 keeps about 3 significant digits, so the
    check is on the distance moved, to 5% of it (a wrong group multiplier or decay is
    off by 50% or more)."""
    dtypes = {"big_b": "bfloat16", "s_a": "bfloat16", "s_d": "bfloat16"}
    start = _start(dtypes)
    opt, names, variables, ref = _run(name, dtypes=dtypes, option=option)
    for n, v, w, w0 in zip(names, variables, ref.w, start):
        got = keras.ops.convert_to_numpy(keras.ops.cast(v, "float32"))
        if n not in dtypes:
            np.testing.assert_allclose(got, w, rtol=2e-5, atol=2e-6, err_msg=f"{name}: {n}")
            continue
        moved = np.abs(w - w0).mean()
        assert moved > 1e-3, (name, n)
        error = np.abs(got - w).mean()
        assert error < 0.05 * moved + 2e-3, (name, n, error, moved)
