"""MiniModule registers, walks, saves and loads state exactly as nn.Module does."""

import pytest
import torch
from torch import nn

from tutorials.lec05_nn_module.minimodule import MiniLinear, MiniModule, MiniReLU, MiniSequential


class Norm(MiniModule):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))
        self.register_buffer("running_mean", torch.zeros(3))
        self.register_buffer("mask", torch.ones(3), persistent=False)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def forward(self, x):
        return x * self.scale - self.running_mean


class RealNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))
        self.register_buffer("running_mean", torch.zeros(3))
        self.register_buffer("mask", torch.ones(3), persistent=False)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))


class Tree(MiniModule):
    def __init__(self):
        super().__init__()
        self.a = MiniLinear(3, 3)
        self.norm = Norm()
        self.body = MiniSequential(MiniLinear(3, 4), MiniReLU(), MiniLinear(4, 3, bias=False))


class RealTree(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.norm = RealNorm()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 3, bias=False))


def test_names_and_state_dict_order_match_nn_module():
    torch.manual_seed(0)
    mini = Tree()
    torch.manual_seed(0)
    real = RealTree()
    assert [n for n, _ in mini.named_parameters()] == [n for n, _ in real.named_parameters()]
    assert [n for n, _ in mini.named_buffers()] == [n for n, _ in real.named_buffers()]
    assert [n for n, _ in mini.named_modules()] == [n for n, _ in real.named_modules()]
    assert [n for n, _ in mini.named_children()] == [n for n, _ in real.named_children()]
    assert list(mini.state_dict()) == list(real.state_dict())
    assert "norm.mask" not in mini.state_dict(), "non-persistent buffers are not saved"
    for a, b in zip(mini.parameters(), real.parameters()):
        assert torch.equal(a, b), "same seed, same init as nn.Linear"


def test_state_dict_round_trip_both_ways():
    mini, real = Tree(), RealTree()
    real.load_state_dict(mini.state_dict())
    with torch.no_grad():
        for p in real.parameters():
            p.add_(1.0)
    missing, unexpected = mini.load_state_dict(real.state_dict())
    assert missing == [] and unexpected == []
    for (k, a), b in zip(mini.state_dict().items(), real.state_dict().values()):
        assert torch.equal(a, b), k
    x = torch.randn(5, 3)
    assert torch.allclose(mini.body(x), real.body(x))


def test_load_state_dict_errors_name_keys_and_shapes():
    mini = MiniSequential(MiniLinear(2, 3))
    with pytest.raises(RuntimeError, match=r"missing keys \['0.bias'\]"):
        mini.load_state_dict({"0.weight": torch.zeros(3, 2)})
    missing, unexpected = mini.load_state_dict({"0.weight": torch.zeros(3, 2), "x": torch.zeros(1)},
                                               strict=False)
    assert missing == ["0.bias"] and unexpected == ["x"]
    assert not mini[0].weight.any()
    with pytest.raises(RuntimeError, match=r"size mismatch for '0.weight'.*\(4, 2\).*\(3, 2\)"):
        mini.load_state_dict({"0.weight": torch.zeros(4, 2), "0.bias": torch.zeros(3)})


def test_failed_load_changes_nothing_unlike_nn_module():
    mini = MiniSequential(MiniLinear(2, 3), MiniLinear(3, 1))
    before = {k: v.clone() for k, v in mini.state_dict().items()}
    zeros = {k: torch.zeros_like(v) for k, v in before.items()}
    bad_shape = {**zeros, "1.weight": torch.zeros(2, 3)}  # found after 0.* in the walk
    with pytest.raises(RuntimeError, match="size mismatch for '1.weight'"):
        mini.load_state_dict(bad_shape)
    with pytest.raises(RuntimeError, match=r"unexpected keys \['extra'\]"):
        mini.load_state_dict({**zeros, "extra": torch.zeros(1)})
    assert all(torch.equal(v, before[k]) for k, v in mini.state_dict().items())
    # nn.Module copies what matches, then raises: the lecture's contrast
    real = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    with pytest.raises(RuntimeError, match="size mismatch for 1.weight"):
        real.load_state_dict(bad_shape)
    assert not real[0].weight.any()


def test_setattr_rules():
    class NoSuper(MiniModule):
        def __init__(self):
            self.w = nn.Parameter(torch.ones(1))

    with pytest.raises(AttributeError, match="before MiniModule.__init__"):
        NoSuper()
    lin = MiniLinear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        lin.weight = torch.zeros(2, 2)
    lin.bias = None  # allowed: a declared, absent parameter
    assert "bias" not in lin.state_dict() and lin.bias is None
    norm = Norm()
    norm.running_mean = torch.full((3,), 2.0)  # a tensor assigned to a buffer's name
    assert torch.equal(norm.state_dict()["running_mean"], torch.full((3,), 2.0))
    norm.note = torch.zeros(1)  # a plain tensor attribute is not registered
    assert "note" not in norm.state_dict() and "note" in norm.__dict__
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = norm.missing
    with pytest.raises(TypeError, match="wrap it in nn.Parameter"):
        norm.register_parameter("bad", torch.zeros(1))
    del norm.scale
    assert "scale" not in dict(norm.named_parameters())


def test_tied_weights_are_listed_once():
    a, b = MiniLinear(3, 3), MiniLinear(3, 3)
    b.weight = a.weight
    seq = MiniSequential(a, b)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "1.bias"]


def test_train_eval_to_zero_grad_and_hooks():
    tree = Tree()
    tree.eval()
    assert not any(m.training for _, m in tree.named_modules())
    tree.train()
    assert all(m.training for _, m in tree.named_modules())
    weight = tree.a.weight
    tree.to(torch.float64)
    assert tree.a.weight is weight and weight.dtype == torch.float64, "same Parameter object"
    assert tree.norm.running_mean.dtype == torch.float64
    assert tree.norm.steps.dtype == torch.long, "integer buffers keep their dtype"
    tree.to(torch.float32)
    x = torch.randn(4, 3)
    calls = []
    handle = tree.body.register_forward_hook(lambda m, args, out: calls.append(out.shape) or out * 0)
    assert not tree.body(x).any(), "a hook's return value replaces the output"
    tree.body.forward(x)
    handle.remove()
    tree.body(x).sum().backward()
    assert calls == [torch.Size([4, 3])]
    assert tree.body[0].weight.grad is not None
    tree.zero_grad()
    assert all(p.grad is None for p in tree.parameters())
    assert "MiniLinear(in_features=3, out_features=4)" in repr(tree)
    with pytest.raises(NotImplementedError, match="Tree does not define forward"):
        tree(x)


def test_parameters_train_with_a_torch_optimizer():
    torch.manual_seed(0)
    model = MiniSequential(MiniLinear(2, 8), MiniReLU(), MiniLinear(8, 1))
    x = torch.randn(64, 2)
    y = x[:, :1] * 2 - x[:, 1:]
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    first = None
    for _ in range(100):
        loss = ((model(x) - y) ** 2).mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first


def test_reassigned_names_keep_their_state_dict_position():
    mini, real = MiniLinear(2, 3), nn.Linear(2, 3)
    for m in (mini, real):
        m.weight = nn.Parameter(torch.zeros(3, 2))  # replaced, not appended
    assert list(mini.state_dict()) == list(real.state_dict()) == ["weight", "bias"]
    norm, real_norm = Norm(), RealNorm()
    for m in (norm, real_norm):
        m.register_buffer("running_mean", torch.ones(3))
    assert list(norm.state_dict()) == list(real_norm.state_dict())
