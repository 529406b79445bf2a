"""decay_toward="initial": w0 is the weights when the optimizer first applies an update
to them, in every order users fine-tune by (weights loaded after compile, after build,
by load_model, restored by BackupAndRestore, under XLA), float32 and mixed precision,
against the NumPy reference replaying the run from the weights training started from.

The loss is linear in the output (helpers.py, the linear fit case): each batch's
gradient is exact in float16 too and does not depend on the weights, so the replay knows
every gradient, and any other w0 gives another trajectory.
tests/test_backends.py runs this file on JAX and PyTorch.
"""

import numpy as np
import pytest

import keras
from helpers import LINEAR_START, linear_fit, linear_gradients, linear_loss, linear_model
from reference import Reference

from keras_adamw import AdamW, SGDW

EPOCHS = 2
DECAYS = {"d/kernel": (0.0, 0.05), "d/bias": (0.01, 0.02)}
PRETRAINED = LINEAR_START
OPTIMIZERS = {
    "sgdw": (lambda: SGDW(learning_rate=0.05, momentum=0.9, weight_decays=DECAYS,
                          decay_toward="initial", init_verbose=False),
             dict(algo="sgd", lr=0.05, momentum=0.9)),
    "adamw": (lambda: AdamW(learning_rate=0.02, weight_decays=DECAYS, decay_toward="initial",
                            use_cosine_annealing=True, total_iterations=3, init_verbose=False),
              dict(algo="adam", lr=0.02, annealing=True, total_iterations=3, norm="cycle")),
}


def replay(name, start, epochs=EPOCHS):
    """The reference run from ``start``, w0 = start."""
    kwargs = dict(OPTIMIZERS[name][1])
    ref = Reference(kwargs.pop("algo"), start, kwargs.pop("lr"), [1.0, 1.0],
                    [DECAYS["d/kernel"], DECAYS["d/bias"]], anchors=start, **kwargs)
    for grads in linear_gradients(epochs):
        ref.step(grads)
    return ref.w


def compile_(model, name, **kwargs):
    model.compile(OPTIMIZERS[name][0](), loss=linear_loss, **kwargs)


def fit(model, epochs=EPOCHS, **kwargs):
    linear_fit(model, epochs, **kwargs)


def inner(optimizer):
    return getattr(optimizer, "inner_optimizer", optimizer)


def check(model, name, what):
    for v, w in zip(model.trainable_variables, replay(name, PRETRAINED)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(v), w, rtol=2e-5, atol=2e-6,
                                   err_msg=f"{name} {what}")
    optimizer = inner(model.optimizer)
    anchors = [a for a in optimizer._anchors if a is not None]
    assert len(anchors) == 2
    ids = {id(v) for v in model.variables}  # the model's weights are not optimizer state
    assert not any(id(v) in ids for v in optimizer.variables)
    for anchor, w0 in zip(anchors, PRETRAINED):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(anchor), w0)


def pretrained_file(tmp_path, name=None):
    """The pretrained model as a .keras file (compiled with ``name`` when given,
    never trained) and as a .weights.h5 file."""
    model = linear_model()
    model.set_weights(PRETRAINED)
    if name is not None:
        compile_(model, name)
    model.save(tmp_path / "pretrained.keras")
    model.save_weights(tmp_path / "pretrained.weights.h5")
    return tmp_path / "pretrained.keras", tmp_path / "pretrained.weights.h5"


@pytest.fixture(params=["float32", "mixed_float16"])
def policy(request):
    keras.mixed_precision.set_dtype_policy(request.param)
    yield request.param
    keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("order", ["compile-load_weights-fit", "compile-build-set_weights-fit",
                                   "save-load_model-fit", "load_model(compile=False)-compile-fit"])
def test_w0_is_the_weights_training_starts_from(order, name, policy, tmp_path):
    path, weights = pretrained_file(tmp_path, name if order == "save-load_model-fit" else None)
    if order == "compile-load_weights-fit":
        model = linear_model()
        compile_(model, name)
        model.load_weights(weights)
    elif order == "compile-build-set_weights-fit":
        model = linear_model()
        compile_(model, name)
        model.optimizer.build(model.trainable_variables)
        model.set_weights(PRETRAINED)
    elif order == "save-load_model-fit":
        # Keras builds the restored optimizer before it loads the weights
        model = keras.saving.load_model(path, custom_objects={"linear_loss": linear_loss})
    else:
        model = keras.saving.load_model(path, compile=False)
        compile_(model, name)
    fit(model)
    check(model, name, f"{order} {policy}")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_under_xla_or_torch_compile(name):
    if keras.backend.backend() == "torch" and name != "sgdw":
        pytest.skip("torch.compile takes ~14 s a model on 2 CPU cores: one optimizer")
    model = linear_model()
    compile_(model, name, jit_compile=True)
    model.set_weights(PRETRAINED)
    fit(model)
    check(model, name, "jit_compile=True")


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise RuntimeError("interrupted")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_backup_and_restore_into_a_fresh_model_keeps_the_first_w0(name, tmp_path):
    """The restored w0 wins: a fresh model resumed from the backup decays toward the
    weights the interrupted run started from, not toward its own."""
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    first = linear_model()
    compile_(first, name)
    first.set_weights(PRETRAINED)
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(first, callbacks=[backup, _Interrupt()])
    second = linear_model()
    compile_(second, name)
    fit(second, callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    check(second, name, "BackupAndRestore")


def test_a_restored_w0_wins_over_the_weights_at_the_next_step(tmp_path):
    """A .keras file of a trained optimizer carries w0: loading it and training on
    goes on toward the first w0 (the straight run's), not toward the saved weights."""
    model = linear_model()
    compile_(model, "sgdw")
    model.set_weights(PRETRAINED)
    fit(model, epochs=1)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras",
                                     custom_objects={"linear_loss": linear_loss})
    fit(loaded, epochs=1)
    check(loaded, "sgdw", "trained .keras")


def test_a_file_of_2_2_0_keeps_its_w0():
    """2.2.0 saved w0 (taken at build) without the flag: it is restored, not retaken."""
    model = linear_model()
    compile_(model, "sgdw")
    model.set_weights(PRETRAINED)
    fit(model, epochs=1)
    store = {}
    model.optimizer.save_own_variables(store)
    del store[str(len(store) - 1)]  # the flag, last: a 2.2.0 optimizer's variables
    again = linear_model()
    compile_(again, "sgdw")
    again.optimizer.build(again.trainable_variables)
    again.optimizer.load_own_variables(store)
    again.set_weights(model.get_weights())
    fit(again, epochs=1)
    check(again, "sgdw", "2.2.0 store")


def test_a_store_of_another_layout_is_not_taken_for_a_2_2_0_file(tmp_path):
    """One variable fewer, but not 2.2.0's layout (the run now keeps a cycle index):
    Keras' own skip of the optimizer's variables, no shape error."""
    first = linear_model()
    first.compile(SGDW(learning_rate=0.05, weight_decays=DECAYS, decay_toward="initial",
                       use_cosine_annealing=True, total_iterations=3, init_verbose=False),
                  loss=linear_loss)
    fit(first, epochs=1)
    first.save_weights(tmp_path / "w.weights.h5")
    second = linear_model()
    second.compile(SGDW(learning_rate=0.05, weight_decays=DECAYS, decay_toward="initial",
                        use_cosine_annealing=True, total_iterations=3, cycle_decay=0.8,
                        init_verbose=False), loss=linear_loss)
    second.optimizer.build(second.trainable_variables)
    with pytest.warns(UserWarning, match="Skipping variable loading"):
        second.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
