"""Training that survives: interrupted and resumed runs end where uninterrupted ones
do, with the same weights and t_cur (1e-6), across a warm restart."""

import pytest

import keras

from helpers import EPOCHS_AFTER, EPOCHS_BEFORE, OPTIMIZERS, assert_same, compiled, fit


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
