"""What decoupled weight decay does, on scikit-learn's digits (no download).

    pip install ".[tensorflow,example]"
    python example/example.py          # writes example/output/example.png

Two runs of the same AdamW with warm restarts: same initial weights, batches,
learning rate, schedule and lr multipliers. They differ in one thing only: the
first applies the decays that the model's ``L2(0.05)`` regularizers declare
(``AdamW(model=model)``: decoupled from the gradient, following eta_t, normalized
by sqrt(1 / T_norm)); the second model declares none. The figure shows the schedule eta_t with the per-step decay
factor eta_t * s * lambda, the norm of the hidden kernels, and the test error.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import argparse  # noqa: E402
import pathlib  # noqa: E402

import numpy as np  # noqa: E402

from quiet_start import tensorflow_start_hidden  # noqa: E402

with tensorflow_start_hidden():  # TensorFlow 2.21 ignores the setting above at import
    import keras  # noqa: E402
    from keras_adamw import AdamW  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
LAMBDA_NORM = 0.05


def load_digits(seed=0):
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    x, y = sk_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    return train_test_split(x, y.astype("int32"), test_size=0.3, random_state=seed,
                            stratify=y)


def build_model(seed, decay=True):
    keras.utils.set_random_seed(seed)
    reg = keras.regularizers.L2(LAMBDA_NORM) if decay else None
    inp = keras.Input((64,))
    x = keras.layers.Dense(256, activation="relu", name="hidden_1", kernel_regularizer=reg)(inp)
    x = keras.layers.Dense(256, activation="relu", name="hidden_2", kernel_regularizer=reg)(x)
    out = keras.layers.Dense(10, activation="softmax", name="head", kernel_regularizer=reg)(x)
    return keras.Model(inp, out)


class Record(keras.callbacks.Callback):
    """Per applied step: eta_t, the decay factor eta_t * s * lambda of an L2(lambda)
    weight, and the norm of the hidden kernels."""

    def __init__(self):
        super().__init__()
        self.eta, self.decay, self.norm = [], [], []

    def on_train_batch_begin(self, batch, logs=None):
        opt = self.model.optimizer
        eta, c = opt.schedule_scalars(opt.schedule_state())
        self.eta.append(float(eta))
        self.decay.append(float(c) * LAMBDA_NORM)
        kernels = [self.model.get_layer(n).kernel for n in ("hidden_1", "hidden_2")]
        self.norm.append(float(np.sqrt(sum(np.sum(np.square(k.numpy())) for k in kernels))))


def main(epochs=30, batch_size=64, seed=0, out=HERE / "output" / "example.png"):
    x_train, x_test, y_train, y_test = load_digits(seed)
    steps_per_epoch = int(np.ceil(len(x_train) / batch_size))
    schedule = dict(learning_rate=2e-3, use_cosine_annealing=True,
                    total_iterations=2 * steps_per_epoch, t_mult=2,  # restarts after 2, 6, 14, 30 epochs
                    total_iterations_wd=epochs * steps_per_epoch,    # s = sqrt(1 / T_norm)
                    lr_multipliers={"head": 2.0}, init_verbose=False)
    initial = build_model(seed).get_weights()
    runs = {"AdamW, decay from the model": True, "same, no decay": False}
    results = {}
    for name, decay in runs.items():
        model = build_model(seed, decay)
        model.set_weights(initial)
        optimizer = AdamW(model=model, **schedule)
        model.compile(optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        record = Record()
        keras.utils.set_random_seed(seed + 1)  # the same batches for both
        history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                            validation_data=(x_test, y_test), verbose=0, callbacks=[record])
        error = 1 - history.history["val_accuracy"][-1]
        print(f"{name:28s} test error {100 * error:5.2f}%   "
              f"hidden-kernel norm {record.norm[-1]:.1f}")
        results[name] = dict(history=history.history, record=record, error=error)
    print("(held-out 30% of digits, one seed: a demonstration, not a test of the paper's "
          "claims; see example/replication/)")
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot(results, steps_per_epoch, out)
    print(f"figure: {out}")
    return results


def plot(results, steps_per_epoch, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, mid, bottom) = plt.subplots(3, 1, figsize=(8, 8.5), sharex=True)
    first = next(iter(results.values()))["record"]
    steps = np.arange(len(first.eta)) / steps_per_epoch
    top.plot(steps, first.eta, color="C2", linewidth=4, alpha=0.5, label="eta_t (both runs)")
    twin = top.twinx()
    twin.plot(steps, first.decay, "--", color="C0",
              label="decay per step, eta_t * s * lambda (follows eta_t, not the lr)")
    twin.set_ylabel("decay per step", color="C0")
    top.set_ylabel("eta_t", color="C2")
    top.legend(loc="upper right", fontsize=8)
    twin.legend(loc="lower right", fontsize=8)
    for color, (name, r) in zip(("C0", "C1"), results.items()):
        mid.plot(steps, r["record"].norm, color=color, label=name)
        e = np.arange(1, len(r["history"]["val_accuracy"]) + 1)
        bottom.plot(e, 100 * (1 - np.array(r["history"]["val_accuracy"])), color=color,
                    label=f"{name}: {100 * r['error']:.1f}% at the end")
    mid.set_ylabel("norm of hidden kernels")
    bottom.set_ylabel("test error (%)")
    bottom.set_xlabel("epoch")
    for ax in (top, mid, bottom):
        ax.grid(alpha=0.3)
    mid.legend(fontsize=8)
    bottom.legend(fontsize=8)
    fig.suptitle("keras_adamw on digits: the same AdamW with and without decoupled decay")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default=str(HERE / "output" / "example.png"),
                        help="where the figure goes (default: the git-ignored example/output/)")
    args = parser.parse_args()
    main(epochs=args.epochs, out=pathlib.Path(args.out))
