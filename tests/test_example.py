"""The example script keeps working (a short run of it), and shows the decay at work."""

import pathlib
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the example needs the 'example' extra")
pytest.importorskip("matplotlib", reason="the example needs the 'example' extra")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "example"))
import example  # noqa: E402


def test_example_runs_and_writes_its_figure(tmp_path, capsys):
    out = tmp_path / "example.png"
    results = example.main(epochs=3, out=out)
    assert out.stat().st_size > 10_000
    decayed, plain = results["AdamW, decay from the model"], results["same, no decay"]
    for r in (decayed, plain):
        assert 0.0 <= r["error"] < 0.5  # both learn something in 3 epochs
    record = decayed["record"]
    steps_per_epoch = len(record.eta) // 3
    # The first cycle is 2 epochs: eta goes 1 -> 0, then restarts at 1.
    assert record.eta[0] == 1.0
    assert record.eta[2 * steps_per_epoch - 1] == pytest.approx(0.0, abs=1e-6)
    assert record.eta[2 * steps_per_epoch] == 1.0
    # The per-step decay is eta_t * sqrt(1 / T_norm) * lambda, T_norm = 3 epochs.
    np.testing.assert_allclose(record.decay, np.array(record.eta) * example.LAMBDA_NORM
                               / np.sqrt(3 * steps_per_epoch), rtol=1e-6)
    # Same start, same batches: only the decay differs, and it keeps the weights smaller.
    assert record.norm[0] == plain["record"].norm[0]
    assert record.norm[-1] < plain["record"].norm[-1]
    assert "test error" in capsys.readouterr().out
