"""Modern decoupled decay, measured: cautious decay, corrected decay (AdamC) and the
timescale rule of thumb, with keras_adamw on MNIST-1D.

    python example/modern_decay/modern_decay.py              # full run (time: README.md)
    python example/modern_decay/modern_decay.py --quick      # tiny smoke run, into quick/
    python example/modern_decay/modern_decay.py --pilot      # the disclosed pilot, into pilot/
    python example/modern_decay/modern_decay.py --figures-only   # redraw from results.json

Three claims, each decided by a rule fixed before the full run (``RULES`` below, also in
README.md and recorded in ``results.json``):

1. ``cautious``: cautious weight decay (Chen et al. 2025, ``cautious_decay=True``) gives
   a lower test error than plain AdamW, each at its own best cell of the same grid.
2. ``corrected``: with normalization layers and a schedule to zero, corrected decay
   (AdamC, Defazio 2025) keeps the gradient norm from rising at the end of training,
   without costing test error, against AdamW at the same lambda and learning rate.
3. ``timescale``: the best decay timescale in epochs stays about constant as the
   training set grows (Wang & Aitchison, ICML 2025).

Data needs no download: MNIST-1D made by the ``mnist1d`` package's local generator
(cached as ``mnist1d.npz``, git-ignored; its download helper is never called).

Models: an MLP with LayerNorm, in -> 64 -> LN -> ReLU -> 64 -> LN -> ReLU -> 10, so the two
hidden kernels are scale-invariant (what corrected decay is about). A whole grid is ONE
Keras model: each grid *cell* (a learning rate and a decay) is a set of layers named
``c00_*``, ``c01_*``, ..., whose learning rate is its ``lr_multipliers`` entry (base
learning rate 1) and whose decay its ``weight_decays`` entry, keyed by the cell's name
prefix (the replication's "member grid"). Inside a cell, ``replicates`` independent
networks are stacked along a leading axis of every variable (``StackedDense``,
``StackedLayerNorm``): Adam, Lion and both decays act element by element, so each one
trains exactly as it would alone, and replicate r starts from the same weights (its
seed's) in every cell and every model. The loss is the sum of the members' mean losses,
so each member gets exactly its own gradient. Every member of a model sees the same
batches, drawn from the model's data seed, so two models with the same data seed (the
arms of a paired comparison) see the same batches too.

Every optimizer here takes its decay in the PyTorch convention (``lr_scaled_decay=True``,
decay = lr * lambda * w per step at the schedule's peak) and is given it as a
``Timescale``: tau in epochs, the decay shrinking a weight by e over tau epochs at the
peak, i.e. lambda = 1 / (lr * tau_epochs * steps_per_epoch). Cosine annealing to zero
over the run (keras_adamw's schedule); decay on kernels only (not biases, not the
LayerNorms' gamma and beta).
"""

import argparse
import json
import math
import os
import pathlib
import re
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # GradNorms uses tf.GradientTape

import keras  # noqa: E402

from keras_adamw import AdamW, Timescale, decoupled  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "replication"))
from replicate import bootstrap_optima, ci, fitted_slope, paired  # noqa: E402

LionW = decoupled(keras.optimizers.Lion, name="LionW")

FULL = dict(
    mnist1d_samples=50000,     # the generator's 80/20 split: 40,000 + 10,000 (test)
    pool=32000, val=8000, test=10000,
    hidden=64, batch_size=128,
    n_train=8000, epochs=30,   # claims 1 and 2
    lrs={"adam": [0.01, 0.03, 0.1], "lion": [0.001, 0.003, 0.01]},
    taus=[0.25, 0.5, 1, 2, 4, 8, 16],   # decay timescales in epochs (claims 1 and 2)
    tune_replicates=4, seeds=20, lion=True,
    grad_batch=512, grad_records=100,
    sizes=[2000, 8000, 32000], ts_epochs=30, ts_grid=13, ts_replicates=8, ts_window=5,
    n_boot=1000)
QUICK = dict(
    FULL, mnist1d_samples=2500, pool=1200, val=800, test=500, hidden=8,
    n_train=600, epochs=2, lrs={"adam": [0.01], "lion": [0.001]}, taus=[1, 4],
    tune_replicates=2, seeds=3, grad_batch=128, grad_records=10,
    sizes=[300, 600, 1200], ts_epochs=2, ts_grid=5, ts_replicates=2, ts_window=3, n_boot=100)
#: the pilot: the full settings with fewer replicates and its own seeds (SEEDS + 900)
PILOT = dict(FULL, tune_replicates=2, seeds=4, ts_replicates=2, n_boot=200)

#: Initial-weight seeds of the replicates and data (batch order) seeds. Tuning, final
#: (paired) and timescale runs never share a seed; the pilot adds PILOT_OFFSET to all.
SEEDS = dict(tune=100, final=0, timescale=200)
PILOT_OFFSET = 900

ARMS = {  # name: (class, extra arguments)
    "adamw": (AdamW, {}),
    "cautious": (AdamW, dict(cautious_decay=True)),
    "adamc": (AdamW, dict(decay_follows_schedule=True, learning_rate_peak=1.0)),
    "lion": (LionW, {}),
    "lion_cautious": (LionW, dict(cautious_decay=True)),
}
LABELS = {"adamw": "AdamW", "cautious": "AdamW, cautious", "adamc": "AdamC (corrected)",
          "lion": "Lion", "lion_cautious": "Lion, cautious"}

# ------------------------------------------------------------------------- the rules
# Fixed and committed before the full run. Do not change them after seeing the results.
CONFIDENCE = 0.95
CAUTIOUS_MARGIN_PP = 0.5      # equivalence margin of the test-error difference
CORRECTED_ERROR_MARGIN_PP = 0.5   # non-inferiority margin of AdamC's test error
CORRECTED_RISE_MARGIN = 0.05  # "no meaningful change" of the rise (natural log, ~5%)
TAIL_FRACTION, SMOOTH_RECORDS = 0.1, 5
TIMESCALE_PREDICTED = {"epochs_constant": 0.0, "steps_constant": -1.0}

RULES = dict(
    cautious=(
        "d = test error (AdamW with cautious_decay) - test error (plain AdamW), in "
        "percentage points, paired by seed (20 seeds: the same initial weights and the "
        "same batches in both arms). Each arm at its own best cell of the same grid "
        "(learning rate 0.01, 0.03, 0.1 x decay timescale 0.25-16 epochs in x2 steps): "
        "the cell with the lowest mean validation error over 4 tuning replicates (seeds "
        "not among the 20), ties broken by the lower validation cross-entropy. 95% "
        "two-sided t interval of the mean of d. Checked in this order: holds = true if "
        "the interval lies entirely below 0; false if it lies entirely above 0, or "
        "entirely within the equivalence margin [-0.5, +0.5] pp; 'inconclusive' "
        "otherwise. Reported beside it, outside the rule: d with both arms at plain "
        "AdamW's best cell, and the same two comparisons for Lion."),
    corrected=(
        "AdamW (lr_scaled_decay=True, the PyTorch convention) and AdamC (the same plus "
        "decay_follows_schedule=True: decay lr_t * (lr_t / lr_max) * lambda * w) at plain "
        "AdamW's best cell of the claim-1 grid (the same lambda and learning rate), "
        "cosine annealing to zero, 20 paired seeds. The gradient norm is the global norm "
        "of each member's gradient of its mean loss on a fixed batch of 512 training "
        "examples, recorded every T/100 steps. Per seed and arm, rise = ln(mean gradient "
        "norm over the records in the last 10% of the T steps) - ln(minimum over all "
        "records of the gradient norm's 5-record moving average). r = rise(AdamC) - "
        "rise(AdamW) and e = test error(AdamC) - test error(AdamW) in percentage points, "
        "paired by seed; 95% two-sided t intervals of their means. Checked in this "
        "order: holds = true if the r interval lies entirely below 0 and the e "
        "interval's upper end is below +0.5 pp (non-inferiority); false if the r "
        "interval lies entirely above 0, or entirely within [-0.05, +0.05] (no "
        "meaningful change), or the e interval lies entirely above +0.5 pp; "
        "'inconclusive' otherwise."),
    timescale=(
        "b = least-squares slope of log2(best tau in epochs) against log2(training-set "
        "size N) over N = 2000, 8000, 32000, with 30 epochs at every size (so the steps "
        "grow with N), plain AdamW at its best learning rate of the claim-1 grid, and a "
        "13-point grid of tau in x sqrt(2) steps centred on its best tau there. Each "
        "size's best tau is the vertex of a quadratic in log2(tau) fitted to the mean "
        "validation error (8 replicates, 8000 validation examples) of the 5 grid cells "
        "around the best cell (the replication's fit_optimum: vertex clipped to those "
        "cells; the best cell if the fit is not convex). 95% interval: percentile "
        "bootstrap, 1000 draws, resampling replicates and validation examples jointly "
        "over sizes. A best tau in epochs that stays put (Wang & Aitchison) predicts "
        "b = 0; a best per-step decay that stays put predicts b = -1. holds = true if "
        "the interval contains 0 and excludes -1; false if it excludes 0; "
        "'inconclusive' if it contains both, or if the best cell of any size is at the "
        "edge of the grid."),
)


# -------------------------------------------------------------------------- data

def load_mnist1d(samples, cache):
    """MNIST-1D from the package's local generator (never its downloader), cached."""
    if cache.exists():
        return dict(np.load(cache))
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = samples
    data = make_dataset(args)  # generated here; nothing is downloaded
    d = {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}
    np.savez(cache, **d)
    return d


def split(d, cfg):
    """A training pool (the first ``pool`` examples: every training set is a prefix of
    it, so the smaller sets are nested in the larger), a validation split (the next
    ``val``), and a test split (the generator's own test examples)."""
    f = lambda a: np.asarray(a, dtype="float32")  # noqa: E731
    i = lambda a: np.asarray(a, dtype="int32")  # noqa: E731
    pool, val = cfg["pool"], cfg["val"]
    if len(d["x"]) < pool + val or len(d["x_test"]) < cfg["test"]:
        raise ValueError("not enough MNIST-1D examples for this configuration")
    return dict(x=f(d["x"][:pool]), y=i(d["y"][:pool]),
                x_val=f(d["x"][pool:pool + val]), y_val=i(d["y"][pool:pool + val]),
                x_test=f(d["x_test"][:cfg["test"]]), y_test=i(d["y_test"][:cfg["test"]]))


# ------------------------------------------------------------------------ models

class StackedDense(keras.layers.Layer):
    """``replicates`` independent Dense layers in one kernel (replicates, in, units) and
    one bias (replicates, units): (batch, in) or (batch, replicates, in) in, (batch,
    replicates, units) out. Kernels start Glorot-uniform per replicate (see
    ``init_replicates`` for the seeded, paired start)."""

    def __init__(self, units, replicates, **kwargs):
        super().__init__(**kwargs)
        self.units, self.replicates = units, replicates

    def build(self, input_shape):
        limit = math.sqrt(6.0 / (input_shape[-1] + self.units))
        self.kernel = self.add_weight(shape=(self.replicates, input_shape[-1], self.units),
                                      initializer=keras.initializers.RandomUniform(-limit, limit),
                                      name="kernel")
        self.bias = self.add_weight(shape=(self.replicates, self.units), initializer="zeros",
                                    name="bias")

    def call(self, x):
        spec = "bi,rio->bro" if len(x.shape) == 2 else "bri,rio->bro"
        return keras.ops.einsum(spec, x, self.kernel) + self.bias


class StackedLayerNorm(keras.layers.Layer):
    """LayerNormalization over the last axis, with its own gamma and beta per replicate
    (Keras' layer would share them between replicates). Epsilon 1e-3 as Keras'."""

    def __init__(self, replicates, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.replicates, self.epsilon = replicates, epsilon

    def build(self, input_shape):
        shape = (self.replicates, input_shape[-1])
        self.gamma = self.add_weight(shape=shape, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta")

    def call(self, x):
        mean = keras.ops.mean(x, axis=-1, keepdims=True)
        var = keras.ops.var(x, axis=-1, keepdims=True)
        return (x - mean) * keras.ops.rsqrt(var + self.epsilon) * self.gamma + self.beta


DENSE_LAYERS = ("dense1", "dense2", "out")


def member_model(cells, replicates, hidden, inputs=40, classes=10):
    """One model of ``cells`` x ``replicates`` independent MLPs with LayerNorm; cell c's
    layers are ``c{c:02d}_*``. Output (batch, cells * replicates, classes), member
    m = c * replicates + r."""
    inp = keras.Input((inputs,))
    outs = []
    for c in range(cells):
        h = inp
        for j in (1, 2):
            h = StackedDense(hidden, replicates, name=f"c{c:02d}_dense{j}")(h)
            h = StackedLayerNorm(replicates, name=f"c{c:02d}_norm{j}")(h)
            h = keras.layers.Activation("relu", name=f"c{c:02d}_relu{j}")(h)
        outs.append(StackedDense(classes, replicates, name=f"c{c:02d}_out")(h))
    out = outs[0] if cells == 1 else keras.layers.Concatenate(axis=1, name="members")(outs)
    return keras.Model(inp, out)


def init_replicates(model, seeds):
    """Replicate r's kernels Glorot-uniform from its seed ``seeds[r]`` alone, the same in
    every cell and every model: the pairing of seeds across cells, arms and sizes."""
    for layer in model.layers:
        if isinstance(layer, StackedDense):
            key = DENSE_LAYERS.index(layer.name.split("_", 1)[1])
            _, n_in, n_out = layer.kernel.shape
            limit = math.sqrt(6.0 / (n_in + n_out))
            layer.kernel.assign(np.stack([
                np.random.default_rng([seed, key]).uniform(-limit, limit, (n_in, n_out))
                for seed in seeds]).astype("float32"))


def cell_key(c):
    return re.compile(f"^c{c:02d}_")


def optimizer_for(arm, cells, steps_per_epoch, total_steps):
    """The arm's optimizer for cells [(lr, tau_epochs), ...]: base learning rate 1, the
    cell's lr as its multiplier, its decay as a Timescale in the PyTorch convention,
    cosine annealing to zero over the run, kernels only."""
    cls, extra = ARMS[arm]
    return cls(
        learning_rate=1.0,
        lr_multipliers={cell_key(c): lr for c, (lr, _) in enumerate(cells)},
        weight_decays={cell_key(c): Timescale(epochs=tau, steps_per_epoch=steps_per_epoch)
                       for c, (_, tau) in enumerate(cells)},
        lr_scaled_decay=True, exclude_from_weight_decay=["bias", "gamma", "beta"],
        use_cosine_annealing=True, total_iterations=total_steps, init_verbose=False, **extra)


def torch_lambda(lr, tau_epochs, steps_per_epoch):
    """The decay's lambda in the PyTorch convention (lr * lambda * w per step at the
    peak): 1 / (lr * tau in steps)."""
    return 1.0 / (lr * tau_epochs * steps_per_epoch)


def batches(x, y, members, epochs, batch_size, seed):
    """The batches of a whole run as one tf.data pipeline: a fresh permutation per epoch
    from ``seed`` (the last batch of an epoch may be short), labels repeated per
    member. The same seed gives the same batches in every model."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    order = np.stack([rng.permutation(len(x)) for _ in range(epochs)]).astype("int32")
    xs, ys = tf.constant(x), tf.constant(y)
    steps = epochs * math.ceil(len(x) / batch_size)
    return (tf.data.Dataset.from_tensor_slices(order)
            .flat_map(lambda o: tf.data.Dataset.from_tensor_slices(o).batch(batch_size))
            .map(lambda i: (tf.gather(xs, i),
                            tf.repeat(tf.gather(ys, i)[:, None], members, axis=1)))
            .apply(tf.data.experimental.assert_cardinality(steps))
            .prefetch(2))


class GradNorms(keras.callbacks.Callback):
    """Every ``every`` steps (and at the last), each member's global gradient norm (all
    its trainable variables) of its mean loss on a fixed batch; ``norms`` is a list of
    (cells, replicates) arrays, ``steps`` their step numbers. LayerNorm has no
    training-mode state, so measuring changes nothing in the model."""

    def __init__(self, x, y, cells, replicates, every, total):
        super().__init__()
        self.x, self.y = x, y
        self.cells, self.replicates, self.every, self.total = cells, replicates, every, total
        self.step, self.steps, self.norms, self._fn = 0, [], [], None

    def _make(self):
        import tensorflow as tf

        model, cells, reps = self.model, self.cells, self.replicates
        variables = list(model.trainable_variables)
        cell_of = [int(re.match(r"c(\d+)_", v.path).group(1)) for v in variables]
        x = tf.constant(self.x)
        y = tf.constant(np.repeat(self.y[:, None], cells * reps, axis=1))

        @tf.function
        def norms():
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                ce = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
                loss = tf.reduce_sum(tf.reduce_mean(ce, axis=0))  # sum of members' losses
            grads = tape.gradient(loss, variables)
            sq = [tf.reduce_sum(tf.square(g), axis=list(range(1, len(g.shape)))) for g in grads]
            return tf.sqrt(tf.stack([tf.add_n([s for s, c in zip(sq, cell_of) if c == k])
                                     for k in range(cells)]))

        return norms

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0 or self.step == self.total:
            if self._fn is None:
                self._fn = self._make()
            self.steps.append(self.step)
            self.norms.append(self._fn().numpy())


def summed_loss(members):
    """The sum over members of each member's mean cross-entropy."""
    def loss(y_true, logits):
        return members * keras.losses.sparse_categorical_crossentropy(
            y_true, logits, from_logits=True)
    return loss


def evaluate(model, x, y, cells, replicates):
    """Per member (cells, replicates): error rate, mean cross-entropy, and the
    (examples, cells, replicates) correctness matrix."""
    logits = np.concatenate([keras.ops.convert_to_numpy(model(x[i:i + 2048], training=False))
                             for i in range(0, len(x), 2048)]).astype("float64")
    correct = logits.argmax(-1) == y[:, None]
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    xent = -np.take_along_axis(logp, y[:, None, None].repeat(logp.shape[1], 1), -1)[..., 0]
    shape = (cells, replicates)
    return dict(error=(1 - correct.mean(0)).reshape(shape), xent=xent.mean(0).reshape(shape),
                correct=correct.reshape(len(y), *shape))


def train(arm, data, n_train, cells, seeds, data_seed, epochs, cfg, grad_norms=False):
    """Train one model of ``cells`` [(lr, tau_epochs), ...] x ``seeds`` (replicates) with
    the arm's optimizer on the first ``n_train`` training examples; validation and test
    results per member, and the gradient norms if asked."""
    start = time.time()
    keras.backend.clear_session()  # free the previous models
    keras.utils.set_random_seed(data_seed)
    x, y = data["x"][:n_train], data["y"][:n_train]
    n_cells, reps = len(cells), len(seeds)
    members = n_cells * reps
    steps_per_epoch = math.ceil(n_train / cfg["batch_size"])
    total = epochs * steps_per_epoch
    model = member_model(n_cells, reps, cfg["hidden"])
    init_replicates(model, seeds)
    model.compile(optimizer_for(arm, cells, steps_per_epoch, total), loss=summed_loss(members))
    callbacks = []
    if grad_norms:
        every = max(1, total // cfg["grad_records"])
        callbacks.append(GradNorms(x[:cfg["grad_batch"]], y[:cfg["grad_batch"]], n_cells, reps,
                                   every, total))
    model.fit(batches(x, y, members, epochs, cfg["batch_size"], data_seed), epochs=1,
              shuffle=False, verbose=0, callbacks=callbacks)
    out = dict(arm=arm, cells=[list(c) for c in cells], seeds=list(seeds), data_seed=data_seed,
               n_train=n_train, epochs=epochs, steps_per_epoch=steps_per_epoch, steps=total,
               val=evaluate(model, data["x_val"], data["y_val"], n_cells, reps),
               test=evaluate(model, data["x_test"], data["y_test"], n_cells, reps))
    if grad_norms:
        out["grad_steps"] = callbacks[0].steps
        out["grad_norms"] = np.stack(callbacks[0].norms, axis=-1)  # (cells, reps, records)
    out["seconds"] = time.time() - start
    print(f"  {LABELS[arm]}: {n_cells} cells x {reps} replicates, N={n_train}, "
          f"{total} steps ({out['seconds']:.0f} s)", flush=True)
    return out


# -------------------------------------------------------------------- statistics

def gradnorm_rise(norms, steps, total, tail=TAIL_FRACTION, smooth=SMOOTH_RECORDS):
    """The rise of a gradient-norm series (records along the last axis): ln(mean over
    the records in the last ``tail`` of the ``total`` steps) - ln(minimum over all
    records of the ``smooth``-record moving average)."""
    norms = np.asarray(norms, dtype=float)
    steps = np.asarray(steps)
    last = norms[..., steps > (1 - tail) * total].mean(-1)
    k = min(smooth, norms.shape[-1])
    windows = np.lib.stride_tricks.sliding_window_view(norms, k, axis=-1).mean(-1)
    return np.log(last) - np.log(windows.min(-1))


def t_interval(values):
    """Mean and 95% t interval (the replication's ``paired``), as floats."""
    mean, (low, high) = paired(values, CONFIDENCE)
    return float(mean), [float(low), float(high)]


def decide_cautious(ci_pp, margin=CAUTIOUS_MARGIN_PP):
    """RULES['cautious'] on the 95% interval of d (percentage points)."""
    low, high = ci_pp
    if high < 0:
        return True
    if low > 0 or (-margin <= low and high <= margin):
        return False
    return "inconclusive"


def decide_corrected(rise_ci, error_ci_pp, rise_margin=CORRECTED_RISE_MARGIN,
                     error_margin=CORRECTED_ERROR_MARGIN_PP):
    """RULES['corrected'] on the intervals of r (rise) and e (test error, pp)."""
    if rise_ci[1] < 0 and error_ci_pp[1] < error_margin:
        return True
    if (rise_ci[0] > 0 or (-rise_margin <= rise_ci[0] and rise_ci[1] <= rise_margin)
            or error_ci_pp[0] > error_margin):
        return False
    return "inconclusive"


def decide_timescale(ci, at_edge=False):
    """RULES['timescale'] on the 95% interval of the slope b."""
    low, high = ci
    has = {name: low <= b <= high for name, b in TIMESCALE_PREDICTED.items()}
    if at_edge or all(has.values()):
        return "inconclusive"
    return bool(has["epochs_constant"])


def outcome_words(holds):
    return {True: "lower with cautious decay", False: "not lower (higher or equivalent)",
            "inconclusive": "inconclusive"}[holds]


def analyse_timescale(correct, taus, sizes, steps_per_epoch, window, n_boot, seed):
    """Best tau per size (fitted vertex), the slope b and the decision, from validation
    correctness: ``correct[j]`` is (validation examples, grid cells, replicates) for size
    j. The bootstrap resamples validation examples and replicates jointly over sizes (as
    the replication's normalized-decay analysis)."""
    lx, ln = np.log2(taus), np.log2(sizes)
    opt, edges, draws = bootstrap_optima(correct, lx, window, n_boot, seed)
    slope, boot = float(fitted_slope(ln, opt)), fitted_slope(ln, draws)
    slope_ci = ci(boot)
    log_spe = np.log2(steps_per_epoch)
    slope_steps = float(fitted_slope(ln, opt + log_spe))
    per_size = [dict(
        n_train=int(n), steps_per_epoch=int(steps_per_epoch[j]),
        best_tau_epochs=float(2.0 ** opt[j]), best_tau_epochs_ci95=ci(2.0 ** draws[:, j]),
        best_tau_steps=float(2.0 ** opt[j] * steps_per_epoch[j]),
        best_tau_steps_ci95=ci(2.0 ** draws[:, j] * steps_per_epoch[j]),
        best_cell_at_grid_edge=bool(edges[j]),
        val_error=(1 - correct[j].mean(axis=(0, 2))).tolist(),
        val_error_per_replicate=(1 - correct[j].mean(axis=0)).T.tolist())
        for j, n in enumerate(sizes)]
    return dict(
        holds=decide_timescale(slope_ci, any(edges)), rule=RULES["timescale"],
        statistic="slope b of log2(best tau in epochs) against log2(training-set size); "
                  "0 if the best tau in epochs stays put, -1 if the best per-step decay does",
        value=slope, ci95=slope_ci,
        slope_tau_steps=slope_steps,
        slope_tau_steps_ci95=[float(np.percentile(fitted_slope(ln, draws + log_spe), q))
                              for q in (2.5, 97.5)],
        predicted=dict(TIMESCALE_PREDICTED), sizes=per_size,
        taus_epochs=[float(t) for t in taus], n_boot=n_boot)


# ------------------------------------------------------------------- experiments

def tune(arm, data, cfg, seeds):
    """The arm's grid (its learning rates x ``taus``) on the validation split: the mean
    validation error and cross-entropy over the tuning replicates per cell, and the
    best cell (lowest error, ties: lower cross-entropy)."""
    lrs = cfg["lrs"]["lion" if arm.startswith("lion") else "adam"]
    cells = [(lr, tau) for lr in lrs for tau in cfg["taus"]]
    run = train(arm, data, cfg["n_train"], cells, seeds["tune"], seeds["tune_data"],
                cfg["epochs"], cfg)
    err = run["val"]["error"].mean(1).reshape(len(lrs), len(cfg["taus"]))
    xent = run["val"]["xent"].mean(1).reshape(len(lrs), len(cfg["taus"]))
    a, b = min(np.ndindex(err.shape), key=lambda ab: (err[ab], xent[ab]))
    return dict(arm=arm, lrs=lrs, taus=cfg["taus"], val_error=err, val_xent=xent,
                best=dict(lr=lrs[a], tau_epochs=cfg["taus"][b], val_error=float(err[a, b]),
                          lambda_torch=torch_lambda(lrs[a], cfg["taus"][b],
                                                    run["steps_per_epoch"])),
                seconds=run["seconds"])


def final_runs(plain, other, data, cfg, seeds, grids, grad_norms):
    """Fresh paired seeds: ``plain`` at its best cell; ``other`` at plain's best cell and
    at its own (one model). Returns the two runs and the member index of each cell."""
    best_p = grids[plain]["best"]
    best_o = grids[other]["best"]
    cell_p = (best_p["lr"], best_p["tau_epochs"])
    cell_o = (best_o["lr"], best_o["tau_epochs"])
    other_cells = [cell_p] if cell_o == cell_p else [cell_p, cell_o]
    common = (data, cfg["n_train"])
    run_p = train(plain, *common, [cell_p], seeds["final"], seeds["final_data"], cfg["epochs"],
                  cfg, grad_norms=grad_norms)
    run_o = train(other, *common, other_cells, seeds["final"], seeds["final_data"],
                  cfg["epochs"], cfg, grad_norms=grad_norms)
    return run_p, run_o, other_cells.index(cell_o)


def comparison(test_a, test_b, label, settings):
    """Paired difference of test errors a - b (percentage points) under the cautious
    rule's wording."""
    d = 100 * (np.asarray(test_a) - np.asarray(test_b))
    mean, ci = t_interval(d)
    holds = decide_cautious(ci)
    return dict(statistic=f"mean paired test-error difference {label}, percentage points",
                value=mean, ci95=ci, holds=holds, outcome=outcome_words(holds),
                n_seeds=int(len(d)), wins=int((d < 0).sum()), ties=int((d == 0).sum()),
                losses=int((d > 0).sum()), per_seed_difference=d.tolist(),
                test_error_pp=dict(first=float(100 * np.mean(test_a)),
                                   second=float(100 * np.mean(test_b))),
                settings=settings)


def claim_cautious(grids, runs, lion_runs):
    """Claim 1 from the grids and the final runs (rule: AdamW, each at its own best)."""
    def pair(plain, other, run_p, run_o, own):
        test_p = run_p["test"]["error"][0]
        settings = {LABELS[plain]: grids[plain]["best"], LABELS[other]: grids[other]["best"]}
        return (comparison(run_o["test"]["error"][own], test_p,
                           f"({LABELS[other]} at its best) - ({LABELS[plain]} at its best)",
                           settings),
                comparison(run_o["test"]["error"][0], test_p,
                           f"({LABELS[other]}) - ({LABELS[plain]}), both at "
                           f"{LABELS[plain]}'s best cell", settings))

    own, same = pair("adamw", "cautious", *runs)
    result = dict(own, rule=RULES["cautious"], margin_pp=CAUTIOUS_MARGIN_PP,
                  same_cell=same)
    if lion_runs:
        lion_own, lion_same = pair("lion", "lion_cautious", *lion_runs)
        result["lion"] = dict(own_best=lion_own, same_cell=lion_same,
                              note="outside the rule: the same comparisons for Lion")
    return result


def claim_corrected(grids, run_w, run_c):
    """Claim 2 from AdamW's and AdamC's final runs at AdamW's best cell."""
    rise_w = gradnorm_rise(run_w["grad_norms"][0], run_w["grad_steps"], run_w["steps"])
    rise_c = gradnorm_rise(run_c["grad_norms"][0], run_c["grad_steps"], run_c["steps"])
    r_mean, r_ci = t_interval(rise_c - rise_w)
    e = 100 * (run_c["test"]["error"][0] - run_w["test"]["error"][0])
    e_mean, e_ci = t_interval(e)
    w_mean, w_ci = t_interval(rise_w)
    c_mean, c_ci = t_interval(rise_c)
    return dict(
        holds=decide_corrected(r_ci, e_ci), rule=RULES["corrected"],
        statistic="mean paired difference of the gradient-norm rise, rise(AdamC) - "
                  "rise(AdamW), natural log",
        value=r_mean, ci95=r_ci,
        test_error_difference=dict(statistic="mean paired test-error difference AdamC - "
                                             "AdamW, percentage points",
                                   value=e_mean, ci95=e_ci, per_seed=e.tolist()),
        rise=dict(adamw=dict(mean=w_mean, ci95=w_ci, per_seed=rise_w.tolist()),
                  adamc=dict(mean=c_mean, ci95=c_ci, per_seed=rise_c.tolist())),
        test_error_pp=dict(adamw=float(100 * run_w["test"]["error"][0].mean()),
                           adamc=float(100 * run_c["test"]["error"][0].mean())),
        margins=dict(error_pp=CORRECTED_ERROR_MARGIN_PP, rise=CORRECTED_RISE_MARGIN),
        n_seeds=int(len(rise_w)),
        settings=dict(grids["adamw"]["best"], note="AdamW's best cell of the claim-1 grid"),
        grad_steps=list(map(int, run_w["grad_steps"])), total_steps=int(run_w["steps"]),
        grad_norms=dict(adamw=run_w["grad_norms"][0].tolist(),
                        adamc=run_c["grad_norms"][0].tolist()))


def claim_timescale(data, cfg, seeds, lr, centre):
    """Claim 3: plain AdamW at ``lr`` on a x sqrt(2) grid of tau (epochs) centred on
    ``centre``, at every training-set size, ``ts_epochs`` epochs each."""
    k = cfg["ts_grid"]
    taus = [centre * math.sqrt(2.0) ** (i - k // 2) for i in range(k)]
    correct, spe, seconds = [], [], 0.0
    for n in cfg["sizes"]:
        run = train("adamw", data, n, [(lr, t) for t in taus], seeds["timescale"],
                    seeds["timescale_data"], cfg["ts_epochs"], cfg)
        correct.append(run["val"]["correct"])
        spe.append(run["steps_per_epoch"])
        seconds += run["seconds"]
    result = analyse_timescale(correct, taus, cfg["sizes"], np.asarray(spe), cfg["ts_window"],
                               cfg["n_boot"], seed=seeds["timescale"])
    result.update(n_seeds=len(seeds["timescale"]), seconds=seconds, settings=dict(
        optimizer="AdamW (lr_scaled_decay=True, Timescale)", lr=lr, grid_centre_epochs=centre,
        grid_step="x sqrt(2)", grid_size=k, replicates=len(seeds["timescale"]),
        epochs=cfg["ts_epochs"], fit_window=cfg["ts_window"],
        selection="validation error (mean over replicates)",
        epochs_fixed="the same number of epochs at every size, so the steps grow with N"))
    return result


def seeds_for(cfg, offset=0):
    """The replicates' and batches' seeds of each stage (offset: the pilot's)."""
    block = lambda start, n: [offset + start + i for i in range(n)]  # noqa: E731
    return dict(tune=block(SEEDS["tune"], cfg["tune_replicates"]),
                tune_data=offset + SEEDS["tune"],
                final=block(SEEDS["final"], cfg["seeds"]), final_data=offset + SEEDS["final"],
                timescale=block(SEEDS["timescale"], cfg["ts_replicates"]),
                timescale_data=offset + SEEDS["timescale"])


# ---------------------------------------------------------------------- figures

QUICK_LABEL = "QUICK SMOKE RUN (tiny settings): not the experiment's results"
PILOT_LABEL = "PILOT (own seeds, few replicates): not the experiment's results"


def _label(fig, note):
    if note:
        fig.suptitle(note, color="red", fontsize=11, fontweight="bold")
        fig.tight_layout(rect=(0, 0, 1, 0.92))


def _interval_rows(ax, rows):
    """Per-seed dots with each row's mean and 95% interval, rows top to bottom."""
    for y, (label, c) in enumerate(rows):
        d = np.asarray(c["per_seed_difference"] if "per_seed_difference" in c else c["per_seed"])
        jitter = np.random.default_rng(y).uniform(-0.15, 0.15, len(d))
        ax.scatter(d, y + jitter, alpha=0.45, s=12)
        ax.errorbar(c["value"], y, xerr=[[c["value"] - c["ci95"][0]], [c["ci95"][1] - c["value"]]],
                    fmt="o", color="k", capsize=4, zorder=3)
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()


def figure_cautious(results, plt):
    claim, grids = results["claims"]["cautious"], results["grids"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.4))
    ax = axes[0]
    for arm, style in (("adamw", "o-"), ("cautious", "s--"), ("lion", "o-"),
                       ("lion_cautious", "s--")):
        if arm not in grids:
            continue
        g = grids[arm]
        row = g["lrs"].index(g["best"]["lr"])
        ax.plot(g["taus"], 100 * np.asarray(g["val_error"])[row], style,
                label=f"{LABELS[arm]} (lr {g['best']['lr']:g})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("decay timescale tau (epochs at the peak)")
    ax.set_ylabel("validation error % (tuning replicates' mean)")
    ax.set_title("Tuning grid at each arm's best learning rate")
    ax.legend(fontsize=8)
    rows = [(f"rule: cautious - plain, own best\n{claim['value']:+.2f} "
             f"[{claim['ci95'][0]:+.2f}, {claim['ci95'][1]:+.2f}]", claim),
            ("cautious - plain, plain's cell", claim["same_cell"])]
    if "lion" in claim:
        rows += [("Lion: cautious - plain, own best", claim["lion"]["own_best"]),
                 ("Lion: cautious - plain, plain's cell", claim["lion"]["same_cell"])]
    _interval_rows(axes[1], rows)
    m = claim["margin_pp"]
    axes[1].axvspan(-m, m, color="grey", alpha=0.12, label=f"equivalence margin +-{m:g} pp")
    axes[1].legend(fontsize=8)
    axes[1].set_xlabel("test error difference, pp (per seed; mean and 95% t CI)")
    axes[1].set_title(f"Claim 1, cautious decay: holds = {claim['holds']}")
    fig.tight_layout()
    return fig


def figure_corrected(results, plt):
    claim = results["claims"]["corrected"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    steps, total = np.asarray(claim["grad_steps"]), claim["total_steps"]
    ax = axes[0]
    for arm, color in (("adamw", "C0"), ("adamc", "C3")):
        g = np.asarray(claim["grad_norms"][arm])  # (seeds, records)
        for row in g:
            ax.plot(steps, row, color=color, alpha=0.12, lw=0.7)
        ax.plot(steps, np.exp(np.log(g).mean(0)), color=color, lw=2,
                label=f"{LABELS[arm]} (geometric mean)")
    ax.axvspan((1 - TAIL_FRACTION) * total, total, color="grey", alpha=0.15,
               label="last 10% of steps")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("gradient norm (fixed batch)")
    ax.set_title("Gradient norm, cosine schedule to zero")
    ax.legend(fontsize=8)
    ax = axes[1]
    _interval_rows(ax, [("AdamW rise", claim["rise"]["adamw"] | dict(
                        value=claim["rise"]["adamw"]["mean"])),
                        ("AdamC rise", claim["rise"]["adamc"] | dict(
                            value=claim["rise"]["adamc"]["mean"])),
                        ("rule: r = AdamC - AdamW", dict(
                            per_seed=np.subtract(claim["rise"]["adamc"]["per_seed"],
                                                 claim["rise"]["adamw"]["per_seed"]),
                            value=claim["value"], ci95=claim["ci95"]))])
    ax.set_xlabel("rise = ln(last 10% mean / smoothed minimum)")
    ax.set_title(f"Claim 2, corrected decay: holds = {claim['holds']}")
    ax = axes[2]
    e = claim["test_error_difference"]
    _interval_rows(ax, [(f"rule: e = AdamC - AdamW\n{e['value']:+.2f} "
                         f"[{e['ci95'][0]:+.2f}, {e['ci95'][1]:+.2f}]", e)])
    ax.axvline(claim["margins"]["error_pp"], color="r", lw=1, ls="--",
               label="non-inferiority margin")
    ax.legend(fontsize=8)
    ax.set_xlabel("test error difference, pp")
    ax.set_title("Test error, paired by seed")
    fig.tight_layout()
    return fig


def figure_timescale(results, plt):
    claim = results["claims"]["timescale"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.4))
    taus = np.asarray(claim["taus_epochs"])
    window = claim["settings"]["fit_window"]
    ax = axes[0]
    for row in claim["sizes"]:
        err = 100 * np.asarray(row["val_error"])
        line, = ax.plot(taus, err, "o-", ms=3, lw=1, label=f"N = {row['n_train']}")
        best = int(err.argmin())
        w = min(window, len(taus))
        lo = min(max(best - w // 2, 0), len(taus) - w)
        if w >= 3:
            xs = np.log2(taus[lo:lo + w])
            fine = np.linspace(xs[0], xs[-1], 50)
            ax.plot(2 ** fine, np.polyval(np.polyfit(xs, err[lo:lo + w], 2), fine), "--",
                    color=line.get_color())
        ax.axvline(row["best_tau_epochs"], color=line.get_color(), lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("decay timescale tau (epochs)")
    ax.set_ylabel("validation error % (replicates' mean)")
    ax.set_title("AdamW, same epochs at every size; quadratic fits (dashed)")
    ax.legend(fontsize=8)
    ax = axes[1]
    n = np.asarray([r["n_train"] for r in claim["sizes"]], dtype=float)
    best = np.asarray([r["best_tau_epochs"] for r in claim["sizes"]])
    ci = np.asarray([r["best_tau_epochs_ci95"] for r in claim["sizes"]])
    ax.errorbar(n, best, yerr=[best - ci[:, 0], ci[:, 1] - best], fmt="ko", capsize=4,
                label="fitted optimum, 95% CI")
    fine = np.geomspace(n[0] / 1.3, n[-1] * 1.3, 20)
    mean_ln, mean_lb = np.log2(n).mean(), np.log2(best).mean()
    for b, style, name in ((0.0, "b-", "tau in epochs constant"),
                           (-1.0, "r-", "per-step decay constant"),
                           (claim["value"], "k--", "fitted")):
        ax.plot(fine, 2 ** (mean_lb + b * (np.log2(fine) - mean_ln)), style, lw=1,
                label=f"{name}: slope {b:+.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(n, [f"{int(v)}" for v in n])
    ax.set_xticks([], minor=True)
    ax.set_xlabel("training-set size N")
    ax.set_ylabel("best tau (epochs)")
    lo, hi = claim["ci95"]
    ax.set_title(f"Claim 3: slope {claim['value']:+.2f} [{lo:+.2f}, {hi:+.2f}], "
                 f"holds = {claim['holds']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def figures(out, results):
    """fig_cautious.png, fig_corrected.png, fig_timescale.png from a results dict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    note = results.get("note")
    for name, draw in (("cautious", figure_cautious), ("corrected", figure_corrected),
                       ("timescale", figure_timescale)):
        fig = draw(results, plt)
        _label(fig, note)
        fig.savefig(out / f"fig_{name}.png", dpi=100)
        plt.close(fig)


# -------------------------------------------------------------------------- main

def output_dir(mode, out=None):
    """``out`` if given, else next to this file (full run: the committed results) or the
    git-ignored ``quick/`` or ``pilot/`` folder."""
    if out is not None:
        return pathlib.Path(out)
    return HERE if mode == "full" else HERE / mode


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


def run_experiment(data, cfg, seeds, log=print):
    """All three claims; returns (claims, grids, timings)."""
    timings, start = {}, time.time()
    arms = ["adamw", "cautious"] + (["lion", "lion_cautious"] if cfg["lion"] else [])
    log("tuning grids (validation split)", flush=True)
    grids = {arm: tune(arm, data, cfg, seeds) for arm in arms}
    for arm, g in grids.items():
        log(f"  {LABELS[arm]} best: lr {g['best']['lr']:g}, tau {g['best']['tau_epochs']:g} "
            f"epochs, val error {100 * g['best']['val_error']:.2f}%", flush=True)
    timings["tuning"] = time.time() - start
    log("final paired seeds (test split)", flush=True)
    t = time.time()
    run_w, run_cautious, own = final_runs("adamw", "cautious", data, cfg, seeds, grids, True)
    best = (grids["adamw"]["best"]["lr"], grids["adamw"]["best"]["tau_epochs"])
    run_c = train("adamc", data, cfg["n_train"], [best], seeds["final"], seeds["final_data"],
                  cfg["epochs"], cfg, grad_norms=True)
    lion_runs = (final_runs("lion", "lion_cautious", data, cfg, seeds, grids, False)
                 if cfg["lion"] else None)
    timings["final"] = time.time() - t
    claims = dict(cautious=claim_cautious(grids, (run_w, run_cautious, own), lion_runs),
                  corrected=claim_corrected(grids, run_w, run_c))
    log("timescale against training-set size", flush=True)
    t = time.time()
    claims["timescale"] = claim_timescale(data, cfg, seeds, *best)
    timings["timescale"] = time.time() - t
    return claims, grids, timings


def main(mode="full", out=None, cfg=None):
    """Run everything in ``mode`` ("full", "quick" or "pilot"), write results.json and
    the figures to ``out`` (default: ``output_dir(mode)``), return the results. ``cfg``
    replaces the mode's settings (the tests' tiny run)."""
    cfg = dict(cfg or dict(full=FULL, quick=QUICK, pilot=PILOT)[mode])
    out = output_dir(mode, out)
    out.mkdir(parents=True, exist_ok=True)
    note = dict(full=None, quick=QUICK_LABEL, pilot=PILOT_LABEL)[mode]
    if note:
        print(f"{note}; writing to {out}", flush=True)
    start = time.time()
    cache = out / ("mnist1d_quick.npz" if mode == "quick" else "mnist1d.npz")
    if mode == "pilot" and not cache.exists() and (HERE / "mnist1d.npz").exists():
        cache = HERE / "mnist1d.npz"  # the same data as the full run's
    data = split(load_mnist1d(cfg["mnist1d_samples"], cache), cfg)
    seeds = seeds_for(cfg, PILOT_OFFSET if mode == "pilot" else 0)
    claims, grids, timings = run_experiment(data, cfg, seeds)
    results = dict(
        claims=claims,
        summary={name: dict(holds=c["holds"], value=c["value"], ci95=c["ci95"])
                 for name, c in claims.items()},
        grids={arm: {k: v for k, v in g.items()} for arm, g in grids.items()},
        config=dict(cfg, mode=mode, quick=mode == "quick", seeds=seeds,
                    data="MNIST-1D (mnist1d local generator): training sets are prefixes "
                         "of a 32,000-example pool, 8,000 validation, 10,000 test",
                    model=f"MLP in-{cfg['hidden']}-LN-ReLU-{cfg['hidden']}-LN-ReLU-10",
                    optimizers="keras_adamw AdamW / decoupled(Lion), lr_scaled_decay=True, "
                               "decay as Timescale(epochs=tau), cosine annealing to zero "
                               "over the run, kernels only"),
        timings=dict(timings, total=time.time() - start),
        versions=dict(keras=keras.__version__, backend=keras.backend.backend()))
    if note:
        results = dict(note=note, **results)
    results = _jsonable(results)
    with open(out / "results.json", "w") as f:
        json.dump(results, f, indent=1)
    figures(out, results)
    for name, c in claims.items():
        print(f"{name:10s} holds={c['holds']}: {c['value']:+.3f}, 95% CI "
              f"[{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]", flush=True)
    print(f"wrote {out / 'results.json'} ({time.time() - start:.0f} s)"
          + (f" -- {mode} run" if note else ""), flush=True)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="tiny smoke run, into example/modern_decay/quick/ (git-ignored)")
    mode.add_argument("--pilot", action="store_true",
                      help="the pilot (full settings, its own seeds, few replicates), into "
                           "example/modern_decay/pilot/ (git-ignored)")
    parser.add_argument("--out", default=None, help="output folder (default: see output_dir)")
    parser.add_argument("--figures-only", action="store_true",
                        help="redraw the figures from OUT/results.json")
    args = parser.parse_args()
    chosen = "quick" if args.quick else "pilot" if args.pilot else "full"
    if args.figures_only:
        folder = output_dir(chosen, args.out)
        figures(folder, json.loads((folder / "results.json").read_text()))
    else:
        main(chosen, args.out)
