"""Replicate the claims of *Decoupled Weight Decay Regularization* with keras_adamw.

    python example/replication/replicate.py            # full run (time: see README.md)
    python example/replication/replicate.py --quick    # tiny smoke run, into quick/
    python example/replication/replicate.py --only normalized_decay  # that claim only
    python example/replication/replicate.py --dataset cifar10 --out DIR  # needs a download

The full run writes ``results.json`` and four PNG figures next to this file (``--out
DIR`` to write elsewhere). ``--quick`` writes to the git-ignored ``quick/`` folder and
labels its output and figures as a smoke run; it never touches the committed results.
Data needs no download: MNIST-1D made by the ``mnist1d`` package's local generator
(cached as ``mnist1d.npz``; its downloading helper is never called), and
scikit-learn's digits as a second dataset. The protocol, the decision rule of every
claim and the results are in README.md next to this file.

Models: an MLP with BatchNorm (in -> 64 -> BN -> ReLU -> 64 -> BN -> ReLU -> 10). A grid
is trained as ONE Keras model holding many independent members; each member's
learning rate is its ``lr_multipliers`` entry (base learning rate 1) and its decay its
``weight_decays`` entry, matched by the member's name prefix (``m007_``). The loss is
the sum of the members' losses, so each member gets exactly its own gradient.

The four optimizers share everything but the decay: cosine annealing over the run
(keras_adamw's schedule), Adam (beta 0.9/0.999) or SGD (momentum 0.9), and

* AdamW / SGDW: decoupled decay of the kernels, lambda = lambda_norm sqrt(1/T)
  (normalized over the run's T steps);
* Adam + L2 / SGD + L2: ``kernel_regularizer=L2(c)`` in the loss, trained by the same
  classes with ``weight_decays=None``, which is exactly Keras' Adam / SGD (the test
  suite checks this) with a per-member learning rate.
"""

import argparse
import json
import math
import os
import pathlib
import re
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from keras_adamw import AdamW, SGDW  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent

FULL = dict(
    mnist1d_samples=8000, batch_size=128, epochs=30, grid_replicates=2, seeds=20,
    lrs={"adam": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
         "sgd": [3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]},
    decays={"w": [1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0],
            "l2": [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]},
    norm_budgets=[10, 20, 40, 80], norm_grid=11, norm_replicates=8, norm_window=5,
    norm_boot=1000, restart_t0=5, restart_cycles=3, hidden=64, digits=True, train_limit=None)
QUICK = dict(
    mnist1d_samples=2000, batch_size=128, epochs=3, grid_replicates=1, seeds=3,
    lrs={"adam": [1e-3, 1e-2], "sgd": [1e-2, 1e-1]},
    decays={"w": [1e-2, 1e-1], "l2": [1e-5, 1e-3]},
    norm_budgets=[1, 2, 4], norm_grid=3, norm_replicates=2, norm_window=3,
    norm_boot=100, restart_t0=1, restart_cycles=2, hidden=16, digits=True, train_limit=600)

KINDS = {"adamw": ("adam", "w"), "adam_l2": ("adam", "l2"),
         "sgdw": ("sgd", "w"), "sgd_l2": ("sgd", "l2")}
LABELS = {"adamw": "AdamW", "adam_l2": "Adam + L2", "sgdw": "SGDW", "sgd_l2": "SGD + L2"}


# --------------------------------------------------------------------- data

def load_mnist1d(samples, cache):
    """MNIST-1D from the package's local generator, cached; train/val/test."""
    if cache.exists():
        d = dict(np.load(cache))
    else:
        from mnist1d.data import get_dataset_args, make_dataset

        args = get_dataset_args()
        args.num_samples = samples
        data = make_dataset(args)  # generated here; nothing is downloaded
        d = {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}
        np.savez(cache, **d)
    return _split(d["x"], d["y"], d["x_test"], d["y_test"])


def load_digits():
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    x, y = sk_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x / 16.0, y, test_size=0.3, random_state=0, stratify=y)
    return _split(x_train, y_train, x_test, y_test)


def _split(x, y, x_test, y_test, val_fraction=0.2):
    """Train / validation (for choosing settings) / test (for the claims)."""
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    n_val = int(len(x) * val_fraction)
    val, train = order[:n_val], order[n_val:]
    f = lambda a: np.asarray(a, dtype="float32")  # noqa: E731
    i = lambda a: np.asarray(a, dtype="int32")  # noqa: E731
    return dict(x=f(x[train]), y=i(y[train]), x_val=f(x[val]), y_val=i(y[val]),
                x_test=f(x_test), y_test=i(y_test))


# ---------------------------------------------------------- member models

def member_model(input_shape, members, hidden, l2=None):
    """One model, ``members`` independent networks; member i's layers are ``m{i:03d}_*``.

    Vectors get the MLP (in-hidden-BN-ReLU-hidden-BN-ReLU-10); images (``--dataset
    cifar10``) a small CNN (conv-BN-ReLU-pool, conv-BN-ReLU, global pool, 10)."""
    inp = keras.Input(tuple(input_shape))
    image = len(input_shape) == 3
    outs = []
    for i in range(members):
        reg = keras.regularizers.L2(l2[i]) if l2 is not None else None
        h = inp
        for j in (1, 2):
            if image:
                h = keras.layers.Conv2D(hidden * j // 2, 3, padding="same", name=f"m{i:03d}_conv{j}",
                                        kernel_regularizer=reg)(h)
            else:
                h = keras.layers.Dense(hidden, name=f"m{i:03d}_dense{j}", kernel_regularizer=reg)(h)
            h = keras.layers.BatchNormalization(name=f"m{i:03d}_bn{j}")(h)
            h = keras.layers.Activation("relu")(h)
            if image and j == 1:
                h = keras.layers.MaxPooling2D()(h)
        if image:
            h = keras.layers.GlobalAveragePooling2D()(h)
        outs.append(keras.layers.Dense(10, name=f"m{i:03d}_out", kernel_regularizer=reg)(h))
    out = keras.layers.Lambda(lambda t: keras.ops.stack(t, axis=1), name="stack")(outs)
    return keras.Model(inp, out)


def load_cifar10():
    """CIFAR-10 through keras.datasets (downloads it; fails without a network)."""
    try:
        (x, y), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as error:  # no network: say so plainly
        raise SystemExit(f"--dataset cifar10 needs to download CIFAR-10 ({error}); "
                         "the default MNIST-1D needs no download.") from error
    return _split(x / 255.0, y.ravel(), x_test / 255.0, y_test.ravel())


def errors(model, x, y):
    """Per-member error rate, and the (samples, members) correctness matrix."""
    logits = np.concatenate([keras.ops.convert_to_numpy(model(x[i:i + 2048], training=False))
                             for i in range(0, len(x), 2048)])
    correct = logits.argmax(-1) == y[:, None]
    return 1.0 - correct.mean(0), correct


class ErrorsAt(keras.callbacks.Callback):
    """Test error of every member at the end of the given epochs (1-based)."""

    def __init__(self, epochs, x, y):
        super().__init__()
        self.epochs, self.x, self.y, self.errors = set(epochs), x, y, {}

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.epochs:
            self.errors[epoch + 1] = errors(self.model, self.x, self.y)[0].tolist()


def tie_initial_weights(model, sources):
    """Give member i the initial weights of member ``sources[i]`` (paired replicates)."""
    for i, j in enumerate(sources):
        if i == j:
            continue
        for layer in model.layers:
            if layer.name.startswith(f"m{i:03d}_"):
                source = model.get_layer(f"m{j:03d}_" + layer.name[len("m000_"):])
                layer.set_weights(source.get_weights())


def train(kind, data, cfg, lrs, decays, epochs, seed, *, normalized=True, restarts=None,
          record=(), same_init_as=None):
    """Train one member per (lr, decay) pair; return val/test errors per member.

    ``same_init_as[i] = j`` starts member i from member j's initial weights."""
    algo, decay_kind = KINDS[kind]
    members = len(lrs)
    keras.backend.clear_session()  # free the previous models (memory)
    keras.utils.set_random_seed(seed)
    coupled = decay_kind == "l2"
    x, y = data["x"], data["y"]
    if cfg["train_limit"]:
        x, y = x[:cfg["train_limit"]], y[:cfg["train_limit"]]
    model = member_model(x.shape[1:], members, cfg["hidden"], l2=decays if coupled else None)
    if same_init_as is not None:
        tie_initial_weights(model, same_init_as)
    steps_per_epoch = math.ceil(len(x) / cfg["batch_size"])
    total = epochs * steps_per_epoch
    names = [re.compile(f"^m{i:03d}_") for i in range(members)]  # each member's layers
    kwargs = dict(learning_rate=1.0, lr_multipliers=dict(zip(names, lrs)),
                  use_cosine_annealing=True, init_verbose=False)
    if restarts:
        t0, t_mult = restarts
        kwargs.update(total_iterations=t0 * steps_per_epoch, t_mult=t_mult)
    else:
        kwargs.update(total_iterations=total)
    if not coupled:
        kwargs.update(weight_decays=dict(zip(names, decays)),
                      exclude_from_weight_decay=["bias", "gamma", "beta"],
                      # s = sqrt(1/T) over the whole run, or s = 1 for raw decays
                      total_iterations_wd=total if normalized else 1)
    if algo == "adam":
        optimizer = AdamW(**kwargs)
    else:
        optimizer = SGDW(momentum=0.9, **kwargs)

    def loss(y_true, logits):  # sum over members of each member's mean loss
        return members * keras.losses.sparse_categorical_crossentropy(
            y_true, logits, from_logits=True)

    model.compile(optimizer, loss=loss)
    recorder = ErrorsAt(record, data["x_test"], data["y_test"])
    model.fit(x, np.repeat(y[:, None], members, axis=1), batch_size=cfg["batch_size"],
              epochs=epochs, shuffle=True, verbose=0, callbacks=[recorder])
    val, val_correct = errors(model, data["x_val"], data["y_val"])
    test, _ = errors(model, data["x_test"], data["y_test"])
    return dict(val=val, test=test, val_correct=val_correct, at_epoch=recorder.errors)


# --------------------------------------------------------------- statistics

def paired(diffs, confidence=0.95):
    """Mean of paired differences with a t interval."""
    from scipy import stats

    d = np.asarray(diffs, dtype=float)
    mean = float(d.mean())
    if len(d) < 2 or d.std(ddof=1) == 0:
        return mean, (mean, mean)
    half = stats.t.ppf(0.5 + confidence / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return mean, (mean - half, mean + half)


def best_decay_slope(correct, lrs, decays, replicates):
    """Slope of log10(best decay) against log10(lr), from a correctness tensor
    (val samples, lrs, decays, replicates): least squares over the lrs."""
    err = 1 - correct.mean(axis=(0, 3))  # (lrs, decays)
    best = np.log10(np.asarray(decays))[err.argmin(axis=1)]
    return float(np.polyfit(np.log10(lrs), best, 1)[0]) if len(lrs) > 1 else 0.0


def bootstrap_slopes(correct, lrs, decays, n=1000, seed=0):
    """Bootstrap over validation samples and grid replicates."""
    rng = np.random.default_rng(seed)
    samples, _, _, reps = correct.shape
    out = []
    for _ in range(n):
        rows = rng.integers(0, samples, samples)
        cols = rng.integers(0, reps, reps)
        out.append(best_decay_slope(correct[rows][..., cols], lrs, decays, reps))
    return np.asarray(out)


# -------------------------------------------------------------- experiments

def grid(kind, data, cfg, seed):
    algo, decay_kind = KINDS[kind]
    lrs, decays = cfg["lrs"][algo], cfg["decays"][decay_kind]
    reps = cfg["grid_replicates"]
    cells = [(a, b, r) for a in range(len(lrs)) for b in range(len(decays)) for r in range(reps)]
    result = train(kind, data, cfg, [lrs[a] for a, _, _ in cells],
                   [decays[b] for _, b, _ in cells], cfg["epochs"], seed)
    val = np.zeros((len(lrs), len(decays)))
    correct = np.zeros((len(data["y_val"]), len(lrs), len(decays), reps), dtype=bool)
    for k, (a, b, r) in enumerate(cells):
        val[a, b] += result["val"][k] / reps
        correct[:, a, b, r] = result["val_correct"][:, k]
    a, b = np.unravel_index(val.argmin(), val.shape)
    return dict(lrs=lrs, decays=decays, val_error=val, correct=correct,
                best=dict(lr=lrs[a], decay=decays[b], val_error=float(val[a, b])))


def seeds_at_best(kind, data, cfg, best, seed):
    n = cfg["seeds"]
    return train(kind, data, cfg, [best["lr"]] * n, [best["decay"]] * n, cfg["epochs"], seed)


def compare(name_w, name_l2, grids, data, cfg, seed, expect):
    runs = {k: seeds_at_best(k, data, cfg, grids[k]["best"], seed) for k in (name_w, name_l2)}
    diffs = runs[name_w]["test"] - runs[name_l2]["test"]  # same seed = same init per member
    mean, (low, high) = paired(diffs)
    holds = high < 0 if expect == "better" else low <= 0 <= high
    return dict(
        holds=bool(holds), statistic="mean paired test-error difference (W - L2)",
        value=mean, ci95=[low, high], n_seeds=int(len(diffs)),
        expectation=("W variant better (interval below 0)" if expect == "better"
                     else "about equal (interval contains 0)"),
        test_error={LABELS[k]: dict(mean=float(runs[k]["test"].mean()),
                                    sd=float(runs[k]["test"].std(ddof=1)) if len(diffs) > 1 else 0.0)
                    for k in runs},
        settings={LABELS[k]: dict(lr=grids[k]["best"]["lr"], decay=grids[k]["best"]["decay"],
                                  grid_val_error=grids[k]["best"]["val_error"]) for k in runs},
        per_seed_difference=diffs.tolist())


def decoupling(grids):
    out = {}
    for kind, g in grids.items():
        boot = bootstrap_slopes(g["correct"], g["lrs"], g["decays"])
        slope = best_decay_slope(g["correct"], g["lrs"], g["decays"], g["correct"].shape[-1])
        out[kind] = dict(slope=slope, ci95=[float(np.percentile(boot, 2.5)),
                                            float(np.percentile(boot, 97.5))], boot=boot)
    result = {}
    for w, l2 in (("adamw", "adam_l2"), ("sgdw", "sgd_l2")):
        gap = np.abs(out[l2]["boot"]) - np.abs(out[w]["boot"])
        result[f"{LABELS[w]} vs {LABELS[l2]}"] = dict(
            slope_w=out[w]["slope"], slope_w_ci95=out[w]["ci95"],
            slope_l2=out[l2]["slope"], slope_l2_ci95=out[l2]["ci95"],
            abs_slope_gap=float(abs(out[l2]["slope"]) - abs(out[w]["slope"])),
            abs_slope_gap_ci95=[float(np.percentile(gap, 2.5)), float(np.percentile(gap, 97.5))])
    holds = all(v["abs_slope_gap_ci95"][0] > 0 for v in result.values())
    return dict(holds=bool(holds),
                statistic=("slope of log10(best decay) against log10(learning rate) on the "
                           "validation grid; the claim is |slope| smaller for the W variants"),
                value=result, n_seeds="grid replicates x validation samples, 1000 bootstrap draws",
                ci95="per comparison, in value", settings="see grids in results.json")


# The decision rule for the normalized-decay claim, written down (and committed) before
# the full run that decides it (issue 14). Do not change it after seeing the results.
NORMALIZED_DECAY_RULE = (
    "b = least-squares slope of log2(best lambda_norm) against log2(training budget T) "
    "over the budgets. Each budget's best lambda_norm is the vertex of a quadratic in "
    "log2(lambda_norm) fitted to the mean validation error of the norm_window grid cells "
    "around the best cell (vertex clipped to those cells; the best cell itself if the fit "
    "is not convex). 95% interval: percentile bootstrap, resampling replicates and "
    "validation samples. Normalized decay (the best lambda_norm stays put) predicts b = 0; "
    "raw decay (the best raw lambda = lambda_norm sqrt(1/T) stays put) predicts b = +0.5. "
    "holds = true if the interval contains 0 and excludes 0.5; false if it excludes 0; "
    "'inconclusive' if it contains both, or if the best cell of any budget is at the edge "
    "of the grid (no optimum located).")
PREDICTED_SLOPES = {"normalized": 0.0, "raw": 0.5}  # of log(best lambda_norm) on log(T)


def fit_optimum(x, err, window=5):
    """Vertex of a quadratic in ``x`` fitted to the ``window`` points around the smallest
    ``err``: (x_opt, at_edge). x_opt is clipped to those points; if the fit is not
    convex it is the best point. at_edge: the smallest err is the grid's first or last."""
    x, err = np.asarray(x, dtype=float), np.asarray(err, dtype=float)
    n, best = len(x), int(err.argmin())
    w = min(window, n)
    lo = min(max(best - w // 2, 0), n - w)
    xs, ys = x[lo:lo + w], err[lo:lo + w]
    at_edge = best in (0, n - 1)
    if w >= 3:
        a, b, _ = np.polyfit(xs, ys, 2)
        if a > 0:
            return float(np.clip(-b / (2 * a), xs[0], xs[-1])), at_edge
    return float(x[best]), at_edge


def fitted_slope(log_t, y):
    """Least-squares slope of y on log_t (y may be (draws, budgets))."""
    log_t = np.asarray(log_t, dtype=float) - np.mean(log_t)
    y = np.asarray(y, dtype=float)
    return (y - y.mean(axis=-1, keepdims=True)) @ log_t / (log_t @ log_t)


def decide_normalized(ci, at_edge=False):
    """The pre-registered rule (NORMALIZED_DECAY_RULE) on the slope's 95% interval."""
    low, high = ci
    has = {name: low <= b <= high for name, b in PREDICTED_SLOPES.items()}
    if at_edge or (has["normalized"] and has["raw"]):
        return "inconclusive"
    return bool(has["normalized"])


def favoured(ci):
    inside = [name for name, b in PREDICTED_SLOPES.items() if ci[0] <= b <= ci[1]]
    if len(inside) == 1:
        return inside[0]
    return "neither (the interval contains both)" if inside else \
        "neither (the interval excludes both)"


def ci(values) -> list:
    """The 95% percentile interval of bootstrap draws."""
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def bootstrap_optima(correct, log_x, window, n_boot, seed):
    """The optimum (``fit_optimum`` vertex, in ``log_x``) of each setting j, whether it
    is at the grid's edge, and ``n_boot`` bootstrap draws of the optima: validation
    samples and replicates resampled jointly over the settings. ``correct[j]``:
    (validation samples, grid values, replicates) booleans."""
    def optima(errs):
        fits = [fit_optimum(log_x, e, window) for e in errs]
        return np.array([f[0] for f in fits]), [f[1] for f in fits]

    samples, _, reps = correct[0].shape
    flat = [c.reshape(samples, -1).astype(float) for c in correct]
    opt, edges = optima([1 - c.mean(axis=(0, 2)) for c in correct])
    rng = np.random.default_rng(seed)
    draws = np.empty((n_boot, len(correct)))
    for d in range(n_boot):
        weights = np.bincount(rng.integers(0, samples, samples), minlength=samples) / samples
        cols = rng.integers(0, reps, reps)
        errs = [1 - (weights @ f).reshape(-1, reps)[:, cols].mean(axis=1) for f in flat]
        draws[d] = optima(errs)[0]
    return opt, edges, draws


def analyse_normalized_decay(correct, values, budgets, steps_per_epoch, window=5,
                             n_boot=1000, seed=0):
    """Optimum per budget, slope, shifts and the decision, from validation correctness.

    ``correct[j]``: (validation samples, grid values, replicates) booleans for budget j
    (epochs). Replicates and validation samples are resampled jointly over budgets."""
    lx, lt = np.log2(values), np.log2(budgets)
    steps = [b * steps_per_epoch for b in budgets]
    opt, edges, draws = bootstrap_optima(correct, lx, window, n_boot, seed)
    slope, boot_slopes = float(fitted_slope(lt, opt)), fitted_slope(lt, draws)
    slope_ci = ci(boot_slopes)
    ratio = budgets[-1] / budgets[0]
    shift = {"normalized": 2.0 ** (opt[-1] - opt[0])}
    shift["raw"] = shift["normalized"] / math.sqrt(ratio)
    shift_boot = 2.0 ** (draws[:, -1] - draws[:, 0])
    holds = decide_normalized(slope_ci, any(edges))
    per_budget = []
    for j, budget in enumerate(budgets):
        scale = 1 / math.sqrt(steps[j])  # raw lambda = lambda_norm sqrt(1/T)
        per_budget.append(dict(
            epochs=budget, steps=steps[j], best_lambda_norm=float(2.0 ** opt[j]),
            best_lambda_norm_ci95=ci(2.0 ** draws[:, j]),
            best_raw_lambda=float(2.0 ** opt[j] * scale),
            best_raw_lambda_ci95=ci(2.0 ** draws[:, j] * scale),
            best_cell_at_grid_edge=bool(edges[j]),
            val_error=(1 - correct[j].mean(axis=(0, 2))).tolist(),
            val_error_per_replicate=(1 - correct[j].mean(axis=0)).T.tolist()))
    return dict(
        holds=holds, rule=NORMALIZED_DECAY_RULE,
        statistic="slope b of log2(best lambda_norm) against log2(budget); 0 if normalized "
                  "decay holds, +0.5 if the raw lambda is what stays put",
        value=slope, ci95=slope_ci, favours=favoured(slope_ci),
        slope_raw=slope - 0.5, slope_raw_ci95=[slope_ci[0] - 0.5, slope_ci[1] - 0.5],
        predicted_slopes=dict(normalized_hypothesis=dict(normalized=0.0, raw=-0.5),
                              raw_hypothesis=dict(normalized=0.5, raw=0.0)),
        shift=dict(
            budget_ratio=ratio,
            description=f"best value at {budgets[-1]} epochs / best value at {budgets[0]} epochs",
            normalized=shift["normalized"], normalized_ci95=ci(shift_boot),
            raw=shift["raw"], raw_ci95=ci(shift_boot / math.sqrt(ratio)),
            predicted_if_normalized_holds=dict(normalized=1.0, raw=1 / math.sqrt(ratio)),
            predicted_if_raw_holds=dict(normalized=math.sqrt(ratio), raw=1.0)),
        budgets=per_budget, values=list(map(float, values)), n_boot=n_boot)


def normalized_decay(data, cfg, lr, center, seed):
    """AdamW at ``lr`` on a x sqrt(2) grid of lambda_norm around ``center``, at every
    budget in ``norm_budgets``; ``norm_replicates`` paired replicates per cell (replicate
    r starts from the same weights in every cell and every budget). One model per budget
    holds all cells x replicates as members. Raw lambda = lambda_norm sqrt(1/T), so the
    same runs give both views."""
    start = time.time()
    k, reps, budgets = cfg["norm_grid"], cfg["norm_replicates"], cfg["norm_budgets"]
    values = [center * math.sqrt(2.0) ** (i - k // 2) for i in range(k)]
    cells = [(c, r) for c in range(k) for r in range(reps)]  # member c * reps + r
    steps_per_epoch = math.ceil(len(data["x"][:cfg["train_limit"] or None]) / cfg["batch_size"])
    correct = []
    for budget in budgets:
        run = train("adamw", data, cfg, [lr] * len(cells), [values[c] for c, _ in cells],
                    budget, seed, same_init_as=[r for _, r in cells])
        correct.append(run["val_correct"].reshape(-1, k, reps))
        print(f"normalized decay: {budget} epochs done ({time.time() - start:.0f} s)", flush=True)
    result = analyse_normalized_decay(correct, values, budgets, steps_per_epoch,
                                      cfg["norm_window"], cfg["norm_boot"], seed)
    result.update(n_seeds=reps, seconds=time.time() - start,
                  settings=dict(lr=lr, optimizer="AdamW", grid_center=center, grid_step="x sqrt(2)",
                                grid_size=k, replicates=reps, budgets_epochs=budgets,
                                steps_per_epoch=steps_per_epoch, fit_window=cfg["norm_window"],
                                selection="validation error (mean over replicates)",
                                raw_lambda="lambda_norm * sqrt(1 / (epochs * steps_per_epoch))"))
    return result


def warm_restarts(data, cfg, best, seed):
    t0, cycles = cfg["restart_t0"], cfg["restart_cycles"]
    ends = [t0 * (2 ** c - 1) for c in range(1, cycles + 1)]  # 5, 15, 35
    epochs = ends[-1]
    n = cfg["seeds"]
    runs = {}
    for name, restarts in (("restarts", (t0, 2)), ("one_cycle", None)):
        runs[name] = train("adamw", data, cfg, [best["lr"]] * n, [best["decay"]] * n, epochs,
                           seed, restarts=restarts, record=range(1, epochs + 1))
    at_end = {}
    for e in ends:
        d = np.asarray(runs["restarts"]["at_epoch"][e]) - np.asarray(runs["one_cycle"]["at_epoch"][e])
        mean, (low, high) = paired(d)
        at_end[e] = dict(restarts=float(np.mean(runs["restarts"]["at_epoch"][e])),
                         one_cycle=float(np.mean(runs["one_cycle"]["at_epoch"][e])),
                         difference=mean, ci95=[low, high])
    intermediate = [at_end[e]["ci95"][1] < 0 for e in ends[:-1]]
    final_ok = at_end[ends[-1]]["ci95"][0] <= 0
    return dict(holds=bool(all(intermediate) and final_ok),
                statistic=("paired test-error difference (restarts - one cycle) at each cycle "
                           "end; the claim: better at the intermediate ends, not worse at the last"),
                value=at_end, ci95="per cycle end, in value", n_seeds=n,
                settings=dict(lr=best["lr"], lambda_norm=best["decay"], t0_epochs=t0, t_mult=2,
                              cycle_ends=ends),
                curves={name: {str(e): float(np.mean(v)) for e, v in r["at_epoch"].items()}
                        for name, r in runs.items()})


# ------------------------------------------------------------------ figures

QUICK_LABEL = "QUICK SMOKE RUN (tiny settings): not the replication's results"


def _label(fig, quick):
    """Mark a quick run's figures as a smoke run, in red across the top."""
    if quick:
        fig.suptitle(QUICK_LABEL, color="red", fontsize=11, fontweight="bold")
        fig.tight_layout(rect=(0, 0, 1, 0.92))


def normalized_decay_figure(nd, plt):
    """Validation error against lambda_norm per budget (with the fitted quadratics), and
    the fitted optimum against the budget, normalized and raw, with 95% intervals and
    the lines each hypothesis predicts (through the optima's mean)."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    values = np.asarray(nd["values"])
    window = nd["settings"]["fit_window"]
    for row in nd["budgets"]:
        err = 100 * np.asarray(row["val_error"])
        line, = axes[0].plot(values, err, "o-", ms=3, lw=1, label=f"{row['epochs']} epochs")
        best = int(err.argmin())
        w = min(window, len(values))
        lo = min(max(best - w // 2, 0), len(values) - w)
        xs, ys = np.log2(values[lo:lo + w]), err[lo:lo + w]
        if w >= 3:
            fine = np.linspace(xs[0], xs[-1], 50)
            axes[0].plot(2 ** fine, np.polyval(np.polyfit(xs, ys, 2), fine), "--",
                         color=line.get_color())
        axes[0].axvline(row["best_lambda_norm"], color=line.get_color(), lw=0.8, ls=":")
    lowest = 100 * min(min(r["val_error"]) for r in nd["budgets"])
    axes[0].set_ylim(lowest - 2, lowest + 25)  # the short budgets' high-decay end is cut
    axes[0].set_xscale("log")
    axes[0].set_xlabel("lambda_norm")
    axes[0].set_ylabel("validation error % (mean over replicates)")
    axes[0].set_title("AdamW: error vs lambda_norm, quadratic fits (dashed)")
    axes[0].legend(fontsize=8)
    epochs = np.asarray([r["epochs"] for r in nd["budgets"]], dtype=float)
    for ax, view, label in ((axes[1], "lambda_norm", "best lambda_norm"),
                            (axes[2], "raw_lambda", "best raw lambda = lambda_norm sqrt(1/T)")):
        best = np.asarray([r[f"best_{view}"] for r in nd["budgets"]])
        ci = np.asarray([r[f"best_{view}_ci95"] for r in nd["budgets"]])
        ax.errorbar(epochs, best, yerr=[best - ci[:, 0], ci[:, 1] - best], fmt="ko", capsize=4,
                    label="fitted optimum, 95% CI")
        key = "normalized" if view == "lambda_norm" else "raw"
        mean_log_t, mean_log_best = np.log2(epochs).mean(), np.log2(best).mean()
        fine = np.geomspace(epochs[0] / 1.2, epochs[-1] * 1.2, 20)
        for hyp, style in (("normalized_hypothesis", "b-"), ("raw_hypothesis", "r-")):
            b = nd["predicted_slopes"][hyp][key]
            ax.plot(fine, 2 ** (mean_log_best + b * (np.log2(fine) - mean_log_t)), style, lw=1,
                    label=f"{hyp.replace('_', ' ')}: slope {b:+g}")
        b = nd["value"] if key == "normalized" else nd["slope_raw"]
        ax.plot(fine, 2 ** (mean_log_best + b * (np.log2(fine) - mean_log_t)), "k--", lw=1,
                label=f"fitted: slope {b:+.2f}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(epochs, [f"{e:g}" for e in epochs])
        ax.set_xticks([], minor=True)
        ax.set_xlabel("training budget (epochs)")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    lo, hi = nd["ci95"]
    axes[1].set_title(f"slope {nd['value']:+.2f} [{lo:+.2f}, {hi:+.2f}]: holds = {nd['holds']}")
    lo, hi = nd["slope_raw_ci95"]
    axes[2].set_title(f"raw: slope {nd['slope_raw']:+.2f} [{lo:+.2f}, {hi:+.2f}]")
    fig.tight_layout()
    return fig


def figures(out, grids, claims, digits_claims, quick=False):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # 1. paired differences
    fig, ax = plt.subplots(figsize=(8, 3.8))
    rows = [("MNIST-1D", claims["adamw_vs_adam_l2"]), ("MNIST-1D", claims["sgdw_vs_sgd_l2"])]
    if digits_claims:
        rows += [("digits", digits_claims["adamw_vs_adam_l2"]), ("digits", digits_claims["sgdw_vs_sgd_l2"])]
    labels = []
    for y, (ds, c) in enumerate(rows):
        names = list(c["test_error"])
        labels.append(f"{ds}\n{names[0]} - {names[1]}")
        ax.scatter(np.asarray(c["per_seed_difference"]) * 100, [y] * c["n_seeds"], alpha=0.4, s=12)
        ax.errorbar(c["value"] * 100, y, xerr=[[100 * (c["value"] - c["ci95"][0])],
                                               [100 * (c["ci95"][1] - c["value"])]],
                    fmt="o", color="k", capsize=4)
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_xlabel("test error difference, percentage points (per seed; mean and 95% CI)")
    ax.set_title("Decoupled vs L2 at their best settings")
    fig.tight_layout()
    _label(fig, quick)
    fig.savefig(out / "fig1_w_vs_l2.png", dpi=100)
    plt.close(fig)

    # 2. heatmaps
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    for ax, (kind, g) in zip(axes, grids.items()):
        im = ax.imshow(100 * g["val_error"].T, origin="lower", cmap="viridis")
        ax.set_xticks(range(len(g["lrs"])), [f"{v:g}" for v in g["lrs"]], rotation=45, fontsize=7)
        ax.set_yticks(range(len(g["decays"])), [f"{v:g}" for v in g["decays"]], fontsize=7)
        best = g["val_error"].argmin(axis=1)
        ax.plot(range(len(g["lrs"])), best, "r.-", label="best decay per lr")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("lambda_norm" if KINDS[kind][1] == "w" else "L2 coefficient")
        ax.set_title(f"{LABELS[kind]}: val error %")
        fig.colorbar(im, ax=ax, fraction=0.046)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    _label(fig, quick)
    fig.savefig(out / "fig2_decoupling_heatmaps.png", dpi=100)
    plt.close(fig)

    # 3. normalized decay
    fig = normalized_decay_figure(claims["normalized_decay"], plt)
    _label(fig, quick)
    fig.savefig(out / "fig3_normalized_decay.png", dpi=100)
    plt.close(fig)

    # 4. warm restarts
    wr = claims["warm_restarts"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for name, curve in wr["curves"].items():
        e = sorted(int(k) for k in curve)
        ax.plot(e, [100 * curve[str(k)] for k in e], label=name.replace("_", " "))
    for e in wr["settings"]["cycle_ends"]:
        ax.axvline(e, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error % (mean over seeds)")
    ax.set_title("AdamW with warm restarts (T0=5 epochs, t_mult=2) vs one cosine cycle")
    ax.legend()
    fig.tight_layout()
    _label(fig, quick)
    fig.savefig(out / "fig4_warm_restarts.png", dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------- main

def run_dataset(data, cfg, seed, full_claims=True):
    grids = {kind: grid(kind, data, cfg, seed) for kind in KINDS}
    claims = {
        "adamw_vs_adam_l2": compare("adamw", "adam_l2", grids, data, cfg, seed + 1, "better"),
        "sgdw_vs_sgd_l2": compare("sgdw", "sgd_l2", grids, data, cfg, seed + 1, "equal"),
    }
    if full_claims:
        claims["decoupling"] = decoupling(grids)
        best = grids["adamw"]["best"]
        claims["normalized_decay"] = normalized_decay(data, cfg, best["lr"], best["decay"], seed + 2)
        claims["warm_restarts"] = warm_restarts(data, cfg, best, seed + 3)
    return grids, claims


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if k not in ("correct", "boot")}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


def output_dir(quick, out=None):
    """Where a run writes: ``out`` if given, else next to this file for the full run
    (the committed results) and the git-ignored ``quick/`` folder for ``--quick``."""
    if out is not None:
        return pathlib.Path(out)
    return HERE / "quick" if quick else HERE


def _config(cfg, quick, seed, dataset):
    return dict(cfg, quick=quick, seed=seed,
                dataset=("CIFAR-10 (keras.datasets)" if dataset == "cifar10"
                         else "MNIST-1D (mnist1d local generator)"),
                model=("small CNN with BatchNorm" if dataset == "cifar10"
                       else "MLP in-64-BN-ReLU-64-BN-ReLU-10"),
                schedule="cosine annealing over the run")


def _load(cfg, quick, out, dataset):
    if dataset == "cifar10":
        return load_cifar10()
    return load_mnist1d(cfg["mnist1d_samples"],
                        out / ("mnist1d_quick.npz" if quick else "mnist1d.npz"))


def _write(out, results, quick):
    if quick:
        results = dict(note=QUICK_LABEL, **results)
    with open(out / "results.json", "w") as f:
        json.dump(_jsonable(results), f, indent=1)


def main(quick=False, out=None, seed=0, dataset="mnist1d"):
    cfg = QUICK if quick else FULL
    out = output_dir(quick, out)
    out.mkdir(parents=True, exist_ok=True)
    if quick:
        print(f"{QUICK_LABEL}; writing to {out}", flush=True)
    start = time.time()
    data = _load(cfg, quick, out, dataset)
    grids, claims = run_dataset(data, cfg, seed)
    digits_claims = None
    if cfg["digits"]:
        _, digits_claims = run_dataset(load_digits(), cfg, seed + 10, full_claims=False)
    figures(out, grids, claims, digits_claims, quick)
    results = dict(
        claims=claims,
        second_dataset={"digits": digits_claims},
        grids={k: dict(lrs=g["lrs"], decays=g["decays"], val_error=g["val_error"], best=g["best"])
               for k, g in grids.items()},
        config=_config(cfg, quick, seed, dataset),
        seconds=time.time() - start,
        versions=dict(keras=keras.__version__, backend=keras.backend.backend()))
    _write(out, results, quick)
    for name, c in claims.items():
        print(f"{name:20s} holds={c['holds']}")
    if digits_claims:
        for name, c in digits_claims.items():
            print(f"digits {name:13s} holds={c['holds']}")
    nd = claims["normalized_decay"]
    print(f"normalized decay: slope {nd['value']:+.3f}, 95% CI [{nd['ci95'][0]:+.3f}, "
          f"{nd['ci95'][1]:+.3f}] (0 if normalized decay holds, +0.5 if raw); "
          f"favours {nd['favours']}")
    print(f"wrote {out / 'results.json'} ({time.time() - start:.0f} s)"
          + (" -- quick smoke run" if quick else ""))
    return results


def rerun_normalized_decay(quick=False, out=None, seed=0):
    """Rerun only the normalized-decay experiment and replace that claim in
    OUT/results.json (the other claims, their settings and grids are kept), then redraw
    the figures. Its learning rate and grid centre come from that file's AdamW grid."""
    cfg = QUICK if quick else FULL
    out = output_dir(quick, out)
    results = json.loads((out / "results.json").read_text())
    if results["config"]["quick"] != quick:
        raise SystemExit(f"{out / 'results.json'} is from a {'quick' if not quick else 'full'} run")
    if quick:
        print(f"{QUICK_LABEL}; writing to {out}", flush=True)
    best = results["grids"]["adamw"]["best"]
    data = _load(cfg, quick, out, "mnist1d")
    nd = normalized_decay(data, cfg, best["lr"], best["decay"], seed + 2)
    results["claims"]["normalized_decay"] = nd
    for key in ("budgets", "norm_grid"):  # the old experiment's settings
        results["config"].pop(key, None)
    results["config"].update({k: v for k, v in cfg.items() if k.startswith("norm_")})
    results.pop("note", None)
    _write(out, results, quick)
    figures_from_results(out)
    print(f"normalized_decay     holds={nd['holds']}: slope {nd['value']:+.3f}, 95% CI "
          f"[{nd['ci95'][0]:+.3f}, {nd['ci95'][1]:+.3f}]; favours {nd['favours']}")
    print(f"wrote {out / 'results.json'} ({nd['seconds']:.0f} s)")
    return results


def figures_from_results(out=HERE):
    """Redraw the figures from a results.json, without training."""
    out = pathlib.Path(out)
    results = json.loads((out / "results.json").read_text())
    grids = {k: dict(g, val_error=np.asarray(g["val_error"])) for k, g in results["grids"].items()}
    figures(out, grids, results["claims"], results["second_dataset"]["digits"],
            results["config"]["quick"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny smoke run, written to example/replication/quick/ "
                             "(git-ignored) unless --out is given")
    parser.add_argument("--out", default=None,
                        help="output folder (default: next to this file; quick/ for --quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", choices=["mnist1d", "cifar10"], default="mnist1d",
                        help="cifar10 downloads CIFAR-10 through keras.datasets and uses "
                             "a small CNN")
    parser.add_argument("--only", choices=["normalized_decay"],
                        help="rerun only this experiment; replaces its claim in "
                             "OUT/results.json and redraws the figures")
    parser.add_argument("--figures-only", action="store_true",
                        help="redraw the figures from OUT/results.json")
    args = parser.parse_args()
    if args.figures_only:
        figures_from_results(output_dir(args.quick, args.out))
    elif args.only:
        rerun_normalized_decay(quick=args.quick, out=args.out, seed=args.seed)
    else:
        main(quick=args.quick, out=args.out, seed=args.seed, dataset=args.dataset)
