"""The generic kernel: one variable at a time, with ``keras.ops`` (every backend).

For a variable w with setting (mu, l1, l2), at a step whose scalars are ``step``
(``step.py``):

    d  = w, or w - w0 with decay_toward="initial"   (w before the step)
    w <- w - (a1 * sign(d) + a2 * d)          (a1, a2 = step.decay(mu, l1, l2))
    w <- base.update_step(w, g, lr_mu)        (lr_mu = step.lr(mu))

The base class's own ``update_step`` does the last line, untouched. With
``cautious_decay`` the decay comes after it, masked by the base's step
(``cautious``): w <- w - lr_mu u - [u * d >= 0] (a1 sign(d) + a2 d).
"""

from .._keras import keras, ops

__all__ = ["target_offset", "decay", "cautious", "take_anchors"]


def target_offset(variable, anchor=None):
    """d = w - w0 (``anchor``) or w, from w before the step."""
    return variable if anchor is None else ops.subtract(variable, anchor)


def decay(variable, a1, a2, d):
    """a1 * sign(d) + a2 * d (None for a zero coefficient), in ``variable``'s dtype, with
    d = w - w0 or w from w before the step (``target_offset``): what the caller
    subtracts from w."""
    out = None
    if a2 is not None:
        out = ops.multiply(d, ops.cast(a2, variable.dtype))
    if a1 is not None:
        term = ops.multiply(ops.sign(d), ops.cast(a1, variable.dtype))
        out = term if out is None else ops.add(out, term)
    return out


def cautious(decay_value, d, before, after):
    """The decay where the base update moves w toward its target, 0 elsewhere
    (cautious weight decay, Chen et al. 2025): with lr * u = ``before`` - ``after`` the
    base's own step (w <- w - lr * u), the mask is [u * d >= 0], d = w or w - w0 from w
    before the step (signs multiplied, as optax does: no overflow). An element the step
    does not move (u = 0) is decayed."""
    moved = ops.subtract(before, after)
    keep = ops.greater_equal(ops.multiply(ops.sign(moved), ops.sign(d)), 0)
    return ops.where(keep, decay_value, ops.zeros_like(decay_value))


def take_anchors(pairs, flag) -> None:
    """w0 <- w for each (w, w0) of ``pairs`` when ``flag`` is 0 (the first applied
    update), then flag <- 1. One conditional (``ops.cond``): the weights are read only
    in the step that takes them. PyTorch outside eager mode (``torch.compile``), where
    a conditional reads its predicate on the host, selects with ``where`` instead
    (then every step reads and writes w0)."""
    first = ops.equal(flag.value, 0)
    if keras.backend.backend() == "torch":
        taken = [ops.where(first, w.value, w0.value) for w, w0 in pairs]
    else:
        taken = ops.cond(first, lambda: [w.value for w, _ in pairs],
                         lambda: [w0.value for _, w0 in pairs])
    for (_, w0), value in zip(pairs, taken):
        w0.assign(value)
    flag.assign(1)
