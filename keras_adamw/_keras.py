"""Which Keras this package runs on.

Keras 3 (``import keras``). With ``TF_KERAS=1`` in the environment (the switch of
keras-adamw 1.38 for code written against ``tensorflow.keras``) the package checks
that ``tensorflow.keras`` is Keras 3 too: on TensorFlow >= 2.16 it is, with the very
same classes (``tf.keras.optimizers.Adam is keras.optimizers.Adam``), so models and
layers built from either import work with these optimizers. ``tensorflow.keras``
lacks a few public modules of Keras 3 (``keras.saving``), so the package itself
always uses ``keras``. With ``TF_USE_LEGACY_KERAS=1`` as well, ``tensorflow.keras`` is
tf_keras (Keras 2), and the exported optimizers are built on tf_keras' classes.
"""

import os

__all__ = ["keras", "ops", "TF_KERAS", "TF_KERAS_IS_LEGACY"]

TF_KERAS = os.environ.get("TF_KERAS", "0") == "1"

#: True when ``tensorflow.keras`` is tf_keras (Keras 2): TF_KERAS=1 together with
#: TF_USE_LEGACY_KERAS=1. AdamW, NadamW and SGDW are then built on tf_keras'
#: optimizers (``tf_keras_glue.py``).
TF_KERAS_IS_LEGACY = False

if TF_KERAS:
    from tensorflow import keras as _tf_keras  # noqa: E402

    TF_KERAS_IS_LEGACY = _tf_keras.__name__.startswith("tf_keras")

import keras  # noqa: E402

if not str(keras.__version__).startswith("3"):
    raise ImportError(f"keras_adamw needs Keras 3; found keras {keras.__version__}.")

ops = keras.ops
