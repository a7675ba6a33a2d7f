"""The chapter's script runs on its own, top to bottom, and computes what the page says."""

import runpy

import torch


def test_script_runs_and_its_claims_hold(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns = runpy.run_module("tutorials.lectures.lec03_autograd", run_name="__main__")
    assert ns["same"] is True, "micro-batch accumulation equals the full batch"
    assert (ns["d"].value, ns["d"].tangent) == (10.0, 13.0), "dual numbers give f and f'"
    assert torch.allclose(ns["J_forward"], ns["J_reverse"])
    assert {p.name for p in tmp_path.glob("*.png")} == {"lec03-backward-graph.png",
                                                       "lec03-gradient-norms.png"}
    out = capsys.readouterr().out
    assert "SwishFunction   saves 2 tensor(s), new memory held: 4 MB" in out
    assert "Function 'SqrtBackward0' returned nan values" in out
