"""A current training recipe (issue 13): warmup, shaped restarts, layer-wise lr decay,
and the schedule in view, each against the reference written from the README."""

import re

import pathlib

import numpy as np
import pytest

import keras
from keras import layers

from helpers import gradient_stream, two_layer_model
from reference import Reference, shaped_multiplier

from keras_adamw import (AdamW, SGDW, ScheduleLogger, layerwise_lr_multipliers,
                         preview_schedule)

MUS = [1.0, 0.5]
DECAYS = [(1e-3, 4e-2), (0.0, 6e-2)]
SHAPES = {
    "warmup once": dict(warmup_iterations=3),
    "warmup every cycle": dict(warmup_iterations=2, warmup_each_cycle=True),
    "decaying peaks, limit": dict(cycle_decay=0.5, cycle_limit=2, eta_min=0.1),
    "all": dict(warmup_iterations=2, warmup_each_cycle=True, cycle_decay=0.7, cycle_limit=3),
}
ALGOS = {"adam": (AdamW, {}, 1e-2, {}),
         "sgd_momentum": (SGDW, {"momentum": 0.9}, 5e-2, {"momentum": 0.9})}


def _reference_kwargs(shape):
    return dict(warmup=shape.get("warmup_iterations", 0),
                warmup_each_cycle=shape.get("warmup_each_cycle", False),
                cycle_decay=shape.get("cycle_decay", 1.0), cycle_limit=shape.get("cycle_limit"),
                eta_min=shape.get("eta_min", 0.0))


def _optimizer(cls, lr, shape, **kwargs):
    return cls(learning_rate=lr, weight_decays={"a/kernel": DECAYS[0], "b/kernel": DECAYS[1]},
               lr_multipliers={"b": 0.5}, use_cosine_annealing=True, total_iterations=5,
               t_mult=2, init_verbose=False, **shape, **kwargs)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("algo", list(ALGOS))
def test_shaped_trajectories_match_the_reference(algo, shape):
    """40 steps: cycles of 5, 10, 20, 40 (restarts after 5, 15 and 35), eager."""
    cls, kwargs, lr, ref_kwargs = ALGOS[algo]
    model = two_layer_model()
    variables = model.trainable_variables
    ref = Reference("sgd" if algo.startswith("sgd") else "adam", [v.numpy() for v in variables],
                    lr, MUS, DECAYS, annealing=True, total_iterations=5, t_mult=2, norm="cycle",
                    **_reference_kwargs(SHAPES[shape]), **ref_kwargs)
    opt = _optimizer(cls, lr, SHAPES[shape], **kwargs)
    etas = []
    for grads in gradient_stream(variables, 40):
        etas.append(float(opt.eta_t))
        opt.apply_gradients(zip(grads, variables))
        ref.step(grads)
        for v, w in zip(variables, ref.w):
            np.testing.assert_allclose(v.numpy(), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(etas, ref.etas, rtol=1e-6, atol=1e-7)
    assert ref.index == 3
    if opt._cycle is not None:  # kept only when the shape needs the cycle index
        assert int(opt.cycle.numpy()) == 3


def test_the_shapes_do_what_they_say():
    """The reference itself: warmup ramps to the peak, peaks decay, the limit holds."""
    etas = [shaped_multiplier(k, 5, 0, 0.0, 1.0, warmup=3) for k in range(5)]
    assert etas[:3] == pytest.approx([0.25, 0.5, 0.75]) and etas[3] == 1.0 and etas[4] == 0.0
    assert shaped_multiplier(0, 10, 1, 0.0, 1.0, warmup=3) == 1.0  # warmup once
    assert shaped_multiplier(0, 10, 1, 0.0, 1.0, warmup=3, each_cycle=True) == 0.25
    assert shaped_multiplier(0, 10, 2, 0.1, 1.0, decay=0.5) == 0.25
    assert shaped_multiplier(0, 10, 2, 0.1, 1.0, decay=0.5, limit=2) == 0.1


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("algo", list(ALGOS))
def test_shaped_model_fit_matches_the_reference(algo, jit_compile):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 5)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    inp = keras.Input((5,))
    model = keras.Model(inp, layers.Dense(1, use_bias=False, name="lin")(inp))
    w0 = rng.normal(size=(5, 1)).astype("float32")
    model.layers[-1].kernel.assign(w0)
    cls, kwargs, lr, ref_kwargs = ALGOS[algo]
    shape = SHAPES["all"]
    opt = cls(learning_rate=lr, weight_decays={"lin/kernel": (1e-3, 5e-2)}, use_cosine_annealing=True,
              total_iterations=4, t_mult=2, init_verbose=False, **shape, **kwargs)
    model.compile(opt, loss="mse", jit_compile=jit_compile)
    model.fit(x, y, batch_size=16, epochs=15, shuffle=False, verbose=0)
    ref = Reference("sgd" if algo.startswith("sgd") else "adam", [w0], lr, [1.0], [(1e-3, 5e-2)],
                    annealing=True, total_iterations=4, t_mult=2, norm="cycle",
                    **_reference_kwargs(shape), **ref_kwargs)
    xd, yd = x.astype(np.float64), y.astype(np.float64)
    for _ in range(15):
        ref.step([2.0 / len(xd) * xd.T @ (xd @ ref.w[0] - yd)])
    np.testing.assert_allclose(model.layers[-1].kernel.numpy(), ref.w[0], rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------- resume

def _resume_model():
    keras.utils.set_random_seed(11)
    inp = keras.Input((5,))
    h = layers.Dense(6, activation="tanh", name="hidden",
                     kernel_regularizer=keras.regularizers.L2(0.05))(inp)
    return keras.Model(inp, layers.Dense(1, name="out")(h))


def _compiled():
    model = _resume_model()
    model.compile(AdamW(model=model, learning_rate=1e-2, use_cosine_annealing=True,
                        total_iterations=6, t_mult=2, warmup_iterations=4, cycle_decay=0.5,
                        init_verbose=False), loss="mse")
    return model


def _fit(model, epochs):
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(16, 5)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)  # 2 steps an epoch


@pytest.mark.parametrize("before", [1, 4])  # 2 steps: inside the warmup; 8: after a restart
def test_exact_resume_in_the_warmup_and_after_a_decayed_restart(before, tmp_path):
    model = _compiled()
    _fit(model, before)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert int(loaded.optimizer.cycle.numpy()) == (1 if before == 4 else 0)
    _fit(loaded, 6 - before)
    straight = _compiled()
    _fit(straight, 6)
    for a, b in zip(loaded.trainable_variables, straight.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    assert int(loaded.optimizer.t_cur.numpy()) == int(straight.optimizer.t_cur.numpy())


def test_unshaped_optimizers_keep_the_2_0_variables():
    """No cycle-index variable unless the shape needs it: 2.0.0 files load as before."""
    plain = AdamW(use_cosine_annealing=True, total_iterations=5, init_verbose=False)
    shaped = AdamW(use_cosine_annealing=True, total_iterations=5, cycle_decay=0.5,
                   init_verbose=False)
    assert plain._cycle is None and shaped._cycle is not None
    assert len(shaped.variables) == len(plain.variables) + 1


# ------------------------------------------------------------ bad input

@pytest.mark.parametrize("kwargs, error, text", [
    ({"warmup_iterations": -1}, ValueError, "warmup_iterations"),
    ({"warmup_iterations": 2.5}, ValueError, "warmup_iterations"),
    ({"warmup_iterations": 10}, ValueError, "warmup_iterations"),  # = the first cycle
    ({"cycle_decay": 0.0}, ValueError, "cycle_decay"),
    ({"cycle_decay": 1.5}, ValueError, "cycle_decay"),
    ({"cycle_decay": "0.5"}, TypeError, "cycle_decay"),
    ({"cycle_limit": 0}, ValueError, "cycle_limit"),
    ({"warmup_each_cycle": "yes"}, TypeError, "warmup_each_cycle"),
])
def test_bad_shape_arguments(kwargs, error, text):
    with pytest.raises(error, match=text):
        AdamW(use_cosine_annealing=True, total_iterations=10, **kwargs)


def test_shapes_need_annealing():
    with pytest.raises(ValueError, match="use_cosine_annealing"):
        AdamW(warmup_iterations=3, total_iterations=10)


# ------------------------------------------------------- layer-wise decay

def _functional():
    inp = keras.Input((4,))
    x = layers.Dense(4, name="embed")(inp)
    for i in range(3):
        x = layers.Dense(4, name=f"block_{i}")(x)
    return keras.Model(inp, layers.Dense(2, name="head")(x))


def _multipliers(model, table):
    opt = AdamW(lr_multipliers=table, init_verbose=False)
    opt.build(model.trainable_variables)
    return {path: s.lr_multiplier for path, s in opt.variable_settings.items()}


def test_layerwise_decay_on_a_functional_model_with_blocks():
    model = _functional()
    table = layerwise_lr_multipliers(model, 0.5, blocks=["block_0", "block_1", "block_2"])
    mus = _multipliers(model, table)
    expected = {"embed": 0.5 ** 4, "block_0": 0.5 ** 3, "block_1": 0.5 ** 2,
                "block_2": 0.5, "head": 1.0}
    for path, mu in mus.items():
        assert mu == pytest.approx(expected[path.split("/")[0]]), path


def test_layerwise_decay_on_a_sequential_model_every_layer_a_block():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(3, name="d0"),
                              layers.Dropout(0.1), layers.Dense(3, name="d1"),
                              layers.Dense(1, name="d2")], name="seq")
    mus = _multipliers(model, layerwise_lr_multipliers(model, 0.8))
    assert mus == pytest.approx({"seq/d0/kernel": 0.64, "seq/d0/bias": 0.64,
                                 "seq/d1/kernel": 0.8, "seq/d1/bias": 0.8,
                                 "seq/d2/kernel": 1.0, "seq/d2/bias": 1.0})


def test_layerwise_decay_falls_back_to_exact_paths_and_survives_the_config():
    inp = keras.Input((3,))
    a = keras.Model(inp, layers.Dense(3, name="proj")(inp), name="a")
    inp2 = keras.Input((3,))
    model = keras.Model(inp2, layers.Dense(1, name="kernel_head")(a(inp2)))
    table = layerwise_lr_multipliers(model, 0.5, blocks=[a])
    assert all(isinstance(k, re.Pattern) or isinstance(k, str) for k in table)
    opt = AdamW(lr_multipliers=table, init_verbose=False)
    clone = AdamW.from_config(opt.get_config())
    for o in (opt, clone):
        o.build(model.trainable_variables)
        assert o.variable_settings["proj/kernel"].lr_multiplier == 0.5
        assert o.variable_settings["kernel_head/kernel"].lr_multiplier == 1.0


def test_layerwise_decay_bad_input():
    model = _functional()
    with pytest.raises(ValueError, match="decay"):
        layerwise_lr_multipliers(model, 1.5)
    with pytest.raises(ValueError, match="input to output"):
        layerwise_lr_multipliers(model, 0.5, blocks=["block_2", "block_0"])
    with pytest.raises(ValueError, match="twice"):
        layerwise_lr_multipliers(model, 0.5, blocks=["block_0", "block_0"])
    with pytest.raises(ValueError, match="no layer named"):
        layerwise_lr_multipliers(model, 0.5, blocks=["nope"])


def test_layerwise_decay_nested_blocks_and_layers_between_blocks():
    """Blocks inside a sub-model: the stem still gets decay ** (n + 1); a layer between
    two blocks (downsampling) gets the next block's multiplier."""
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(4, name="blk_a"),
                              layers.Dense(4, name="down"), layers.Dense(4, name="blk_b")],
                             name="encoder")
    inp = keras.Input((4,))
    model = keras.Model(inp, layers.Dense(1, name="head")(inner(layers.Dense(4, name="stem")(inp))))
    table = layerwise_lr_multipliers(model, 0.5, blocks=["blk_a", "blk_b"])
    mus = _multipliers(model, table)
    expected = {"stem": 0.125, "blk_a": 0.25, "down": 0.5, "blk_b": 0.5, "head": 1.0}
    for path, mu in mus.items():
        layer = [part for part in path.split("/") if part in expected][0]
        assert mu == pytest.approx(expected[layer]), path


def _frozen_blocks_model():
    """embed -> three blocks (a Sequential of q_j, ffn_j) -> head."""
    inp = keras.Input((4,))
    x = layers.Dense(4, name="embed")(inp)
    blocks = []
    for j in range(3):
        block = keras.Sequential([keras.Input((4,)), layers.Dense(4, name=f"q_{j}"),
                                  layers.Dense(4, name=f"ffn_{j}")], name=f"block_{j}")
        blocks.append(block)
        x = block(x)
    return keras.Model(inp, layers.Dense(2, name="head")(x)), blocks


@pytest.mark.parametrize("adapter", ["trainable sub-layer", "lora inside"])
def test_layerwise_decay_reaches_trainable_layers_inside_frozen_blocks(adapter):
    """Issue 19, item 1: a block set trainable=False with a sub-layer set trainable
    again (what KerasHub's enable_lora does) reports no trainable variables, yet
    Keras trains the sub-layer's: they get the block's multiplier."""
    model, blocks = _frozen_blocks_model()
    for block in blocks:
        block.trainable = False
        block.layers[0].trainable = True
        if adapter == "lora inside":
            block.layers[0].enable_lora(2)  # kernel frozen, lora_kernel_a/b and bias train
    assert [len(b.trainable_variables) for b in blocks] == [0, 0, 0]  # what Keras says
    expected = {"embed": 0.5 ** 4, "block_0": 0.5 ** 3, "block_1": 0.5 ** 2, "block_2": 0.5,
                "head": 1.0}
    adapters = 2 if adapter == "trainable sub-layer" else 3  # kernel, bias / a, b, bias
    assert len(model.trainable_variables) == 2 + 3 * adapters + 2
    for blocks_arg in (blocks, [b.name for b in blocks]):
        mus = _multipliers(model, layerwise_lr_multipliers(model, 0.5, blocks=blocks_arg))
        assert len(mus) == len(model.trainable_variables)
        for path, mu in mus.items():
            assert mu == pytest.approx(expected[path.split("/")[0]]), path


def test_layerwise_decay_default_blocks_count_layers_with_trainable_sub_layers():
    """The default blocks (every layer holding trainable variables but the last)
    include a frozen layer with a trainable sub-layer."""
    inner = keras.Sequential([keras.Input((3,)), layers.Dense(3, name="a"),
                              layers.Dense(3, name="b")], name="frozen")
    model = keras.Sequential([keras.Input((3,)), layers.Dense(3, name="d0"), inner,
                              layers.Dense(1, name="d2")], name="seq")
    inner.trainable = False
    inner.layers[1].trainable = True
    mus = _multipliers(model, layerwise_lr_multipliers(model, 0.5))
    assert mus == pytest.approx({"seq/d0/kernel": 0.25, "seq/d0/bias": 0.25,
                                 "frozen/b/kernel": 0.5, "frozen/b/bias": 0.5,
                                 "seq/d2/kernel": 1.0, "seq/d2/bias": 1.0})


def test_layerwise_decay_a_frozen_block_of_another_model_is_refused():
    model = _functional()
    other = layers.Dense(4, name="block_1")
    other.build((None, 4))
    other.trainable = False
    with pytest.raises(ValueError, match="not a layer of this model"):
        layerwise_lr_multipliers(model, 0.5, blocks=["block_0", other])


# ----------------------------------------------------- schedule in view

def test_callback_logs_the_reference_values_at_every_step():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    inp = keras.Input((5,))
    model = keras.Model(inp, layers.Dense(1, name="lin")(inp))
    opt = AdamW(learning_rate=1e-2, weight_decays={"lin/kernel": (1e-3, 0.05)},
                lr_multipliers={"bias": 0.5}, use_cosine_annealing=True, total_iterations=4,
                t_mult=2, warmup_iterations=1, warmup_each_cycle=True, cycle_decay=0.5,
                init_verbose=False)
    model.compile(opt, loss="mse")

    class Collect(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows = []

        def on_train_batch_end(self, batch, logs=None):
            self.rows.append(dict(logs))

    collect = Collect()
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0,
                        callbacks=[ScheduleLogger(), collect])
    k, cycle, index = 0, 4, 0
    for row in collect.rows:
        eta = shaped_multiplier(k, cycle, index, 0.0, 1.0, warmup=1, each_cycle=True, decay=0.5)
        c = eta * (1 / cycle) ** 0.5
        assert row["eta_t"] == pytest.approx(eta, abs=1e-6)
        assert row["lr"] == pytest.approx(1e-2 * eta, rel=1e-5, abs=1e-9)
        assert row["lr_mu=0.5"] == pytest.approx(0.5e-2 * eta, rel=1e-5, abs=1e-9)
        assert row["decay_l2=0.05"] == pytest.approx(0.05 * c, rel=1e-5, abs=1e-9)
        assert row["decay_l1=0.001"] == pytest.approx(1e-3 * c, rel=1e-5, abs=1e-9)
        k += 1
        if k == cycle:
            k, cycle, index = 0, cycle * 2, index + 1
    assert len(collect.rows) == 12 and index == 2
    assert history.history["eta_t"][-1] == collect.rows[-1]["eta_t"]  # epoch logs


def test_callback_reads_the_device_once_per_epoch(monkeypatch):
    """The logger reads the optimizer's state at the first batch of each epoch and
    advances a host copy after that: its reads do not grow with the batches, and the
    copy still matches the optimizer at the end."""
    import keras_adamw.callbacks as view
    from keras_adamw.core import DecoupledCore

    reads = {"number": 0, "state": 0}
    number, state = view._number, DecoupledCore.schedule_state

    def counting_number(value):
        reads["number"] += 1
        return number(value)

    def counting_state(self):
        reads["state"] += 1
        return state(self)

    monkeypatch.setattr(view, "_number", counting_number)
    monkeypatch.setattr(DecoupledCore, "schedule_state", counting_state)
    inp = keras.Input((5,))
    model = keras.Model(inp, layers.Dense(1)(inp))
    opt = AdamW(learning_rate=1e-2, use_cosine_annealing=True, total_iterations=3, t_mult=2,
                init_verbose=False)
    model.compile(opt, loss="mse")
    logger = ScheduleLogger()
    x, y = np.ones((64, 5), "float32"), np.ones((64, 1), "float32")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[logger])  # 8 batches each
    assert reads == {"number": 2 * 2, "state": 2}  # iterations and lr, and the state
    iterations, host_state, _ = logger._host
    assert iterations == 16 and host_state == state(opt)


def test_preview_is_the_schedule_the_optimizer_will_follow():
    opt = AdamW(learning_rate=2e-3, use_cosine_annealing=True, total_iterations=3, t_mult=2,
                warmup_iterations=1, cycle_decay=0.5, total_iterations_wd=9, weight_decays=0.05,
                init_verbose=False)
    preview = preview_schedule(opt, 9)
    assert list(preview["cycle"]) == [0, 0, 0, 1, 1, 1, 1, 1, 1]
    model = two_layer_model()
    variables = model.trainable_variables
    seen = []
    for grads in gradient_stream(variables, 9):
        seen.append(float(opt.eta_t))
        opt.apply_gradients(zip(grads, variables))
    np.testing.assert_allclose(preview["eta_t"], seen, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(preview["lr"], 2e-3 * np.array(seen), rtol=1e-6, atol=1e-9)
    # c = eta_t * s with s = sqrt(1 / 9): a weight loses c * 0.05 * w per step
    np.testing.assert_allclose(preview["decay_l2=0.05"], 0.05 * np.array(seen) / 3, rtol=1e-6,
                               atol=1e-9)
    assert list(preview["step"]) == list(range(9))


def test_plot_schedule_writes_a_figure(tmp_path):
    pytest.importorskip("matplotlib")
    from keras_adamw import plot_schedule

    opt = AdamW(use_cosine_annealing=True, total_iterations=10, warmup_iterations=3,
                init_verbose=False)
    fig = plot_schedule(opt, 30, path=str(tmp_path / "s.png"))
    assert (tmp_path / "s.png").stat().st_size > 5_000
    assert [ax.get_title(loc="left") for ax in fig.axes] == [
        "schedule multiplier eta_t", "learning rate of each lr-multiplier group"]
    assert fig.axes[-1].get_xlabel().startswith("applied step")


def test_plot_schedule_without_annealing_draws_no_flat_eta_panel(tmp_path):
    """eta_t = 1 throughout is said in the title, not drawn on a 0.96-1.04 axis;
    a constant learning rate and decay are drawn from 0."""
    pytest.importorskip("matplotlib")
    from keras_adamw import plot_schedule

    fig = plot_schedule(AdamW(learning_rate=1e-3, weight_decays=1e-4, init_verbose=False), 5)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert not any("eta_t" in t for t in titles) and len(titles) == 2
    assert "no annealing" in fig._suptitle.get_text()
    for ax in fig.axes:
        assert ax.get_ylim()[0] == 0
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["l2 = 0.0001"]


def test_shape_arguments_that_count_restarts_need_autorestart():
    for kwargs in ({"cycle_decay": 0.5}, {"cycle_limit": 2}):
        with pytest.raises(ValueError, match="autorestart"):
            AdamW(use_cosine_annealing=True, total_iterations=5, autorestart=False, **kwargs)


def test_plot_schedule_leaves_the_matplotlib_backend_alone(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    from keras_adamw import plot_schedule

    before = matplotlib.get_backend()
    plot_schedule(AdamW(use_cosine_annealing=True, total_iterations=5, init_verbose=False), 10,
                  path=str(tmp_path / "s.png"))
    assert matplotlib.get_backend() == before


def test_schedule_tools_refuse_a_plain_keras_optimizer():
    with pytest.raises(TypeError, match="keras_adamw optimizer"):
        preview_schedule(keras.optimizers.Adam(), 3)


# ------------------------------------------------- every normalization layer

@keras.saving.register_keras_serializable(package="tests")
class ScaleNorm(layers.Layer):
    """A user's own norm layer: one learned scale."""

    def build(self, input_shape):
        self.g = self.add_weight(shape=(), initializer="ones", name="g")

    def call(self, x):
        return self.g * x / (keras.ops.norm(x, axis=-1, keepdims=True) + 1e-6)


@keras.saving.register_keras_serializable(package="tests")
class ConvNormBlock(layers.Layer):
    """A composite whose name says Norm: its Dense kernel is not a norm weight."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.proj = layers.Dense(4, name="proj")
        self.norm = layers.LayerNormalization(name="norm")

    def call(self, x):
        return self.norm(self.proj(x))


def _norm_model():
    inp = keras.Input((4,))
    x = layers.Dense(4, name="d")(inp)
    x = layers.LayerNormalization(name="ln")(x)
    x = layers.RMSNormalization(name="rms")(x)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.GroupNormalization(groups=2, name="gn")(x)
    x = ScaleNorm(name="sn")(x)
    x = ConvNormBlock(name="block")(x)
    x = layers.SpectralNormalization(layers.Dense(4, name="wrapped"), name="spec")(x)
    return keras.Model(inp, x)


def test_norm_layers_exclude_every_norm_weight_and_nothing_else(tmp_path):
    from keras_adamw import NORM_LAYERS

    model = _norm_model()
    opt = AdamW(model=model, weight_decays=0.1, exclude_from_weight_decay=[NORM_LAYERS],
                init_verbose=False)
    opt.build(model.trainable_variables)
    decayed = [i for i, v in enumerate(model.trainable_variables) if opt.setting_of(v).l2]
    # worked out by hand: the kernels and biases of Dense layers, also inside the
    # composite block and the spectral-norm wrapper, and nothing of a norm layer
    names = [v.path.split("/")[-2:] for v in model.trainable_variables]
    assert [names[i] for i in decayed] == [["d", "kernel"], ["d", "bias"], ["proj", "kernel"],
                                           ["proj", "bias"], ["wrapped", "kernel"],
                                           ["wrapped", "bias"]]
    assert len(model.trainable_variables) - len(decayed) == 2 + 1 + 2 + 2 + 1 + 2
    assert opt.get_config()["exclude_from_weight_decay"] == ["type:all-normalization"]
    model.compile(opt, loss="mse")
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 4), "float32"), verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    again = [i for i, v in enumerate(loaded.trainable_variables)
             if loaded.optimizer.setting_of(v).l2]
    assert again == decayed


def test_callback_logs_what_the_update_used_under_gradient_accumulation(monkeypatch):
    """Keras evaluates a learning-rate schedule at its micro-step counter: the logger
    logs the alpha and lr of the applied step (taken from the step itself here), and
    a batch that applies none logs those of the last applied step (or the first to
    come)."""
    from keras_adamw.decoupled import DecoupledWeightDecay

    used = []
    real = DecoupledWeightDecay._backend_update_step

    def spy(self, grads, variables, learning_rate):
        used.append(float(keras.ops.convert_to_numpy(learning_rate)))
        return real(self, grads, variables, learning_rate)

    monkeypatch.setattr(DecoupledWeightDecay, "_backend_update_step", spy)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=1, decay_rate=0.5)
    inp = keras.Input((3,))
    model = keras.Model(inp, layers.Dense(1)(inp))
    opt = AdamW(learning_rate=schedule, gradient_accumulation_steps=3,
                use_cosine_annealing=True, total_iterations=2, init_verbose=False)
    model.compile(opt, loss="mse", run_eagerly=True)
    rows = []
    keep = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: rows.append(dict(logs)))
    model.fit(np.ones((6, 3), "float32"), np.ones((6, 1), "float32"), batch_size=1, epochs=1,
              shuffle=False, verbose=0, callbacks=[ScheduleLogger(), keep])
    if keras.backend.backend() != "jax":  # JAX runs the step at every micro-step, masked
        assert used == pytest.approx([0.01 * 0.5 ** 2, 0.01 * 0.5 ** 5])  # micro-steps 2, 5
    used = [0.01 * 0.5 ** 2, 0.01 * 0.5 ** 5]
    etas = [1.0, 0.0]  # cycles of 2 applied steps: eta_max, then eta_min
    for batch, row in enumerate(rows):
        # a schedule's value is a device tensor in batch logs: the logger does not read it
        row = {k: float(keras.ops.convert_to_numpy(v)) for k, v in row.items()}
        applied = 0 if batch < 3 else (1 if batch == 5 else 0)
        assert row["alpha"] == pytest.approx(used[applied], rel=1e-6), batch
        assert row["lr"] == pytest.approx(used[applied] * etas[applied], rel=1e-6, abs=1e-12)
        assert row["eta_t"] == pytest.approx(etas[applied])


def test_callbacks_that_set_the_learning_rate_compose_with_eta():
    """LearningRateScheduler sets alpha_t; the step uses alpha_t * eta_t, and the logger
    shows both (README: "Keras callbacks that set the learning rate ...")."""
    inp = keras.Input((3,))
    model = keras.Model(inp, layers.Dense(1)(inp))
    opt = AdamW(learning_rate=1.0, use_cosine_annealing=True, total_iterations=4,
                init_verbose=False)
    model.compile(opt, loss="mse")
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    rows = []
    keep = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: rows.append(dict(logs)))
    model.fit(np.ones((8, 3), "float32"), np.ones((8, 1), "float32"), batch_size=4, epochs=2,
              verbose=0, callbacks=[scheduler, ScheduleLogger(), keep])
    for n, row in enumerate(rows):  # 2 steps per epoch, one cycle of 4
        alpha, eta = 0.1 / (n // 2 + 1), shaped_multiplier(n, 4, 0, 0.0, 1.0)
        assert row["alpha"] == pytest.approx(alpha, rel=1e-6)
        assert row["lr"] == pytest.approx(alpha * eta, rel=1e-5, abs=1e-9)
    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    readme = " ".join(readme.split())  # the README's lines are wrapped anywhere
    assert "`LearningRateScheduler`" in readme and "the step uses alpha_t * eta_t" in readme


def test_callback_logs_a_decay_that_follows_a_schedule():
    """decay_follows_schedule with a schedule: the logged decay is c * alpha_t /
    alpha_peak at every step, alpha_t being a device value the logger does not read."""
    schedule = keras.optimizers.schedules.CosineDecay(0.0, 6, warmup_target=1e-2,
                                                      warmup_steps=2)
    inp = keras.Input((3,))
    model = keras.Model(inp, layers.Dense(1, name="lin")(inp))
    opt = AdamW(learning_rate=schedule, weight_decays={"lin/kernel": 0.05},
                decay_follows_schedule=True, init_verbose=False)
    model.compile(opt, loss="mse")
    rows = []
    keep = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: rows.append(dict(logs)))
    model.fit(np.ones((8, 3), "float32"), np.ones((8, 1), "float32"), batch_size=1, epochs=1,
              shuffle=False, verbose=0, callbacks=[ScheduleLogger(), keep])
    for step, row in enumerate(rows):
        # Keras' CosineDecay: linear warmup 0 -> 1e-2 over 2 steps, then cosine over 6
        alpha = (1e-2 * step / 2 if step < 2
                 else 1e-2 * 0.5 * (1 + np.cos(np.pi * min((step - 2) / 6, 1.0))))
        decay = float(keras.ops.convert_to_numpy(row["decay_l2=0.05"]))
        assert decay == pytest.approx(0.05 * alpha / 1e-2, rel=1e-5, abs=1e-9), step


def test_layerwise_decay_a_layer_shared_by_two_blocks_is_named():
    """Tied weights in blocks 1 and 3 would need two multipliers: the error names the
    shared layer and both blocks (not "blocks out of order")."""

    class Block(keras.layers.Layer):
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner, self.own = inner, keras.layers.Dense(4)

        def call(self, x):
            return self.own(self.inner(x))

    shared = keras.layers.Dense(4, name="tied_proj")
    blocks = [Block(shared, name="block0"), Block(keras.layers.Dense(4), name="block1"),
              Block(shared, name="block2")]
    x = inp = keras.Input((4,))
    for block in blocks:
        x = block(x)
    model = keras.Model(inp, keras.layers.Dense(2, name="head")(x))
    with pytest.raises(ValueError, match=r"'tied_proj'.*'block0' \(block 1\) and 'block2' "
                                         r"\(block 3\)"):
        layerwise_lr_multipliers(model, 0.8, blocks=blocks)
    assert layerwise_lr_multipliers(model, 0.8, blocks=blocks[:2])  # without the second
