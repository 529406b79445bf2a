"""Training that survives: interrupted and resumed runs end where uninterrupted ones
do, with the same weights and t_cur (1e-6), across a warm restart."""

import numpy as np
import pytest

import keras

from keras_adamw import AdamW, NadamW, SGDW

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


def assert_same(a, b):
    for va, vb in zip(a.trainable_variables, b.trainable_variables):
        np.testing.assert_allclose(va.numpy(), vb.numpy(), rtol=1e-6, atol=1e-7)
    assert int(a.optimizer.t_cur.numpy()) == int(b.optimizer.t_cur.numpy())
    assert int(a.optimizer.iterations.numpy()) == int(b.optimizer.iterations.numpy())


def uninterrupted(name):
    model = compiled(name)
    fit(model, EPOCHS_BEFORE + EPOCHS_AFTER)
    assert int(model.optimizer.t_cur.numpy()) == 1  # 10 steps: cycles 3 and 6, then 1
    return model


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_keras_file_resume_is_exact(name, tmp_path):
    model = compiled(name)
    fit(model, EPOCHS_BEFORE)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert int(loaded.optimizer.t_cur.numpy()) == 1  # 4 steps: one restart behind it
    fit(loaded, EPOCHS_AFTER)
    assert_same(loaded, uninterrupted(name))


@pytest.mark.parametrize("name", ["adamw", "sgdw"])
def test_tf_train_checkpoint_resume_is_exact(name, tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.train.Checkpoint tracks Keras objects on the TensorFlow backend only")
    import tensorflow as tf
    model = compiled(name)
    fit(model, EPOCHS_BEFORE)
    saved = tf.train.Checkpoint(model=model, optimizer=model.optimizer).save(
        str(tmp_path / "ckpt"))
    fresh = compiled(name)
    fresh.optimizer.build(fresh.trainable_variables)
    tf.train.Checkpoint(model=fresh, optimizer=fresh.optimizer).restore(saved).assert_consumed()
    assert int(fresh.optimizer.t_cur.numpy()) == 1
    fit(fresh, EPOCHS_AFTER)
    assert_same(fresh, uninterrupted(name))


class Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise RuntimeError("interrupted")


def test_backup_and_restore_resume_is_exact(tmp_path):
    backup = str(tmp_path / "backup")
    model = compiled("adamw")
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(model, EPOCHS_BEFORE + EPOCHS_AFTER,
            callbacks=[keras.callbacks.BackupAndRestore(backup), Interrupt(EPOCHS_BEFORE)])
    resumed = compiled("adamw")
    fit(resumed, EPOCHS_BEFORE + EPOCHS_AFTER,
        callbacks=[keras.callbacks.BackupAndRestore(backup)])
    assert_same(resumed, uninterrupted("adamw"))
