"""Every weight gets exactly the decay it was declared (issue 10): re-created
optimizers, equal paths, names inside words, base classes with their own decay, config
reuse, bad input, layer leftovers, 1.38 compatibility, and linear cost.

Decays are checked with zero gradients: one applied step multiplies each weight by
exactly ``1 - l2 * s`` (Adam's and SGD's own step is zero there)."""

import copy
import inspect
import re
import warnings

import numpy as np
import pytest

import keras
from keras import layers, regularizers

from keras_adamw import AdamW, NadamW, SGDW, decoupled, get_weight_decays
from keras_adamw import matching
from keras_adamw.regularizers import DeclaredDecay


def zero_step(opt, variables, steps=1):
    for _ in range(steps):
        opt.apply_gradients([(keras.ops.zeros(v.shape, v.dtype), v) for v in variables])


def values(variables):
    return [keras.ops.convert_to_numpy(v).astype(np.float64) for v in variables]


def zero_loss(y_true, y_pred):
    """A loss with zero gradient everywhere: what is left of a step is the decay."""
    return 0.0 * keras.ops.sum(y_pred)


# -------------------------------------------------- 1. re-created optimizers

def _base_and_head():
    inp = keras.Input((4,))
    x = layers.Dense(3, name="base", kernel_regularizer=regularizers.L2(0.1))(inp)
    out = layers.Dense(2, name="head", use_bias=False,
                       kernel_regularizer=regularizers.L1L2(0.01, 0.2))(x)
    return keras.Model(inp, out)


def _fit_one_step(model, opt):
    model.compile(opt, loss=zero_loss)
    model.fit(np.ones((4, 4), "float32"), np.ones((4, 2), "float32"), batch_size=4,
              epochs=1, verbose=0)


def test_second_optimizer_reads_the_same_decays(tmp_path):
    model = _base_and_head()
    first = AdamW(model=model, init_verbose=False)
    second = AdamW(model=model, init_verbose=False)  # a re-run notebook cell
    assert first.weight_decays == second.weight_decays == {
        "base/kernel": (0.0, 0.1), "head/kernel": (0.01, 0.2)}
    assert get_weight_decays(model) == first.weight_decays
    model(np.ones((1, 4), "float32"))
    assert len(model.losses) == 0
    # ... and after save and load_model(compile=False)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    third = AdamW(model=loaded, init_verbose=False)
    assert third.weight_decays == first.weight_decays
    loaded(np.ones((1, 4), "float32"))
    assert sum(float(loss) for loss in loaded.losses) == 0.0
    third.build(loaded.trainable_variables)
    assert third.variable_settings["head/kernel"] == first_settings(model)["head/kernel"]


def first_settings(model):
    opt = AdamW(model=model, init_verbose=False)
    opt.build(model.trainable_variables)
    return opt.variable_settings


def test_two_phase_fine_tune_decays_each_weight_by_its_declared_factor():
    """Freeze, fit, unfreeze, recompile with a new AdamW(model=m), fit: one step with
    zero gradients in each phase shrinks every trained weight by exactly its factor.

    The kernels are seeded with magnitudes in [0.5, 1]: the L1 step subtracts 0.01 from
    |w|, so a weight near 0.0125 (Glorot can draw one) would leave a result that float32
    cancellation makes off by more than rtol. Here every result is at least 0.39 in size."""
    model = _base_and_head()
    base, head = model.get_layer("base"), model.get_layer("head")
    rng = np.random.default_rng(0)
    for kernel in (base.kernel, head.kernel):
        kernel.assign((rng.choice([-1.0, 1.0], size=kernel.shape)
                       * rng.uniform(0.5, 1.0, size=kernel.shape)).astype("float32"))
    w0 = values([base.kernel, head.kernel])

    base.trainable = False
    _fit_one_step(model, AdamW(model=model, learning_rate=1e-3, init_verbose=False))
    w1 = values([base.kernel, head.kernel])
    np.testing.assert_array_equal(w1[0], w0[0])  # frozen
    np.testing.assert_allclose(w1[1], w0[1] - (0.01 * np.sign(w0[1]) + 0.2 * w0[1]), rtol=1e-6)

    base.trainable = True
    _fit_one_step(model, AdamW(model=model, learning_rate=1e-5, init_verbose=False))
    w2 = values([base.kernel, head.kernel])
    np.testing.assert_allclose(w2[0], w1[0] * (1 - 0.1), rtol=1e-6)
    np.testing.assert_allclose(w2[1], w1[1] - (0.01 * np.sign(w1[1]) + 0.2 * w1[1]), rtol=1e-6)
    model(np.ones((1, 4), "float32"))
    assert len(model.losses) == 0  # never decayed through the loss as well


# ------------------------------------------------------------ 2. equal paths

def _two_submodels_with_proj():
    def sub(name, l2):
        inp = keras.Input((3,))
        out = layers.Dense(3, name="proj", use_bias=False,
                           kernel_regularizer=regularizers.L2(l2))(inp)
        return keras.Model(inp, out, name=name)

    inp = keras.Input((3,))
    out = sub("second", 1e-4)(sub("first", 0.1)(inp))
    return keras.Model(inp, out)


def test_equal_paths_keep_their_own_decays():
    model = _two_submodels_with_proj()
    kernels = model.trainable_variables
    assert [v.path for v in kernels] == ["proj/kernel", "proj/kernel"]  # Keras 3 paths
    w0 = values(kernels)
    opt = AdamW(model=model, init_verbose=False)
    zero_step(opt, kernels)
    w1 = values(kernels)
    np.testing.assert_allclose(w1[0], w0[0] * (1 - 0.1), rtol=1e-6)
    np.testing.assert_allclose(w1[1], w0[1] * (1 - 1e-4), rtol=1e-6)
    assert [opt.setting_of(v).l2 for v in kernels] == [0.1, 1e-4]
    assert set(opt.variable_settings) == {"proj/kernel", "proj/kernel#2"}


def test_get_weight_decays_warns_when_equal_paths_differ():
    with pytest.warns(UserWarning, match="share the path"):
        decays = get_weight_decays(_two_submodels_with_proj())
    assert decays == {"proj/kernel": (0.0, 0.1)}


def test_equal_paths_survive_save_and_load(tmp_path):
    model = _two_submodels_with_proj()
    model.compile(AdamW(model=model, init_verbose=False), loss="mse")
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    loaded.optimizer.build(loaded.trainable_variables)
    assert [loaded.optimizer.setting_of(v).l2 for v in loaded.trainable_variables] == [0.1, 1e-4]


# -------------------------------------------------------- 3. names in words

def _sequential(name):
    return keras.Sequential([keras.Input((4,)), layers.Dense(3, name="dense"),
                             layers.LayerNormalization(name="ln"),
                             layers.Dense(2, name="dense_1")], name=name)


def test_readme_exclusion_advice_on_a_model_named_abnormality_detector():
    model = _sequential("abnormality_detector")
    opt = AdamW(weight_decays=0.01, exclude_from_weight_decay=["bias", "norm"],
                init_verbose=False)
    opt.build(model.trainable_variables)
    s = {k.split("/", 1)[1]: v for k, v in opt.variable_settings.items()}
    assert all(k.startswith("abnormality_detector/") for k in opt.variable_settings)
    assert s["dense/kernel"].l2 == s["dense_1/kernel"].l2 == 0.01
    assert s["ln/gamma"].l2 == 0.01  # 'norm' is not a component of 'ln/gamma'
    assert s["dense/bias"].l2 == 0.0


def test_component_keys_do_not_match_inside_words():
    inp = keras.Input((2,))
    x = inp
    for i in (1, 10, 11):
        x = layers.Dense(2, name=f"dense_{i}")(x)
    model = keras.Model(inp, layers.Dense(1, name="head")(x), name="mlp_with_head")
    opt = AdamW(lr_multipliers={"dense_1": 0.0, "head": 10.0}, init_verbose=False)
    opt.build(model.trainable_variables)
    s = opt.variable_settings
    assert s["dense_1/kernel"].lr_multiplier == s["dense_1/bias"].lr_multiplier == 0.0
    assert s["dense_10/kernel"].lr_multiplier == s["dense_11/bias"].lr_multiplier == 1.0
    assert s["head/kernel"].lr_multiplier == 10.0


@pytest.mark.parametrize("path, key, expected", [
    ("lstm_1/lstm_cell/kernel", "lstm_1", True),
    ("lstm_1/lstm_cell/kernel", "lstm_1/lstm_cell", True),
    ("lstm_1/lstm_cell/kernel", "lstm_cell/kernel", True),
    ("lstm_1/lstm_cell/kernel", "lstm", False),
    ("lstm_1/lstm_cell/kernel", "lstm_1/kernel", False),  # not consecutive
    ("enormous_net/dense/kernel", "norm", False),
    ("layer_normalization/gamma", "norm", False),
    ("dense_12/kernel", "dense_1", False),
    ("dense_1/kernel", "dense_1/kernel:0", True),
    ("block_3/attn/kernel", re.compile(r"block_\d+/attn"), True),
    ("block_3/mlp/kernel", re.compile(r"block_\d+/attn"), False),
])
def test_matching_by_whole_components(path, key, expected):
    key = matching.normalize_key("k", key)
    assert (matching.Matcher([key]).find(path) is not None) == expected


# Precedence: two keys compete for the same variable in each case.

def _winner(keys, path="block/attn/kernel"):
    d = {k: float(i + 1) for i, k in enumerate(keys)}
    return matching.lookup(matching.normalize_keys("weight_decays", d), path)


def test_exact_path_beats_a_component_key():
    assert _winner(["attn", "block/attn/kernel"]) == 2.0
    assert _winner(["block/attn/kernel", "attn"]) == 1.0


def test_more_specific_key_beats_less_specific():
    assert _winner(["kernel", "attn/kernel"]) == 2.0
    assert _winner(["attn/kernel", "kernel"]) == 1.0
    assert _winner(["block", re.compile(r"attn/ker")]) == 2.0  # a regex spanning two


def test_among_equals_the_first_given_wins():
    assert _winner(["block", "kernel"]) == 1.0
    assert _winner(["kernel", "block"]) == 1.0
    assert _winner(["attn", re.compile("block")]) == 1.0


def test_precedence_through_the_optimizer():
    inp = keras.Input((2,))
    model = keras.Model(inp, layers.Dense(1, name="attn")(inp))
    opt = AdamW(weight_decays={"kernel": 1.0, "attn": 2.0, "attn/kernel": 3.0},
                lr_multipliers={"attn": 0.5, "bias": 0.25}, init_verbose=False)
    opt.build(model.trainable_variables)
    s = opt.variable_settings
    assert s["attn/kernel"].l2 == 3.0 and s["attn/bias"].l2 == 2.0
    assert s["attn/bias"].lr_multiplier == 0.5  # equal specificity: first given


def test_exclusion_by_layer_type_and_1d_rule_without_names():
    inp = keras.Input((5,), dtype="int32")
    x = layers.Embedding(10, 4, name="tokens")(inp)
    x = layers.LayerNormalization(name="weird_name")(x)
    x = layers.Dense(3, name="proj")(x)
    model = keras.Model(inp, x, name="norm_everywhere")
    opt = AdamW(model=model, weight_decays=0.01, exclude_1d=True,
                exclude_from_weight_decay=[layers.Embedding, layers.LayerNormalization],
                init_verbose=False)
    opt.build(model.trainable_variables)
    s = opt.variable_settings
    assert s["proj/kernel"].l2 == 0.01
    assert s["proj/bias"].l2 == 0.0  # 1-D
    assert s["tokens/embeddings"].l2 == 0.0  # by type
    assert s["weird_name/gamma"].l2 == s["weird_name/beta"].l2 == 0.0
    config = opt.get_config()
    assert config["exclude_from_weight_decay"] == ["type:Embedding", "type:LayerNormalization"]
    restored = AdamW.from_config(config)
    restored.build(model.trainable_variables)
    assert restored.variable_settings == opt.variable_settings


def test_layer_types_without_model_is_an_error():
    with pytest.raises(ValueError, match="model="):
        AdamW(weight_decays=0.01, exclude_from_weight_decay=[layers.LayerNormalization])


def test_regex_keys_round_trip_through_the_config():
    model = _sequential("net")
    opt = AdamW(weight_decays={re.compile(r"dense(_\d+)?/kernel"): 0.5},
                init_verbose=False)
    opt.build(model.trainable_variables)
    config = opt.get_config()
    assert config["weight_decays"] == {r"re:dense(_\d+)?/kernel": (0.0, 0.5)}
    clone = AdamW.from_config(config)
    clone.build(model.trainable_variables)
    assert clone.variable_settings == opt.variable_settings
    assert opt.variable_settings["net/dense_1/kernel"].l2 == 0.5
    assert opt.variable_settings["net/dense_1/bias"].l2 == 0.0


# --------------------------------------- 4. decoupled() over a base's own decay

SUPPORTED = ["Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl",
             "Lamb", "Lion", "Muon", "Nadam", "RMSprop", "SGD"]
UNSUPPORTED = ["LossScaleOptimizer", "MultiOptimizer", "ScheduleFreeAdamW", "Optimizer"]


def _muon_has_adam_weight_decay():
    """Muon's adam_weight_decay argument came in Keras 3.13 (Muon itself in 3.10)."""
    muon = getattr(keras.optimizers, "Muon", None)
    return muon is not None and "adam_weight_decay" in inspect.signature(muon).parameters


def _in_this_keras(name):
    """The class as a parameter, skipped where this Keras lacks it (Lamb came in 3.5,
    Muon in 3.10, ScheduleFreeAdamW in 3.14, MultiOptimizer in 3.15)."""
    reason = None
    if not hasattr(keras.optimizers, name):
        reason = f"keras {keras.__version__} has no keras.optimizers.{name}"
    elif name == "Muon" and not _muon_has_adam_weight_decay():
        reason = (f"keras {keras.__version__}'s own Muon cannot take a step on TensorFlow "
                  "('ResourceVariable' object has no attribute 'path'); the Muon of 3.13+ "
                  "(which has adam_weight_decay) can")
    return pytest.param(name, marks=pytest.mark.skipif(reason is not None, reason=reason or ""))


def test_every_keras_optimizer_class_is_covered():
    names = {n for n in dir(keras.optimizers) if isinstance(getattr(keras.optimizers, n), type)
             and issubclass(getattr(keras.optimizers, n), keras.optimizers.Optimizer)}
    assert names <= set(SUPPORTED) | set(UNSUPPORTED) | {"OptimizerMap"}


def _base_without_decay(name):
    cls = getattr(keras.optimizers, name)
    kwargs = {"learning_rate": 1e-2}
    if name in ("AdamW", "Muon"):
        kwargs["weight_decay"] = None if name == "Muon" else 0.0
    if name == "Muon" and _muon_has_adam_weight_decay():
        kwargs["adam_weight_decay"] = None
    return cls(**kwargs)


@pytest.mark.parametrize("name", [_in_this_keras(n) for n in SUPPORTED])
def test_decoupled_base_runs_with_its_own_decay_off(name):
    """decoupled(Base) with our decay == Base with decay 0 plus our decay, step by step."""
    rng = np.random.default_rng(0)
    w0 = [rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(3,)).astype("float32")]
    grads = [[rng.normal(size=w.shape).astype("float32") for w in w0] for _ in range(4)]
    ours = [keras.Variable(w, name=f"w{i}") for i, w in enumerate(w0)]
    theirs = [keras.Variable(w, name=f"w{i}") for i, w in enumerate(w0)]
    opt = decoupled(getattr(keras.optimizers, name))(learning_rate=1e-2, weight_decays=0.1,
                                                      total_iterations_wd=4, init_verbose=False)
    assert getattr(opt, "weight_decay", None) is None
    assert getattr(opt, "adam_weight_decay", None) is None
    base = _base_without_decay(name)
    for g in grads:
        opt.apply_gradients([(keras.ops.convert_to_tensor(x), v) for x, v in zip(g, ours)])
        for v in theirs:
            v.assign(v - 0.1 * 0.5 * v)  # eta = 1, s = sqrt(1/4)
        base.apply_gradients([(keras.ops.convert_to_tensor(x), v) for x, v in zip(g, theirs)])
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
                                   rtol=1e-5, atol=1e-6)


def test_explicit_zero_weight_decay_turns_keras_adamw_decay_off():
    """decoupled(keras.optimizers.AdamW)(weight_decay=0): no lr-scaled 0.004 left."""
    cls = decoupled(keras.optimizers.AdamW)
    for kwargs in ({}, {"weight_decay": 0}, {"weight_decay": 0.0}):
        v = keras.Variable(np.ones(3, "float32"))
        opt = cls(learning_rate=1.0, init_verbose=False, **kwargs)
        zero_step(opt, [v])
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), np.ones(3))
    with pytest.raises(ValueError, match="weight_decays"):
        cls(weight_decay=0.004)


@pytest.mark.skipif(not _muon_has_adam_weight_decay(),
                    reason=f"keras {keras.__version__}'s Muon has no adam_weight_decay (3.13+)")
def test_muon_adam_weight_decay_is_refused():
    with pytest.raises(ValueError, match="adam_weight_decay"):
        decoupled(keras.optimizers.Muon)(adam_weight_decay=0.1)


@pytest.mark.parametrize("name", [_in_this_keras(n) for n in UNSUPPORTED])
def test_unsupported_bases_raise_a_type_error_saying_why(name):
    with pytest.raises(TypeError, match="not supported|no update_step"):
        decoupled(getattr(keras.optimizers, name))


# ----------------------------------------------------- 6. config and deepcopy

def test_config_or_deepcopy_reused_on_another_model():
    first = _sequential("first")
    opt = AdamW(weight_decays={"dense": 0.1}, init_verbose=False)
    opt.build(first.trainable_variables)
    inp = keras.Input((4,))
    other = keras.Model(inp, layers.Dense(2, name="dense")(layers.Dense(5, name="pre")(inp)))
    for clone in (AdamW.from_config(opt.get_config()), copy.deepcopy(opt)):
        fresh = AdamW.from_config(clone.get_config()) if clone.built else clone
        fresh.build(other.trainable_variables)  # no error: its own paths
        assert fresh.variable_settings["dense/kernel"].l2 == 0.1
        assert fresh.variable_settings["pre/kernel"].l2 == 0.0


# --------------------------------------------------------------- 7. bad input

BOOLEANS = ["use_cosine_annealing", "lr_scaled_decay", "zero_penalties", "init_verbose",
            "autorestart", "exclude_1d"]


@pytest.mark.parametrize("name", BOOLEANS)
@pytest.mark.parametrize("value", ["False", "no", 1])
def test_string_booleans_are_a_type_error(name, value):
    kwargs = {name: value, "total_iterations": 10}
    with pytest.raises(TypeError, match=name):
        AdamW(**kwargs)


@pytest.mark.parametrize("kwargs, text", [
    ({"use_cosine_annealing": True, "total_iterations": 10 ** 9, "t_mult": 10}, "total_iterations"),
    ({"use_cosine_annealing": True, "total_iterations": 10 ** 10}, "total_iterations"),
    ({"total_iterations_wd": 10 ** 10}, "total_iterations_wd"),
    ({"t_cur": 2 ** 40}, "t_cur"),
])
def test_counters_that_would_overflow_are_refused(kwargs, text):
    with pytest.raises(ValueError, match=text):
        AdamW(**kwargs)


def test_long_but_reachable_cycles_are_fine():
    AdamW(use_cosine_annealing=True, total_iterations=4, t_mult=2, init_verbose=False)
    AdamW(use_cosine_annealing=True, total_iterations=10 ** 9, init_verbose=False)


@pytest.mark.parametrize("argument", ["weight_decays", "lr_multipliers", "exclude_from_weight_decay"])
@pytest.mark.parametrize("key", ["", ":0", "/", "a//b"])
def test_empty_keys_are_an_error(argument, key):
    value = [key] if argument == "exclude_from_weight_decay" else {key: 0.1}
    with pytest.raises(ValueError, match=argument):
        AdamW(**{argument: value})


def test_model_weight_decays_errors_name_it():
    with pytest.raises(ValueError, match="model_weight_decays"):
        AdamW(model_weight_decays={"a/kernel": -1.0})


# ----------------------------------------------------- 8. layer leftovers

def test_shared_activity_regularizer_survives_model_and_save_load(tmp_path):
    reg = regularizers.L2(0.01)
    inp = keras.Input((2, 4))
    out = layers.MultiHeadAttention(2, 4, name="mha", kernel_regularizer=reg,
                                    activity_regularizer=reg)(inp, inp)
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(3, 2, 4)).astype("float32")
    model(x)
    before = len(model.losses)  # 4 kernel penalties, 4 activity ones (of the sublayers)
    model.compile(AdamW(model=model, init_verbose=False), loss="mse")
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    for m in (model, loaded):
        m(x)
        activity = [float(loss) for loss in m.losses if float(loss) > 0]
        assert len(activity) == before - 4 == 4, m.losses  # activity only, no weight penalty
    assert loaded.get_layer("mha").get_config()["activity_regularizer"] is not None


def test_optimizer_without_model_warns_about_declared_decays_it_ignores():
    model = _base_and_head()
    AdamW(model=model, init_verbose=False)
    plain = AdamW(init_verbose=False)
    with pytest.warns(UserWarning, match="without model="):
        plain.build(model.trainable_variables)


def test_frozen_at_creation_then_unfrozen_keeps_its_declared_decay():
    model = _base_and_head()
    model.get_layer("base").trainable = False
    AdamW(model=model, init_verbose=False)
    model(np.ones((1, 4), "float32"))
    assert len(model.losses) == 0  # the frozen layer's penalty is off too
    model.get_layer("base").trainable = True
    opt = AdamW(model=model, init_verbose=False)
    opt.build(model.trainable_variables)
    assert opt.variable_settings["base/kernel"].l2 == 0.1


# ----------------------------------------------------- 9. 1.38 compatibility

def test_total_iterations_zero_means_not_given():
    opt = AdamW(total_iterations=0, init_verbose=False)
    assert opt.total_iterations is None
    with pytest.raises(ValueError, match="total_iterations"):
        AdamW(total_iterations=0, use_cosine_annealing=True)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="h5 via TensorFlow")
def test_h5_model_loads_with_a_fresh_optimizer_and_trains(tmp_path):
    model = _base_and_head()
    model.compile(AdamW(learning_rate=1e-3, lr_multipliers={"base": 0.5},
                        weight_decays={"head": 0.1}, init_verbose=False),
                  loss=keras.losses.MeanSquaredError())
    x, y = np.ones((4, 4), "float32"), np.ones((4, 2), "float32")
    model.fit(x, y, verbose=0)
    path = str(tmp_path / "m.h5")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is AdamW
    loaded.fit(x, y, verbose=0)
    s = loaded.optimizer.variable_settings
    assert s["base/kernel"].lr_multiplier == 0.5 and s["head/kernel"].l2 == 0.1


# --------------------------------------------------------------- 10. scale

def test_reading_decays_from_a_model_is_linear_in_its_variables(monkeypatch):
    """Count the work (regularizer reads and key comparisons), not the time."""
    from keras_adamw import regularizers as regs

    def work(n):
        inp = keras.Input((2,))
        x = inp
        for i in range(n):
            x = layers.Dense(2, name=f"d{i}", kernel_regularizer=regularizers.L2(1e-4))(x)
        model = keras.Model(inp, x)
        calls = {"n": 0}
        real_decay, real_spec = regs.regularizer_decay, matching.Matcher.specificity

        def count_decay(*a, **k):
            calls["n"] += 1
            return real_decay(*a, **k)

        def count_spec(self, *a):
            calls["n"] += 1
            return real_spec(self, *a)

        monkeypatch.setattr(regs, "regularizer_decay", count_decay)
        monkeypatch.setattr(matching.Matcher, "specificity", count_spec)
        opt = AdamW(model=model, weight_decays={"d0": 0.1}, lr_multipliers={"kernel": 2.0},
                    init_verbose=False)
        opt.build(model.trainable_variables)
        monkeypatch.undo()
        return calls["n"]

    small, large = work(50), work(200)
    assert large <= 4.4 * small, (small, large)


# ------------------------------------------------------------ the other classes

@pytest.mark.parametrize("cls", [NadamW, SGDW])
def test_other_classes_read_declared_decays_twice(cls):
    model = _base_and_head()
    assert cls(model=model, init_verbose=False).weight_decays == \
        cls(model=model, init_verbose=False).weight_decays == {
            "base/kernel": (0.0, 0.1), "head/kernel": (0.01, 0.2)}


def test_declared_decay_marker_adds_nothing_and_serializes():
    marker = DeclaredDecay(0.01, 0.2)
    assert float(marker(keras.ops.ones((3,)))) == 0.0
    clone = keras.regularizers.deserialize(keras.regularizers.serialize(marker))
    assert isinstance(clone, DeclaredDecay) and (clone.l1, clone.l2) == (0.01, 0.2)


def test_no_warning_noise_for_a_plain_model():
    inp = keras.Input((2,))
    model = keras.Model(inp, layers.Dense(1)(inp))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = AdamW(model=model, weight_decays=1e-3, init_verbose=False)
        opt.build(model.trainable_variables)


# ------------------------------------------------- found by hostile testing

def test_an_exclusion_that_drops_a_declared_decay_says_so():
    inp = keras.Input((3,))
    x = layers.Dense(4, name="d", kernel_regularizer=regularizers.L2(0.1),
                     bias_regularizer=regularizers.L2(0.2))(inp)
    model = keras.Model(inp, layers.LayerNormalization(
        name="ln", gamma_regularizer=regularizers.L2(0.3))(x))
    opt = AdamW(model=model, exclude_1d=True, init_verbose=False)
    with pytest.warns(UserWarning, match=r"d/bias.*ln/gamma.*not applied"):
        opt.build(model.trainable_variables)
    assert opt.variable_settings["d/kernel"].l2 == 0.1
    assert opt.variable_settings["d/bias"].l2 == opt.variable_settings["ln/gamma"].l2 == 0.0


def test_keras_exclude_method_survives_save_and_load(tmp_path):
    model = _base_and_head()
    opt = AdamW(weight_decays=0.1, init_verbose=False)
    opt.exclude_from_weight_decay(var_names=["bias"])
    _fit_one_step(model, opt)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, custom_objects={"zero_loss": zero_loss})
    loaded.optimizer.build(loaded.trainable_variables)
    s = loaded.optimizer.variable_settings
    assert s["base/bias"].l2 == 0.0 and s["base/kernel"].l2 == 0.1


def test_the_138_fill_manually_step_replaces_the_entry():
    """1.38 README: weight_decays.update({'conv1d_0/kernel:0': (1e-4, 0)})."""
    model = _base_and_head()
    wd = get_weight_decays(model)
    wd.update({"base/kernel:0": (1e-4, 0)})
    with pytest.warns(UserWarning, match="twice"):
        opt = AdamW(weight_decays=wd, init_verbose=False)
    opt.build(model.trainable_variables)
    assert (opt.variable_settings["base/kernel"].l1, opt.variable_settings["base/kernel"].l2) == (1e-4, 0)


def test_t_cur_past_the_first_cycle_with_autorestart_is_an_error():
    with pytest.raises(ValueError, match="t_cur"):
        AdamW(use_cosine_annealing=True, total_iterations=5, t_cur=5)
    AdamW(use_cosine_annealing=True, total_iterations=5, t_cur=9, autorestart=False,
          init_verbose=False)  # clamped at eta_min until a restart: allowed


def test_type_exclusions_survive_a_save_before_training(tmp_path):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(4, name="d"),
                              layers.LayerNormalization(name="ln"), layers.Dense(1, name="out")])
    model.compile(AdamW(model=model, weight_decays=0.1, init_verbose=False,
                        exclude_from_weight_decay=[layers.LayerNormalization]), loss="mse")
    path = str(tmp_path / "m.keras")
    model.save(path)  # the optimizer is not built yet
    loaded = keras.saving.load_model(path)
    loaded.optimizer.build(loaded.trainable_variables)
    s = {k.split("/", 1)[1]: v for k, v in loaded.optimizer.variable_settings.items()}
    assert s["ln/gamma"].l2 == s["ln/beta"].l2 == 0.0 and s["d/kernel"].l2 == 0.1


def test_a_broad_key_with_exclusions_is_no_warning():
    """{"dense": 1e-3} with exclude "bias": the usual recipe, nothing to report."""
    model = _sequential("net")
    opt = AdamW(weight_decays={"dense": 1e-3}, exclude_from_weight_decay=["bias"],
                init_verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.build(model.trainable_variables)
    assert opt.variable_settings["net/dense/bias"].l2 == 0.0
