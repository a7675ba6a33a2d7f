"""Each self-check passes a right answer and rejects wrong ones with a helpful message."""

import pytest
import torch
from PIL import Image
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from tutorials.lec06_data_pipelines import exercises as ex
from tutorials.lec06_data_pipelines.imagefolder import ImageFolderDataset


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
    with pytest.raises(AssertionError, match="shape") as err:
        ex.check_pad_collate(lambda s: (_pad(s)[0].T,) + _pad(s)[1:])
    assert "pad_sequence" not in str(err.value), "the exercise forbids pad_sequence"
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
    """The solution's split: blocks of ceil(n / num_workers), the last one shorter."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        per_worker = -(-self.n // info.num_workers)
        start = info.id * per_worker
        return iter(range(start, min(start + per_worker, self.n)))


class _RemainderToLast(_Sharded):
    """Blocks of n // num_workers, the last worker also takes the rest: right too."""

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        per_worker = self.n // info.num_workers
        start = info.id * per_worker
        last = info.id == info.num_workers - 1
        return iter(range(start, self.n if last else start + per_worker))


class _Unsharded(_Sharded):
    def __iter__(self):
        return iter(range(self.n))


class _FloorBlocks(_Sharded):
    """Issue 10: blocks of n // num_workers lose item 9 with n = 10 and 3 workers."""

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        per_worker = self.n // info.num_workers
        return iter(range(info.id * per_worker, (info.id + 1) * per_worker))


class _Strided(_Sharded):
    """Issue 10: every item once, but worker k takes k, k + K, ...: not contiguous."""

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


class _CeilPastTheEnd(_Sharded):
    """Ceil-sized blocks without stopping at n: the last block runs past n - 1."""

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        per_worker = -(-self.n // info.num_workers)
        return iter(range(info.id * per_worker, (info.id + 1) * per_worker))


@pytest.mark.parametrize("answer", [_Sharded, _RemainderToLast])
def test_sharded_stream_check_accepts_contiguous_splits(answer, capsys):
    ex.check_sharded_stream(answer)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("answer,message", [
    # one worker holds the whole stream, so the duplicates start with two
    (_Unsharded, r"n=10 and num_workers=2 the epoch yielded .*; repeated \[0, 1,"),
    (_FloorBlocks, r"n=10 and num_workers=3 .*; missing \[9\]\..*does not divide n"),
    (_Strided, r"worker 0 yielded \[0, 2, 4, 6, 8\]: every item once, but not one "
               "contiguous block"),
    (_CeilPastTheEnd, r"n=10 and num_workers=3 .*; out of range \[10, 11\]"),
    (ImageFolderDataset, "must subclass"),
])
def test_sharded_stream_check_rejects_wrong_answers(answer, message):
    with pytest.raises(AssertionError, match=message) as err:
        ex.check_sharded_stream(answer)
    assert "range(" not in str(err.value), "the hint does not hand out the split"


def test_sharded_stream_check_does_not_prescribe_a_strided_split():
    with pytest.raises(AssertionError) as err:
        ex.check_sharded_stream(_Unsharded)
    assert "k + num_workers" not in str(err.value)
