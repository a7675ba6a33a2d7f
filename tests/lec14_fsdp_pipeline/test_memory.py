"""Bytes of training state: plain tensors, DTensor shards on real ranks, and the plot."""

import torch
import torch._dynamo  # noqa: F401  (FSDP2 imports it on first use: once here, not in every forked rank)
from PIL import Image

from tutorials.core.distributed import launch
from tutorials.lec14_fsdp_pipeline.memory import local_bytes, plot_memory, state_bytes


def test_local_bytes_of_plain_tensors():
    assert local_bytes(None) == 0
    assert local_bytes(torch.zeros(3, 4)) == 48
    assert local_bytes(torch.zeros(5, dtype=torch.bfloat16)) == 10


def test_state_bytes_of_adam_and_sgd():
    model = torch.nn.Linear(10, 3)  # 33 parameters in 2 tensors
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    assert state_bytes(model, sgd) == {"params": 132, "grads": 0, "optimizer": 0}
    adam = torch.optim.Adam(model.parameters())
    model(torch.ones(2, 10)).sum().backward()
    adam.step()
    assert state_bytes(model, adam) == {"params": 132, "grads": 132, "optimizer": 2 * 132 + 2 * 4}


def _sharded_bytes(rank, world_size):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    model = fully_shard(torch.nn.Linear(4, 6), mesh=init_device_mesh("cpu", (world_size,)))
    adam = torch.optim.Adam(model.parameters())
    model(torch.ones(2, 4)).sum().backward()
    adam.step()
    measured = state_bytes(model, adam)
    del model, adam
    return measured


def test_state_bytes_counts_local_shards():
    # Linear(4, 6): weight 6 x 4 and bias 6, cut 3 + 3 rows on 2 ranks: 15 parameters per rank
    for measured in launch(_sharded_bytes, world_size=2, show=False):
        assert measured == {"params": 60, "grads": 60, "optimizer": 120 + 2 * 4}


def test_plot_memory_writes_a_png(tmp_path):
    rows = [{"world": w, "strategy": s, "params": 400 // (w if s == "FSDP" else 1),
             "grads": 400 // (w if s == "FSDP" else 1), "optimizer": 800 // (w if s == "FSDP" else 1)}
            for w in (1, 2, 4) for s in ("DDP", "FSDP")]
    path = plot_memory(rows, tmp_path / "m.png", "title")
    assert path == tmp_path / "m.png" and Image.open(path).size[0] > 500
