"""The torchrun job of Lecture 8's section 11: its launch check, and one rank run in-process.

The page runs it with two processes under ``torchrun``; here one process is its own world.
"""

import socket

import pytest

from tutorials.lec08_torch_export import torchrun_job


def test_without_a_launcher_it_says_what_is_missing_and_how_to_start(monkeypatch):
    for name in torchrun_job.LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RANK", "0")
    missing = ["LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"]
    assert torchrun_job.missing_launch_variables() == missing
    with pytest.raises(SystemExit, match=f"{', '.join(missing)} not set: .*torchrun"):
        torchrun_job.main()


def test_one_rank_is_a_world_of_one(monkeypatch, capsys):
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = torchrun_job.main()
    assert result == {"rank": 0, "world_size": 1, "sum": 1.0, "seen": [(0, 0, 1)]}
    assert capsys.readouterr().out == (
        "one gloo process group, world size 1\n"
        "rank 0: LOCAL_RANK=0 WORLD_SIZE=1\n"
        "all_reduce(SUM) of rank + 1 over the ranks: 1\n"
    )
    import torch.distributed as dist

    assert not dist.is_initialized()  # the group is destroyed, even for one rank
