"""Units of decay (keras_adamw/units.py): a decay given as a timescale shrinks each
weight by exactly 1 / tau per applied step at the schedule's peak, normalized or not
and in both conventions; the init_verbose table and ScheduleLogger show timescales; a
decay in another library's units warns once, and sane values never do.
tests/test_backends.py runs this file on JAX and PyTorch."""

import warnings

import numpy as np
import pytest

import keras
from helpers import two_layer_model

from keras_adamw import AdamW, SGDW, ScheduleLogger, Timescale, decoupled, preview_schedule

S = keras.optimizers.schedules


def _first_step_shrink(opt, model):
    """1 - w1 / w0 per variable after one step with zero gradients (SGD without
    momentum: only the decay moves the weights)."""
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables]
    zeros = [np.zeros(v.shape, "float32") for v in model.trainable_variables]
    opt.apply_gradients(zip(zeros, model.trainable_variables))
    after = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    return [1 - a / b for a, b in zip(after, before)]


@pytest.mark.parametrize("kwargs", [
    {},                                                             # no normalization
    dict(use_cosine_annealing=True, total_iterations=100),          # normalized by 100
    dict(use_cosine_annealing=True, total_iterations=10, total_iterations_wd=400, eta_max=0.5),
    dict(lr_scaled_decay=True, lr_multipliers={"b": 0.25}),         # torch convention
    dict(decay_follows_schedule=True, learning_rate=S.PolynomialDecay(0.02, 10, 0.2)),
], ids=["plain", "normalized", "total_iterations_wd", "lr_scaled", "follows_schedule"])
def test_a_timescale_shrinks_each_weight_by_one_over_tau_per_step(kwargs):
    """At the first step (the peak of eta_t; the peak of alpha_t where the decay follows
    it, here an increasing schedule: its end, 0.2, so the first step shrinks by
    0.02 / 0.2 / tau)."""
    model = two_layer_model()
    kwargs = dict(kwargs)
    learning_rate = kwargs.pop("learning_rate", 0.1)
    opt = SGDW(learning_rate=learning_rate, weight_decays=Timescale(steps=250),
               init_verbose=False, **kwargs)
    expected = 1 / 250 * (0.1 if "decay_follows_schedule" in kwargs else 1.0)
    for shrink in _first_step_shrink(opt, model):
        np.testing.assert_allclose(shrink, expected, rtol=1e-4, atol=2e-7)  # float32 w


def test_a_timescale_in_epochs_and_per_key():
    model = two_layer_model()
    opt = SGDW(learning_rate=0.1, init_verbose=False,
               weight_decays={"a": Timescale(epochs=2, steps_per_epoch=50),
                              "b": (0.0, Timescale(steps=400))})
    a, b = _first_step_shrink(opt, model)
    np.testing.assert_allclose(a, 1 / 100, rtol=1e-4)
    np.testing.assert_allclose(b, 1 / 400, rtol=1e-4)


def test_timescales_in_the_table_and_the_logger(capsys):
    model = two_layer_model()
    opt = AdamW(learning_rate=1e-3, weight_decays={"a": Timescale(steps=300), "b": 2e-3},
                use_cosine_annealing=True, total_iterations=16)
    opt.build(model.trainable_variables)
    table = capsys.readouterr().out
    assert "timescale" in table.splitlines()[1]
    assert "300 steps" in table and "2000 steps" in table  # 1 / (sqrt(1/16) * 2e-3)
    values = preview_schedule(opt, 2)
    l2 = opt.setting_of(model.trainable_variables[0]).l2
    np.testing.assert_allclose(values[f"timescale_l2={l2:g}"][0], 300, rtol=1e-6)
    np.testing.assert_allclose(values["timescale_l2=0.002"][0], 2000, rtol=1e-6)
    model.compile(opt, loss="mse")
    history = model.fit(np.ones((8, 4), "float32"), np.ones((8, 2), "float32"), batch_size=4,
                        epochs=1, verbose=0, callbacks=[ScheduleLogger()])
    logged = history.history["timescale_l2=0.002"][0]  # the epoch's last step (eta < 1)
    assert logged > 2000


def test_timescale_config_round_trip():
    opt = AdamW(weight_decays={"a": (1e-4, Timescale(epochs=3, steps_per_epoch=20))},
                init_verbose=False)
    config = opt.get_config()
    assert config["weight_decays"] == {"a": (1e-4, {"timescale_steps": 60.0,
                                                    "steps_per_epoch": 20})}
    again = AdamW.from_config(config)
    assert again.weight_decays == {"a": (1e-4, Timescale(epochs=3, steps_per_epoch=20))}
    assert AdamW.from_config(AdamW(weight_decays=Timescale(steps=7), init_verbose=False)
                             .get_config()).weight_decays == Timescale(steps=7)


@pytest.mark.parametrize("args, kwargs", [
    ((), {}), ((0,), {}), ((-5,), {}), ((10,), {"epochs": 2}), ((), {"epochs": 2}),
    ((), {"epochs": 2, "steps_per_epoch": 0}), ((float("inf"),), {}), (("10",), {}),
    ((0.5,), {}),  # under one step: the decay would take more than the weight
])
def test_timescale_bad_input(args, kwargs):
    with pytest.raises(ValueError, match="Timescale"):
        Timescale(*args, **kwargs)


def test_a_timescale_with_lr_scaled_decay_needs_a_known_peak():
    class Mine(S.LearningRateSchedule):
        def __call__(self, step):
            return 0.01

    with pytest.raises(ValueError, match="learning_rate_peak"):
        AdamW(learning_rate=Mine(), weight_decays=Timescale(steps=10), lr_scaled_decay=True,
              init_verbose=False)
    AdamW(learning_rate=Mine(), weight_decays=Timescale(steps=10), lr_scaled_decay=True,
          learning_rate_peak=0.01, init_verbose=False)


# ---------------------------------------------------------------- the warning

LionW = decoupled(keras.optimizers.Lion)
WARMUP = dict(learning_rate=S.CosineDecay(0.0, 90, warmup_target=1e-3, warmup_steps=10))

TRAPS = {  # values carried over from another library, read in these units
    "readme_snippet": (AdamW, dict(WARMUP, weight_decays=0.05, decay_follows_schedule=True)),
    "lion_0.1": (LionW, dict(learning_rate=1e-4, weight_decays=0.1)),
    "keras_adamw_0.05": (AdamW, dict(learning_rate=1e-3, weight_decays=0.05)),
    "sgdw_0.1": (SGDW, dict(learning_rate=0.1, momentum=0.9, weight_decays=0.1)),
    "float_without_total_iterations": (AdamW, dict(weight_decays=0.02)),
}
SANE = {
    "per_step_1e-3": (AdamW, dict(weight_decays=1e-3)),
    "lr_scaled_0.05": (AdamW, dict(weight_decays=0.05, lr_scaled_decay=True)),
    "lion_lr_scaled_0.1": (LionW, dict(learning_rate=1e-4, weight_decays=0.1,
                                       lr_scaled_decay=True)),
    "normalized_0.05": (AdamW, dict(weight_decays=0.05, use_cosine_annealing=True,
                                    total_iterations=10 * 469)),
    "ported_5e-5": (AdamW, dict(WARMUP, weight_decays=5e-5, decay_follows_schedule=True)),
    "timescale_50_steps": (AdamW, dict(weight_decays=Timescale(steps=50))),
}


def _warnings_of(cls, kwargs, model=None):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt = cls(init_verbose=False, **kwargs, **({"model": model} if model else {}))
        opt.build(two_layer_model().trainable_variables)
    return [str(w.message) for w in caught if "per step" in str(w.message)]


@pytest.mark.parametrize("name", list(TRAPS))
def test_a_decay_in_another_librarys_units_warns_once(name):
    messages = _warnings_of(*TRAPS[name])
    assert len(messages) == 1, messages
    message = messages[0]
    assert "a/kernel" in message and "b/kernel" in message
    assert "lr_scaled_decay=True" in message and "Timescale" in message
    assert "timescale of" in message


@pytest.mark.parametrize("name", list(SANE))
def test_sane_values_never_warn(name):
    assert _warnings_of(*SANE[name]) == []


def test_with_model_the_warning_comes_at_construction():
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(
        2, name="d", kernel_regularizer=keras.regularizers.L2(0.05))(inp))
    with pytest.warns(UserWarning, match="per step"):
        AdamW(model=model, learning_rate=1e-3, init_verbose=False)


def test_a_timescale_holds_at_the_peak_of_every_cycle():
    """A Timescale's decay is not normalized: with cycles of 4, 8 and 16 steps (each
    normalized by its own length otherwise) every cycle's first step shrinks by 1/tau."""
    v = keras.Variable(np.ones((3,), "float32"))
    opt = AdamW(learning_rate=1e-3, weight_decays=Timescale(steps=40), init_verbose=False,
                use_cosine_annealing=True, total_iterations=4, t_mult=2)
    shrinks = []
    for _ in range(28):
        before = float(keras.ops.convert_to_numpy(v)[0])
        opt.apply_gradients([(keras.ops.zeros((3,)), v)])
        shrinks.append(1 - float(keras.ops.convert_to_numpy(v)[0]) / before)
    np.testing.assert_allclose([shrinks[0], shrinks[4], shrinks[12]], 1 / 40, rtol=1e-4)


def test_a_timescale_with_lr_scaled_decay_keeps_its_learning_rate_through_a_resume(tmp_path):
    """l2 comes from the learning rate when the optimizer was made, kept in the config:
    a callback that lowers the learning rate before a save does not change it."""
    model = two_layer_model()
    model.compile(AdamW(learning_rate=1e-3, lr_scaled_decay=True, init_verbose=False,
                        weight_decays=Timescale(steps=100)), loss="mse")
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 2), "float32"), batch_size=8, epochs=2,
              verbose=0, callbacks=[keras.callbacks.LearningRateScheduler(
                  lambda epoch, lr: 1e-3 if epoch == 0 else 1e-4)])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert [s.l2 for s in loaded.optimizer.plan.settings] == pytest.approx([10.0, 10.0])


def test_a_zero_multiplier_with_lr_scaled_decay_and_a_timescale_gets_no_decay():
    model = two_layer_model()
    opt = SGDW(learning_rate=0.1, lr_scaled_decay=True, weight_decays=Timescale(steps=100),
               lr_multipliers={"b": 0.0}, init_verbose=False)
    a, b = _first_step_shrink(opt, model)
    np.testing.assert_allclose(a, 1 / 100, rtol=1e-4, atol=2e-7)
    np.testing.assert_array_equal(b, 0.0)


def test_the_warning_is_not_repeated_by_load_model(tmp_path):
    model = two_layer_model()
    with pytest.warns(UserWarning, match="per step"):
        model.compile(AdamW(weight_decays=0.05, init_verbose=False), loss="mse")
        model.fit(np.ones((4, 4), "float32"), np.ones((4, 2), "float32"), verbose=0)
    model.save(tmp_path / "m.keras")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keras.saving.load_model(tmp_path / "m.keras")
    assert not [w for w in caught if "per step" in str(w.message)]
