"""The chapter's models, and FSDP2 applied to ToyNet on real ranks."""

import pytest
import torch
import torch._dynamo  # noqa: F401  (FSDP2 imports it on first use: once here, not in every forked rank)

from tutorials.core.distributed import launch
from tutorials.lec14_fsdp_pipeline.models import FeedForward, ToyNet, pipeline_model, shard_toynet, stage_of


def test_toynet_shapes_and_size():
    model = ToyNet()
    assert model(torch.zeros(3, 32)).shape == (3, 8)
    assert sum(p.numel() for p in model.parameters()) == 38280
    assert all(p.shape[0] % 8 == 0 for p in model.parameters()), "every dim 0 splits over 1, 2, 4, 8 ranks"


def test_feedforward_and_pipeline_model():
    assert FeedForward(32, 128)(torch.zeros(2, 32)).shape == (2, 32)
    a, b = pipeline_model(16), pipeline_model(16)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters())), "same seed, same model"
    x = torch.randn(3, 16)
    halves = [stage_of(a, s, 2) for s in range(2)]
    assert torch.equal(halves[1](halves[0](x)), a(x)), "the stages compose to the whole model"
    with pytest.raises(ValueError, match="do not split into 3 equal stages"):
        stage_of(a, 0, 3)


def _sharded(rank, world_size):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor

    torch.manual_seed(0)
    reference = ToyNet()
    torch.manual_seed(0)
    model = shard_toynet(ToyNet(), init_device_mesh("cpu", (world_size,)))
    x = torch.randn(4, 32, generator=torch.Generator().manual_seed(1))
    dtensors = all(isinstance(p, DTensor) for p in model.parameters())
    out = model(x)
    same = torch.allclose(out, reference(x), atol=1e-6)
    # after forward the root keeps its parameters gathered (reshard_after_forward is False for
    # the root): they are registered as plain tensors until backward; the blocks are resharded
    after_forward = {name: isinstance(p, DTensor) for name, p in model.named_parameters()}
    out.sum().backward()
    result = {"class": type(model).__name__, "same": same, "dtensors": dtensors,
              "local": tuple(model.blocks[0].fc.weight.to_local().shape),
              "root sharded after forward": after_forward["head.weight"] or after_forward["inp.weight"],
              "blocks sharded after forward": after_forward["blocks.0.fc.weight"],
              "sharded after backward": all(isinstance(p, DTensor) for p in model.parameters())}
    del model
    return result


def test_shard_toynet_on_two_ranks():
    for result in launch(_sharded, world_size=2, show=False):
        assert result == {"class": "FSDPToyNet", "same": True, "dtensors": True, "local": (64, 128),
                          "root sharded after forward": False, "blocks sharded after forward": True,
                          "sharded after backward": True}
