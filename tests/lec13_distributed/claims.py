"""What the chapter computes, checked after its last block in the page's own session."""

import os
from pathlib import Path

import torch

from tutorials._book.layout import files_written


def _child_of_this_process(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:  # no such process any more
        return False
    return int(fields[1]) == os.getpid()  # field 4 of /proc/<pid>/stat: the parent's pid


def claims(ns, out, workdir):
    assert torch.get_num_threads() == ns["previous_threads"], "the page gives back the thread count"
    assert not torch.distributed.is_initialized(), "the page's own process never holds a process group"
    # section 1: four real processes, none left behind once launch() returned
    assert len(set(ns["pids"])) == 4 and os.getpid() not in ns["pids"]
    assert not any(_child_of_this_process(p) for p in ns["pids"]), "launch() left a rank running"
    # section 3: every rank recorded start + 2(n-1) steps and ends with all four contributions
    records = ns["records"]
    assert len(records) == 4 and all(len(r) == 1 + 2 * 3 for r in records)
    assert all(r[-1]["chunks"] == [0b1111] * 4 for r in records)
    assert all(r[3]["chunks"][(rank + 1) % 4] == 0b1111 for rank, r in enumerate(records)), (
        "after the reduce-scatter, rank r holds the complete chunk (r + 1) % n")
    assert ns["ring_bytes_per_rank"](4, 4_000_000) == 6_000_000
    assert out.count("ints == all_reduce: True, floats close: True, sent 6,000,000 bytes") == 4
    # section 4: DDP == by hand, bit for bit; == one process on the global batch, to rounding
    assert out.count("by hand == DDP, bit for bit: True") == 2
    assert ns["diff"] < 1e-6
    assert "accumulated == large-batch gradient (max |diff| < 1e-6): True" in out
    assert "all-reduces: 4 micro-batches with no_sync 1, without 4; one batch of 32: 1" in out
    # section 5: the real messages
    assert "Expected to have finished reduction in the prior iteration before starting a new one." in out
    assert "Parameters which did not receive grad for rank 0: parity.bias, parity.weight" in out
    assert "WorkerTimeout: ranks 0, 1 did not finish within the 2 s timeout" in out
    assert "both ranks end with the same weights: True" in out
    assert "address already in use: True" in out
    # recorded: oversubscribed threads are clearly slower (several times here; a third is the bound)
    times, fits, every = ns["times"], ns["fits"], ns["every_core"]
    fit_ms = sum(t[fits] for t in times) / len(times)
    over_ms = sum(t[every] for t in times) / len(times)
    if ns["cores"] > 1:
        assert every == ns["cores"] and every >= 2 * fits
        assert over_ms > 1.33 * fit_ms, (fit_ms, over_ms)
    # sections 6-8
    assert "loss and every gradient bit-identical to one process: True" in out
    assert "100 updates from 2 trainers (100 steps), w = [1.0, -2.0, 3.0]" in out
    dcp_files = sorted(p.name for p in (ns["ckpt"] / "dcp").iterdir())
    assert dcp_files == [".metadata", "__0_0.distcp", "__1_0.distcp"], dcp_files
    assert "same rows: True" in out and "loaded by this one process: True step 100" in out
    assert files_written(workdir, "*.png") == {"lec13/ring-allreduce.png"}
