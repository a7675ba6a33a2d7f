"""Synthetic detection data, box transforms, and a VOC-style mean average precision.

Lab 23.3 trains a torchvision detector from random weights on images this module
draws: rectangles, ellipses and triangles of random colours and sizes on a noisy
background. Because the code draws every object, it knows each object's exact box
and mask, so nothing has to be downloaded or labelled by hand.

* :func:`draw_scene` draws one image and returns it with its target in the format
  torchvision's detection models take: ``boxes`` as ``tv_tensors.BoundingBoxes``
  (``XYXY``, pixels), ``labels`` (int64, 1..3; 0 is the models' background class)
  and ``masks`` as ``tv_tensors.Mask`` (one ``(H, W)`` plane per object).
* :class:`ShapesDataset` serves scenes by index (the same index always draws the
  same scene) through optional ``torchvision.transforms.v2`` transforms, which move
  boxes and masks together with the pixels; :func:`train_transforms` is a flip +
  colour jitter + ``SanitizeBoundingBoxes`` pipeline; :func:`collate` keeps the
  images and targets of a batch as lists (the images could differ in size).
* :func:`average_precision` and :func:`mean_average_precision` score detections the
  way PASCAL VOC (2010 and later) does at an IoU threshold of 0.5: detections of a
  class sorted by score over the whole set, each matched to the ground-truth box it
  overlaps most (a box already taken makes it a false positive), precision made
  monotone, area under the precision-recall steps.
* :func:`draw_detections` draws predicted and true boxes on an image with
  ``torchvision.utils.draw_bounding_boxes``.

Example:
    >>> image, target = draw_scene(torch.Generator().manual_seed(0), size=64)
    >>> image.shape, image.dtype, target["boxes"].format.name
    (torch.Size([3, 64, 64]), torch.uint8, 'XYXY')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.ops import box_iou
from torchvision.transforms import v2

__all__ = [
    "CLASSES",
    "ShapesDataset",
    "average_precision",
    "collate",
    "draw_detections",
    "draw_scene",
    "eval_transforms",
    "mean_average_precision",
    "shape_mask",
    "train_transforms",
]

#: Class names by label; label 0 is the background class of torchvision's detectors.
CLASSES = ("background", "rectangle", "ellipse", "triangle")


def shape_mask(label: int, box: Sequence[int], size: int) -> torch.Tensor:
    """The boolean ``(size, size)`` mask of one shape filling the box ``(x0, y0, x1, y1)``.

    Args:
        label: 1 rectangle, 2 ellipse, 3 triangle (pointing up).
        box: integer pixel corners; ``x1``, ``y1`` exclusive.
        size: side of the square image.

    Returns:
        The mask, True on the shape's pixels.

    Raises:
        ValueError: an unknown label.
    """
    x0, y0, x1, y1 = (int(v) for v in box)
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    inside = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    if label == 1:
        return inside
    if label == 2:
        return inside & (((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0)
    if label == 3:  # apex at the top centre, base along the bottom edge
        return inside & ((xs - cx).abs() <= (ys - y0) / (y1 - y0) * rx + 0.5)
    raise ValueError(f"unknown shape label {label}; expected 1, 2 or 3 ({', '.join(CLASSES[1:])})")


def draw_scene(generator: torch.Generator, size: int = 128, max_objects: int = 3,
               min_side: int | None = None, max_side: int | None = None) -> tuple[tv_tensors.Image, dict]:
    """Draw one image with 1..``max_objects`` non-overlapping shapes; return it and its target.

    Each box is the tight box of the shape's drawn pixels, so boxes and masks agree
    exactly with the image.

    Args:
        generator: the random source (a seeded ``torch.Generator`` draws the same scene).
        size: side of the square image in pixels (>= 32).
        max_objects: the most shapes in one image.
        min_side: the smallest box side (default ``size // 6``).
        max_side: the largest box side (default ``size // 2``).

    Returns:
        ``(image, target)``: a uint8 ``tv_tensors.Image`` ``(3, size, size)`` and a dict with
        ``boxes`` (``BoundingBoxes``, XYXY float), ``labels`` (int64) and ``masks``
        (``tv_tensors.Mask``, uint8 ``(N, size, size)``).

    Raises:
        ValueError: ``size`` below 32 or ``max_objects`` below 1.
    """
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    if max_objects < 1:
        raise ValueError(f"max_objects must be at least 1, got {max_objects}")
    lo, hi = min_side or size // 6, max_side or size // 2

    def randint(a: int, b: int) -> int:  # a <= value <= b
        return int(torch.randint(a, b + 1, (1,), generator=generator))

    base = torch.rand(3, 1, 1, generator=generator) * 0.3
    pixels = (base + 0.08 * torch.randn(3, size, size, generator=generator)).clamp(0, 1)
    n = randint(1, max_objects)
    boxes, labels, masks = [], [], []
    for _ in range(20 * n):  # rejection sampling: shapes never overlap, masks stay exact
        if len(boxes) == n:
            break
        w, h = randint(lo, hi), randint(lo, hi)
        x0, y0 = randint(0, size - w), randint(0, size - h)
        box = torch.tensor([[x0, y0, x0 + w, y0 + h]], dtype=torch.float32)
        if boxes and box_iou(box, torch.stack(boxes)).max() > 0:
            continue
        label = randint(1, 3)
        mask = shape_mask(label, (x0, y0, x0 + w, y0 + h), size)
        colour = 0.45 + 0.55 * torch.rand(3, 1, 1, generator=generator)  # brighter than the background
        pixels = torch.where(mask, colour, pixels)
        rows, cols = mask.any(dim=1).nonzero(), mask.any(dim=0).nonzero()
        boxes.append(torch.tensor([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1],
                                  dtype=torch.float32))
        labels.append(label)
        masks.append(mask)
    image = tv_tensors.Image((pixels * 255).round().to(torch.uint8))
    target = {
        "boxes": tv_tensors.BoundingBoxes(torch.stack(boxes), format="XYXY", canvas_size=(size, size)),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "masks": tv_tensors.Mask(torch.stack(masks).to(torch.uint8)),
    }
    return image, target


def train_transforms() -> v2.Compose:
    """Augmentation that moves boxes and masks with the pixels, then float images in [0, 1].

    ``SanitizeBoundingBoxes`` drops boxes a geometric transform made degenerate
    (and their labels and masks); here a flip never does, but a crop would.
    """
    return v2.Compose([
        v2.RandomHorizontalFlip(0.5),
        v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3),
        v2.ToDtype(torch.float32, scale=True),  # images only: boxes keep their pixel units
        v2.SanitizeBoundingBoxes(),
    ])


def eval_transforms() -> v2.Compose:
    """Evaluation: float images in [0, 1], boxes unchanged."""
    return v2.Compose([v2.ToDtype(torch.float32, scale=True)])


class ShapesDataset(Dataset):
    """``n`` synthetic scenes; scene ``i`` is drawn from a generator seeded by ``(seed, i)``.

    Args:
        n: number of images.
        size: image side in pixels.
        seed: seed of the whole set (train and validation sets use different seeds).
        max_objects: the most shapes per image.
        transforms: a v2 transform called as ``transforms(image, target)``, or ``None``.
    """

    def __init__(self, n: int, size: int = 128, seed: int = 0, max_objects: int = 3,
                 transforms: Callable | None = None) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1 image, got {n}")
        self.n, self.size, self.seed = n, size, seed
        self.max_objects, self.transforms = max_objects, transforms

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict]:
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} images")
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        image, target = draw_scene(g, self.size, self.max_objects)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target


def collate(batch: list[tuple[torch.Tensor, dict]]) -> tuple[list[torch.Tensor], list[dict]]:
    """A batch as ``(images, targets)`` lists, the input format of torchvision's detectors."""
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)


def average_precision(scores: torch.Tensor, is_true_positive: torch.Tensor, n_ground_truth: int) -> float:
    """VOC (2010+) average precision of one class from its scored, matched detections.

    Args:
        scores: ``(D,)`` confidence of each detection of the class over the whole set.
        is_true_positive: ``(D,)`` bool, whether each detection matched a ground-truth box.
        n_ground_truth: number of ground-truth boxes of the class (> 0).

    Returns:
        The area under the precision-recall curve after making precision
        non-increasing in recall (the "all points" interpolation).

    Raises:
        ValueError: ``n_ground_truth`` is not positive, or more true positives than boxes.
    """
    if n_ground_truth <= 0:
        raise ValueError(f"average precision needs at least one ground-truth box, got {n_ground_truth}")
    if int(is_true_positive.sum()) > n_ground_truth:
        raise ValueError(f"{int(is_true_positive.sum())} true positives for {n_ground_truth} boxes: "
                         "a box was matched twice")
    if scores.numel() == 0:
        return 0.0
    order = torch.sort(scores, descending=True, stable=True).indices
    tp = is_true_positive[order].to(torch.float64).cumsum(0)
    fp = (~is_true_positive[order]).to(torch.float64).cumsum(0)
    recall = torch.cat([torch.zeros(1, dtype=torch.float64), tp / n_ground_truth])
    precision = torch.cat([torch.ones(1, dtype=torch.float64), tp / (tp + fp)])
    # envelope: the best precision at this recall or any higher one
    precision = precision.flip(0).cummax(0).values.flip(0)
    return float(((recall[1:] - recall[:-1]) * precision[1:]).sum())


def _match(pred_boxes: torch.Tensor, pred_scores: torch.Tensor, gt_boxes: torch.Tensor,
           iou_threshold: float) -> torch.Tensor:
    """True positives of one image and class, by VOC's rule.

    Each detection, best score first, takes the ground-truth box it overlaps most; a box
    already taken, or an IoU below the threshold, makes it a false positive.
    """
    tp = torch.zeros(len(pred_boxes), dtype=torch.bool)
    if len(pred_boxes) == 0 or len(gt_boxes) == 0:
        return tp
    iou = box_iou(pred_boxes, gt_boxes)
    taken = torch.zeros(len(gt_boxes), dtype=torch.bool)
    for d in torch.sort(pred_scores, descending=True, stable=True).indices.tolist():
        best, j = iou[d].max(0)
        if best >= iou_threshold and not taken[j]:
            taken[j] = tp[d] = True
    return tp


def mean_average_precision(predictions: Sequence[dict], targets: Sequence[dict], num_classes: int,
                           iou_threshold: float = 0.5) -> dict:
    """VOC-style AP per class and their mean over classes that have ground-truth boxes.

    Args:
        predictions: per image, a dict with ``boxes`` ``(D, 4)`` XYXY, ``scores`` ``(D,)``,
            ``labels`` ``(D,)`` (what a torchvision detector returns in eval mode).
        targets: per image, a dict with ``boxes`` and ``labels``.
        num_classes: labels run over ``1..num_classes`` (0, background, is ignored).
        iou_threshold: the IoU a detection needs with a box to count as found.

    Returns:
        ``{"map": float or None, "ap": {label: float or None}, "n_ground_truth": {label: int}}``;
        a class without ground-truth boxes has AP ``None`` and is left out of the mean.

    Raises:
        ValueError: the two lists differ in length.
    """
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets: one per image")
    aps, counts = {}, {}
    for c in range(1, num_classes + 1):
        scores, tps, n_gt = [], [], 0
        for pred, tgt in zip(predictions, targets, strict=True):
            gt = torch.as_tensor(tgt["boxes"])[torch.as_tensor(tgt["labels"]) == c].float()
            keep = torch.as_tensor(pred["labels"]) == c
            boxes, s = torch.as_tensor(pred["boxes"])[keep].float(), torch.as_tensor(pred["scores"])[keep]
            n_gt += len(gt)
            scores.append(s.float().cpu())
            tps.append(_match(boxes.cpu(), s.cpu(), gt.cpu(), iou_threshold))
        counts[c] = n_gt
        aps[c] = average_precision(torch.cat(scores), torch.cat(tps), n_gt) if n_gt else None
    present = [ap for ap in aps.values() if ap is not None]
    return {"map": sum(present) / len(present) if present else None, "ap": aps, "n_ground_truth": counts}


def draw_detections(image: torch.Tensor, prediction: dict | None, target: dict | None = None,
                    score_threshold: float = 0.5) -> torch.Tensor:
    """The image (float in [0, 1] or uint8) with true boxes in white and detections in colour.

    Args:
        image: ``(3, H, W)``.
        prediction: ``boxes``, ``labels``, ``scores``; those below ``score_threshold`` are left out.
        target: ``boxes`` and ``labels`` of the ground truth, or ``None``.
        score_threshold: the least score drawn.

    Returns:
        A uint8 ``(3, H, W)`` image.
    """
    from torchvision.utils import draw_bounding_boxes

    out = image if image.dtype == torch.uint8 else (image.clamp(0, 1) * 255).round().to(torch.uint8)
    out = out.cpu()
    palette = {1: "red", 2: "lime", 3: "deepskyblue"}
    if target is not None and len(target["boxes"]):
        out = draw_bounding_boxes(out, torch.as_tensor(target["boxes"]).cpu(), colors="white", width=1)
    if prediction is not None:
        keep = prediction["scores"] >= score_threshold
        boxes, labels = prediction["boxes"][keep].cpu(), prediction["labels"][keep].cpu().tolist()
        if len(boxes):
            scores = prediction["scores"][keep].tolist()
            text = [f"{CLASSES[lab][:4]} {s:.2f}" for lab, s in zip(labels, scores, strict=True)]
            colors = [palette.get(lab, "yellow") for lab in labels]
            out = draw_bounding_boxes(out, boxes, labels=text, colors=colors, width=2)
    return out
