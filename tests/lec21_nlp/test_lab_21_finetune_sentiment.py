import json

import pytest

import docs_support
from tutorials.lec21_nlp import lab_21_finetune_sentiment as lab

METHODS = ["bag of embeddings", "LSTM", "Transformer", "MiniLM, frozen + logistic regression",
           "MiniLM, fine-tuned"]


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_21_finetune_sentiment", "lab_21_results.json", sessions_root)


def test_every_method_is_trained_and_scored(results):
    assert [r["method"] for r in results["rows"]] == METHODS
    for row in results["rows"]:
        assert 0.0 <= row["accuracy"] <= 1.0 and row["train s"] >= 0 and row["trainable"] > 0, row
    trainable = {r["method"]: r["trainable"] for r in results["rows"]}
    assert trainable["MiniLM, fine-tuned"] == 22_713_216 + 770  # the encoder and a 2-class head
    assert trainable["MiniLM, frozen + logistic regression"] == 385  # one weight per feature + bias


def test_dry_run_is_tiny(results):
    assert results["dry_run"] is True
    assert (results["train_size"], results["test_size"], results["max_length"]) == (24, 16, 32)
    assert len(results["finetune_losses"]) == 1  # one fine-tuning step


def test_summary_table_and_files(results):
    out = results["_stdout"]
    assert "| method" in out and "MiniLM, fine-tuned" in out and "| trainable |" in out
    assert "Loading weights" not in results["_stderr"], "the progress bar must stay silent"
    saved = json.loads((results["_out"] / "lab_21_results.json").read_text())
    assert saved["device"] == "CPU" and saved["rows"] == results["rows"]
    assert (results["_out"] / "lab_21_finetune.png").stat().st_size > 10_000


def test_bad_values_are_usage_errors(usage_error):
    err = usage_error(lab.main, ["--max-length", "4", "--device", "cpu"])
    assert "argument --max-length: expected an integer >= 8, got '4'" in err
    err = usage_error(lab.main, ["--lr", "0", "--device", "cpu"])
    assert "argument --lr: expected a positive number, got '0'" in err
    err = usage_error(lab.main, ["--train-size", "1"])
    assert "argument --train-size: expected an integer >= 2, got '1'" in err


def test_sizes_larger_than_the_corpus_are_refused(tmp_path):
    with pytest.raises(ValueError, match="cannot give 500 test and 100000 training examples"):
        lab.main(["--train-size", "100000", "--device", "cpu", "--out-dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
