import pytest
import torch
from torchvision import tv_tensors

from tutorials.lec23_computer_vision.detection_data import (
    ShapesDataset,
    average_precision,
    collate,
    draw_detections,
    draw_scene,
    mean_average_precision,
    shape_mask,
    train_transforms,
)


def test_scene_boxes_are_the_tight_boxes_of_the_masks():
    image, target = draw_scene(torch.Generator().manual_seed(3), size=64, max_objects=3)
    assert image.shape == (3, 64, 64) and image.dtype == torch.uint8
    boxes, masks = target["boxes"], target["masks"]
    assert isinstance(boxes, tv_tensors.BoundingBoxes) and boxes.canvas_size == (64, 64)
    assert isinstance(masks, tv_tensors.Mask) and len(masks) == len(boxes) == len(target["labels"]) >= 1
    for box, mask in zip(boxes, masks, strict=True):
        rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
        assert box.tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    assert (masks.sum(0) <= 1).all(), "shapes never overlap"
    assert set(target["labels"].tolist()) <= {1, 2, 3}


def test_same_index_same_scene_and_flip_moves_boxes():
    a, b = ShapesDataset(2, 64, seed=5), ShapesDataset(2, 64, seed=5)
    assert torch.equal(a[1][0], b[1][0]) and not torch.equal(a[0][0], a[1][0])
    image, target = a[0]
    from torchvision.transforms import v2

    flipped, ft = v2.RandomHorizontalFlip(1.0)(image, target)
    x0, x1 = target["boxes"][:, 0], target["boxes"][:, 2]
    assert torch.equal(ft["boxes"][:, 0], 64 - x1) and torch.equal(ft["boxes"][:, 2], 64 - x0)
    assert torch.equal(ft["masks"], target["masks"].flip(-1))
    out, _ = train_transforms()(image, target)
    assert out.dtype == torch.float32 and 0 <= out.min() and out.max() <= 1
    images, targets = collate([a[0], a[1]])
    assert len(images) == len(targets) == 2


def test_shape_masks():
    assert int(shape_mask(1, (2, 3, 6, 5), 8).sum()) == 8
    ellipse = shape_mask(2, (0, 0, 8, 8), 8)
    assert not ellipse[0, 0] and ellipse[4, 4] and ellipse.sum() < 64
    triangle = shape_mask(3, (0, 0, 8, 8), 8)
    assert triangle[7].all() and triangle[0].sum() <= 2
    with pytest.raises(ValueError, match="unknown shape label 4"):
        shape_mask(4, (0, 0, 8, 8), 8)


def test_average_precision_exact_cases():
    t, f = True, False
    # one box found by the best detection: AP 1
    assert average_precision(torch.tensor([0.9]), torch.tensor([t]), 1) == 1.0
    # a false positive scored above the hit: precision 1/2 at recall 1
    assert average_precision(torch.tensor([0.9, 0.8]), torch.tensor([f, t]), 1) == 0.5
    # a false positive scored below the hit does not lower AP
    assert average_precision(torch.tensor([0.9, 0.8]), torch.tensor([t, f]), 1) == 1.0
    # half the boxes never found: AP 1/2
    assert average_precision(torch.tensor([0.9]), torch.tensor([t]), 2) == 0.5
    # hit, miss, hit on 2 boxes: 1/2 * 1 + 1/2 * 2/3 (the envelope), VOC's all-point rule
    ap = average_precision(torch.tensor([0.9, 0.8, 0.7]), torch.tensor([t, f, t]), 2)
    assert ap == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-12)
    # miss, hit, hit: the envelope lifts the first recall step to 2/3
    ap = average_precision(torch.tensor([0.9, 0.8, 0.7]), torch.tensor([f, t, t]), 2)
    assert ap == pytest.approx(2 / 3, abs=1e-12)
    assert average_precision(torch.tensor([]), torch.tensor([], dtype=torch.bool), 3) == 0.0
    with pytest.raises(ValueError, match="at least one ground-truth box"):
        average_precision(torch.tensor([0.5]), torch.tensor([t]), 0)


def _pred(boxes, scores, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32), "scores": torch.tensor(scores),
            "labels": torch.tensor(labels)}


def test_mean_average_precision_matching_rules():
    gt = [{"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), "labels": torch.tensor([1, 2])}]
    # exact boxes, right classes: mAP 1
    perfect = [_pred([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8], [1, 2])]
    assert mean_average_precision(perfect, gt, num_classes=3)["map"] == 1.0
    # a duplicate of the class-1 box scored higher than the class-2 hit: only one may match
    dup = [_pred([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.95], [1, 1])]
    r = mean_average_precision(dup, gt, num_classes=3)
    assert r["ap"] == {1: 1.0, 2: 0.0, 3: None} and r["map"] == 0.5
    assert r["n_ground_truth"] == {1: 1, 2: 1, 3: 0}
    # IoU exactly 0.5 counts at threshold 0.5 ([0,0,10,10] vs [0,0,10,5]: 50 / 100), just below does not
    half = [{"boxes": torch.tensor([[0.0, 0, 10, 5]]), "labels": torch.tensor([1])}]
    assert mean_average_precision([_pred([[0, 0, 10, 10]], [0.9], [1])], half, 1)["map"] == 1.0
    assert mean_average_precision([_pred([[0, 0, 10, 10.5]], [0.9], [1])], half, 1)["map"] == 0.0
    # the right box with the wrong class finds nothing
    wrong = [_pred([[0, 0, 10, 10]], [0.9], [2])]
    assert mean_average_precision(wrong, gt[:1], 2)["ap"] == {1: 0.0, 2: 0.0}
    with pytest.raises(ValueError, match="2 predictions for 1 targets"):
        mean_average_precision(perfect * 2, gt, 3)


def test_draw_detections_keeps_the_image_size():
    image = torch.zeros(3, 32, 32)
    pred = _pred([[2, 2, 20, 20], [5, 5, 9, 9]], [0.9, 0.1], [1, 3])
    truth = {"boxes": torch.tensor([[1.0, 1, 30, 30]]), "labels": torch.tensor([2])}
    out = draw_detections(image, pred, truth)
    assert out.shape == (3, 32, 32) and out.dtype == torch.uint8
    assert out[:, 1, 15].tolist() == [255, 255, 255]  # the true box's top edge is white
    assert out[0, 2, 10] == 255 and out[1, 2, 10] == 0  # the detection above the threshold is red
    assert out[:, 5, 7].tolist() == [0, 0, 0]  # below the threshold: not drawn
