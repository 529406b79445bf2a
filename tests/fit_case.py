"""One model.fit run that every backend can do from the same initial weights."""

import numpy as np

import keras

from keras_adamw import AdamW


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
