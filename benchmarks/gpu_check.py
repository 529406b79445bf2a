"""The GPU check (issue 18, item 7), for the Keras backend in KERAS_BACKEND (torch or jax):

    KERAS_BACKEND=torch python benchmarks/gpu_check.py --out DIR
    KERAS_BACKEND=jax python benchmarks/gpu_check.py --out DIR
    KERAS_BACKEND=torch python benchmarks/gpu_check.py --out DIR --device-check-only
    KERAS_BACKEND=torch python benchmarks/gpu_check.py --out DIR --quick   # a CPU smoke run

What it measures, each part written to DIR as it finishes:

(a) ``pytest_<backend>.txt``: the tests that compare trajectories with the NumPy
    reference of tests/reference.py (``REFERENCE_TESTS``; none needs TensorFlow), run on
    the backend's default device (the GPU when there is one); on torch without the two
    ``jit_compile=True`` fits (torch.compile, ``TORCH_DESELECT``).
(b) torch only, ``sync_torch.json``: each case of tests/torch_probe.py (ours and the
    built-in), ``SYNC_STEPS`` steps under ``torch.cuda.set_sync_debug_mode("error")``:
    pass, or the step and frames of the first synchronizing operation; then the same
    steps under ``"warn"``, counting the synchronizing operations per step and where the
    first ones came from. ``probe_torch.jsonl``: the probe's own lines on this device
    (aten ops per step, host reads, and the fused kernels' tensors checked to be on the
    variables' device). Without CUDA the steps run on the CPU without the sync check
    (the file says so).
(c) ``gpu_<backend>.md`` / ``.json``: step time, ours vs the built-in doing the same
    math, 4 x 1M and 200 x 10k float32 variables, both sides interleaved in one process
    (A B, B A, ...) for ``--rounds`` rounds of ``--steps`` steps, the clock read after a
    ``torch.cuda.synchronize()`` (JAX: ``stateless_apply`` under ``jax.jit``, each step
    blocked on, as benchmarks/bench.py runs it). Ratio = ours / built-in, the median
    of the per-round ratios with its 95% bootstrap interval.

It exits 0 when the check ran (failing tests or syncs are results, written down), so
one command can run both backends; the last lines printed summarize.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, os.path.join(ROOT, "tests")]

import bench  # noqa: E402  (sets nothing when KERAS_BACKEND is set)
import keras  # noqa: E402

BACKEND = keras.backend.backend()
REFERENCE_TESTS = ["tests/test_reference.py", "tests/test_torch_parallel.py",
                   "tests/test_recipe.py"]
#: on torch, jit_compile=True is torch.compile: a compiler's minute per test, no new path
TORCH_DESELECT = [f"tests/test_recipe.py::test_shaped_model_fit_matches_the_reference[{a}-True]"
                  for a in ("adam", "sgd_momentum")]
SYNC_STEPS = 20
#: probe cases that need no variable names (the timing variables are w0, w1, ...)
TIMED_CASES = ("adamw_amsgrad", "lion", "rmsprop")


def cuda():
    if BACKEND != "torch":
        return False
    import torch
    return torch.cuda.is_available()


def sync():
    if cuda():
        import torch
        torch.cuda.synchronize()


def device_name():
    if BACKEND == "torch":
        import torch
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    import jax
    d = jax.devices()[0]
    return f"{d.platform}: {getattr(d, 'device_kind', d)}"


# ------------------------------------------------------------------ (a)

def reference_tests(out):
    """The reference trajectory tests on this backend; their output to a file."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *REFERENCE_TESTS,
               *[f"--deselect={t}" for t in TORCH_DESELECT if BACKEND == "torch"]]
    t0 = time.perf_counter()
    try:
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=300)
        text, rc = result.stdout + result.stderr, result.returncode
    except subprocess.TimeoutExpired as error:
        text, rc = f"{error.stdout or ''}\n(timed out after 300 s)", "timeout"
    with open(os.path.join(out, f"pytest_{BACKEND}.txt"), "w") as f:
        f.write(" ".join(command) + "\n\n" + text)
    last = text.strip().splitlines()[-1] if text.strip() else "(no output)"
    return f"reference tests: rc {rc}, {last} ({time.perf_counter() - t0:.0f} s)"


# ------------------------------------------------------------------ (b)

def _steps(make, steps):
    """Build ``make()`` on the probe's variables and run ``steps`` applies."""
    import torch_probe
    variables, grads = torch_probe.make_variables()
    optimizer = make()
    for _ in range(steps):
        optimizer.apply(grads, variables)


def _sync_error(make):
    """None if SYNC_STEPS steps run under sync debug mode "error", else where it failed."""
    import torch
    import torch_probe
    variables, grads = torch_probe.make_variables()
    optimizer = make()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step in range(SYNC_STEPS):
            optimizer.apply(grads, variables)
    except Exception as error:  # noqa: BLE001 - the result of the check
        return {"step": step + 1, "error": torch_probe.message(error),
                "frames": torch_probe.where(traceback.extract_tb(error.__traceback__))}
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return None


def _sync_warnings(make):
    """Synchronizing operations per step after the first (sync debug mode "warn": torch
    warns at each), and where the first few came from (the stack when it warned)."""
    import torch
    import torch_probe
    variables, grads = torch_probe.make_variables()
    optimizer = make()
    optimizer.apply(grads, variables)
    torch.cuda.synchronize()
    syncs, seen = 0, []

    def hook(message, *args, **kwargs):
        nonlocal syncs
        if "synchroniz" in str(message):
            syncs += 1
            stack = [f for f in traceback.extract_stack()
                     if f.filename not in (warnings.__file__, __file__)]
            place = " <- ".join(reversed(torch_probe.where(stack)))
            if place not in seen:
                seen.append(place)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = hook
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(SYNC_STEPS - 1):
                optimizer.apply(grads, variables)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return {"syncs_per_step": syncs / (SYNC_STEPS - 1), "from": seen[:5]}


def device_check(out):
    """(b): every probe case under the sync debug mode, and the probe on this device."""
    import torch_probe
    results, summary = {"device": device_name(), "steps": SYNC_STEPS}, []
    if not cuda():
        results["note"] = ("no CUDA device: torch.cuda.set_sync_debug_mode skipped; the "
                           f"{SYNC_STEPS} steps ran on the CPU to check that they run")
    for case, pair in torch_probe.CASES.items():
        row = {}
        for side, make in zip(("ours", "builtin"), pair):
            if cuda():
                row[side] = {"sync_error": _sync_error(make), **_sync_warnings(make)}
                row[side]["passed"] = row[side]["sync_error"] is None
            else:
                try:
                    _steps(make, SYNC_STEPS)
                    row[side] = {"ran": True}
                except Exception as error:  # noqa: BLE001 - the result of the check
                    row[side] = {"ran": False, "error": torch_probe.message(error),
                                 "frames": torch_probe.where(
                                     traceback.extract_tb(error.__traceback__))}
        results[case] = row
        summary.append(f"{case}: " + ", ".join(
            f"{side} {_verdict(r)}" for side, r in row.items()))
    with open(os.path.join(out, f"sync_{BACKEND}.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(out, f"probe_{BACKEND}.jsonl"), "w") as f:
        for case in torch_probe.CASES:
            f.write(json.dumps(torch_probe.probe(case)) + "\n")
    if "note" in results:
        summary.insert(0, results["note"])
    return summary


def _verdict(r):
    if "passed" in r:
        return (f"passed ({r['syncs_per_step']:g} syncs/step)" if r["passed"] else
                f"FAILED at step {r['sync_error']['step']} ({r['syncs_per_step']:g} syncs/step; "
                f"{r['sync_error']['error'][:80]})")
    return "ran" if r["ran"] else f"raised {r['error'][:80]}"


# ------------------------------------------------------------------ (c)

def _timed(fn, steps):
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return (time.perf_counter() - t0) / steps


def interleaved(fa, fb, rounds, steps):
    """Both sides alternately (A B, then B A, ...); per-round ratio ours / built-in."""
    ta, tb = [], []
    for r in range(rounds):
        for fn, times in (((fa, ta), (fb, tb)) if r % 2 == 0 else ((fb, tb), (fa, ta))):
            times.append(_timed(fn, steps))
    ratios = sorted(a / b for a, b in zip(ta, tb))
    low, high = bench.bootstrap_median_ci(ratios)
    return dict(ours_ms=1e3 * statistics.median(ta), builtin_ms=1e3 * statistics.median(tb),
                ratio=statistics.median(ratios), ratio_ci95=(low, high))


def _pairs():
    """(label, ours factory, built-in factory): bench.py's three optimizers plain and
    with restarts and 3 lr groups, and the probe's cases that run the other bases."""
    import torch_probe
    for name in bench.OURS:
        yield name, lambda n, name=name: bench.ours(name, False), \
            lambda n, name=name: bench.builtin(name, False)
        yield f"{name} restarts, 3 groups", \
            lambda n, name=name: bench.ours(name, True, n), \
            lambda n, name=name: bench.builtin(name, True)
    for case in TIMED_CASES:
        ours, builtin = torch_probe.CASES[case]
        yield case, lambda n, f=ours: f(), lambda n, f=builtin: f()


def step_times(out, args):
    sizes = {"4 x 1M": [1_000_000] * 4, "200 x 10k": [10_000] * 200}
    if args.quick:
        sizes = {"4 x 10k": [10_000] * 4, "20 x 1k": [1_000] * 20}
    rows, lines, t0 = [], [], time.perf_counter()
    for shape, n, (label, ours, builtin) in [(shape, n, pair) for shape, n in sizes.items()
                                             for pair in _pairs()]:
        if time.perf_counter() - t0 > args.budget:
            lines.append(f"time budget ({args.budget:g} s) spent: {shape} {label} and later "
                         "rows skipped")
            break
        jit = BACKEND == "jax"
        fa = bench.step_function(ours(len(n)), n, jit)
        fb = bench.step_function(builtin(len(n)), n, jit)
        r = interleaved(fa, fb, args.rounds, args.steps)
        r.update(shape=shape, optimizer=label)
        rows.append(r)
        lines.append(f"step {shape:9s} {label:28s} ours {r['ours_ms']:8.3f} ms, built-in "
                     f"{r['builtin_ms']:8.3f} ms, ratio {r['ratio']:.3f} "
                     f"({r['ratio_ci95'][0]:.3f}-{r['ratio_ci95'][1]:.3f})")
        print(lines[-1], flush=True)
    info = dict(bench.machine(), device=device_name(), platform=platform.platform(),
                date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
                rounds=args.rounds, steps=args.steps)
    skipped = lines[-1:] if lines and lines[-1].startswith("time budget") else []
    with open(os.path.join(out, f"gpu_{BACKEND}.json"), "w") as f:
        json.dump({"machine": info, "rows": rows, "skipped": skipped}, f, indent=1)
    with open(os.path.join(out, f"gpu_{BACKEND}.md"), "w") as f:
        f.write(markdown(info, rows) + "".join(f"\n{line}\n" for line in skipped))
    return skipped


def markdown(info, rows):
    head = (f"Step time on {info['device']} ({BACKEND}; keras {info['keras']}, "
            f"keras_adamw {info['keras_adamw']}, {BACKEND} {info.get(BACKEND, '?')}, "
            f"{info['date']}): {info['rounds']} interleaved rounds of {info['steps']} steps, "
            "the clock read after torch.cuda.synchronize() (JAX: each step blocked on). "
            "Ratio = keras_adamw / built-in, median (95% interval).\n\n")
    table = ["| variables | optimizer | ours ms | built-in ms | ratio |", "|---|---|---|---|---|"]
    table += [f"| {r['shape']} | {r['optimizer']} | {r['ours_ms']:.3f} | {r['builtin_ms']:.3f} "
              f"| {r['ratio']:.3f} ({r['ratio_ci95'][0]:.3f}-{r['ratio_ci95'][1]:.3f}) |"
              for r in rows]
    return head + "\n".join(table) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for the results")
    parser.add_argument("--device-check-only", action="store_true",
                        help="only (b), the sync debug check (torch)")
    parser.add_argument("--no-tests", action="store_true", help="skip (a)")
    parser.add_argument("--quick", action="store_true",
                        help="small variables, few steps: a smoke run (e.g. on a CPU)")
    parser.add_argument("--rounds", type=int, default=None, help="default 5 (--quick: 2)")
    parser.add_argument("--steps", type=int, default=None, help="default 50 (--quick: 3)")
    parser.add_argument("--budget", type=float, default=100,
                        help="seconds for (c); later rows are skipped (default 100)")
    args = parser.parse_args()
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.steps = args.steps or (3 if args.quick else 50)
    if BACKEND not in ("torch", "jax"):
        sys.exit("gpu_check covers the torch and jax backends (set KERAS_BACKEND)")
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    print(f"gpu_check: backend {BACKEND}, device {device_name()}", flush=True)
    summary = []
    if not args.device_check_only and not args.no_tests:
        summary.append(reference_tests(args.out))
        print(summary[-1], flush=True)
    if BACKEND == "torch":
        summary += device_check(args.out)
    else:
        summary.append("sync debug check: torch backend only")
    if not args.device_check_only:
        summary += step_times(args.out, args)
    print(f"--- gpu_check {BACKEND} summary ({time.perf_counter() - t0:.0f} s, results in "
          f"{args.out})")
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
