# %% [markdown]
# # Lab 2.1.1: ResNet from blocks
#
# You will build ResNet from its two residual blocks, prove the result is the
# network torchvision ships, and train it briefly on real images.
#
# 1. **Blocks**: `BasicBlock` (two 3×3 convolutions) and `Bottleneck`
#    (1×1 → 3×3 → 1×1), with identity and projection shortcuts: output shapes
#    and parameter counts.
# 2. **Against torchvision**: ResNet-18 and ResNet-50 must have exactly the
#    parameter counts of `torchvision.models.resnet18/50(weights=None)`, accept
#    their state dicts with `strict=True`, and then give the same outputs.
# 3. **Training**: a narrow ResNet-18 (a width multiplier; optionally the
#    small-image stem) learns scikit-learn's handwritten digits, upsampled to
#    32×32 and repeated to 3 channels — or CIFAR-10 with `--data-dir`. It reports
#    the loss curve and the test accuracy.
#
# Run it from a terminal (with the course package installed):
#
# ```
# python lab_05_resnet_blocks.py --help
# python lab_05_resnet_blocks.py --device auto --out-dir results/
# ```
#
# The model code lives in `tutorials.lec05_nn_module.resnet`; Lecture 5 walks through it.
# Built with PyTorch ≥ 2.4; nothing is downloaded.

# %%
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from tutorials.core.cli import (
    add_standard_options,
    guard_run,
    parse_args_and_device,
    positive_float,
    positive_int,
    refuse_fp16_off_cuda,
    script_argv,
    write_results,
)
from tutorials.core.datasets import cifar10_images, digits_images
from tutorials.core.reporting import format_table
from tutorials.core.runtime import device_label
from tutorials.lec05_nn_module.resnet import BasicBlock, Bottleneck, resnet18, resnet50

AMP_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def count_parameters(model: torch.nn.Module) -> int:
    """Number of scalar parameters (buffers such as running means excluded)."""
    return sum(p.numel() for p in model.parameters())


# %% [markdown]
# ## 1. The blocks, shape by shape
#
# A block keeps the shape (identity shortcut) unless it has stride 2 or changes
# the channel count; then its shortcut is a 1×1 convolution with BatchNorm. A
# `Bottleneck` outputs 4× its `planes` channels.

# %%
def check_blocks(device: torch.device, seed: int) -> list[dict]:
    """Output shape, parameter count and shortcut of four representative blocks."""
    torch.manual_seed(seed)
    x = torch.randn(2, 64, 16, 16, device=device)  # (N, C, H, W)
    cases = {
        "BasicBlock(64, 64)": BasicBlock(64, 64),
        "BasicBlock(64, 128, stride=2)": BasicBlock(64, 128, stride=2),
        "Bottleneck(64, 64)": Bottleneck(64, 64),
        "Bottleneck(64, 128, stride=2)": Bottleneck(64, 128, stride=2),
    }
    rows = []
    for name, block in cases.items():
        block = block.to(device).eval()
        with torch.no_grad():
            out = block(x)
        rows.append({
            "block": name,
            "output shape": str(tuple(out.shape)),
            "parameters": count_parameters(block),
            "shortcut": "identity" if block.downsample is None else "1×1 conv + BN",
        })
    return rows


# %% [markdown]
# ## 2. Against torchvision
#
# Equal parameter counts are necessary but not sufficient (two layers could be
# swapped). Loading torchvision's state dict with `strict=True` checks every name
# and shape; equal outputs on the same input check the wiring, including where
# the stride sits in a `Bottleneck` (on the 3×3 convolution: "ResNet v1.5").

# %%
def compare_with_torchvision(device: torch.device, image_size: int, seed: int) -> list[dict]:
    """Parameter counts, strict state-dict load and output difference vs torchvision."""
    import torchvision

    torch.manual_seed(seed)
    x = torch.randn(2, 3, image_size, image_size, device=device)
    rows = []
    for ours, theirs in ((resnet18, torchvision.models.resnet18),
                         (resnet50, torchvision.models.resnet50)):
        mine = ours().to(device).eval()
        ref = theirs(weights=None).to(device).eval()  # random weights, no download
        result = mine.load_state_dict(ref.state_dict(), strict=True)
        with torch.no_grad():
            out, want = mine(x), ref(x)
        rows.append({
            "model": ours.__name__,
            "ours": count_parameters(mine),
            "torchvision": count_parameters(ref),
            "strict load": not (result.missing_keys or result.unexpected_keys),
            "output shape": str(tuple(out.shape)),
            "max |Δ output|": float((out - want).abs().max()),
        })
    return rows


# %% [markdown]
# ## 3. Training on real small images
#
# The network is torchvision's ResNet-18 with 10 outputs and a width of 16
# instead of 64, which divides the convolution cost by about 16. Its ImageNet
# stem (7×7 stride-2 convolution and a max-pool) shrinks a 32×32 image to 8×8
# before the first block: cheap, and enough for digits that were 8×8 to begin
# with. `--small-input` swaps in the CIFAR stem (one 3×3 stride-1 convolution,
# no max-pool), which keeps 32×32 — 16 times the work in every stage, the right
# choice for CIFAR-10 on a GPU. Adam with a one-cycle schedule (warm-up, then
# cosine decay) trains it in three short epochs.

# %%
def load_data(data_dir: str | None, limit: int | None, seed: int
              ) -> tuple[TensorDataset, TensorDataset, str]:
    """The training and test sets: digits by default, CIFAR-10 from ``data_dir``."""
    if data_dir is None:
        train, test = digits_images(size=32, channels=3, seed=seed)
        name = "scikit-learn digits, 32×32×3"
    else:
        train, test = cifar10_images(data_dir, limit=limit)
        name = f"CIFAR-10 from {Path(data_dir).name}"
    if limit is not None:
        train = TensorDataset(*train[:limit])
        test = TensorDataset(*test[:limit])
    return train, test, name


def evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device) -> float:
    """Accuracy of ``model`` in eval mode (BatchNorm uses its running statistics)."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    return correct / total


def train(model: torch.nn.Module, train_set: TensorDataset, test_set: TensorDataset,
          args: argparse.Namespace, device: torch.device) -> dict:
    """Train for ``args.epochs`` (or ``args.max_steps`` batches); return curves and accuracy."""
    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, generator=g,
                        drop_last=True)
    test_loader = DataLoader(test_set, batch_size=256)
    steps = len(loader) * args.epochs
    if args.max_steps is not None:
        steps = min(steps, args.max_steps)
    if steps < 1:
        raise ValueError(f"no training step: {len(train_set)} images and --batch-size "
                         f"{args.batch_size} give no full batch")
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    amp_dtype = AMP_DTYPES[args.amp]
    scaler = torch.amp.GradScaler(device.type, enabled=args.amp == "fp16")
    losses: list[float] = []
    start = time.perf_counter()
    step = 0
    while step < steps:
        model.train()
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            losses.append(loss.item())  # a CPU-GPU sync per step: fine at this size
            step += 1
            if step == steps:
                break
    seconds = time.perf_counter() - start
    return {
        "steps": steps,
        "train_seconds": seconds,
        "losses": losses,
        "test_accuracy": evaluate(model, test_loader, device),
    }


def plot_losses(losses: list[float], title: str, path: Path) -> None:
    """Save the per-step training loss and its running mean as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    window = max(1, len(losses) // 10)
    smooth = [sum(losses[max(0, i - window + 1): i + 1]) / len(losses[max(0, i - window + 1): i + 1])
              for i in range(len(losses))]
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.plot(losses, alpha=0.35, label="per batch")
    ax.plot(smooth, label=f"running mean ({window} batches)")
    ax.set_xlabel("training step")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# %% [markdown]
# ## Command line
#
# `main` runs the three parts and returns the measured figures; `--dry-run`
# trains two steps so the course's test suite can run the whole lab in seconds
# (its first and last loss are then the two steps' own losses; a full run averages
# five steps at each end). Bad option values (`--lr 0`, `--epochs 0`, a
# `--batch-size` larger than the training set, a `--data-dir` without CIFAR-10,
# `--amp fp16` without CUDA) stop with a usage line and a message naming the
# option (exit status 2), before any work.

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(
        description="Lab 2.1.1: ResNet from BasicBlock and Bottleneck, checked against "
                    "torchvision and trained on small images."
    )
    p.add_argument("--epochs", type=positive_int, default=3,
                   help="passes over the training set (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=32,
                   help="images per training step (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=3e-3,
                   help="peak learning rate of the one-cycle schedule (default: %(default)s)")
    p.add_argument("--width", type=positive_int, default=16,
                   help="channels of the first stage; torchvision uses 64 (default: %(default)s)")
    p.add_argument("--small-input", action="store_true",
                   help="3×3 stride-1 stem without max-pool, for 32×32 images; 16× the "
                        "compute (default: %(default)s)")
    p.add_argument("--amp", choices=tuple(AMP_DTYPES), default="off",
                   help="autocast dtype for training; fp16 needs CUDA (default: %(default)s)")
    p.add_argument("--data-dir", default=None,
                   help="folder holding cifar-10-batches-py to train on CIFAR-10 instead of "
                        "the digits (default: %(default)s, the digits)")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="use at most this many training and test images (default: %(default)s)")
    add_standard_options(p, out_dir="write lab_2_1_1_results.json and the loss curve PNG here",
                         dry_run="two training steps and small checks")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the lab and return its figures (see the tables it prints)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)  # bad values: a usage error (exit status 2)
    refuse_fp16_off_cuda(parser, "--amp", args.amp, device, instead="--amp bf16 or --amp off")
    args.max_steps = 2 if args.dry_run else None
    given_limit = args.limit
    if args.dry_run and args.limit is None:
        args.limit = 4 * args.batch_size
    try:
        train_set, test_set, data_name = load_data(args.data_dir, args.limit, args.seed)
    except FileNotFoundError as err:  # --data-dir without cifar-10-batches-py/
        if args.data_dir is None:
            raise
        parser.error(str(err))
    if len(train_set) < args.batch_size:  # drop_last: not a single training step
        limit = f" (--limit {given_limit})" if given_limit is not None else ""
        parser.error(f"--batch-size {args.batch_size} is larger than the {len(train_set)} training "
                     f"images{limit}: no full batch to train on")
    with guard_run("Lab 2.1.1", args.out_dir):  # Ctrl-C: a message and exit status 130
        return _run(args, device, train_set, test_set, data_name)


def _run(args: argparse.Namespace, device: torch.device, train_set: TensorDataset,
         test_set: TensorDataset, data_name: str) -> dict:
    """The body of :func:`main`, with the options checked and the data loaded."""
    torch.manual_seed(args.seed)
    print(f"device: {device_label(device)} · torch {torch.__version__}")

    blocks = check_blocks(device, args.seed)
    print("\n1. residual blocks on a (2, 64, 16, 16) input\n" + format_table(blocks))
    image_size = 32 if args.dry_run else 64
    versus = compare_with_torchvision(device, image_size, args.seed)
    print("\n2. against torchvision (1000 classes)\n" + format_table(versus, floatfmt=".1e"))

    channels = train_set.tensors[0].shape[1]
    torch.manual_seed(args.seed)
    model = resnet18(num_classes=10, width=args.width, small_input=args.small_input,
                     in_channels=channels, zero_init_residual=True).to(device)
    run = train(model, train_set, test_set, args, device)
    losses = run["losses"]
    # mean of up to 5 steps at each end, never overlapping (2 steps: each step's own loss)
    k = max(1, min(5, len(losses) // 2))
    first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
    summary = [{
        "data": data_name,
        "train / test images": f"{len(train_set)} / {len(test_set)}",
        "parameters": count_parameters(model),
        "steps": run["steps"],
        "first loss": first,
        "last loss": last,
        "test accuracy": run["test_accuracy"],
        "seconds": run["train_seconds"],
    }]
    stem = "small-image" if args.small_input else "ImageNet"
    ends = f"step 1 and step {len(losses)}" if k == 1 else f"mean of the first and last {k} steps"
    print(f"\n3. training ResNet-18 (width {args.width}, {stem} stem); first / last loss: {ends}\n"
          + format_table(summary, floatfmt=".3f"))

    results = {
        "device": device_label(device),
        "torch": torch.__version__,
        "dry_run": args.dry_run,
        "blocks": blocks,
        "torchvision": versus,
        "training": {**summary[0], "losses": run["losses"], "loss_window": k, "amp": args.amp,
                     "width": args.width, "epochs": args.epochs,
                     "small_input": args.small_input},
    }
    if args.out_dir is not None:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        plot_losses(run["losses"], f"ResNet-18 (width {args.width}) on {data_name}",
                    out / "lab_2_1_1_loss.png")
        print(f"\nloss curve written to {out / 'lab_2_1_1_loss.png'}")
    path = write_results(args.out_dir, "lab_2_1_1_results", results)
    if path is not None:
        print(f"results written to {path}")
    return results


# %%
if __name__ == "__main__":
    main(script_argv())

# %% [markdown]
# ## What to look for, and what to try
#
# * Table 2 must show equal counts (11,689,512 and 25,557,032), `yes` for the
#   strict load and a difference of 0: the same weights in the same wiring give
#   the same numbers, bit for bit, on the same device.
# * Move the stride of `Bottleneck` from `conv2` to `conv1` (the original
#   ResNet v1): the counts and the strict load still pass, the outputs do not.
#   That is why comparing outputs is the stronger test.
# * Train with `--width 64` (the real ResNet-18 for 32×32 images, 11.2 M
#   parameters) with `--small-input` on a GPU, and with `--data-dir`
#   pointing at CIFAR-10.
# * Set `zero_init_residual=False` in `main` and compare the first losses: with
#   zero-initialized last BatchNorms every block starts as the identity.
