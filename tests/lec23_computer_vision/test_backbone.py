"""The digits splits, the SmallCNN, and the backbone checkpoint's save/load round trip."""

import pytest
import torch

from tutorials.lec23_computer_vision.backbone import (
    PRETRAIN_CLASSES,
    TRANSFER_CLASSES,
    SmallCNN,
    digits_images,
    evaluate,
    load_backbone,
    pretrain_backbone,
    split_digits,
)


def test_digits_images_shape_and_normalisation():
    images, labels = digits_images(size=16)
    assert images.shape == (1797, 1, 16, 16) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and set(labels.tolist()) == set(range(10))
    assert abs(images.mean().item()) < 0.5 and 0.5 < images.std().item() < 1.5
    with pytest.raises(ValueError, match="at least 8"):
        digits_images(size=4)


def test_split_digits_disjoint_remapped_and_seeded():
    train, val, test = split_digits(TRANSFER_CLASSES, seed=0, size=8)
    total = len(train) + len(val) + len(test)
    assert total == 896 and len(val) == len(test) == round(total * 0.2)
    for ds in (train, val, test):
        assert set(ds.tensors[1].tolist()) == {0, 1, 2, 3, 4}
    # disjoint: no image appears in two splits
    flat = [ds.tensors[0].flatten(1) for ds in (train, val, test)]
    assert not (torch.cdist(flat[0], flat[2]) == 0).any()
    again = split_digits(TRANSFER_CLASSES, seed=0, size=8)[0]
    assert torch.equal(again.tensors[0], train.tensors[0])
    assert not torch.equal(split_digits(TRANSFER_CLASSES, seed=1, size=8)[0].tensors[1], train.tensors[1])
    # the order of `classes` decides the labels
    _, _, rev = split_digits((9, 5), seed=0, size=8)
    _, all_labels = digits_images(size=8)
    assert set(rev.tensors[1].tolist()) == {0, 1}
    assert (all_labels == 9).sum() + (all_labels == 5).sum() > len(rev)
    with pytest.raises(ValueError, match="distinct digits"):
        split_digits((5, 5))
    with pytest.raises(ValueError, match="leave some training data"):
        split_digits(TRANSFER_CLASSES, val_fraction=0.5, test_fraction=0.5)


def test_small_cnn_shapes():
    model = SmallCNN(num_classes=3, widths=(4, 8))
    x = torch.randn(2, 1, 16, 16)
    assert model.features(x).shape == (2, model.feature_dim) == (2, 8)
    assert model(x).shape == (2, 3)


def test_pretrain_save_load_round_trip(tmp_path):
    path = tmp_path / "ckpt" / "backbone.pt"
    result = pretrain_backbone(path, epochs=1, size=8, widths=(4, 8))
    assert result["path"] == path and path.is_file() and result["classes"] == list(PRETRAIN_CLASSES)
    assert 0.0 <= result["val_accuracy"] <= 1.0
    checkpoint = torch.load(path, weights_only=True)
    assert set(checkpoint) == {"model", "classes", "arch"}
    model = load_backbone(path)
    assert model.pretrained_classes == list(PRETRAIN_CLASSES)
    for key, value in model.state_dict().items():
        assert torch.equal(value, checkpoint["model"][key]), key
    _, val, _ = split_digits(PRETRAIN_CLASSES, size=8)
    assert evaluate(model, val) == pytest.approx(result["val_accuracy"])


def test_load_backbone_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_backbone(missing)
    wrong_keys = tmp_path / "wrong.pt"
    torch.save({"weights": torch.zeros(1)}, wrong_keys)
    with pytest.raises(ValueError, match="wrong.pt.*expected keys"):
        load_backbone(wrong_keys)
    mismatched = tmp_path / "mismatch.pt"
    state = SmallCNN(widths=(4, 8)).state_dict()
    torch.save({"model": state, "classes": [0, 1], "arch": {"num_classes": 5, "in_channels": 1,
                                                              "widths": [4, 16]}}, mismatched)
    with pytest.raises(ValueError, match="mismatch.pt.*do not fit"):
        load_backbone(mismatched)
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pt"):
        load_backbone(garbage)
