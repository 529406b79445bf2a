"""What keras-adamw 1.38 code relies on, in one place.

* ``AdamW(model, ...)``: a model as the first positional argument;
* ``lr=`` as an alias of ``learning_rate``;
* ``total_iterations=0`` (1.38's default) means "not given" (``arguments.py``);
* ``fill_dict_in_order(get_weight_decays(model), values)``;
* ``TF_KERAS=1`` for code written against ``tensorflow.keras`` (``_keras.py``).
"""

from typing import Sequence

from . import validation

__all__ = ["model_from_args", "learning_rate_args", "fill_dict_in_order",
           "total_iterations_arg"]


def total_iterations_arg(value):
    """``0`` -> None (not given); anything else is checked later."""
    return None if value is None or (type(value) is int and value == 0) else value


def fill_dict_in_order(_dict: dict, values_list: Sequence) -> dict:
    """Assign ``values_list`` to the keys of ``_dict`` in order; return ``_dict``.

    As in keras-adamw 1.38: ``fill_dict_in_order(get_weight_decays(model),
    [(0, 1e-3), (1e-4, 2e-4)])``.
    """
    if len(values_list) != len(_dict):
        raise ValueError(
            f"fill_dict_in_order: got {len(values_list)} values for a dict of "
            f"{len(_dict)} keys {list(_dict)}; give one value per key.")
    for key, value in zip(list(_dict), values_list):
        _dict[key] = value
    return _dict


def model_from_args(args, model, layer_types):
    """``AdamW(model, ...)``: a model as the first positional argument."""
    if args and isinstance(args[0], layer_types):
        if model is not None:
            raise TypeError("`model` given twice: as the first positional argument "
                            "and as model=.")
        return args[1:], args[0]
    if model is not None and not isinstance(model, layer_types):
        hint = ""
        if type(model).__module__.startswith("tf_keras"):
            hint = (" It is a tf_keras (Keras 2) model: set TF_KERAS=1 and "
                    "TF_USE_LEGACY_KERAS=1 before importing keras_adamw, or use "
                    "decoupled(tf_keras.optimizers.Adam).")
        raise TypeError(f"`model` must be a Keras model or layer; got {model!r} "
                        f"of type {type(model).__name__}.{hint}")
    return args, model


def learning_rate_args(args, kwargs):
    """``lr=`` alias; a negative float learning rate is an error."""
    if "lr" in kwargs:
        if "learning_rate" in kwargs or args:
            raise TypeError("Give the learning rate once: `lr=` is an alias of "
                            "`learning_rate=`.")
        kwargs["learning_rate"] = kwargs.pop("lr")
    if args:
        lr, where = args[0], "args"
    else:
        lr, where = kwargs.get("learning_rate"), "kwargs"
    if isinstance(lr, (int, float)) and not isinstance(lr, bool):
        lr = validation.non_negative("learning_rate", lr)
        if where == "args":
            args = (lr,) + tuple(args[1:])
        else:
            kwargs["learning_rate"] = lr
    return args, kwargs
