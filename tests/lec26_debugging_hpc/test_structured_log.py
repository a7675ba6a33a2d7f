"""JSON lines per rank, with the rank and the extras of each call, read back in time order."""

import doctest
import json

from tutorials.lec26_debugging_hpc import structured_log
from tutorials.lec26_debugging_hpc.structured_log import rank_logger, read_logs


def test_doctest():
    assert doctest.testmod(structured_log).failed == 0


def test_files_per_rank_merge_in_time_order(tmp_path):
    logs = [rank_logger(tmp_path / f"rank{r}.jsonl", r) for r in (0, 1)]
    logs[1].info("start")
    logs[0].warning("nan", extra={"step": 3})
    logs[1].info("step", extra={"step": 3, "loss": 0.5})
    records = read_logs(tmp_path)
    assert [(r["rank"], r["event"], r["level"]) for r in records] == [
        (1, "start", "INFO"), (0, "nan", "WARNING"), (1, "step", "INFO")]
    assert records[1]["step"] == 3 and records[2]["loss"] == 0.5
    line = (tmp_path / "rank0.jsonl").read_text().splitlines()[0]
    assert set(json.loads(line)) == {"time", "level", "event", "rank", "step"}


def test_exceptions_are_kept(tmp_path):
    log = rank_logger(tmp_path / "r.jsonl", 0)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    (record,) = read_logs(tmp_path)
    assert record["event"] == "failed" and "ValueError: boom" in record["exception"]
