"""The replication script keeps working: its --quick version runs end to end (into a
temporary folder), and its analysis helpers find known answers in synthetic data."""

import json
import pathlib
import sys

import pytest

for module in ("sklearn", "matplotlib", "mnist1d", "scipy"):
    pytest.importorskip(module, reason="the replication needs the 'example' extra")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "example" / "replication"))
import replicate  # noqa: E402

CLAIMS = {"adamw_vs_adam_l2", "sgdw_vs_sgd_l2", "decoupling", "normalized_decay", "warm_restarts"}


@pytest.mark.slow
def test_quick_replication_writes_results_and_figures(tmp_path):
    replicate.main(quick=True, out=tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["claims"]) == CLAIMS
    assert results["config"]["quick"] is True and "QUICK SMOKE RUN" in results["note"]
    for name, claim in results["claims"].items():
        assert isinstance(claim["holds"], bool) or claim["holds"] == "inconclusive", name
        assert {"statistic", "value", "ci95", "n_seeds", "settings"} <= set(claim), name
    nd = results["claims"]["normalized_decay"]
    assert nd["rule"] == replicate.NORMALIZED_DECAY_RULE
    assert [b["epochs"] for b in nd["budgets"]] == replicate.QUICK["norm_budgets"]
    assert nd["ci95"][0] <= nd["value"] <= nd["ci95"][1]
    assert nd["slope_raw"] == pytest.approx(nd["value"] - 0.5)
    pair = results["claims"]["adamw_vs_adam_l2"]
    assert pair["n_seeds"] == replicate.QUICK["seeds"] == len(pair["per_seed_difference"])
    assert pair["ci95"][0] <= pair["value"] <= pair["ci95"][1]
    assert set(results["second_dataset"]["digits"]) == {"adamw_vs_adam_l2", "sgdw_vs_sgd_l2"}
    for figure in ("fig1_w_vs_l2.png", "fig2_decoupling_heatmaps.png",
                   "fig3_normalized_decay.png", "fig4_warm_restarts.png"):
        assert (tmp_path / figure).stat().st_size > 5_000, figure
    assert (tmp_path / "mnist1d_quick.npz").exists()  # generated locally and cached


def test_paired_interval_and_slope_helpers():
    mean, (low, high) = replicate.paired([0.01, 0.02, 0.03])
    assert mean == pytest.approx(0.02) and low < 0.02 < high
    # best decay falls by one decade per decade of lr: slope -1
    import numpy as np
    lrs, decays = [1e-3, 1e-2, 1e-1], [1e-3, 1e-2, 1e-1]
    correct = np.zeros((4, 3, 3, 1), dtype=bool)
    for a, b in ((0, 2), (1, 1), (2, 0)):
        correct[:, a, b, 0] = True
    assert replicate.best_decay_slope(correct, lrs, decays, 1) == pytest.approx(-1.0)


def test_image_members_for_cifar10_build_and_train():
    """--dataset cifar10 cannot download here; its CNN members are checked on
    random images of CIFAR-10's shape."""
    import numpy as np
    rng = np.random.default_rng(0)
    data = dict(x=rng.random((32, 32, 32, 3), dtype=np.float32), y=rng.integers(0, 10, 32),
                x_val=rng.random((8, 32, 32, 3), dtype=np.float32), y_val=rng.integers(0, 10, 8),
                x_test=rng.random((8, 32, 32, 3), dtype=np.float32), y_test=rng.integers(0, 10, 8))
    cfg = dict(replicate.QUICK, hidden=8, train_limit=None)
    result = replicate.train("adamw", data, cfg, [1e-3, 1e-2], [0.1, 0.3], epochs=1, seed=0)
    assert result["val"].shape == (2,) and result["val_correct"].shape == (8, 2)


def test_quick_runs_never_write_next_to_the_committed_results():
    assert replicate.output_dir(quick=True) == replicate.HERE / "quick"
    assert replicate.output_dir(quick=False) == replicate.HERE
    assert replicate.output_dir(quick=True, out="elsewhere") == pathlib.Path("elsewhere")


def test_fit_optimum_recovers_a_known_quadratic_optimum():
    import numpy as np
    x = np.log2(0.3) + 0.5 * np.arange(-5, 6)  # x sqrt(2) steps
    for x0 in (np.log2(0.3), np.log2(0.3) + 0.37, np.log2(0.3) - 1.1):
        err = 0.25 + 0.02 * (x - x0) ** 2
        assert replicate.fit_optimum(x, err, 5) == (pytest.approx(x0), False)
    # best cell at the grid's edge: flagged, and the vertex stays inside the fitted cells
    x_opt, at_edge = replicate.fit_optimum(x, 0.25 + 0.02 * (x - x[-1] - 2) ** 2, 5)
    assert at_edge and x_opt == pytest.approx(x[-1])
    # not convex (flat): the best cell
    assert replicate.fit_optimum(x, np.where(np.arange(11) == 4, 0.2, 0.3), 5)[0] \
        == pytest.approx(x[4])


def test_decision_rule_for_normalized_decay():
    decide = replicate.decide_normalized
    assert decide([-0.2, 0.3]) is True
    assert decide([0.3, 0.8]) is False
    assert decide([0.1, 0.3]) is False  # moves, but by less than raw decay predicts
    assert decide([-0.1, 0.6]) == "inconclusive"
    assert decide([-0.2, 0.3], at_edge=True) == "inconclusive"
    assert replicate.favoured([-0.2, 0.3]) == "normalized"
    assert replicate.favoured([0.3, 0.8]) == "raw"


@pytest.mark.parametrize("true_slope, holds", [(0.0, True), (0.5, False)])
def test_normalized_decay_analysis_finds_a_known_slope(true_slope, holds):
    """Synthetic validation outcomes whose error is a quadratic in log2(lambda_norm)
    with its optimum moving as budget ** true_slope: the analysis recovers the slope,
    and the rule decides as it should."""
    import numpy as np
    rng = np.random.default_rng(0)
    budgets, reps, samples = [10, 20, 40, 80], 6, 4000
    values = 0.3 * np.sqrt(2.0) ** np.arange(-5, 6)
    correct = []
    for budget in budgets:
        x0 = np.log2(0.3) + true_slope * np.log2(budget / 28.0)
        p_err = 0.25 + 0.03 * (np.log2(values) - x0) ** 2  # per grid value
        correct.append(rng.random((samples, len(values), reps)) > p_err[None, :, None])
    nd = replicate.analyse_normalized_decay(correct, values, budgets, steps_per_epoch=40,
                                            window=5, n_boot=200, seed=0)
    assert nd["value"] == pytest.approx(true_slope, abs=0.1)
    assert nd["ci95"][0] < true_slope < nd["ci95"][1]
    assert nd["holds"] is holds
    assert nd["favours"] == ("normalized" if true_slope == 0 else "raw")
    assert nd["slope_raw"] == pytest.approx(nd["value"] - 0.5)
    ratio = np.sqrt(80 / 10)
    assert nd["shift"]["normalized"] == pytest.approx(ratio ** (2 * true_slope), rel=0.25)
    for row in nd["budgets"]:
        lo, hi = row["best_lambda_norm_ci95"]
        assert lo <= row["best_lambda_norm"] <= hi
        assert row["best_raw_lambda"] == pytest.approx(
            row["best_lambda_norm"] / np.sqrt(row["epochs"] * 40))
