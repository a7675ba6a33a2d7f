"""Helpers of Lecture 23's page: a CIFAR-10-format archive, a synthetic scene, image grids.

* :func:`write_cifar10_archive` writes a tiny ``cifar-10-batches-py/`` folder in the real
  on-disk format (the pickled dicts ``data_batch_1`` … ``data_batch_5``, ``test_batch``
  and ``batches.meta``), so ``torchvision.datasets.CIFAR10`` reads it with its own code.
* :func:`draw_scene` draws an image with rectangles and ellipses and returns their boxes,
  labels and masks — a detection/segmentation sample whose ground truth is known exactly.
* :func:`save_image_grid` saves a grid of images (tensors) as a PNG.

Examples:
    >>> import tempfile
    >>> folder = write_cifar10_archive(tempfile.mkdtemp(), per_batch=2)
    >>> sorted(p.name for p in folder.iterdir())[:3]
    ['batches.meta', 'data_batch_1', 'data_batch_2']
    >>> image, target = draw_scene(seed=0)
    >>> image.shape, image.dtype, target["boxes"].shape[1]
    (torch.Size([3, 64, 64]), torch.uint8, 4)
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

__all__ = ["CIFAR10_CLASSES", "draw_scene", "save_image_grid", "write_cifar10_archive"]

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
"""The label names ``batches.meta`` holds, in the real archive's order."""


def _photo_crops(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random 32×32 RGB crops of scikit-learn's two sample photographs, uint8 (n, 32, 32, 3)."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    photos = [np.asarray(Image.fromarray(load_sample_image(name)).resize((160, 107)))
              for name in ("china.jpg", "flower.jpg")]
    crops = np.empty((n, 32, 32, 3), dtype=np.uint8)
    for i in range(n):
        photo = photos[i % 2]
        y, x = rng.integers(0, photo.shape[0] - 32), rng.integers(0, photo.shape[1] - 32)
        crops[i] = photo[y:y + 32, x:x + 32]
    return crops


def write_cifar10_archive(root: str | Path, per_batch: int = 4, seed: int = 0) -> Path:
    """Write a tiny CIFAR-10 python archive, in the real format, under ``root``.

    Each batch file is a pickled dict with ``batch_label`` (str), ``labels`` (list of
    ints), ``data`` (a uint8 array ``(N, 3072)``: each row the red, then green, then blue
    32×32 plane, row-major) and ``filenames``; ``batches.meta`` holds ``label_names``,
    ``num_cases_per_batch`` and ``num_vis``. The pixels are random crops of
    scikit-learn's two sample photographs and the labels cycle through 0–9: the point
    is the format, not the content.

    Args:
        root: the folder to create ``cifar-10-batches-py/`` in.
        per_batch: images in each of the six batch files.
        seed: seed of the crops' positions.

    Returns:
        The ``cifar-10-batches-py`` folder.

    Raises:
        ValueError: ``per_batch`` is below 1.
    """
    if per_batch < 1:
        raise ValueError(f"per_batch must be at least 1, got {per_batch}")
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    crops = _photo_crops(per_batch * len(names), rng)
    for b, name in enumerate(names):
        hwc = crops[b * per_batch:(b + 1) * per_batch]
        labels = [(b * per_batch + i) % 10 for i in range(per_batch)]
        entry = {
            "batch_label": f"{'testing' if name == 'test_batch' else 'training'} batch {b + 1} of 6",
            "labels": labels,
            "data": hwc.transpose(0, 3, 1, 2).reshape(per_batch, 3072),  # HWC -> CHW planes, flattened
            "filenames": [f"crop_{b}_{i}.png" for i in range(per_batch)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    meta = {"num_cases_per_batch": per_batch, "label_names": CIFAR10_CLASSES, "num_vis": 3072}
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return folder


def draw_scene(seed: int = 0, size: int = 64, objects: int = 3
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Draw a ``size``×``size`` image of filled rectangles (label 1) and ellipses (label 2).

    Args:
        seed: seed of the shapes' positions, sizes and colours.
        size: image height and width (≥ 32).
        objects: number of shapes (they may overlap; later shapes are drawn on top, and
            each mask is what remains visible of its shape).

    Returns:
        ``(image, target)``: a uint8 ``(3, size, size)`` image and ``{"boxes": float (K, 4)
        XYXY of each shape's drawn extent, "labels": int64 (K,), "masks": uint8 (K, size,
        size)}`` for the K shapes still visible.

    Raises:
        ValueError: ``size`` below 32 or ``objects`` below 1.
    """
    if size < 32 or objects < 1:
        raise ValueError(f"size must be at least 32 and objects at least 1, got size={size}, "
                         f"objects={objects}")
    g = torch.Generator().manual_seed(seed)
    image = torch.full((3, size, size), 30, dtype=torch.uint8)
    owner = torch.full((size, size), -1, dtype=torch.int64)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    kinds = []
    for k in range(objects):
        w, h = (torch.randint(size // 6, size // 2, (2,), generator=g)).tolist()
        x0 = int(torch.randint(0, size - w, (1,), generator=g))
        y0 = int(torch.randint(0, size - h, (1,), generator=g))
        kind = int(torch.randint(1, 3, (1,), generator=g))
        if kind == 1:
            inside = (xx >= x0) & (xx < x0 + w) & (yy >= y0) & (yy < y0 + h)
        else:
            cx, cy = x0 + (w - 1) / 2, y0 + (h - 1) / 2
            inside = ((xx - cx) / (w / 2)) ** 2 + ((yy - cy) / (h / 2)) ** 2 <= 1.0
        colour = torch.randint(90, 256, (3,), generator=g).to(torch.uint8)
        image[:, inside] = colour[:, None]
        owner[inside] = k
        kinds.append(kind)
    boxes, labels, masks = [], [], []
    for k, kind in enumerate(kinds):
        mask = owner == k
        if not mask.any():
            continue
        ys, xs = torch.nonzero(mask, as_tuple=True)
        boxes.append([xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1])
        labels.append(kind)
        masks.append(mask.to(torch.uint8))
    target = {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels),
              "masks": torch.stack(masks)}
    return image, target


def save_image_grid(rows: Sequence[Sequence[torch.Tensor]], path: str | Path,
                    row_titles: Sequence[str] | None = None, col_titles: Sequence[str] | None = None,
                    cell: float = 1.0) -> Path:
    """Save images as a grid: ``rows[i][j]`` is a ``(H, W)``, ``(1, H, W)`` or ``(3, H, W)`` tensor.

    Float images are shown clipped to [0, 1]; uint8 images as they are.

    Args:
        rows: the images, row by row (rows may differ in length).
        path: the PNG to write (its folder must exist).
        row_titles: a label for each row, or ``None``.
        col_titles: a title for each column, or ``None``.
        cell: inches per image.

    Returns:
        ``path`` as a ``Path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell * n_cols + (0.8 if row_titles else 0),
                                                      cell * n_rows + 0.3), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(row):
                ax.axis("off")
                continue
            img = row[j].detach().cpu()
            if img.dim() == 3:
                img = img.permute(1, 2, 0)
            if img.dtype != torch.uint8:
                img = img.float().clamp(0, 1)
            if img.dim() == 3 and img.shape[2] == 1:
                img = img[..., 0]
            ax.imshow(img.numpy(), cmap="gray" if img.dim() == 2 else None, vmin=0,
                      vmax=255 if img.dtype == torch.uint8 else 1)
        if row_titles:
            axes[i, 0].set_ylabel(row_titles[i], fontsize=8)
    for j, title in enumerate(col_titles or []):
        axes[0, j].set_title(title, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
