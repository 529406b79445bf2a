"""Does decay toward the pretrained weights (L2-SP) help a small fine-tune? Measured.

    python example/finetune/finetune.py            # full run (time: see README.md)
    python example/finetune/finetune.py --quick    # tiny smoke run, into quick/
    python example/finetune/finetune.py --figures-only   # redraw the figure

A small backbone is pretrained on task A (MNIST-1D digits 0-4, made by the
``mnist1d`` package's local generator; nothing is downloaded) and saved
(``pretrained.weights.h5`` in the output folder). It is then fine-tuned on task B
(MNIST-1D digits 5-9 with only a few hundred labelled examples) with a new head, the
whole network trained by AdamW, in three arms:

* (a) ``zero``: decoupled decay toward zero on every kernel (backbone and head);
* (b) ``pretrained``: decay toward the pretrained weights on the backbone's kernels and
  toward zero on the new head's (L2-SP of Li, Grandvalet & Davoine 2018: L2-SP on the
  pretrained part, plain L2 on the new head), via ``decay_toward``;
* (c) ``none``: no decay;

and, for context only (no rule), (r) ``scratch``: the same network from a random
initialization, no decay. Each arm gets the same tuning budget: its best (learning
rate, lambda_norm) cell on a validation split carved from task B's labelled examples,
per seed; the arm's test error is that cell's error on a held-out test set. Arms are
paired by seed (same labelled examples, same split, same head initialization, same
batches). The decision rule is fixed below (RULE) and in README.md, committed before
the full run.

All members of a seed (every arm x every grid cell) are ONE Keras model of independent
members ``m000_``, ``m001_``, ...: each member's learning rate is its ``lr_multipliers``
entry (base learning rate 1), its decay its ``weight_decays`` entry, its decay target
its ``decay_toward`` entry; the loss is the sum of the members' losses, so each member
gets exactly its own gradient (as in example/replication/replicate.py).

The full run writes ``results.json`` and ``fig_finetune.png`` next to this file;
``--quick`` writes to the git-ignored ``quick/`` folder and labels its output as a
smoke run.
"""

import argparse
import inspect
import json
import math
import os
import pathlib
import re
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from keras_adamw import AdamW  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent

FULL = dict(
    mnist1d_samples=10000, task_a=(0, 1, 2, 3, 4), task_b=(5, 6, 7, 8, 9),
    backbone="cnn", width=32, pretrain_epochs=30, pretrain_batch=128, pretrain_lr=1e-3,
    labelled=300, val_fraction=1 / 3, batch_size=32, epochs=40, seeds=20,
    lrs=[1e-3, 3e-3], decays=[0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
    arms=("zero", "pretrained", "none", "scratch"), n_boot=10000)
QUICK = dict(
    FULL, mnist1d_samples=2000, pretrain_epochs=3, epochs=4, seeds=3,
    lrs=[3e-3], decays=[0.1, 1.0], n_boot=200)

ARM_LABELS = {"zero": "(a) decay toward zero", "pretrained": "(b) decay toward pretrained",
              "none": "(c) no decay", "scratch": "(r) from scratch, no decay"}
DECAYED = ("zero", "pretrained")  # the arms that tune lambda_norm

# ---------------------------------------------------------------------- the rule
# Fixed and committed before the full run (issue 21). Do not change it after seeing
# the results.
CONFIDENCE = 0.95
PRIMARY = ("pretrained", "zero")     # d = test error (b) - test error (a), per seed
SECONDARY = ("pretrained", "none")   # d = test error (b) - test error (c), per seed
RULE = (
    "Per seed, each arm's test error is that of its grid cell (learning rate x "
    "lambda_norm; arm (c): learning rate only) with the lowest validation error, ties "
    "broken by the lower validation cross-entropy. d_ba = error(b) - error(a) and "
    "d_bc = error(b) - error(c), paired by seed, 20 seeds. 95% two-sided t interval of "
    "the mean of each. (b) helps over (a) if the d_ba interval is entirely below 0, "
    "hurts if entirely above 0, otherwise no measurable difference; the same for d_bc "
    "against (c). Verdict: decay toward the pretrained weights HELPS here if it helps "
    "over both (a) and (c); HURTS if it hurts against either; otherwise "
    "INCONCLUSIVE (the verdict then says which comparisons it won). The scratch arm is "
    "context only.")


def has_decay_toward():
    """Whether this keras_adamw's AdamW takes ``decay_toward`` (issue 21)."""
    return "decay_toward" in inspect.signature(AdamW).parameters


def require_decay_toward(arms):
    if "pretrained" in arms and not has_decay_toward():
        raise SystemExit(
            "arm (b) needs AdamW(decay_toward=...), which this keras_adamw "
            f"({keras_adamw_file()}) does not have yet (issue 21). Run with a version "
            "that has it, or leave out arm 'pretrained' (--arms zero none scratch).")


def keras_adamw_file():
    import keras_adamw

    return keras_adamw.__file__


# -------------------------------------------------------------------------- data

def load_mnist1d(samples, cache):
    """MNIST-1D from the package's local generator (never its downloader), cached."""
    if cache.exists():
        return dict(np.load(cache))
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = samples
    data = make_dataset(args)
    d = {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}
    np.savez(cache, **d)
    return d


def tasks(d, cfg):
    """Task A (pretraining: all its train-split examples) and task B (a pool to draw
    labelled examples from, and the test split's examples of its classes)."""
    f = lambda a: np.asarray(a, dtype="float32")  # noqa: E731

    def select(x, y, classes):
        keep = np.isin(y, classes)
        relabel = {c: i for i, c in enumerate(classes)}
        return f(x[keep]), np.array([relabel[v] for v in y[keep]], dtype="int32")

    xa, ya = select(d["x"], d["y"], cfg["task_a"])
    xb, yb = select(d["x"], d["y"], cfg["task_b"])
    xt, yt = select(d["x_test"], d["y_test"], cfg["task_b"])
    return dict(x_a=xa, y_a=ya, pool_x=xb, pool_y=yb, x_test=xt, y_test=yt)


def task_b_split(data, cfg, seed):
    """Seed's labelled examples: ``labelled`` drawn from task B's pool, split into
    training and validation (the same for every arm of the seed)."""
    rng = np.random.default_rng(1000 + seed)
    pick = rng.choice(len(data["pool_y"]), cfg["labelled"], replace=False)
    n_val = int(round(cfg["labelled"] * cfg["val_fraction"]))
    val, fit = pick[:n_val], pick[n_val:]
    return dict(x=data["pool_x"][fit], y=data["pool_y"][fit],
                x_val=data["pool_x"][val], y_val=data["pool_y"][val],
                x_test=data["x_test"], y_test=data["y_test"])


# ------------------------------------------------------------------------ models

def backbone(prefix, cfg):
    """The backbone's layers; the ones with weights are ``{prefix}_bb1``, ``_bb2``, ..."""
    w = cfg["width"]
    if cfg["backbone"] == "cnn":
        return [keras.layers.Reshape((-1, 1)),
                keras.layers.Conv1D(w, 5, padding="same", activation="relu", name=f"{prefix}_bb1"),
                keras.layers.Conv1D(w, 3, strides=2, padding="same", activation="relu",
                                    name=f"{prefix}_bb2"),
                keras.layers.Conv1D(w, 3, strides=2, padding="same", activation="relu",
                                    name=f"{prefix}_bb3"),
                keras.layers.Flatten()]
    return [keras.layers.Dense(4 * w, activation="relu", name=f"{prefix}_bb1"),
            keras.layers.Dense(4 * w, activation="relu", name=f"{prefix}_bb2")]


def backbone_names(prefix, cfg):
    return [layer.name for layer in backbone(prefix, cfg) if layer.name.startswith(prefix)]


def single_model(cfg, classes, prefix="pre"):
    inp = keras.Input((40,))
    h = inp
    for layer in backbone(prefix, cfg):
        h = layer(h)
    return keras.Model(inp, keras.layers.Dense(classes, name=f"{prefix}_head")(h))


def pretrain(data, cfg, out, seed=0):
    """Train the backbone (and a task-A head) on task A; save and return the weights."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = single_model(cfg, len(cfg["task_a"]))
    model.compile(keras.optimizers.Adam(cfg["pretrain_lr"]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    start = time.time()
    model.fit(data["x_a"], data["y_a"], batch_size=cfg["pretrain_batch"],
              epochs=cfg["pretrain_epochs"], shuffle=True, verbose=0)
    path = out / "pretrained.weights.h5"
    model.save_weights(path)
    weights = {name: model.get_layer(name).get_weights() for name in backbone_names("pre", cfg)}
    _, train_acc = model.evaluate(data["x_a"], data["y_a"], verbose=0)
    return dict(weights=weights, path=str(path), seconds=time.time() - start,
                task_a_train_error=1 - float(train_acc))


def load_pretrained(cfg, path):
    model = single_model(cfg, len(cfg["task_a"]))
    model.load_weights(path)
    return {name: model.get_layer(name).get_weights() for name in backbone_names("pre", cfg)}


def members_for(cfg, arms):
    """One (arm, lr, lambda_norm) per member; lambda_norm 0 for the undecayed arms."""
    out = []
    for arm in arms:
        for lr in cfg["lrs"]:
            for decay in (cfg["decays"] if arm in DECAYED else [0.0]):
                out.append(dict(arm=arm, lr=lr, decay=decay))
    return out


def member_model(cfg, n, classes):
    inp = keras.Input((40,))
    outs = []
    for i in range(n):
        h = inp
        for layer in backbone(f"m{i:03d}", cfg):
            h = layer(h)
        outs.append(keras.layers.Dense(classes, name=f"m{i:03d}_head")(h))
    out = keras.layers.Lambda(lambda t: keras.ops.stack(t, axis=1), name="stack")(outs)
    return keras.Model(inp, out)


def optimizer_for(members, cfg, steps):
    names = [re.compile(f"^m{i:03d}_") for i in range(len(members))]
    kwargs = dict(
        learning_rate=1.0, lr_multipliers={names[i]: m["lr"] for i, m in enumerate(members)},
        weight_decays={names[i]: m["decay"] for i, m in enumerate(members) if m["decay"] > 0},
        exclude_from_weight_decay=["bias"],
        use_cosine_annealing=True, total_iterations=steps,  # lambda = lambda_norm sqrt(1/T)
        init_verbose=False)
    toward = {f"m{i:03d}_{name[len('pre_'):]}": "initial"
              for i, m in enumerate(members) if m["arm"] == "pretrained"
              for name in backbone_names("pre", cfg)}
    if toward:  # every other variable: toward zero, the default
        kwargs["decay_toward"] = toward
    return AdamW(**kwargs)


def evaluate(model, x, y):
    """Per-member error rate and mean cross-entropy."""
    logits = np.concatenate([keras.ops.convert_to_numpy(model(x[i:i + 2048], training=False))
                             for i in range(0, len(x), 2048)]).astype("float64")
    error = 1.0 - (logits.argmax(-1) == y[:, None]).mean(0)
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    xent = -np.take_along_axis(logp, y[:, None, None].repeat(logp.shape[1], 1), -1)[..., 0]
    return error, xent.mean(0)


def run_seed(split, pretrained, cfg, seed, arms=None):
    """Train every member of one seed; return each arm's selected cell and test error,
    and the whole grid. ``pretrained``: {backbone layer name "pre_bb1": weights}."""
    arms = tuple(arms or cfg["arms"])
    require_decay_toward(arms)
    members = members_for(cfg, arms)
    classes = len(cfg["task_b"])
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = member_model(cfg, len(members), classes)
    head0 = model.get_layer("m000_head").get_weights()  # one head init for all members
    scratch = [i for i, m in enumerate(members) if m["arm"] == "scratch"]
    for i, m in enumerate(members):
        model.get_layer(f"m{i:03d}_head").set_weights(head0)
        for name, w in pretrained.items():
            layer = model.get_layer(f"m{i:03d}_{name[len('pre_'):]}")
            if m["arm"] == "scratch":  # one random backbone init for all scratch members
                w = model.get_layer(f"m{scratch[0]:03d}_{name[len('pre_'):]}").get_weights()
            layer.set_weights(w)
    steps = cfg["epochs"] * math.ceil(len(split["x"]) / cfg["batch_size"])
    n = len(members)

    def loss(y_true, logits):  # sum over members of each member's mean loss
        return n * keras.losses.sparse_categorical_crossentropy(y_true, logits, from_logits=True)

    model.compile(optimizer_for(members, cfg, steps), loss=loss)
    # Build the optimizer now, eagerly: w0 (decay_toward="initial") is the weights'
    # value at build, here the pretrained ones. (Before keras_adamw 95f38d2, a build
    # left to fit() on TensorFlow, inside the traced first step, kept w0 = 0.)
    model.optimizer.build(model.trainable_variables)
    start = time.time()
    model.fit(split["x"], np.repeat(split["y"][:, None], n, axis=1), batch_size=cfg["batch_size"],
              epochs=cfg["epochs"], shuffle=True, verbose=0)
    val_err, val_xent = evaluate(model, split["x_val"], split["y_val"])
    test_err, _ = evaluate(model, split["x_test"], split["y_test"])
    chosen = {}
    for arm in arms:
        idx = [i for i, m in enumerate(members) if m["arm"] == arm]
        best = min(idx, key=lambda i: (val_err[i], val_xent[i]))
        chosen[arm] = dict(lr=members[best]["lr"], decay=members[best]["decay"],
                           val_error=float(val_err[best]), test_error=float(test_err[best]))
    grid = [dict(m, val_error=float(val_err[i]), val_xent=float(val_xent[i]),
                 test_error=float(test_err[i])) for i, m in enumerate(members)]
    return dict(seed=seed, chosen=chosen, grid=grid, seconds=time.time() - start, steps=steps)


# -------------------------------------------------------------------- statistics

def paired(diffs, confidence=CONFIDENCE):
    """Mean of paired differences with a t interval."""
    from scipy import stats

    d = np.asarray(diffs, dtype=float)
    mean = float(d.mean())
    if len(d) < 2 or d.std(ddof=1) == 0:
        return mean, (mean, mean)
    half = stats.t.ppf(0.5 + confidence / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return mean, (mean - half, mean + half)


def bootstrap_ci(diffs, n_boot, seed=0, confidence=CONFIDENCE):
    d = np.asarray(diffs, dtype=float)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), (n_boot, len(d)))].mean(1)
    a = (1 - confidence) / 2
    return [float(np.quantile(means, a)), float(np.quantile(means, 1 - a))]


def outcome(ci):
    """The rule on one interval of error(b) - error(other)."""
    low, high = ci
    if high < 0:
        return "helps"
    if low > 0:
        return "hurts"
    return "no measurable difference"


def verdict(primary, secondary):
    """The rule's verdict from the two comparisons' outcomes."""
    if primary == secondary == "helps":
        return "HELPS"
    if "hurts" in (primary, secondary):
        return "HURTS"
    return (f"INCONCLUSIVE (vs decay toward zero: {primary}; vs no decay: {secondary})")


def compare(runs, arm1, arm2, n_boot):
    d = [r["chosen"][arm1]["test_error"] - r["chosen"][arm2]["test_error"] for r in runs]
    mean, (low, high) = paired(d)
    return dict(statistic=f"mean paired test-error difference {ARM_LABELS[arm1]} - "
                          f"{ARM_LABELS[arm2]}",
                value=mean, ci95=[low, high], ci95_bootstrap=bootstrap_ci(d, n_boot),
                outcome=outcome([low, high]), n_seeds=len(d),
                wins=int(sum(x < 0 for x in d)), ties=int(sum(x == 0 for x in d)),
                losses=int(sum(x > 0 for x in d)), per_seed_difference=d)


def analyse(runs, arms, n_boot):
    arms = tuple(arms)
    per_arm = {}
    for arm in arms:
        e = np.array([r["chosen"][arm]["test_error"] for r in runs])
        per_arm[arm] = dict(label=ARM_LABELS[arm], mean_test_error=float(e.mean()),
                            sd=float(e.std(ddof=1)) if len(e) > 1 else 0.0,
                            ci95=list(paired(e)[1]), per_seed=e.tolist(),
                            chosen_lr=[r["chosen"][arm]["lr"] for r in runs],
                            chosen_decay=[r["chosen"][arm]["decay"] for r in runs])
    comparisons = {}
    for a1, a2 in (PRIMARY, SECONDARY, ("zero", "none"), ("none", "scratch")):
        if a1 in arms and a2 in arms:
            comparisons[f"{a1}-{a2}"] = compare(runs, a1, a2, n_boot)
    result = dict(rule=RULE, per_arm=per_arm, comparisons=comparisons)
    key1, key2 = "-".join(PRIMARY), "-".join(SECONDARY)
    if key1 in comparisons and key2 in comparisons:
        result["verdict"] = verdict(comparisons[key1]["outcome"], comparisons[key2]["outcome"])
    else:
        result["verdict"] = "not decided: arm (b) was not run"
    return result


# ----------------------------------------------------------------------- figures

QUICK_LABEL = "QUICK SMOKE RUN (tiny settings): not the experiment's results"


def figure(out, results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    analysis = results["analysis"]
    comps = analysis["comparisons"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw=dict(width_ratios=[1.25, 1]))
    ax = axes[0]
    names = [k for k in comps if "scratch" not in k]  # (r): right panel, context only
    rule_keys = {"-".join(PRIMARY), "-".join(SECONDARY)}
    for y, key in enumerate(names):
        c = comps[key]
        d = 100 * np.asarray(c["per_seed_difference"])
        jitter = np.random.default_rng(y).uniform(-0.15, 0.15, len(d))
        ax.scatter(d, y + jitter, alpha=0.45, s=14)
        ax.errorbar(100 * c["value"], y, xerr=[[100 * (c["value"] - c["ci95"][0])],
                                               [100 * (c["ci95"][1] - c["value"])]],
                    fmt="o", color="k", capsize=5, zorder=3)
    ax.axvline(0, color="grey", lw=1)
    labels = []
    for key in names:
        a1, a2 = key.split("-")
        c = comps[key]
        labels.append(f"{'rule: ' if key in rule_keys else ''}"
                      f"{ARM_LABELS[a1].split(' ')[0]} - {ARM_LABELS[a2].split(' ')[0]}\n"
                      f"{100 * c['value']:+.2f} [{100 * c['ci95'][0]:+.2f}, "
                      f"{100 * c['ci95'][1]:+.2f}]")
    ax.set_yticks(range(len(names)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("test error difference, percentage points (per seed; mean, 95% t CI)")
    ax.set_title(f"Paired by seed (n = {len(results['seeds'])}); verdict: "
                 f"{analysis['verdict'].split(' (')[0]}", fontsize=10)
    ax = axes[1]
    arms = list(analysis["per_arm"])
    per_seed = np.array([analysis["per_arm"][a]["per_seed"] for a in arms]) * 100
    for s in range(per_seed.shape[1]):
        ax.plot(range(len(arms)), per_seed[:, s], color="grey", alpha=0.3, lw=0.8)
    means = per_seed.mean(1)
    ax.plot(range(len(arms)), means, "ko-", label="mean")
    ax.set_xticks(range(len(arms)), [ARM_LABELS[a].replace(" toward", "\ntoward")
                                     .replace(", no", ",\nno") for a in arms], fontsize=8)
    ax.set_ylabel("test error % (task B, selected cell)")
    ax.set_title("Each seed's selected model per arm")
    for i, m in enumerate(means):
        ax.annotate(f"{m:.1f}", (i, m), textcoords="offset points", xytext=(8, -3), fontsize=8)
    fig.tight_layout()
    if results["config"]["quick"]:
        fig.suptitle(QUICK_LABEL, color="red", fontsize=11, fontweight="bold")
        fig.tight_layout(rect=(0, 0, 1, 0.92))
    fig.savefig(out / "fig_finetune.png", dpi=100)
    plt.close(fig)


# -------------------------------------------------------------------------- main

def output_dir(quick, out=None):
    """``out`` if given, else next to this file (full run) or the git-ignored
    ``quick/`` folder (``--quick``)."""
    if out is not None:
        return pathlib.Path(out)
    return HERE / "quick" if quick else HERE


def main(quick=False, out=None, arms=None, seeds=None):
    cfg = dict(QUICK if quick else FULL)
    if arms:
        cfg["arms"] = tuple(arms)
    if seeds:
        cfg["seeds"] = seeds
    require_decay_toward(cfg["arms"])
    out = output_dir(quick, out)
    out.mkdir(parents=True, exist_ok=True)
    if quick:
        print(f"{QUICK_LABEL}; writing to {out}", flush=True)
    start = time.time()
    raw = load_mnist1d(cfg["mnist1d_samples"],
                       out / ("mnist1d_quick.npz" if quick else "mnist1d.npz"))
    data = tasks(raw, cfg)
    pre = pretrain(data, cfg, out)
    print(f"pretrained on task A ({len(data['y_a'])} examples): train error "
          f"{100 * pre['task_a_train_error']:.1f}% ({pre['seconds']:.0f} s)", flush=True)
    weights = load_pretrained(cfg, pre["path"])  # as a user would: from the saved file
    runs = []
    for seed in range(cfg["seeds"]):
        run = run_seed(task_b_split(data, cfg, seed), weights, cfg, seed)
        runs.append(run)
        print(f"seed {seed:2d}: " + ", ".join(
            f"{arm} {100 * c['test_error']:.1f}%" for arm, c in run["chosen"].items())
            + f" ({run['seconds']:.0f} s)", flush=True)
    analysis = analyse(runs, cfg["arms"], cfg["n_boot"])
    results = dict(
        analysis=analysis, seeds=runs,
        pretraining=dict(task_a_train_error=pre["task_a_train_error"], seconds=pre["seconds"],
                         examples=int(len(data["y_a"])), weights=pathlib.Path(pre["path"]).name),
        config=dict(cfg, quick=quick, test_examples=int(len(data["y_test"])),
                    pool_examples=int(len(data["pool_y"])),
                    data="MNIST-1D (mnist1d local generator); task A digits 0-4 (train "
                         "split), task B digits 5-9 (labelled drawn from the train split, "
                         "test = the test split's 5-9)",
                    optimizer="AdamW (keras_adamw), base lr 1 with per-member "
                              "lr_multipliers, cosine annealing over the run, decay on "
                              "kernels only (biases excluded), lambda = lambda_norm "
                              "sqrt(1/T)"),
        seconds=time.time() - start,
        versions=dict(keras=keras.__version__, backend=keras.backend.backend()))
    if quick:
        results = dict(note=QUICK_LABEL, **results)
    with open(out / "results.json", "w") as f:
        json.dump(results, f, indent=1)
    figure(out, results)
    for key, c in analysis["comparisons"].items():
        print(f"{key:20s} {100 * c['value']:+.2f} pp, 95% CI [{100 * c['ci95'][0]:+.2f}, "
              f"{100 * c['ci95'][1]:+.2f}]: {c['outcome']}")
    print(f"verdict: {analysis['verdict']}")
    print(f"wrote {out / 'results.json'} ({time.time() - start:.0f} s)"
          + (" -- quick smoke run" if quick else ""))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny smoke run, written to example/finetune/quick/ (git-ignored)")
    parser.add_argument("--out", default=None,
                        help="output folder (default: next to this file; quick/ for --quick)")
    parser.add_argument("--arms", nargs="+", choices=list(ARM_LABELS), default=None,
                        help="run only these arms (default: all)")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds")
    parser.add_argument("--figures-only", action="store_true",
                        help="redraw the figure from OUT/results.json")
    args = parser.parse_args()
    if args.figures_only:
        out = output_dir(args.quick, args.out)
        figure(out, json.loads((out / "results.json").read_text()))
    else:
        main(quick=args.quick, out=args.out, arms=args.arms, seeds=args.seeds)
