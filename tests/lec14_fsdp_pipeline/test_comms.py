"""Reading FSDP2's collectives out of a profile: on stand-in events, and on a real two-rank profile."""

from types import SimpleNamespace

import torch
import torch._dynamo  # noqa: F401  (FSDP2 imports it on first use: once here, not in every forked rank)

from tutorials.core.distributed import launch
from tutorials.lec14_fsdp_pipeline.comms import format_collectives, fsdp_collectives


def _event(name, start, parent=None, shapes=()):
    return SimpleNamespace(name=name, cpu_parent=parent, input_shapes=list(shapes),
                           time_range=SimpleNamespace(start=start))


def test_collectives_from_stand_in_events():
    gather = _event("FSDP::all_gather (blocks.0)", 0)
    root_reduce = _event("FSDP::post_backward_reduce", 5)
    events = [
        _event("c10d::_reduce_scatter_base_", 6, _event("inner", 6, root_reduce), [[10], [20], [], []]),
        _event("c10d::_allgather_base_", 1, gather, [[16], [8], []]),
        _event("aten::mm", 2, None, [[2, 2], [2, 2]]),
        _event("c10d::allreduce_", 3, None, [[12], []]),
    ]
    prof = SimpleNamespace(events=lambda: events)
    assert fsdp_collectives(prof) == [
        {"op": "all-gather", "group": "blocks.0", "full": 16, "shard": 8},
        {"op": "all-reduce", "group": "-", "full": 12, "shard": 12},
        {"op": "reduce-scatter", "group": "root", "full": 20, "shard": 10},
    ]
    text = format_collectives(fsdp_collectives(prof)).splitlines()
    assert text[0].split() == ["all-gather", "blocks.0", "8", "->", "16", "elements"]
    assert text[2].split() == ["reduce-scatter", "root", "20", "->", "10", "elements"]


def _profile(rank, world_size):
    import torch.nn.functional as F
    from torch.distributed.device_mesh import init_device_mesh
    from torch.profiler import ProfilerActivity, profile

    from tutorials.lec14_fsdp_pipeline.models import ToyNet, shard_toynet

    torch.manual_seed(0)
    model = shard_toynet(ToyNet(), init_device_mesh("cpu", (world_size,)))
    x = torch.randn(4, 32)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        F.mse_loss(model(x), torch.zeros(4, 8)).backward()
    del model
    return fsdp_collectives(prof)


def test_collectives_of_a_real_step():
    calls = launch(_profile, world_size=2, env={"KINETO_LOG_LEVEL": "6"}, show=False)
    assert calls[0] == calls[1]
    ops = [(c["op"], c["group"]) for c in calls[0]]
    assert ops.count(("all-gather", "root")) == 1
    assert ops.count(("all-gather", "blocks.0")) == ops.count(("all-gather", "blocks.1")) == 2
    assert sorted(g for op, g in ops if op == "reduce-scatter") == ["blocks.0", "blocks.1", "root"]
    assert all(c["full"] == 2 * c["shard"] for c in calls[0])
