"""What the chapter computes, checked after its last block in the page's own session."""

import json

import torch

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    assert torch.get_num_threads() == ns["previous_threads"], "the page gives back the thread count"
    lec18 = workdir / "lec18"
    # section 2: one parent run and three children in the sweep; the best first
    trials = ns["trials"]
    assert len(trials) == 3 and list(trials["metrics.val_accuracy"]) == sorted(
        trials["metrics.val_accuracy"], reverse=True
    )
    assert trials["metrics.val_accuracy"].iloc[0] > 0.9
    # TensorBoard read back: 6 epochs per trial, a histogram per epoch
    assert all(len(c["accuracy/val"]) == 6 for c in ns["curves"].values())
    assert [h[0] for h in ns["histograms"]] == [1, 2, 3, 4, 5, 6]
    # section 4: the manifest holds all five steps, keys of 64 hex digits
    manifest = json.loads((lec18 / "pipeline" / "manifest.json").read_text())
    assert sorted(manifest) == ["deploy", "evaluate", "prepare", "register", "train"]
    assert all(len(r["key"]) == 64 for r in manifest.values())
    assert out.count("skipped") >= 5 + 4
    # section 5 and 7: versions 1 and 2, the alias on 2, the deployed copy is version 2
    client = ns["client"]
    versions = sorted(int(v.version) for v in client.search_model_versions("name='digits-mlp'"))
    assert versions == [1, 2], versions
    assert int(client.get_model_version_by_alias("digits-mlp", "champion").version) == 2
    assert manifest["deploy"]["outputs"]["version"] == 2
    assert "champion == logged == deployed: True" in out
    # section 6: a real TorchX job that succeeded, and its report
    assert ns["job"].state == "SUCCEEDED" and ns["job"].returncode == 0
    report = json.loads((lec18 / "traffic" / "day2-report.json").read_text())
    assert report["drifted"] and report["psi"] > 1
    assert (lec18 / "torchx").is_dir()
    # section 7: drift on day 2 only; the retrained champion is better on the new scanner
    assert ns["psis"]["day 1"] < 0.1 < 0.25 < ns["psis"]["day 2"]
    assert "drifted: False" in out and "drifted: True" in out
    # nothing outside lec18/ (MLflow's default ./mlruns in particular)
    assert not (workdir / "mlruns").exists()
    assert files_written(workdir, "*.png") == {"lec18/tensorboard-readback.png", "lec18/drift.png"}
