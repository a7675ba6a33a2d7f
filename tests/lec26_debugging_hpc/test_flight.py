"""Flight-recorder dumps from real gloo ranks: the last collective of each rank, pg_config completed,
and PyTorch's analyzer naming the collective a rank skipped (and nothing when the ranks agree)."""

import doctest
import pickle
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist

from tutorials.core.distributed import WorkerError, launch
from tutorials.lec26_debugging_hpc import flight
from tutorials.lec26_debugging_hpc.flight import (
    analyze,
    complete_pg_config,
    dump_flight_recorder,
    last_collectives,
    read_dumps,
)

FR = {"TORCH_FR_BUFFER_SIZE": "32"}


def _skip(rank, world_size, folder, skip):
    group = dist.new_group(timeout=timedelta(seconds=0.5))
    try:
        for step in range(3):
            if rank == 1 and step == 1 and skip:
                continue
            dist.all_reduce(torch.ones(3), group=group)
    finally:
        dump_flight_recorder(folder, rank)


def test_doctest():
    assert doctest.testmod(flight).failed == 0


def test_skipped_collective_is_found(tmp_path):
    with pytest.raises(WorkerError) as info:
        launch(_skip, 2, args=(tmp_path, True), timeout=30, env=FR, show=False)
    assert "Timed out waiting 500ms" in info.value.failures[0]
    dumps = read_dumps(tmp_path)
    assert sorted(dumps) == [0, 1]
    assert last_collectives(dumps) == {0: (3, "gloo:all_reduce"), 1: (2, "gloo:all_reduce")}
    report = analyze(tmp_path, world_size=2)
    assert "Not all ranks joining collective, sequence number: 3" in report
    assert "missing ranks: {1}" in report
    assert "input sizes: [[3]]" in report
    # the files were not changed: the completion happens on copies
    assert "1" not in pickle.loads((tmp_path / "rank_0").read_bytes())["pg_config"]


def test_agreeing_ranks_give_no_finding(tmp_path):
    launch(_skip, 2, args=(tmp_path, False), timeout=30, env=FR, show=False)
    dumps = read_dumps(tmp_path)
    assert last_collectives(dumps) == {0: (3, "gloo:all_reduce"), 1: (3, "gloo:all_reduce")}
    assert not [line for line in analyze(tmp_path, world_size=2) if "Not all ranks" in line]


def test_complete_pg_config_and_empty_dumps():
    dump = {"pg_config": {"0": {"name": "0", "desc": "default_pg", "ranks": "[0, 1, 2]"}},
            "entries": [{"process_group": ("0", "default_pg")}, {"process_group": ("5", "tp")}]}
    done = complete_pg_config(dump, world_size=3)
    assert done["pg_config"]["5"] == {"name": "5", "desc": "tp", "ranks": "[0, 1, 2]"}
    assert done["pg_config"]["0"] == dump["pg_config"]["0"] and "5" not in dump["pg_config"]
    assert last_collectives({0: {"entries": []}}) == {0: (0, "")}
