"""The generic kernel: one variable at a time, with ``keras.ops`` (every backend).

For a variable w with setting (mu, l1, l2), at a step whose scalars are ``step``
(``step.py``):

    w <- w - (a1 * sign(w) + a2 * w)          (a1, a2 = step.decay(mu, l1, l2); w
                                               before the step)
    w <- base.update_step(w, g, lr_mu)        (lr_mu = step.lr(mu))

The base class's own ``update_step`` does the second line, untouched.
"""

from .._keras import ops

__all__ = ["decay"]


def decay(variable, a1, a2):
    """a1 * sign(w) + a2 * w (None for a zero coefficient), from w before the step:
    what the caller subtracts from w."""
    out = None
    if a2 is not None:
        out = ops.multiply(variable, ops.cast(a2, variable.dtype))
    if a1 is not None:
        term = ops.multiply(ops.sign(variable), ops.cast(a1, variable.dtype))
        out = term if out is None else ops.add(out, term)
    return out
