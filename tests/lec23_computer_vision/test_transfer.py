import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from tutorials.lec23_computer_vision.backbone import SmallCNN
from tutorials.lec23_computer_vision.transfer import (
    Augmented,
    autocast,
    fit,
    freeze_backbone,
    grad_scaler,
    load_checkpoint,
    new_head,
    resnet18_backbone,
    trainable_names,
)

CPU = torch.device("cpu")


def _tiny(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 16, 16, generator=g)
    y = torch.arange(n) % 3
    x[y == 1, :, :8] += 2.0  # a learnable signal: where the bright half is
    x[y == 2, :, 8:] += 2.0
    return TensorDataset(x, y)


def _model(pool=2):
    torch.manual_seed(0)
    return new_head(SmallCNN(num_classes=5, widths=(4, 8)), num_classes=3, pool=pool)


def test_new_head_and_freezing():
    torch.manual_seed(0)
    base = SmallCNN(num_classes=5, widths=(4, 8))
    before = {k: v.clone() for k, v in base.features.state_dict().items()}
    model = new_head(base, 3, pool=2)
    # the backbone's parameters keep their names and values
    assert all(torch.equal(model.features.state_dict()[k], v) for k, v in before.items())
    assert model.eval()(torch.zeros(2, 1, 16, 16)).shape == (2, 3)
    assert model.head[2].in_features == 8 * 4
    assert freeze_backbone(model) == ["head.2.bias", "head.2.weight"]
    assert freeze_backbone(model, frozen=False) == trainable_names(model)
    assert len(trainable_names(model)) > 2
    flat = new_head(SmallCNN(num_classes=5, widths=(4, 8)), 3)
    assert flat.head.in_features == 8 and freeze_backbone(flat) == ["head.bias", "head.weight"]
    with pytest.raises(ValueError, match="needs features ending in AdaptiveAvgPool2d"):
        new_head(model, 3, pool=2)  # its features no longer end in global pooling


def test_fit_frozen_bf16_keeps_the_backbone_and_the_best_checkpoint(tmp_path):
    model = _model()
    freeze_backbone(model)
    backbone = {k: v.clone() for k, v in model.features.state_dict().items()}
    data = _tiny()
    opt = torch.optim.AdamW(model.head.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3)
    ckpt = tmp_path / "best.pt"
    out = fit(model, DataLoader(data, batch_size=8), DataLoader(data, batch_size=24), optimizer=opt,
              scheduler=sched, epochs=3, device=CPU, precision="bf16", checkpoint=ckpt)
    assert out["logits_dtype"] == torch.bfloat16 and out["scaler_enabled"] is False
    # batch-norm statistics included: a frozen backbone stays in eval mode
    assert all(torch.equal(model.features.state_dict()[k], v) for k, v in backbone.items())
    lrs = [h["lrs"][0] for h in out["history"]]
    assert lrs[0] == pytest.approx(0.05) and lrs[0] > lrs[1] > lrs[2]
    record = load_checkpoint(_model(), ckpt)
    assert record["epoch"] == out["best_epoch"]
    best = max(h["val_accuracy"] for h in out["history"])
    assert record["val_accuracy"] == out["best_val_accuracy"] == best


def test_fit_fp32_early_stopping_and_fp16_rule():
    model = _model()
    freeze_backbone(model)  # and lr 0: nothing changes, the val loss never falls again
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    data = _tiny(12)
    out = fit(model, DataLoader(data, batch_size=6), DataLoader(data, batch_size=12), optimizer=opt,
              scheduler=None, epochs=5, device=CPU, precision="fp32", patience=2)
    assert out["stopped_early"] == 3 and len(out["history"]) == 3
    assert out["logits_dtype"] == torch.float32
    with pytest.raises(ValueError, match="precision fp16 needs CUDA, the device is cpu"):
        fit(model, [], [], optimizer=opt, scheduler=None, epochs=1, device=CPU, precision="fp16")
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, fp16"):
        fit(model, [], [], optimizer=opt, scheduler=None, epochs=1, device=CPU, precision="fp8")


def test_amp_helpers():
    assert not grad_scaler(CPU, "bf16").is_enabled()
    assert not grad_scaler(CPU, "fp16").is_enabled()  # the scaler is a CUDA fp16 tool
    with autocast(CPU, "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast(CPU, "fp32"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_augmented_applies_the_transform_per_item():
    data = Augmented(_tiny(4), lambda x: x * 0)
    x, y = data[1]
    assert torch.equal(x, torch.zeros(1, 16, 16)) and int(y) == 1 and len(data) == 4


def test_resnet18_as_features_and_head_without_a_download():
    model = resnet18_backbone(5)  # weights=None: the architecture only
    assert model.feature_dim == 512
    assert freeze_backbone(model) == ["head.bias", "head.weight"]
    model.eval()
    assert model(torch.zeros(1, 1, 32, 32)).shape == (1, 5)  # grey input repeated to 3 channels
