"""What the chapter computes, checked after its last block in the page's own session."""

import json


def claims(ns, out, workdir):
    assert {p.name for p in workdir.glob("*.png")} == {"lec07-schedule.png",
                                                       "lec07-ops-per-phase.png"}
    trace = json.loads((workdir / "lec07-trace.json").read_text())
    names = {e.get("name") for e in trace["traceEvents"]}
    assert {"forward", "backward", "optimizer", "ProfilerStep#4"} <= names
    assert ns["actions"][:4] == ["NONE", "WARMUP", "RECORD", "RECORD_AND_SAVE"]
    assert ns["counts"]["backward"] > ns["counts"]["forward"] > ns["counts"]["optimizer"]
    assert ns["profiling"].classify_bottleneck(ns["slow"]) == "data-bound"
    assert ns["profiling"].classify_bottleneck(ns["fast"]) == "compute-bound"
    assert "train_logging_every_step  {'aten::item': 8" in out
    assert "train_logging_once        {'aten::item': 1" in out
    assert "{'Linear': torch.bfloat16, 'ReLU': torch.bfloat16}" in out
    assert "Profiler must be initialized" in out

