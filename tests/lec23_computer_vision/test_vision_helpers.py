"""The CIFAR-10-format writer, the synthetic scene and the image grid."""

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from tutorials.lec23_computer_vision.vision_helpers import (
    CIFAR10_CLASSES,
    draw_scene,
    save_image_grid,
    write_cifar10_archive,
)


def test_cifar_archive_has_the_real_layout(tmp_path):
    folder = write_cifar10_archive(tmp_path, per_batch=3, seed=1)
    assert folder == tmp_path / "cifar-10-batches-py"
    with open(folder / "data_batch_2", "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    assert set(entry) == {"batch_label", "labels", "data", "filenames"}
    assert entry["data"].shape == (3, 3072) and entry["data"].dtype == np.uint8
    assert entry["labels"] == [3, 4, 5]
    with open(folder / "batches.meta", "rb") as f:
        assert pickle.load(f, encoding="latin1")["label_names"] == CIFAR10_CLASSES
    with pytest.raises(ValueError, match="per_batch"):
        write_cifar10_archive(tmp_path, per_batch=0)


def test_cifar_archive_reads_with_torchvision(tmp_path):
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import calculate_md5

    folder = write_cifar10_archive(tmp_path, per_batch=2)

    class Local(CIFAR10):
        train_list = [[f"data_batch_{i}", calculate_md5(folder / f"data_batch_{i}")] for i in range(1, 6)]
        test_list = [["test_batch", calculate_md5(folder / "test_batch")]]
        meta = {**CIFAR10.meta, "md5": calculate_md5(folder / "batches.meta")}

    ds = Local(tmp_path, train=False)
    with open(folder / "test_batch", "rb") as f:
        row = pickle.load(f, encoding="latin1")["data"][0]
    # torchvision's reshape/transpose gives back the HWC image whose planes we wrote
    assert np.array_equal(ds.data[0], row.reshape(3, 32, 32).transpose(1, 2, 0))
    assert len(Local(tmp_path, train=True)) == 10


def test_draw_scene_boxes_enclose_masks():
    image, target = draw_scene(seed=3, size=48, objects=4)
    assert image.shape == (3, 48, 48) and image.dtype == torch.uint8
    k = len(target["labels"])
    assert target["boxes"].shape == (k, 4) and target["masks"].shape == (k, 48, 48)
    assert set(target["labels"].tolist()) <= {1, 2}
    for box, mask in zip(target["boxes"], target["masks"]):
        ys, xs = mask.nonzero(as_tuple=True)
        assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert torch.equal(draw_scene(seed=3, size=48, objects=4)[0], image)
    with pytest.raises(ValueError, match="size must be at least 32"):
        draw_scene(size=16)


def test_save_image_grid(tmp_path):
    rows = [[torch.rand(1, 8, 8), torch.rand(3, 8, 8)], [torch.zeros(3, 8, 8, dtype=torch.uint8)]]
    path = save_image_grid(rows, tmp_path / "g.png", row_titles=["a", "b"], col_titles=["x", "y"])
    with Image.open(path) as im:
        assert im.size[0] > 0
