"""schedule.py on its own: eta_t, restarts and the normalization factor, for Python
numbers and for tensors, against the definitions written out here."""

import math

import numpy as np
import pytest

import keras

from keras_adamw import schedule


def eta(k, cycle, lo, hi):
    """SGDR in 1.38's cycle shape: eta_max at k = 0, eta_min at k = T - 1."""
    if cycle == 1:
        return hi
    k = min(max(k, 0), cycle - 1)
    return lo + (hi - lo) * (1 + math.cos(math.pi * k / (cycle - 1))) / 2


@pytest.mark.parametrize("cycle", [1, 2, 5, 100])
@pytest.mark.parametrize("lo, hi", [(0.0, 1.0), (0.1, 0.9)])
def test_cosine_multiplier_ends_exactly_and_follows_the_cosine(cycle, lo, hi):
    ks = list(range(-1, cycle + 3))
    for k in ks:
        assert schedule.cosine_multiplier(k, cycle, lo, hi) == pytest.approx(eta(k, cycle, lo, hi))
    tensor = [float(schedule.cosine_multiplier(keras.ops.convert_to_tensor(k, "int32"),
                                               keras.ops.convert_to_tensor(cycle, "int32"), lo, hi))
              for k in ks]
    np.testing.assert_allclose(tensor, [eta(k, cycle, lo, hi) for k in ks], rtol=1e-6, atol=1e-7)
    assert schedule.cosine_multiplier(0, cycle, lo, hi) == hi
    if cycle > 1:
        assert schedule.cosine_multiplier(cycle - 1, cycle, lo, hi) == pytest.approx(lo, abs=1e-12)


def _run(t0, t_mult, autorestart, steps):
    t, cycle, index, seen = 0, t0, 0, []
    for _ in range(steps):
        before = (t, cycle)
        out = schedule.advance(keras.ops.convert_to_tensor(t, "int32"),
                               keras.ops.convert_to_tensor(cycle, "int32"), t_mult, autorestart,
                               keras.ops.convert_to_tensor(index, "int32"))
        t, cycle, index = (int(keras.ops.convert_to_numpy(x)) for x in out)
        previous = seen[-1] if seen else (0, t0, 0)
        assert schedule.advance(previous[0], previous[1], t_mult, autorestart, previous[2]) == \
            (t, cycle, index)  # the Python-number path agrees
        assert before == previous[:2]
        seen.append((t, cycle, index))
    return [(a, b) for a, b, _ in seen]


def test_advance_restarts_with_growing_cycles():
    seen = _run(3, 2, True, 10)  # cycles of 3 then 6: restarts after steps 3 and 9
    assert seen[2] == (0, 6) and seen[8] == (0, 12)
    assert [t for t, _ in seen] == [1, 2, 0, 1, 2, 3, 4, 5, 0, 1]


def test_advance_without_autorestart_keeps_counting():
    assert _run(3, 2, False, 5)[-1] == (5, 3)


@pytest.mark.parametrize("t_norm", [1, 4, 1000])
def test_normalization_scale(t_norm):
    assert schedule.normalization_scale(t_norm) == pytest.approx(1 / math.sqrt(t_norm))
    tensor = schedule.normalization_scale(keras.ops.convert_to_tensor(t_norm, "int32"))
    assert float(tensor) == pytest.approx(1 / math.sqrt(t_norm), rel=1e-6)
