# %% [markdown]
# # Lab 23.2: a CNN from scratch vs transfer learning
#
# One target task — handwritten digits **5–9** from a small labelled set (25 and 100
# images by default) — learned three ways, each with and without data augmentation:
#
# | arm | starts from | trains |
# |---|---|---|
# | **scratch** | random weights | everything, one learning rate |
# | **fine-tune** | the course backbone pretrained on digits 0–4 | everything; backbone at a 10× smaller LR |
# | **frozen** | the same backbone | only a new linear head (feature extraction) |
#
# Then the two settings that decide how fast an epoch runs rather than how well it
# learns: the `DataLoader` (`num_workers`, `pin_memory`) and mixed precision
# (`torch.autocast` in bf16, and fp16 with a `GradScaler` on CUDA).
#
# The backbone is the chapter's `SmallCNN`, pretrained by this lab
# (`backbone.pretrain_backbone`) or read from `--backbone`. Few labels is where
# transfer pays; with 100 images or more (`--train-images 0`: all 538) the scratch CNN
# catches up on a task this easy.
#
# ```
# python lab_23_cnn_vs_transfer.py --help
# python lab_23_cnn_vs_transfer.py --device auto --out-dir results/
# ```

# %%
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from tutorials.core.cli import (
    add_standard_options,
    guard_run,
    int_at_least,
    int_list,
    parse_args_and_device,
    positive_float,
    positive_int,
    refuse_fp16_off_cuda,
    script_argv,
    write_results,
)
from tutorials.core.reporting import format_table
from tutorials.core.runtime import device_label
from tutorials.lec23_computer_vision.backbone import (
    DIGITS_MEAN,
    DIGITS_STD,
    PRETRAIN_CLASSES,
    TRANSFER_CLASSES,
    SmallCNN,
    evaluate,
    load_backbone,
    pretrain_backbone,
    split_digits,
)
from tutorials.lec23_computer_vision.transfer import (
    AMP_DTYPES,
    Augmented,
    digits_augmentation,
    fit,
    freeze_backbone,
    new_head,
)

ARMS = ("scratch", "fine-tune", "frozen")
HEAD_POOL = 2  # every arm's head reads the last feature map pooled to 2 x 2 (transfer.new_head)

# %% [markdown]
# ## 1. Three ways to start
#
# Each arm gets the same data, the same epochs and a cosine schedule; only the
# starting weights and what trains differ. The LRs are the usual ones for each
# situation: a random network takes a moderate LR everywhere; a fine-tuned backbone
# a smaller one than its new head (large updates would erase what it learned); a
# lone linear head a larger one.

# %%
def scratch_model(widths, device: torch.device) -> torch.nn.Module:
    """A randomly initialised SmallCNN with the same head as the transfer arms."""
    return new_head(SmallCNN(num_classes=len(TRANSFER_CLASSES), widths=widths), len(TRANSFER_CLASSES),
                    pool=HEAD_POOL).to(device)


def make_arm(arm: str, backbone_path: Path, widths, lr: float, device: torch.device):
    """The model and optimizer of one arm."""
    k = len(TRANSFER_CLASSES)
    if arm == "scratch":
        model = scratch_model(widths, device)
        return model, torch.optim.AdamW(model.parameters(), lr=lr)
    model = new_head(load_backbone(backbone_path, device), k, pool=HEAD_POOL)
    if arm == "fine-tune":
        freeze_backbone(model, frozen=False)
        return model, torch.optim.AdamW([{"params": model.features.parameters(), "lr": lr / 10},
                                         {"params": model.head.parameters(), "lr": lr}])
    freeze_backbone(model)  # frozen: features fixed, the head only
    return model, torch.optim.AdamW(model.head.parameters(), lr=3 * lr)


def run_arm(arm: str, augment: bool, data, args, device, backbone_path: Path) -> dict:
    """Train one arm; return its row (test accuracy of the best checkpoint, seconds) and curve."""
    train, val, test = data
    torch.manual_seed(args.seed)
    model, opt = make_arm(arm, backbone_path, args.widths, args.lr, device)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    transform = digits_augmentation(-DIGITS_MEAN / DIGITS_STD) if augment else None
    loader = DataLoader(Augmented(train, transform), batch_size=args.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(args.seed))
    result = fit(model, loader, DataLoader(val, batch_size=256), optimizer=opt, scheduler=sched,
                 epochs=args.epochs, device=device, precision=args.precision)
    model.load_state_dict(result["best_state"])
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"images": len(train), "arm": arm, "augment": augment, "trainable params": trainable,
            "best val acc": result["best_val_accuracy"], "test acc": evaluate(model, test, device),
            "train s": result["seconds"], "curve": [h["val_accuracy"] for h in result["history"]]}


# %% [markdown]
# ## 2. DataLoader settings
#
# An epoch of the augmented training set through the scratch CNN's training step,
# for each `num_workers` × `pin_memory`. Augmentation runs per image in the
# loader's workers; `pin_memory=True` puts batches in page-locked memory so that a
# copy to a CUDA device can be asynchronous (`.to(device, non_blocking=True)`). On a
# CPU there is no such copy, so the lab passes the flag only on CUDA (without an
# accelerator the `DataLoader` would warn and ignore it): the two rows measure the
# same thing, and their difference is the noise of the measurement.

# %%
def time_loader(train: TensorDataset, workers: int, pin: bool, args, device) -> dict:
    """Seconds for one augmented epoch (loading + a training step) with these loader settings."""
    torch.manual_seed(args.seed)
    model = scratch_model(args.widths, device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    data = Augmented(train, digits_augmentation(-DIGITS_MEAN / DIGITS_STD))
    loader = DataLoader(data, batch_size=args.batch_size, shuffle=True, num_workers=workers,
                        pin_memory=pin and device.type == "cuda", persistent_workers=False,
                        generator=torch.Generator().manual_seed(args.seed))
    start = time.perf_counter()
    n = 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return {"num_workers": workers, "pin_memory": pin, "pinned": pin and device.type == "cuda",
            "epoch s": seconds, "images/s": n / seconds}


# %% [markdown]
# ## 3. Mixed precision
#
# The scratch arm again, with augmentation off, under each precision: the time per
# epoch and the test accuracy. On a CPU, bfloat16 autocast helps only where the CPU
# has native bf16 instructions (AVX-512 BF16, AMX; the CPU of the recorded run below
# has AVX-512 BF16); elsewhere the conversions can make it *slower* than float32.
# On a recent GPU, bf16 and fp16 autocast run the convolutions on tensor cores. fp16
# (CUDA only) adds the `GradScaler`.

# %%
def run_precision(precision: str, data, args, device) -> dict:
    """Test accuracy and seconds per epoch of the scratch arm under ``precision``."""
    train, val, test = data
    torch.manual_seed(args.seed)
    model = scratch_model(args.widths, device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(args.seed))
    result = fit(model, loader, DataLoader(val, batch_size=256), optimizer=opt,
                 scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs),
                 epochs=args.epochs, device=device, precision=precision)
    model.load_state_dict(result["best_state"])
    per_epoch = sorted(h["seconds"] for h in result["history"])
    return {"precision": precision, "logits dtype": str(result["logits_dtype"]).removeprefix("torch."),
            "GradScaler": result["scaler_enabled"], "median epoch s": per_epoch[len(per_epoch) // 2],
            "test acc": evaluate(model, test, device)}


def plot(rows: list[dict], path: Path | None):
    """Test accuracy per arm and training-set size (left); validation curves of the smallest (right)."""
    import sys

    import matplotlib
    import matplotlib.ticker

    if "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    groups = [(n, aug) for n in sorted({r["images"] for r in rows}) for aug in (False, True)]
    width = 0.8 / len(groups)
    for j, (n, augment) in enumerate(groups):
        sub = [r for r in rows if r["augment"] is augment and r["images"] == n]
        xs = [ARMS.index(r["arm"]) + (j - (len(groups) - 1) / 2) * width for r in sub]
        left.bar(xs, [r["test acc"] for r in sub], width=width * 0.95,
                 label=f"{n} images, augmentation " + ("on" if augment else "off"))
        for x, r in zip(xs, sub, strict=True):
            left.text(x, r["test acc"] + 0.01, f"{r['test acc']:.2f}", ha="center", fontsize=7)
    left.set_xticks(range(len(ARMS)), ARMS)
    left.set(ylabel="test accuracy (best checkpoint)", ylim=(0, 1.08), title="digits 5-9")
    left.legend(fontsize=8, loc="lower right")
    fewest = min(r["images"] for r in rows)
    for r in (r for r in rows if r["images"] == fewest):
        right.plot(range(1, len(r["curve"]) + 1), r["curve"], color=f"C{ARMS.index(r['arm'])}",
                   linestyle="-" if r["augment"] else "--", marker=".",
                   label=f"{r['arm']}, aug {'on' if r['augment'] else 'off'}")
    right.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1.02),
              title=f"learning curves, {fewest} training images")
    right.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


# %% [markdown]
# ## Command line
#
# `--dry-run` runs every part at a tiny size (16-pixel images, a narrow backbone
# pretrained for one epoch, 40 training images, two epochs per arm): the numbers
# mean nothing, the code paths all run. `--precisions` with fp16 needs CUDA.

# %%
def _precisions(text: str) -> list[str]:
    """``type=`` for ``--precisions``: comma-separated modes among fp32, bf16, fp16."""
    modes = [m.strip() for m in text.split(",")]
    unknown = [m for m in modes if m not in AMP_DTYPES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown mode {unknown[0]!r} in {text!r}; expected "
                                         f"comma-separated modes among {','.join(AMP_DTYPES)}")
    return modes


def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(description="Lab 23.2: a CNN from scratch vs fine-tuned vs frozen "
                                            "features, augmentation, DataLoader settings and AMP.")
    p.add_argument("--backbone", default=None,
                   help="a checkpoint written by backbone.pretrain_backbone; without it the lab "
                        "pretrains one on digits 0-4 (default: %(default)s)")
    p.add_argument("--pretrain-epochs", type=positive_int, default=6,
                   help="epochs of pretraining on digits 0-4 (default: %(default)s)")
    p.add_argument("--train-images", type=int_list(minimum=0), default=[25, 100],
                   help="comma-separated sizes of the labelled training set of digits 5-9, one "
                        "experiment each; 0: all 538 (default: 25,100)")
    p.add_argument("--epochs", type=positive_int, default=15,
                   help="epochs per arm (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=32,
                   help="images per step (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=3e-3,
                   help="AdamW learning rate of the scratch arm and of the new heads (default: %(default)s)")
    p.add_argument("--precision", choices=tuple(AMP_DTYPES), default="fp32",
                   help="autocast dtype of the six arms' runs; fp16 needs CUDA (default: %(default)s)")
    p.add_argument("--precisions", type=_precisions, default=None,
                   help="comma-separated modes for part 3 (default: fp32,bf16, plus fp16 on CUDA)")
    p.add_argument("--workers", type=int_list(minimum=0), default=[0, 2],
                   help="comma-separated num_workers values for part 2 (default: 0,2)")
    p.add_argument("--image-size", type=int_at_least(8, "an integer >= 8 (the digits are 8x8)"), default=32,
                   help="side of the upsampled digit images (default: %(default)s)")
    add_standard_options(p, device="where to train",
                         out_dir="write lab_23_2_results.json, lab_23_2_accuracy.png and the backbone "
                                 "checkpoint here",
                         dry_run="tiny sizes and two epochs per arm, for a quick check")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the lab and return its figures (see the tables it prints)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)
    refuse_fp16_off_cuda(parser, "--precision", args.precision, device, instead="--precision bf16 or fp32")
    if args.precisions is None:
        args.precisions = ["fp32", "bf16"] + (["fp16"] if device.type == "cuda" else [])
    refuse_fp16_off_cuda(parser, "--precisions", args.precisions, device, instead="--precisions fp32,bf16")
    if args.backbone is not None and not Path(args.backbone).is_file():
        parser.error(f"--backbone: no checkpoint file at {args.backbone}")
    args.widths = (16, 32, 64)
    if args.dry_run:
        args.image_size, args.pretrain_epochs, args.epochs = 16, 1, 2
        args.train_images, args.widths = [40], (8, 16, 32)
        args.workers = [0, 1]  # one worker process: the multi-process path, started once
    with guard_run("Lab 23.2", args.out_dir):
        return _run(args, device)


def _run(args: argparse.Namespace, device: torch.device) -> dict:
    """The body of :func:`main`, with the options checked."""
    import tempfile

    print(f"device: {device_label(device)} · torch {torch.__version__} · {os.cpu_count()} CPU cores")
    tmp = tempfile.TemporaryDirectory(prefix="lab232-") if args.out_dir is None else None
    out = Path(args.out_dir if args.out_dir is not None else tmp.name)
    out.mkdir(parents=True, exist_ok=True)
    try:
        if args.backbone is not None:
            backbone_path, pretrain = Path(args.backbone), None
            if args.widths != tuple(load_backbone(backbone_path).arch["widths"]):
                args.widths = tuple(load_backbone(backbone_path).arch["widths"])  # scratch arm: same shape
        else:
            backbone_path = out / "backbone_digits_0-4.pt"
            pretrain = pretrain_backbone(backbone_path, classes=PRETRAIN_CLASSES, epochs=args.pretrain_epochs,
                                         seed=args.seed, device=device, size=args.image_size,
                                         widths=args.widths)
            print(f"backbone: SmallCNN{tuple(args.widths)} pretrained on digits {PRETRAIN_CLASSES}, val "
                  f"accuracy {pretrain['val_accuracy']:.3f} -> {backbone_path}")
        full, val, test = split_digits(TRANSFER_CLASSES, seed=args.seed, size=args.image_size)
        print(f"task: digits {TRANSFER_CLASSES}; {len(val)} val, {len(test)} test images; "
              f"{args.epochs} epochs per arm, precision {args.precision}")

        print("\n1. scratch vs fine-tune vs frozen, augmentation off/on")
        rows = []
        for n in args.train_images:
            # the first n images of a seeded shuffle: the smaller set is part of the larger one
            train = TensorDataset(*(t[:n] for t in full.tensors)) if n else full
            data = (train, val, test)
            for arm in ARMS:
                for augment in (False, True):
                    rows.append(run_arm(arm, augment, data, args, device, backbone_path))
                    r = rows[-1]
                    print(f"   {len(train):3d} images  {arm:9s} aug {'on ' if augment else 'off'}: "
                          f"test acc {r['test acc']:.3f} ({r['train s']:.1f} s)")
        print(format_table([{k: v for k, v in r.items() if k != "curve"} for r in rows], floatfmt=".3f"))

        print(f"\n2. DataLoader: one augmented epoch of {len(train)} images (loading + training step)")
        loader_rows = [time_loader(train, w, pin, args, device)
                       for w in args.workers for pin in (False, True)]
        print(format_table(loader_rows, floatfmt=".2f"))
        if device.type != "cuda":
            print("no CUDA: pin_memory is ignored, the pin_memory=True rows repeat the False ones")

        print(f"\n3. mixed precision: the scratch arm, augmentation off, {len(train)} images")
        amp_rows = [run_precision(p, data, args, device) for p in args.precisions]
        print(format_table(amp_rows, floatfmt=".3f"))
    finally:
        if tmp is not None:
            tmp.cleanup()

    png = None
    if args.out_dir is not None:
        png = out / "lab_23_2_accuracy.png"
    fig = plot(rows, png)
    if "ipykernel" not in __import__("sys").modules:
        import matplotlib.pyplot as plt

        plt.close(fig)
    best = max(rows, key=lambda r: (r["test acc"], -ARMS.index(r["arm"])))
    print(f"\nbest: {best['arm']} with augmentation {'on' if best['augment'] else 'off'}, "
          f"test accuracy {best['test acc']:.3f}")
    results = {
        "device": device_label(device),
        "torch": torch.__version__,
        "dry_run": args.dry_run,
        "options": {"train_images": sorted({r["images"] for r in rows}), "epochs": args.epochs, "lr": args.lr,
                    "precision": args.precision, "image_size": args.image_size,
                    "widths": list(args.widths), "seed": args.seed},
        "pretrain_val_accuracy": None if pretrain is None else pretrain["val_accuracy"],
        "arms": rows,
        "loader": loader_rows,
        "precisions": amp_rows,
        "best": {"arm": best["arm"], "augment": best["augment"], "test_accuracy": best["test acc"]},
    }
    path = write_results(args.out_dir, "lab_23_2_results", results)
    if path is not None:
        print(f"results written to {path} and {png}")
    return results


# %%
if __name__ == "__main__":
    main(script_argv())

# %% [markdown]
# ## What to look for, and what to try
#
# * With 25 labelled images, the frozen backbone is far ahead of the scratch CNN: the
#   backbone already computes strokes and loops, 5–9 are built from them too, and a
#   1,285-parameter head cannot overfit 25 images the way 24,693 parameters do.
# * With 100 images the arms end within a few test images of each other (one of the
#   179 test images is 0.56 points): on a task this easy the scratch CNN catches up.
#   Transfer learning is most valuable when labels are scarce.
# * Augmentation did not help in 15 epochs: random shifts and rotations make the
#   training set harder to fit, and pay off over longer training or with larger models.
#   Try `--epochs 60`.
# * On a CPU, loader workers compete with the training step for the same cores, and
#   each epoch starts them again; with data already in memory `num_workers=0` wins.
#   On a GPU, `--workers 0,2,4,8`: the augmentation then is the bottleneck and workers
#   help until it keeps up; `--precisions fp32,bf16,fp16` adds the GradScaler path.

# %% [markdown]
# ## A recorded run
#
# `python -m tutorials.lec23_computer_vision.lab_23_cnn_vs_transfer --device cpu --out-dir ...`
# with the defaults (`OMP_NUM_THREADS=1`), on a 2-core x86-64 CPU shared with other
# jobs, torch 2.14.1 (2026-12-02; 5.8 min wall clock on the busy machine, 34 s of CPU
# time). Test accuracy of each arm's best checkpoint:
#
# | training images | augmentation | scratch | fine-tune | frozen |
# |---|---|---|---|---|
# | 25 | off | 0.609 | 0.687 | **0.816** |
# | 25 | on | 0.581 | 0.642 | 0.715 |
# | 100 | off | 0.939 | **0.955** | 0.944 |
# | 100 | on | 0.939 | 0.922 | 0.905 |
#
# DataLoader, one augmented epoch of 100 images: 85 images/s with `num_workers=0`,
# 44 with 2 workers; `pin_memory` made no difference (no CUDA). Mixed precision, the
# scratch arm: median epoch 1.29 s in fp32 and 0.88 s under bf16 autocast, test accuracy
# 0.939 and 0.944 (timings on a busy machine: treat them as rough).
