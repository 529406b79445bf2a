"""What a wheel and an sdist built from this repository hold: the package with its
``py.typed`` (the code is annotated), and in the sdist no test files without their
helpers (the tests need the repository: a clone)."""

import pathlib
import subprocess
import sys
import tarfile
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _build(tmp_path, *command):
    result = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.mark.slow
def test_the_wheel_holds_the_package_and_py_typed(tmp_path):
    pytest.importorskip("wheel", reason="building a wheel without isolation needs `wheel`")
    _build(tmp_path, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
           "-w", str(tmp_path), ".")
    (wheel,) = tmp_path.glob("keras_adamw-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "keras_adamw/py.typed" in names
    assert "keras_adamw/units.py" in names and "keras_adamw/kernels/torch.py" in names
    assert not [n for n in names if n.startswith(("tests/", "example/", "benchmarks/"))]


@pytest.mark.slow
def test_the_sdist_ships_no_tests_without_their_helpers(tmp_path):
    _build(tmp_path, "setup.py", "-q", "sdist", "-d", str(tmp_path))
    (sdist,) = tmp_path.glob("keras_adamw-*.tar.gz")
    names = [n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n]
    assert "keras_adamw/py.typed" in names and "README.md" in names
    assert not [n for n in names if n.startswith("tests/")]
