"""What the chapter computes, checked after its last block in the page's own session."""

import json

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    written = files_written(workdir)  # not the runner's files, not the labs' --out-dir
    assert written == {"lec07/schedule.png", "lec07/ops-per-phase.png", "lec07/trace.json",
                       "lec07/trace.speedscope.json"}, sorted(written)
    trace = json.loads((workdir / "lec07" / "trace.json").read_text())
    names = {e.get("name") for e in trace["traceEvents"]}
    assert {"forward", "backward", "optimizer", "ProfilerStep#4"} <= names
    assert ns["actions"][:4] == ["NONE", "WARMUP", "RECORD", "RECORD_AND_SAVE"]
    assert ns["counts"]["backward"] > ns["counts"]["forward"] > ns["counts"]["optimizer"]
    # Section 7 is recorded output (measured shares of time). What the page concludes
    # from it, on any machine: 32 samples × 20 ms of sleeping per batch make the small
    # MLP's run data-bound (at least half of the step in its "data" range; on a loaded
    # machine its tiny ops slow down and the share drops from ~99 % towards 80 %), and
    # a 1024-wide MLP fed 128 in-memory samples per step is compute-bound. Both runs do
    # all their input work in next(loader), so the DataLoader's own range is nearly
    # the whole data phase; it is nested in it, so never larger.
    profiling = ns["profiling"]
    slow, fast = profiling.data_fraction(ns["slow"]), profiling.data_fraction(ns["fast"])
    assert slow >= 0.5, f"slow loader: only {slow:.0%} of the step in the data phase"
    assert fast < 0.5, f"cached data: {fast:.0%} of the step in the data phase"
    assert profiling.classify_bottleneck(ns["slow"]) == "data-bound"
    assert profiling.classify_bottleneck(ns["fast"]) == "compute-bound"
    loader = profiling.data_fraction(ns["slow"], profiling.DATALOADER_LABEL)
    assert 0.8 * slow <= loader <= slow, (loader, slow)
    assert "train_logging_every_step  {'aten::item': 8" in out
    assert "train_logging_once        {'aten::item': 1" in out
    assert "{'Linear': torch.bfloat16, 'ReLU': torch.bfloat16}" in out
    assert "Profiler must be initialized" in out
