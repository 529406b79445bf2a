"""The example of the keras-adamw 1.38 README, run unchanged in a fresh process.

The 1.38 README says: "If using tensorflow.keras imports, set
os.environ["TF_KERAS"]='1'". Both spellings are run: the example as printed
(``keras.*`` imports) and with ``tensorflow.keras`` imports and TF_KERAS=1.
After the example's own 3 epochs, a few lines appended to it check the optimizer.
"""

import os
import subprocess
import sys

import pytest

from helpers import CHECKS, ORIGINAL_EXAMPLE, TF_KERAS_HEADER



@pytest.mark.slow
@pytest.mark.parametrize("spelling", ["keras", "tensorflow.keras"])
def test_original_readme_example_runs_unchanged(spelling, tmp_path):
    code = ORIGINAL_EXAMPLE
    if spelling == "tensorflow.keras":
        code = TF_KERAS_HEADER + code.replace("from keras.", "from tensorflow.keras.")
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
