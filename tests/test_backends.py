"""The JAX and PyTorch backends of Keras 3: the backend-neutral tests pass there, and
a model.fit run ends where TensorFlow's does from the same initial weights.

Each backend runs in its own process (KERAS_BACKEND is read when Keras is imported).
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import keras
from helpers import run_fit

HERE = pathlib.Path(__file__).resolve().parent
NEUTRAL = ["test_reference.py", "test_arguments.py", "test_regularizers.py",
           "test_resume.py", "test_fit_case.py", "test_torch_parallel.py",
           "test_exact_decay.py", "test_schedule.py", "test_bases.py",
           "test_decay_options.py", "test_outside_changes.py", "test_w0_orders.py",
           "test_schedule_peak.py", "test_units.py", "test_plain_keras_load.py",
           "test_modern_decay.py"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_backend_passes_the_core_tests_and_matches_tensorflow(backend, tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("run from the TensorFlow process")
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (the README says how to add it)")
    out = tmp_path / "fit.npz"
    env = dict(os.environ, KERAS_BACKEND=backend, KERAS_ADAMW_FIT_OUT=str(out),
               TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
         *[str(HERE / f) for f in NEUTRAL]],
        cwd=HERE.parent, env=env, capture_output=True, text=True, timeout=900)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert " passed" in summary and "failed" not in summary, summary

    theirs = {k.replace("|", "/"): v for k, v in np.load(out).items()}
    ours = run_fit()
    assert set(theirs) == set(ours)
    assert int(theirs["t_cur"]) == int(ours["t_cur"])
    for key in ours:
        np.testing.assert_allclose(theirs[key], ours[key], rtol=1e-4, atol=1e-5, err_msg=key)
