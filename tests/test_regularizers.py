"""Decays from any model: every layer kind, penalties zeroed for good (also after a
save and load), untranslatable regularizers left in the loss and reported."""

import warnings

import numpy as np
import pytest

import keras
from keras import layers, regularizers

from keras_adamw import AdamW, get_weight_decays


@keras.saving.register_keras_serializable(package="keras_adamw_tests")
class ScaledIdentity(layers.Layer):
    """A custom layer whose weight gets its regularizer from a float in its config:
    zeroing the variable's regularizer does not change this config, so a reloaded
    model gets the penalty back unless the optimizer zeroes it again at build."""

    def __init__(self, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.l2 = l2

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones",
                                     regularizer=regularizers.L2(self.l2), name="scale")

    def call(self, x):
        return x * self.scale

    def get_config(self):
        return {**super().get_config(), "l2": self.l2}


def every_layer_model():
    """One model with every layer kind that holds weights with regularizers.

    Every layer is named, so paths do not depend on how many models were built."""
    image = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(4, 3, name="conv", kernel_regularizer=regularizers.L1L2(1e-5, 2e-5),
                      bias_regularizer=regularizers.L1(3e-5))(image)
    x = layers.DepthwiseConv2D(3, name="depthwise",
                               depthwise_regularizer=regularizers.L2(4e-5))(x)
    x = layers.SeparableConv2D(4, 2, name="separable",
                               depthwise_regularizer=regularizers.L1(5e-5),
                               pointwise_regularizer=regularizers.L2(6e-5),
                               bias_regularizer=regularizers.L1L2(7e-5, 8e-5))(x)
    x = layers.BatchNormalization(name="bn", gamma_regularizer=regularizers.L2(9e-5),
                                  beta_regularizer=regularizers.L1(1.1e-4))(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.LayerNormalization(name="ln", gamma_regularizer=regularizers.L1L2(1.2e-4, 1.3e-4),
                                  beta_regularizer=regularizers.L2(1.4e-4))(x)

    tokens = keras.Input((5,), dtype="int32", name="tokens")
    s = layers.Embedding(20, 6, name="embed",
                         embeddings_regularizer=regularizers.L2(1.5e-4))(tokens)
    s = layers.LSTM(3, name="lstm", return_sequences=True,
                    kernel_regularizer=regularizers.L1(1.6e-4),
                    recurrent_regularizer=regularizers.L2(1.7e-4),
                    bias_regularizer=regularizers.L1L2(1.8e-4, 1.9e-4))(s)
    s = layers.Bidirectional(layers.GRU(2, return_sequences=True,
                                        kernel_regularizer=regularizers.L2(2.1e-4), name="gru"),
                             name="bidi")(s)
    s = layers.TimeDistributed(layers.Dense(3, kernel_regularizer=regularizers.L1(2.2e-4), name="dense"),
                               name="td")(s)
    s = layers.RNN(layers.SimpleRNNCell(2, recurrent_regularizer=regularizers.L2(2.3e-4),
                                        name="simple_rnn_cell"),
                   name="rnn")(s)

    inner_in = keras.Input((6,))
    inner_out = layers.Dense(4, name="inner_dense",
                             kernel_regularizer=regularizers.L2(2.4e-4))(inner_in)
    inner = keras.Model(inner_in, inner_out, name="inner")

    h = layers.Concatenate()([x, s])
    h = inner(h)
    h = ScaledIdentity(l2=2.5e-4, name="custom")(h)
    out = layers.Dense(1, name="head", kernel_regularizer=regularizers.L2(2.6e-4))(h)
    return keras.Model([image, tokens], out)


EXPECTED = {
    "conv/kernel": (1e-5, 2e-5),
    "conv/bias": (3e-5, 0.0),
    "depthwise/kernel": (0.0, 4e-5),
    "separable/depthwise_kernel": (5e-5, 0.0),
    "separable/pointwise_kernel": (0.0, 6e-5),
    "separable/bias": (7e-5, 8e-5),
    "bn/gamma": (0.0, 9e-5),
    "bn/beta": (1.1e-4, 0.0),
    "ln/gamma": (1.2e-4, 1.3e-4),
    "ln/beta": (0.0, 1.4e-4),
    "embed/embeddings": (0.0, 1.5e-4),
    "lstm/lstm_cell/kernel": (1.6e-4, 0.0),
    "lstm/lstm_cell/recurrent_kernel": (0.0, 1.7e-4),
    "lstm/lstm_cell/bias": (1.8e-4, 1.9e-4),
    "bidi/forward_gru/gru_cell/kernel": (0.0, 2.1e-4),
    "bidi/backward_gru/gru_cell/kernel": (0.0, 2.1e-4),
    "td/dense/kernel": (2.2e-4, 0.0),
    "rnn/simple_rnn_cell/recurrent_kernel": (0.0, 2.3e-4),
    "inner_dense/kernel": (0.0, 2.4e-4),  # a nested functional model: its layers own the path
    "custom/scale": (0.0, 2.5e-4),
    "head/kernel": (0.0, 2.6e-4),
}


def inputs(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, 8, 8, 3)).astype("float32"),
            rng.integers(0, 20, size=(n, 5)).astype("int32")]


def penalty(model):
    model(inputs(), training=False)
    return float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses))


def _paths_of(model):
    return {v.path for v in model.trainable_weights}


def test_every_layer_kind_is_read_with_its_exact_pair():
    model = every_layer_model()
    decays = get_weight_decays(model)
    assert set(EXPECTED) <= _paths_of(model)  # the expected paths are real variables
    assert set(decays) == set(EXPECTED)
    for path, pair in EXPECTED.items():
        assert decays[path] == pytest.approx(pair, rel=1e-6, abs=0), path
    assert penalty(model) > 0  # get_weight_decays changes nothing


def test_model_argument_zeroes_every_penalty_and_applies_the_decays():
    model = every_layer_model()
    assert penalty(model) > 0
    opt = AdamW(model=model, init_verbose=False)
    assert penalty(model) == 0 and len(model.losses) == 0
    opt.build(model.trainable_variables)
    settings = opt.variable_settings
    for path, (l1, l2) in EXPECTED.items():
        assert (settings[path].l1, settings[path].l2) == pytest.approx((l1, l2), rel=1e-6)
    unregularized = _paths_of(model) - set(EXPECTED)
    assert unregularized and all(settings[p].l1 == settings[p].l2 == 0 for p in unregularized)


def test_zero_penalties_false_keeps_every_penalty():
    model = every_layer_model()
    before = penalty(model)
    opt = AdamW(model=model, zero_penalties=False, init_verbose=False)
    assert penalty(model) == pytest.approx(before)
    assert set(opt.weight_decays) == set(EXPECTED)


def test_penalties_stay_zero_after_save_and_load(tmp_path):
    model = every_layer_model()
    model.compile(AdamW(model=model, learning_rate=1e-3, lr_multipliers={"bidi": 0.5},
                        init_verbose=False), loss="mse")
    model.fit(inputs(), np.zeros((4, 1), "float32"), verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(path)
    # The file keeps the regularizers (Keras alone loads it); the restored optimizer,
    # built while loading, turns the penalties off again, quietly: they are the ones
    # its config saved.
    assert [str(w.message) for w in caught if "keras_adamw" in str(w.message)] == []
    assert penalty(loaded) == 0 and len(loaded.losses) == 0
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert set(loaded.optimizer.weight_decays) == set(EXPECTED)
    # Keras drops the wrapper prefix from some paths on reload; the restored
    # optimizer still gives every variable the settings it had.
    assert any(v.path == "forward_gru/gru_cell/kernel" for v in loaded.trainable_variables)
    assert loaded.optimizer.variable_settings == model.optimizer.variable_settings
    assert loaded.optimizer.variable_settings["bidi/forward_gru/gru_cell/kernel"] == \
        model.optimizer.variable_settings["bidi/forward_gru/gru_cell/kernel"]
    assert model.optimizer.variable_settings["bidi/forward_gru/gru_cell/kernel"].lr_multiplier == 0.5
    # ... and training the loaded model decays the weights once, by the optimizer.
    loaded.fit(inputs(), np.zeros((4, 1), "float32"), verbose=0)
    assert penalty(loaded) == 0


def test_a_live_penalty_the_config_did_not_save_is_zeroed_at_build_with_a_warning():
    """A reloaded model's own penalties are turned off quietly at build (the config
    saved them); one that differs from the saved decay is turned off with a warning,
    and its value is the decay applied."""
    inp = keras.Input((3,))
    model = keras.Model(inp, ScaledIdentity(l2=0.5, name="custom")(inp))
    opt = AdamW(model=model, init_verbose=False)
    clone = keras.Model.from_config(model.get_config())  # what load_model does
    assert penalty_of(clone) > 0
    restored = AdamW.from_config(opt.get_config())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restored.build(clone.trainable_variables)
    assert not [w for w in caught if "removed the L1/L2" in str(w.message)]
    assert penalty_of(clone) == 0
    assert restored.variable_settings["custom/scale"].l2 == 0.5
    other = keras.Model(inp, ScaledIdentity(l2=0.7, name="custom")(inp))
    restored = AdamW.from_config(opt.get_config())
    with pytest.warns(UserWarning, match="custom/scale"):
        restored.build(other.trainable_variables)
    assert penalty_of(other) == 0
    assert restored.variable_settings["custom/scale"].l2 == 0.7


def penalty_of(model):
    model(np.ones((1, 3), "float32"))
    return float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses))


def test_untranslatable_regularizer_stays_in_the_loss_and_is_reported_once():
    inp = keras.Input((4,))
    x = layers.Dense(4, name="ortho",
                     kernel_regularizer=regularizers.OrthogonalRegularizer(0.1))(inp)
    out = layers.Dense(1, name="plain", kernel_regularizer=regularizers.L2(0.01))(x)
    model = keras.Model(inp, out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt = AdamW(model=model, init_verbose=False)
    reports = [w for w in caught if "ortho/kernel" in str(w.message)]
    assert len(reports) == 1 and "OrthogonalRegularizer" in str(reports[0].message)
    assert opt.weight_decays == {"plain/kernel": (0.0, 0.01)}
    model(np.ones((2, 4), "float32"))
    assert len(model.losses) == 1 and float(model.losses[0]) > 0  # the orthogonal one


def test_activity_regularizer_is_not_a_weight_decay():
    inp = keras.Input((4,))
    reg = regularizers.L2(0.01)
    out = layers.Dense(2, name="d", kernel_regularizer=reg, activity_regularizer=reg)(inp)
    model = keras.Model(inp, out)
    opt = AdamW(model=model, init_verbose=False)
    assert opt.weight_decays == {"d/kernel": (0.0, 0.01)}
    assert model.layers[-1].activity_regularizer is reg
    assert model.layers[-1].kernel_regularizer is reg  # kept for the config
    assert model.layers[-1].kernel.regularizer is None  # the penalty is off
    model(np.ones((2, 4), "float32"))
    assert len(model.losses) == 1  # the activity penalty alone


def test_unbuilt_model_is_a_clear_error():
    model = keras.Sequential([layers.Dense(2, kernel_regularizer=regularizers.L2(0.1))])
    with pytest.raises(ValueError, match="no weights yet"):
        AdamW(model=model)
