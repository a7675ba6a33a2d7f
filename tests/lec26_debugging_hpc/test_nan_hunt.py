"""The NaN hunt: each injected fault is found where it was made (forward module, backward function,
or the spike steps before), and the control run stays finite."""

import doctest
import math

import pytest
import torch

from tutorials.lec26_debugging_hpc import nan_hunt
from tutorials.lec26_debugging_hpc.nan_hunt import (
    FAULTS,
    HuntRun,
    diagnose,
    first_spike,
    make_batch,
    train_until_nonfinite,
)


def test_doctest():
    assert doctest.testmod(nan_hunt).failed == 0


def test_batches_are_deterministic_and_faults_change_only_their_step():
    a, b = make_batch(3, 8, seed=1), make_batch(3, 8, seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    bad = make_batch(3, 8, seed=1, fault="bad-batch", fault_step=3)
    assert torch.allclose(bad[0], a[0] * 1e4) and torch.equal(bad[1], a[1])
    empty = make_batch(3, 8, seed=1, fault="empty-sequence", fault_step=3)
    assert not empty[1][0].any() and torch.equal(empty[1][1:], a[1][1:])
    assert all(torch.equal(x, y) for x, y in zip(make_batch(4, 8, 1, "bad-batch", 3), make_batch(4, 8, 1)))
    assert set(a[2].tolist()) <= {0, 1, 2}


def test_each_fault_is_found_where_it_was_made():
    found = {f: diagnose(train_until_nonfinite(f, steps=40, fault_step=20)) for f in FAULTS}
    assert found["none"]["failed_at"] is None and found["none"]["forward"] is None
    bad = found["bad-batch"]
    assert bad["spike_at"] == 20 and 20 < bad["failed_at"] < 40
    assert bad["forward"] is not None or bad["overflow"] is not None
    empty = found["empty-sequence"]
    assert (empty["failed_at"], empty["what"]) == (20, "loss")
    assert empty["forward"]["module"] == "pool" and empty["forward"]["inputs_finite"]
    assert empty["forward"]["nan"] > 0
    root = found["sqrt-where"]
    assert (root["failed_at"], root["what"], root["forward"]) == (0, "gradient", None)
    assert root["backward"]["function"] == "SqrtBackward0"
    assert root["backward"]["forward_file"] == "nan_hunt.py"
    assert "torch.sqrt(h)" in root["backward"]["forward_line"]


def test_first_spike_and_unknown_fault():
    history = [(s, 1.0, 1.0 + 0.01 * s) for s in range(10)] + [(10, 5.0, 500.0), (11, math.inf, math.nan)]
    assert first_spike(history) == 10
    assert first_spike(history[:3]) is None  # too few steps for a median
    assert diagnose(HuntRun("none"))["failed_at"] is None
    with pytest.raises(ValueError, match="unknown fault 'x'"):
        train_until_nonfinite("x", steps=1, fault_step=0)
