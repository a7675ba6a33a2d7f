"""The lab's workers on a tiny configuration: DDP and FSDP2 agree, and a sharded checkpoint resumes."""

import torch
import torch._dynamo  # noqa: F401  (DDP and FSDP2 import it on first use: once here, not in every forked rank)

from tutorials.core.distributed import launch
from tutorials.lec14_fsdp_pipeline.fsdp_vs_ddp import compare_worker, make_mlp, median_ms, resume_worker

CONFIG = {"steps": 4, "save_at": 2, "batch_size": 8, "hidden": 16, "depth": 2, "lr": 1e-2, "seed": 0,
          "device": "cpu"}


def test_make_mlp_and_median():
    model = make_mlp(16, 3, seed=0)
    assert model(torch.zeros(2, 64)).shape == (2, 10)
    assert sum(isinstance(m, torch.nn.Linear) for m in model) == 4
    assert median_ms([100.0, 1.0, 3.0, 2.0]) == 2.0 and median_ms([5.0]) == 5.0


def test_compare_then_resume(tmp_path):
    g = torch.Generator().manual_seed(0)
    data = (torch.randn(40, 64, generator=g), torch.randint(0, 10, (40,), generator=g))
    checkpoint = tmp_path / "ckpt"
    runs = launch(compare_worker, world_size=2, args=(CONFIG, data, str(checkpoint)), show=False)
    ddp, fsdp = runs[0]["DDP"], runs[0]["FSDP"]
    assert len(ddp["losses"]) == len(fsdp["losses"]) == 4
    assert max(abs(a - b) for a, b in zip(ddp["losses"], fsdp["losses"])) < 1e-5
    assert runs[0]["DDP"]["losses"] == runs[1]["DDP"]["losses"], "every rank reports the global loss"
    for run in runs:  # FSDP: half of DDP's parameters and gradients per rank (16 and 10 rows split evenly)
        assert 2 * run["FSDP"]["params"] == run["DDP"]["params"] == 4 * sum(
            p.numel() for p in make_mlp(16, 2, 0).parameters())
        assert 2 * run["FSDP"]["grads"] == run["DDP"]["grads"]
    assert sorted(p.name for p in checkpoint.iterdir()) == [".metadata", "__0_0.distcp", "__1_0.distcp"]
    resumed = launch(resume_worker, world_size=2, args=(CONFIG, data, str(checkpoint)), show=False)
    assert resumed[0]["resumed_at"] == 2
    assert resumed[0]["losses"] == fsdp["losses"][2:], "the resumed run continues exactly"
