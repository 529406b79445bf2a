"""Which Keras this package runs on.

By default ``import keras`` (Keras 3). With ``TF_KERAS=1`` in the environment the
package imports Keras through ``tensorflow.keras``, as keras-adamw 1.38 did, so code
written against ``tensorflow.keras`` keeps working. On TensorFlow >= 2.16
``tensorflow.keras`` *is* Keras 3 (the same classes), so both routes give the same
optimizers.
"""

import os

__all__ = ["keras", "ops", "TF_KERAS"]

TF_KERAS = os.environ.get("TF_KERAS", "0") == "1"

if TF_KERAS:
    from tensorflow import keras  # noqa: E402
else:
    import keras  # noqa: E402

if not hasattr(keras, "ops") or not str(getattr(keras, "__version__", "3")).startswith("3"):
    raise ImportError(
        "keras_adamw needs Keras 3; the Keras imported here is "
        f"{getattr(keras, '__name__', keras)} version "
        f"{getattr(keras, '__version__', 'unknown')}. With TF_KERAS=1, unset "
        "TF_USE_LEGACY_KERAS (tf_keras / Keras 2 is not supported yet)."
    )

ops = keras.ops
