"""The example of the keras-adamw 1.38 README, run unchanged in a fresh process.

The 1.38 README says: "If using tensorflow.keras imports, set
os.environ["TF_KERAS"]='1'". Both spellings are run: the example as printed
(``keras.*`` imports) and with ``tensorflow.keras`` imports and TF_KERAS=1.
After the example's own 3 epochs, a few lines appended to it check the optimizer.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

import keras

from helpers import CHECKS, ORIGINAL_EXAMPLE, TF_KERAS_HEADER

# TensorFlow imported before triton segfaults at triton's import, outside this package
# (``import tensorflow; import triton``); the other order works. A plain ``pip install
# torch`` brings triton, which torch._dynamo imports, and Keras' PyTorch backend imports
# torch._dynamo at ``import keras``: so on that backend the tensorflow.keras spelling
# (TensorFlow first, through ``from tensorflow.keras...``) crashes unless triton is first.
TRITON_FIRST = "import triton  # before TensorFlow: the other order segfaults\n"


def _needs_triton_first() -> bool:
    return (keras.backend.backend() == "torch"
            and importlib.util.find_spec("triton") is not None)


@pytest.mark.slow
@pytest.mark.parametrize("spelling", ["keras", "tensorflow.keras"])
def test_original_readme_example_runs_unchanged(spelling, tmp_path):
    code = ORIGINAL_EXAMPLE
    if spelling == "tensorflow.keras":
        code = TF_KERAS_HEADER + code.replace("from keras.", "from tensorflow.keras.")
        if _needs_triton_first():
            code = TRITON_FIRST + code
    script = tmp_path / "example.py"
    script.write_text(code + CHECKS)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_KERAS", None)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("COMPLETED") == 3
    assert "Iter 24 loss:" in result.stdout
    assert "CHECKS PASSED" in result.stdout
