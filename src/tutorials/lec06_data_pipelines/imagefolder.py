"""A class-per-folder image dataset, and a sample folder of real PNG and JPEG files.

:class:`ImageFolderDataset` reads the layout ``root/<class name>/<image file>`` that
``torchvision.datasets.ImageFolder`` reads too, written out so that every step is
visible: class names sorted into a class-to-index map, files filtered by extension,
every image converted to RGB (grayscale and palette files included), and an
undecodable file reported by name instead of as a bare PIL error deep in a worker.

:func:`write_digit_folder` makes such a folder offline from scikit-learn's digits
(real 8×8 scans, upscaled), in several formats and colour modes, optionally with one
deliberately corrupt file.

Examples:
    >>> import tempfile
    >>> root = write_digit_folder(tempfile.mkdtemp(), per_class=2, classes=3)
    >>> ds = ImageFolderDataset(root)
    >>> ds.class_to_idx
    {'0': 0, '1': 1, '2': 2}
    >>> image, label = ds[5]
    >>> image.mode, image.size, label
    ('RGB', (32, 32), 2)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFolderDataset",
    "load_rgb",
    "scan_image_folder",
    "write_digit_folder",
]

#: File endings (lower case) that :class:`ImageFolderDataset` treats as images.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

# The formats and colour modes write_digit_folder cycles through: (suffix, PIL format, mode).
_STYLES = (
    (".png", "PNG", "L"),     # 8-bit grayscale
    (".jpg", "JPEG", "RGB"),  # colour JPEG
    (".png", "PNG", "P"),     # palette (indexed colour)
    (".jpeg", "JPEG", "L"),   # grayscale JPEG
    (".png", "PNG", "RGB"),   # colour PNG
)


# --8<-- [start:scan]
def scan_image_folder(
    root: Path, extensions: Sequence[str] = IMAGE_EXTENSIONS
) -> tuple[list[str], dict[str, int], list[tuple[Path, int]]]:
    """List ``root/<class>/<file>``: classes, class → index, (path, label).

    Raises:
        FileNotFoundError: ``root`` is missing, has no class folders or
            no images.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist")
    # Sorted, so that the class -> index map is the same on every machine.
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise FileNotFoundError(f"{str(root)!r} has no class sub-folders")
    class_to_idx = {name: i for i, name in enumerate(classes)}
    exts = tuple(e.lower() for e in extensions)  # .PNG counts as .png
    samples = [
        (path, class_to_idx[name])
        for name in classes
        for path in sorted((root / name).iterdir())
        if path.is_file() and path.suffix.lower() in exts
    ]
    if not samples:
        raise FileNotFoundError(
            f"no files ending in {exts} under {str(root)!r}")
    return classes, class_to_idx, samples
# --8<-- [end:scan]


# --8<-- [start:load]
def load_rgb(path: Path) -> Image.Image:
    """Decode the image at ``path`` as RGB; an error names the file."""
    try:
        with Image.open(path) as image:  # reads only the header
            # convert() decodes the pixels, and makes 3 channels out of
            # grayscale (L), palette (P) and RGBA images
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise RuntimeError(
            f"cannot decode image file {path.as_posix()!r}: {err}"
        ) from err
# --8<-- [end:load]


class ImageFolderDataset(Dataset):
    """Images stored as ``root/<class name>/<file>``, returned as ``(image, label)``.

    Args:
        root: the folder holding one sub-folder per class.
        transform: applied to the RGB ``PIL.Image`` (e.g. a ``torchvision.transforms.v2``
            pipeline); ``None`` returns the image itself.
        extensions: file endings to accept (case-insensitive); other files are ignored.

    Attributes:
        classes: the class names, sorted.
        class_to_idx: class name → label.
        samples: ``(path, label)`` for every image, sorted by class then file name.

    Raises:
        FileNotFoundError: ``root`` is not a folder, has no class folders, or no images.
    """

    def __init__(
        self,
        root: str | Path,
        transform: Callable[[Image.Image], Any] | None = None,
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
    ) -> None:
        self.root = Path(root)
        self.transform = transform
        # only file names are listed here: no image is opened, so this is
        # fast, and the decoding happens later, in the loader's workers
        self.classes, self.class_to_idx, self.samples = scan_image_folder(
            self.root, extensions)

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> Image.Image:
        """Sample ``index`` as an RGB ``PIL.Image``, before the transform."""
        return load_rgb(self.samples[index][0])

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = self.load(index)
        if self.transform is not None:
            image = self.transform(image)
        return image, self.samples[index][1]

    def targets(self) -> list[int]:
        """The label of every sample, in order (e.g. for a ``WeightedRandomSampler``)."""
        return [label for _, label in self.samples]


def write_digit_folder(
    root: str | Path,
    per_class: int = 20,
    classes: int = 10,
    size: int = 32,
    corrupt: bool = False,
) -> Path:
    """Write scikit-learn digits as image files into ``root/<digit>/``.

    Files cycle through grayscale PNG, colour JPEG, palette PNG, grayscale JPEG and
    colour PNG, so a reader that forgets ``.convert("RGB")`` gets images with 1 and 3
    channels. Colour images get a tint, so they really are colour.

    Args:
        root: folder to create (existing files with the same names are overwritten).
        per_class: images per class (at most 170: the digits set has ~180 per class).
        classes: how many digit classes, 1 to 10 (``"0"``, ``"1"``, …).
        size: side of the square images in pixels (upscaled from 8×8).
        corrupt: also write ``root/0/corrupt.png``, a file that is not an image.

    Returns:
        ``root`` as a ``Path``.

    Raises:
        ValueError: ``per_class``, ``classes`` or ``size`` is out of range.
    """
    from sklearn.datasets import load_digits

    if not 1 <= classes <= 10:
        raise ValueError(f"classes must be between 1 and 10, got {classes}")
    if not 1 <= per_class <= 170:
        raise ValueError(f"per_class must be between 1 and 170, got {per_class}")
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    root = Path(root)
    digits = load_digits()
    for digit in range(classes):
        folder = root / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        images = digits.images[digits.target == digit][:per_class]
        for i, pixels in enumerate(images):
            gray = Image.fromarray((pixels * (255 / 16)).astype(np.uint8), mode="L")
            gray = gray.resize((size, size), Image.Resampling.BICUBIC)
            suffix, fmt, mode = _STYLES[i % len(_STYLES)]
            if mode == "L":
                image = gray
            else:
                tint = ((37 * i) % 200 + 55, (91 * i) % 200 + 55, (53 * digit) % 200 + 55)
                image = Image.merge("RGB", [gray.point(lambda v, c=c: v * c // 255)
                                            for c in tint])
                if mode == "P":
                    image = image.quantize(colors=32)
            image.save(folder / f"{digit}_{i:03d}{suffix}", format=fmt)
    if corrupt:
        (root / "0").mkdir(parents=True, exist_ok=True)
        (root / "0" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return root
