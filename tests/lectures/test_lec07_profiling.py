"""The chapter's script runs on its own, top to bottom, and computes what the page says."""

import json
import runpy


def test_script_runs_and_its_claims_hold(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns = runpy.run_module("tutorials.lectures.lec07_profiling", run_name="__main__")
    assert {p.name for p in tmp_path.glob("*.png")} == {"lec07-schedule.png",
                                                       "lec07-ops-per-phase.png"}
    trace = json.loads((tmp_path / "lec07-trace.json").read_text())
    names = {e.get("name") for e in trace["traceEvents"]}
    assert {"forward", "backward", "optimizer", "ProfilerStep#4"} <= names
    assert ns["actions"][:4] == ["NONE", "WARMUP", "RECORD", "RECORD_AND_SAVE"]
    assert ns["counts"]["backward"] > ns["counts"]["forward"] > ns["counts"]["optimizer"]
    assert ns["profiling"].classify_bottleneck(ns["slow"]) == "data-bound"
    assert ns["profiling"].classify_bottleneck(ns["fast"]) == "compute-bound"
    out = capsys.readouterr().out
    assert "train_logging_every_step  {'aten::item': 8" in out
    assert "train_logging_once        {'aten::item': 1" in out
    assert "{'Linear': torch.bfloat16, 'ReLU': torch.bfloat16}" in out
    assert "Profiler must be initialized" in out
