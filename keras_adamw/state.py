"""The schedule state: optimizer variables, and a host mirror for eager PyTorch.

``t_cur`` (applied steps in the current cycle), the cycle length T_i, the cycle index
i (only when the cycle shape needs it) and the step's decay scale are optimizer
variables created with the optimizer: they are saved, restored, checkpointed and
distributed with it, and they are the truth.

On eager PyTorch every read of a device value to the host waits for the queued work,
and every scalar op is a kernel launch. There the step reads the state from
:class:`HostMirror` copies instead: the host advances them and writes the variables
with ``fill_`` (a kernel that takes the value as its argument: no transfer), and
never reads them back. A write by anyone else (``t_cur.assign(0)``, ``set_weights``,
a checkpoint restore) replaces the tensor or bumps torch's in-place version counter,
so the mirror notices it at the next step and reads the variable once, then.
"""

from typing import Callable, Optional

from ._keras import ops

__all__ = ["HostMirror", "ScheduleState", "value_of"]


class HostMirror:
    """A Python copy of a scalar torch-backed Keras variable (see the module
    docstring). ``cast`` turns the value read from the device into the copy's type."""

    def __init__(self, variable, value=None, cast: Callable = int):
        self.variable = variable
        self.cast = cast
        self._tensor = self._version = None
        if value is not None:
            self._keep(cast(value))

    def _keep(self, value, version_step: int = 0) -> None:
        tensor = self.variable._value
        self._value, self._tensor = value, tensor
        self._version = tensor._version + version_step

    def get(self):
        """The variable's value: the copy, or (after an outside write) one read."""
        tensor = self.variable._value
        if tensor is not self._tensor or tensor._version != self._version:
            self._keep(self.cast(ops.convert_to_numpy(self.variable)))
        return self._value

    def put(self, value) -> None:
        """Write ``value`` to the variable without reading it: one ``fill_``, none
        when the variable already holds it."""
        tensor = self.variable._value
        if tensor is self._tensor and tensor._version == self._version and value == self._value:
            return
        tensor.fill_(value)
        self._keep(value)

    def expect(self, value) -> None:
        """The next in-place write to the variable is Keras' own, and gives ``value``
        (``iterations.assign_add(1)`` after the step)."""
        self._keep(value, version_step=1)


def value_of(variable):
    """A Keras 3 variable's value (``.value``), or a tf.Variable's (``read_value()``)."""
    value = variable.value
    return value() if callable(value) else value


class ScheduleState:
    """The schedule variables of one optimizer, and their mirrors where they are used.

    ``create(name, value, dtype)`` makes one optimizer variable (``dtype`` "int" or
    "float32"); ``needs_cycle`` keeps the cycle index (shaped cycles only, so an
    optimizer without them keeps 2.0.0's variables and its saved files load as
    before)."""

    def __init__(self, create: Callable, t_cur: int, cycle_length: int, needs_cycle: bool):
        self.t_cur = create("t_cur", t_cur, "int")
        self.cycle_length = create("cycle_length", cycle_length, "int")
        self.decay_scale = create("decay_scale", 0.0, "float32")
        self.cycle = create("cycle", 0, "int") if needs_cycle else None
        self._start = (t_cur, cycle_length, 0)
        self.mirrors: Optional[tuple] = None

    @property
    def variables(self) -> tuple:
        return tuple(v for v in (self.t_cur, self.cycle_length, self.decay_scale, self.cycle)
                     if v is not None)

    def mirror(self) -> None:
        """Keep host copies from now on (eager PyTorch; call at construction, while
        the start values are known)."""
        t_cur, length, cycle = self._start
        self.mirrors = (HostMirror(self.t_cur, t_cur), HostMirror(self.cycle_length, length),
                        HostMirror(self.cycle, cycle) if self.cycle is not None else None,
                        HostMirror(self.decay_scale, 0.0, float))

    def read(self, host: bool, read_variable: Optional[Callable] = None):
        """(t_cur, T_i, i) for this step: Python ints from the mirrors (``host``), or
        the variables' values."""
        if host:
            t, length, cycle, _ = self.mirrors
            return t.get(), length.get(), cycle.get() if cycle is not None else 0
        read_variable = read_variable or value_of
        return (read_variable(self.t_cur), read_variable(self.cycle_length),
                read_variable(self.cycle) if self.cycle is not None else 0)

    def write_decay_scale(self, c) -> None:
        if isinstance(c, float) and self.mirrors is not None:
            self.mirrors[3].put(c)
        else:
            self.decay_scale.assign(ops.cast(c, "float32") if not isinstance(c, float) else c)

    def write(self, t_cur, cycle_length, cycle) -> None:
        """The state after the step (``schedule.advance``): Python ints go through the
        mirrors, tensors are assigned."""
        pairs = ((self.t_cur, t_cur, 0), (self.cycle_length, cycle_length, 1),
                 (self.cycle, cycle, 2))
        for variable, value, slot in pairs:
            if variable is None:
                continue
            if isinstance(value, int) and self.mirrors is not None:
                self.mirrors[slot].put(value)
            else:
                variable.assign(value if isinstance(value, int)
                                else ops.cast(value, variable.dtype))
