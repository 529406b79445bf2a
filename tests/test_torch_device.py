"""On an accelerator the PyTorch step must not read the device and must launch about
as few kernels as Keras' built-in: checked on a CPU-only machine with every Keras
variable a meta tensor (``KERAS_TORCH_DEVICE=meta``: any host read raises).

One subprocess runs ``torch_probe.py all`` (the environment must be set before Keras is
imported); each case of ``torch_probe.CASES`` is then checked for: no exception in 5
steps, no host read, every tensor given to a fused kernel on the variables' device,
and ours' aten ops per step at most 1.5 x the built-in's doing the same math.
Runs from any backend's test process; skipped when torch is not installed.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
MAX_RATIO = 1.5
CAUTIOUS = ["adamw_restarts", "adamw_schedule", "nadamw_restarts", "sgdw_momentum", "lion"]
CASES = [f"{name}_cautious" for name in CAUTIOUS] + [
         "adamw_restarts", "adamw_schedule", "adamw_finetune", "adamw_amsgrad", "nadamw_restarts",
         "sgdw_momentum", "sgdw_nesterov", "sgdw_plain", "lion", "rmsprop"]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                reason="torch is not installed: the meta-device probe "
                                       "needs PyTorch")


@pytest.fixture(scope="module")
def probed():
    env = dict(os.environ, KERAS_BACKEND="torch", KERAS_TORCH_DEVICE="meta",
               PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, str(HERE / "torch_probe.py"), "all"],
                            cwd=HERE.parent, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {line["case"]: line for line in lines}


def _numbers(line):
    ours = line["ours"]
    cpu = ours.get("cpu", {})
    return (f"ours {ours['ops_per_step']} ops/step on meta "
            f"(on cpu: {cpu.get('ops_per_step', '-')}), built-in {_builtin_ops(line)} "
            f"ops/step from {line['builtin_ops_from']}; ratio {line['ratio']}")


def _builtin_ops(line):
    b = line["builtin"]
    return b["ops_per_step"] if b["ops_per_step"] is not None else b.get("cpu", {}).get(
        "ops_per_step")


def test_probe_covers_every_case(probed):
    assert sorted(probed) == sorted(CASES)


@pytest.mark.parametrize("case", CASES)
def test_step_on_meta_reads_nothing_and_launches_as_few_ops_as_keras(probed, case):
    line = probed[case]
    ours = line["ours"]
    where = f"[{case}] {_numbers(line)}"
    assert ours["failure"] is None, (
        f"{where}: step {ours['failure']['step']} raised {ours['failure']['error']} at "
        f"{' <- '.join(reversed(ours['failure']['frames']))}")
    assert ours["host_reads"] == 0 and ours["d2h_ops"] == 0, (
        f"{where}: host reads {ours['host_reads_by_method']}, "
        f"device-to-host aten ops {ours['d2h_ops']}")
    assert not ours["fused"]["off_device"], (
        f"{where}: fused kernels {ours['fused']['calls']} got tensors off the variables' "
        f"device: {ours['fused']['off_device']}")
    builtin = _builtin_ops(line)
    assert builtin, f"{where}: the built-in gave no op count"
    assert ours["ops_per_step"] <= MAX_RATIO * builtin, (
        f"{where}: more than {MAX_RATIO} x the built-in's ops per step; ours' most "
        f"frequent ops {ours['top_ops']}")


@pytest.mark.parametrize("case", CAUTIOUS)
def test_cautious_decay_costs_at_most_half_again_the_ops(probed, case):
    """cautious_decay=True: the decay after the update, masked by its step (a copy of
    the decayed weights and six multi-tensor ops), at most 1.5 x the ops per step of the
    same optimizer without it."""
    plain, cautious = probed[case]["ours"], probed[f"{case}_cautious"]["ours"]
    assert cautious["ops_per_step"] <= MAX_RATIO * plain["ops_per_step"], (
        f"[{case}] cautious {cautious['ops_per_step']} ops/step, without "
        f"{plain['ops_per_step']}; most frequent {cautious['top_ops']}")
