"""Each self-check passes a right answer and rejects the anticipated wrong ones with its hint."""

import pytest
import torch
from torch.export import Dim

from tutorials.lec15_executorch import exercises as ex

# --- exercise 1: a bounded dynamic batch -----------------------------------------------


def export_for_edge(model, example, max_batch):
    batch = Dim("batch", min=1, max=max_batch)
    return torch.export.export(model, (example,), dynamic_shapes={"x": {0: batch}})


def test_bounded_export_right(capsys):
    ex.check_bounded_export(export_for_edge)
    assert capsys.readouterr().out.startswith("✓ export_for_edge")


def _static(model, example, max_batch):
    return torch.export.export(model, (example,))


def _unbounded(model, example, max_batch):
    return torch.export.export(model, (example,), dynamic_shapes={"x": {0: Dim("batch")}})


def _constant(model, example, max_batch):
    return torch.export.export(model, (example,), dynamic_shapes={"x": {0: Dim("batch", max=32)}})


def _not_exported(model, example, max_batch):
    return model


@pytest.mark.parametrize("wrong, hint", [
    (_static, "the batch is static"),
    (_unbounded, "no upper bound: give the Dim a max="),
    (_constant, "use the argument, not a constant"),
    (_not_exported, "return the ExportedProgram"),
])
def test_bounded_export_wrong(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        ex.check_bounded_export(wrong)


# --- exercise 2: the largest real-time batch --------------------------------------------


def largest_batch(latency_ms, fps, deadline_ms):
    interval = 1000 / fps
    ok = [b for b, ms in latency_ms.items() if ms <= b * interval and (b - 1) * interval + ms <= deadline_ms]
    return max(ok, default=0)


def test_largest_batch_right(capsys):
    ex.check_largest_batch(largest_batch)
    assert capsys.readouterr().out.startswith("✓ largest_batch")


def _no_waiting(latency_ms, fps, deadline_ms):
    interval = 1000 / fps
    return max([b for b, ms in latency_ms.items() if ms <= b * interval and ms <= deadline_ms], default=0)


def _strict(latency_ms, fps, deadline_ms):
    interval = 1000 / fps
    return max([b for b, ms in latency_ms.items()
                if ms < b * interval and (b - 1) * interval + ms < deadline_ms], default=0)


def _stops_at_first_failure(latency_ms, fps, deadline_ms):
    interval, best = 1000 / fps, 0
    for b in sorted(latency_ms):
        if latency_ms[b] > b * interval or (b - 1) * interval + latency_ms[b] > deadline_ms:
            break
        best = b
    return best


def _last_in_dict_order(latency_ms, fps, deadline_ms):
    interval, best = 1000 / fps, 0
    for b, ms in latency_ms.items():
        if ms <= b * interval and (b - 1) * interval + ms <= deadline_ms:
            best = b
    return best


def _per_frame_keeps_up(latency_ms, fps, deadline_ms):
    interval = 1000 / fps
    return max([b for b, ms in latency_ms.items()
                if ms <= interval and (b - 1) * interval + ms <= deadline_ms], default=0)


@pytest.mark.parametrize("wrong, hint", [
    (_no_waiting, "waits \\(b - 1\\) frame intervals"),
    (_strict, "fits both limits exactly counts"),
    (_stops_at_first_failure, "do not stop at the first batch that fails"),
    (_last_in_dict_order, "the dict is not sorted"),
    (_per_frame_keeps_up, "a batch of b has b frame intervals"),
])
def test_largest_batch_wrong(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        ex.check_largest_batch(wrong)
