"""How key resolution scales (issue 19, item 4): matching and layer-wise decay time
against the number of variables and of keys.

    python benchmarks/plan_scale.py            # model-free cases, then the model cases
    python benchmarks/plan_scale.py --no-model # the model-free cases only (seconds)

Model-free cases: just paths and keys, timed through ``matching.Matcher`` as the
optimizer's build uses it (one ``find`` per path for the multipliers and the decays,
one ``matches`` per path for the exclusions, then ``require_all_matched`` and
``warn_never_applied`` for the multipliers and the decays):

* "400 blocks": 10,404 variables (2 embeddings, 400 blocks of 26, a head of 2) and
  402 keys (400 block names, 2 exact-path regular expressions as
  ``layerwise_lr_multipliers`` writes them);
* "8,000 before 3 blocks": 8,008 variables, 8,000 of them before three top blocks,
  and the 8,003 keys ``layerwise_lr_multipliers`` gives for them (an exact-path
  regular expression for each of the 8,000, the 3 block names);
* the same two with 4x the variables, to show how it grows.

Model case (Keras, random weights, the backend of ``KERAS_BACKEND``): the second case
as a real model (a stem layer with 8,000 weights, three Dense blocks, a Dense head):
``layerwise_lr_multipliers``, then ``AdamW(lr_multipliers=...)`` construction and
``build``, next to Keras' own ``Adam().build`` on the same variables (creating the
slot variables, which no key resolution can make faster).

Each time is the best of ``--repeat`` runs (default 3), in seconds.

Results on the 2-core development machine, TensorFlow 2.21, Keras 3.15.1 (the model
build varies with the machine's load by 2x between runs; compare within a row):

| case (variables / keys) | before (scan of the keys) | after (index) |
|---|---:|---:|
| 400 blocks (10,404 / 402) | 19.0 | 0.13 |
| 1,600 blocks (41,604 / 1,602) | not run (~16x) | 0.58 |
| 8,000 before 3 blocks (8,008 / 8,003) | 40.6 | 0.16 |
| 32,000 before 3 blocks (32,008 / 32,003) | not run (~16x) | 0.79 |
| model: layerwise_lr_multipliers | 3.6 | 0.31 |
| model: AdamW construction + build / Keras Adam build | 55.3 / 27.1 | 32.2 / 31.2 |
"""

import argparse
import os
import re
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from keras_adamw import matching  # noqa: E402

EXCLUDE = ["bias", "layer_norm", "embeddings"]


def _exact(path):
    return re.compile("^" + re.escape(path) + "$")


def blocks_case(n_blocks=400, per_block=26):
    """Paths of a 2 + n_blocks * per_block + 2 variable model, and its layer-wise keys."""
    paths = ["token_embedding/embeddings", "position_embedding/embeddings"]
    for b in range(n_blocks):
        for k in range(per_block // 2):
            paths += [f"block_{b}/sub_{k}/kernel", f"block_{b}/sub_{k}/bias"]
    paths += ["head/kernel", "head/bias"]
    keys = {f"block_{b}": 0.9 ** (n_blocks - b) for b in range(n_blocks)}
    keys.update({_exact(p): 0.9 ** (n_blocks + 1) for p in paths[:2]})
    return paths, keys


def stem_case(n_stem=8000, n_blocks=3):
    """n_stem variables before n_blocks Dense blocks and a head, and the keys
    ``layerwise_lr_multipliers`` gives: an exact-path expression per stem variable."""
    paths = [f"stem/w_{i}" for i in range(n_stem)]
    for b in range(n_blocks):
        paths += [f"block_{b}/kernel", f"block_{b}/bias"]
    paths += ["head/kernel", "head/bias"]
    keys = {_exact(p): 0.5 ** (n_blocks + 1) for p in paths[:n_stem]}
    keys.update({f"block_{b}": 0.5 ** (n_blocks - b) for b in range(n_blocks)})
    return paths, keys


def resolve(paths, multipliers):
    """What the optimizer's build does with the keys: settings, then the checks."""
    decays = {"kernel": (0.0, 1e-2)}
    mus, excludes, user = (matching.Matcher(multipliers), matching.Matcher(EXCLUDE),
                           matching.Matcher(decays))
    for path in paths:
        mus.find(path)
        excludes.matches(path)
        user.find(path)
    mus.require_all_matched("lr_multipliers", paths)
    user.require_all_matched("weight_decays", paths)
    mus.warn_never_applied("lr_multipliers", paths)
    user.warn_never_applied("weight_decays", paths)


def best_of(repeat, fn, *args):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def model_case(n_stem, repeat):
    import keras

    from keras_adamw import AdamW, layerwise_lr_multipliers

    class Stem(keras.layers.Layer):
        def build(self, shape):
            self.ws = [self.add_weight(shape=(1,), name=f"w_{i}") for i in range(n_stem)]

        def call(self, x):
            return x + sum(w[0] for w in self.ws[:1])

    start = time.perf_counter()
    inp = keras.Input((4,))
    x = Stem(name="stem")(inp)
    blocks = []
    for b in range(3):
        layer = keras.layers.Dense(4, name=f"block_{b}")
        blocks.append(layer)
        x = layer(x)
    model = keras.Model(inp, keras.layers.Dense(1, name="head")(x))
    built = time.perf_counter() - start
    table = layerwise_lr_multipliers(model, 0.5, blocks=blocks)
    t_layerwise = best_of(repeat, layerwise_lr_multipliers, model, 0.5, blocks)

    def optimizer():
        opt = AdamW(lr_multipliers=table, init_verbose=False)
        opt.build(model.trainable_variables)

    def keras_adam():
        keras.optimizers.Adam().build(model.trainable_variables)

    t_opt = best_of(1, optimizer)
    t_keras = best_of(1, keras_adam)
    return dict(variables=len(model.trainable_variables), keys=len(table), model_build=built,
                layerwise=t_layerwise, adamw_build=t_opt, keras_build=t_keras)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-model", action="store_true", help="skip the Keras model cases")
    parser.add_argument("--stem", type=int, default=8000, help="stem variables of the model case")
    parser.add_argument("--no-4x", action="store_true",
                        help="skip the 4x cases (minutes each where resolution is quadratic)")
    args = parser.parse_args()

    cases = [("400 blocks", blocks_case()), ("1,600 blocks (4x)", blocks_case(1600)),
             ("8,000 before 3 blocks", stem_case()),
             ("32,000 before 3 blocks (4x)", stem_case(32000))]
    if args.no_4x:
        cases = [case for case in cases if "4x" not in case[0]]
    print("| case | variables | keys | resolve (s) |")
    print("|---|---:|---:|---:|")
    for name, (paths, keys) in cases:
        t = best_of(args.repeat, resolve, paths, keys)
        print(f"| {name} | {len(paths):,} | {len(keys):,} | {t:.3f} |", flush=True)
    if args.no_model:
        return
    import keras

    row = model_case(args.stem, args.repeat)
    print()
    print("| model | variables | keys | model build (s) | layerwise_lr_multipliers (s) "
          "| AdamW construction + build (s) | keras Adam build (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| stem of {args.stem:,} + 3 blocks, {keras.backend.backend()} | "
          f"{row['variables']:,} | {row['keys']:,} | {row['model_build']:.2f} | "
          f"{row['layerwise']:.3f} | {row['adamw_build']:.2f} | {row['keras_build']:.2f} |")


if __name__ == "__main__":
    main()
