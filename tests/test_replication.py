"""The replication script keeps working: its --quick version runs end to end."""

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
    for name, claim in results["claims"].items():
        assert isinstance(claim["holds"], bool), name
        assert {"statistic", "value", "ci95", "n_seeds", "settings"} <= set(claim), name
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
