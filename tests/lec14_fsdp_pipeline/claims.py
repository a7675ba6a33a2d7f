"""What the chapter computes, checked after its last block in the page's own session."""

import torch

from tutorials._book.layout import files_written


def _check_causality(pipe, schedules):
    """A stage's forward of micro-batch i starts after the previous stage's ended; backward in reverse."""
    for key in schedules:
        for step in range(len(pipe[0][key]["runs"])):
            first, last = (dict(((k, i), (s, e)) for k, i, s, e, *_ in r[key]["runs"][step][2]) for r in pipe)
            m = key[1]
            assert sorted(first) == sorted(last) == sorted((k, i) for k in "FB" for i in range(m)), key
            for i in range(m):
                assert last["F", i][0] >= first["F", i][1], (key, step, i, "stage 1 forward before its input")
                assert first["B", i][0] >= last["B", i][1], (key, step, i, "stage 0 backward too early")


def claims(ns, out, workdir):
    assert torch.get_num_threads() == ns["previous_threads"], "the page gives back the thread count"
    assert files_written(workdir, "*.png") == {"lec14/memory-per-rank.png", "lec14/pipeline-schedule.png"}

    # section 2: one FSDP step equals one single-process step on the whole batch
    assert "each rank's weights == one process on the whole batch: True" in out
    # section 3: per group, one all-gather in forward; blocks re-gathered in backward; one reduce-scatter each
    calls = ns["calls"]
    assert calls[0] == calls[1]
    forward, backward = calls[0]["forward"], calls[0]["backward"]
    assert [(c["op"], c["group"]) for c in forward] == [
        ("all-gather", "root"), ("all-gather", "blocks.0"), ("all-gather", "blocks.1")]
    assert sorted((c["op"], c["group"]) for c in backward) == sorted(
        [("all-gather", "blocks.0"), ("all-gather", "blocks.1"), ("reduce-scatter", "blocks.0"),
         ("reduce-scatter", "blocks.1"), ("reduce-scatter", "root")])
    assert all(c["full"] == 2 * c["shard"] for c in forward + backward), "2 ranks: a shard is half"
    assert sum(c["full"] for c in forward) == ns["psi"], "forward gathers every parameter once"
    # section 4: the policies
    report = ns["report"]
    assert [c["op"] for c in report["keep"]["backward"]] == ["reduce-scatter"] * 3, "no backward all-gather"
    bf16, fp32 = torch.bfloat16, torch.float32
    assert report["bf16"] == {"stored": fp32, "computed": bf16, "block input": bf16, "output": bf16,
                              "gradient": fp32}
    assert report["same loss"] is True
    assert report["pinned"] == "RuntimeError: Found no NVIDIA driver on your system.", report["pinned"]
    # section 5: measured bytes = 16 psi / N (+ Adam's step counters), DDP flat
    for row in ns["rows"]:
        n = row["world"] if row["strategy"] == "FSDP" else 1
        assert row["params"] == row["grads"] == 4 * ns["psi"] // n, row
        assert row["optimizer"] == 8 * ns["psi"] // n + 32, row
    table = [line for line in out.splitlines() if line.endswith((" =", " !="))]
    assert len(table) == 6 and all(line.endswith(" =") for line in table), table
    # section 6
    assert out.count("output == unsharded: True, gradients == unsharded: True and True") == 2
    # section 7: the schedules compute the single-process gradients, in their known orders
    pipe, schedules = ns["pipe"], ns["SCHEDULES"]
    assert all(r[key]["grads_ok"] for r in pipe for key in schedules)
    _check_causality(pipe, schedules)
    assert "stage 0: F0 F1 B0 F2 B1 F3 B2 B3   in flight at most: 2" in out
    # the bubble (recorded): the replay of the measured computations follows (p-1)/(m+p-1); the
    # real steps can only be slower than their replay (same computations, same order, real waits)
    bubbles = ns["bubbles"]
    for key, b in bubbles.items():
        assert b["measured"] >= b["replayed"] - 0.01, (key, b["measured"], b["replayed"])
        assert abs(b["replayed"] - b["theory"]) < 0.15, (key, b["replayed"], b["theory"])
        assert b["measured"] < 0.9, (key, b["measured"])
    assert bubbles["GPipe", 8]["replayed"] < bubbles["GPipe", 2]["replayed"], "m up, bubble down"
    # section 8: the 3-D layout of Narayanan et al.'s 1T run
    assert ns["d"] == 6 and ns["ranks"].shape == (6, 64, 8)
    # common mistakes
    assert "weights changed by step(): False" in out
    assert "aten.copy_.default got mixed torch.Tensor and DTensor" in out
    assert "after distribute_tensor: True" in out
    assert "rank 0 failed: ValueError: Expecting 4 arg_mbs but got 3" in out
    assert "Number of microbatches (1) must be greater than or equal to the number of stages (2)." in out
