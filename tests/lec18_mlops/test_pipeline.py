"""The pipeline for real, on a tiny model: what runs, what skips, the registry, the deployed copy.

Also checks exercise 3's answers against the real pipeline.
"""

import os
from dataclasses import replace

import numpy as np
import pytest

from tutorials.core.datasets import digits_arrays
from tutorials.lec18_mlops.pipeline import (
    STEPS,
    PipelineConfig,
    git_state,
    read_rows,
    run_pipeline,
    tracking_uri_for,
    write_batch,
)

TINY = PipelineConfig(hidden=8, epochs=1, min_accuracy=0.0, model_name="tiny", experiment="tiny")


def statuses(results):
    return {name for name in STEPS if results[name].status == "ran"}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    pixels, labels = digits_arrays()
    write_batch(root / "raw" / "batch-000.npy", (pixels[:300] / 16).astype(np.float32), labels[:300])
    first = run_pipeline(TINY, root, log=None)
    assert statuses(first) == set(STEPS)
    return root


def test_write_batch_is_byte_stable(tmp_path):
    x, y = np.random.default_rng(0).random((5, 64)), np.arange(5)
    a = write_batch(tmp_path / "a.npy", x, y).read_bytes()
    assert write_batch(tmp_path / "a.npy", x, y).read_bytes() == a
    px, lab, src = read_rows(tmp_path / "a.npy")
    assert px.shape == (5, 64) and lab.tolist() == [0, 1, 2, 3, 4] and src is None


def test_second_run_skips_everything(root):
    assert statuses(run_pipeline(TINY, root, log=None)) == set()


def test_exercise_3_plans_are_what_the_pipeline_does(root):
    os.utime(root / "raw" / "batch-000.npy", ns=(10**18, 10**18))
    assert statuses(run_pipeline(TINY, root, log=None)) == set(), "touching the raw batch"
    import mlflow

    stricter = replace(TINY, min_accuracy=0.05)
    assert statuses(run_pipeline(stricter, root, log=None)) == {"register"}
    client = mlflow.MlflowClient()
    assert len(client.search_model_versions("name='tiny'")) == 1, "register reused the run's version"
    renamed = replace(stricter, model_name="tiny-b")
    results = run_pipeline(renamed, root, log=None)
    assert statuses(results) == {"register", "deploy"}
    assert results["deploy"].outputs == {
        "path": "deploy/tiny-b",
        "version": 1,
        "uri": "models:/tiny-b@champion",
    }
    other_split = replace(renamed, val_fraction=0.25)
    assert statuses(run_pipeline(other_split, root, log=None)) == set(STEPS)


def test_gate_refuses_and_nothing_is_deployed(root):
    import mlflow

    mlflow.set_tracking_uri(tracking_uri_for(root / "mlflow.db"))
    refused = replace(TINY, min_accuracy=1.0, model_name="never")
    results = run_pipeline(refused, root, log=None)
    assert results["register"].outputs["registered"] is False
    assert "< min_accuracy 1.0" in results["register"].outputs["reason"]
    assert results["deploy"].outputs == {"path": None, "version": None, "uri": None}


def test_tracking_contents(root):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri_for(root / "mlflow.db"))
    experiment = client.get_experiment_by_name("tiny")
    assert experiment.artifact_location.startswith("file://") and str(root) in experiment.artifact_location
    run = client.search_runs([experiment.experiment_id])[-1]
    assert set(run.data.params) == {"seed", "hidden", "epochs", "lr", "batch_size", "device"}
    assert {"git_commit", "git_dirty", "torch", "mlflow", "data_sha256"} <= set(run.data.tags)
    assert (root / "tensorboard" / run.info.run_id).is_dir()
    assert (root / "deploy" / "tiny" / "data" / "model.pt2").is_file()
    assert not (root.parent / "mlruns").exists()


def test_git_state(tmp_path):
    assert git_state(tmp_path) == {"git_commit": "no git", "git_dirty": "unknown"}
    state = git_state(__file__)
    assert state["git_commit"] == "no git" or len(state["git_commit"]) == 40


def test_missing_raw_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="no raw batches"):
        run_pipeline(TINY, tmp_path, log=None)


def test_store_is_in_wal_mode(root):
    """fast_local_sqlite: the store's journal is a write-ahead log (persistent in the file)."""
    import contextlib
    import sqlite3

    with contextlib.closing(sqlite3.connect(root / "mlflow.db")) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
