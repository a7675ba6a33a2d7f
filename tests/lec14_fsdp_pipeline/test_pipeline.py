"""Timing, replaying and drawing pipeline schedules; on stand-in logs and on a real two-stage run."""

import pytest
import torch
from PIL import Image

from tutorials.core.distributed import launch
from tutorials.lec14_fsdp_pipeline.pipeline import (
    draw_schedule,
    idle_fraction,
    in_flight,
    order,
    replay,
    time_chunks,
)


def _log(names, f=1.0, b=2.0):
    """A log with equal slots, back to back, from names like 'F0 F1 B0 B1'."""
    log, t = [], 0.0
    for name in names.split():
        d = f if name[0] == "F" else b
        log.append((name[0], int(name[1:]), t, t + d, d))
        t += d
    return log


GPIPE = "F0 F1 F2 F3 B0 B1 B2 B3"
ONE_F_ONE_B = ("F0 F1 B0 F2 B1 F3 B2 B3", "F0 B0 F1 B1 F2 B2 F3 B3")


def test_order_in_flight_idle():
    log = _log(GPIPE)
    assert order(list(reversed(log))) == GPIPE
    assert in_flight(log) == 4
    assert in_flight(_log(ONE_F_ONE_B[0])) == 2 and in_flight(_log(ONE_F_ONE_B[1])) == 1
    assert idle_fraction(log, 0.0, 24.0) == pytest.approx(0.5)


@pytest.mark.parametrize("m", [2, 4, 8])
@pytest.mark.parametrize("p", [2, 3, 4])
def test_replay_of_equal_slots_gives_the_formula(p, m):
    names = " ".join([f"F{i}" for i in range(m)] + [f"B{i}" for i in range(m)])
    ideal = replay([_log(names)] * p)
    end = max(e[3] for log in ideal for e in log)
    assert end == pytest.approx((m + p - 1) * 3.0)
    for log in ideal:
        assert idle_fraction(log, 0.0, end) == pytest.approx((p - 1) / (m + p - 1))


def test_replay_of_1f1b_and_wall_time_fallback():
    ideal = replay([_log(n) for n in ONE_F_ONE_B])
    end = max(e[3] for log in ideal for e in log)
    assert [idle_fraction(log, 0.0, end) for log in ideal] == pytest.approx([0.2, 0.2])
    walls = [[e[:4] for e in _log(n)] for n in ONE_F_ONE_B]  # 4-tuples: durations from wall time
    assert replay(walls) == ideal


def test_replay_uses_cpu_time_not_waiting():
    paused = [(k, i, s, e + (5.0 if (k, i) == ("F", 0) else 0.0), cpu) for k, i, s, e, cpu in _log(GPIPE)]
    assert replay([paused, _log(GPIPE)]) == replay([_log(GPIPE), _log(GPIPE)])


def test_replay_refuses_impossible_orders():
    with pytest.raises(ValueError, match="wait on each other"):
        replay([_log("B0 F0"), _log("F0 B0")])  # stage 0 cannot run B0 before stage 1's B0 ... nor F0


def test_time_chunks_wraps_a_stage():
    class Stage:
        def forward_one_chunk(self, i, x):
            return x + i

        def backward_one_chunk(self, i, loss=None, last_backward=False):
            return None

    stage, log = Stage(), []
    time_chunks(stage, log)
    assert stage.forward_one_chunk(2, 1) == 3
    stage.backward_one_chunk(2, loss=None, last_backward=True)
    assert [(e[0], e[1]) for e in log] == [("F", 2), ("B", 2)]
    assert all(e[3] >= e[2] and e[4] >= 0 for e in log)


def test_draw_schedule_writes_a_png(tmp_path):
    panels = {"GPipe": [_log(GPIPE), _log(GPIPE)], "1F1B": [_log(n) for n in ONE_F_ONE_B]}
    path = draw_schedule(panels, tmp_path / "s.png", {"GPipe": 0.0})
    assert Image.open(path).size[0] > 500


def _two_stages(rank, world_size):
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.distributed.pipelining import PipelineStage, ScheduleGPipe

    part = torch.nn.Linear(8, 8)
    stage = PipelineStage(part, stage_index=rank, num_stages=world_size, device=torch.device("cpu"))
    schedule = ScheduleGPipe(stage, n_microbatches=2, loss_fn=F.mse_loss)
    log = []
    time_chunks(stage, log)
    dist.barrier()
    if rank == 0:
        schedule.step(torch.randn(4, 8))
    else:
        schedule.step(target=torch.randn(4, 8))
    return log


def test_time_chunks_on_a_real_pipeline():
    first, last = launch(_two_stages, world_size=2, show=False)
    assert order(first) == order(last) == "F0 F1 B0 B1"
    end = {(e[0], e[1]): e[3] for e in first}
    start = {(e[0], e[1]): e[2] for e in last}
    assert all(start["F", i] >= end["F", i] for i in range(2)), "stage 1 waits for stage 0's output"
