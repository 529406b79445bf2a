"""What one optimizer step costs on PyTorch, and whether it reads the device.

    KERAS_BACKEND=torch KERAS_TORCH_DEVICE=meta python tests/torch_probe.py all
    KERAS_BACKEND=torch KERAS_TORCH_DEVICE=meta python tests/torch_probe.py lion sgdw_plain
    KERAS_BACKEND=torch KERAS_TORCH_DEVICE=cpu python tests/torch_probe.py all   # sanity mode

The environment must be set before Keras is imported. With ``KERAS_TORCH_DEVICE=meta``
every Keras variable is a meta tensor: it has a device but no data, so any read to the
host raises. Each CASE pairs one of our optimizers with the Keras 3 built-in that does
the same math; both run ``STEPS`` ``optimizer.apply(grads, variables)`` steps on the
same 9 variables (``make_variables``) with fixed gradients, and one JSON line per case
is printed with, for each side:

- ``ops_per_step``: aten operations dispatched per step (a ``TorchDispatchMode`` counts
  every one), averaged over steps 2..STEPS (step 1 builds), but for one meta artifact:
  Keras' ``convert_to_tensor`` makes an ``empty_like`` of every meta tensor it is given
  (on a CPU or GPU it returns the tensor itself), counted apart in all steps as
  ``keras_meta_remakes``; ``device_ops_per_step``:
  those that touch a tensor on the variables' device (about the kernel launches on a GPU);
  ``uploads_per_step``: copies from the CPU to the device among them (on a GPU only:
  on meta torch makes a Python number a tensor without an op, keras.ops with an
  ``empty_like`` where the CPU has a ``lift_fresh``);
- ``host_reads``: calls of ``Tensor.item / tolist / numpy / __array__ / __float__ /
  __int__ / __bool__ / __index__`` and of ``keras.ops.cond`` with a predicate on the
  variables' device (on meta Keras takes its true branch without a read), in all steps;
  ``d2h_ops``: aten ``_local_scalar_dense`` of a tensor on the variables' device (also
  on the CPU: it would read a GPU) or a copy from the variables' (non-CPU) device to the
  CPU, in all steps;
- ``fused``: every ``aten._fused_*`` call and the tensors it was given that are not on
  the variables' device (``off_device``). Fused kernels have no Meta implementation, so
  on meta the probe checks and counts them and returns without running them (they are
  in-place and return nothing);
- ``failure``: the exception a step raised (e.g. "Cannot copy out of meta tensor") and
  the last frames of its traceback, or null;
- ``top_ops``: the six most frequent aten ops over all steps (where the count comes from).

A side that fails on a non-CPU device is measured again on the CPU (``keras.device``)
and that result is given as its ``cpu`` entry: Keras' own torch SGD (a tensor as
``alpha=``) and Nadam (``convert_to_numpy``) read to the host, so their op counts come
from the CPU, which the line says (``builtin_ops_from``). ``ratio`` is ours' ops per step
on the probe's device over the built-in's. On the CPU the probe also checks that every
variable changed and stayed finite (``finite_and_moved``).

Only the public API of keras_adamw is used. Importable: ``CASES``, ``make_variables``,
``measure``, ``probe``, ``where``, ``message`` (benchmarks/gpu_check.py uses them).
"""

import collections
import contextlib
import json
import math
import os
import sys
import traceback

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402

from keras_adamw import AdamW, NadamW, SGDW, decoupled  # noqa: E402

STEPS = 5
LR, WD = 1e-3, 1e-2

#: (path, shape): 2-D kernels, 1-D biases and norm scales, and one of 32768 elements,
#: at the size where size-based fast paths change form.
SHAPES = [("dense/kernel", (64, 128)), ("dense/bias", (128,)),
          ("dense_1/kernel", (128, 256)), ("dense_1/bias", (256,)),
          ("head/kernel", (256, 10)), ("head/bias", (10,)),
          ("norm/gamma", (128,)), ("norm/beta", (128,)),
          ("embed/embeddings", (50, 64))]

LionW = decoupled(keras.optimizers.Lion)
RMSpropW = decoupled(keras.optimizers.RMSprop)


def _restarts_lr():
    return keras.optimizers.schedules.CosineDecayRestarts(LR, first_decay_steps=3, t_mul=2.0)


def _decay_lr():
    return keras.optimizers.schedules.ExponentialDecay(LR, decay_steps=2, decay_rate=0.9)


def _warmup_lr():  # (CosineDecay's warmup is a keras.ops.cond: a host read on torch)
    return keras.optimizers.schedules.PolynomialDecay(LR / 10, 4, end_learning_rate=LR)


RESTARTS = dict(use_cosine_annealing=True, total_iterations=3, t_mult=2)
SCALED = dict(weight_decays=WD, lr_scaled_decay=True, init_verbose=False)

#: name -> (ours, the built-in doing the same math): functions of no argument (ours
#: also takes keyword arguments to add).
CASES = {
    "adamw_restarts": (
        lambda **extra: AdamW(**extra, learning_rate=LR, **RESTARTS, warmup_iterations=1,
                      lr_multipliers={"dense_1": 0.5, "head": 2.0},
                      weight_decays={"dense/kernel": (1e-4, 1e-2), "head": (0.0, 2e-2),
                                     "embed": (1e-4, 0.0)},
                      exclude_1d=True, init_verbose=False),
        lambda: keras.optimizers.AdamW(learning_rate=_restarts_lr(), weight_decay=WD)),
    "adamw_schedule": (
        lambda **extra: AdamW(**extra, learning_rate=_decay_lr(), **SCALED),
        lambda: keras.optimizers.AdamW(learning_rate=_decay_lr(), weight_decay=WD)),
    "adamw_finetune": (  # decay toward w0 (taken at the first step), following the schedule
        lambda: AdamW(learning_rate=_warmup_lr(), weight_decays=WD, decay_toward="initial",
                      decay_follows_schedule=True, init_verbose=False),
        lambda: keras.optimizers.AdamW(learning_rate=_warmup_lr(), weight_decay=WD)),
    "adamw_amsgrad": (
        lambda **extra: AdamW(**extra, learning_rate=LR, amsgrad=True, **SCALED),
        lambda: keras.optimizers.AdamW(learning_rate=LR, amsgrad=True, weight_decay=WD)),
    "nadamw_restarts": (
        lambda **extra: NadamW(**extra, learning_rate=LR, **RESTARTS, weight_decays=WD, init_verbose=False),
        lambda: keras.optimizers.Nadam(learning_rate=_restarts_lr(), weight_decay=WD)),
    "sgdw_momentum": (
        lambda **extra: SGDW(**extra, learning_rate=LR, momentum=0.9, **SCALED),
        lambda: keras.optimizers.SGD(learning_rate=LR, momentum=0.9, weight_decay=WD)),
    "sgdw_nesterov": (
        lambda **extra: SGDW(**extra, learning_rate=LR, momentum=0.9, nesterov=True, **SCALED),
        lambda: keras.optimizers.SGD(learning_rate=LR, momentum=0.9, nesterov=True,
                                     weight_decay=WD)),
    "sgdw_plain": (
        lambda **extra: SGDW(**extra, learning_rate=LR, **SCALED),
        lambda: keras.optimizers.SGD(learning_rate=LR, weight_decay=WD)),
    "lion": (
        lambda **extra: LionW(**extra, learning_rate=1e-4, **SCALED),
        lambda: keras.optimizers.Lion(learning_rate=1e-4, weight_decay=WD)),
    "rmsprop": (
        lambda **extra: RMSpropW(**extra, learning_rate=LR, **SCALED),
        lambda: keras.optimizers.RMSprop(learning_rate=LR, weight_decay=WD)),
}


#: cautious decay on some of the cases above: ``<case>_cautious`` is ``<case>`` with
#: cautious_decay=True (tests/test_torch_device.py compares the two op counts)
CAUTIOUS = ["adamw_restarts", "adamw_schedule", "nadamw_restarts", "sgdw_momentum", "lion"]


CASES.update({f"{name}_cautious": (lambda ours=CASES[name][0]: ours(cautious_decay=True),
                                    CASES[name][1]) for name in CAUTIOUS})


def make_variables(shapes=SHAPES):
    """Variables and fixed gradients made on the device by keras.ops (no host data):
    varied real values on a CPU or GPU, shapes only on meta."""
    ops = keras.ops
    variables, grads = [], []
    for i, (path, shape) in enumerate(shapes):
        n = math.prod(shape)
        ramp = ops.reshape(ops.arange(n, dtype="float32"), shape)
        scope, name = path.rsplit("/", 1)
        with keras.name_scope(scope):
            variables.append(keras.Variable(ops.sin(ramp + i), name=name))
        grads.append(0.1 * ops.cos(0.37 * ramp + i))
    return variables, grads


_READS = ("item", "tolist", "numpy", "__array__", "__float__", "__int__", "__bool__",
          "__index__")


@contextlib.contextmanager
def _counting_host_reads(device, counts):
    """Patch the Tensor methods that read to the host; count the outermost calls on a
    tensor on ``device`` by method name."""
    import torch
    saved = {name: getattr(torch.Tensor, name) for name in _READS}
    depth = [0]

    def wrap(name, method):
        def read(self, *args, **kwargs):
            if depth[0] == 0 and isinstance(self, torch.Tensor) and self.device == device:
                counts[name] += 1
            depth[0] += 1
            try:
                return method(self, *args, **kwargs)
            finally:
                depth[0] -= 1
        return read

    # keras.ops.cond: on meta, Keras' torch backend takes the true branch without
    # reading the predicate (it would read it on any other device).
    backend = sys.modules["keras.src.backend.torch.core"]
    keras_cond = backend.cond

    def cond(pred, true_fn, false_fn):
        if depth[0] == 0 and isinstance(pred, torch.Tensor) and pred.device == device:
            counts["keras.ops.cond"] += 1
        depth[0] += 1
        try:
            return keras_cond(pred, true_fn, false_fn)
        finally:
            depth[0] -= 1

    for name, method in saved.items():
        setattr(torch.Tensor, name, wrap(name, method))
    backend.cond = cond
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(torch.Tensor, name, method)
        backend.cond = keras_cond


def _dispatch_mode(device):
    """A TorchDispatchMode that counts every aten op, the ones touching ``device``, the
    device-to-host ones, and checks (and on meta skips) the fused kernels."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = collections.Counter()
            self.device_ops = 0
            self.d2h = 0
            self.uploads = 0
            self.keras_meta_remakes = 0
            self.fused = []
            self.depth = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if self.depth:  # an op a kernel dispatched while running (meta kernels do)
                return func(*args, **kwargs)
            name = func._schema.name.split("::")[-1]
            tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
            if (device.type == "meta" and name == "empty_like" and tensors[0].is_meta
                    and str(kwargs.get("device")) == "meta"):
                # Keras' convert_to_tensor on meta remakes every meta tensor it is given
                # (``x.device != "meta"`` is true): no such op on any other device.
                self.keras_meta_remakes += 1
                return func(*args, **kwargs)
            self.ops[name] += 1
            on_device = any(t.device == device for t in tensors)
            if _uploads(name, tensors, kwargs, device):
                self.uploads += 1
            if on_device:
                self.device_ops += 1
            if on_device and (name == "_local_scalar_dense" or (
                    device.type != "cpu" and name in ("_to_copy", "copy_")
                    and _lands_on_cpu(name, args, kwargs))):
                self.d2h += 1
            if name.startswith("_fused"):
                off = sorted({f"{t.device}:{tuple(t.shape)}" for t in tensors
                              if t.device != device})
                self.fused.append({"op": name, "tensors": len(tensors), "off_device": off})
                if device.type == "meta":
                    if func._schema.returns:
                        raise NotImplementedError(f"the probe cannot fake {name} on meta")
                    return None
            self.depth += 1
            try:
                return func(*args, **kwargs)
            finally:
                self.depth -= 1

    return Count()


def _uploads(name, tensors, kwargs, device):
    """A copy from the CPU to ``device`` (not CPU, not meta: on meta, torch makes a
    Python number a tensor without dispatching an op, and keras.ops an empty_like)."""
    if device.type in ("cpu", "meta") or not tensors:
        return False
    if name == "copy_":
        return (len(tensors) > 1 and tensors[0].device == device
                and tensors[1].device.type == "cpu")
    return (name == "_to_copy" and tensors[0].device.type == "cpu"
            and str(kwargs.get("device")) == str(device))


def _lands_on_cpu(name, args, kwargs):
    if name == "copy_":
        return args[0].device.type == "cpu"
    target = kwargs.get("device")
    return target is not None and str(target) == "cpu"


def where(frames):
    """Where it happened, as "dir/file.py:line function": of ``frames`` (a traceback's
    or a stack's), the last three in keras_adamw (if any) and the last two (four if
    none) outside torch and this probe."""
    import torch
    skip = (os.path.dirname(torch.__file__), os.path.abspath(__file__))
    frames = [f for f in frames if not os.path.abspath(f.filename).startswith(skip)]
    ours = [i for i, f in enumerate(frames) if f"keras_adamw{os.sep}" in f.filename]
    last = ours[-1] + 1 if ours else 0
    chosen = frames[max(0, last - 3):last] + frames[max(last, len(frames) - (2 if ours else 4)):]
    return [f"{'/'.join(f.filename.split(os.sep)[-2:])}:{f.lineno} {f.name}" for f in chosen]


def measure(make_optimizer, steps=STEPS, device=None):
    """Run ``steps`` applies of ``make_optimizer()`` on ``make_variables()`` (under
    ``keras.device(device)`` if given) and return what the module docstring lists."""
    with keras.device(device) if device else contextlib.nullcontext():
        variables, grads = make_variables()
        dev = variables[0].value.device
        start = None if dev.type == "meta" else [v.numpy() for v in variables]
        optimizer = make_optimizer()
        reads, per_step, failure = collections.Counter(), [], None
        mode = _dispatch_mode(dev)
        with _counting_host_reads(dev, reads), mode:
            for step in range(steps):
                before = (sum(mode.ops.values()), mode.device_ops, mode.uploads)
                try:
                    optimizer.apply(grads, variables)
                except Exception as error:  # noqa: BLE001 - reported, not hidden
                    failure = {"step": step + 1, "error": message(error),
                               "frames": where(traceback.extract_tb(error.__traceback__))}
                    break
                per_step.append((sum(mode.ops.values()) - before[0],
                                 mode.device_ops - before[1], mode.uploads - before[2]))
        keys = ("ops_per_step", "device_ops_per_step", "uploads_per_step")
        result = {"device": str(dev), **dict.fromkeys(keys)}
        if failure is None and steps > 1:
            for i, key in enumerate(keys):
                result[key] = sum(counts[i] for counts in per_step[1:]) / (steps - 1)
        result.update(host_reads=sum(reads.values()), host_reads_by_method=dict(reads),
                      d2h_ops=mode.d2h, fused=_summary(mode.fused), failure=failure,
                      keras_meta_remakes=mode.keras_meta_remakes,
                      top_ops=dict(mode.ops.most_common(6)))
        if start is not None and failure is None:
            end = [v.numpy() for v in variables]
            result["finite_and_moved"] = all(
                bool(np.isfinite(e).all()) and bool((e != s).any()) for s, e in zip(start, end))
    return result


def message(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200] if text else ''}"


def _summary(fused):
    """Fused calls per op name, and every off-device tensor description seen."""
    calls = collections.Counter(f["op"] for f in fused)
    off = sorted({o for f in fused for o in f["off_device"]})
    return {"calls": dict(calls), "off_device": off}


def probe(case, steps=STEPS):
    """One case: ours and the built-in on the probe's device; a side that fails on a
    non-CPU device is measured again on the CPU as its ``cpu`` entry."""
    ours_fn, builtin_fn = CASES[case]
    line = {"case": case}
    for side, fn in (("ours", ours_fn), ("builtin", builtin_fn)):
        result = measure(fn, steps)
        if result["failure"] is not None and result["device"] != "cpu":
            result["cpu"] = measure(fn, steps, device="cpu")
        line[side] = result
    b = line["builtin"]
    builtin_ops, line["builtin_ops_from"] = b["ops_per_step"], b["device"]
    if builtin_ops is None and "cpu" in b:
        builtin_ops = b["cpu"]["ops_per_step"]
        line["builtin_ops_from"] = f"cpu (it fails on {b['device']}: {b['failure']['error']})"
    ours_ops = line["ours"]["ops_per_step"]
    line["ratio"] = (round(ours_ops / builtin_ops, 3)
                     if ours_ops is not None and builtin_ops else None)
    return line


def main(argv):
    names = [a for a in argv if not a.startswith("-")]
    if not names or names == ["all"]:
        names = list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        sys.exit(f"unknown case(s) {unknown}; choose from {list(CASES)} or 'all'")
    if keras.backend.backend() != "torch":
        sys.exit("run with KERAS_BACKEND=torch")
    for name in names:
        print(json.dumps(probe(name)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
