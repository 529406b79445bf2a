import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras  # noqa: E402


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


@pytest.fixture
def model():
    return two_layer_model()
