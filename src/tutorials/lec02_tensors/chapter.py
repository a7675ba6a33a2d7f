"""Lecture 2: tensors, their memory format, strides and channels-last.

The code of the chapter ``docs/lectures/02-tensors.md``, in the order the page
shows it. Run it top to bottom with
``python -m tutorials.lec02_tensors.chapter``; it writes the chapter's two
figures into ``lec02/`` under the current directory.
"""

# --8<-- [start:imports]
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.benchmark import Timer

from tutorials.core.benchmark import time_callable
from tutorials.lec02_tensors.tensor_memory import draw_memory_layout, layout, shares_storage

torch.manual_seed(0)
OUT = Path("lec02")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)
# --8<-- [end:imports]

# --8<-- [start:strides]
x = torch.arange(12, dtype=torch.float32).view(3, 4)
print(x.shape, x.stride(), x.storage_offset())
# One flat block of 12 floats holds the data; the strides say how to walk it:
# one row down = skip 4 elements, one column right = skip 1.
print(x.untyped_storage().nbytes(), "bytes,", x.element_size(), "per element")
i, j = 2, 1
print(x[i, j].item(), x.flatten()[x.storage_offset() + i * 4 + j * 1].item())
# --8<-- [end:strides]

# --8<-- [start:views]
t = x.t()            # transpose: swaps shape AND strides, copies nothing
row = x[1]           # basic indexing: a view that starts further in
print(t.shape, t.stride(), t.is_contiguous())
print(row.stride(), row.storage_offset())
# Same storage, evidenced by the address where the storage starts...
print(shares_storage(x, t), shares_storage(x, row))
# ...while data_ptr() is the address of the view's *first element*:
print((row.data_ptr() - x.data_ptr()) // x.element_size())
x[1, 0] = 100.0      # write through the base...
print(t[0, 1].item(), row[0].item())  # ...and every view sees it
x[1, 0] = 4.0
# --8<-- [end:views]

# --8<-- [start:figure_strides]
fig = draw_memory_layout({"x": x, "x.t()": x.t(), "x[:, 1:3]": x[:, 1:3]})
fig.savefig(OUT / "strides.png", dpi=110)
print(f"wrote {OUT / 'strides.png'}")
# --8<-- [end:figure_strides]

# --8<-- [start:view_vs_reshape]
try:
    t.view(12)  # view needs strides that can be merged: t's cannot
except RuntimeError as err:
    print("RuntimeError:", str(err).split(" Use .reshape")[0])
flat = t.reshape(12)  # reshape = view when possible, copy otherwise
print(flat.tolist()[:6], shares_storage(flat, x))
print(shares_storage(x.reshape(12), x))  # contiguous: reshape returned a view
c = t.contiguous()  # an explicit row-major copy of t
print(c.stride(), shares_storage(c, x), x.contiguous() is x)
# --8<-- [end:view_vs_reshape]

# --8<-- [start:as_strided]
signal = torch.arange(10.0)
# Windows of 4 values, moving 2 at a time: row k starts at 2k, so stride (2, 1).
# Neighbouring windows overlap in memory; nothing is copied.
windows = signal.as_strided(size=(4, 4), stride=(2, 1))
print(windows)
print(torch.equal(windows, signal.unfold(0, 4, 2)),
      shares_storage(windows, signal))
# expand: a stride of 0 repeats one row without storing it again
rep = torch.tensor([1.0, 2.0, 3.0]).expand(1000, 3)
print(rep.stride(), rep.untyped_storage().nbytes())
# --8<-- [end:as_strided]

# --8<-- [start:noncontiguous_cost]
big = torch.randn(16 * 2**18)  # 16 MB of float32
n = big.numel() // 16
dense = big[:n]     # 256 K neighbouring floats: 1 MB of memory to read
sparse = big[::16]  # 256 K floats 64 bytes apart: one cache line each
print(dense.shape == sparse.shape, sparse.stride())
# One thread, so that we compare memory access, not parallel speed-up
t_dense = time_callable(torch.sum, dense, label="dense", num_threads=1)
t_sparse = time_callable(torch.sum, sparse, label="sparse", num_threads=1)
# Timings depend on the machine and its load: the page shows one recorded run.
print(f"dense   sum: {t_dense.median_us:8.1f} µs")
print(f"strided sum: {t_sparse.median_us:8.1f} µs, "
      f"{t_sparse.median_us / t_dense.median_us:.1f}x the dense time")
# --8<-- [end:noncontiguous_cost]

# --8<-- [start:mixed_layouts]
a = torch.randn(1024, 1024)
b = torch.randn(1024, 1024)
same, mixed, both = (Timer("torch.add(x, y)", globals={"x": x, "y": y}, num_threads=1)
                     for x, y in [(a, b), (a, b.t()), (a.t(), b.t())])
# a + b and a.t() + b.t() take turns, so that both meet the same load, and the
# fastest run of 4 calls counts: other processes can only slow a run down
t_same = t_both = float("inf")
for _ in range(20):
    t_same = min(t_same, same.timeit(4).median)
    t_both = min(t_both, both.timeit(4).median)
t_mixed = min(mixed.timeit(4).median for _ in range(3))
for name, sec in [("a + b", t_same), ("a + b.t()", t_mixed), ("a.t() + b.t()", t_both)]:
    print(f"{name:13} {sec * 1e6:7.1f} µs, {sec / t_same:4.1f}x the time of a + b")
# The result takes the layout of its inputs (of the first one, if they differ)
print((a + b.t()).stride(), (a.t() + b.t()).stride())
# --8<-- [end:mixed_layouts]

# --8<-- [start:channels_last]
img = torch.randn(2, 3, 4, 5)  # N, C, H, W
nhwc = img.to(memory_format=torch.channels_last)
print(nhwc.shape == img.shape, torch.equal(nhwc, img))  # same to a reader
print(img.stride(), nhwc.stride())                      # different memory
print(nhwc.is_contiguous(),
      nhwc.is_contiguous(memory_format=torch.channels_last))
# With size-1 dimensions the two orders can coincide: one channel, both True
gray = torch.randn(2, 1, 4, 5).to(memory_format=torch.channels_last)
print(gray.is_contiguous(),
      gray.is_contiguous(memory_format=torch.channels_last))
# the same memory as an explicit NHWC tensor, permuted back to NCHW
manual = img.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
print(manual.stride() == nhwc.stride())
# --8<-- [end:channels_last]

# --8<-- [start:figure_channels_last]
pixels = torch.arange(12.0).view(1, 3, 2, 2)
fig = draw_memory_layout({
    "NCHW (contiguous)": pixels,
    "NHWC (channels_last)": pixels.to(memory_format=torch.channels_last),
})
fig.savefig(OUT / "channels-last.png", dpi=110)
print(f"wrote {OUT / 'channels-last.png'}")
# --8<-- [end:figure_channels_last]

# --8<-- [start:channels_last_model]
conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                     nn.Conv2d(8, 8, 3, padding=1))
conv = conv.to(memory_format=torch.channels_last)  # 4-D weights become NHWC
out = conv(nhwc)
# Convolutions keep the format of their input, so it flows through the net
print(layout(out).channels_last, out.shape)
# .contiguous() means row-major NCHW: one call converts back, silently
print(layout(out.contiguous()).channels_last)
# --8<-- [end:channels_last_model]

# --8<-- [start:broadcasting]
col = torch.tensor([[0.0], [10.0], [20.0]])  # shape (3, 1)
vec = torch.tensor([1.0, 2.0, 3.0, 4.0])     # shape (4,)
# Align shapes on the right; a dimension of size 1 (or a missing one)
# is stretched: (3, 1) with (4,) -> (3, 1) with (1, 4) -> (3, 4)
print((col + vec).shape, torch.broadcast_shapes((3, 1), (4,)))
print(col.expand(3, 4).stride())  # stretching is a stride of 0: no copy
try:
    torch.ones(3) + torch.ones(4)
except RuntimeError as err:
    print("RuntimeError:", err)
# --8<-- [end:broadcasting]

# --8<-- [start:broadcast_batch]
# A typical use: normalize a batch of images per channel.
images = torch.rand(8, 3, 32, 32)
mean = images.mean(dim=(0, 2, 3))  # shape (3,)
std = images.std(dim=(0, 2, 3))
# (8, 3, 32, 32) - (3,) would align 3 with W=32 and fail: add the missing dims
normed = (images - mean[:, None, None]) / std.view(3, 1, 1)
per_channel = normed.mean(dim=(0, 2, 3))
print(normed.shape, torch.allclose(per_channel, torch.zeros(3), atol=1e-5))
# --8<-- [end:broadcast_batch]

# --8<-- [start:indexing]
a = torch.arange(12.0).view(3, 4)
print(shares_storage(a[1:, ::2], a))  # slices and steps: a view
print(shares_storage(a[torch.tensor(1)], a))  # a 0-d integer tensor: an int
picked = a[[0, 2]]                    # a list or tensor of indices: a copy
mask = a > 6
chosen = a[mask]                      # a mask shaped like a: a copy, 1-D
print(shares_storage(picked, a), shares_storage(chosen, a), chosen.tolist())
# rows and columns picked in pairs: (0, 1), (2, 3)
print(a[torch.tensor([0, 2]), torch.tensor([1, 3])].tolist())
# gather: one column per row (row 0 -> col 1, row 1 -> col 0, row 2 -> 3)
print(a.gather(1, torch.tensor([[1], [0], [3]])).flatten().tolist())
print(torch.where(mask, a, -1.0)[1].tolist())  # keep the shape
# --8<-- [end:indexing]

# --8<-- [start:indexing_shapes]
v = torch.zeros(2, 3, 4, 5)
idx = torch.tensor([0, 1])
# Advanced indices next to each other: their dimension replaces them in place
print(v[:, idx, idx].shape)
# Separated by a slice: the indexed dimension moves to the front (NumPy rule)
print(v[idx, :, idx].shape)
print(v[:, idx].shape, v[..., idx].shape, v[None, 0].shape)
# --8<-- [end:indexing_shapes]

# --8<-- [start:index_add]
counts = torch.zeros(4)
labels = torch.tensor([1, 3, 1, 1, 0])
weights = torch.tensor([0.5, 1.0, 0.5, 2.0, 1.0])
wrong = counts.clone()
wrong[labels] += weights  # a read, an add, a write: duplicates overwrite
print(wrong.tolist())
right = counts.index_add(0, labels, weights)  # adds every duplicate
print(right.tolist(), torch.bincount(labels, weights, minlength=4).tolist())
# --8<-- [end:index_add]

# --8<-- [start:inplace]
buf = torch.randn(1000, 1000)
before = buf.data_ptr()
out_of_place = buf * 2  # allocates a new 4 MB result
buf.mul_(2)             # trailing underscore: writes into buf itself
print(buf.data_ptr() == before, out_of_place.data_ptr() == before)
torch.mul(out_of_place, 0.5, out=out_of_place)  # out=: reuse a buffer
print(torch.equal(out_of_place * 2, buf))
view = buf[:2]
view.zero_()  # in place on a view changes the base tensor
print(buf[:2].abs().sum().item(), buf._version)
# --8<-- [end:inplace]

# --8<-- [start:inplace_errors]
try:
    rep.add_(1)  # 1000 rows share 3 stored floats: which one would win?
except RuntimeError as err:
    print("RuntimeError:", str(err).split(" Please")[0])
ints = torch.tensor([1, 2, 3])
try:
    ints += 0.5  # in place keeps the dtype: a float cannot go into an int64
except RuntimeError as err:
    print("RuntimeError:", err)
print((ints + 0.5).dtype)  # out of place promotes instead
# --8<-- [end:inplace_errors]

# --8<-- [start:numpy_sharing]
arr = torch.arange(4.0).numpy()   # a CPU tensor and its array share memory
shared = torch.from_numpy(arr)    # so do from_numpy and its array
copied = torch.tensor(arr)        # torch.tensor always copies
arr[0] = 42.0
print(shared[0].item(), copied[0].item())
# --8<-- [end:numpy_sharing]

# --8<-- [start:pinned]
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
host = torch.randn(256, 1024)
if device.type == "cuda":
    # page-locked host memory: the GPU's copy engine reads it directly, so
    # the copy below can run while the CPU goes on with other work
    host = host.pin_memory()
dev = host.to(device, non_blocking=True)  # on CUDA: returns before it is done
total = (dev * 2).sum()  # queued on the same stream: runs after the copy
# .item() waits for the GPU (a sync point); the result is the same everywhere
print(f"{total.item() / host.sum().item():.4f}")
# --8<-- [end:pinned]

# --8<-- [start:mistake_view]
# A classic: flattening after a transpose or permute.
feat = torch.randn(4, 3, 8, 8).permute(0, 2, 3, 1)  # NCHW -> NHWC view
try:
    feat.view(4, -1)
except RuntimeError as err:
    print("RuntimeError:", str(err).split(" (at least")[0])
print(feat.reshape(4, -1).shape, feat.flatten(1).is_contiguous())
# --8<-- [end:mistake_view]

# --8<-- [start:mistake_broadcast]
pred = torch.tensor([[1.0], [2.0], [3.0]])  # (3, 1): a model's output
target = torch.tensor([1.0, 2.0, 3.0])      # (3,): the labels
# No error: (3, 1) - (3,) broadcasts to (3, 3), and the loss is wrong
print((pred - target).shape, f"{((pred - target) ** 2).mean():.4f}")
# The fix: make the shapes equal first (F.mse_loss warns about this case)
print(f"{F.mse_loss(pred.squeeze(1), target):.4f}")
# --8<-- [end:mistake_broadcast]
