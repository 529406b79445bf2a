"""The optimizers on tf_keras (Keras 2). Run by test_tf_keras.py in a process with
TF_KERAS=1 and TF_USE_LEGACY_KERAS=1, so ``tensorflow.keras`` is tf_keras."""

import os

import numpy as np
import pytest

if os.environ.get("TF_USE_LEGACY_KERAS") != "1":  # pragma: no cover
    pytest.skip("run by test_tf_keras.py with TF_USE_LEGACY_KERAS=1", allow_module_level=True)

import tensorflow as tf  # noqa: E402

try:  # two logical CPUs for MirroredStrategy, before TensorFlow starts its runtime
    (_cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        _cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
except RuntimeError:  # pragma: no cover
    pass

from tensorflow import keras  # noqa: E402  (tf_keras here)

from helpers import ALGOS, CHECKS, DECAYS, MUS, ORIGINAL_EXAMPLE, TF_KERAS_HEADER  # noqa: E402
from helpers import two_layer_model as _two_layer_model  # noqa: E402
from reference import Reference, sgdr_multiplier, shaped_multiplier  # noqa: E402

import keras_adamw  # noqa: E402
from keras_adamw import AdamW, NadamW, SGDW, get_weight_decays  # noqa: E402

def test_exported_classes_are_tf_keras_optimizers():
    assert keras.__name__.startswith("tf_keras")
    assert keras_adamw._keras.TF_KERAS_IS_LEGACY
    for cls in (AdamW, NadamW, SGDW):
        assert issubclass(cls, keras.optimizers.Optimizer)
    assert issubclass(keras_adamw.decoupled(keras.optimizers.Lion), keras.optimizers.Lion)


def two_layer_model(seed=0):
    return _two_layer_model(seed, keras_module=keras)


def gradient_stream(variables, steps, seed=1):
    rng = np.random.default_rng(seed)
    return [[tf.constant(rng.normal(size=v.shape).astype("float32")) for v in variables]
            for _ in range(steps)]


@pytest.mark.parametrize("algo", list(ALGOS))
@pytest.mark.parametrize("lr_scaled", [False, True])
def test_trajectory_matches_reference(algo, lr_scaled):
    """The Keras 3 reference test, on tf_keras: 50 steps, two restarts (t_mult=2), two
    multipliers, l1 and l2, normalization by the cycle length."""
    cls, base_kwargs, lr, ref_kwargs = ALGOS[algo]
    model = two_layer_model()
    variables = model.trainable_variables
    names = [v.name.split(":")[0] for v in variables]
    ref = Reference("sgd" if algo.startswith("sgd") else algo, [v.numpy() for v in variables],
                    lr, [MUS[n] for n in names], [DECAYS[n] for n in names], annealing=True,
                    total_iterations=10, t_mult=2, eta_min=0.05, norm="cycle",
                    lr_scaled=lr_scaled, **ref_kwargs)
    opt = cls(learning_rate=lr, weight_decays=DECAYS, lr_multipliers=MUS,
              use_cosine_annealing=True, total_iterations=10, t_mult=2, eta_min=0.05,
              lr_scaled_decay=lr_scaled, init_verbose=False, **base_kwargs)
    for grads in gradient_stream(variables, 50):
        assert float(opt.eta_t) == pytest.approx(sgdr_multiplier(ref.t_cur, ref.cycle, 0.05, 1.0), abs=1e-6)
        opt.apply_gradients(zip(grads, variables))
        ref.step([g.numpy() for g in grads])
        for v, w in zip(variables, ref.w):
            np.testing.assert_allclose(v.numpy(), w, rtol=1e-5, atol=1e-6)
    assert int(opt.t_cur.numpy()) == ref.t_cur == 20 and ref.cycle == 40


@pytest.mark.parametrize("cls", [AdamW, SGDW])
def test_zero_gradients_decay_is_independent_of_learning_rate(cls):
    for lr in (1e-4, 10.0):
        model = two_layer_model()
        (v, _) = model.trainable_variables
        w0 = v.numpy().astype(np.float64)
        opt = cls(learning_rate=lr, weight_decays={"a/kernel:0": 0.1}, total_iterations_wd=4,
                  init_verbose=False)
        for _ in range(3):
            opt.apply_gradients([(tf.zeros_like(v), v)])
        np.testing.assert_allclose(v.numpy(), w0 * (1 - 0.1 * 0.5) ** 3, rtol=1e-5)


def test_original_readme_example_runs_unchanged():
    code = TF_KERAS_HEADER + ORIGINAL_EXAMPLE.replace("from keras.", "from tensorflow.keras.")
    namespace = {}
    exec(compile(code + CHECKS, "original_readme_example", "exec"), namespace)
    assert isinstance(namespace["optimizer"], keras.optimizers.Adam)  # tf_keras Adam


def every_layer_model():
    reg = keras.regularizers
    image = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv", kernel_regularizer=reg.L1L2(1e-5, 2e-5),
                            bias_regularizer=reg.L1(3e-5))(image)
    x = keras.layers.DepthwiseConv2D(3, name="depthwise", depthwise_regularizer=reg.L2(4e-5))(x)
    x = keras.layers.SeparableConv2D(4, 2, name="separable", depthwise_regularizer=reg.L1(5e-5),
                                     pointwise_regularizer=reg.L2(6e-5))(x)
    x = keras.layers.BatchNormalization(name="bn", gamma_regularizer=reg.L2(9e-5))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    tokens = keras.Input((5,), dtype="int32")
    s = keras.layers.Embedding(20, 6, name="embed", embeddings_regularizer=reg.L2(1.5e-4))(tokens)
    s = keras.layers.Bidirectional(keras.layers.LSTM(2, name="lstm",
                                                     kernel_regularizer=reg.L1(1.6e-4),
                                                     recurrent_regularizer=reg.L2(1.7e-4)),
                                   name="bidi")(s)
    inner_in = keras.Input((8,))
    inner = keras.Model(inner_in, keras.layers.Dense(4, name="inner_dense",
                                                     kernel_regularizer=reg.L2(2.4e-4))(inner_in),
                        name="inner")
    h = inner(keras.layers.Concatenate()([x, s]))
    out = keras.layers.Dense(1, name="head", kernel_regularizer=reg.L2(2.6e-4))(h)
    return keras.Model([image, tokens], out)


EXPECTED = {
    "conv/kernel": (1e-5, 2e-5), "conv/bias": (3e-5, 0.0), "depthwise/depthwise_kernel": (0.0, 4e-5),
    "separable/depthwise_kernel": (5e-5, 0.0), "separable/pointwise_kernel": (0.0, 6e-5),
    "bn/gamma": (0.0, 9e-5), "embed/embeddings": (0.0, 1.5e-4),
    "bidi/forward_lstm/lstm_cell/kernel": (1.6e-4, 0.0),
    "bidi/forward_lstm/lstm_cell/recurrent_kernel": (0.0, 1.7e-4),
    "bidi/backward_lstm/lstm_cell/kernel": (1.6e-4, 0.0),
    "bidi/backward_lstm/lstm_cell/recurrent_kernel": (0.0, 1.7e-4),
    "inner_dense/kernel": (0.0, 2.4e-4), "head/kernel": (0.0, 2.6e-4),
}


def inputs():
    rng = np.random.default_rng(0)
    return [rng.normal(size=(4, 8, 8, 3)).astype("float32"),
            rng.integers(0, 20, size=(4, 5)).astype("int32")]


def test_get_weight_decays_reads_every_layer_kind():
    model = every_layer_model()
    decays = get_weight_decays(model)
    assert set(decays) == set(EXPECTED)
    for name, pair in EXPECTED.items():
        assert decays[name] == pytest.approx(pair, rel=1e-6), name
    assert float(sum(model.losses)) > 0  # reading changes nothing


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_penalties_zeroed_for_good_and_decays_applied(tmp_path, fmt):
    model = every_layer_model()
    opt = AdamW(model=model, learning_rate=1e-3, init_verbose=False)
    assert len(model.losses) == 0
    assert set(opt.weight_decays) == set(EXPECTED)
    model.compile(opt, loss="mse")
    model.fit(inputs(), np.zeros((4, 1), "float32"), verbose=0)
    settings = opt.variable_settings
    assert settings["head/kernel"].l2 == pytest.approx(2.6e-4)
    path = str(tmp_path / f"model.{fmt}")
    model.save(path)
    loaded = keras.models.load_model(path)
    loaded(inputs())
    # The reloaded layers declare their decays with DeclaredDecay markers, which add
    # exactly zero (tf_keras keeps one loss entry per regularized weight).
    assert all(float(loss) == 0.0 for loss in loaded.losses)
    assert set(get_weight_decays(loaded)) == set(EXPECTED)
    assert type(loaded.optimizer) is AdamW
    assert int(loaded.optimizer.t_cur.numpy()) == int(opt.t_cur.numpy()) == 1
    assert loaded.optimizer.variable_settings["head/kernel"].l2 == pytest.approx(2.6e-4)


def test_zero_penalties_false_keeps_them():
    model = every_layer_model()
    AdamW(model=model, zero_penalties=False, init_verbose=False)
    model(inputs())
    assert float(sum(model.losses)) > 0


def test_tf_train_checkpoint_restores_t_cur(tmp_path):
    model = two_layer_model()
    opt = AdamW(weight_decays=0.01, use_cosine_annealing=True, total_iterations=3, t_mult=2,
                init_verbose=False)
    variables = model.trainable_variables
    for grads in gradient_stream(variables, 5):
        opt.apply_gradients(zip(grads, variables))
    saved = tf.train.Checkpoint(model=model, optimizer=opt).save(str(tmp_path / "ckpt"))
    expected = [v.numpy() for v in variables]
    fresh_model = two_layer_model(seed=9)
    fresh = AdamW(weight_decays=0.01, use_cosine_annealing=True, total_iterations=3, t_mult=2,
                  init_verbose=False)
    fresh.build(fresh_model.trainable_variables)
    tf.train.Checkpoint(model=fresh_model, optimizer=fresh).restore(saved).assert_consumed()
    assert int(fresh.t_cur.numpy()) == 2 and int(fresh._cycle_length.numpy()) == 6
    for v, w in zip(fresh_model.trainable_variables, expected):
        np.testing.assert_array_equal(v.numpy(), w)
    stream = gradient_stream(variables, 3, seed=5)
    for grads in stream:
        opt.apply_gradients(zip(grads, variables))
        fresh.apply_gradients(zip(grads, fresh_model.trainable_variables))
    for a, b in zip(variables, fresh_model.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def _fit(strategy):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 5)).astype("float32")
    y = (x[:, :1] - 0.5 * x[:, 1:2]).astype("float32")
    with strategy.scope():
        inp = keras.Input((5,))
        h = keras.layers.Dense(6, activation="tanh", name="hidden",
                               kernel_regularizer=keras.regularizers.L2(0.05))(inp)
        model = keras.Model(inp, keras.layers.Dense(1, name="out")(h))
        init = np.random.default_rng(4)
        for v in model.trainable_variables:
            v.assign(init.normal(scale=0.5, size=v.shape).astype("float32"))
        opt = AdamW(model=model, learning_rate=1e-2, use_cosine_annealing=True,
                    total_iterations=3, t_mult=2, lr_multipliers={"out": 0.5}, init_verbose=False)
        model.compile(opt, loss="mse")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).repeat()
    model.fit(dataset, steps_per_epoch=1, epochs=12, verbose=0)
    return [v.numpy() for v in model.trainable_variables], int(opt.t_cur.numpy())


def test_mirrored_strategy_matches_one_device():
    if len(tf.config.list_logical_devices("CPU")) < 2:
        pytest.skip("two logical CPUs could not be configured in this process")
    one, t_one = _fit(tf.distribute.get_strategy())
    two, t_two = _fit(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    assert t_one == t_two == 3  # once per step, not per replica
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_mixed_float16_skipped_steps_do_not_advance_t_cur():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inp = keras.Input((5,))
        h = keras.layers.Dense(8, activation="relu", name="hidden")(inp)
        model = keras.Model(inp, keras.layers.Dense(1, name="out", dtype="float32")(h))
        opt = AdamW(learning_rate=1e-3, weight_decays={"kernel": 0.01}, use_cosine_annealing=True,
                    total_iterations=4, t_mult=2, init_verbose=False)
        model.compile(opt, loss="mse")
        assert isinstance(model.optimizer, keras.mixed_precision.LossScaleOptimizer)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(40, 5)).astype("float32")
        x[[8, 9, 24]] = np.inf
        model.fit(x, rng.normal(size=(40, 1)).astype("float32"), batch_size=8, epochs=3,
                  shuffle=False, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    # tf_keras' LossScaleOptimizer counts a skipped step in `iterations` (Keras 3 does
    # not); t_cur counts the 9 applied steps: a cycle of 4, then 5 into the next of 8.
    assert int(opt.iterations.numpy()) == 15
    assert int(opt.t_cur.numpy()) == 5


def test_second_optimizer_reads_the_same_decays():
    model = every_layer_model()
    first = AdamW(model=model, init_verbose=False)
    second = AdamW(model=model, init_verbose=False)  # a re-run notebook cell
    assert first.weight_decays == second.weight_decays
    assert set(second.weight_decays) == set(EXPECTED)
    assert len(model.losses) == 0


def test_names_match_whole_components_with_precedence():
    inp = keras.Input((2,))
    x = inp
    for i in (1, 10):
        x = keras.layers.Dense(2, name=f"dense_{i}")(x)
    model = keras.Model(inp, x, name="norm_model")
    opt = AdamW(weight_decays={"dense_1": 1.0, "dense_1/kernel": 2.0, "kernel": 3.0},
                lr_multipliers={"dense_1": 0.0}, exclude_from_weight_decay=["norm", "bias"],
                init_verbose=False)
    opt.build(model.trainable_variables)
    s = opt.variable_settings
    assert s["dense_1/kernel"].l2 == 2.0 and s["dense_1/bias"].l2 == 0.0
    assert s["dense_10/kernel"].l2 == 3.0
    assert s["dense_1/kernel"].lr_multiplier == 0.0
    assert s["dense_10/kernel"].lr_multiplier == 1.0


def test_string_booleans_are_a_type_error():
    with pytest.raises(TypeError, match="use_cosine_annealing"):
        AdamW(use_cosine_annealing="False", total_iterations=3)


def test_equal_names_keep_their_own_decays_through_save_and_load(tmp_path):
    def sub(name, l2):
        inp = keras.Input((3,))
        return keras.Model(inp, keras.layers.Dense(3, name="proj", use_bias=False,
                                                   kernel_regularizer=keras.regularizers.L2(l2))(inp),
                           name=name)

    inp = keras.Input((3,))
    model = keras.Model(inp, sub("second", 0.3)(sub("first", 0.1)(inp)))
    model.compile(AdamW(model=model, learning_rate=1e-3, init_verbose=False), loss="mse")
    x = np.ones((2, 3), "float32")
    model.fit(x, x, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    loaded.optimizer.build(loaded.trainable_variables)
    settings = loaded.optimizer._variable_settings
    assert [s.l2 for s in settings] == [0.1, 0.3]


def test_shaped_cycles_match_the_reference():
    """Warmup every cycle, decaying peaks and a cycle limit, on tf_keras."""
    cls, base_kwargs, lr, ref_kwargs = ALGOS["adam"]
    model = two_layer_model()
    variables = model.trainable_variables
    names = [v.name.split(":")[0] for v in variables]
    shape = dict(warmup_iterations=2, warmup_each_cycle=True, cycle_decay=0.5, cycle_limit=2)
    ref = Reference("adam", [v.numpy() for v in variables], lr, [MUS[n] for n in names],
                    [DECAYS[n] for n in names], annealing=True, total_iterations=5, t_mult=2,
                    norm="cycle", warmup=2, warmup_each_cycle=True, cycle_decay=0.5,
                    cycle_limit=2, **ref_kwargs)
    opt = cls(learning_rate=lr, weight_decays=DECAYS, lr_multipliers=MUS,
              use_cosine_annealing=True, total_iterations=5, t_mult=2, init_verbose=False,
              **shape, **base_kwargs)
    for grads in gradient_stream(variables, 20):
        assert float(opt.eta_t) == pytest.approx(ref_eta(ref), abs=1e-6)
        opt.apply_gradients(zip(grads, variables))
        ref.step([g.numpy() for g in grads])
        for v, w in zip(variables, ref.w):
            np.testing.assert_allclose(v.numpy(), w, rtol=1e-5, atol=1e-6)
    assert ref.index == 2 and int(opt.cycle.numpy()) == 2


def ref_eta(ref):
    return shaped_multiplier(ref.t_cur, ref.cycle, ref.index, ref.eta_min, ref.eta_max,
                             **ref.shape)


def test_schedule_logger_and_layerwise_decay_on_tf_keras():
    from keras_adamw import ScheduleLogger, layerwise_lr_multipliers

    inp = keras.Input((3,))
    x = keras.layers.Dense(3, name="stem")(inp)
    x = keras.layers.Dense(3, name="block")(x)
    model = keras.Model(inp, keras.layers.Dense(1, name="head")(x))
    table = layerwise_lr_multipliers(model, 0.5, blocks=["block"])
    opt = AdamW(learning_rate=1e-2, lr_multipliers=table, use_cosine_annealing=True,
                total_iterations=4, warmup_iterations=1, init_verbose=False)
    model.compile(opt, loss="mse")
    history = model.fit(np.ones((8, 3), "float32"), np.ones((8, 1), "float32"), batch_size=4,
                        epochs=1, verbose=0, callbacks=[ScheduleLogger()])
    s = opt.variable_settings
    assert s["stem/kernel"].lr_multiplier == 0.25 and s["block/kernel"].lr_multiplier == 0.5
    assert s["head/kernel"].lr_multiplier == 1.0
    assert history.history["eta_t"][-1] == pytest.approx(sgdr_multiplier(0, 3, 0.0, 1.0))


@pytest.mark.parametrize("options", ["cautious", "corrected"])
def test_cautious_and_corrected_decay_follow_the_reference(options):
    """cautious_decay and corrected decay (lr_scaled + decay_follows_schedule) through
    the tf_keras glue, with restarts, groups and l1 (tests/test_modern_decay.py: Keras 3)."""
    model = two_layer_model()
    variables = model.trainable_variables
    ours, theirs = (dict(cautious_decay=True), dict(cautious=True)) if options == "cautious" \
        else (dict(lr_scaled_decay=True, decay_follows_schedule=True, learning_rate_peak=1e-2),
              dict(lr_scaled=True, corrected=True, alpha_peak=1e-2))
    opt = AdamW(learning_rate=1e-2, weight_decays=DECAYS, lr_multipliers=MUS,
                use_cosine_annealing=True, total_iterations=6, t_mult=2, init_verbose=False,
                **ours)
    ref = Reference("adam", [v.numpy() for v in variables], 1e-2, [1.0, 0.5],
                    [DECAYS["a/kernel"], DECAYS["b/kernel"]], annealing=True,
                    total_iterations=6, t_mult=2, norm="cycle", **theirs)
    rng = np.random.default_rng(1)
    for _ in range(12):
        grads = [rng.normal(size=v.shape).astype("float32") for v in variables]
        opt.apply_gradients(zip(grads, variables))
        ref.step(grads)
    for v, w in zip(variables, ref.w):
        np.testing.assert_allclose(v.numpy(), w, rtol=2e-5, atol=2e-6)
