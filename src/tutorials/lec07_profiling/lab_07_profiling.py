# %% [markdown]
# # Lab 2.1.5: profiling workshop
#
# You will profile a training loop, export its Chrome trace, find what holds it
# back, fix it, and measure the gain. The loop trains a small classifier on the
# scikit-learn digits, stored as PNG files the way image datasets are stored on disk,
# and it has two classic problems built in:
#
# 1. **A per-sample input pipeline**: every image is opened, decoded, resized and
#    augmented in Python, one sample at a time, every epoch.
# 2. **A sync point in every step**: the loss is read with `.item()` for logging
#    after each step (on a GPU, the CPU then waits for the GPU every step).
#
# Steps: profile the loop with a schedule and `record_function` labels (`data`,
# `forward`, `backward`, `optimizer`); read the `key_averages` table and the share of
# step time spent in the `data` phase; export the trace; apply the fixes (decode once
# into a cached tensor, augment whole batches with tensor ops, read the loss every N
# steps); profile again; compare, in one before/after table.
#
# The `data` label covers everything a step does to produce its input batch: the
# `next(loader)` call, the copy to the device and, after the fix, the batch
# augmentation, which no longer runs inside the DataLoader. The data share is
# measured on that phase, not on the DataLoader's own `enumerate(DataLoader)` range:
# moving work out of the loader would shrink the loader's share without making the
# step any faster. The table shows both.
#
# ```
# python lab_07_profiling.py --help
# python lab_07_profiling.py --device auto --out-dir results/
# ```
#
# Open the two traces (`lab_2_1_5_before.json`, `lab_2_1_5_after.json` in
# `--out-dir`) in <https://ui.perfetto.dev> (the file is read locally, not uploaded)
# or `chrome://tracing`. Built with PyTorch ≥ 2.4; nothing is downloaded.

# %%
from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.datasets import load_digits
from torch import Tensor, nn
from torch.profiler import record_function
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

from tutorials.core.cli import (
    add_standard_options,
    guard_run,
    non_negative_int,
    parse_args_and_device,
    positive_float,
    positive_int,
    script_argv,
    write_results,
)
from tutorials.core.reporting import format_table
from tutorials.core.runtime import device_label
from tutorials.lec07_profiling import profiling

SIZE = 32  # images are upsampled from 8x8 to 32x32, as a real pipeline resizes
PHASES = ("data", "forward", "backward", "optimizer")
KINETO_NOTE = ("note: no CUDA device, so the profiler's C++ library (kineto) would log its "
               "GPU probe failing ('gpuGetDeviceCount failed with code 35'); harmless: "
               "KINETO_LOG_LEVEL=6 turns its log off")

# %% [markdown]
# ## 1. The data, as files on disk
#
# The digits are written once as 8-bit grayscale PNG files, one per image, with the
# label in the file name. `--data-dir` keeps them between runs; by default they go
# to a temporary folder.

# %%
def write_png_digits(folder: Path, limit: int | None = None) -> list[Path]:
    """Write the digits as PNG files ``<index>_<label>.png`` (skipped if present)."""
    digits = load_digits()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    n = len(digits.images) if limit is None else min(limit, len(digits.images))
    for i in range(n):
        path = folder / f"{i:04d}_{digits.target[i]}.png"
        if not path.exists():
            img = (digits.images[i] * 255 / 16).astype(np.uint8)  # 0..16 -> 0..255
            Image.fromarray(img).save(path)
        paths.append(path)
    return paths


def label_of(path: Path) -> int:
    """The label stored in a file name ``<index>_<label>.png``."""
    return int(path.stem.split("_")[1])


def split(paths: list[Path], seed: int) -> tuple[list[Path], list[Path]]:
    """A fixed 80/20 train/test split."""
    order = torch.randperm(len(paths), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(paths))
    return [paths[i] for i in order[:cut]], [paths[i] for i in order[cut:]]


# %% [markdown]
# ## 2. The slow pipeline (before)
#
# `__getitem__` does everything per sample: open the file, decode the PNG, resize,
# rotate by a random angle (the augmentation), convert to a tensor. The DataLoader
# then collates 32 such tensors into a batch. All of it is Python and PIL on the
# main process, every epoch.

# %%
class PngDigits(Dataset):
    """Per-sample decode + resize + random rotation, as many image datasets do."""

    def __init__(self, paths: list[Path], augment: bool, seed: int):
        self.paths, self.augment = paths, augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        img = Image.open(self.paths[i]).convert("L").resize((SIZE, SIZE), Image.BILINEAR)
        if self.augment:
            img = img.rotate(float(self.rng.uniform(-10, 10)), resample=Image.BILINEAR)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
        return x.unsqueeze(0), label_of(self.paths[i])  # (1, 32, 32)


# %% [markdown]
# ## 3. The fixed pipeline (after)
#
# Decoding and resizing give the same result every epoch, so do them once and keep
# a `(N, 1, 32, 32)` uint8 tensor (on the GPU when there is one: the digits are
# small). The random rotation is applied to a whole batch at once with
# `affine_grid` + `grid_sample`. The dataset returns a whole batch per index list:
# a `BatchSampler` passed as the `sampler`, with `batch_size=None`, hands it the
# indices, so there is one indexing op per batch instead of 32 calls and a collate.

# %%
def decode_all(paths: list[Path]) -> tuple[Tensor, Tensor]:
    """Decode and resize every file once: uint8 images (N, 1, 32, 32) and labels (N,)."""
    imgs = [np.asarray(Image.open(p).convert("L").resize((SIZE, SIZE), Image.BILINEAR))
            for p in paths]
    x = torch.from_numpy(np.stack(imgs)).unsqueeze(1)
    return x, torch.tensor([label_of(p) for p in paths])


class CachedDigits(Dataset):
    """Batches sliced from cached tensors: ``ds[[i, j, ...]]`` returns a whole batch."""

    def __init__(self, x: Tensor, y: Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: list[int]) -> tuple[Tensor, Tensor]:
        idx_t = torch.as_tensor(idx, device=self.x.device)
        return self.x[idx_t], self.y[idx_t]


def rotate_batch(x: Tensor, max_deg: float, generator: torch.Generator) -> Tensor:
    """Rotate each image of a float batch (B, 1, H, W) by its own random angle."""
    angles = (torch.rand(len(x), generator=generator) * 2 - 1) * math.radians(max_deg)
    cos, sin = angles.cos(), angles.sin()
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(cos)], 1),
                         torch.stack([sin, cos, torch.zeros_like(cos)], 1)], 1)
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


# %% [markdown]
# ## 4. The training loop, with labels
#
# The same loop serves both pipelines. `record_function` labels make the phases
# visible in the trace and in `key_averages`; the `data` range holds all the input
# work of a step, inside the DataLoader or not. `log_every=1` is the "before" habit of
# reading the loss after every step; the fix keeps a running tensor and reads it
# every `log_every` steps.

# %%
def make_model() -> nn.Module:
    """A small MLP on 32x32 images."""
    return nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def run_steps(model, opt, loader, device, *, fixed: bool, log_every: int, gen,
              max_steps: int | None = None, on_step=None) -> list[float]:
    """Train over ``loader`` once; return the losses that were logged."""
    logged, running = [], torch.zeros((), device=device)
    batches = iter(loader)
    step = 0
    while max_steps is None or step < max_steps:
        with record_function("data"):  # the whole input phase of the step
            try:
                xb, yb = next(batches)  # the DataLoader records its own label inside
            except StopIteration:
                break
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            if fixed:  # batch-level augmentation on the cached uint8 images
                xb = rotate_batch(xb.float() / 255.0, 10.0, gen)
        # the labelled phases of the chapter's train_step (Lecture 7, section 1), written
        # out again on purpose: the lab reads on its own, with the data phase added
        with record_function("forward"):
            loss = F.cross_entropy(model(xb), yb)
        with record_function("backward"):
            opt.zero_grad(set_to_none=True)
            loss.backward()
        with record_function("optimizer"):
            opt.step()
        running += loss.detach()
        step += 1
        if step % log_every == 0:
            logged.append(running.item() / log_every)  # the sync point
            running.zero_()
        if on_step is not None:
            on_step()
    if step % log_every:  # the last, shorter logging interval
        logged.append(running.item() / (step % log_every))
    return logged


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Share of correct predictions on the test images (uint8, N x 1 x 32 x 32)."""
    model.eval()
    pred = model(x.float() / 255.0).argmax(1)
    model.train()
    return float((pred == y).float().mean())


# %% [markdown]
# ## 5. Profile, time and compare
#
# For each variant: `--epochs` timed epochs without the profiler (on CUDA the clock
# is read after `torch.cuda.synchronize`); then, warm, a profiled run over a few
# steps (schedule: wait 2, warm up 2, record `--profile-steps`), whose trace is
# exported and whose `key_averages` table is printed; and the test accuracy.
# The data share is the median over the recorded steps of the `data` range's share
# of the step (the loader share, of the DataLoader's range inside it); a run is
# data-bound when its data share is at least one half.

# %%
def make_loader(variant: str, train: list[Path], device, batch_size: int, seed: int):
    """The DataLoader of a variant ("before" or "after")."""
    if variant == "before":
        ds = PngDigits(train, augment=True, seed=seed)
        g = torch.Generator().manual_seed(seed)
        return DataLoader(ds, batch_size=batch_size, shuffle=True, generator=g)
    x, y = decode_all(train)
    ds = CachedDigits(x.to(device), y.to(device))
    sampler = BatchSampler(RandomSampler(ds, generator=torch.Generator().manual_seed(seed)),
                           batch_size, drop_last=False)
    return DataLoader(ds, sampler=sampler, batch_size=None)


def run_variant(variant, train, test_xy, device, args, trace_dir: Path) -> dict:
    """Time, then profile, one variant; return its figures."""
    torch.manual_seed(args.seed)
    model = make_model().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    gen = torch.Generator().manual_seed(args.seed)
    fixed = variant == "after"
    log_every = 10 if fixed else 1
    loader = make_loader(variant, train, device, args.batch_size, args.seed)

    # Timed epochs, no profiler
    times, n_steps = [], 0
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        logged = run_steps(model, opt, loader, device, fixed=fixed, log_every=log_every,
                           gen=gen, max_steps=3 if args.dry_run else None)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
        n_steps = 3 if args.dry_run else len(loader)

    # Profiled window, after the timed (warm) epochs: one step per prof.step()
    active = 2 if args.dry_run else args.profile_steps
    trace = trace_dir / f"lab_2_1_5_{variant}.json"
    with torch.profiler.profile(
        activities=profiling.default_activities(device),
        schedule=torch.profiler.schedule(wait=2, warmup=2, active=active),
        on_trace_ready=lambda p: p.export_chrome_trace(str(trace)),
        record_shapes=True,
    ) as prof:
        run_steps(model, opt, loader, device, fixed=fixed, log_every=log_every, gen=gen,
                  max_steps=active + 4, on_step=prof.step)
    steps = active
    phase_us = profiling.label_times_us(prof, PHASES)
    print(f"\n{variant}: key_averages, top 8 by self CPU time ({steps} steps)")
    print(format_table(profiling.op_rows(prof, limit=8), floatfmt=".2f"))

    step_ms = 1e3 * min(times) / n_steps  # best epoch: least disturbed by other work
    syncs = profiling.sync_points(prof)["aten::_local_scalar_dense"]
    # The share of each step in the "data" range (the whole input phase, inside the
    # DataLoader or not); the median, so that one step slowed down by another process
    # does not decide the verdict.
    data_share = statistics.median(profiling.step_shares(prof, "data"))
    return {
        "variant": variant,
        "ms / step": step_ms,
        "samples / s": args.batch_size / step_ms * 1e3,
        "data share": data_share,
        "loader share": statistics.median(
            profiling.step_shares(prof, profiling.DATALOADER_LABEL)),
        "syncs / step": syncs / steps,
        "bottleneck": "data-bound" if data_share >= 0.5 else "compute-bound",
        "test accuracy": accuracy(model, *test_xy),
        "last logged loss": logged[-1] if logged else float("nan"),
        "_phase_ms": {k: v / 1e3 / steps for k, v in phase_us.items()},
        "_trace": str(trace),
    }


def plot_phases(rows: list[dict], path: Path) -> None:
    """Stacked bars of the time per phase of a step, before and after."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    for i, row in enumerate(rows):
        left = 0.0
        for phase, color in zip(PHASES, ("#c0504d", "#5b9bd5", "#2e5597", "#9bbb59")):
            ms = row["_phase_ms"][phase]
            ax.barh(i, ms, left=left, color=color, label=phase if i == 0 else None)
            left += ms
    ax.set_yticks(range(len(rows)), [r["variant"] for r in rows])
    ax.invert_yaxis()  # before on top
    ax.set_xlabel("ms per step (profiled window)")
    ax.legend(ncol=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.25))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# %% [markdown]
# ## Command line
#
# Bad option values (`--batch-size 0`, `--lr -1`, `--threads -1`) stop with a
# usage line and a message naming the option (exit status 2), before `--out-dir`
# is created. Ctrl-C prints which traces were already written and exits with
# status 130.

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(
        description="Lab 2.1.5: profile a training loop, fix its bottleneck, measure the gain."
    )
    p.add_argument("--epochs", type=positive_int, default=3,
                   help="timed epochs per variant (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=32,
                   help="images per batch (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=0.05,
                   help="SGD learning rate (default: %(default)s)")
    p.add_argument("--profile-steps", type=positive_int, default=5,
                   help="steps recorded by the profiler (default: %(default)s)")
    p.add_argument("--threads", type=non_negative_int, default=1,
                   help="CPU intra-op threads for torch during the lab, 0 for torch's own "
                        "choice; the input pipeline uses one core, so 1 compares like with "
                        "like (default: %(default)s)")
    p.add_argument("--data-dir", default=None,
                   help="folder for the PNG digits (default: %(default)s, a temporary folder)")
    add_standard_options(p, out_dir="write traces, the plot and lab_2_1_5_results.json here",
                         without_out_dir="a temporary folder for the traces",
                         dry_run="a few steps of each variant, for a quick check")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the lab and return its figures (see the before/after table it prints)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)  # bad values: a usage error (exit status 2)
    if args.dry_run:
        args.epochs = 1
    threads_before = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    kineto_before = os.environ.get("KINETO_LOG_LEVEL")
    if profiling.quiet_kineto_without_gpu():
        print(KINETO_NOTE)
    try:
        with guard_run("Lab 2.1.5", args.out_dir):  # Ctrl-C: a message and exit status 130
            return _run(args, device)
    finally:
        torch.set_num_threads(threads_before)  # leave the process as we found it
        if kineto_before is None:
            os.environ.pop("KINETO_LOG_LEVEL", None)


def _run(args: argparse.Namespace, device: torch.device) -> dict:
    """The body of :func:`main`, with the options parsed and the threads set."""
    print(f"device: {device_label(device)} · torch {torch.__version__} · "
          f"{torch.get_num_threads()} CPU thread(s)")

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(args.data_dir) if args.data_dir else Path(tmp) / "png"
        out_dir = Path(args.out_dir) if args.out_dir else Path(tmp) / "out"
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = write_png_digits(data_dir, limit=320 if args.dry_run else None)
        train, test = split(paths, args.seed)
        test_xy = tuple(t.to(device) for t in decode_all(test))
        rows = [run_variant(v, train, test_xy, device, args, out_dir)
                for v in ("before", "after")]
        gain = rows[0]["ms / step"] / rows[1]["ms / step"]
        print("\nbefore / after\n" + format_table(
            [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
            floatfmt=".3g"))
        print(f"speed-up: {gain:.1f}x per step")
        print("\ntime per phase in the profiled window (ms / step)\n" + format_table(
            [{"variant": r["variant"], **r["_phase_ms"]} for r in rows], floatfmt=".3f"))
        results = {
            "device": device_label(device),
            "torch": torch.__version__,
            "cpu threads": torch.get_num_threads(),
            "dry_run": args.dry_run,
            "rows": rows,
            "speedup": gain,
        }
        if args.out_dir:
            plot_phases(rows, out_dir / "lab_2_1_5_phases.png")
            path = write_results(out_dir, "lab_2_1_5_results", results)
            print(f"\ntraces, plot and results written to {out_dir} ({path.name})")
        else:
            print("\ntraces were written to a temporary folder; pass --out-dir to keep them")
    return results


# %%
if __name__ == "__main__":
    main(script_argv())

# %% [markdown]
# ## What to look for, and what to try
#
# * **In the before trace**: each `data` range is long and full of small CPU work
#   (`enumerate(DataLoader)#...__next__`, with no `aten::` ops of the model); the
#   `forward`/`backward`/`optimizer` ranges are thin slivers between them. The table
#   says the same: most of the step is data, and there is one `aten::item` per step.
# * **In the after trace**: `data` shrinks to an index, an `affine_grid` and a
#   `grid_sample` (the batch rotation); most of the step is the model. On one CPU
#   thread the data phase is still about a third of the step: rotating 32 images
#   costs about as much as this small MLP's forward and backward. The run is
#   compute-bound, though not by far: now a bigger batch, mixed precision
#   (Lab 2.1.4) or `torch.compile` pays, and cheaper augmentation (or the GPU) too.
# * **Data share, loader share**: after the fix the DataLoader's own range
#   (`enumerate(DataLoader)#...`) is a few percent of the step, because the rotation
#   now runs after `next(loader)`. Judged by that range alone, the fixed run would
#   look compute-bound whatever the rotation cost; the `data` range around the whole
#   input phase is what the verdict uses.
# * **On a GPU**, the before trace shows the GPU row idle most of the time, and a
#   `cudaStreamSynchronize` (or `cudaMemcpyAsync`) on the CPU thread after every step,
#   from `.item()`. Compare with `--device cpu`.
# * **Threads**: the lab runs torch on one CPU thread (`--threads 1`), like the
#   input pipeline. Try `--threads 0` (torch's choice, one per core): on a CPU
#   shared with other jobs, or after the pipeline has kept the cores busy, the
#   intra-op threads wait for each other at every op, the model's ops take
#   milliseconds, and the before run can even look compute-bound. The trace shows
#   it: the same `aten::mm` many times longer in the before run than in the after.
# * **Try**: keep the per-sample pipeline but give the DataLoader `num_workers=2`
#   (and `persistent_workers=True`): how much of the gap closes, on how many cores?
#   Then set `log_every=1` in the fixed variant: what does one sync per step cost on
#   your device?
