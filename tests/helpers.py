"""What several test files share: small models and gradient streams, the reference
settings, the resume case, the 1.38 README example and the cross-backend fit case.
Test files import from here, never from each other."""

import numpy as np

import keras

from keras_adamw import AdamW, NadamW, SGDW


def two_layer_model(seed=0, keras_module=keras):
    """Two bias-free Dense layers: variables ``a/kernel`` (4, 3) and ``b/kernel`` (3, 2).

    ``keras_module``: Keras 3 by default, or tf_keras for the Keras 2 suite."""
    k = keras_module
    inp = k.Input((4,))
    x = k.layers.Dense(3, use_bias=False, name="a")(inp)
    out = k.layers.Dense(2, use_bias=False, name="b")(x)
    model = k.Model(inp, out)
    rng = np.random.default_rng(seed)
    for v in model.trainable_variables:
        v.assign(rng.normal(size=v.shape).astype("float32"))
    return model


def gradient_stream(variables, steps, seed=1, scale=1.0):
    rng = np.random.default_rng(seed)
    return [[(scale * rng.normal(size=v.shape)).astype("float32") for v in variables]
            for _ in range(steps)]


# ------------------------------------------------ reference trajectories

STEPS = 50          # cycles of 10, 20, 40 steps: restarts after steps 10 and 30, 20 steps into the third
T0, T_MULT = 10, 2
MUS = {"a/kernel": 1.0, "b/kernel": 0.5}
DECAYS = {"a/kernel": (2e-3, 4e-2), "b/kernel": (0.0, 6e-2)}

ALGOS = {
    "adam": (AdamW, {}, 1e-2, {}),
    "nadam": (NadamW, {}, 1e-2, {}),
    "sgd": (SGDW, {}, 5e-2, {}),
    "sgd_momentum": (SGDW, {"momentum": 0.9}, 5e-2, {"momentum": 0.9}),
    "sgd_nesterov": (SGDW, {"momentum": 0.9, "nesterov": True}, 5e-2,
                     {"momentum": 0.9, "nesterov": True}),
}


# ---------------------------------------------------------- resume case

BATCH, N_SAMPLES = 8, 16            # 2 steps per epoch
EPOCHS_BEFORE, EPOCHS_AFTER = 2, 3  # 4 + 6 steps; cycles of 3, 6: restarts after 3 and 9
OPTIMIZERS = {
    "adamw": lambda model: AdamW(model=model, learning_rate=1e-2, use_cosine_annealing=True,
                                 total_iterations=3, t_mult=2, lr_multipliers={"out": 0.5},
                                 init_verbose=False),
    "nadamw": lambda model: NadamW(model=model, learning_rate=1e-2, use_cosine_annealing=True,
                                   total_iterations=3, t_mult=2, init_verbose=False),
    "sgdw": lambda model: SGDW(model=model, learning_rate=5e-2, momentum=0.9,
                               use_cosine_annealing=True, total_iterations=3, t_mult=2,
                               init_verbose=False),
}


def data():
    rng = np.random.default_rng(7)
    return (rng.normal(size=(N_SAMPLES, 5)).astype("float32"),
            rng.normal(size=(N_SAMPLES, 1)).astype("float32"))


def make_model():
    keras.utils.set_random_seed(11)
    inp = keras.Input((5,))
    h = keras.layers.Dense(6, activation="tanh", name="hidden",
                           kernel_regularizer=keras.regularizers.L2(0.05))(inp)
    out = keras.layers.Dense(1, name="out", kernel_regularizer=keras.regularizers.L1L2(1e-3, 0.02))(h)
    return keras.Model(inp, out)


def compiled(name):
    model = make_model()
    model.compile(OPTIMIZERS[name](model), loss="mse")
    return model


def fit(model, epochs, **kwargs):
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0, **kwargs)


def assert_same(a, b, rtol=1e-6, atol=1e-7):
    for va, vb in zip(a.trainable_variables, b.trainable_variables):
        np.testing.assert_allclose(va.numpy(), vb.numpy(), rtol=rtol, atol=atol)
    assert int(a.optimizer.t_cur.numpy()) == int(b.optimizer.t_cur.numpy())
    assert int(a.optimizer.iterations.numpy()) == int(b.optimizer.iterations.numpy())


# ------------------------------------------- the 1.38 README example

ORIGINAL_EXAMPLE = '''
import numpy as np
from keras.layers import Input, Dense, LSTM
from keras.models import Model
from keras.regularizers import l1, l2, l1_l2
from keras_adamw import AdamW

ipt   = Input(shape=(120, 4))
x     = LSTM(60, activation='relu', name='lstm_1',
             kernel_regularizer=l1(1e-4), recurrent_regularizer=l2(2e-4))(ipt)
out   = Dense(1, activation='sigmoid', kernel_regularizer=l1_l2(1e-4, 2e-4))(x)
model = Model(ipt, out)
lr_multipliers = {'lstm_1': 0.5}

optimizer = AdamW(lr=1e-4, model=model, lr_multipliers=lr_multipliers,
                  use_cosine_annealing=True, total_iterations=24)
model.compile(optimizer, loss='binary_crossentropy')
for epoch in range(3):
    for iteration in range(24):
        x = np.random.rand(10, 120, 4) # dummy data
        y = np.random.randint(0, 2, (10, 1)) # dummy labels
        loss = model.train_on_batch(x, y)
        print("Iter {} loss: {}".format(iteration + 1, "%.3f" % loss))
    print("EPOCH {} COMPLETED\\n".format(epoch + 1))
'''

TF_KERAS_HEADER = "import os; os.environ['TF_KERAS'] = '1'\n"

CHECKS = '''
decays = optimizer.weight_decays
print("WEIGHT_DECAYS", sorted(decays.items()))
assert len(decays) == 3, decays
assert decays["lstm_1/lstm_cell/kernel"] == (1e-4, 0.0)
assert decays["lstm_1/lstm_cell/recurrent_kernel"] == (0.0, 2e-4)
dense_key = [k for k in decays if k.endswith("/kernel") and not k.startswith("lstm_1")][0]
assert decays[dense_key] == (1e-4, 2e-4)
assert len(model.losses) == 0                       # penalties zeroed, not doubled
assert int(optimizer.t_cur.numpy()) == 0            # 72 steps = 3 cycles of 24
assert int(optimizer.iterations.numpy()) == 72
assert optimizer.variable_settings["lstm_1/lstm_cell/kernel"].lr_multiplier == 0.5
print("CHECKS PASSED")
'''


# ------------------------------------------------ cross-backend fit case

def run_fit() -> dict:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(48, 6)).astype("float32")
    y = (x[:, :1] * 0.5 - x[:, 1:2] ** 2).astype("float32")
    inp = keras.Input((6,))
    h = keras.layers.Dense(8, activation="tanh", name="hidden",
                           kernel_regularizer=keras.regularizers.L2(0.05))(inp)
    out = keras.layers.Dense(1, name="out",
                             kernel_regularizer=keras.regularizers.L1L2(1e-3, 0.02))(h)
    model = keras.Model(inp, out)
    for v in model.trainable_variables:
        v.assign(rng.normal(scale=0.5, size=v.shape).astype("float32"))
    opt = AdamW(model=model, learning_rate=1e-2, use_cosine_annealing=True, total_iterations=5,
                t_mult=2, lr_multipliers={"out": 0.5}, init_verbose=False)
    model.compile(opt, loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)
    result = {v.path: v.numpy() for v in model.trainable_variables}
    result["t_cur"] = np.array(int(keras.ops.convert_to_numpy(opt.t_cur)))
    result["loss"] = np.array(history.history["loss"])
    return result


# ------------------------------------------------- the linear fit case

# A Dense(2) on 4 inputs trained by fit() with a loss linear in its output, mean of
# y * y_pred, inputs and targets in {-1, 0, 1}: each batch's gradient is exact in
# float16 too (mixed precision) and does not depend on the weights, so a NumPy replay
# knows every gradient (tests/test_w0_orders.py, tests/test_schedule_peak.py).
LINEAR_BATCH, LINEAR_N = 4, 8
_rng = np.random.default_rng(0)
LINEAR_X = _rng.integers(-1, 2, size=(LINEAR_N, 4)).astype("float32")
LINEAR_Y = _rng.integers(-1, 2, size=(LINEAR_N, 2)).astype("float32")
LINEAR_START = [_rng.normal(size=(4, 2)).astype("float32"),
                _rng.normal(size=(2,)).astype("float32")]


def linear_loss(y_true, y_pred):
    return keras.ops.mean(y_true * y_pred, axis=-1)


def linear_model():
    """Glorot init: anything but ``LINEAR_START``."""
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")])


def linear_fit(model, epochs, **kwargs):
    model.fit(LINEAR_X, LINEAR_Y, batch_size=LINEAR_BATCH, epochs=epochs, shuffle=False,
              verbose=0, **kwargs)


def linear_gradients(epochs):
    """Each step's gradients (d/kernel = x^T y / (batch * 2), d/bias = sum(y) /
    (batch * 2)), in float64."""
    out = []
    for _ in range(epochs):
        for b in range(0, LINEAR_N, LINEAR_BATCH):
            x = LINEAR_X[b:b + LINEAR_BATCH].astype("float64")
            y = LINEAR_Y[b:b + LINEAR_BATCH].astype("float64")
            out.append([x.T @ y / (LINEAR_BATCH * 2), y.sum(0) / (LINEAR_BATCH * 2)])
    return out


# ------------------------------------------------ reference and resume runs

def compare_with_reference(opt, ref, variables, steps=16, what=""):
    """Apply the same gradient stream to ``opt`` and the NumPy reference ``ref``; the
    weights agree to 2e-5 (relative)."""
    for grads in gradient_stream(variables, steps):
        opt.apply_gradients(zip(grads, variables))
        ref.step(grads)
    for v, w in zip(variables, ref.w):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(v), w, rtol=2e-5, atol=2e-6,
                                   err_msg=what)


def resume_model():
    """Dense 5 -> 6 (tanh, ``body``) -> 1 (``head``), seeded."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((5,))
    h = keras.layers.Dense(6, activation="tanh", name="body")(inp)
    return keras.Model(inp, keras.layers.Dense(1, name="head")(h))


def resumed_runs(make_optimizer, how, tmp_path):
    """(straight, resumed): ``resume_model()`` trained 5 epochs straight, and 2 epochs,
    then resumed (``how``: "keras", through a .keras file; "checkpoint", the optimizer's
    variables and the weights into a fresh model) and trained 3 more."""
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(16, 5)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")

    def fit(model, epochs):
        model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)

    straight = resume_model()
    straight.compile(make_optimizer(), loss="mse")
    fit(straight, 5)
    first = resume_model()
    first.compile(make_optimizer(), loss="mse")
    fit(first, 2)
    if how == "keras":
        first.save(tmp_path / "m.keras")
        second = keras.saving.load_model(tmp_path / "m.keras")
    else:
        store = {}
        first.optimizer.save_own_variables(store)
        weights = first.get_weights()
        second = resume_model()
        second.compile(make_optimizer(), loss="mse")
        second.optimizer.build(second.trainable_variables)
        second.optimizer.load_own_variables(store)
        second.set_weights(weights)
    fit(second, 3)
    return straight, second
