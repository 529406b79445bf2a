"""Which Keras this package runs on: the one place that decides.

Keras 3 (``import keras``) always. With ``TF_KERAS=1`` in the environment (the switch
of keras-adamw 1.38 for code written against ``tensorflow.keras``):

* if ``TF_USE_LEGACY_KERAS`` is ``1``/``true``/``True`` as well, ``tensorflow.keras``
  is tf_keras (Keras 2), and the exported AdamW, NadamW and SGDW are built on
  tf_keras' optimizers (``keras_adamw.tf_keras``). This is decided from the two
  environment variables, with TensorFlow's own rule, never from which module was
  imported first: ``from tensorflow.keras.layers import Dense`` before or after
  ``from keras_adamw import AdamW`` gives the same classes;
* otherwise ``tensorflow.keras`` is Keras 3 itself (TensorFlow >= 2.16), with the
  very same classes, so models built from either import work with these optimizers.

A model, layer or optimizer class is recognised as tf_keras' by its type, whatever
the environment (``decoupled(tf_keras.optimizers.Lion)`` works in a Keras 3 process).
"""

import os
import sys

__all__ = ["keras", "ops", "TF_KERAS", "TF_KERAS_IS_LEGACY", "TF_KERAS_REFUSED",
           "is_tf_keras_model", "is_tf_keras_optimizer_class"]

TF_KERAS = os.environ.get("TF_KERAS", "0") == "1"

#: True when ``tensorflow.keras`` is tf_keras: TF_KERAS=1 and TF_USE_LEGACY_KERAS set
#: as TensorFlow reads it (``tensorflow/python/util/lazy_loader.py``).
TF_KERAS_IS_LEGACY = TF_KERAS and os.environ.get("TF_USE_LEGACY_KERAS") in ("1", "true", "True")

if TF_KERAS_IS_LEGACY:
    try:
        import tf_keras as _tf_keras  # noqa: F401
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "TF_KERAS=1 and TF_USE_LEGACY_KERAS=1 ask for tf_keras (Keras 2), which is "
            "not installed: pip install tf_keras (or unset TF_USE_LEGACY_KERAS to use "
            "Keras 3).") from error

import keras  # noqa: E402

if not str(keras.__version__).startswith("3"):
    raise ImportError(f"keras_adamw needs Keras 3; found keras {keras.__version__}.")

ops = keras.ops

#: why a tf_keras optimizer cannot run in this process, or None: tf_keras traces its
#: steps with TensorFlow, and this package computes them with Keras 3's ops, which are
#: those of KERAS_BACKEND
TF_KERAS_REFUSED = None if keras.backend.backend() == "tensorflow" else (
    f"tf_keras (Keras 2) optimizers need Keras 3's TensorFlow backend in the same "
    f"process, and KERAS_BACKEND is {keras.backend.backend()!r}: unset KERAS_BACKEND (or "
    "set it to 'tensorflow') for tf_keras, or use Keras 3's own classes "
    "(keras_adamw.AdamW without TF_USE_LEGACY_KERAS) on that backend.")

if TF_KERAS_IS_LEGACY and TF_KERAS_REFUSED:
    raise ImportError(f"TF_KERAS=1 with TF_USE_LEGACY_KERAS=1: {TF_KERAS_REFUSED}")


def _tf_keras_module():
    """tf_keras if it is already imported (a tf_keras object can exist only then)."""
    return sys.modules.get("tf_keras")


def is_tf_keras_model(model) -> bool:
    """A tf_keras (Keras 2) layer or model: its penalties live on layers."""
    if isinstance(model, keras.layers.Layer):
        return False
    tf_keras = _tf_keras_module()
    return tf_keras is not None and isinstance(model, tf_keras.layers.Layer)


def is_tf_keras_optimizer_class(cls) -> bool:
    tf_keras = _tf_keras_module()
    return (tf_keras is not None and isinstance(cls, type)
            and issubclass(cls, tf_keras.optimizers.Optimizer))
