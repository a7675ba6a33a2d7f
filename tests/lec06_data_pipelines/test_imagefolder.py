"""The image-folder Dataset reads what write_digit_folder writes, and names bad files."""

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from tutorials.lec06_data_pipelines.imagefolder import (
    IMAGE_EXTENSIONS,
    ImageFolderDataset,
    load_rgb,
    scan_image_folder,
    write_digit_folder,
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_digit_folder(tmp_path_factory.mktemp("digits"), per_class=5, classes=4,
                              size=16, corrupt=True)


def test_written_files_cover_formats_and_modes(folder):
    kinds = set()
    for path in folder.rglob("*"):
        if path.is_file() and path.name != "corrupt.png":
            with Image.open(path) as im:
                kinds.add((path.suffix, im.format, im.mode))
                assert im.size == (16, 16)
    assert kinds == {(".png", "PNG", "L"), (".jpg", "JPEG", "RGB"), (".png", "PNG", "P"),
                     (".jpeg", "JPEG", "L"), (".png", "PNG", "RGB")}


def test_classes_labels_and_rgb(folder):
    ds = ImageFolderDataset(folder)
    assert ds.classes == ["0", "1", "2", "3"]
    assert ds.class_to_idx == {"0": 0, "1": 1, "2": 2, "3": 3}
    assert len(ds) == 4 * 5 + 1  # corrupt.png has an image ending
    assert ds.targets() == [0] * 6 + [1] * 5 + [2] * 5 + [3] * 5
    for i in range(1, len(ds)):
        if ds.samples[i][0].name == "corrupt.png":
            continue
        image, label = ds[i]
        assert image.mode == "RGB" and label == ds.samples[i][1]


def test_corrupt_file_error_names_the_file(folder):
    ds = ImageFolderDataset(folder)
    bad = [i for i, (p, _) in enumerate(ds.samples) if p.name == "corrupt.png"]
    assert bad == [5]
    with pytest.raises(RuntimeError, match=r"cannot decode image file '.*0/corrupt\.png'"):
        ds[5]
    with pytest.raises(RuntimeError, match="corrupt.png"):
        load_rgb(folder / "0" / "corrupt.png")


def test_corrupt_file_error_from_a_worker(folder):
    ds = ImageFolderDataset(folder, transform=v2.Compose([v2.ToImage()]))
    loader = DataLoader(ds, batch_size=4, num_workers=1)
    with pytest.raises(RuntimeError, match="corrupt.png"):
        for _ in loader:
            pass


def test_transform_and_batches(folder):
    tf = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    ds = ImageFolderDataset(folder, transform=tf)
    good = torch.utils.data.Subset(ds, [i for i in range(len(ds)) if i != 5])
    x, y = next(iter(DataLoader(good, batch_size=8)))
    assert x.shape == (8, 3, 16, 16) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert y.tolist() == [0] * 5 + [1] * 3


def test_extensions_filter_and_case(tmp_path):
    write_digit_folder(tmp_path, per_class=1, classes=2, size=8)
    (tmp_path / "0" / "README.txt").write_text("not an image")
    Image.new("RGB", (8, 8)).save(tmp_path / "1" / "UPPER.PNG")
    classes, _, samples = scan_image_folder(tmp_path)
    assert classes == ["0", "1"]
    assert [p.name for p, _ in samples] == ["0_000.png", "1_000.png", "UPPER.PNG"]
    only_png = ImageFolderDataset(tmp_path, extensions=(".PNG",))
    assert len(only_png) == 3
    assert ".png" in IMAGE_EXTENSIONS and ".jpeg" in IMAGE_EXTENSIONS


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolderDataset(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no class sub-folders"):
        ImageFolderDataset(tmp_path)
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "a.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="no files ending in"):
        ImageFolderDataset(tmp_path)
    for kwargs, message in [({"classes": 11}, "classes"), ({"per_class": 0}, "per_class"),
                            ({"size": 4}, "size")]:
        with pytest.raises(ValueError, match=message):
            write_digit_folder(tmp_path / "x", **kwargs)
