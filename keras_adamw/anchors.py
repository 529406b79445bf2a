"""Decay toward the start (``decay_toward="initial"``, L2-SP): w0, the weights when the
optimizer first applies an update to them.

At build each variable decayed toward w0 gets an optimizer variable for it (saved and
restored with the optimizer), zeros until then, and the optimizer one flag,
``decay_anchored``, 0 until then. At each applied step, before any decay:

    if decay_anchored == 0:   w0 <- w for every such variable;  decay_anchored <- 1

so w0 is whatever the weights hold when training starts (loaded after compile or build
by load_weights, load_model, a KerasHub preset), and a restored w0 (flag 1) wins. Eager
PyTorch asks a host mirror of the flag (a copy once, then nothing); TensorFlow and JAX
run one conditional per step (``kernels.tensorflow.take_anchors``,
``kernels.generic.take_anchors``): no pass over the weights after the first update.
"""

from .kernels import torch as torch_kernels

__all__ = ["AnchorPairs", "Anchoring"]


class AnchorPairs:
    """The (w, w0) pairs, out of sight of Keras' attribute tracking: a tuple of the
    model's variables kept as an optimizer attribute would make them optimizer
    variables (saved with it, and donated twice by JAX's train step)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: tuple):
        self.pairs = pairs


class Anchoring:
    """The w0 part of ``core.DecoupledCore`` (module docstring)."""

    def _make_anchors(self, variables, make, make_flag) -> None:
        """w0 for each variable decayed toward its initial value: an optimizer variable
        (saved, restored) made by ``make(variable)``, zeros until the first applied
        update takes the weights into it (``_take_anchors``), and one flag,
        ``decay_anchored`` (0 until then), made by ``make_flag()``. Created with a
        constant initializer, so that a build inside a traced step (``fit`` on
        TensorFlow, XLA included) lifts them out of the trace."""
        anchors = [make(variable) if s.toward == "initial" and (s.l1 or s.l2) else None
                   for variable, s in zip(variables, self.plan.settings)]
        self._anchors = tuple(anchors)
        self._anchor_pairs = AnchorPairs(
            tuple((v, a) for v, a in zip(variables, anchors) if a is not None))
        self._anchored = make_flag() if self._anchor_pairs.pairs else None

    def _take_anchors(self, host: bool) -> None:
        """w0 <- w for each variable decayed toward w0, at this optimizer's first
        applied update (the flag ``decay_anchored`` is 0): the weights training starts
        from, whatever was loaded into them after build. A restored w0 wins (its flag
        is 1). Eager PyTorch (``host``) asks the flag's host mirror; elsewhere one
        conditional per step (``_anchor_kernel``): no pass over the weights after the
        first update."""
        if host:
            if self._anchored_mirror.get() == 0:
                torch_kernels.take_anchors(self._anchor_pairs.pairs)
                self._anchored_mirror.put(1)
            return
        self._anchor_kernel(self._anchor_pairs.pairs, self._anchored)
