"""keras_adamw vs the Keras 3 built-ins: step time, bandwidth, scaling, floors, XLA
programs, fit, memory.

    python benchmarks/bench.py                       # all three backends, one process each
    python benchmarks/bench.py --backend torch       # one backend
    python benchmarks/bench.py --quick               # a smoke run
    python benchmarks/bench.py --update              # also rewrite the committed tables

Results go to benchmarks/out/ (git-ignored): results_<backend>.json and .md. With
--update they are also written to benchmarks/results_<backend>.{json,md}.

Every comparison measures both sides interleaved in one process (A B, B A, ...),
several rounds, and reports the median of the per-round time ratios
(keras_adamw / built-in) with its 95% bootstrap interval. The built-in is configured for the
same arithmetic: ``lr_scaled_decay=True`` against Keras' ``weight_decay``, and our
cosine restarts against a ``CosineDecayRestarts`` learning rate. The "3 groups" rows
give our optimizer lr multipliers 1, 0.5 and 2 on every third variable (and restarts);
the built-in has no multipliers, so they show what the groups cost.

The step alone: TensorFlow, ``apply_gradients`` in a ``tf.function`` without and with
XLA; JAX, ``stateless_apply`` under ``jax.jit``; PyTorch, eager ``apply`` (what
``model.fit`` runs with ``jit_compile=False``, the torch default).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
BACKENDS = ("tensorflow", "jax", "torch")
if "--backend" in sys.argv and sys.argv[sys.argv.index("--backend") + 1] in BACKENDS:
    os.environ["KERAS_BACKEND"] = sys.argv[sys.argv.index("--backend") + 1]
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
BACKEND = os.environ["KERAS_BACKEND"]

import numpy as np  # noqa: E402

import keras  # noqa: E402
import keras_adamw  # noqa: E402
from keras_adamw import AdamW, NadamW, SGDW  # noqa: E402

LR, WD, T0 = 1e-3, 1e-2, 50
SECTIONS = ("steps", "scaling", "floors", "programs", "fit", "memory")
HERE = os.path.dirname(os.path.abspath(__file__))

OURS = {"AdamW": AdamW, "NadamW": NadamW, "SGDW": SGDW}
BUILTIN = {
    "AdamW": lambda **kw: keras.optimizers.AdamW(**kw),
    "NadamW": lambda **kw: keras.optimizers.Nadam(**kw),
    "SGDW": lambda **kw: keras.optimizers.SGD(momentum=0.9, **kw),
}
EXTRA = {"SGDW": {"momentum": 0.9}}
# Bytes each step must move per float32 parameter: reads w, g and the slots, writes
# w and the slots (AdamW/NadamW: 16 read + 12 written; SGDW with momentum: 12 + 8).
BYTES_PER_PARAM = {"AdamW": 28, "NadamW": 28, "SGDW": 20}


def ours(name, restarts, groups=0):
    kwargs = dict(learning_rate=LR, weight_decays=WD, lr_scaled_decay=True,
                  init_verbose=False, **EXTRA.get(name, {}))
    if groups:
        kwargs["lr_multipliers"] = {f"w{i}": (1.0, 0.5, 2.0)[i % 3] for i in range(groups)}
    if restarts:
        # total_iterations_wd=1 (s = 1): the same decay arithmetic as the built-in.
        kwargs.update(use_cosine_annealing=True, total_iterations=T0, t_mult=2,
                      total_iterations_wd=1)
    return OURS[name](**kwargs)


def builtin(name, restarts):
    lr = LR
    if restarts:
        lr = keras.optimizers.schedules.CosineDecayRestarts(LR, first_decay_steps=T0, t_mul=2.0)
    return BUILTIN[name](learning_rate=lr, weight_decay=WD)


def variables(sizes, seed=0):
    rng = np.random.default_rng(seed)
    vs = [keras.Variable(rng.normal(size=(n,)).astype("float32"), name=f"w{i}")
          for i, n in enumerate(sizes)]
    grads = [keras.ops.convert_to_tensor(rng.normal(size=(n,)).astype("float32"))
             for n in sizes]
    return vs, grads


def step_function(optimizer, sizes, jit):
    """One optimizer step on fixed gradients, as each backend runs it in training."""
    vs, grads = variables(sizes)
    optimizer.build(vs)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=jit)
        def step():
            optimizer.apply_gradients(zip(grads, vs))
    elif BACKEND == "jax":
        import jax

        apply = jax.jit(optimizer.stateless_apply, donate_argnums=(0, 2))
        state = {"opt": [v.value for v in optimizer.variables], "vars": [v.value for v in vs]}

        def step():
            state["vars"], state["opt"] = apply(state["opt"], grads, state["vars"])
            jax.block_until_ready(state["vars"])
    else:
        def step():
            optimizer.apply(grads, vs)
    step()
    step()
    return step


def jit_modes():
    return {"tensorflow": (False, True), "jax": (True,), "torch": (False,)}[BACKEND]


def timed(fn, steps):
    return timed_cpu(fn, steps)[0]


def timed_cpu(fn, steps):
    """(wall, process CPU) seconds per call. CPU time leaves out what the VM's
    neighbours took (steal time), so it is the steadier measure of the work done."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


def bootstrap_median_ci(values, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(values, size=(n, len(values))), axis=1)
    return float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))


def interleaved(fa, fb, rounds, steps):
    """Both sides alternately (A B, B A, ...): per-round wall and CPU time ratios."""
    wa, wb, ca, cb = [], [], [], []
    for r in range(rounds):
        pair = ((fa, wa, ca), (fb, wb, cb)) if r % 2 == 0 else ((fb, wb, cb), (fa, wa, ca))
        for fn, wall, cpu in pair:
            w, c = timed_cpu(fn, steps)
            wall.append(w)
            cpu.append(c)
    ratios = [a / b for a, b in zip(wa, wb)]
    cpu_ratios = [a / b for a, b in zip(ca, cb)]
    low, high = bootstrap_median_ci(ratios)
    return dict(ours_ms=1e3 * statistics.median(wa), builtin_ms=1e3 * statistics.median(wb),
                ratio=statistics.median(ratios), ratio_min=min(ratios), ratio_max=max(ratios),
                ratio_ci95=(low, high), cpu_ratio=statistics.median(cpu_ratios))


_COPY = {}


def copy_bandwidth(n, rounds, steps):
    """GB/s of the fastest plain copy of n float32 (8 bytes moved per element) this
    machine does: the best of an XLA streaming copy (dst <- src * c) and a NumPy copy
    split over one thread per core. It is the practical limit of one pass over that
    much memory."""
    if n not in _COPY:
        copies = []
        if BACKEND == "tensorflow":
            import tensorflow as tf

            src = tf.Variable(tf.random.normal((n,)))
            dst = tf.Variable(tf.zeros((n,)))

            @tf.function(jit_compile=True)
            def xla_copy():
                dst.assign(src * 1.0000001)

            copies.append(xla_copy)

        a = np.random.default_rng(0).random(n, dtype=np.float32)
        b = np.empty_like(a)
        parts = np.array_split(np.arange(n), os.cpu_count() or 1)
        bounds = [(p[0], p[-1] + 1) for p in parts if len(p)]

        def numpy_copy():
            threads = [threading.Thread(target=np.copyto, args=(b[lo:hi], a[lo:hi]))
                       for lo, hi in bounds[1:]]
            for t in threads:
                t.start()
            lo, hi = bounds[0]
            np.copyto(b[lo:hi], a[lo:hi])
            for t in threads:
                t.join()

        best = []
        for fn in copies + [numpy_copy]:
            fn()
            best.append(min(timed(fn, steps) for _ in range(rounds)))
        _COPY[n] = 8 * n / min(best) / 1e9
    return _COPY[n]


def bench_steps(args, rows):
    cases = {"large": [1_000_000] * 4, "small": [10_000] * 200}
    variants = {"plain": (False, 0), "restarts": (True, 0), "restarts, 3 groups": (True, 1)}
    for case, sizes in cases.items():
        for jit in jit_modes():
            for variant, (restarts, groups) in variants.items():
                for name in OURS:
                    if args.quick and (variant != "plain" or name != "AdamW"):
                        continue
                    fa = step_function(ours(name, restarts, groups and len(sizes)), sizes, jit)
                    fb = step_function(builtin(name, restarts), sizes, jit)
                    r = interleaved(fa, fb, args.rounds, args.steps)
                    r.update(kind="step", optimizer=name, case=case, params=sum(sizes),
                             variables=len(sizes), jit=jit, restarts=restarts,
                             variant=variant)
                    moved = BYTES_PER_PARAM[name] * sum(sizes)
                    r["ours_GBps"] = moved / (r["ours_ms"] / 1e3) / 1e9
                    r["builtin_GBps"] = moved / (r["builtin_ms"] / 1e3) / 1e9
                    # A copy that moves as many bytes (8 per element), on this machine.
                    r["copy_GBps"] = copy_bandwidth(moved // 8, args.rounds, args.steps)
                    r["ours_percent_of_copy"] = 100 * r["ours_GBps"] / r["copy_GBps"]
                    rows.append(r)
                    print(_step_line(r), flush=True)


def bench_scaling(args, rows):
    total = 2_000_000
    for count in (10, 100, 1000):
        if args.quick and count == 1000:
            continue
        sizes = [total // count] * count
        jit = BACKEND == "jax"
        fa = step_function(ours("AdamW", False), sizes, jit)
        fb = step_function(builtin("AdamW", False), sizes, jit)
        r = interleaved(fa, fb, args.rounds, max(3, args.steps // 2))
        r.update(kind="scaling", optimizer="AdamW", variables=count, params=total, jit=jit)
        r["ours_us_per_variable"] = 1e3 * r["ours_ms"] / count
        r["builtin_us_per_variable"] = 1e3 * r["builtin_ms"] / count
        rows.append(r)
        print(f"scaling  AdamW {count:5d} vars x {total // count:7d}: ours {r['ours_ms']:7.2f} ms, "
              f"built-in {r['builtin_ms']:7.2f} ms, ratio {r['ratio']:.3f} "
              f"(CPU {r['cpu_ratio']:.3f})", flush=True)


def _floor_tensorflow(sizes):
    """TensorFlow without XLA, the least any Adam step does: one read of each
    variable it must update (w, m, v), one element kept, nothing written. What
    this costs per variable is TensorFlow's per-variable price (each variable is a
    captured resource the function call resolves), paid by every optimizer."""
    import tensorflow as tf

    opt = ours("AdamW", False)
    vs, _ = variables(sizes)
    opt.build(vs)

    @tf.function
    def touch():
        return tf.add_n([w.value.read_value()[0] + m.value.read_value()[0]
                         + v.value.read_value()[0]
                         for w, m, v in zip(vs, opt._momentums, opt._velocities)])

    touch()
    return touch


def _floor_torch(name, sizes):
    """PyTorch, the fastest update torch has for the base math alone, without any
    decay: its fused kernel, on every variable (for SGD: ``_fused_sgd_`` with Keras'
    momentum form, as torch_parallel.py calls it)."""
    import torch

    rng = np.random.default_rng(0)
    w, g, m, v = ([torch.from_numpy(rng.normal(size=(n,)).astype("float32")) for n in sizes]
                  for _ in range(4))
    step = [torch.ones(())] * len(sizes)
    if name == "SGDW":
        return lambda: torch._fused_sgd_(w, g, m, weight_decay=0.0, momentum=0.9, lr=-1.0,
                                         dampening=1.0 + LR, nesterov=False, maximize=False,
                                         is_first_step=False)
    return lambda: torch._fused_adam_(w, g, m, v, [], step, lr=LR, beta1=0.9, beta2=0.999,
                                      weight_decay=0.0, eps=1e-7, amsgrad=False,
                                      maximize=False)


def bench_floors(args, rows):
    """Lower bounds that are not ours to remove, each against the built-in step."""
    cases = []
    if BACKEND == "tensorflow":
        cases.append(("AdamW", [2_000] * 1000, "read w, m, v of each variable",
                      lambda sizes: _floor_tensorflow(sizes)))
    elif BACKEND == "torch":
        for name in ("SGDW", "AdamW"):
            cases.append((name, [1_000_000] * 4, "torch's fused kernel alone, no decay",
                          lambda sizes, name=name: _floor_torch(name, sizes)))
    for name, sizes, what, make in cases:
        floor = make(sizes)
        fb = step_function(builtin(name, False), sizes, False)
        r = interleaved(floor, fb, args.rounds, args.steps)
        r.update(kind="floor", optimizer=name, what=what, variables=len(sizes),
                 params=sum(sizes))
        rows.append(r)
        print(f"floor    {name:6s} {len(sizes)} x {sizes[0]}: {what}: {r['ours_ms']:.2f} ms, "
              f"built-in step {r['builtin_ms']:.2f} ms, ratio {r['ratio']:.3f}", flush=True)


def _compiled_ops(optimizer, sizes) -> dict:
    """Instruction counts of the optimized XLA program of one step (TensorFlow with
    jit_compile, or JAX): what the compiled step does, free of timing noise."""
    import collections
    import re

    vs, grads = variables(sizes)
    optimizer.build(vs)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def step():
            optimizer.apply_gradients(zip(grads, vs))

        text = step.experimental_get_compiler_ir()(stage="optimized_hlo")
    else:
        import jax

        text = jax.jit(optimizer.stateless_apply, donate_argnums=(0, 2)).lower(
            [v.value for v in optimizer.variables], grads, [v.value for v in vs]
        ).compile().as_text()
    entry = text[text.index("ENTRY"):]
    return collections.Counter(re.findall(r"= \S+ (\w[\w-]*)\(", entry))


def bench_programs(args, rows):
    """With XLA: the compiled programs of our step and the built-in's, compared by
    instruction counts (fusions are the kernels that run)."""
    if BACKEND == "torch":
        return
    sizes = [10_000] * 200
    variants = {"plain": (False, 0), "restarts, 3 groups": (True, 1)}
    for variant, (restarts, groups) in variants.items():
        for name in OURS:
            a = _compiled_ops(ours(name, restarts, groups and len(sizes)), sizes)
            b = _compiled_ops(builtin(name, restarts), sizes)
            r = dict(kind="program", optimizer=name, variant=variant, variables=len(sizes),
                     ours_fusions=a["fusion"], builtin_fusions=b["fusion"],
                     ours_instructions=sum(a.values()), builtin_instructions=sum(b.values()))
            rows.append(r)
            print(f"program  {name:6s} {variant:18s}: fusions ours {r['ours_fusions']}, "
                  f"built-in {r['builtin_fusions']}; instructions {r['ours_instructions']} vs "
                  f"{r['builtin_instructions']}", flush=True)


def _cnn():
    inp = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(16, 3, activation="relu")(inp)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(10)(x)), (28, 28, 1)


def _mlp():
    inp = keras.Input((784,))
    x = keras.layers.Dense(2048, activation="relu")(inp)
    x = keras.layers.Dense(2048, activation="relu")(x)
    return keras.Model(inp, keras.layers.Dense(10)(x)), (784,)


def bench_fit(args, rows):
    for model_name, build in (("cnn", _cnn), ("mlp", _mlp)):
        fits = []
        for make in (lambda: ours("AdamW", True), lambda: builtin("AdamW", True)):
            keras.utils.set_random_seed(0)
            model, shape = build()
            model.compile(make(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            x = np.random.default_rng(0).normal(size=(64 * 8,) + shape).astype("float32")
            y = np.random.default_rng(1).integers(0, 10, size=(64 * 8,))
            model.fit(x, y, batch_size=64, epochs=1, verbose=0)  # compile the train step
            fits.append(lambda m=model, x=x, y=y: m.fit(x, y, batch_size=64, epochs=1, verbose=0))
        r = interleaved(fits[0], fits[1], args.rounds, 1)
        for key in ("ours_ms", "builtin_ms"):
            r[key] /= 8  # per step
        r.update(kind="fit", model=model_name, params=int(model.count_params()),
                 optimizer="AdamW + restarts")
        rows.append(r)
        print(f"fit      {model_name:4s} {r['params']:9d} params: ours {r['ours_ms']:7.2f} ms/step, "
              f"built-in {r['builtin_ms']:7.2f} ms/step, ratio {r['ratio']:.3f} "
              f"(CPU {r['cpu_ratio']:.3f})", flush=True)


def bench_memory(rows):
    sizes = [1_000_000] * 4
    for name in OURS:
        counts = []
        for opt in (ours(name, True), builtin(name, True)):
            vs, _ = variables(sizes)
            opt.build(vs)
            counts.append((len(opt.variables),
                           sum(int(np.prod(v.shape)) * np.dtype(str(v.dtype)).itemsize
                               for v in opt.variables)))
        r = dict(kind="memory", optimizer=name, ours_variables=counts[0][0],
                 builtin_variables=counts[1][0], ours_bytes=counts[0][1],
                 builtin_bytes=counts[1][1])
        rows.append(r)
        print(f"memory   {name:6s}: ours {r['ours_variables']} variables, {r['ours_bytes']:,} B; "
              f"built-in {r['builtin_variables']} variables, {r['builtin_bytes']:,} B", flush=True)


def _step_line(r):
    return (f"step     {r['optimizer']:6s} {r['case']:5s} jit={str(r['jit']):5s} "
            f"{r['variant']:18s}: ours {r['ours_ms']:7.2f} ms, built-in "
            f"{r['builtin_ms']:7.2f} ms, ratio {r['ratio']:.3f} (95% CI {r['ratio_ci95'][0]:.3f}-"
            f"{r['ratio_ci95'][1]:.3f}, CPU {r['cpu_ratio']:.3f}), {r['ours_GBps']:.1f} GB/s = "
            f"{r['ours_percent_of_copy']:.0f}% of copy ({r['copy_GBps']:.1f} GB/s)")


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    versions = {}
    for module in ("tensorflow", "jax", "torch"):
        if module == BACKEND:
            versions[module] = __import__(module).__version__
    return dict(cpu=cpu, cores=os.cpu_count(), python=sys.version.split()[0],
                backend=BACKEND, keras=keras.__version__,
                keras_adamw=keras_adamw.__version__, **versions)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="all", choices=("all",) + BACKENDS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="comma-separated sections: " + ", ".join(SECTIONS))
    parser.add_argument("--out", default=os.path.join(HERE, "out"),
                        help="folder for results_<backend>.json/.md (default: benchmarks/out)")
    parser.add_argument("--update", action="store_true",
                        help="also write the committed benchmarks/results_<backend>.*")
    args = parser.parse_args()
    if args.backend == "all":
        for backend in BACKENDS:  # one process each: Keras reads the backend at import
            argv = [a for a in sys.argv[1:]]
            subprocess.run([sys.executable, __file__, *argv, "--backend", backend],
                           check=True)
        return
    args.rounds = args.rounds or (3 if args.quick else 15)
    args.steps = args.steps or (5 if args.quick else 5)
    only = set(args.only.split(","))
    if only - set(SECTIONS):
        parser.error(f"--only: unknown {sorted(only - set(SECTIONS))}; choose from {SECTIONS}")
    rows, start = [], time.perf_counter()
    info = machine()
    print(json.dumps(info))
    if "memory" in only:
        bench_memory(rows)
    if "steps" in only:
        bench_steps(args, rows)
    if "scaling" in only:
        bench_scaling(args, rows)
    if "floors" in only:
        bench_floors(args, rows)
    if "programs" in only:
        bench_programs(args, rows)
    if "fit" in only:
        bench_fit(args, rows)
    elapsed = time.perf_counter() - start
    folders = [args.out] + ([HERE] if args.update else [])
    table = markdown(info, rows, args)
    print(table)
    for folder in folders:
        os.makedirs(folder, exist_ok=True)
        base = os.path.join(folder, f"results_{BACKEND}")
        with open(base + ".json", "w") as f:
            json.dump(dict(machine=info, seconds=elapsed, quick=args.quick,
                           rounds=args.rounds, steps=args.steps, rows=rows), f, indent=1)
        with open(base + ".md", "w") as f:
            f.write(table)
        print(f"wrote {base}.json and .md ({elapsed:.0f} s)")


def _table(rows, kind, header, cells) -> list:
    """Markdown lines of one table: the rows of ``kind``, one line each from
    ``cells(row)``, then a blank line; nothing when there are none."""
    chosen = [r for r in rows if r["kind"] == kind]
    if not chosen:
        return []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in chosen]
    return lines + [""]


def _ci(r, bold: bool = False) -> str:
    """The median ratio (in bold for the step tables) and its 95% interval."""
    low, high = r["ratio_ci95"]
    ratio = f"**{r['ratio']:.3f}**" if bold else f"{r['ratio']:.3f}"
    return f"{ratio} ({low:.2f}-{high:.2f})"


def _shape(r) -> str:
    return f"{r['variables']} x {r['params'] // r['variables']:,}"


def markdown(info, rows, args) -> str:
    """The README's tables, from the rows."""
    backend = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}[info["backend"]]
    out = [f"### {backend} backend", "",
           f"Measured on {info['cpu']}, {info['cores']} cores, Python {info['python']}, "
           f"{backend} {info[info['backend']]}, Keras {info['keras']}, keras_adamw "
           f"{info['keras_adamw']}; {args.rounds} interleaved rounds of {args.steps} steps "
           f"(scaling: {max(3, args.steps // 2)} steps; fit: one epoch of 8 steps). "
           "Ratio = keras_adamw time / built-in time: the median of the per-round wall-time "
           "ratios with its 95% bootstrap interval, and the median per-round ratio of process "
           "CPU time (which leaves out time taken by the VM's neighbours).", ""]
    out += _table(rows, "step", [
        "optimizer", "variables", "jit", "variant", "keras_adamw ms", "built-in ms",
        "ratio (95% CI)", "CPU ratio", "keras_adamw GB/s", "% of copy GB/s"],
        lambda r: [r["optimizer"], _shape(r), "on" if r["jit"] else "off", r["variant"],
                   f"{r['ours_ms']:.2f}", f"{r['builtin_ms']:.2f}", _ci(r, bold=True),
                   f"{r['cpu_ratio']:.3f}",
                   f"{r['ours_GBps']:.1f}",
                   f"{r['ours_percent_of_copy']:.0f}% of {r['copy_GBps']:.0f}"])
    out += _table(rows, "scaling", [
        "AdamW, 2M parameters in", "keras_adamw ms", "built-in ms", "ratio (95% CI)",
        "CPU ratio", "keras_adamw us/variable", "built-in us/variable"],
        lambda r: [f"{r['variables']} variables", f"{r['ours_ms']:.2f}",
                   f"{r['builtin_ms']:.2f}", _ci(r), f"{r['cpu_ratio']:.3f}",
                   f"{r['ours_us_per_variable']:.1f}", f"{r['builtin_us_per_variable']:.1f}"])
    out += _table(rows, "floor", [
        "floor: what no optimizer step goes below", "variables", "floor ms",
        "built-in step ms", "floor / built-in (95% CI)"],
        lambda r: [f"{r['optimizer']}: {r['what']}", _shape(r), f"{r['ours_ms']:.2f}",
                   f"{r['builtin_ms']:.2f}", _ci(r)])
    out += _table(rows, "program", [
        "compiled step (XLA), 200 x 10,000", "variant", "keras_adamw fusions",
        "built-in fusions", "keras_adamw instructions", "built-in instructions"],
        lambda r: [r["optimizer"], r["variant"], str(r["ours_fusions"]),
                   str(r["builtin_fusions"]), str(r["ours_instructions"]),
                   str(r["builtin_instructions"])])
    out += _table(rows, "fit", [
        "model.fit, AdamW + restarts", "parameters", "keras_adamw ms/step",
        "built-in ms/step", "ratio (95% CI)", "CPU ratio"],
        lambda r: [r["model"], f"{r['params']:,}", f"{r['ours_ms']:.2f}",
                   f"{r['builtin_ms']:.2f}", _ci(r), f"{r['cpu_ratio']:.3f}"])
    out += _table(rows, "memory", [
        "optimizer state, 4 x 1M", "keras_adamw variables", "bytes", "built-in variables",
        "bytes"],
        lambda r: [r["optimizer"], str(r["ours_variables"]), f"{r['ours_bytes']:,}",
                   str(r["builtin_variables"]), f"{r['builtin_bytes']:,}"])
    return "\n".join(out)

if __name__ == "__main__":
    main()
