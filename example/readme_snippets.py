"""The README's decay values train well: each snippet's optimizer on scikit-learn's
digits against Keras' own AdamW at the matching value.

The Quick start's MLP (64-128-10), batch 32, 10 epochs (450 applied steps), 1437
training and 360 test images (scaled to [0, 1], the Quick start's split), paired seeds (same initial weights and batches for
every arm). "Matching value" means the same decay per step: Keras' AdamW removes
lr_t * weight_decay * w per step, so the snippet's per-step decay c_t * l2 is matched
by weight_decay = l2 * c_t / lr_t (exact where the decay follows the learning rate,
at the peak otherwise). Prints one line per snippet (mean test accuracy over the
seeds, ours - Keras' with a t interval) and, with ``--write``, writes
``readme_snippets.json`` beside this script (the committed results).

    pip install ".[tensorflow,example]"
    python example/readme_snippets.py            # about 6 min on 2 CPU cores
    python example/readme_snippets.py --seeds 1  # a quick look
"""

import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np

import keras
from keras_adamw import AdamW, Timescale

HERE = pathlib.Path(__file__).resolve().parent
EPOCHS, BATCH = 10, 32
S = keras.optimizers.schedules


def data():
    """The Quick start's split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16, y, test_size=360,
                                                        random_state=0)
    return (x_train, y_train), (x_test, y_test)


def steps_per_epoch(n_train):
    return math.ceil(n_train / BATCH)


def snippets(spe):
    """name -> (ours, Keras' AdamW at the matching value): functions of no argument.
    The values are the README's; step counts are this run's."""
    total = EPOCHS * spe
    warmup = S.CosineDecay(0.0, total - spe, warmup_target=1e-3, warmup_steps=spe)

    def warmup_copy():
        return S.CosineDecay(0.0, total - spe, warmup_target=1e-3, warmup_steps=spe)

    return {
        # Quick start: tau = 5 epochs at the cosine's peak, normalized or not
        "quick_start_timescale": (
            lambda: AdamW(learning_rate=1e-2, use_cosine_annealing=True,
                          total_iterations=total, init_verbose=False,
                          weight_decays=Timescale(epochs=5, steps_per_epoch=spe)),
            # peak decay 1 / (5 spe) per step = 1e-2 * wd  ->  wd = 1 / (5 spe * 1e-2)
            lambda: keras.optimizers.AdamW(learning_rate=S.CosineDecay(1e-2, total),
                                           weight_decay=1 / (5 * spe * 1e-2))),
        # Units: Keras' or torch's 0.05 at lr 1e-3 is 5e-5 per step here
        "follows_schedule_5e-5": (
            lambda: AdamW(learning_rate=warmup, weight_decays=5e-5,
                          decay_follows_schedule=True, init_verbose=False),
            lambda: keras.optimizers.AdamW(learning_rate=warmup_copy(), weight_decay=0.05)),
        # Corrected decay (AdamC): Keras' AdamW at the same 0.05, not corrected (no
        # Keras optimizer is): the closest match there is
        "corrected_0.05": (
            lambda: AdamW(learning_rate=warmup, weight_decays=0.05, lr_scaled_decay=True,
                          decay_follows_schedule=True, init_verbose=False),
            lambda: keras.optimizers.AdamW(learning_rate=warmup_copy(), weight_decay=0.05)),
        # Cautious decay, tau = 2000 steps: per step 1 / 2000 = 1e-3 * wd -> wd = 0.5
        # (Keras' AdamW is not cautious: the closest match there is)
        "cautious_timescale": (
            lambda: AdamW(learning_rate=1e-3, weight_decays=Timescale(steps=2000),
                          cautious_decay=True, init_verbose=False),
            lambda: keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.5)),
        # Another library's value, kept as it is with lr_scaled_decay=True
        "lr_scaled_0.05": (
            lambda: AdamW(learning_rate=1e-3, weight_decays=0.05, lr_scaled_decay=True,
                          init_verbose=False),
            lambda: keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.05)),
    }


def model(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((64,)),
                             keras.layers.Dense(128, activation="relu", name="hidden"),
                             keras.layers.Dense(10, activation="softmax", name="head")])


def accuracy(make_optimizer, seed, train, test):
    m = model(seed)
    m.compile(make_optimizer(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    keras.utils.set_random_seed(1000 + seed)  # the same batches for every arm
    m.fit(*train, batch_size=BATCH, epochs=EPOCHS, verbose=0)
    return float(m.evaluate(*test, verbose=0)[1])


def t_interval(d):
    from scipy import stats

    d = np.asarray(d)
    if len(d) < 2:
        return [float("nan"), float("nan")]
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return [float(d.mean() - half), float(d.mean() + half)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--write", action="store_true",
                        help="write readme_snippets.json beside this script")
    args = parser.parse_args(argv)
    train, test = data()
    spe = steps_per_epoch(len(train[1]))
    start = time.time()
    results = {}
    for name, (ours, theirs) in snippets(spe).items():
        a = [accuracy(ours, s, train, test) for s in range(args.seeds)]
        b = [accuracy(theirs, s, train, test) for s in range(args.seeds)]
        d = [100 * (x - y) for x, y in zip(a, b)]
        results[name] = {"ours": float(np.mean(a)), "keras_adamw": float(np.mean(b)),
                         "difference_pp": float(np.mean(d)), "interval_pp": t_interval(d),
                         "per_seed_ours": a, "per_seed_keras": b}
        print(f"{name:24s} ours {100 * np.mean(a):5.1f}%  Keras' AdamW {100 * np.mean(b):5.1f}%"
              f"  difference {np.mean(d):+.2f} pp {np.round(t_interval(d), 2).tolist()}",
              flush=True)
    out = {"setting": f"digits MLP 64-128-10, batch {BATCH}, {EPOCHS} epochs, "
                      f"{args.seeds} paired seeds", "keras": keras.__version__,
           "backend": keras.backend.backend(), "seconds": round(time.time() - start),
           "results": results}
    if args.write:
        (HERE / "readme_snippets.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"{out['seconds']} s")
    return out


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
