"""The update kernels, one module per family: ``generic`` (``keras.ops``, one
variable at a time, every backend), ``tensorflow`` (TensorFlow's fused training
ops) and ``torch`` (PyTorch's fused and ``_foreach`` ops). Each writes the decay
formula once; all take the step's scalars from ``step.py``."""


def base_update_step(cls, mixin):
    """The ``update_step`` the class inherits from below ``mixin`` in its MRO."""
    mro = cls.__mro__
    for klass in mro[mro.index(mixin) + 1:]:
        if "update_step" in vars(klass):
            return vars(klass)["update_step"]
    return None


def whole_step_allowed(cls, mixin) -> bool:
    """Whether a whole-step kernel (``tensorflow.step_update_for``, ``torch``) may
    replace the per-variable calls: only when no class before ``mixin`` overrides
    ``update_step`` (a subclass of AdamW with its own step), and the base's
    ``_backend_update_step`` is Keras' own (a user's override of it, such as a
    gradient hook, must run)."""
    if cls.update_step is not vars(mixin)["update_step"]:
        return False
    mro = cls.__mro__
    for klass in mro[mro.index(mixin) + 1:]:
        if "_backend_update_step" in vars(klass):
            return vars(klass)["_backend_update_step"].__module__.startswith("keras.")
    return True
