import json

import pytest
import torch

import docs_support
from tutorials.lec06_data_pipelines import lab_06_data_pipeline as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_06_data_pipeline", "lab_2_1_2_results.json", sessions_root)


def test_the_whole_dry_grid_is_measured(results):
    grid = results["grid"]
    # dry run: workers {0, 1} x batch {32} x pin_memory {False, True}
    assert [(r["workers"], r["batch"], r["pin_memory"]) for r in grid] == [
        (0, 32, False), (0, 32, True), (1, 32, False), (1, 32, True)]
    for row in grid:
        assert row["images/s"] > 0 and row["epoch s"] >= row["first batch s"] > 0, row
        assert row["bottleneck"] in {"loader", "model"}
        assert row["pinned"] is (row["pin_memory"] and torch.cuda.is_available())
    assert results["images"] == 80


def test_recommended_setting_is_the_simplest_within_noise_of_the_fastest(results):
    best, noise = results["best"], results["noise"]
    fastest = max(results["grid"], key=lambda r: r["images/s"])
    assert results["fastest"]["images_per_s"] == fastest["images/s"]
    assert noise >= 0.05 and best["images_per_s"] >= fastest["images/s"] * (1 - noise)
    tied = [r for r in results["grid"] if r["images/s"] >= fastest["images/s"] * (1 - noise)]
    simplest = min(tied, key=lambda r: (r["pin_memory"], r["workers"], -r["images/s"]))
    assert (best["num_workers"], best["batch_size"], best["pin_memory"]) == (
        simplest["workers"], simplest["batch"], simplest["pin_memory"])
    if not torch.cuda.is_available():  # pin_memory is ignored: it never wins on a CPU
        assert best["pin_memory"] is False
        assert "pin_memory=True and False, which run the same loader" in results["noise_source"]


def test_the_recommendation_says_how_ties_were_decided():
    from tutorials.lec06_data_pipelines.loader_bench import LoaderThroughput, recommend_setting

    def r(workers, pin, rate):
        return LoaderThroughput(workers, 32, pin, False, 80, 3, 80 / rate, 0.05, rate)

    text = lab.recommendation_text(recommend_setting([r(0, False, 336.0), r(0, True, 345.0),
                                                      r(1, False, 174.0), r(1, True, 194.0)]))
    assert text.splitlines() == [
        "noise: 10% (two epochs of the same loader: pin_memory=True and False, which run the same "
        "loader without an accelerator); settings within 10% of the fastest count as ties",
        "fastest: num_workers=0, batch_size=32, pin_memory=True -> 345 images/s",
        "recommended: num_workers=0, batch_size=32, pin_memory=False -> 336 images/s, the simplest of "
        "the 2 settings tied with the fastest (pin_memory=False first, then the fewest workers)",
    ]


def test_model_rate_and_end_to_end(results):
    assert set(results["model_images_per_s"]) == {"32"}
    assert results["model_images_per_s"]["32"] > 0
    assert [r["workers"] for r in results["end_to_end"]] == [0, 1]
    assert all(r["train images/s"] > 0 for r in results["end_to_end"])
    cost = results["per_image_ms"]
    assert 0 < cost["decode ms"] < cost["decode + augment ms"]


def test_files_are_written(results):
    saved = json.loads((results["_out"] / "lab_2_1_2_results.json").read_text())
    assert saved["dry_run"] is True and saved["device"] == "CPU"
    assert (results["_out"] / "lab_2_1_2_throughput.png").stat().st_size > 10_000


def test_bad_grid_values_are_usage_errors(usage_error):
    err = usage_error(lab.main, ["--workers=-1,2", "--device", "cpu"])
    assert "argument --workers: expected comma-separated non-negative integers, got '-1,2'" in err
    err = usage_error(lab.main, ["--batch-sizes", "0", "--device", "cpu"])
    assert "argument --batch-sizes: expected comma-separated positive integers, got '0'" in err
    err = usage_error(lab.main, ["--repeats", "0", "--device", "cpu"])
    assert "argument --repeats: expected a positive integer, got '0'" in err


def test_bad_pin_memory_value_is_a_usage_error(usage_error):
    err = usage_error(lab.main, ["--pin-memory", "maybe"])
    assert ("argument --pin-memory: expected comma-separated true/false values, got 'maybe': "
            "'maybe' is not one of true/false, on/off, yes/no, 1/0") in err


def test_missing_data_dir_names_the_folder(tmp_path, usage_error):
    missing = tmp_path / "no-such-folder"
    err = usage_error(lab.main, ["--dry-run", "--device", "cpu", "--data-dir", str(missing),
                                 "--out-dir", str(tmp_path / "out")])
    assert f"--data-dir: image folder '{missing}' does not exist" in err
    assert not (tmp_path / "out").exists()
