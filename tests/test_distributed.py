"""tf.distribute: MirroredStrategy over two logical CPU devices, and
MultiWorkerMirroredStrategy with two local workers on loopback, give the weights and
t_cur of one device with the same global batch; t_cur advances once per step."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

import keras

HERE = pathlib.Path(__file__).resolve().parent
STEPS = 12
T_CUR_AFTER = 3  # 12 steps: cycles of 3 and 6, then 3 into the third

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="tf.distribute needs the TensorFlow backend")


def _env(**extra):
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow", **extra)


def _load(path):
    return dict(np.load(path))


def _single_device(tmp_path):
    out = tmp_path / "mirrored.npz"
    result = subprocess.run([sys.executable, str(HERE / "distributed_case.py"), "mirrored", str(out)],
                            env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return _load(out)


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    return _single_device(tmp_path_factory.mktemp("mirrored"))


def _compare(results, one, two, cls):
    keys = [k[len(f"one|{cls}|"):] for k in one if k.startswith(f"one|{cls}|")]
    assert int(results[f"{two}|{cls}|replicas"]) == 2
    assert int(results[f"one|{cls}|replicas"]) == 1
    for key in ("t_cur", "iterations"):
        assert int(results[f"{two}|{cls}|{key}"]) == int(results[f"one|{cls}|{key}"])
    assert int(results[f"{two}|{cls}|t_cur"]) == T_CUR_AFTER  # once per step, not per replica
    assert int(results[f"{two}|{cls}|iterations"]) == STEPS
    for key in keys:
        if key in ("t_cur", "iterations", "replicas"):
            continue
        np.testing.assert_allclose(results[f"{two}|{cls}|{key}"], results[f"one|{cls}|{key}"],
                                   rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.slow
@pytest.mark.parametrize("cls", ["adamw", "sgdw", "adamw_sp"])
def test_mirrored_strategy_matches_one_device(mirrored, cls):
    """adamw_sp: decay toward w0 (mirrored optimizer state) that follows a schedule."""
    _compare(mirrored, mirrored, "two", cls)
    if cls == "adamw_sp":  # the options changed the run: w0 and the schedule did act
        moved = [k for k in mirrored if k.startswith("one|adamw|") and "hidden" in k]
        assert any(np.abs(mirrored[k] - mirrored[k.replace("|adamw|", "|adamw_sp|")]).max()
                   > 1e-4 for k in moved)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_two_local_workers(mirrored, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen(
            [sys.executable, str(HERE / "distributed_case.py"), "worker",
             str(tmp_path / f"worker{index}.npz")],
            env=_env(TF_CONFIG=config), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True))
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=600))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (stdout, stderr) in zip(procs, outputs):
        assert p.returncode == 0, stdout[-2000:] + stderr[-5000:]
    for index in range(2):
        worker = _load(tmp_path / f"worker{index}.npz")
        results = dict(mirrored)
        results.update(worker)  # "two|adamw|..." now from the multi-worker run
        _compare(results, mirrored, "two", "adamw")
