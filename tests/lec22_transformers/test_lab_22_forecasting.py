import json

import numpy as np
import pytest

import docs_support
from tutorials.lec22_transformers import lab_22_forecasting as lab
from tutorials.lec22_transformers.forecasting import load_series


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_22_forecasting", "lab_22_2_results.json", sessions_root)


def test_split_by_time_and_scaler_from_the_training_span(results):
    assert results["dry_run"] is True and results["series"] == "co2" and results["steps"] == 526
    spans = results["spans"]
    assert (spans["train"]["start"], spans["train"]["end"]) == ("1958-03", "1988-10")
    assert (spans["test"]["start"], spans["test"]["end"]) == ("1995-06", "2001-12")
    assert spans["train"]["steps"] + spans["val"]["steps"] + spans["test"]["steps"] == 526
    assert spans["test"]["windows"] == spans["test"]["steps"] - results["horizon"] + 1
    values = load_series("co2").values
    train = values[:spans["train"]["steps"]]
    assert results["scaler"]["mean"] == pytest.approx(train.mean())
    assert results["scaler"]["std"] == pytest.approx(train.std())
    assert results["scaler"]["mean"] < values.mean(), "fit on the whole series it would be higher"


def test_table_has_baselines_and_both_models(results):
    rows = {r["model"]: r for r in results["table"]}
    assert list(rows) == ["naive", "seasonal naive", "lstm", "transformer"]
    # the baselines are deterministic: the same numbers on every machine
    assert rows["naive"]["test MAE"] == pytest.approx(2.651, abs=1e-3)
    assert rows["seasonal naive"]["test MAE"] == pytest.approx(1.691, abs=1e-3)
    for r in rows.values():
        assert 0 < r["test MAE"] <= r["test RMSE"]
    assert rows["lstm"]["parameters"] > 0 and rows["transformer"]["parameters"] > 0
    assert set(results["histories"]) == {"lstm", "transformer"}
    assert all(len(h["val_mse"]) == 2 for h in results["histories"].values())


def test_the_verdict_names_the_winner_of_each_metric(results):
    rows = results["table"]
    for line, metric in zip(results["verdict"], ("test MAE", "test RMSE")):
        best = min(rows, key=lambda r: r[metric])
        assert line.startswith(f"{metric}: ") and best["model"] in line
        if "naive" in best["model"]:
            assert "baseline wins" in line
    assert results["verdict"][0] in results["_stdout"]


def test_files_are_written(results):
    out = results["_out"]
    assert json.loads((out / "lab_22_2_results.json").read_text())["dry_run"] is True
    assert (out / "lab_22_2_forecast.png").stat().st_size > 20_000


def test_verdict_when_a_network_wins():
    rows = [{"model": "naive", "test MAE": 2.0, "test RMSE": 3.0},
            {"model": "seasonal naive", "test MAE": 1.0, "test RMSE": 1.0},
            {"model": "lstm", "test MAE": 0.5, "test RMSE": 1.5}]
    assert lab.verdict(rows) == [
        "test MAE: lstm is best (0.5), 50% below the best baseline (seasonal naive, 1)",
        "test RMSE: the seasonal naive baseline wins (1); no network beats it on this metric",
    ]


def test_prepare_windows_sunspots():
    data = lab.prepare("sunspots", window=22, horizon=5)
    X, Y, origins = data["windows"]["test"]
    assert X.shape[1] == 22 and Y.shape[1] == 5 and origins[0] == data["spans"]["test"][0]
    np.testing.assert_allclose(data["scaler"].inverse(Y[0]), data["series"].values[origins[0]:origins[0] + 5])


def test_window_shorter_than_a_season_is_a_usage_error(tmp_path, usage_error):
    err = usage_error(lab.main, ["--window", "8", "--device", "cpu", "--out-dir", str(tmp_path / "out")])
    assert "--window 8 is shorter than one season of co2 (12 steps)" in err
    err = usage_error(lab.main, ["--series", "sunspots", "--window", "10", "--device", "cpu"])
    assert "one season of sunspots (11 steps)" in err
    assert not (tmp_path / "out").exists()


def test_bad_width_and_series_are_usage_errors(usage_error):
    err = usage_error(lab.main, ["--hidden", "30", "--device", "cpu"])
    assert "--hidden 30 must be a multiple of 4" in err
    err = usage_error(lab.main, ["--series", "airline"])
    assert "argument --series: invalid choice: 'airline'" in err


def test_spans_too_short_for_the_window_say_so(tmp_path):
    with pytest.raises(SystemExit, match="the val span of co2 .* is too short for --window 36 --horizon 100"):
        lab.main(["--horizon", "100", "--device", "cpu", "--out-dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
