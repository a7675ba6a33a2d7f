import pytest
import torch

from tutorials.core.benchmark import time_callable
from tutorials.core.reporting import format_table
from tutorials.core.runtime import describe_environment, pick_device


def test_table_alignment_and_errors():
    out = format_table([{"name": "a", "n": 1, "ok": True}, {"name": "bbb", "n": 22, "ok": False}])
    assert out.splitlines() == [
        "| name |  n | ok  |",
        "|------|----|-----|",
        "| a    |  1 | yes |",
        "| bbb  | 22 | no  |",
    ]
    with pytest.raises(ValueError, match="at least one row"):
        format_table([])
    with pytest.raises(ValueError, match=r"row 1 lacks column\(s\) \['n'\]"):
        format_table([{"name": "a", "n": 1}, {"name": "b"}])


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="--device must be one of"):
        pick_device("tpu")
    assert describe_environment()["torch"] == torch.__version__


def test_time_callable_reports_median_and_iqr():
    t = time_callable(torch.mm, torch.randn(64, 64), torch.randn(64, 64), label="mm", min_run_time=0.05)
    assert t.label == "mm" and t.median_us > 0 and t.iqr_us >= 0 and t.runs >= 1
