import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402

try:
    import keras  # noqa: F401,E402  (imports the backend that KERAS_BACKEND names)
except ImportError as error:  # e.g. KERAS_BACKEND=torch without torch installed
    _BACKEND_MISSING = (
        f"no test ran: Keras cannot load its backend "
        f"(KERAS_BACKEND={os.environ.get('KERAS_BACKEND', '<unset>')}): {error}. "
        "Install it (README, 'Install, run the example, run the tests'; for PyTorch: "
        "pip install torch==2.13.0) or pick an installed backend.")
else:
    _BACKEND_MISSING = None
    from helpers import two_layer_model  # noqa: E402


def pytest_sessionstart(session):
    # Before collection: the test files import keras, and each would fail the same way.
    if _BACKEND_MISSING:
        pytest.exit(_BACKEND_MISSING, returncode=pytest.ExitCode.NO_TESTS_COLLECTED)


@pytest.fixture
def model():
    return two_layer_model()


@pytest.fixture
def no_per_variable_step_on_torch(monkeypatch):
    """On PyTorch the whole-step kernels must do the step: the per-variable
    update_step raises there."""
    import keras

    if keras.backend.backend() == "torch":
        from keras_adamw.decoupled import DecoupledWeightDecay

        def refuse(*args, **kwargs):
            raise AssertionError("the per-variable update_step ran instead of the kernels")

        monkeypatch.setattr(DecoupledWeightDecay, "update_step", refuse)
