"""XLA, gradient accumulation, mixed precision and sparse gradients. The tests of
TensorFlow's own machinery (IndexedSlices, its fused kernels) skip on the other
backends."""

import numpy as np
import pytest

import keras
from helpers import ALGOS, assert_same, compiled, fit, gradient_stream, two_layer_model
from reference import Reference

from keras_adamw import AdamW, SGDW

tf = pytest.importorskip("tensorflow")
tensorflow_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                     reason="TensorFlow's IndexedSlices and kernels")


def test_jit_compile_gives_the_same_trajectory():
    runs = []
    for jit in (False, True):
        model = compiled("adamw")
        model.compile(model.optimizer, loss="mse", jit_compile=jit)
        fit(model, 5)
        runs.append(model)
    if keras.backend.backend() == "tensorflow":
        assert_same(*runs)
    else:  # torch.compile takes the per-variable path, eager the multi-tensor one
        assert_same(*runs, rtol=1e-5, atol=1e-6)


def test_gradient_accumulation_decays_once_per_real_update():
    """k = 3, 9 micro-steps of zero gradient: 3 decays, t_cur = 3."""
    model = two_layer_model()
    variables = model.trainable_variables
    w0 = [v.numpy().astype(np.float64) for v in variables]
    opt = AdamW(learning_rate=1e-2, weight_decays=0.1, gradient_accumulation_steps=3,
                total_iterations_wd=4, init_verbose=False)
    zeros = [np.zeros(v.shape, "float32") for v in variables]
    for _ in range(9):
        opt.apply_gradients(zip(zeros, variables))
    assert int(opt.t_cur.numpy()) == 3
    for v, w in zip(variables, w0):
        np.testing.assert_allclose(v.numpy(), w * (1 - 0.1 * 0.5) ** 3, rtol=1e-6)


def test_gradient_accumulation_matches_reference_on_averaged_gradients():
    """Each real update sees the mean of k micro-batch gradients, and eta_t, the
    decay and t_cur move once per real update."""
    model = two_layer_model()
    variables = model.trainable_variables
    k = 2
    opt = SGDW(learning_rate=0.1, momentum=0.9, weight_decays=0.05, gradient_accumulation_steps=k,
               use_cosine_annealing=True, total_iterations=3, t_mult=2, init_verbose=False)
    ref = Reference("sgd", [v.numpy() for v in variables], 0.1, [1.0, 1.0], [(0, 0.05)] * 2,
                    annealing=True, total_iterations=3, t_mult=2, norm="cycle", momentum=0.9)
    stream = gradient_stream(variables, 2 * 12)
    for i in range(0, len(stream), k):
        for grads in stream[i:i + k]:
            opt.apply_gradients(zip(grads, variables))
        ref.step([np.mean([g[j] for g in stream[i:i + k]], axis=0) for j in range(len(variables))])
    for v, w in zip(variables, ref.w):
        np.testing.assert_allclose(v.numpy(), w, rtol=1e-5, atol=1e-6)
    assert int(opt.t_cur.numpy()) == ref.t_cur == 3


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    yield
    keras.mixed_precision.set_dtype_policy("float32")


def _t_cur_after(applied, t0, t_mult):
    t, cycle = 0, t0
    for _ in range(applied):
        t += 1
        if t == cycle:
            t, cycle = 0, cycle * t_mult
    return t


def test_mixed_float16_skipped_steps_do_not_advance_t_cur(mixed_float16):
    inp = keras.Input((5,))
    h = keras.layers.Dense(8, activation="relu", name="hidden")(inp)
    out = keras.layers.Dense(1, name="out", dtype="float32")(h)
    model = keras.Model(inp, out)
    opt = AdamW(learning_rate=1e-3, weight_decays={"kernel": 0.01}, use_cosine_annealing=True,
                total_iterations=4, t_mult=2, init_verbose=False)
    model.compile(opt, loss="mse")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype("float32")
    x[[8, 9, 24]] = np.inf  # batches 1 and 3 of 5 give non-finite gradients
    y = rng.normal(size=(40, 1)).astype("float32")
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    applied = int(opt.iterations.numpy())
    assert applied == 15 - 6  # 3 epochs of 5 steps, 2 poisoned steps in each
    assert int(opt.t_cur.numpy()) == _t_cur_after(applied, 4, 2)
    assert all(np.isfinite(v.numpy()).all() for v in model.trainable_variables)


def test_float16_variables_are_decayed_in_float16():
    v = keras.Variable(np.linspace(-2, 2, 11), dtype="float16", name="kernel")
    w0 = v.numpy().copy()
    opt = AdamW(learning_rate=1e-3, weight_decays=0.1, total_iterations_wd=16, init_verbose=False)
    for _ in range(3):
        opt.apply_gradients([(np.zeros(11, "float16"), v)])
    expected = w0.astype(np.float64) * (1 - 0.1 * 0.25) ** 3
    assert v.dtype == "float16"
    np.testing.assert_allclose(v.numpy(), expected, rtol=2e-3)
    assert not np.allclose(v.numpy(), w0)


# ------------------------------------------------------------ sparse gradients

def _embedding_model(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((3,), dtype="int32")
    e = keras.layers.Embedding(10, 4, name="embed")(inp)
    out = keras.layers.Dense(1, name="head")(keras.layers.Flatten()(e))
    return keras.Model(inp, out)


@tensorflow_only
@pytest.mark.parametrize("cls, kwargs", [(SGDW, {}), (SGDW, {"momentum": 0.9}), (AdamW, {})])
def test_sparse_gradients_match_their_dense_equivalent(cls, kwargs):
    """IndexedSlices (what an Embedding gives on TensorFlow) update exactly like the
    same gradient made dense: the whole table decays, the multiplier applies."""
    results = []
    for sparse in (True, False):
        (table,) = [v for v in _embedding_model().trainable_variables if "embed" in v.path]
        opt = cls(learning_rate=0.1, weight_decays={"embed": (1e-3, 0.05)},
                  lr_multipliers={"embed": 0.5}, use_cosine_annealing=True,
                  total_iterations=3, init_verbose=False, **kwargs)
        rng = np.random.default_rng(1)
        for _ in range(5):
            rows = rng.choice(10, size=3, replace=False)
            values = rng.normal(size=(3, 4)).astype("float32")
            grad = tf.IndexedSlices(tf.constant(values), tf.constant(rows), tf.constant([10, 4]))
            opt.apply_gradients([(grad if sparse else tf.convert_to_tensor(grad), table)])
        results.append(table.numpy())
    # The dense gradient takes the fused TensorFlow kernel, the sparse one the
    # keras.ops code: the same arithmetic up to float32 rounding.
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=2e-6)


@tensorflow_only
def test_sparse_gradients_match_reference():
    (table,) = [v for v in _embedding_model().trainable_variables if "embed" in v.path]
    ref = Reference("sgd", [table.numpy()], 0.1, [0.5], [(1e-3, 0.05)], annealing=True,
                    total_iterations=3, norm="cycle")
    opt = SGDW(learning_rate=0.1, weight_decays={"embed": (1e-3, 0.05)},
               lr_multipliers={"embed": 0.5}, use_cosine_annealing=True, total_iterations=3,
               init_verbose=False)
    rng = np.random.default_rng(2)
    for _ in range(5):
        rows = rng.choice(10, size=3, replace=False)
        values = rng.normal(size=(3, 4)).astype("float32")
        opt.apply_gradients([(tf.IndexedSlices(tf.constant(values), tf.constant(rows),
                                               tf.constant([10, 4])), table)])
        dense = np.zeros((10, 4))
        dense[rows] = values
        ref.step([dense])
    np.testing.assert_allclose(table.numpy(), ref.w[0], rtol=1e-5, atol=1e-7)


@tensorflow_only
@pytest.mark.parametrize("cls", [SGDW, AdamW])
def test_embedding_model_fit_with_sparse_gradients(cls):
    model = _embedding_model()
    model.compile(cls(learning_rate=0.05, weight_decays=0.01, lr_multipliers={"embed": 2.0},
                      init_verbose=False), loss="mse")
    x = np.random.default_rng(0).integers(0, 10, size=(32, 3)).astype("int32")
    history = model.fit(x, np.ones((32, 1), "float32"), batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert int(model.optimizer.t_cur.numpy()) == 8


@tensorflow_only
def test_fused_kernels_only_where_they_are_keras_math():
    from keras_adamw import NadamW, decoupled
    from keras_adamw.kernels import tensorflow as fused

    def chosen(opt):
        opt.build(two_layer_model().trainable_variables)
        return opt._fused_update

    assert chosen(AdamW(init_verbose=False)) is fused._adam
    assert chosen(SGDW(momentum=0.9, init_verbose=False)) is fused._sgd
    assert chosen(AdamW(amsgrad=True, init_verbose=False)) is None
    assert chosen(NadamW(init_verbose=False)) is None
    assert chosen(decoupled(keras.optimizers.Lion)(init_verbose=False)) is None

    class MyAdam(keras.optimizers.Adam):  # its own math: never replaced
        def update_step(self, gradient, variable, learning_rate):
            super().update_step(gradient * 0.5, variable, learning_rate)

    assert chosen(decoupled(MyAdam)(init_verbose=False)) is None


@tensorflow_only
@pytest.mark.parametrize("algo, kernel", [
    ("adam", "ResourceApplyAdam"),
    ("sgd_momentum", "ResourceApplyKerasMomentum"),
    ("nadam", None),  # Keras' lines, the scalars once per step
])
def test_tensorflow_whole_step_path_is_taken(algo, kernel, monkeypatch):
    """One whole-step update (and fused kernel) per variable and step, the per-variable
    update_step never called, and the reference result (kernels/tensorflow.py's whole-step path)."""
    from keras_adamw.kernels import tensorflow as fused
    from keras_adamw.decoupled import DecoupledWeightDecay

    model = two_layer_model()
    variables = model.trainable_variables
    calls = {"update": 0, "kernel": 0}
    name = "sgd" if algo.startswith("sgd") else algo
    update = fused._UPDATES[name]

    def counting_update(*args):
        calls["update"] += 1
        return update(*args)

    def refuse(*args, **kw):
        raise AssertionError("the per-variable update_step was called")

    monkeypatch.setitem(fused._UPDATES, name, counting_update)
    if kernel is not None:
        real = getattr(tf.raw_ops, kernel)

        def counting_kernel(**kw):
            calls["kernel"] += 1
            return real(**kw)

        monkeypatch.setattr(tf.raw_ops, kernel, counting_kernel)
    monkeypatch.setattr(DecoupledWeightDecay, "update_step", refuse)  # our per-variable step
    cls, kwargs, _, ref_kwargs = ALGOS[algo]
    opt = cls(learning_rate=1e-2, weight_decays={"a": (1e-3, 0.05)}, lr_multipliers={"b": 0.5},
              use_cosine_annealing=True, total_iterations=3, init_verbose=False, **kwargs)
    ref = Reference(name, [v.numpy() for v in variables], 1e-2, [1.0, 0.5],
                    [(1e-3, 0.05), (0.0, 0.0)], annealing=True, total_iterations=3,
                    norm="cycle", **ref_kwargs)
    for grads in gradient_stream(variables, 5):
        opt.apply_gradients(zip(grads, variables))
        ref.step(grads)
    assert calls["update"] == 5 * len(variables)
    assert calls["kernel"] == (5 * len(variables) if kernel else 0)
    for v, w in zip(variables, ref.w):
        np.testing.assert_allclose(v.numpy(), w, rtol=1e-5, atol=1e-6)


@keras.saving.register_keras_serializable(package="tests")
class WithUnusedLayer(keras.Model):
    """A model with a layer its call never uses (an unused pooler)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.used = keras.layers.Dense(1, use_bias=False, name="used")
        self.unused = keras.layers.Dense(1, use_bias=False, name="unused")

    def build(self, input_shape):
        self.used.build(input_shape)
        self.unused.build(input_shape)

    def call(self, x):
        return self.used(x)


def test_a_variable_without_gradient_follows_keras_per_backend():
    """Documented (README): on TensorFlow and PyTorch Keras drops a variable whose
    gradient is None before the step, so it is neither updated nor decayed; on JAX
    its gradient is zeros, so it is decayed (Keras' own AdamW splits the same way)."""
    model = WithUnusedLayer()
    model.build((None, 3))
    start = keras.ops.convert_to_numpy(model.unused.kernel).copy()
    model.compile(AdamW(learning_rate=1e-2, weight_decays=0.1, init_verbose=False), loss="mse")
    model.fit(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"), batch_size=4, verbose=0)
    after = keras.ops.convert_to_numpy(model.unused.kernel)
    if keras.backend.backend() == "jax":
        np.testing.assert_allclose(after, start * (1 - 0.1), rtol=1e-6)  # one decay, c = 1
    else:
        np.testing.assert_array_equal(after, start)
    import pathlib

    rules = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "rules.md").read_text()
    assert "decayed on JAX, whose gradient for it is zeros" in rules
