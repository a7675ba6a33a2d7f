"""Multi-step time-series forecasting: real series, windows, baselines, an LSTM and a small Transformer.

The helper of Lab 22.2 (``lab_22_forecasting``, seed 002's time-series project):

* :func:`load_series`: two classic series that ship with statsmodels (nothing is
  downloaded): Mauna Loa CO2 (weekly 1958-2001, made monthly) and yearly sunspot numbers;
* :func:`time_split`, :class:`Scaler`: a split by time and a normalisation fitted on the
  training span only;
* :func:`make_windows`: (input window, next ``horizon`` values) pairs whose targets lie in
  one span;
* :func:`naive_forecast`, :func:`seasonal_naive_forecast`: the baselines every model must beat;
* :class:`LSTMForecaster`, :class:`TransformerForecaster`: direct multi-step forecasters
  (all ``horizon`` values in one forward pass), both predicting the change from the
  window's last value;
* :func:`fit`, :func:`predict`, :func:`mae`, :func:`rmse`.

Examples:
    >>> import numpy as np
    >>> seasonal_naive_forecast(np.array([[1., 2., 3., 1., 2., 3.]]), horizon=4, period=3)
    array([[1., 2., 3., 1.]])
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = [
    "SERIES",
    "LSTMForecaster",
    "Scaler",
    "Series",
    "TransformerForecaster",
    "fit",
    "load_series",
    "mae",
    "make_windows",
    "naive_forecast",
    "predict",
    "rmse",
    "seasonal_naive_forecast",
    "time_split",
]

#: The series :func:`load_series` knows.
SERIES = ("co2", "sunspots")


@dataclass(frozen=True)
class Series:
    """A univariate series with its time stamps.

    Attributes:
        name: ``"co2"`` or ``"sunspots"``.
        values: the observations, float64, no NaN.
        times: one label per value (``"1958-03"`` or ``"1700"``).
        period: the seasonal period in steps (12 months; 11 years for the solar cycle).
        unit: the values' unit, for tables and plots.
        note: how the raw data were turned into ``values`` (resampling, filling).
    """

    name: str
    values: np.ndarray
    times: tuple[str, ...]
    period: int
    unit: str
    note: str


def load_series(name: str) -> Series:
    """Load a series bundled with statsmodels.

    * ``"co2"``: ``statsmodels.datasets.co2``, weekly CO2 at Mauna Loa (ppm), March 1958 to
      December 2001, with 59 missing weeks. The weeks are averaged into calendar months
      (526 months); the 5 months with no observation at all are filled by linear
      interpolation between their neighbours. Period 12.
    * ``"sunspots"``: ``statsmodels.datasets.sunspots``, yearly sunspot activity 1700-2008
      (309 years, complete). The solar cycle is about 11 years but not exactly periodic,
      so "seasonal naive" with period 11 is a rough baseline here.

    Raises:
        ValueError: an unknown name.
    """
    if name == "co2":
        from statsmodels.datasets import co2

        weekly = co2.load_pandas().data["co2"]
        monthly = weekly.resample("MS").mean()
        empty = int(monthly.isna().sum())
        filled = monthly.interpolate(method="linear")
        note = (f"{len(weekly)} weekly values ({int(weekly.isna().sum())} missing) averaged into "
                f"{len(monthly)} calendar months; {empty} months without any observation filled by "
                "linear interpolation")
        times = tuple(t.strftime("%Y-%m") for t in filled.index)
        return Series("co2", filled.to_numpy(dtype=np.float64), times, 12, "ppm", note)
    if name == "sunspots":
        from statsmodels.datasets import sunspots

        data = sunspots.load_pandas().data
        values = data["SUNACTIVITY"].to_numpy(dtype=np.float64)
        times = tuple(str(int(y)) for y in data["YEAR"])
        note = f"{len(values)} yearly values, none missing; period 11 years (the solar cycle, approximate)"
        return Series("sunspots", values, times, 11, "sunspot number", note)
    raise ValueError(f"unknown series {name!r}; choose one of {SERIES}")


def time_split(n: int, val_fraction: float = 0.15, test_fraction: float = 0.15) -> tuple[int, int]:
    """Split ``n`` by time: ``[0, train_end)`` trains, ``[train_end, val_end)`` validates, the rest tests.

    Never shuffled: a model must not see the future it is evaluated on.

    Returns:
        ``(train_end, val_end)``.
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError("fractions must be in (0, 1) with a sum below 1, "
                         f"got {val_fraction}, {test_fraction}")
    val_end = n - int(round(n * test_fraction))
    train_end = val_end - int(round(n * val_fraction))
    return train_end, val_end


class Scaler:
    """Standardisation ``(x - mean) / std`` with the statistics of the training span only.

    Fitting on the whole series would leak the test period's level into the inputs.
    """

    def fit(self, train: np.ndarray) -> Scaler:
        """Learn mean and standard deviation from ``train`` (the training span); returns self."""
        train = np.asarray(train, dtype=np.float64)
        if train.size < 2:
            raise ValueError(f"Scaler.fit needs at least 2 training values, got {train.size}")
        self.mean = float(train.mean())
        self.std = float(train.std()) or 1.0
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Standardise with the fitted statistics."""
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Back to the series' units."""
        return np.asarray(z, dtype=np.float64) * self.std + self.mean


def make_windows(values: np.ndarray, window: int, horizon: int, start: int, end: int,
                 stride: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (``window`` values before ``t``, ``horizon`` values from ``t``) with targets in ``[start, end)``.

    The inputs may reach back before ``start`` (they are the past, known at time ``t``);
    the targets never leave ``[start, end)``, so a validation or test window is scored
    only on its own span.

    Args:
        values: the whole series (1-D).
        window: input length.
        horizon: steps forecast at once.
        start: first time step a target may have.
        end: one past the last time step a target may have.
        stride: steps between consecutive forecast origins.

    Returns:
        ``(X, Y, origins)``: X (N, window), Y (N, horizon), origins (N,) the index ``t`` of
        each window's first target.

    Raises:
        ValueError: no window fits; the message gives the span and the sizes.
    """
    values = np.asarray(values)
    first = max(start, window)
    origins = np.arange(first, end - horizon + 1, stride)
    if len(origins) == 0:
        raise ValueError(f"no window fits: targets in [{start}, {end}) of a series of {len(values)}, "
                         f"window={window}, horizon={horizon}")
    X = np.stack([values[t - window:t] for t in origins])
    Y = np.stack([values[t:t + horizon] for t in origins])
    return X, Y, origins


def naive_forecast(X: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat each window's last value ``horizon`` times."""
    X = np.asarray(X)
    return np.repeat(X[:, -1:], horizon, axis=1)


def seasonal_naive_forecast(X: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """The value one season earlier: ``y[t + h] = x[t + h - period * ceil((h + 1) / period)]``.

    Args:
        X: windows (N, window) with ``window >= period``.
        horizon: steps to forecast.
        period: the season's length in steps.

    Raises:
        ValueError: the window is shorter than one period.
    """
    X = np.asarray(X)
    window = X.shape[1]
    if window < period:
        raise ValueError(f"seasonal naive needs a window of at least one period ({period}), got {window}")
    last_season = X[:, window - period:]                     # (N, period)
    reps = -(-horizon // period)
    return np.tile(last_season, (1, reps))[:, :horizon]


def mae(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute error over all windows and steps."""
    return float(np.mean(np.abs(np.asarray(pred) - np.asarray(truth))))


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    """Root mean squared error over all windows and steps."""
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(truth)) ** 2)))


class LSTMForecaster(nn.Module):
    """An LSTM reads the window; a linear layer maps its last hidden state to the next ``horizon`` changes.

    Args:
        horizon: steps forecast at once.
        hidden: LSTM width.
        layers: stacked LSTM layers.
    """

    def __init__(self, horizon: int, hidden: int = 32, layers: int = 1):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Windows (B, window), normalised, to forecasts (B, horizon) on the same scale."""
        last = x[:, -1:]                                        # (B, 1): the level to start from
        out, _ = self.lstm((x - last).unsqueeze(-1))            # (B, window, hidden)
        return last + self.head(out[:, -1])                     # (B, horizon)


class TransformerForecaster(nn.Module):
    """A small Transformer encoder over the window's steps; the last step's vector gives the forecast.

    Each step's value is embedded by a linear layer, a learned position vector is added,
    pre-LayerNorm encoder layers attend over the whole window (the window is the past,
    so no causal mask is needed), and a linear head reads all ``horizon`` changes
    from the last position.

    Args:
        window: input length (the number of learned positions).
        horizon: steps forecast at once.
        d_model: width.
        nhead: attention heads.
        layers: encoder layers.
    """

    def __init__(self, window: int, horizon: int, d_model: int = 32, nhead: int = 4, layers: int = 2):
        super().__init__()
        self.embed = nn.Linear(1, d_model)
        self.pos = nn.Parameter(torch.randn(window, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2 * d_model, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Windows (B, window), normalised, to forecasts (B, horizon) on the same scale."""
        if x.shape[1] != self.pos.shape[0]:
            raise ValueError(f"window of {x.shape[1]} steps, the model was built for {self.pos.shape[0]}")
        last = x[:, -1:]
        h = self.embed((x - last).unsqueeze(-1)) + self.pos    # (B, window, d_model)
        h = self.norm(self.encoder(h))
        return last + self.head(h[:, -1])


def fit(model: nn.Module, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
        epochs: int, lr: float = 3e-3, batch_size: int = 32, seed: int = 0,
        device: torch.device | str = "cpu") -> dict:
    """Train with Adam on the MSE, keep the weights of the epoch with the lowest validation MSE.

    Args:
        model: a forecaster taking (B, window) and returning (B, horizon).
        train: ``(X, Y)`` normalised training windows.
        val: ``(X, Y)`` normalised validation windows.
        epochs: passes over the training windows.
        lr: Adam's learning rate.
        batch_size: windows per step.
        seed: shuffling seed.
        device: where to train.

    Returns:
        ``{"train": [...], "val": [...], "best_epoch": int}``: the per-epoch MSEs; the model
        holds the best epoch's weights on return.
    """
    device = torch.device(device)
    model.to(device)
    Xtr, Ytr = (torch.as_tensor(a, dtype=torch.float32, device=device) for a in train)
    Xva, Yva = (torch.as_tensor(a, dtype=torch.float32, device=device) for a in val)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    history = {"train": [], "val": [], "best_epoch": 0}
    best, best_state = float("inf"), None
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(Xtr), generator=g).to(device)
        total = 0.0
        for i in range(0, len(Xtr), batch_size):
            idx = order[i:i + batch_size]
            loss = nn.functional.mse_loss(model(Xtr[idx]), Ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            val_loss = nn.functional.mse_loss(model(Xva), Yva).item()
        history["train"].append(total / len(Xtr))
        history["val"].append(val_loss)
        if val_loss < best:
            best, best_state, history["best_epoch"] = val_loss, copy.deepcopy(model.state_dict()), epoch
    model.load_state_dict(best_state)
    return history


@torch.no_grad()
def predict(model: nn.Module, X: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
    """The model's forecasts for normalised windows ``X`` (N, window), as a float64 array (N, horizon)."""
    model.eval()
    x = torch.as_tensor(X, dtype=torch.float32, device=device)
    return model(x).double().cpu().numpy()
