"""AdamW, NadamW and SGDW: Keras' Adam, Nadam and SGD through :func:`decoupled`."""

from ._keras import TF_KERAS_IS_LEGACY, keras
from .decoupled import decoupled

if TF_KERAS_IS_LEGACY:  # tensorflow.keras is tf_keras: build on its optimizers
    import tf_keras as _base
else:
    _base = keras

__all__ = ["AdamW", "NadamW", "SGDW"]

AdamW = decoupled(_base.optimizers.Adam, name="AdamW", doc="""Adam with decoupled weight decay.

    AdamW of Loshchilov & Hutter (2019), Algorithm 2.
""")
AdamW.__module__ = __name__

NadamW = decoupled(_base.optimizers.Nadam, name="NadamW", doc="""Nadam with decoupled weight decay.
""")
NadamW.__module__ = __name__

SGDW = decoupled(_base.optimizers.SGD, name="SGDW", doc="""SGD with decoupled weight decay.

    SGDW of Loshchilov & Hutter (2019), Algorithm 1: SGD with momentum (optionally
    Nesterov) and decoupled decay.
""")
SGDW.__module__ = __name__
