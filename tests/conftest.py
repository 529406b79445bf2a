import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402

from helpers import two_layer_model  # noqa: E402


@pytest.fixture
def model():
    return two_layer_model()
