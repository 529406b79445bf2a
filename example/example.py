"""AdamW with warm restarts and per-layer lr multipliers vs Adam with L2, on digits.

Needs no download: scikit-learn's 8x8 digits ship inside the package.

    pip install ".[tensorflow-cpu,example]"
    python example/example.py            # writes example/example.png

Both runs start from the same weights and see the same batches. The AdamW model
is built with ``kernel_regularizer=l2(LAMBDA_NORM)``; ``AdamW(model=...)`` reads
those coefficients as decoupled decays (normalized by sqrt(1 / T_norm)) and
removes the penalties from the loss. The Adam model keeps an ordinary L2 penalty.
"""

import argparse
import os
import pathlib

import numpy as np

import keras
from keras_adamw import AdamW

HERE = pathlib.Path(__file__).resolve().parent


def load_digits(seed=0):
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    x, y = sk_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    return train_test_split(x, y.astype("int32"), test_size=0.3, random_state=seed,
                            stratify=y)


def build_model(l2, seed):
    keras.utils.set_random_seed(seed)
    reg = keras.regularizers.L2(l2)
    inp = keras.Input((64,))
    x = keras.layers.Dense(256, activation="relu", name="hidden_1", kernel_regularizer=reg)(inp)
    x = keras.layers.Dense(256, activation="relu", name="hidden_2", kernel_regularizer=reg)(x)
    out = keras.layers.Dense(10, activation="softmax", name="head", kernel_regularizer=reg)(x)
    return keras.Model(inp, out)


class RecordSchedule(keras.callbacks.Callback):
    """eta_t and the effective learning rate eta_t * alpha of every applied step."""

    def __init__(self):
        super().__init__()
        self.eta, self.lr = [], []

    def on_train_batch_begin(self, batch, logs=None):
        opt = self.model.optimizer
        eta = float(opt.eta_t) if hasattr(opt, "eta_t") else 1.0
        self.eta.append(eta)
        self.lr.append(eta * float(keras.ops.convert_to_numpy(opt.learning_rate)))


def main(epochs=30, batch_size=64, seed=0, out=HERE / "example.png"):
    x_train, x_test, y_train, y_test = load_digits(seed)
    steps_per_epoch = int(np.ceil(len(x_train) / batch_size))
    total_steps = epochs * steps_per_epoch
    runs = {}

    # AdamW: restarts after 2, 6, 14, 30 epochs (t_mult=2); the head learns at 2x;
    # decays read from the model and normalized over the whole run.
    model = build_model(l2=0.05, seed=seed)
    initial = model.get_weights()
    optimizer = AdamW(model=model, learning_rate=2e-3, use_cosine_annealing=True,
                      total_iterations=2 * steps_per_epoch, t_mult=2,
                      total_iterations_wd=total_steps, lr_multipliers={"head": 2.0})
    runs["AdamW + warm restarts"] = (model, optimizer)

    # Adam with a coupled L2 penalty in the loss, same start.
    baseline = build_model(l2=1e-4, seed=seed)
    baseline.set_weights(initial)
    runs["Adam + L2"] = (baseline, keras.optimizers.Adam(learning_rate=2e-3))

    results = {}
    for name, (net, opt) in runs.items():
        print(f"\n=== {name} ===")
        net.compile(opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        recorder = RecordSchedule()
        history = net.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                          validation_data=(x_test, y_test), verbose=2,
                          callbacks=[recorder])
        loss, accuracy = net.evaluate(x_test, y_test, verbose=0)
        results[name] = dict(history=history.history, recorder=recorder,
                             loss=loss, error=1 - accuracy)

    print("\n=== comparison (held-out 30% of digits; one seed, untuned settings: a "
          "demonstration, not a test of the paper's claims) ===")
    for name, r in results.items():
        print(f"{name:24s} test error {100 * r['error']:5.2f}%   test loss {r['loss']:.4f}")
    plot(results, steps_per_epoch, out)
    print(f"figure: {out}")
    return results


def plot(results, steps_per_epoch, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, mid, bottom) = plt.subplots(3, 1, figsize=(8, 9), sharex=False)
    for color, (name, r) in zip(("C0", "C1"), results.items()):
        epochs_axis = np.arange(len(r["recorder"].eta)) / steps_per_epoch
        top.plot(epochs_axis, r["recorder"].eta, color=color, label=f"{name}: eta_t")
        mid.plot(epochs_axis, r["recorder"].lr, color=color, label=f"{name}: eta_t * alpha")
        e = np.arange(1, len(r["history"]["loss"]) + 1)
        bottom.plot(e, r["history"]["loss"], color=color, label=f"{name}: train loss")
        bottom.plot(e, r["history"]["val_loss"], "--", color=color, label=f"{name}: test loss")
    top.set_ylabel("eta_t")
    mid.set_ylabel("learning rate")
    bottom.set_ylabel("loss (Adam's includes its L2 penalty)")
    bottom.set_yscale("log")
    for ax in (top, mid):
        ax.set_xlabel("epoch")
    bottom.set_xlabel("epoch")
    for ax in (top, mid, bottom):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle("keras_adamw example: digits, MLP 64-256-256-10")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default=str(HERE / "example.png"))
    args = parser.parse_args()
    main(epochs=args.epochs, out=pathlib.Path(args.out))
