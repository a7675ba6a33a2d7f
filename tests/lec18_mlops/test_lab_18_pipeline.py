"""Lab 18: the page's dry run (read, not rerun: the same command twice), and its refusals."""

import json

import pytest

import docs_support
from tutorials.lec18_mlops import lab_18_pipeline as lab
from tutorials.lec18_mlops.pipeline import STEPS


@pytest.fixture(scope="module")
def results(sessions_root):
    """The page runs the dry run twice; the results JSON is the second run's."""
    return docs_support.lab_dry_run("lab_18_pipeline", lab.RESULTS + ".json", sessions_root)


def test_first_run_ran_every_step_and_second_skipped_all(results):
    out = results["_stdout"]
    first, second = out.split("input: ")[1:3]
    assert all(f"{s:9s} ran" in first for s in STEPS)
    assert all(f"{s:9s} skipped" in second for s in STEPS)
    assert results["steps"] == {s: "skipped" for s in STEPS}


def test_mlflow_listing_and_files(results):
    assert results["runs"] == 1
    assert results["versions"] == [
        {"version": 1, "aliases": "champion", "accuracy": f"{results['accuracy']:.4f}"}
    ]
    assert results["champion_version"] == 1 and results["accuracy"] > 0.85
    assert results["config"]["epochs"] == 3 and results["config"]["hidden"] == 32
    out = results["_out"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest) == sorted(STEPS)
    assert (out / "mlflow.db").is_file() and (out / "deploy" / "digits-mlp" / "MLmodel").is_file()
    assert any((out / "tensorboard").rglob("events.out.tfevents.*"))
    assert "Traceback" not in results["_stderr"]


def test_min_accuracy_above_one_is_a_usage_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        lab.main(["--min-accuracy", "1.5", "--out-dir", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert "argument --min-accuracy: expected an accuracy between 0 and 1, got 1.5" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_parser_defaults():
    args = lab.build_parser().parse_args([])
    assert (args.epochs, args.hidden, args.out_dir, args.device, args.drift_day) == (
        12,
        64,
        "lab18",
        "cpu",
        False,
    )
