"""The lab's torchrun worker: the same global batch at every world size, and the same losses."""


import pytest
import torch
import torch._dynamo  # noqa: F401  (DDP's constructor imports it: once here, not in every forked rank)

from tutorials.core.distributed import launch
from tutorials.lec13_distributed import ddp_worker


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_ranks_split_the_same_global_batch(world_size):
    order = torch.randperm(50, generator=torch.Generator().manual_seed(0))
    for step in range(30):  # 30 steps of 8 wrap around the 50 samples
        whole = ddp_worker.step_indices(step, 8, 50, order, 0, 1)
        parts = [ddp_worker.step_indices(step, 8, 50, order, r, world_size) for r in range(world_size)]
        assert torch.equal(torch.cat(parts), whole)
    with pytest.raises(ValueError, match="does not split over 3 ranks"):
        ddp_worker.step_indices(0, 8, 50, order, 0, 3)


def test_model_depth():
    linear = [m for m in ddp_worker.make_model(16, depth=3) if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [
        (64, 16), (16, 16), (16, 16), (16, 16), (16, 10)]


def test_refuses_to_run_without_torchrun(monkeypatch, capsys):
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        ddp_worker.main(["--world-sizes", "1"])
    assert exit_info.value.code == 2
    assert "start it with torchrun" in capsys.readouterr().err


def _train(rank, world_size, argv):
    args = ddp_worker.build_parser().parse_args(argv)
    return ddp_worker.train_world_sizes(args, torch.device("cpu"))


def test_every_world_size_follows_the_same_losses():
    argv = ["--world-sizes", "1,2", "--steps", "5", "--warmup", "2", "--global-batch", "16",
            "--hidden", "16", "--depth", "1", "--bucket-cap-mb", "0.001"]
    results = launch(_train, world_size=2, args=(argv,), show=False)
    one, two = results[0]  # rank 0 takes part in both runs, rank 1 in the second only
    assert [r["world_size"] for r in results[1]] == [2]
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert len(one["losses"]) == len(two["losses"]) == 5
    assert max(abs(a - b) for a, b in zip(one["losses"], two["losses"])) < 1e-5
    assert two["losses"] == results[1][0]["losses"], "both ranks log the same global loss"
    assert two["step_ms"] > 0 and two["samples_per_s"] > 0
    assert len(two["buckets"]) >= 2 and all(b["count"] == 3 for b in two["buckets"])
    assert sum(b["values"] for b in two["buckets"]) == sum(
        p.numel() for p in ddp_worker.make_model(16, depth=1).parameters())
