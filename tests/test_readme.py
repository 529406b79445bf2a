"""The README's fine-tuning recipe runs as written (in its own process, in a scratch
folder: it writes schedule.png). Needs keras-hub and matplotlib."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _recipe_code() -> str:
    section = README.read_text().split("## A fine-tuning recipe", 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def test_the_fine_tuning_recipe_runs_as_written(tmp_path):
    pytest.importorskip("keras_hub", reason="the recipe uses keras-hub (pip install keras-hub)")
    pytest.importorskip("matplotlib", reason="the recipe plots the schedule")
    script = tmp_path / "recipe.py"
    script.write_text(_recipe_code())
    env = dict(os.environ, PYTHONPATH=str(README.parent))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "schedule.png").stat().st_size > 10_000
    assert "eta_t" in done.stdout and "decay_l2=0.01" in done.stdout
