"""tutorials.lec07_profiling.amp_bench: one step per precision mode, and its timing."""

import pytest
import torch
from torch import nn

from tutorials.lec07_profiling import amp_bench


def _setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return model, opt, torch.randn(32, 8), torch.randint(0, 3, (32,))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_train_step_updates_fp32_weights(precision):
    model, opt, x, y = _setup()
    before = model[0].weight.detach().clone()
    seen = {}

    def hook(module, inputs, output):  # returns None: the output is unchanged
        seen["dtype"] = output.dtype

    model[0].register_forward_hook(hook)
    scaler = amp_bench.make_scaler(precision, "cpu")
    loss = amp_bench.train_step(model, opt, scaler, x, y, precision=precision, device="cpu")
    assert loss.dtype == torch.float32 and not loss.requires_grad
    assert model[0].weight.dtype == torch.float32
    assert not torch.equal(model[0].weight, before)
    expected = torch.float32 if precision == "fp32" else torch.bfloat16
    assert seen["dtype"] == expected
    assert not scaler.is_enabled()


def test_bf16_loss_close_to_fp32():
    losses = {}
    for precision in ("fp32", "bf16"):
        model, opt, x, y = _setup()
        scaler = amp_bench.make_scaler(precision, "cpu")
        losses[precision] = amp_bench.train_step(model, opt, scaler, x, y,
                                                 precision=precision, device="cpu")
    assert abs(float(losses["fp32"] - losses["bf16"])) < 0.05


def test_bench_train_step_on_cpu():
    model, opt, x, y = _setup()
    stats = amp_bench.bench_train_step(model, opt, x, y, precision="bf16", device="cpu",
                                       steps=3, warmup=1)
    assert stats.precision == "bf16" and stats.median_ms > 0 and stats.iqr_ms >= 0
    assert stats.peak_mb is None  # not measured on CPU


def test_errors():
    with pytest.raises(ValueError, match="fp16 autocast with GradScaler is a CUDA path"):
        amp_bench.check_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        amp_bench.make_scaler("int8", "cpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        amp_bench.autocast_dtype("fp8")
    model, opt, x, y = _setup()
    with pytest.raises(ValueError, match="steps must be >= 1"):
        amp_bench.bench_train_step(model, opt, x, y, precision="fp32", device="cpu", steps=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 + GradScaler needs CUDA")
def test_fp16_on_cuda():
    model, opt, x, y = _setup()
    model = model.cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    stats = amp_bench.bench_train_step(model, opt, x.cuda(), y.cuda(), precision="fp16",
                                       device="cuda", steps=3, warmup=1)
    assert stats.peak_mb is not None and stats.peak_mb > 0
