"""Lecture 6: data pipelines — Dataset, Sampler, DataLoader, augmentation.

The code of the chapter ``docs/lectures/06-data-pipelines.md``, in the order
the page shows it. Run it top to bottom with
``python -m tutorials.lec06_data_pipelines.chapter``; it writes a folder of
digit images and the chapter's figure into ``lec06/`` under the current
directory.
"""

# --8<-- [start:imports]
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    get_worker_info,
)

torch.manual_seed(0)
OUT = Path("lec06")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)
# --8<-- [end:imports]


# --8<-- [start:map_style]
class SquaresDataset(Dataset):
    """Sample i is (tensor [i, i**2], label i % 3): a map-style dataset."""

    def __init__(self, n):
        self.n = n

    def __len__(self):  # the sampler draws indices from range(len(self))
        return self.n

    def __getitem__(self, i):  # one sample, by index
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} samples")
        return torch.tensor([i, i**2], dtype=torch.float32), i % 3


squares = SquaresDataset(10)
print(len(squares), squares[3])
loader = DataLoader(squares, batch_size=4)  # no shuffle: indices in order
for x, y in loader:
    print(tuple(x.shape), y.tolist())
# --8<-- [end:map_style]

# --8<-- [start:collate]
from torch.utils.data import default_collate

# default_collate stacks samples field by field, keeping their structure:
# tensors -> a new leading dim, numbers -> a tensor, dicts -> dict of batches.
samples = [{"image": torch.zeros(3, 2, 2), "label": k, "name": f"img{k}"}
           for k in range(4)]
batch = default_collate(samples)
print(tuple(batch["image"].shape), batch["label"], batch["name"])
# --8<-- [end:collate]

# --8<-- [start:samplers]
# The sampler yields indices; the batch sampler groups them into batches.
print(list(SequentialSampler(range(10))))
g = torch.Generator().manual_seed(0)
print(list(RandomSampler(range(10), generator=g)))
print(list(BatchSampler(SequentialSampler(range(10)), 4, drop_last=False)))
print(list(BatchSampler(SequentialSampler(range(10)), 4, drop_last=True)))

# shuffle=True is just RandomSampler; batch_size wraps it in a BatchSampler
loader = DataLoader(squares, batch_size=4, shuffle=True,
                    generator=torch.Generator().manual_seed(0))
print(type(loader.sampler).__name__, type(loader.batch_sampler).__name__)
print([y.tolist() for _, y in loader])
# --8<-- [end:samplers]

# --8<-- [start:weighted_sampler]
from torch.utils.data import WeightedRandomSampler

# An imbalanced set: 90 samples of class 0, 10 of class 1.
labels = torch.tensor([0] * 90 + [1] * 10)
class_weight = 1.0 / torch.bincount(labels).float()  # rare class: high weight
sampler = WeightedRandomSampler(class_weight[labels], num_samples=1000,
                                generator=torch.Generator().manual_seed(0))
drawn = labels[list(sampler)]
print("class counts drawn:", torch.bincount(drawn).tolist())
# --8<-- [end:weighted_sampler]

# --8<-- [start:distributed_sampler]
from torch.utils.data.distributed import DistributedSampler

# Two training processes ("ranks") split every epoch between them.
# (In a real run num_replicas and rank come from the process group.)
for rank in (0, 1):
    shard = DistributedSampler(range(10), num_replicas=2, rank=rank,
                               shuffle=True, seed=0)
    shard.set_epoch(0)  # call every epoch, or each epoch repeats the order
    print(f"rank {rank}:", list(shard))
# --8<-- [end:distributed_sampler]


# --8<-- [start:sentences]
class SentenceDataset(Dataset):
    """Token-id sequences of different lengths, with a label each."""

    def __init__(self):
        self.data = [([5, 2, 9], 1), ([7, 1], 0), ([3, 3, 8, 4, 6], 1)]

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        tokens, label = self.data[i]
        return torch.tensor(tokens), label


try:
    next(iter(DataLoader(SentenceDataset(), batch_size=3)))
except RuntimeError as err:
    print("RuntimeError:", err)
# --8<-- [end:sentences]

# --8<-- [start:pad_collate]
from torch.nn.utils.rnn import pad_sequence


def pad_collate(samples):
    """Pad a list of (tokens, label) to a (B, T_max) batch with lengths."""
    tokens, labels = zip(*samples)
    lengths = torch.tensor([len(t) for t in tokens])
    padded = pad_sequence(tokens, batch_first=True, padding_value=0)
    return padded, lengths, torch.tensor(labels)


loader = DataLoader(SentenceDataset(), batch_size=3, collate_fn=pad_collate)
padded, lengths, labels = next(iter(loader))
print(padded, lengths.tolist(), labels.tolist())
# --8<-- [end:pad_collate]


# --8<-- [start:iterable]
class CountingStream(IterableDataset):
    """Streams 0..n-1, e.g. lines of a big file read in order."""

    def __init__(self, n, shard=False):
        self.n, self.shard = n, shard

    def __iter__(self):
        info = get_worker_info()  # None in the main process
        if not self.shard or info is None:
            return iter(range(self.n))
        # worker k of K takes items k, k + K, k + 2K, ...
        return iter(range(info.id, self.n, info.num_workers))


for shard in (False, True):
    loader = DataLoader(CountingStream(6, shard), batch_size=None,
                        num_workers=2)
    print(f"shard={shard}:", sorted(loader))
# --8<-- [end:iterable]


# --8<-- [start:workers_are_processes]
class WhoLoadsMe(Dataset):
    """Returns the id of the process that ran __getitem__."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return os.getpid()


pids = set(DataLoader(WhoLoadsMe(), batch_size=None, num_workers=2))
print("samples loaded by", len(pids), "worker processes")
print("none of them is this process:", os.getpid() not in pids)
# --8<-- [end:workers_are_processes]


# --8<-- [start:workers_overlap]
class SlowDataset(Dataset):
    """Each sample takes 50 ms (a slow disk); records who ran it, when."""

    def __len__(self):
        return 16

    def __getitem__(self, i):
        start = time.time()
        time.sleep(0.05)
        return get_worker_info().id, start, time.time()


loader = DataLoader(SlowDataset(), batch_size=4, num_workers=2,
                    collate_fn=lambda batch: batch)
spans = {0: [], 1: []}  # worker id -> (start, end) of each sample
t0 = time.time()
for batch in loader:
    for worker, start, end in batch:
        spans[worker].append((start - t0, end - t0))  # seconds since t0
busy = {w: (min(s for s, _ in v), max(e for _, e in v))
        for w, v in spans.items()}
for w, (start, end) in busy.items():
    print(f"worker {w} busy from {start:.2f} s to {end:.2f} s")
startup = min(s for s, _ in busy.values())  # starting the workers
loading = max(e for _, e in busy.values()) - startup
print(f"16 samples of 50 ms = 0.80 s of loading, done in {loading:.2f} s")
# --8<-- [end:workers_overlap]



# --8<-- [start:persistent_workers]
def worker_pids(loader, epochs=2):
    """The set of worker process ids that served each epoch."""
    return [set(loader) for _ in range(epochs)]


fresh = DataLoader(WhoLoadsMe(), batch_size=None, num_workers=2)
kept = DataLoader(WhoLoadsMe(), batch_size=None, num_workers=2,
                  persistent_workers=True, prefetch_factor=2)
e1, e2 = worker_pids(fresh)
print("new workers every epoch:", e1.isdisjoint(e2))
e1, e2 = worker_pids(kept)
print("persistent workers reused:", e1 == e2)
del kept  # shuts its workers down
# --8<-- [end:persistent_workers]

# --8<-- [start:pin_memory]
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
pin = device.type == "cuda"  # page-locked memory only helps host->GPU copies
loader = DataLoader(squares, batch_size=4, pin_memory=pin)
x, y = next(iter(loader))
print("batch is pinned exactly when CUDA is present:", x.is_pinned() == pin)
# non_blocking=True lets the copy overlap with the GPU's work (pinned only)
x = x.to(device, non_blocking=pin)
print(tuple(x.shape))
# --8<-- [end:pin_memory]


# --8<-- [start:seeding_bug]
class JitterDataset(Dataset):
    """A random 'augmentation' drawn from a generator the dataset owns."""

    def __init__(self):
        self.rng = np.random.default_rng(0)  # copied into every worker!

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return round(float(self.rng.uniform()), 3)


loader = DataLoader(JitterDataset(), batch_size=2, num_workers=2)
print([b.tolist() for b in loader])
# --8<-- [end:seeding_bug]


# --8<-- [start:seeding_fix]
from torch.utils.data import ConcatDataset, Subset


def wrapped(dataset):
    """The dataset and all it wraps: Subset (random_split's parts), ConcatDataset."""
    yield dataset
    if isinstance(dataset, Subset):
        yield from wrapped(dataset.dataset)
    elif isinstance(dataset, ConcatDataset):
        for part in dataset.datasets:
            yield from wrapped(part)


def seed_worker(worker_id):
    """Give each generator in the worker's copy of the dataset its own seed."""
    info = get_worker_info()
    # info.seed = base_seed + worker_id; base_seed comes from the
    # loader's generator, so it repeats when that generator is seeded.
    owners = [d for d in wrapped(info.dataset) if hasattr(d, "rng")]
    for k, dataset in enumerate(owners):  # k: the parts of a concat differ
        dataset.rng = np.random.default_rng([info.seed, k])


def augmentation_stream(dataset, seed):
    loader = DataLoader(dataset, batch_size=2, num_workers=2,
                        shuffle=True, worker_init_fn=seed_worker,
                        generator=torch.Generator().manual_seed(seed))
    return [b.tolist() for b in loader]


first = augmentation_stream(JitterDataset(), 0)
again = augmentation_stream(JitterDataset(), 0)
print(first)
print("same stream twice:", first == again)
print("another seed differs:", augmentation_stream(JitterDataset(), 1) != first)
# a Subset has no rng of its own: seed_worker reseeds the dataset inside
inside = augmentation_stream(Subset(JitterDataset(), range(8)), 0)
print("through a Subset, the same stream:", inside == first)
# --8<-- [end:seeding_fix]

# --8<-- [start:write_folder]
from collections import Counter

from PIL import Image

from tutorials.lec06_data_pipelines.imagefolder import ImageFolderDataset, write_digit_folder

# scikit-learn's 8x8 digits, upscaled to 32x32, as real PNG and JPEG files
root = write_digit_folder(OUT / "digit-images", per_class=20, classes=10,
                          size=32, corrupt=True)
files = sorted(p for p in root.rglob("*") if p.is_file())
print(f"wrote {len(files)} files under {root.as_posix()}/, e.g.",
      [p.as_posix() for p in files[:2]])
kinds = Counter()
for p in files:
    if p.name != "corrupt.png":  # written on purpose: not an image
        with Image.open(p) as im:
            kinds[f"{im.format} {im.mode}"] += 1
print(dict(sorted(kinds.items())))
# --8<-- [end:write_folder]

# --8<-- [start:folder_tools]
# names used by the annotations of the two functions shown next
# (Path is imported at the top of the page)
from collections.abc import Sequence  # noqa: F401

from PIL import UnidentifiedImageError  # noqa: F401

from tutorials.lec06_data_pipelines.imagefolder import IMAGE_EXTENSIONS

print(IMAGE_EXTENSIONS)  # file endings counted as images
# --8<-- [end:folder_tools]

# --8<-- [start:image_dataset]
images = ImageFolderDataset(root)  # no transform: PIL images come back
print(images.classes)
print(len(images), "samples;", "class of sample 45:", images[45][1])
path, label = images.samples[0]
with Image.open(path) as raw:
    print(path.as_posix(), "on disk:", raw.mode)
image, label = images[0]
print("returned:", image.mode, image.size, "label", label)
# --8<-- [end:image_dataset]

# --8<-- [start:corrupt_file]
bad = images.samples.index((root / "0" / "corrupt.png", 0))
try:
    images[bad]
except RuntimeError as err:
    print(str(err).split(": ")[0])

# In a worker the error comes back to the main process, wrapped:
loader = DataLoader(images, batch_size=16, num_workers=2,
                    collate_fn=lambda batch: batch)  # keep PIL images
try:
    for _ in loader:
        pass
except RuntimeError as err:
    lines = str(err).splitlines()
    print(lines[0])
    print(lines[-1].split(": ")[1])
# --8<-- [end:corrupt_file]

# --8<-- [start:no_convert]
from torchvision.transforms import v2


class NoConvert(ImageFolderDataset):
    """The common mistake: return the file's own colour mode."""

    def load(self, index):
        return Image.open(self.samples[index][0])  # L, P or RGB


wrong = NoConvert(root, transform=v2.ToImage())
print([tuple(wrong[i][0].shape) for i in range(3)])
try:
    next(iter(DataLoader(wrong, batch_size=8)))
except RuntimeError as err:
    print("RuntimeError:", err)
# --8<-- [end:no_convert]

# --8<-- [start:channel_stats]
# Normalize's mean and std: per-channel statistics of the images (take
# them from the training split only, when you have one; for a pretrained
# model, use the values it was trained with instead).
to_float = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
pixels = torch.stack([to_float(images.load(i)) for i in range(len(images))
                      if i != bad])  # (200, 3, 32, 32)
mean, std = pixels.mean(dim=(0, 2, 3)), pixels.std(dim=(0, 2, 3))
print("mean", [round(m, 3) for m in mean.tolist()],
      "std", [round(s, 3) for s in std.tolist()])
# --8<-- [end:channel_stats]

# --8<-- [start:augmentations]
# Label-preserving augmentations for digits: crops, small rotations and
# colour changes. No horizontal flip: a flipped 3 is not a 3.
train_tf = v2.Compose([
    v2.RandomResizedCrop(32, scale=(0.6, 1.0), ratio=(0.8, 1.25)),
    v2.RandomRotation(15),
    v2.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.1),
    v2.ToImage(),                           # PIL (H, W, C) -> uint8 (C, H, W)
    v2.ToDtype(torch.float32, scale=True),  # [0, 255] -> [0.0, 1.0]
    v2.Normalize(mean.tolist(), std.tolist()),  # -> mean 0, std 1
])
torch.manual_seed(0)  # v2 transforms draw from torch's global generator
x = train_tf(images.load(0))
print(x.dtype, tuple(x.shape), f"mean {x.mean():.2f} std {x.std():.2f}")
# --8<-- [end:augmentations]


# --8<-- [start:augmentation_grid]
torch.manual_seed(1)
# the second file of each of the digits 0..4: a tinted colour JPEG
picks = [images.targets().index(digit) + 1 for digit in range(5)]
fig, axes = plt.subplots(len(picks), 7, figsize=(7, 5.2))
for row, i in zip(axes, picks):
    original = images.load(i)
    row[0].imshow(original)
    for ax in row[1:]:
        # undo Normalize for display: (C, H, W) * (C, 1, 1) + (C, 1, 1)
        view = train_tf(original) * std[:, None, None] + mean[:, None, None]
        ax.imshow(view.clamp(0, 1).permute(1, 2, 0).numpy())
axes[0, 0].set_title("file", fontsize=9)
axes[0, 1].set_title("six random augmentations", fontsize=9, loc="left")
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
fig.savefig(OUT / "augmentations.png", dpi=100)
print(f"wrote {OUT / 'augmentations.png'}")
# --8<-- [end:augmentation_grid]

# --8<-- [start:boxes]
from torchvision import tv_tensors

# v2 transforms move boxes (and masks, keypoints) together with the image
canvas = tv_tensors.Image(torch.zeros(3, 32, 32, dtype=torch.uint8))
box = tv_tensors.BoundingBoxes([[2, 4, 12, 20]], format="XYXY",
                               canvas_size=(32, 32))
flipped_img, flipped_box = v2.RandomHorizontalFlip(p=1.0)(canvas, box)
print(box.tolist(), "->", flipped_box.tolist())
# --8<-- [end:boxes]

# --8<-- [start:full_pipeline]
from torch.utils.data import Subset, random_split


def readable(dataset):
    """Indices of the files that decode; report the others by name."""
    keep = []
    for i, (path, _) in enumerate(dataset.samples):
        try:
            dataset.load(i)  # decodes every pixel: truncated files fail too
            keep.append(i)
        except RuntimeError:  # load_rgb's error, which names the file
            print("skipping", path.as_posix())
    return keep


data = Subset(ImageFolderDataset(root, transform=train_tf), readable(images))
split = torch.Generator().manual_seed(0)
train_set, val_set = random_split(data, [0.8, 0.2], generator=split)
print(len(train_set), len(val_set))
# --8<-- [end:full_pipeline]

# --8<-- [start:full_loader]
train_loader = DataLoader(
    train_set, batch_size=32, shuffle=True, drop_last=True,
    num_workers=2, persistent_workers=True, prefetch_factor=2,
    pin_memory=torch.cuda.is_available(),
    worker_init_fn=seed_worker,  # harmless here: no dataset-owned RNG
    generator=torch.Generator().manual_seed(0),
)
for epoch in range(2):
    counts = torch.zeros(10, dtype=torch.long)
    for xb, yb in train_loader:
        xb = xb.to(device, non_blocking=True)  # (32, 3, 32, 32)
        counts += torch.bincount(yb, minlength=10)
    print(f"epoch {epoch}: {len(train_loader)} batches of",
          tuple(xb.shape), "labels seen:", counts.sum().item())
# --8<-- [end:full_loader]
