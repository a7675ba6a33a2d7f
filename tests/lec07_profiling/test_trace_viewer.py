import gzip
import json

import pytest
import torch
from torch.profiler import ProfilerActivity, profile, record_function

from tutorials.lec07_profiling.trace_viewer import SCHEMA, convert_file, load_trace, to_speedscope


def check_nesting(profile_: dict) -> None:
    stack, last = [], float("-inf")
    for ev in profile_["events"]:
        assert ev["at"] >= last, "events must be in time order"
        last = ev["at"]
        if ev["type"] == "O":
            stack.append(ev["frame"])
        else:
            assert stack and stack.pop() == ev["frame"], "a close must match the innermost open frame"
    assert not stack


@pytest.fixture(scope="module")
def real_trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("trace") / "trace.json"
    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            with record_function("train_step"):
                model(torch.randn(8, 16)).sum().backward()
    prof.export_chrome_trace(str(path))
    return path


def test_real_profiler_trace_converts_with_proper_nesting(real_trace, tmp_path):
    out = convert_file(real_trace, tmp_path / "t.speedscope.json")
    data = json.loads(out.read_text())
    assert data["$schema"] == SCHEMA
    names = {f["name"] for f in data["shared"]["frames"]}
    assert {"train_step", "aten::addmm"} <= names
    for p in data["profiles"]:
        check_nesting(p)


def test_overlapping_children_are_clipped_and_gz_is_read(tmp_path):
    trace = {"traceEvents": [
        {"ph": "X", "name": "parent", "pid": 1, "tid": 1, "ts": 0, "dur": 10},
        {"ph": "X", "name": "child", "pid": 1, "tid": 1, "ts": 8, "dur": 5},  # ends after parent
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "main"}},
    ]}
    path = tmp_path / "t.json.gz"
    with gzip.open(path, "wt") as f:
        json.dump(trace, f)
    prof = to_speedscope(load_trace(path))["profiles"][0]
    check_nesting(prof)
    closes = [{"type": "C", "frame": 1, "at": 10.0}, {"type": "C", "frame": 0, "at": 10.0}]
    assert prof["events"][-2:] == closes
    assert prof["name"].endswith("main")


def test_bad_inputs_name_the_problem(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not a readable Chrome trace"):
        load_trace(bad)
    bad.write_text('{"foo": 1}')
    with pytest.raises(ValueError, match="no 'traceEvents'"):
        load_trace(bad)
    with pytest.raises(ValueError, match="no complete"):
        to_speedscope({"traceEvents": [{"ph": "i", "name": "x"}]})
