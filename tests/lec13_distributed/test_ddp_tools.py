"""The recording hook averages exactly as DDP's default does, and records every bucket."""


import torch
import torch._dynamo  # noqa: F401  (DDP's constructor imports it: once here, not in every forked rank)
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from tutorials.core.distributed import launch
from tutorials.lec13_distributed.ddp_tools import BucketLog, recording_allreduce_hook


def _model():
    torch.manual_seed(0)
    return nn.Sequential(*[nn.Linear(32, 32) for _ in range(4)])


def _both(rank, world_size):
    plain, hooked = DDP(_model(), bucket_cap_mb=0.005), DDP(_model(), bucket_cap_mb=0.005)
    names = {p: n for n, p in hooked.module.named_parameters()}
    events = []
    log = BucketLog(names, events)
    hooked.register_comm_hook(log, recording_allreduce_hook)
    gen = torch.Generator().manual_seed(rank)
    for _ in range(3):
        x = torch.randn(4, 32, generator=gen)
        plain(x).square().sum().backward()
        hooked(x).square().sum().backward()
    same = all(torch.equal(a.grad, b.grad) for a, b in zip(plain.parameters(), hooked.parameters()))
    return {"same": same, "records": log.records, "events": events, "seconds": log.seconds(),
            "param_bytes": sum(p.numel() * 4 for p in hooked.parameters())}


def test_hook_equals_default_and_records_buckets():
    for r in launch(_both, world_size=2, show=False):
        assert r["same"], "the hook's gradients differ from DDP's default averaging"
        records = r["records"]
        assert records and records[0]["bucket"] == 0
        # iteration 0: one bucket with every parameter; later: rebuilt, smaller buckets
        assert records[0]["bytes"] == r["param_bytes"] and len(records[0]["params"]) == 8
        later = records[1:]
        assert len(later) > 2 and sum(rec["bytes"] for rec in later) == 2 * r["param_bytes"]
        assert later[0]["params"][0].startswith("3."), "rebuilt buckets follow backward: last layer first"
        assert all(rec["done"] is not None for rec in records) and all(s >= 0 for s in r["seconds"])
        assert len(r["events"]) == len(records) and r["events"][0].startswith("bucket 0: all-reduce launched")


def test_without_names_records_sizes_only():
    def body(rank, world_size):
        ddp = DDP(_model())
        log = BucketLog()
        ddp.register_comm_hook(log, recording_allreduce_hook)
        ddp(torch.ones(2, 32)).sum().backward()
        return log.records[0]["params"], log.records[0]["values"], dist.get_world_size()

    for params, values, world in launch(body, world_size=2, show=False):
        assert params == [] and values == 4 * (32 * 32 + 32) and world == 2
