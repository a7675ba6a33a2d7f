# %% [markdown]
# # Lab 2.1.2: data pipeline benchmark
#
# You will build an image pipeline the way a real project does — a folder of
# PNG and JPEG files, a custom `Dataset`, `torchvision.transforms.v2`
# augmentation, a `DataLoader` with workers — and then measure it:
#
# 1. **Per-image cost**: how long decoding + augmenting one image takes.
# 2. **Model rate**: how many images per second a training step of a small CNN
#    consumes, with the data already in memory (the ceiling for the pipeline).
# 3. **The grid**: images per second over `num_workers × batch_size ×
#    pin_memory`, and a recommended setting: the simplest of those within the
#    measurement noise of the fastest.
# 4. **End to end**: loader and training step together, to see where the loader
#    stops being the bottleneck.
#
# Run it from a terminal (with the course package installed):
#
# ```
# python lab_06_data_pipeline.py --help
# python lab_06_data_pipeline.py --device auto --out-dir results/
# python lab_06_data_pipeline.py --data-dir ~/my_images --workers 0,2,4,8
# ```
#
# Without `--data-dir`, the lab writes scikit-learn's digits as real image files
# into a temporary folder (nothing is downloaded). `pin_memory` only has an effect
# on a CUDA machine: on CPU the loader ignores it, and the lab measures it anyway,
# so you can see that it makes no difference there. Lecture 6 explains every
# piece; `tutorials.lec06_data_pipelines.imagefolder` and
# `tutorials.lec06_data_pipelines.loader_bench` hold the code.

# %%
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms import v2

from tutorials.core.cli import (
    add_standard_options,
    bool_list,
    guard_run,
    int_at_least,
    int_list,
    non_negative_int,
    parse_args_and_device,
    positive_float,
    positive_int,
    script_argv,
    write_results,
)
from tutorials.core.reporting import format_table
from tutorials.core.runtime import device_label
from tutorials.lec06_data_pipelines.imagefolder import ImageFolderDataset, write_digit_folder
from tutorials.lec06_data_pipelines.loader_bench import (
    LoaderThroughput,
    measure_loader,
    recommend_setting,
    sweep,
)

# %% [markdown]
# ## 1. The dataset and its per-image cost
#
# The realistic cost of a sample is decoding the file and augmenting it. The
# augmentations run on the PIL image (PIL's kernels are single-threaded), and
# only the result becomes a tensor. We time them in the main process, one image
# at a time: this is what each worker pays per sample.

# %%
def train_transform(size: int) -> v2.Compose:
    """Label-preserving augmentation for digits, ending in a normalized tensor."""
    return v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.6, 1.0), ratio=(0.8, 1.25)),
        v2.RandomRotation(15),
        v2.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.1),
        v2.ToImage(),                           # uint8 (C, H, W)
        v2.ToDtype(torch.float32, scale=True),  # float in [0, 1]
        v2.Normalize(mean=[0.5] * 3, std=[0.5] * 3),
    ])


def per_image_ms(dataset: ImageFolderDataset, n: int) -> dict:
    """Median milliseconds to decode, and to decode + augment, one image."""
    n = min(n, len(dataset))
    decode, full = [], []
    for i in range(n):
        t0 = time.perf_counter()
        image = dataset.load(i)
        t1 = time.perf_counter()
        dataset.transform(image)
        t2 = time.perf_counter()
        decode.append(t1 - t0)
        full.append(t2 - t0)
    median = lambda xs: sorted(xs)[len(xs) // 2] * 1e3  # noqa: E731
    return {"decode ms": median(decode), "decode + augment ms": median(full)}


# %% [markdown]
# ## 2. How fast does the model eat?
#
# A training step of a small CNN on a batch that is already on the device: the
# rate the loader has to reach for the model never to wait. On a GPU this rate
# is far above what a few CPU workers can decode; on a CPU it is lower, and the
# loader and the model compete for the same cores.

# %%
def small_cnn(num_classes: int) -> nn.Module:
    """Three conv blocks and a linear head, for 3-channel images of any size."""
    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout),
                             nn.ReLU(), nn.MaxPool2d(2))
    return nn.Sequential(block(3, 8), block(8, 16), block(16, 32),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes))


def make_train_step(model: nn.Module, lr: float):
    """A function doing one SGD step on a batch ``(images, labels)``."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    def step(batch):
        images, labels = batch
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        opt.step()
    return step


def model_rate(step, batch_size: int, size: int, classes: int, device: torch.device,
               steps: int) -> float:
    """Images per second of ``step`` on a synthetic batch already on ``device``."""
    g = torch.Generator().manual_seed(0)
    batch = (torch.randn(batch_size, 3, size, size, generator=g).to(device),
             torch.randint(0, classes, (batch_size,), generator=g).to(device))
    step(batch)  # warm-up: allocations, cuDNN algorithm choice
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # the steps above are asynchronous
    return steps * batch_size / (time.perf_counter() - start)


# %% [markdown]
# ## 3. The grid: workers × batch size × pin memory
#
# `tutorials.lec06_data_pipelines.loader_bench.sweep` runs one shuffled epoch per setting, copying
# each batch to the device as a training loop would, and reports the epoch's
# images per second (worker start-up included) and the time to the first batch.
# A setting is *loader-bound* when it delivers fewer images per second than the
# model consumes at that batch size.
#
# The recommendation does not simply take the fastest row. Two epochs of the same
# loader differ (other processes, worker start-up, the page cache), so a smaller
# difference than that is a tie, not evidence. `recommend_setting` measures this
# noise as the largest difference between two epochs of the same loader: the
# repeats of a setting (`--repeats`) and, without CUDA, each `pin_memory=True` row
# against its `pin_memory=False` row (the loader ignores the flag there, so the two
# rows run the same code). It counts every setting within that noise (at least 5 %)
# of the fastest as a tie and recommends the simplest of them: `pin_memory=False`,
# then the fewest workers.

# %%
def grid_rows(results: list[LoaderThroughput], rates: dict[int, float]) -> list[dict]:
    """The sweep as table rows, with the bottleneck of each setting."""
    return [{
        "workers": r.num_workers,
        "batch": r.batch_size,
        "pin_memory": r.pin_memory,
        "pinned": r.pinned,
        "images/s": r.images_per_s,
        "first batch s": r.first_batch_s,
        "epoch s": r.seconds,
        "bottleneck": "loader" if r.images_per_s < rates[r.batch_size] else "model",
    } for r in results]


def _setting(r: LoaderThroughput) -> str:
    return f"num_workers={r.num_workers}, batch_size={r.batch_size}, pin_memory={r.pin_memory}"


def recommendation_text(rec) -> str:
    """The recommendation, the noise it allowed for, and why it is not simply the fastest."""
    lines = [f"noise: {rec.noise:.0%} ({rec.noise_source}); settings within {rec.noise:.0%} of the "
             "fastest count as ties",
             f"fastest: {_setting(rec.fastest)} -> {rec.fastest.images_per_s:.0f} images/s"]
    if len(rec.ties) == 1:
        lines.append(f"recommended: the fastest; no other setting is within {rec.noise:.0%} of it")
    else:
        lines.append(f"recommended: {_setting(rec.setting)} -> {rec.setting.images_per_s:.0f} images/s, "
                     f"the simplest of the {len(rec.ties)} settings tied with the fastest "
                     "(pin_memory=False first, then the fewest workers)")
    return "\n".join(lines)


# %% [markdown]
# ## 4. End to end: loader and training step together
#
# With `num_workers=0` loading and training alternate in one process, so the
# times add up. With workers, the next batches are prepared while the model
# trains, so the epoch takes about as long as the *slower* of the two. Once the
# loader is faster than the model, more workers stop helping: the loader is no
# longer the bottleneck.

# %%
def end_to_end(dataset, workers: list[int], batch_size: int, pin: bool,
               device: torch.device, lr: float, seed: int, max_images: int) -> list[dict]:
    """Images per second of loading + training, for each number of workers."""
    from torch.utils.data import Subset

    # a fixed subset keeps this part short; the rate does not depend on it
    dataset = Subset(dataset, range(min(max_images, len(dataset))))
    rows = []
    for w in workers:
        torch.manual_seed(seed)
        model = small_cnn(len(dataset.dataset.classes)).to(device)
        r = measure_loader(dataset, num_workers=w, batch_size=batch_size, pin_memory=pin,
                           device=device, step=make_train_step(model, lr), seed=seed)
        rows.append({"workers": w, "batch": batch_size, "pin_memory": pin,
                     "train images/s": r.images_per_s, "epoch s": r.seconds})
    return rows


def plot(grid: list[dict], rates: dict[int, float], e2e: list[dict], path: Path):
    """Throughput against num_workers: the grid (left), end to end (right)."""
    import matplotlib

    if "ipykernel" not in __import__("sys").modules:
        matplotlib.use("Agg")  # a file, not a window, from the command line
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for (b, p) in sorted({(r["batch"], r["pin_memory"]) for r in grid}):
        rows = [r for r in grid if (r["batch"], r["pin_memory"]) == (b, p)]
        left.plot([r["workers"] for r in rows], [r["images/s"] for r in rows],
                  marker="o", linestyle="-" if p else "--",
                  label=f"batch {b}, pin_memory={p}")
    for i, (b, rate) in enumerate(sorted(rates.items())):
        left.axhline(rate, color=f"C{i + 4}", linewidth=1, linestyle=":",
                     label=f"model, batch {b}")
    left.set(xlabel="num_workers", ylabel="images / s", title="loader alone")
    left.legend(fontsize=8)
    b = e2e[0]["batch"]
    loader_alone = [r for r in grid if r["batch"] == b and r["pin_memory"] == e2e[0]["pin_memory"]]
    right.plot([r["workers"] for r in loader_alone], [r["images/s"] for r in loader_alone],
               marker="o", linestyle="--", label="loader alone")
    right.plot([r["workers"] for r in e2e], [r["train images/s"] for r in e2e],
               marker="s", label="loader + training step")
    right.axhline(rates[b], color="gray", linestyle=":", label="training step alone")
    right.set(xlabel="num_workers", title=f"end to end, batch {b}")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.set_xticks(sorted({r["workers"] for r in grid}))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


# %% [markdown]
# ## Command line
#
# `main` runs the four parts and returns the measured figures; `--dry-run` makes
# every part tiny so the course's test suite can run the whole lab in seconds.
# Bad option values (`--workers 1,x`, `--threads -1`, a missing `--data-dir`) stop
# with a usage line and a message naming the option (exit status 2).

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(
        description="Lab 2.1.2: images/s of a DataLoader over workers x batch size x pin_memory."
    )
    p.add_argument("--data-dir", default=None,
                   help="an image folder root/<class>/<image> to use instead of the "
                        "generated digits (default: %(default)s)")
    p.add_argument("--images-per-class", type=positive_int, default=50,
                   help="digit images written per class, 10 classes (default: %(default)s)")
    p.add_argument("--image-size",
                   type=int_at_least(8, "an integer >= 8 (the CNN halves it three times)"), default=64,
                   help="side of the written images and of the crops (default: %(default)s)")
    p.add_argument("--workers", type=int_list(minimum=0), default=[0, 1, 2],
                   help="comma-separated num_workers values (default: 0,1,2)")
    p.add_argument("--batch-sizes", type=int_list(minimum=1), default=[32, 128],
                   help="comma-separated batch sizes (default: 32,128)")
    p.add_argument("--pin-memory", type=bool_list, default=[False, True],
                   help="comma-separated pin_memory values (default: false,true)")
    p.add_argument("--repeats", type=positive_int, default=1,
                   help="epochs per setting; the median is kept (default: %(default)s)")
    p.add_argument("--threads", type=non_negative_int, default=1,
                   help="torch intra-op threads of the main process, like each worker's; "
                        "0 keeps torch's choice (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=0.05,
                   help="SGD learning rate of the training step (default: %(default)s)")
    add_standard_options(p, device="where batches go and the model trains",
                         out_dir="write lab_2_1_2_results.json and lab_2_1_2_throughput.png here",
                         dry_run="a tiny grid on a tiny folder, for a quick check")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the lab and return its figures (see the tables it prints)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)  # bad values: a usage error (exit status 2)
    if args.data_dir is not None:
        try:  # scan the folder now: a wrong path is a usage error, not a traceback later
            ImageFolderDataset(args.data_dir)
        except FileNotFoundError as err:
            parser.error(f"--data-dir: {err}")
    if args.dry_run:
        args.images_per_class, args.image_size = 8, 32
        args.workers, args.batch_sizes = args.workers[:2], args.batch_sizes[:1]
    if args.threads:
        torch.set_num_threads(args.threads)  # workers always use 1 thread each
    with guard_run("Lab 2.1.2", args.out_dir):  # Ctrl-C: a message and exit status 130
        return _run(args, device)


def _run(args: argparse.Namespace, device: torch.device) -> dict:
    """The body of :func:`main`, with the options checked."""
    torch.manual_seed(args.seed)
    print(f"device: {device_label(device)} · torch {torch.__version__} · "
          f"{os.cpu_count()} CPU cores · {torch.get_num_threads()} torch threads")
    if device.type != "cuda":
        print("no CUDA: pin_memory=True is measured, but the loader ignores it")

    tmp = None
    try:
        if args.data_dir is not None:
            root, source = Path(args.data_dir), args.data_dir
        else:
            tmp = tempfile.mkdtemp(prefix="lab212-")
            root = write_digit_folder(tmp, per_class=args.images_per_class,
                                      size=args.image_size)
            source = "scikit-learn digits written as PNG/JPEG"
        dataset = ImageFolderDataset(root, transform=train_transform(args.image_size))
        print(f"{len(dataset)} images in {len(dataset.classes)} classes ({source})")

        cost = per_image_ms(dataset, 10 if args.dry_run else 100)
        print("\n1. per-image cost in one process\n" + format_table([cost], floatfmt=".2f"))

        classes = len(dataset.classes)
        rates = {}
        for b in args.batch_sizes:
            torch.manual_seed(args.seed)
            model = small_cnn(classes).to(device)
            rates[b] = model_rate(make_train_step(model, args.lr), b, args.image_size,
                                  classes, device, steps=2 if args.dry_run else 10)
        print("\n2. training step alone (data already on the device)\n" + format_table(
            [{"batch": b, "images/s": r} for b, r in rates.items()], floatfmt=".0f"))

        print("\n3. loader alone: one epoch per setting")
        results = sweep(
            dataset, args.workers, args.batch_sizes, args.pin_memory, device=device,
            seed=args.seed, repeats=1 if args.dry_run else args.repeats,
            progress=lambda r: print(f"   workers={r.num_workers} batch={r.batch_size} "
                                     f"pin={r.pin_memory}: {r.images_per_s:.0f} images/s"),
        )
        grid = grid_rows(results, rates)
        print(format_table(grid, floatfmt=".2f"))
        rec = recommend_setting(results)
        best = rec.setting
        best_row = {"num_workers": best.num_workers, "batch_size": best.batch_size,
                    "pin_memory": best.pin_memory, "images_per_s": best.images_per_s}
        print("\n" + recommendation_text(rec))

        e2e = end_to_end(dataset, args.workers, best.batch_size, best.pin_memory, device,
                         args.lr, args.seed, max_images=max(256, 2 * best.batch_size))
        for row in e2e:
            row["training step alone"] = rates[best.batch_size]
        print("\n4. loader + training step\n" + format_table(e2e, floatfmt=".1f"))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    results_dict = {
        "device": device_label(device),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "dry_run": args.dry_run,
        "images": len(dataset),
        "per_image_ms": cost,
        "model_images_per_s": {str(b): r for b, r in rates.items()},
        "grid": grid,
        "best": best_row,
        "fastest": {"num_workers": rec.fastest.num_workers, "batch_size": rec.fastest.batch_size,
                    "pin_memory": rec.fastest.pin_memory, "images_per_s": rec.fastest.images_per_s},
        "noise": rec.noise,
        "noise_source": rec.noise_source,
        "ties": [_setting(r) for r in rec.ties],
        "end_to_end": e2e,
    }
    png = None
    if args.out_dir is not None:
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        png = Path(args.out_dir) / "lab_2_1_2_throughput.png"
    fig = plot(grid, rates, e2e, png)
    if "ipykernel" not in __import__("sys").modules:
        import matplotlib.pyplot as plt

        plt.close(fig)  # in a notebook the figure is shown instead
    path = write_results(args.out_dir, "lab_2_1_2_results", results_dict)
    if path is not None:
        print(f"\nresults written to {path} and {png}")
    return results_dict


# %%
if __name__ == "__main__":
    main(script_argv())

# %% [markdown]
# ## What to look for, and what to try
#
# * Table 1 times one image; multiply by the images per second you need to get
#   the CPU-seconds per second of training the pipeline costs — the number of
#   cores you need, at best.
# * Table 3: on a machine with few cores, going from 0 to 1 worker helps most
#   (loading now overlaps with the main process's own work); beyond the number of
#   free cores, more workers only add contention. Larger batches amortize the
#   per-batch overhead (queues, collation). `pinned` is `yes` only with CUDA.
# * On CPU, the `pin_memory=True` and `False` rows measure the same thing: the
#   difference between them is your measurement noise, and the recommendation
#   treats every setting that close to the fastest as a tie. If the noise is large
#   (a busy machine), use `--repeats 3`, which keeps the median epoch of each
#   setting and measures the noise from the repeats as well.
# * Table 4: with the loader faster than the training step, the end-to-end rate
#   flattens at the model's rate: the loader has stopped being the bottleneck.
#   On a GPU, the model is so fast that the loader is usually the bottleneck:
#   that is when decoding on the GPU (`torchvision.io.decode_jpeg(...,
#   device="cuda")`), smaller stored images or caching decoded tensors pay off.
# * Try `--workers 0,2,4,8` on a machine with more cores, `--image-size 128`
#   (decoding and augmentation grow with the pixels), and moving `v2.ToImage()`
#   to the front of `train_transform` (augmentation on tensors instead of PIL).
# * Each worker runs with one torch thread, and so, by default (`--threads 1`),
#   does the main process. Try `--threads 0` (torch's own choice, one thread per
#   core): on an idle machine the CPU training step gets faster; on a busy one,
#   or with as many workers as cores, threads and workers fight over the cores
#   and everything slows down — oversubscription.
# * Point `--data-dir` at a folder of your own photos: real JPEGs are much larger
#   than these digits, and decoding dominates.
