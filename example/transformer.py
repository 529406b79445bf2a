"""A small transformer classifier trained with a current recipe, on MNIST-1D.

    pip install ".[tensorflow,example]"
    python example/transformer.py        # about a minute on 2 CPU cores;
                                         # writes example/output/transformer.png

MNIST-1D sequences (the ``mnist1d`` package's local generator: nothing is downloaded)
are cut into 10 patches of 4 samples, embedded, and classified by 3 pre-norm
transformer blocks. One AdamW object holds the whole recipe:

* linear warmup at the start of every cycle, cosine cycles with restarts (t_mult=2)
  whose peak halves at each restart (``cycle_decay=0.5``);
* decoupled decay 0.05 (normalized over the run) on every weight but norms, biases
  and embeddings, which are excluded by type and shape, not by name;
* layer-wise learning-rate decay: each block learns at 0.8 ** (depth from the top).

The figure shows the schedule (eta_t, the learning rate of each multiplier group, the
decay per step), logged by ``ScheduleLogger``, above the training curves.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import argparse  # noqa: E402
import pathlib  # noqa: E402

import numpy as np  # noqa: E402

from quiet_start import tensorflow_start_hidden  # noqa: E402

with tensorflow_start_hidden():  # TensorFlow 2.21 ignores the setting above at import
    import keras  # noqa: E402
    from keras import layers  # noqa: E402
    from keras_adamw import (NORM_LAYERS, AdamW, ScheduleLogger,  # noqa: E402
                             layerwise_lr_multipliers)

HERE = pathlib.Path(__file__).resolve().parent
PATCH, WIDTH, HEADS, BLOCKS = 4, 32, 2, 3


def load_mnist1d(samples=4000, seed=0):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = samples, seed
    data = make_dataset(args)  # generated here; nothing is downloaded
    x, y = np.asarray(data["x"], "float32"), np.asarray(data["y"], "int32")
    x_test, y_test = np.asarray(data["x_test"], "float32"), np.asarray(data["y_test"], "int32")
    return x, y, x_test, y_test


@keras.saving.register_keras_serializable(package="keras_adamw_example")
class Block(layers.Layer):
    """Pre-norm transformer block: x + MHA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, width=WIDTH, heads=HEADS, **kwargs):
        super().__init__(**kwargs)
        self.width, self.heads = width, heads
        self.norm_1 = layers.LayerNormalization(name="norm_1")
        self.attention = layers.MultiHeadAttention(heads, width // heads, name="attention")
        self.norm_2 = layers.LayerNormalization(name="norm_2")
        self.mlp_in = layers.Dense(2 * width, activation="gelu", name="mlp_in")
        self.mlp_out = layers.Dense(width, name="mlp_out")

    def call(self, x):
        h = self.norm_1(x)
        x = x + self.attention(h, h)
        return x + self.mlp_out(self.mlp_in(self.norm_2(x)))

    def get_config(self):
        return {**super().get_config(), "width": self.width, "heads": self.heads}


class PositionEmbedding(layers.Layer):
    """x + a learned embedding of each position (an Embedding layer inside)."""

    def __init__(self, length, width, **kwargs):
        super().__init__(**kwargs)
        self.length = length
        self.table = layers.Embedding(length, width, name="table")

    def call(self, x):
        return x + self.table(keras.ops.arange(self.length))


def build_model(length, seed):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((length,))
    x = layers.Reshape((length // PATCH, PATCH))(inp)
    x = layers.Dense(WIDTH, name="patch_embed")(x)
    x = PositionEmbedding(length // PATCH, WIDTH, name="position")(x)
    for i in range(BLOCKS):
        x = Block(name=f"block_{i}")(x)
    x = layers.LayerNormalization(name="final_norm")(layers.GlobalAveragePooling1D()(x))
    return keras.Model(inp, layers.Dense(10, name="head")(x), name="transformer")


class Trace(keras.callbacks.Callback):
    """Every batch's logs (ScheduleLogger's values among them)."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        self.rows.append(dict(logs or {}))


def main(epochs=30, batch_size=64, seed=0, out=HERE / "output" / "transformer.png"):
    x, y, x_test, y_test = load_mnist1d(seed=seed)
    model = build_model(x.shape[1], seed)
    steps = int(np.ceil(len(x) / batch_size))
    optimizer = AdamW(
        model=model, learning_rate=3e-3,
        weight_decays=0.05, exclude_1d=True,                        # biases, norm scales
        # norms and embeddings by type; "bias" (a whole path component) for the biases
        # of MultiHeadAttention, which are 2-D (heads, head_dim)
        exclude_from_weight_decay=[NORM_LAYERS, layers.Embedding, "bias"],
        lr_multipliers=layerwise_lr_multipliers(
            model, 0.8, blocks=[f"block_{i}" for i in range(BLOCKS)]),
        use_cosine_annealing=True, total_iterations=2 * steps, t_mult=2,  # 2, 4, 8, 16 epochs
        warmup_iterations=steps // 2, warmup_each_cycle=True, cycle_decay=0.5,
        total_iterations_wd=epochs * steps, init_verbose=False)
    model.compile(optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    trace = Trace()
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs,
                        validation_data=(x_test, y_test), verbose=2,
                        callbacks=[ScheduleLogger(), trace])
    error = 1 - history.history["val_accuracy"][-1]
    print(f"test error {100 * error:.1f}% after {epochs} epochs (one seed: a demonstration)")
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot(trace.rows, history.history, steps, out)
    print(f"figure: {out}")
    return dict(history=history.history, rows=trace.rows, error=error,
                optimizer=optimizer, model=model)


def plot(rows, history, steps, out):
    """Four panels on one time axis (epochs): eta_t; the learning rate of each group;
    the decay per step of each decay group; train and test loss, and test error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 1, figsize=(8, 10), sharex=True)
    t = (np.arange(len(rows)) + 1) / steps
    value = lambda r, k: float(np.asarray(r[k]))  # noqa: E731
    axes[0].plot(t, [value(r, "eta_t") for r in rows], color="k")
    axes[0].set_ylabel("eta_t")
    lr_keys = sorted((k for k in rows[0] if k == "lr" or k.startswith("lr_mu=")),
                     key=lambda k: -value(rows[0], k))
    for key in lr_keys:
        axes[1].plot(t, [value(r, key) for r in rows], linewidth=1,
                     label="mu = 1" if key == "lr" else key.replace("lr_mu=", "mu = "))
    axes[1].set_ylabel("learning rate\n(alpha_t * eta_t * mu)")
    axes[1].legend(fontsize=7, ncol=3, loc="upper right")
    for key in (k for k in rows[0] if k.startswith("decay_")):
        axes[2].plot(t, [value(r, key) for r in rows],
                     label=key.replace("decay_l2=", "l2 = ") + ": w loses this x w")
    axes[2].set_ylabel("decay per step")
    axes[2].legend(fontsize=8)
    e = np.arange(1, len(history["loss"]) + 1)
    axes[3].plot(e, history["loss"], label="train loss")
    axes[3].plot(e, history["val_loss"], label="test loss")
    axes[3].set_ylabel("cross-entropy")
    error = axes[3].twinx()
    error.plot(e, 100 * (1 - np.array(history["val_accuracy"])), color="C3", label="test error")
    error.set_ylabel("test error, % (red)")
    axes[3].legend(fontsize=8, loc="upper center")
    axes[3].set_xlabel("epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    fig.suptitle("AdamW on MNIST-1D: warmup, decaying restarts, layer-wise lr decay,\n"
                 "no decay on norms, biases and embeddings", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default=str(HERE / "output" / "transformer.png"),
                        help="where the figure goes (default: the git-ignored example/output/)")
    args = parser.parse_args()
    main(epochs=args.epochs, out=pathlib.Path(args.out))
