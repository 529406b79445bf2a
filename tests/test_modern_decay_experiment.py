"""The modern-decay experiment keeps working: its smallest version runs end to end into
a temporary folder, its stacked members are independent and paired as documented, and
the three pre-registered rules decide as written on synthetic inputs."""

import json
import math
import pathlib
import sys

import numpy as np
import pytest

for module in ("mnist1d", "scipy", "matplotlib"):
    pytest.importorskip(module, reason="the modern-decay experiment needs the 'example' extra")

import keras  # noqa: E402

if keras.backend.backend() != "tensorflow":
    pytest.skip("the experiment measures gradient norms with tf.GradientTape",
                allow_module_level=True)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "example" / "modern_decay"))
import modern_decay as md  # noqa: E402

TINY = dict(md.QUICK, mnist1d_samples=700, pool=240, val=240, test=120, hidden=4, n_train=120,
            lion=False, sizes=[60, 120, 240], ts_grid=5, n_boot=50, grad_records=4)


def test_tiny_run_writes_every_claim_and_figure(tmp_path):
    results = md.main("quick", out=tmp_path, cfg=TINY)
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["note"] == md.QUICK_LABEL and written["config"]["quick"] is True
    assert set(written["claims"]) == {"cautious", "corrected", "timescale"}
    for name, claim in written["claims"].items():
        assert claim["holds"] in (True, False, "inconclusive"), name
        assert claim["rule"] == md.RULES[name]
        low, high = claim["ci95"]
        assert low <= claim["value"] <= high and math.isfinite(claim["value"]), name
    cautious = written["claims"]["cautious"]
    assert cautious["n_seeds"] == TINY["seeds"] == len(cautious["per_seed_difference"])
    corrected = written["claims"]["corrected"]
    norms = np.asarray(corrected["grad_norms"]["adamc"])
    assert norms.shape == (TINY["seeds"], len(corrected["grad_steps"])) and (norms > 0).all()
    assert corrected["grad_steps"][-1] == corrected["total_steps"]
    sizes = written["claims"]["timescale"]["sizes"]
    assert [s["n_train"] for s in sizes] == TINY["sizes"]
    assert [s["steps_per_epoch"] for s in sizes] == [1, 1, 2]
    for name in ("cautious", "corrected", "timescale"):
        assert (tmp_path / f"fig_{name}.png").stat().st_size > 5_000, name
    assert results["summary"]["timescale"]["holds"] == written["claims"]["timescale"]["holds"]


def test_stacked_members_are_independent_and_paired():
    """A member of a 2 x 2 model has exactly the gradient it would have alone (the loss
    is a sum over members), and replicate r starts from its seed's weights in every cell."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 40)).astype("float32")
    y = rng.integers(0, 10, 16).astype("int32")
    norms = {}
    for cells, seeds in ((2, [5, 7]), (1, [7])):
        keras.backend.clear_session()
        model = md.member_model(cells, len(seeds), hidden=4)
        md.init_replicates(model, seeds)
        if cells == 2:
            k0 = keras.ops.convert_to_numpy(model.get_layer("c00_dense1").kernel)
            k1 = keras.ops.convert_to_numpy(model.get_layer("c01_dense1").kernel)
            np.testing.assert_array_equal(k0, k1)  # same replicate, same start, every cell
            assert not np.allclose(k0[0], k0[1])
        callback = md.GradNorms(x, y, cells, len(seeds), every=1, total=1)
        callback.set_model(model)
        norms[cells] = callback._make()().numpy()
    assert norms[2].shape == (2, 2)
    np.testing.assert_allclose(norms[2][:, 1], norms[1][0, 0], rtol=1e-5)


def test_batches_depend_only_on_the_seed():
    x = np.arange(10, dtype="float32")[:, None]
    y = np.arange(10, dtype="int32")
    runs = [[b[0].numpy().ravel().tolist() for b in md.batches(x, y, 3, 2, 4, seed)]
            for seed in (1, 1, 2)]
    assert runs[0] == runs[1] != runs[2]
    assert [len(b) for b in runs[0]] == [4, 4, 2, 4, 4, 2]  # a short last batch per epoch
    assert sorted(sum(runs[0][:3], [])) == list(range(10))   # each epoch a permutation


def test_cautious_rule():
    assert md.decide_cautious([-1.0, -0.1]) is True
    assert md.decide_cautious([-0.4, -0.1]) is True       # below 0 is checked first
    assert md.decide_cautious([0.1, 1.0]) is False
    assert md.decide_cautious([-0.3, 0.4]) is False       # within the +-0.5 pp margin
    assert md.decide_cautious([-0.8, 0.2]) == "inconclusive"
    assert md.decide_cautious([-0.2, 0.6]) == "inconclusive"


def test_corrected_rule():
    assert md.decide_corrected([-0.3, -0.1], [-0.2, 0.3]) is True
    assert md.decide_corrected([-0.3, -0.1], [0.1, 0.7]) == "inconclusive"  # not non-inferior
    assert md.decide_corrected([-0.3, -0.1], [0.6, 1.0]) is False  # worse beyond the margin
    assert md.decide_corrected([0.01, 0.2], [-1.0, -0.5]) is False  # rises more
    assert md.decide_corrected([-0.04, 0.03], [-0.2, 0.2]) is False  # no meaningful change
    assert md.decide_corrected([-0.2, 0.1], [-0.1, 0.2]) == "inconclusive"


def test_timescale_rule():
    assert md.decide_timescale([-0.3, 0.2]) is True
    assert md.decide_timescale([-1.3, 0.2]) == "inconclusive"   # contains both
    assert md.decide_timescale([-0.3, 0.2], at_edge=True) == "inconclusive"
    assert md.decide_timescale([0.2, 0.5]) is False
    assert md.decide_timescale([-1.5, -0.6]) is False           # excludes 0
    assert md.decide_timescale([-1.4, -0.2]) is False


def test_gradnorm_rise():
    steps = np.arange(1, 11)
    dip = np.array([4, 3, 2, 1, 1, 1, 1, 1, 2, 2], dtype=float)
    assert md.gradnorm_rise(dip, steps, 10) == pytest.approx(math.log(2.0))
    falling = np.geomspace(4, 1, 10)
    assert md.gradnorm_rise(falling, steps, 10) < 0  # the end is below any 5-record mean
    both = md.gradnorm_rise(np.stack([dip, 2 * dip]), steps, 10)  # records on the last axis
    np.testing.assert_allclose(both, [math.log(2.0)] * 2)


@pytest.mark.parametrize("slope, holds", [(0.0, True), (-0.5, False)])
def test_timescale_analysis_finds_a_known_slope(slope, holds):
    """Validation error quadratic in log2(tau) with its vertex at 1 + slope *
    (log2 N - 12): the fitted slope is recovered and the rule decides."""
    taus = 2.0 ** np.arange(-3, 4)
    sizes = [1000, 4000, 16000]
    samples, reps = 2000, 2
    correct = []
    for n in sizes:
        vertex = 1 + slope * (math.log2(n) - 12)
        err = 0.2 + 0.02 * (np.log2(taus) - vertex) ** 2
        c = np.zeros((samples, len(taus), reps), dtype=bool)
        for k, e in enumerate(err):
            c[:round((1 - e) * samples), k, :] = True
        correct.append(c)
    result = md.analyse_timescale(correct, taus, sizes, np.array([8, 32, 125]), window=5,
                                  n_boot=50, seed=0)
    assert result["value"] == pytest.approx(slope, abs=0.02)
    assert result["holds"] is holds
    assert [s["best_cell_at_grid_edge"] for s in result["sizes"]] == [False] * 3
