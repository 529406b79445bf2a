"""TensorFlow's start-up lines, hidden while the examples import Keras.

TensorFlow 2.21 writes its start-up lines (oneDNN, CUDA drivers, CPU features) during
``import tensorflow``, before its logging reads TF_CPP_MIN_LOG_LEVEL, so that setting
cannot hide them; and it writes them twice, once from each of its two shared libraries
(libtensorflow_framework and libtensorflow_cc each carry the code). Older TensorFlow
(2.16) honours the setting. Its first use of the devices then reports, as an error,
that a machine without a GPU driver has none (``failed call to cuInit``).
:func:`tensorflow_start_hidden` hides exactly those lines, and only while Keras imports
TensorFlow and TensorFlow lists its devices, when TF_CPP_MIN_LOG_LEVEL asks for quiet;
anything else written then is shown as usual.
"""

import contextlib
import os
import re
import sys
import tempfile

_START_LINE = re.compile(
    r"(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\]"  # absl's INFO and WARNING lines
    r"|To enable the following instructions:"
    r"|E\d{4} [\d:. ]+\d+ cuda_platform\.cc:\d+\] failed call to cuInit)")


@contextlib.contextmanager
def tensorflow_start_hidden():
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
            if "tensorflow" in sys.modules:  # imported by Keras' TensorFlow backend
                sys.modules["tensorflow"].config.list_logical_devices()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            for line in caught.read().decode(errors="replace").splitlines(keepends=True):
                if not _START_LINE.match(line):
                    sys.stderr.write(line)
            sys.stderr.flush()
