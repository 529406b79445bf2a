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


def test_transformer_example_recipe(tmp_path):
    pytest.importorskip("mnist1d", reason="the transformer example needs the 'example' extra")
    import transformer

    out = tmp_path / "transformer.png"
    result = transformer.main(epochs=2, out=out)
    assert out.stat().st_size > 10_000
    settings = result["optimizer"].variable_settings
    for path, s in settings.items():
        parts = path.split("/")
        excluded = ("position" in parts or any(p.startswith("norm_") or p == "final_norm"
                                               for p in parts) or parts[-1] == "bias")
        assert s.l2 == (0.0 if excluded else 0.05), path
        depth = next((3 - int(p[-1]) for p in parts if p.startswith("block_")), None)
        if depth is None:
            depth = 4 if parts[0] in ("patch_embed", "position") else 0
        assert s.lr_multiplier == pytest.approx(0.8 ** depth), path
    rows = result["rows"]
    steps = len(rows) // 2
    warmup = steps // 2
    # Warmup from 0 to the peak over the first half epoch, then the cosine.
    assert rows[0]["eta_t"] == pytest.approx(1 / (warmup + 1), rel=1e-5)
    assert rows[warmup]["eta_t"] == pytest.approx(1.0)
    assert rows[-1]["eta_t"] == pytest.approx(0.0, abs=1e-6)
