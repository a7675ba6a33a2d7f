# %% [markdown]
# # Lab 23.1: the transfer-learning challenge
#
# The challenge: take a **pretrained** network, give it a **new head** for a task it
# was not trained on, **freeze the backbone** so that only the head learns, train with
# a **learning-rate schedule** and **mixed precision**, keep the **best checkpoint**
# by validation accuracy, and reach **more than 85 % accuracy** on held-out images.
# The lab then checks each of the challenge's evaluation criteria itself and prints
# a pass/fail table (the third row is the lab's own addition; the others are the
# seed's six criteria):
#
# | criterion | how the lab checks it |
# |---|---|
# | pretrained weights loaded correctly | every tensor of the loaded backbone equals the checkpoint's |
# | only the classifier has `requires_grad=True` | every trainable parameter belongs to `head` |
# | the backbone stays frozen | its weights and batch-norm statistics are unchanged after training |
# | training uses mixed precision | the logits of the training forward pass have autocast's dtype |
# | the learning rate decreases per the schedule | the LR of each epoch equals the schedule's and falls |
# | the best checkpoint is saved | it reloads (`weights_only=True`) and gives its recorded val accuracy |
# | accuracy meets the threshold | test-split accuracy of the best checkpoint > `--threshold` (1) |
#
# (1) The seed says *validation* accuracy; but the best checkpoint is chosen on the
# validation split, so its accuracy there is biased upwards: the untouched test split
# is the stricter, honest measure.
#
# **The pretrained backbone.** Torchvision's ImageNet weights cannot be downloaded on
# the machines this course is tested on, so the lab pretrains its own: the chapter's
# `SmallCNN` on handwritten digits **0–4** (`backbone.pretrain_backbone`), saved as a
# checkpoint and loaded back with `torch.load(weights_only=True)` and
# `load_state_dict` — the same two calls torchvision makes for
# `weights=ResNet18_Weights.IMAGENET1K_V1`. The new task is digits **5–9**, which the
# backbone never saw. Readers online can run the same challenge on torchvision's
# ImageNet ResNet-18 with `--torchvision-weights` (it downloads about 45 MB).
#
# **Stretch goals** (part 3): fine-tuning with differential learning rates (the
# backbone unfrozen with a smaller LR than the head: 3e-4 against 2e-3 by default), data augmentation,
# training curves, early stopping on the validation loss, and export to ONNX with a
# parity check in ONNX Runtime.
#
# ```
# python lab_23_transfer_challenge.py --help
# python lab_23_transfer_challenge.py --device auto --out-dir results/
# ```

# %%
from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from tutorials.core.cli import (
    add_standard_options,
    guard_run,
    int_at_least,
    non_negative_int,
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
    evaluate,
    load_backbone,
    pretrain_backbone,
    split_digits,
)
from tutorials.lec23_computer_vision.transfer import (
    AMP_DTYPES,
    Augmented,
    digits_augmentation,
    evaluate_loss_accuracy,
    fit,
    freeze_backbone,
    load_checkpoint,
    new_head,
    plot_curves,
    resnet18_backbone,
)

# %% [markdown]
# ## 1. Pretrain, then load the backbone the way torchvision does
#
# `pretrain_backbone` trains a `SmallCNN` on digits 0–4 and saves
# `{"model": state_dict, "classes": ..., "arch": ...}`; `load_backbone` reads it with
# `torch.load(..., weights_only=True)` (no arbitrary pickle code runs) and
# `load_state_dict(strict=True)`. The first criterion compares every tensor of the
# loaded model with the file: a silent `strict=False` mismatch would leave random
# weights and fail here.

# %%
def weights_equal_checkpoint(model: torch.nn.Module, path: Path) -> tuple[bool, int]:
    """Whether every tensor of ``model.state_dict()`` equals the checkpoint's; and how many there are."""
    saved = torch.load(path, map_location="cpu", weights_only=True)["model"]
    state = model.state_dict()
    same = set(saved) == set(state) and all(torch.equal(state[k].cpu(), saved[k]) for k in saved)
    return same, len(saved)


# %% [markdown]
# ## 2. The challenge: new head, frozen backbone, schedule, AMP, best checkpoint
#
# The new head reads the backbone's last feature map (64 channels) average-pooled to a
# 2 × 2 grid and maps those 256 numbers to 5 classes with one `nn.Linear`
# (`transfer.new_head(..., pool=2)`). The backbone's own global average pooling
# (`--head-pool 1`) keeps only *whether* each feature fired, not *where*: with it, a
# linear head on these frozen features stops near 80 % test accuracy (a 6 is a 9
# upside down, and both have a loop and a stroke); with the 2 × 2 grid it passes the
# threshold. The pooling has no parameters: the backbone's weights, and what is
# frozen, are the same either way. `freeze_backbone` sets
# `requires_grad=False` on every backbone parameter, and `fit` keeps the backbone in
# `eval()` mode, because `requires_grad=False` does not stop batch norm from updating
# its running statistics in `train()` mode. The optimizer gets the head's parameters
# only. The schedule is a cosine decay per epoch (`CosineAnnealingLR`).
#
# **Mixed precision.** On a CPU the lab uses `torch.autocast("cpu", dtype=torch.bfloat16)`:
# matrix products and convolutions run in bfloat16, the loss in float32. bfloat16 keeps
# float32's exponent range, so no loss scaling is needed: the `torch.amp.GradScaler` is
# created disabled and its calls pass the loss and the step through. With
# `--precision fp16` on CUDA the scaler is enabled: it multiplies the loss before
# `backward` so small float16 gradients do not underflow to zero, unscales them before
# the step, skips steps whose gradients overflowed, and adapts its factor.

# %%
def lr_schedule_check(history: list[dict], base_lr: float, epochs: int) -> tuple[bool, list[float]]:
    """Whether the head's LR per epoch follows cosine annealing from ``base_lr`` and decreases."""
    import math

    lrs = [h["lrs"][-1] for h in history]
    expected = [base_lr * (1 + math.cos(math.pi * e / epochs)) / 2 for e in range(len(lrs))]
    follows = all(abs(a - b) <= 1e-9 * base_lr for a, b in zip(lrs, expected, strict=True))
    falls = len(lrs) >= 2 and all(b < a for a, b in zip(lrs, lrs[1:], strict=False))
    return follows and falls, lrs


def features_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the backbone's weights and buffers."""
    return {k: v.detach().cpu().clone() for k, v in model.features.state_dict().items()}


def criterion(name: str, passed: bool | None, evidence: str) -> dict:
    """One row of the evaluation table (``passed=None``: not applicable in this run)."""
    return {"criterion": name, "result": "n/a" if passed is None else ("PASS" if passed else "FAIL"),
            "evidence": evidence}


# %% [markdown]
# ## 3. Stretch goals
#
# * **Differential learning rates**: unfreeze the backbone and fine-tune with two
#   parameter groups, the backbone at `--backbone-lr` and the head at a tenth of
#   `--lr` (it is already trained). The pretrained features move a little; a large LR
#   would wreck them.
# * **Augmentation**: small random shifts, rotations and zooms
#   (`v2.RandomAffine`); no flips (a mirrored digit is another symbol).
# * **Early stopping** on the validation loss (`--patience`), with the best checkpoint
#   by validation accuracy kept either way.
# * **Training curves** of both stages in one figure.
# * **ONNX**: `torch.onnx.export(model, ..., dynamo=True)` with a dynamic batch
#   dimension, run in ONNX Runtime and compared with PyTorch (max abs difference).

# %%
def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> dict:
    """Export ``model`` (eval mode, CPU) to ONNX and compare ONNX Runtime with PyTorch on ``example``."""
    import onnxruntime

    model = model.cpu().eval()
    torch.onnx.export(model, (example[:2],), path, dynamo=True, dynamic_shapes=({0: "batch"},),
                      verbose=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: example.numpy()})[0]
    with torch.no_grad():
        want = model(example).numpy()
    diff = float(abs(got - want).max())
    return {"path": str(path), "batch": len(example), "max_abs_diff": diff,
            "same_predictions": bool((got.argmax(1) == want.argmax(1)).all())}


# %% [markdown]
# ## Command line
#
# `--dry-run` runs every part at a tiny size (16-pixel images, one epoch of
# pretraining, two of each stage) and skips the ONNX export (it takes seconds to
# trace). The accuracy criterion is then reported as **n/a**: a two-epoch run is not
# expected to reach the threshold, and the dry run checks that every part runs, not
# the result. `--precision fp16` without CUDA is a usage error.

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(description="Lab 23.1: the transfer-learning challenge, with its "
                                            "evaluation criteria checked.")
    p.add_argument("--backbone", default=None,
                   help="a checkpoint written by backbone.pretrain_backbone to start from; without it "
                        "the lab pretrains one on digits 0-4 (default: %(default)s)")
    p.add_argument("--pretrain-epochs", type=positive_int, default=6,
                   help="epochs of pretraining on digits 0-4 (default: %(default)s)")
    p.add_argument("--epochs", type=positive_int, default=10,
                   help="epochs of the frozen-backbone stage (default: %(default)s)")
    p.add_argument("--finetune-epochs", type=non_negative_int, default=8,
                   help="epochs of the unfrozen stage with differential LRs; 0 skips it "
                        "(default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=32,
                   help="images per step (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=0.02,
                   help="head learning rate at the start of the cosine schedule (default: %(default)s)")
    p.add_argument("--backbone-lr", type=positive_float, default=3e-4,
                   help="backbone learning rate when fine-tuning (default: %(default)s)")
    p.add_argument("--patience", type=positive_int, default=3,
                   help="early stopping: epochs without a lower val loss (default: %(default)s)")
    p.add_argument("--threshold", type=positive_float, default=0.85,
                   help="test accuracy the challenge requires, in (0, 1) (default: %(default)s)")
    p.add_argument("--head-pool", type=positive_int, default=2,
                   help="the new head reads the backbone's last feature map average-pooled to this "
                        "grid; 1: the backbone's own global pooling (default: %(default)s)")
    p.add_argument("--image-size", type=int_at_least(8, "an integer >= 8 (the digits are 8x8)"), default=32,
                   help="side of the upsampled digit images (default: %(default)s)")
    p.add_argument("--precision", choices=tuple(AMP_DTYPES), default="bf16",
                   help="autocast dtype; fp16 needs CUDA (default: %(default)s)")
    p.add_argument("--no-augment", action="store_true",
                   help="fine-tune without augmentation (default: %(default)s)")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export (default: %(default)s)")
    p.add_argument("--torchvision-weights", action="store_true",
                   help="use torchvision's ResNet-18 with ImageNet weights instead of the course "
                        "backbone; DOWNLOADS about 45 MB (default: %(default)s)")
    add_standard_options(p, device="where to train",
                         out_dir="write lab_23_1_results.json, the checkpoints, lab_23_1_curves.png "
                                 "and the ONNX file here",
                         dry_run="tiny sizes and two epochs per stage, no ONNX export")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the lab and return its figures (see the tables it prints)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)
    refuse_fp16_off_cuda(parser, "--precision", args.precision, device, instead="--precision bf16 or fp32")
    if not args.threshold < 1:
        parser.error(f"--threshold: expected an accuracy in (0, 1), got {args.threshold}")
    if args.backbone is not None and not Path(args.backbone).is_file():
        parser.error(f"--backbone: no checkpoint file at {args.backbone}")
    args.widths, args.train_limit = (16, 32, 64), None
    if args.dry_run:  # every part runs, at a size that takes seconds
        args.image_size, args.pretrain_epochs, args.epochs = 16, 1, 2
        args.finetune_epochs, args.no_onnx = min(args.finetune_epochs, 2), True
        args.widths, args.train_limit = (8, 16, 32), 96
    with guard_run("Lab 23.1", args.out_dir):
        return _run(args, device)


def _run(args: argparse.Namespace, device: torch.device) -> dict:
    """The body of :func:`main`, with the options checked."""
    import tempfile

    print(f"device: {device_label(device)} · torch {torch.__version__} · {os.cpu_count()} CPU cores · "
          f"precision {args.precision}")
    tmp = None
    if args.out_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="lab231-")
    out = Path(args.out_dir if args.out_dir is not None else tmp.name)
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _challenge(args, device, out)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _challenge(args: argparse.Namespace, device: torch.device, out: Path) -> dict:
    torch.manual_seed(args.seed)
    rows: list[dict] = []

    # --- 1. the pretrained backbone --------------------------------------------------
    if args.torchvision_weights:
        print("\n1. backbone: torchvision ResNet-18, weights=ResNet18_Weights.IMAGENET1K_V1")
        model = resnet18_backbone(len(TRANSFER_CLASSES), imagenet_weights=True).to(device)
        ckpt_path, pretrain = None, None
        rows.append(criterion("pretrained weights loaded correctly", None,
                              "torchvision checks the download's hash; no course checkpoint to compare"))
    else:
        if args.backbone is not None:
            ckpt_path, pretrain = Path(args.backbone), None
            print(f"\n1. backbone: {ckpt_path}")
        else:
            ckpt_path = out / "backbone_digits_0-4.pt"
            pretrain = pretrain_backbone(ckpt_path, classes=PRETRAIN_CLASSES, epochs=args.pretrain_epochs,
                                         seed=args.seed, device=device, size=args.image_size,
                                         widths=args.widths)
            print(f"\n1. pretrained SmallCNN on digits {PRETRAIN_CLASSES}: val accuracy "
                  f"{pretrain['val_accuracy']:.3f} after {args.pretrain_epochs} epoch(s) -> {ckpt_path}")
        model = load_backbone(ckpt_path, device)
        same, n_tensors = weights_equal_checkpoint(model, ckpt_path)
        rows.append(criterion("pretrained weights loaded correctly", same,
                              f"{n_tensors} tensors equal to the checkpoint's"))
        new_head(model, len(TRANSFER_CLASSES), pool=args.head_pool)

    # --- 2. the challenge: frozen backbone, new head -----------------------------------
    train, val, test = split_digits(TRANSFER_CLASSES, seed=args.seed, size=args.image_size)
    if args.train_limit is not None:  # dry run: a few training images
        train = torch.utils.data.TensorDataset(*(t[:args.train_limit] for t in train.tensors))
    print(f"task: digits {TRANSFER_CLASSES} as labels 0-4; {len(train)} train, {len(val)} val, "
          f"{len(test)} test images")
    g = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, generator=g)
    val_loader = DataLoader(val, batch_size=256)
    names = freeze_backbone(model)
    n_frozen = sum(not p.requires_grad for p in model.parameters())
    head_names = sorted(f"head.{n}" for n, _ in model.head.named_parameters())
    rows.append(criterion("only the classifier has requires_grad=True", names == head_names,
                          f"trainable: {', '.join(names)}; {n_frozen} backbone tensors frozen"))
    before = features_state(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    print(f"\n2. frozen backbone, new head: {args.epochs} epochs, AdamW, cosine LR from {args.lr}")
    frozen_ckpt = out / "lab_23_1_best_frozen.pt"
    stage = fit(model, train_loader, val_loader, optimizer=optimizer, scheduler=scheduler, epochs=args.epochs,
                device=device, precision=args.precision, checkpoint=frozen_ckpt, log=print)
    after = features_state(model)
    unchanged = all(torch.equal(before[k], after[k]) for k in before)
    rows.append(criterion("the backbone stays frozen", unchanged,
                          f"{len(before)} weight and batch-norm tensors unchanged after training"))
    want_dtype = AMP_DTYPES[args.precision]
    amp_ok = want_dtype is not None and stage["logits_dtype"] == want_dtype
    scaler = "enabled" if stage["scaler_enabled"] else "disabled (not fp16 on CUDA)"
    rows.append(criterion("training uses mixed precision", amp_ok,
                          f"logits dtype in training: {str(stage['logits_dtype']).removeprefix('torch.')}; "
                          f"GradScaler {scaler}"))
    lr_ok, lrs = lr_schedule_check(stage["history"], args.lr, args.epochs)
    rows.append(criterion("learning rate decreases per the schedule", lr_ok,
                          "cosine: " + " -> ".join(f"{lr:.2g}" for lr in lrs)))

    # the best checkpoint: reload it into a new model and re-measure
    if ckpt_path is not None:
        reloaded = new_head(load_backbone(ckpt_path, device), len(TRANSFER_CLASSES), pool=args.head_pool)
    else:
        reloaded = resnet18_backbone(len(TRANSFER_CLASSES)).to(device)
    record = load_checkpoint(reloaded, frozen_ckpt)
    reloaded.to(device)
    # measured as fit measured it (same autocast): bf16 logits can flip a borderline prediction
    val_again = evaluate_loss_accuracy(reloaded, val_loader, device, args.precision)[1]
    same_acc = abs(val_again - record["val_accuracy"]) < 1e-6
    rows.append(criterion("the best checkpoint is saved and reloads",
                          same_acc and record["epoch"] == stage["best_epoch"],
                          f"{frozen_ckpt.name}: epoch {record['epoch']}, val accuracy "
                          f"{record['val_accuracy']:.3f} recorded, {val_again:.3f} after reloading"))
    # the test accuracy is measured in float32, as the exported model runs
    test_acc = evaluate(reloaded, test, device)
    met = test_acc > args.threshold
    rows.append(criterion(f"held-out accuracy > {args.threshold:.0%}", None if args.dry_run else met,
                          f"test split: {test_acc:.3f}" + (" (dry run: not expected to reach it)"
                                                           if args.dry_run else "")))

    # --- 3. stretch goals ------------------------------------------------------------
    curves = {"frozen backbone": stage["history"]}
    finetune = None
    if args.finetune_epochs:
        model.load_state_dict(stage["best_state"])
        freeze_backbone(model, frozen=False)
        head_lr = args.lr / 10
        optimizer = torch.optim.AdamW([
            {"params": model.features.parameters(), "lr": args.backbone_lr},
            {"params": model.head.parameters(), "lr": head_lr},
        ])
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.finetune_epochs)
        augment = None if args.no_augment else digits_augmentation(background=-DIGITS_MEAN / DIGITS_STD)
        ft_loader = DataLoader(Augmented(train, augment), batch_size=args.batch_size, shuffle=True,
                               generator=torch.Generator().manual_seed(args.seed + 1))
        print(f"\n3. fine-tuning: backbone lr {args.backbone_lr}, head lr {head_lr:g}, augmentation "
              f"{'off' if augment is None else 'on'}, early stopping after {args.patience} epoch(s)")
        ft_ckpt = out / "lab_23_1_best_finetuned.pt"
        ft = fit(model, ft_loader, val_loader, optimizer=optimizer, scheduler=scheduler,
                 epochs=args.finetune_epochs, device=device, precision=args.precision, checkpoint=ft_ckpt,
                 patience=args.patience, log=print)
        curves["fine-tuned"] = ft["history"]
        model.load_state_dict(ft["best_state"])
        finetune = {"epochs_run": len(ft["history"]), "stopped_early": ft["stopped_early"],
                    "best_epoch": ft["best_epoch"], "best_val_accuracy": ft["best_val_accuracy"],
                    "test_accuracy": evaluate(model, test, device), "lr_groups": [args.backbone_lr, head_lr],
                    "augmentation": augment is not None, "checkpoint": ft_ckpt.name,
                    "history": ft["history"]}
    png = out / "lab_23_1_curves.png" if args.out_dir is not None else None
    fig = plot_curves(curves, png)
    if "ipykernel" not in __import__("sys").modules:
        import matplotlib.pyplot as plt

        plt.close(fig)
    onnx = None
    if not args.no_onnx:
        example = torch.stack([test[i][0] for i in range(min(16, len(test)))])
        onnx = export_onnx(model, example, out / "lab_23_1_model.onnx")

    print("\nevaluation criteria")
    print(format_table(rows))
    stretch = [
        {"stretch goal": "differential learning rates",
         "result": "skipped" if finetune is None else
         f"backbone {args.backbone_lr:g} / head {finetune['lr_groups'][1]:g}: test "
         f"{finetune['test_accuracy']:.3f} (frozen: {test_acc:.3f})"},
        {"stretch goal": "augmentation",
         "result": "skipped" if finetune is None else
         ("RandomAffine" if finetune["augmentation"] else "off")},
        {"stretch goal": "early stopping on val loss",
         "result": "skipped" if finetune is None else
         (f"stopped after epoch {finetune['stopped_early']}" if finetune["stopped_early"]
          else f"not triggered in {finetune['epochs_run']} epochs")},
        {"stretch goal": "training curves",
         "result": str(png) if png is not None else "not saved (no --out-dir)"},
        {"stretch goal": "ONNX export + ORT parity",
         "result": "skipped" + (" (dry run)" if args.dry_run else "") if onnx is None else
         f"max abs diff {onnx['max_abs_diff']:.1e}, same predictions: {onnx['same_predictions']}"},
    ]
    print(format_table(stretch))
    checked = [r for r in rows if r["result"] != "n/a"]
    n_pass = sum(r["result"] == "PASS" for r in checked)
    # a dry run checks that every part works; only a full run can pass the challenge
    passed = None if args.dry_run else (n_pass == len(checked) and rows[-1]["result"] == "PASS")
    verdict = {None: "not judged (dry run)", True: "PASSED", False: "NOT PASSED"}[passed]
    print(f"\nchallenge: {n_pass}/{len(checked)} criteria checked passed; test accuracy {test_acc:.3f}; "
          f"challenge {verdict}")
    results = {
        "device": device_label(device),
        "torch": torch.__version__,
        "dry_run": args.dry_run,
        "precision": args.precision,
        "options": {k: getattr(args, k) for k in ("pretrain_epochs", "epochs", "finetune_epochs",
                                                  "batch_size", "lr", "backbone_lr", "threshold",
                                                  "image_size", "seed")},
        "pretrain": None if pretrain is None else {"val_accuracy": pretrain["val_accuracy"],
                                                   "classes": pretrain["classes"]},
        "criteria": rows,
        "passed": passed,
        "test_accuracy": test_acc,
        "frozen": {"best_epoch": stage["best_epoch"], "best_val_accuracy": stage["best_val_accuracy"],
                   "lrs": lrs, "trainable": names, "history": stage["history"]},
        "finetune": finetune,
        "onnx": onnx,
    }
    path = write_results(args.out_dir, "lab_23_1_results", results)
    if path is not None:
        print(f"\nresults written to {path}, {png} and the checkpoints in {out}")
    return results


# %%
if __name__ == "__main__":
    main(script_argv())

# %% [markdown]
# ## What to look for, and what to try
#
# * The frozen stage trains 1,285 numbers (256 × 5 + 5). That it reaches the threshold
#   at all says the features learned on digits 0–4 separate 5–9 too; in the recorded
#   run fine-tuning added nothing on the test split (0.972 both times): with 538
#   training images the frozen features are already good enough.
# * Break a criterion on purpose: load the checkpoint with a misspelled key and
#   `strict=False` (the weights criterion fails), forget `model.features.eval()` in
#   `fit` (the backbone's batch-norm statistics move: "stays frozen" fails although no
#   weight has a gradient), or run `--precision fp32` (the AMP criterion fails).
# * `--backbone-lr 0.02` (the head's LR for the backbone too): the fine-tuned
#   accuracy drops or swings — the pretrained features are overwritten.
# * Online: `--torchvision-weights` runs the same challenge on ImageNet ResNet-18
#   features (grey digits repeated to three channels).

# %% [markdown]
# ## A recorded run
#
# `python -m tutorials.lec23_computer_vision.lab_23_transfer_challenge --device cpu --out-dir ...`
# with the defaults, on a 2-core x86-64 CPU shared with other jobs, torch 2.14.1
# (2026-12-02; 6 min wall clock on the busy machine, 112 s of CPU time):
#
# * pretraining on digits 0–4: validation accuracy 0.994 after 6 epochs;
# * frozen backbone, 2 × 2-pooled linear head, bf16 autocast: best validation accuracy
#   0.961 at epoch 8; **test accuracy 0.972** (179 held-out images of digits 5–9);
#   all seven criteria PASS;
# * fine-tuning (backbone LR 3e-4, head 2e-3, augmentation): test accuracy 0.972, early
#   stopping not triggered in 8 epochs;
# * ONNX export (dynamo) run in ONNX Runtime: max abs difference 6.7e-06 from PyTorch,
#   same predictions.
#
# With the backbone's global pooling instead (`--head-pool 1`) the frozen stage stopped at
# test accuracy 0.804 in an earlier run of the same settings: the challenge then fails
# its accuracy criterion, and the table says so.
