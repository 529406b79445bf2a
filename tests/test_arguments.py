"""Bad input, name matching, reading decays from a model, config round trips."""

import numpy as np
import pytest

import keras
from helpers import two_layer_model

from keras_adamw import (AdamW, NadamW, SGDW, decoupled, fill_dict_in_order,
                         get_weight_decays)

# ------------------------------------------------------------------ bad input

BAD = [
    ({"learning_rate": -1e-3}, ValueError, "learning_rate"),
    ({"lr": -1e-3}, ValueError, "learning_rate"),
    ({"lr": 1e-3, "learning_rate": 1e-3}, TypeError, "lr"),
    ({"lr_multipliers": {"a": -0.5}}, ValueError, "lr_multipliers"),
    ({"lr_multipliers": [("a", 0.5)]}, TypeError, "lr_multipliers"),
    ({"lr_multipliers": {"a": "fast"}}, TypeError, "lr_multipliers"),
    ({"weight_decays": -1e-4}, ValueError, "weight_decays"),
    ({"weight_decays": {"a": -1e-4}}, ValueError, "weight_decays"),
    ({"weight_decays": {"a": (1e-4, -1e-4)}}, ValueError, "weight_decays"),
    ({"weight_decays": {"a": (1e-4, 1e-4, 0)}}, ValueError, "(l1, l2)"),
    ({"weight_decays": {"a": "l2"}}, TypeError, "weight_decays"),
    ({"weight_decays": "l2"}, TypeError, "weight_decays"),
    ({"weight_decays": {1: 1e-4}}, TypeError, "weight_decays"),
    ({"eta_min": -0.1}, ValueError, "eta_min"),
    ({"eta_max": -1.0}, ValueError, "eta_max"),
    ({"eta_min": 0.5, "eta_max": 0.1}, ValueError, "eta_min"),
    ({"t_cur": -1}, ValueError, "t_cur"),
    ({"t_cur": 1.5}, ValueError, "t_cur"),
    ({"use_cosine_annealing": True}, ValueError, "total_iterations"),
    ({"use_cosine_annealing": True, "total_iterations": 0}, ValueError, "total_iterations"),
    ({"use_cosine_annealing": True, "total_iterations": 10.5}, TypeError, "total_iterations"),
    ({"total_iterations": -3}, ValueError, "total_iterations"),
    ({"total_iterations_wd": 0}, ValueError, "total_iterations_wd"),
    ({"t_mult": 0}, ValueError, "t_mult"),
    ({"t_mult": 1.5}, TypeError, "t_mult"),
    ({"autorestart": True}, ValueError, "autorestart"),
    ({"weight_decay": 0.01}, ValueError, "weight_decays"),
    ({"exclude_from_weight_decay": [1]}, TypeError, "exclude_from_weight_decay"),
    ({"not_an_argument": 1}, ValueError, "not_an_argument"),
]


@pytest.mark.parametrize("cls", [AdamW, SGDW])
@pytest.mark.parametrize("kwargs, error, text", BAD)
def test_bad_input_raises_naming_the_argument(cls, kwargs, error, text):
    with pytest.raises(error, match=None) as info:
        cls(**kwargs)
    assert text in str(info.value)


def test_weight_decay_error_explains_the_alternatives():
    with pytest.raises(ValueError) as info:
        AdamW(weight_decay=0.004)
    assert "weight_decays" in str(info.value) and "lr_scaled_decay" in str(info.value)


def test_float_weight_decays_with_model_fills_in_undeclared_decays():
    """A float with model=: declared decays win, the float decays every other variable."""
    inp = keras.Input((3,))
    x = keras.layers.Dense(2, name="reg", kernel_regularizer=keras.regularizers.L2(0.5))(inp)
    model = keras.Model(inp, keras.layers.Dense(1, name="free")(x))
    opt = AdamW(model=model, weight_decays=1e-2, init_verbose=False)
    s = _settings(opt, model)
    assert (s["reg/kernel"].l1, s["reg/kernel"].l2) == (0.0, 0.5)
    assert s["reg/bias"].l2 == s["free/kernel"].l2 == s["free/bias"].l2 == 1e-2


@pytest.mark.parametrize("argument", ["weight_decays", "lr_multipliers"])
def test_key_matching_nothing_is_an_error_at_build(model, argument):
    opt = AdamW(**{argument: {"a/kernel": 0.1, "dense_7": 0.1}}, init_verbose=False)
    with pytest.raises(ValueError) as info:
        opt.build(model.trainable_variables)
    message = str(info.value)
    assert argument in message and "'dense_7'" in message and "a/kernel" in message
    assert "'a/kernel':" not in message  # only the unmatched key is reported


@pytest.mark.parametrize("argument, value", [("weight_decays", {"a/kernel": 0.1, "dense_7": 0.1}),
                                             ("lr_multipliers", {"a/kernel": 0.1, "dense_7": 0.1}),
                                             ("decay_toward", {"dense_7": "initial"})])
def test_with_model_a_key_matching_nothing_is_an_error_at_construction(model, argument, value,
                                                                       capsys):
    """The variables are known: a typo fails before the table is printed and before
    the model's penalties are touched, not at the first step of fit."""
    extra = {"weight_decays": 0.1} if argument == "decay_toward" else {}
    with pytest.raises(ValueError) as info:
        AdamW(model=model, **{argument: value}, **extra)
    message = str(info.value)
    assert argument in message and "'dense_7'" in message and "a/kernel" in message
    assert capsys.readouterr().out == ""


def test_unknown_model_argument_type():
    with pytest.raises(TypeError, match="model"):
        AdamW(model="my_model")


# ------------------------------------------------------------------- matching

def _settings(opt, model):
    opt.build(model.trainable_variables)
    return opt.variable_settings


def _model_with_paths():
    inp = keras.Input((4,))
    x = keras.layers.Dense(3, name="dense")(inp)
    x = keras.layers.Dense(3, name="extra_dense")(x)
    out = keras.layers.Dense(1, name="head")(x)
    return keras.Model(inp, out)


def test_exact_path_wins_then_most_components():
    model = _model_with_paths()
    opt = AdamW(weight_decays={"dense": 1.0, "extra_dense/kernel": 2.0, "dense/kernel:0": 3.0},
                lr_multipliers={"kernel": 0.1, "head/kernel": 0.5}, init_verbose=False)
    s = _settings(opt, model)
    assert s["dense/kernel"].l2 == 3.0            # exact (':0' ignored)
    assert s["extra_dense/kernel"].l2 == 2.0      # exact
    assert s["dense/bias"].l2 == 1.0              # component 'dense'
    assert s["extra_dense/bias"].l2 == 0.0        # 'dense' is not a component of it
    assert s["head/kernel"].l2 == 0.0             # nothing matches
    assert s["head/kernel"].lr_multiplier == 0.5  # exact beats 'kernel'
    assert s["dense/kernel"].lr_multiplier == 0.1
    assert s["head/bias"].lr_multiplier == 1.0


def test_exclude_from_weight_decay_patterns_may_match_nothing():
    model = _model_with_paths()
    opt = AdamW(weight_decays=0.01, exclude_from_weight_decay=["bias", "norm"],
                init_verbose=False)
    s = _settings(opt, model)
    assert s["dense/kernel"].l2 == 0.01 and s["dense/bias"].l2 == 0.0


def test_keras_exclude_method_is_honoured():
    model = _model_with_paths()
    opt = AdamW(weight_decays=0.01, init_verbose=False)
    opt.exclude_from_weight_decay(var_names=["bias"])
    s = _settings(opt, model)
    assert s["head/kernel"].l2 == 0.01 and s["head/bias"].l2 == 0.0


def test_model_read_keys_match_only_their_own_path():
    model = _model_with_paths()
    model.get_layer("dense").kernel.regularizer = keras.regularizers.L2(0.5)
    opt = AdamW(model=model, init_verbose=False)
    s = _settings(opt, model)
    assert s["dense/kernel"].l2 == 0.5
    assert s["extra_dense/kernel"].l2 == 0.0


def test_weight_decays_dict_overrides_model_with_a_note():
    model = _model_with_paths()
    model.get_layer("dense").kernel.regularizer = keras.regularizers.L2(0.5)
    model.get_layer("head").kernel.regularizer = keras.regularizers.L1(0.25)
    with pytest.warns(UserWarning, match="overrides"):
        opt = AdamW(model=model, weight_decays={"dense/kernel": (0.0, 0.125)},
                    init_verbose=False)
    s = _settings(opt, model)
    assert s["dense/kernel"].l2 == 0.125 and s["head/kernel"].l1 == 0.25
    assert opt.weight_decays == {"dense/kernel": (0.0, 0.125), "head/kernel": (0.25, 0.0)}


# --------------------------------------------------------- decays from a model

def _regularized_model():
    inp = keras.Input((6, 4))
    x = keras.layers.LSTM(5, name="lstm_1", return_sequences=True,
                          kernel_regularizer=keras.regularizers.l1(1e-4),
                          recurrent_regularizer=keras.regularizers.l2(2e-4))(inp)
    x = keras.layers.Conv1D(3, 2, name="conv1d_0",
                            kernel_regularizer=keras.regularizers.l1_l2(3e-4, 4e-4),
                            bias_regularizer=keras.regularizers.l2(5e-4))(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(1, name="dense", kernel_regularizer=keras.regularizers.L2(6e-4))(x)
    return keras.Model(inp, out)


EXPECTED = {
    "lstm_1/lstm_cell/kernel": (1e-4, 0.0),
    "lstm_1/lstm_cell/recurrent_kernel": (0.0, 2e-4),
    "conv1d_0/kernel": (3e-4, 4e-4),
    "conv1d_0/bias": (0.0, 5e-4),
    "dense/kernel": (0.0, 6e-4),
}


def _assert_decays(actual, expected):
    assert set(actual) == set(expected)
    for key, (l1, l2) in expected.items():
        assert actual[key] == pytest.approx((l1, l2), rel=1e-6), key


def test_get_weight_decays_reads_dense_lstm_conv():
    _assert_decays(get_weight_decays(_regularized_model()), EXPECTED)


def test_model_argument_reads_then_zeroes_penalties():
    model = _regularized_model()
    x = np.random.default_rng(0).normal(size=(2, 6, 4)).astype("float32")
    model(x)
    assert float(sum(model.losses)) > 0
    opt = AdamW(model, lr=1e-3, init_verbose=False)  # model as first positional argument
    _assert_decays(opt.weight_decays, EXPECTED)
    model(x)
    assert len(model.losses) == 0
    _assert_decays(get_weight_decays(model), EXPECTED)  # still declared, not in the loss


def test_zero_penalties_false_keeps_them():
    model = _regularized_model()
    AdamW(model=model, zero_penalties=False, init_verbose=False)
    assert float(sum(model.losses)) > 0
    _assert_decays(get_weight_decays(model), EXPECTED)


def test_decays_read_from_model_are_applied():
    """With g = 0 one step shrinks a regularized kernel by (1 - l2 * s) and leaves
    an unregularized one alone."""
    inp = keras.Input((3,))
    x = keras.layers.Dense(4, name="reg", kernel_regularizer=keras.regularizers.L2(0.2))(inp)
    out = keras.layers.Dense(1, name="free")(x)
    model = keras.Model(inp, out)
    before = {v.path: v.numpy() for v in model.trainable_variables}
    opt = AdamW(model=model, total_iterations_wd=4, init_verbose=False)
    zeros = [np.zeros(v.shape, "float32") for v in model.trainable_variables]
    opt.apply_gradients(zip(zeros, model.trainable_variables))
    after = {v.path: v.numpy() for v in model.trainable_variables}
    np.testing.assert_allclose(after["reg/kernel"], before["reg/kernel"] * (1 - 0.2 * 0.5), rtol=1e-6)
    np.testing.assert_array_equal(after["free/kernel"], before["free/kernel"])


def test_fill_dict_in_order():
    d = get_weight_decays(_regularized_model())
    values = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    out = fill_dict_in_order(d, values)
    assert out is d and list(d.values()) == values
    with pytest.raises(ValueError, match="5 keys"):
        fill_dict_in_order(d, values[:2])


def test_init_verbose_prints_one_table(model, capsys):
    opt = AdamW(weight_decays={"a/kernel": (1e-3, 1e-2)}, lr_multipliers={"b": 0.5},
                use_cosine_annealing=True, total_iterations=4)
    opt.build(model.trainable_variables)
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert len(lines) == 5  # title, header, rule, two variables
    assert "a/kernel" in lines[3] and "0.005*w" in lines[3]  # 1e-2 * eta_0 * sqrt(1/4)
    assert "b/kernel" in lines[4] and "0.5" in lines[4]
    opt.apply_gradients(zip([np.zeros(v.shape, "float32") for v in model.trainable_variables],
                            model.trainable_variables))
    assert capsys.readouterr().out == ""


# ----------------------------------------------------------- state and config

def test_t_cur_exists_before_build_and_restart_takes_effect(model):
    opt = AdamW(use_cosine_annealing=True, total_iterations=5, autorestart=False,
                init_verbose=False)
    assert int(opt.t_cur.numpy()) == 0 and float(opt.eta_t) == 1.0
    zeros = [np.zeros(v.shape, "float32") for v in model.trainable_variables]
    for _ in range(8):
        opt.apply_gradients(zip(zeros, model.trainable_variables))
    assert int(opt.t_cur.numpy()) == 8 and float(opt.eta_t) == 0.0  # clamped at eta_min
    opt.t_cur.assign(0)
    assert float(opt.eta_t) == 1.0


def test_config_round_trip_every_argument():
    opt = SGDW(learning_rate=0.1, momentum=0.9, nesterov=True,
               weight_decays={"a": (1e-4, 2e-4)}, lr_multipliers={"b": 0.5},
               exclude_from_weight_decay=["bias"], lr_scaled_decay=True,
               use_cosine_annealing=True, total_iterations=7, total_iterations_wd=50,
               t_mult=2, eta_min=0.1, eta_max=0.9, t_cur=3, init_verbose=False)
    config = opt.get_config()
    clone = SGDW.from_config(config)
    assert clone.get_config() == config
    assert config["t_mult"] == 2 and config["lr_scaled_decay"] is True
    assert config["weight_decays"] == {"a": (1e-4, 2e-4)}


@pytest.mark.parametrize("cls", [AdamW, NadamW, SGDW, decoupled(keras.optimizers.Lion)])
def test_saved_model_loads_without_custom_objects(tmp_path, cls):
    model = two_layer_model()
    model.compile(cls(learning_rate=1e-3, weight_decays={"a": 1e-2}, use_cosine_annealing=True,
                      total_iterations=3, t_mult=2, init_verbose=False), loss="mse")
    x = np.ones((8, 4), "float32")
    model.fit(x, np.zeros((8, 2), "float32"), batch_size=4, epochs=2, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is cls
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert int(loaded.optimizer.t_cur.numpy()) == int(model.optimizer.t_cur.numpy()) == 1


def test_load_model_does_not_print_the_table_again(tmp_path, capsys):
    """The table was printed when the optimizer was made; after a resume it would show
    step 0's values."""
    model = two_layer_model()
    model.compile(AdamW(weight_decays=0.1, use_cosine_annealing=True, total_iterations=40),
                  loss="mse")
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 2), "float32"), batch_size=4,
              epochs=2, verbose=0)
    assert "a/kernel" in capsys.readouterr().out
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    loaded.fit(np.ones((8, 4), "float32"), np.ones((8, 2), "float32"), batch_size=4,
               epochs=1, verbose=0)
    assert capsys.readouterr().out == ""
    assert int(loaded.optimizer.t_cur.numpy()) == 6


def test_decoupled_is_cached_and_rejects_non_optimizers():
    assert decoupled(keras.optimizers.Adam) is AdamW
    assert decoupled(keras.optimizers.Lion) is decoupled(keras.optimizers.Lion)
    with pytest.raises(TypeError, match="base_cls"):
        decoupled(dict)
    with pytest.raises(TypeError, match="already"):
        decoupled(AdamW)


def test_init_verbose_with_model_prints_before_training(capsys):
    """With model= the table is printed at construction, so fit's progress bar is
    never interrupted by it (the build prints nothing more)."""
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(1, name="d",
                                                kernel_regularizer=keras.regularizers.L2(0.1))(inp))
    opt = AdamW(model=model, learning_rate=1e-3)
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 5 and "d/kernel" in printed[3] and "0.1*w" in printed[3]
    model.compile(opt, loss="mse")
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 1), "float32"), verbose=0)
    assert capsys.readouterr().out == ""


def test_a_key_for_frozen_weights_warns_and_applies_after_unfreezing(tmp_path):
    """Head first, backbone frozen, one set of keys for both phases: a key that matches
    only frozen weights warns at build (it is not a typo: the model has them), fit runs,
    a save and load_model of that phase works, and after unfreezing the key applies."""
    inp = keras.Input((4,))
    backbone = keras.layers.Dense(5, name="backbone")
    model = keras.Model(inp, keras.layers.Dense(2, name="head")(backbone(inp)))
    backbone.trainable = False
    kwargs = dict(lr_multipliers={"backbone": 0.1}, weight_decays={"backbone": 1e-4},
                  init_verbose=False)
    model.compile(AdamW(model=model, **kwargs), loss="mse")
    x, y = np.ones((4, 4), "float32"), np.ones((4, 2), "float32")
    with pytest.warns(UserWarning, match="not trained now"):
        model.fit(x, y, verbose=0)
    model.save(tmp_path / "phase1.keras")
    with pytest.warns(UserWarning, match="not trained now"):
        keras.saving.load_model(tmp_path / "phase1.keras")
    with pytest.raises(ValueError, match="backbon"):  # a typo is still an error
        AdamW(model=model, lr_multipliers={"backbon": 0.1}, init_verbose=False)
    backbone.trainable = True
    opt = AdamW(model=model, **kwargs)
    model.compile(opt, loss="mse")
    model.fit(x, y, verbose=0)
    assert opt.setting_of(backbone.kernel).lr_multiplier == 0.1
