"""The fine-tuning experiment keeps working: its smallest unit (pretrain, then one
seed of every arm) runs on tiny data and gives finite errors, decay toward the
pretrained weights keeps the backbone near them, and the rule decides as written."""

import math
import pathlib
import sys

import numpy as np
import pytest

for module in ("mnist1d", "scipy"):
    pytest.importorskip(module, reason="the fine-tuning experiment needs the 'example' extra")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "example" / "finetune"))
import finetune  # noqa: E402

TINY = dict(finetune.QUICK, mnist1d_samples=500, width=4, pretrain_epochs=1, labelled=60,
            epochs=2, seeds=1, lrs=[3e-3], decays=[0.1, 3.0])


def test_one_seed_of_every_arm_gives_finite_errors(tmp_path):
    data = finetune.tasks(finetune.load_mnist1d(500, tmp_path / "tiny.npz"), TINY)
    pre = finetune.pretrain(data, TINY, tmp_path)
    weights = finetune.load_pretrained(TINY, pre["path"])
    assert set(weights) == {"pre_bb1", "pre_bb2", "pre_bb3"}
    for name, w in pre["weights"].items():  # the saved file holds what was trained
        for a, b in zip(w, weights[name]):
            np.testing.assert_array_equal(a, b)
    split = finetune.task_b_split(data, TINY, seed=0)
    assert len(split["y"]) + len(split["y_val"]) == TINY["labelled"]
    run = finetune.run_seed(split, weights, TINY, seed=0)
    assert set(run["chosen"]) == set(TINY["arms"])
    assert len(run["grid"]) == len(finetune.members_for(TINY, TINY["arms"])) == 2 + 2 + 1 + 1
    for row in run["grid"] + list(run["chosen"].values()):
        assert math.isfinite(row["test_error"]) and 0 <= row["test_error"] <= 1
        assert math.isfinite(row["val_error"])
    analysis = finetune.analyse([run], TINY["arms"], n_boot=50)
    assert set(analysis["comparisons"]) == {"pretrained-zero", "pretrained-none", "zero-none",
                                            "none-scratch"}
    assert analysis["rule"] == finetune.RULE


def test_decay_toward_initial_keeps_the_backbone_at_the_pretrained_weights():
    """With a learning rate of ~0 only the decay moves the weights: toward zero it
    shrinks the backbone, toward the pretrained weights it leaves it where it was."""
    cfg = dict(TINY, epochs=1)
    members = [dict(arm="zero", lr=1e-12, decay=1.0), dict(arm="pretrained", lr=1e-12, decay=1.0)]
    model = finetune.member_model(cfg, 2, 5)
    w0 = model.get_layer("m000_bb1").get_weights()[0]
    model.get_layer("m001_bb1").set_weights(model.get_layer("m000_bb1").get_weights())
    model.compile(finetune.optimizer_for(members, cfg, steps=4),
                  loss=lambda y, p: keras_loss(y, p))
    model.optimizer.build(model.trainable_variables)  # as run_seed does
    x = np.random.default_rng(0).normal(size=(8, 40)).astype("float32")
    model.fit(x, np.zeros((8, 2), "int32"), batch_size=4, epochs=1, verbose=0)
    shrunk = model.get_layer("m000_bb1").get_weights()[0]
    kept = model.get_layer("m001_bb1").get_weights()[0]
    assert np.abs(shrunk).max() < 0.8 * np.abs(w0).max()
    np.testing.assert_allclose(kept, w0, atol=1e-6)


def test_decay_toward_initial_when_fit_builds_the_optimizer():
    """keras_adamw before 95f38d2 (TensorFlow): an optimizer first built by fit(), inside
    the traced step, kept w0 = 0, so "initial" decayed toward zero."""
    import keras

    from keras_adamw import AdamW

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    w0 = keras.ops.convert_to_numpy(model.layers[0].kernel).copy()
    model.compile(AdamW(learning_rate=1e-12, weight_decays={"kernel": 0.5},
                        decay_toward="initial", total_iterations_wd=1, init_verbose=False),
                  loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), batch_size=4, epochs=1, verbose=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.layers[0].kernel), w0,
                               atol=1e-6)


def keras_loss(y, logits):
    import keras

    return keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)


def test_arm_b_without_decay_toward_fails_clearly(monkeypatch):
    monkeypatch.setattr(finetune, "has_decay_toward", lambda: False)
    with pytest.raises(SystemExit, match="decay_toward"):
        finetune.require_decay_toward(("zero", "pretrained"))
    finetune.require_decay_toward(("zero", "none"))  # the other arms need nothing new


def test_rule_outcomes_and_verdict():
    assert finetune.outcome([-0.02, -0.001]) == "helps"
    assert finetune.outcome([0.001, 0.02]) == "hurts"
    assert finetune.outcome([-0.01, 0.01]) == "no measurable difference"
    assert finetune.verdict("helps", "helps") == "HELPS"
    assert finetune.verdict("helps", "hurts") == "HURTS"
    assert finetune.verdict("helps", "no measurable difference").startswith("INCONCLUSIVE")
    mean, (low, high) = finetune.paired([-0.015, -0.02, -0.025, -0.02])
    assert mean == pytest.approx(-0.02) and low < mean < high < 0
    runs = [dict(chosen={"zero": dict(test_error=0.3 + 0.01 * s),
                         "pretrained": dict(test_error=0.28 + 0.01 * s + 0.001 * (s % 2)),
                         "none": dict(test_error=0.31 + 0.01 * s)}) for s in range(10)]
    for r in runs:
        for c in r["chosen"].values():
            c.update(lr=1e-3, decay=0.1)
    analysis = finetune.analyse(runs, ("zero", "pretrained", "none"), n_boot=200)
    assert analysis["comparisons"]["pretrained-zero"]["outcome"] == "helps"
    assert analysis["verdict"] == "HELPS"


def test_quick_runs_never_write_next_to_the_committed_results():
    assert finetune.output_dir(quick=True) == finetune.HERE / "quick"
    assert finetune.output_dir(quick=False) == finetune.HERE
    assert finetune.output_dir(quick=True, out="elsewhere") == pathlib.Path("elsewhere")
