"""The chapter's script runs on its own, top to bottom, and computes what the page says."""

import runpy

import torch


def test_script_runs_and_its_claims_hold(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns = runpy.run_module("tutorials.lectures.lec02_tensors", run_name="__main__")
    assert ns["t"].stride() == (1, 4) and not ns["t"].is_contiguous()
    assert ns["windows"].stride() == (2, 1)
    assert ns["nhwc"].stride() == (60, 1, 15, 3)
    assert ns["out"].is_contiguous(memory_format=torch.channels_last)
    assert ns["right"].tolist() == [1.0, 3.0, 0.0, 1.0]
    assert ns["t_sparse"].median_us > 4 * ns["t_dense"].median_us
    assert {p.name for p in tmp_path.glob("*.png")} == {"lec02-strides.png",
                                                       "lec02-channels-last.png"}
    out = capsys.readouterr().out
    assert "strided read at least 4x slower: True" in out
    assert "refers to a single memory location" in out
