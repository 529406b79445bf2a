"""tf_keras (Keras 2): the reference trajectories, the 1.38 README example, decays from
any model, saving (.keras and h5), tf.train.Checkpoint, MirroredStrategy and mixed
precision, all in tf_keras_suite.py, run in a process where tensorflow.keras is
tf_keras (TF_KERAS=1, TF_USE_LEGACY_KERAS=1)."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent


@pytest.mark.slow
def test_tf_keras_suite_passes():
    if importlib.util.find_spec("tf_keras") is None:
        pytest.skip("tf_keras is not installed (the README's test command installs it)")
    env = dict(os.environ, TF_KERAS="1", TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("KERAS_BACKEND", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(HERE / "tf_keras_suite.py")],
        cwd=HERE.parent, env=env, capture_output=True, text=True, timeout=900)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert " passed" in summary and "failed" not in summary and "skipped" not in summary, summary
