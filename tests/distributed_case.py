"""Training under tf.distribute, run as its own process by test_distributed.py.

    python distributed_case.py mirrored OUT.npz    # 1 device, then 2 logical CPUs
    python distributed_case.py worker OUT.npz      # one MultiWorkerMirrored worker
                                                   # (TF_CONFIG set by the caller),
                                                   # custom training loop

Full-batch steps (16 samples, batch 16), so every strategy sees the same global
batch at every step whatever the sharding; 12 steps cross two warm restarts.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

mode, out = sys.argv[1], sys.argv[2]
if mode == "mirrored":
    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

import keras  # noqa: E402

from keras_adamw import AdamW, SGDW  # noqa: E402

STEPS = 12


def data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 5)).astype("float32")
    return x, (x[:, :1] - 0.5 * x[:, 1:2]).astype("float32")


def train(strategy, cls):
    rng = np.random.default_rng(4)
    with strategy.scope():
        inp = keras.Input((5,))
        h = keras.layers.Dense(6, activation="tanh", name="hidden",
                               kernel_regularizer=keras.regularizers.L2(0.05))(inp)
        out_ = keras.layers.Dense(1, name="out")(h)
        model = keras.Model(inp, out_)
        for v in model.trainable_variables:
            v.assign(rng.normal(scale=0.5, size=v.shape).astype("float32"))
        kwargs = dict(model=model, use_cosine_annealing=True, total_iterations=3, t_mult=2,
                      lr_multipliers={"out": 0.5}, weight_decays={"out/kernel": (1e-3, 0.02)},
                      init_verbose=False)
        if cls == "adamw_sp":  # decay toward w0 on the hidden layer, following a schedule
            kwargs["weight_decays"] = {"out/kernel": (1e-3, 0.02), "hidden": 0.05}
            schedule = keras.optimizers.schedules.CosineDecay(
                0.0, 8, warmup_target=1e-2, warmup_steps=4)
            opt = AdamW(learning_rate=schedule, decay_toward={"hidden": "initial"},
                        decay_follows_schedule=True, **kwargs)
        elif cls == "adamw":
            opt = AdamW(learning_rate=1e-2, **kwargs)
        else:
            opt = SGDW(learning_rate=5e-2, momentum=0.9, **kwargs)
        model.compile(opt, loss="mse")
    x, y = data()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).repeat()
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        custom_loop(strategy, model, opt, dataset)
    else:
        model.fit(dataset, steps_per_epoch=1, epochs=STEPS, verbose=0)
    result = {f"{cls}|{v.path}": v.numpy() for v in model.trainable_variables}
    result[f"{cls}|t_cur"] = np.array(int(opt.t_cur.numpy()))
    result[f"{cls}|iterations"] = np.array(int(opt.iterations.numpy()))
    result[f"{cls}|replicas"] = np.array(strategy.num_replicas_in_sync)
    return result


def custom_loop(strategy, model, opt, dataset):
    """Keras 3's model.fit does not run under MultiWorkerMirroredStrategy
    (keras-team/keras#20585), so the workers train with the usual custom loop:
    per-replica loss / global batch, optimizer.apply_gradients in replica context."""
    iterator = iter(strategy.experimental_distribute_dataset(dataset))

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(x, training=True) - y)) / 16.0
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))

    @tf.function
    def step():
        strategy.run(replica_step, args=next(iterator))

    for _ in range(STEPS):
        step()


results = {}
if mode == "mirrored":
    for cls in ("adamw", "sgdw", "adamw_sp"):
        for prefix, strategy in (("one", tf.distribute.get_strategy()),
                                 ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
            results.update({f"{prefix}|{k}": v for k, v in train(strategy, cls).items()})
else:
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    results.update({f"two|{k}": v for k, v in train(strategy, "adamw").items()})
np.savez(out, **results)
print("DONE", mode)
