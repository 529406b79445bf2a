"""A model trained with AdamW(model=...) saves a .keras file that Keras alone loads
(compile=False, in a process where keras_adamw cannot be imported) with the same
predictions; with keras_adamw the same file resumes exactly and its decays stay
readable; restore_penalties gives a model its penalties back.
tests/test_backends.py runs this file on JAX and PyTorch."""

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras

from keras_adamw import AdamW, get_weight_decays, restore_penalties

HERE = pathlib.Path(__file__).resolve().parent
DECLARED = {"hidden/kernel": (0.0, 2e-3), "hidden/bias": (1e-4, 0.0),
            "out/kernel": (1e-4, 1e-3)}


def make_model():
    keras.utils.set_random_seed(4)
    inp = keras.Input((6,))
    h = keras.layers.Dense(8, activation="tanh", name="hidden",
                           kernel_regularizer=keras.regularizers.L2(2e-3),
                           bias_regularizer=keras.regularizers.L1(1e-4))(inp)
    out = keras.layers.Dense(2, name="out",
                             kernel_regularizer=keras.regularizers.L1L2(1e-4, 1e-3))(h)
    return keras.Model(inp, out)


def data():
    rng = np.random.default_rng(3)
    return rng.normal(size=(32, 6)).astype("float32"), rng.normal(size=(32, 2)).astype("float32")


def penalty(model):
    model(data()[0][:2])
    return float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses))


def trained(epochs):
    model = make_model()
    model.compile(AdamW(model=model, learning_rate=1e-2, use_cosine_annealing=True,
                        total_iterations=6, init_verbose=False), loss="mse")
    x, y = data()
    model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
    return model


# Keras alone: keras_adamw cannot be imported in this process.
PLAIN = textwrap.dedent("""
    import sys
    sys.modules["keras_adamw"] = None  # `import keras_adamw` raises ImportError
    import numpy as np
    import keras
    model = keras.saving.load_model(sys.argv[1], compile=False)
    x = np.load(sys.argv[2])["x"]
    np.save(sys.argv[3], keras.ops.convert_to_numpy(model.predict(x, verbose=0)))
    regularizers = sorted(type(v.regularizer).__name__ for v in model.trainable_weights
                          if v.regularizer is not None)
    print("REGULARIZERS", regularizers)
""")


def test_keras_alone_loads_the_saved_model_with_the_same_predictions(tmp_path):
    model = trained(2)
    model.save(tmp_path / "m.keras")
    x = data()[0]
    np.savez(tmp_path / "x.npz", x=x)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-c", PLAIN, str(tmp_path / "m.keras"),
                             str(tmp_path / "x.npz"), str(tmp_path / "p.npy")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"),
                                  keras.ops.convert_to_numpy(model.predict(x, verbose=0)))
    # the file is the model as written: its L1/L2/L1L2 regularizers, nothing of ours
    assert "REGULARIZERS ['L1', 'L1L2', 'L2']" in result.stdout


def test_with_keras_adamw_the_file_resumes_exactly_with_its_decays(tmp_path):
    straight = trained(4)
    first = trained(2)
    first.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert penalty(loaded) == 0  # the restored optimizer turned them off while loading
    assert get_weight_decays(loaded) == DECLARED
    x, y = data()
    loaded.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(straight.trainable_variables, loaded.trainable_variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(b), keras.ops.convert_to_numpy(a),
                                   rtol=1e-6, atol=1e-7)
    # a second optimizer on the reloaded model reads the same decays (a recompile)
    again = AdamW(model=loaded, init_verbose=False)
    assert again.weight_decays == DECLARED


def test_restore_penalties_gives_the_model_its_penalties_back():
    model = make_model()
    before = penalty(model)
    assert before > 0
    AdamW(model=model, init_verbose=False)
    assert penalty(model) == 0
    restored = restore_penalties(model)
    assert restored == DECLARED
    assert penalty(model) == pytest.approx(before, rel=1e-6)
    assert get_weight_decays(model) == DECLARED  # read as live penalties
    assert restore_penalties(model) == {}  # nothing left to restore
