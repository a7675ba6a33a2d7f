import pytest

from tutorials.lec12_model_optimization.early_stopping import EarlyStopping


def test_min_mode_with_delta_and_state_round_trip():
    s = EarlyStopping(patience=3, mode="min", min_delta=0.1)
    assert [s.step(v) for v in (1.0, 0.95, 0.5, 0.45, 0.44)] == [False] * 5
    assert s.best == 0.5 and s.best_epoch == 2 and s.bad_epochs == 2
    t = EarlyStopping(patience=3, mode="min", min_delta=0.1)
    t.load_state_dict(s.state_dict())
    assert t.step(0.43) is True  # the third bad epoch in a row, counted across the restart


@pytest.mark.parametrize("patience", [1, 2, 3, 5])
def test_stops_on_the_patience_th_consecutive_bad_epoch(patience):
    # as Keras and Lightning (`wait_count >= patience`): best at epoch 0, then no
    # improvement; the stop comes on epoch `patience`, not `patience + 1`
    s = EarlyStopping(patience=patience, mode="max")
    stops = [s.step(v) for v in [1.0] + [0.5] * (patience + 2)]
    assert stops.index(True) == patience
    assert s.bad_epochs >= patience


def test_an_improvement_resets_the_count():
    s = EarlyStopping(patience=2, mode="min")
    # bad, improvement, bad, bad: only two bad epochs *in a row* stop the run
    assert [s.step(v) for v in (1.0, 2.0, 0.5, 0.6, 0.7)] == [False, False, False, False, True]
    assert (s.best, s.best_epoch, s.bad_epochs) == (0.5, 2, 2)


def test_patience_zero_stops_on_the_first_bad_epoch_like_one():
    zero, one = EarlyStopping(patience=0), EarlyStopping(patience=1)
    values = (1.0, 0.9, 0.95)
    assert [zero.step(v) for v in values] == [one.step(v) for v in values] == [False, False, True]


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode must be"):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match=">= 0"):
        EarlyStopping(patience=-1)
