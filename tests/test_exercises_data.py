"""Each self-check passes a right answer and rejects wrong ones with a helpful message."""

import pytest
import torch
from PIL import Image
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from tutorials.exercises import data as ex
from tutorials.imagefolder import ImageFolderDataset


def test_image_folder_check_accepts_the_course_dataset(capsys):
    ex.check_image_folder(ImageFolderDataset)
    assert "✓" in capsys.readouterr().out


class _NoConvert(ImageFolderDataset):
    def load(self, index):
        return Image.open(self.samples[index][0])


class _Silent(ImageFolderDataset):
    def __getitem__(self, index):
        try:
            return super().__getitem__(index)
        except RuntimeError:
            return Image.new("RGB", (16, 16)), self.samples[index][1]


class _Unsorted(ImageFolderDataset):
    def __init__(self, root, transform=None):
        super().__init__(root, transform)
        self.classes = self.classes[::-1]


class _AllFiles(Dataset):
    def __init__(self, root, transform=None):
        self.inner = ImageFolderDataset(root, transform, extensions=(".png", ".jpg", ".jpeg",
                                                                     ".txt"))
        self.classes, self.class_to_idx = self.inner.classes, self.inner.class_to_idx

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, i):
        return self.inner[i]


@pytest.mark.parametrize("answer,message", [
    (_NoConvert, "channel"),
    (_Silent, "expected exactly one unreadable file"),
    (_Unsorted, "sorted class folder names"),
    (_AllFiles, "notes.txt must be ignored"),
])
def test_image_folder_check_rejects_wrong_answers(answer, message):
    with pytest.raises(AssertionError, match=message):
        ex.check_image_folder(answer)


def _pad(samples):
    tokens, labels = zip(*samples)
    return (pad_sequence(tokens, batch_first=True), torch.tensor([len(t) for t in tokens]),
            torch.tensor(labels))


def test_pad_collate_check(capsys):
    ex.check_pad_collate(_pad)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="must return a tuple"):
        ex.check_pad_collate(lambda s: _pad(s)[0])
    with pytest.raises(AssertionError, match="then zeros"):
        ex.check_pad_collate(lambda s: (_pad(s)[0].roll(1, dims=1),) + _pad(s)[1:])
    with pytest.raises(AssertionError, match="shape"):
        ex.check_pad_collate(lambda s: (_pad(s)[0].T,) + _pad(s)[1:])
    with pytest.raises(AssertionError, match="lengths should be"):
        ex.check_pad_collate(lambda s: (_pad(s)[0], torch.zeros(len(s)), _pad(s)[2]))

    def fixed_width(samples):  # pads to a global maximum, not the batch's
        padded, lengths, labels = _pad(samples)
        out = torch.zeros(len(samples), 5, dtype=torch.long)
        out[:, : padded.shape[1]] = padded
        return out, lengths, labels

    with pytest.raises(AssertionError, match="its own longest sequence"):
        ex.check_pad_collate(fixed_width)


class _Sharded(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


class _Unsharded(_Sharded):
    def __iter__(self):
        return iter(range(self.n))


def test_sharded_stream_check(capsys):
    ex.check_sharded_stream(_Sharded)
    assert "✓" in capsys.readouterr().out
    # one worker holds the whole stream, so the duplicates start with two
    with pytest.raises(AssertionError, match="num_workers=2 the epoch yielded"):
        ex.check_sharded_stream(_Unsharded)
    with pytest.raises(AssertionError, match="must subclass"):
        ex.check_sharded_stream(ImageFolderDataset)
