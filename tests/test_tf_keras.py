"""tf_keras (Keras 2): the reference trajectories, the 1.38 README example, decays from
any model, saving (.keras and h5), tf.train.Checkpoint, MirroredStrategy and mixed
precision, all in tf_keras_suite.py, run in a process where tensorflow.keras is
tf_keras (TF_KERAS=1, TF_USE_LEGACY_KERAS=1)."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent


@pytest.mark.slow
def test_tf_keras_suite_passes():
    if importlib.util.find_spec("tf_keras") is None:
        pytest.skip("tf_keras is not installed (the README's test command installs it)")
    env = dict(os.environ, TF_KERAS="1", TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("KERAS_BACKEND", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(HERE / "tf_keras_suite.py")],
        cwd=HERE.parent, env=env, capture_output=True, text=True, timeout=900)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert " passed" in summary and "failed" not in summary and "skipped" not in summary, summary


IMPORT_ORDERS = {
    "tensorflow.keras first": "from tensorflow.keras.layers import Dense\nfrom keras_adamw import AdamW\n",
    "keras_adamw first": "from keras_adamw import AdamW\nfrom tensorflow.keras.layers import Dense\n",
    "keras first": "import keras\nfrom tensorflow import keras as tfk\nfrom keras_adamw import AdamW\n",
}


@pytest.mark.slow
@pytest.mark.parametrize("order", list(IMPORT_ORDERS))
def test_tf_keras_detection_does_not_depend_on_import_order(order):
    """TF_KERAS=1 TF_USE_LEGACY_KERAS=1: AdamW is a tf_keras optimizer and takes a
    tf_keras model, whichever module was imported first (a fresh process each)."""
    if importlib.util.find_spec("tf_keras") is None:
        pytest.skip("tf_keras is not installed")
    code = IMPORT_ORDERS[order] + (
        "import tf_keras\n"
        "assert issubclass(AdamW, tf_keras.optimizers.Optimizer), AdamW.__mro__\n"
        "inp = tf_keras.Input((3,))\n"
        "m = tf_keras.Model(inp, tf_keras.layers.Dense(2, name='d', "
        "kernel_regularizer=tf_keras.regularizers.L2(0.1))(inp))\n"
        "opt = AdamW(model=m, init_verbose=False)\n"
        "assert opt.weight_decays == {'d/kernel': (0.0, 0.1)}, opt.weight_decays\n"
        "print('OK')\n")
    env = dict(os.environ, TF_KERAS="1", TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("KERAS_BACKEND", None)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]


@pytest.mark.parametrize("backend", ["jax", "torch"])
@pytest.mark.parametrize("how", ["TF_KERAS=1", "decoupled(tf_keras class)"])
def test_tf_keras_under_another_keras_backend_is_refused_naming_keras_backend(backend, how):
    """tf_keras traces its steps with TensorFlow, and Keras 3's ops on another backend
    cannot compute them: an error at import (TF_KERAS=1) or at decoupled(), never a
    failure at the first step of fit."""
    for module in ("tf_keras", backend):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    if how == "TF_KERAS=1":
        env.update(TF_KERAS="1", TF_USE_LEGACY_KERAS="1")
        code = "import keras_adamw"
        expected = "ImportError"
    else:
        code = ("import tf_keras, keras_adamw\n"
                "keras_adamw.decoupled(tf_keras.optimizers.Adam)")
        expected = "TypeError"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(expected) and "KERAS_BACKEND" in last and backend in last, last
