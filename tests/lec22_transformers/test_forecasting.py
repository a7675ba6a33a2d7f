import numpy as np
import pytest
import torch

from tutorials.lec22_transformers.forecasting import (
    LSTMForecaster,
    Scaler,
    TransformerForecaster,
    fit,
    load_series,
    mae,
    make_windows,
    naive_forecast,
    predict,
    rmse,
    seasonal_naive_forecast,
    time_split,
)


def test_co2_is_monthly_and_complete():
    s = load_series("co2")
    assert len(s.values) == len(s.times) == 526 and s.period == 12
    assert s.times[0] == "1958-03" and s.times[-1] == "2001-12"
    assert not np.isnan(s.values).any()
    assert "5 months without any observation filled by linear interpolation" in s.note
    assert 310 < s.values[0] < 320 and 365 < s.values[-1] < 375  # ppm: the Keeling curve


def test_sunspots_and_unknown_series():
    s = load_series("sunspots")
    assert len(s.values) == 309 and s.times[:2] == ("1700", "1701") and s.period == 11
    with pytest.raises(ValueError, match="unknown series 'airline'"):
        load_series("airline")


def test_time_split_is_ordered():
    assert time_split(100) == (70, 85)
    with pytest.raises(ValueError, match="fractions"):
        time_split(100, 0.5, 0.5)


def test_scaler_uses_the_training_span_only():
    series = np.concatenate([np.zeros(50) + np.arange(50) % 2, np.full(50, 100.0)])
    train_end = 50
    scaler = Scaler().fit(series[:train_end])
    assert scaler.mean == pytest.approx(0.5) and scaler.std == pytest.approx(0.5)
    z = scaler.transform(series)
    assert z[:train_end].mean() == pytest.approx(0.0) and z[-1] == pytest.approx(199.0)
    np.testing.assert_allclose(scaler.inverse(z), series)
    with pytest.raises(ValueError, match="at least 2 training values"):
        Scaler().fit(np.ones(1))


def test_windows_shapes_and_targets_stay_in_their_span():
    values = np.arange(30.0)
    X, Y, origins = make_windows(values, window=5, horizon=3, start=20, end=30)
    assert X.shape == (8, 5) and Y.shape == (8, 3)
    assert origins.tolist() == list(range(20, 28))
    np.testing.assert_array_equal(X[0], [15, 16, 17, 18, 19])  # the past may precede the span
    np.testing.assert_array_equal(Y[-1], [27, 28, 29])
    assert Y.min() >= 20 and Y.max() <= 29
    X, _, origins = make_windows(values, window=5, horizon=3, start=0, end=20)
    assert origins[0] == 5 and len(X) == 13
    with pytest.raises(ValueError, match=r"no window fits: targets in \[25, 30\)"):
        make_windows(values, window=5, horizon=6, start=25, end=30)


def test_seasonal_naive_is_exact_on_a_periodic_series():
    t = np.arange(120)
    values = np.sin(2 * np.pi * t / 12) + (t % 12 == 3)
    X, Y, _ = make_windows(values, window=24, horizon=18, start=60, end=120)
    np.testing.assert_allclose(seasonal_naive_forecast(X, 18, 12), Y, atol=1e-12)
    assert mae(naive_forecast(X, 18), Y) > 0.5
    with pytest.raises(ValueError, match="at least one period"):
        seasonal_naive_forecast(X[:, :6], 3, 12)


def test_naive_and_metrics():
    X = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(naive_forecast(X, 2), [[3.0, 3.0]])
    pred, truth = np.array([[1.0, 3.0]]), np.array([[2.0, 5.0]])
    assert mae(pred, truth) == 1.5 and rmse(pred, truth) == pytest.approx(np.sqrt(2.5))


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_models_forecast_the_horizon_and_fit_keeps_the_best_epoch(kind):
    torch.manual_seed(0)
    window, horizon = 12, 4
    model = LSTMForecaster(horizon, hidden=8) if kind == "lstm" else TransformerForecaster(
        window, horizon, d_model=8, nhead=2, layers=1)
    t = np.arange(200)
    z = np.sin(2 * np.pi * t / 12)
    train = make_windows(z, window, horizon, 0, 150)[:2]
    val = make_windows(z, window, horizon, 150, 200)[:2]
    hist = fit(model, train, val, epochs=4, lr=1e-2, batch_size=32)
    assert len(hist["train"]) == len(hist["val"]) == 4
    assert hist["val"][hist["best_epoch"]] == min(hist["val"])
    pred = predict(model, val[0])
    assert pred.shape == (len(val[0]), horizon) and pred.dtype == np.float64
    with torch.no_grad():  # the model holds the best epoch's weights
        best = torch.nn.functional.mse_loss(torch.as_tensor(pred), torch.as_tensor(val[1])).item()
    assert best == pytest.approx(min(hist["val"]), rel=1e-4)


def test_models_predict_changes_from_the_last_value():
    """A constant window shifted by c gives forecasts shifted by c: the level is not learnt."""
    torch.manual_seed(0)
    x = torch.randn(3, 12)
    for model in (LSTMForecaster(4, hidden=8), TransformerForecaster(12, 4, d_model=8, nhead=2, layers=1)):
        model.eval()
        with torch.no_grad():
            assert torch.allclose(model(x + 5.0), model(x) + 5.0, atol=1e-5, rtol=1e-5)


def test_transformer_names_a_wrong_window():
    with pytest.raises(ValueError, match="window of 10 steps, the model was built for 12"):
        TransformerForecaster(12, 4, d_model=8, nhead=2, layers=1)(torch.zeros(1, 10))
