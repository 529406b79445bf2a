"""The example script keeps working (a short run of it)."""

import pathlib
import sys

import pytest

pytest.importorskip("sklearn", reason="the example needs the 'example' extra")
pytest.importorskip("matplotlib", reason="the example needs the 'example' extra")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "example"))
import example  # noqa: E402


def test_example_runs_and_writes_its_figure(tmp_path, capsys):
    out = tmp_path / "example.png"
    results = example.main(epochs=3, out=out)
    assert out.stat().st_size > 10_000
    assert set(results) == {"AdamW + warm restarts", "Adam + L2"}
    for r in results.values():
        assert 0.0 <= r["error"] < 0.5  # both learn something in 3 epochs
    recorder = results["AdamW + warm restarts"]["recorder"]
    steps_per_epoch = len(recorder.eta) // 3
    # The first cycle is 2 epochs: eta goes 1 -> 0, then restarts at 1.
    assert recorder.eta[0] == 1.0
    assert recorder.eta[2 * steps_per_epoch - 1] == pytest.approx(0.0, abs=1e-6)
    assert recorder.eta[2 * steps_per_epoch] == 1.0
    printed = capsys.readouterr().out
    assert "Epoch 3/3" in printed and "test error" in printed
