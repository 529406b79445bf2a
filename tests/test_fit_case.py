"""Runs helpers.run_fit on whatever backend this process has; test_backends compares the
result with TensorFlow's (it sets KERAS_ADAMW_FIT_OUT)."""

import os

import numpy as np

from helpers import run_fit


def test_fit_case_trains_and_restarts():
    result = run_fit()
    assert int(result["t_cur"]) == 9  # 24 steps: cycles of 5 and 10, then 9 into 20
    assert result["loss"][-1] < result["loss"][0]
    out = os.environ.get("KERAS_ADAMW_FIT_OUT")
    if out:
        np.savez(out, **{k.replace("/", "|"): v for k, v in result.items()})
