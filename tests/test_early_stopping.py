import pytest

from tutorials.early_stopping import EarlyStopping


def test_min_mode_with_delta_and_state_round_trip():
    s = EarlyStopping(patience=2, mode="min", min_delta=0.1)
    assert [s.step(v) for v in (1.0, 0.95, 0.5, 0.45, 0.44)] == [False, False, False, False, False]
    assert s.best == 0.5 and s.bad_epochs == 2
    t = EarlyStopping(patience=2, mode="min", min_delta=0.1)
    t.load_state_dict(s.state_dict())
    assert t.step(0.43) is True


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode must be"):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match=">= 0"):
        EarlyStopping(patience=-1)
