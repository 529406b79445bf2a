"""The README's Quick start and fine-tuning recipe run as written (each in its own
process, in a scratch folder: the recipe writes schedule.png). The Quick start needs
scikit-learn, the recipe keras-hub and matplotlib."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _code(heading: str) -> str:
    section = README.read_text().split(heading, 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def _recipe_code() -> str:
    return _code("## A fine-tuning recipe")


def _run(code, tmp_path):
    script = tmp_path / "snippet.py"
    script.write_text(code)
    env = dict(os.environ, PYTHONPATH=str(README.parent))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_the_quick_start_runs_as_written_to_its_accuracy(tmp_path):
    pytest.importorskip("sklearn", reason="the Quick start uses scikit-learn's digits")
    done = _run(_code("## Quick start"), tmp_path)
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", done.stdout).group(1))
    assert accuracy > 0.95, done.stdout[-2000:]  # the README says about 0.97


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
