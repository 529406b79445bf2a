"""Replicate the claims of *Decoupled Weight Decay Regularization* with keras_adamw.

    python example/replication/replicate.py            # full run, about 10 min on 2 cores
    python example/replication/replicate.py --quick    # a small version, under 3 minutes
    python example/replication/replicate.py --dataset cifar10 --out DIR  # needs a download

Writes ``results.json`` and four PNG figures next to this file (``--out DIR`` to write
elsewhere). Data needs no download: MNIST-1D made by the ``mnist1d`` package's local
generator (cached as ``mnist1d.npz``; its downloading helper is never called), and
scikit-learn's digits as a second dataset.

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
    budgets=[20, 40, 80], norm_grid=6, restart_t0=5, restart_cycles=3, hidden=64,
    digits=True, train_limit=None)
QUICK = dict(
    mnist1d_samples=2000, batch_size=128, epochs=3, grid_replicates=1, seeds=3,
    lrs={"adam": [1e-3, 1e-2], "sgd": [1e-2, 1e-1]},
    decays={"w": [1e-2, 1e-1], "l2": [1e-5, 1e-3]},
    budgets=[2, 4], norm_grid=2, restart_t0=1, restart_cycles=2, hidden=16,
    digits=True, train_limit=600)

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


def train(kind, data, cfg, lrs, decays, epochs, seed, *, normalized=True, restarts=None,
          record=()):
    """Train one member per (lr, decay) pair; return val/test errors per member."""
    algo, decay_kind = KINDS[kind]
    members = len(lrs)
    keras.utils.set_random_seed(seed)
    coupled = decay_kind == "l2"
    x, y = data["x"], data["y"]
    if cfg["train_limit"]:
        x, y = x[:cfg["train_limit"]], y[:cfg["train_limit"]]
    model = member_model(x.shape[1:], members, cfg["hidden"], l2=decays if coupled else None)
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


def normalized_decay(data, cfg, lr, center, seed):
    """Best lambda_norm (normalized) and best raw lambda at several budgets."""
    k = cfg["norm_grid"]
    norm_values = [center * 2.0 ** (i - k // 2) for i in range(k)]
    reps = max(cfg["grid_replicates"], 1)
    steps_per_epoch = math.ceil(len(data["x"][:cfg["train_limit"] or None]) / cfg["batch_size"])
    mid = cfg["budgets"][len(cfg["budgets"]) // 2]
    raw_values = [v / math.sqrt(mid * steps_per_epoch) for v in norm_values]
    rows = []
    for budget in cfg["budgets"]:
        row = dict(epochs=budget)
        for mode, values in (("normalized", norm_values), ("raw", raw_values)):
            r = train("adamw", data, cfg, [lr] * (k * reps), [v for v in values for _ in range(reps)],
                      budget, seed, normalized=(mode == "normalized"))
            val = r["val"].reshape(k, reps).mean(1)
            row[mode] = dict(values=values, val_error=val.tolist(),
                             best=values[int(val.argmin())], best_index=int(val.argmin()))
        rows.append(row)
    spread = {m: max(r[m]["best_index"] for r in rows) - min(r[m]["best_index"] for r in rows)
              for m in ("normalized", "raw")}
    holds = spread["normalized"] <= 1 and spread["normalized"] < spread["raw"]
    return dict(holds=bool(holds),
                statistic=("spread of the best value's index across budgets, in grid steps of "
                           "x2 (normalized lambda_norm vs raw lambda)"),
                value=spread, ci95=None, n_seeds=reps, budgets=rows,
                settings=dict(lr=lr, optimizer="AdamW", raw_lambda_from=f"lambda_norm/sqrt(T at {mid} epochs)"))


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

def figures(out, grids, claims, digits_claims):
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
    fig.savefig(out / "fig2_decoupling_heatmaps.png", dpi=100)
    plt.close(fig)

    # 3. normalized decay
    nd = claims["normalized_decay"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for row in nd["budgets"]:
        left.plot(row["normalized"]["values"], 100 * np.asarray(row["normalized"]["val_error"]),
                  "o-", label=f"{row['epochs']} epochs")
        right.plot(row["raw"]["values"], 100 * np.asarray(row["raw"]["val_error"]),
                   "o-", label=f"{row['epochs']} epochs")
    left.set_xscale("log")
    right.set_xscale("log")
    left.set_xlabel("lambda_norm (normalized: lambda = lambda_norm sqrt(1/T))")
    right.set_xlabel("raw lambda (not normalized)")
    left.set_ylabel("val error %")
    left.legend(fontsize=8)
    left.set_title("AdamW, normalized decay")
    right.set_title("AdamW, raw decay")
    fig.tight_layout()
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


def main(quick=False, out=HERE, seed=0, dataset="mnist1d"):
    cfg = QUICK if quick else FULL
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    if dataset == "cifar10":
        data = load_cifar10()
    else:
        data = load_mnist1d(cfg["mnist1d_samples"],
                            out / ("mnist1d_quick.npz" if quick else "mnist1d.npz"))
    grids, claims = run_dataset(data, cfg, seed)
    digits_claims = None
    if cfg["digits"]:
        _, digits_claims = run_dataset(load_digits(), cfg, seed + 10, full_claims=False)
    figures(out, grids, claims, digits_claims)
    results = dict(
        claims=claims,
        second_dataset={"digits": digits_claims},
        grids={k: dict(lrs=g["lrs"], decays=g["decays"], val_error=g["val_error"], best=g["best"])
               for k, g in grids.items()},
        config=dict(cfg, quick=quick, seed=seed,
                    dataset=("CIFAR-10 (keras.datasets)" if dataset == "cifar10"
                             else "MNIST-1D (mnist1d local generator)"),
                    model=("small CNN with BatchNorm" if dataset == "cifar10"
                           else "MLP in-64-BN-ReLU-64-BN-ReLU-10"),
                    schedule="cosine annealing over the run"),
        seconds=time.time() - start,
        versions=dict(keras=keras.__version__, backend=keras.backend.backend()))
    with open(out / "results.json", "w") as f:
        json.dump(_jsonable(results), f, indent=1)
    for name, c in claims.items():
        print(f"{name:20s} holds={c['holds']}")
    if digits_claims:
        for name, c in digits_claims.items():
            print(f"digits {name:13s} holds={c['holds']}")
    print(f"wrote {out / 'results.json'} ({time.time() - start:.0f} s)")
    return results


def figures_from_results(out=HERE):
    """Redraw the figures from a results.json, without training."""
    out = pathlib.Path(out)
    results = json.loads((out / "results.json").read_text())
    grids = {k: dict(g, val_error=np.asarray(g["val_error"])) for k, g in results["grids"].items()}
    figures(out, grids, results["claims"], results["second_dataset"]["digits"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(HERE))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", choices=["mnist1d", "cifar10"], default="mnist1d",
                        help="cifar10 downloads CIFAR-10 through keras.datasets and uses "
                             "a small CNN")
    parser.add_argument("--figures-only", action="store_true",
                        help="redraw the figures from OUT/results.json")
    args = parser.parse_args()
    if args.figures_only:
        figures_from_results(args.out)
    else:
        main(quick=args.quick, out=args.out, seed=args.seed, dataset=args.dataset)
