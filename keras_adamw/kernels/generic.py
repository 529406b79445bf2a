"""The generic kernel: one variable at a time, with ``keras.ops`` (every backend).

For a variable w with setting (mu, l1, l2), at a step whose scalars are ``step``
(``step.py``):

    d  = w, or w - w0 with decay_toward="initial"   (w before the step)
    w <- w - (a1 * sign(d) + a2 * d)          (a1, a2 = step.decay(mu, l1, l2))
    w <- base.update_step(w, g, lr_mu)        (lr_mu = step.lr(mu))

The base class's own ``update_step`` does the second line, untouched.
"""

from .._keras import ops

__all__ = ["decay"]


def decay(variable, a1, a2, anchor=None):
    """a1 * sign(d) + a2 * d with d = w - w0 (``anchor``) or w (None for a zero
    coefficient), from w before the step: what the caller subtracts from w."""
    d = variable if anchor is None else ops.subtract(variable, anchor)
    out = None
    if a2 is not None:
        out = ops.multiply(d, ops.cast(a2, variable.dtype))
    if a1 is not None:
        term = ops.multiply(ops.sign(d), ops.cast(a1, variable.dtype))
        out = term if out is None else ops.add(out, term)
    return out
