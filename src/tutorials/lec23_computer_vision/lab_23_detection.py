# %% [markdown]
# # Lab 23.3: detection on synthetic boxes
#
# You will train one of torchvision's detectors, Faster R-CNN with a MobileNetV3
# backbone (`fasterrcnn_mobilenet_v3_large_320_fpn`), **from random weights**
# (`weights=None, weights_backbone=None`: nothing is downloaded) on images the code
# draws itself, and score it the way PASCAL VOC does:
#
# 1. **Data**: rectangles, ellipses and triangles on a noisy background
#    (`tutorials.lec23_computer_vision.detection_data`), boxes as
#    `tv_tensors.BoundingBoxes` that the v2 transforms flip together with the pixels.
# 2. **Model**: the detector built for 3 classes + background at a small image size,
#    with fewer region proposals and sampled RoIs than its defaults (a CPU budget).
# 3. **Training**: SGD with momentum, a linear warm-up then cosine decay, gradient
#    clipping (random weights make the first steps' losses large); the four losses
#    the model returns (RPN objectness and box regression, RoI classification and box
#    regression) are logged.
# 4. **Evaluation**: VOC average precision at IoU 0.5 per class, written by hand
#    (`mean_average_precision`, tested on exact small cases), and the detections drawn
#    on validation images with `torchvision.utils.draw_bounding_boxes`.
#
# Run it from a terminal (with the course package installed):
#
# ```
# python lab_23_detection.py --help
# python lab_23_detection.py --device auto --out-dir results/
# ```
#
# **What to expect.** A detector trained from scratch needs far more steps than one
# whose backbone was pretrained on ImageNet. The default run is sized for a 2-core CPU
# (96 steps): its losses fall (the region proposals learn first), but its mAP@0.5 stays
# near zero — the run recorded at the end of this lab reached 0.03. That is an honest
# picture of a brief CPU run, not of the model; on a GPU, raise `--epochs`,
# `--train-images` and `--image-size` and watch the mAP climb.

# %%
from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from tutorials.core.cli import (
    add_standard_options,
    guard_run,
    int_at_least,
    parse_args_and_device,
    positive_float,
    positive_int,
    script_argv,
    write_results,
)
from tutorials.core.reporting import format_table
from tutorials.core.runtime import device_label
from tutorials.lec23_computer_vision.detection_data import (
    CLASSES,
    ShapesDataset,
    collate,
    draw_detections,
    eval_transforms,
    mean_average_precision,
    train_transforms,
)

# %% [markdown]
# ## 1. The detector, from random weights
#
# `fasterrcnn_mobilenet_v3_large_320_fpn` resizes every image so that its shorter side
# is `min_size` (320 by default); we build it at the data's own size. Its defaults
# sample 512 RoIs per image for the second stage and keep 2,000 proposals in
# training, and its box head flattens each 256 × 7 × 7 RoI into a 1,024-wide linear
# layer: on a CPU that second stage dominates the step (`roi_align` backward and
# that 12,544 × 1,024 matrix product per RoI), so we keep fewer proposals and RoIs
# and put a 256-wide head in its place. With `weights_backbone=None` every backbone
# layer is trained.

# %%
def build_detector(num_classes: int, size: int, representation: int = 256) -> torch.nn.Module:
    """Faster R-CNN (MobileNetV3-Large FPN) with random weights for ``num_classes`` + background.

    The second stage's box head is narrowed from 1,024 to ``representation`` features
    (the fine-tuning recipe's "replace the predictor", applied to the head as well).
    """
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead

    model = fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=num_classes + 1,
        min_size=size, max_size=size,                   # no up-scaling to 320
        rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=150,
        rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=100,
        rpn_batch_size_per_image=128, box_batch_size_per_image=64,
    )
    channels, (pool, _) = model.backbone.out_channels, model.roi_heads.box_roi_pool.output_size
    model.roi_heads.box_head = TwoMLPHead(channels * pool * pool, representation)
    model.roi_heads.box_predictor = FastRCNNPredictor(representation, num_classes + 1)
    return model


# %% [markdown]
# ## 2. Training
#
# A torchvision detector in `train()` mode takes a list of images and a list of
# target dicts and returns a dict of losses; in `eval()` mode it takes images only
# and returns one dict of `boxes`, `labels` and `scores` per image.

# %%
def lr_at(step: int, total: int, warmup: int) -> float:
    """The learning-rate factor: linear warm-up over ``warmup`` steps, then cosine to zero."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train(model, loader, device, epochs: int, lr: float, log, optimizer: str = "sgd") -> dict:
    """Train ``model`` for ``epochs``; return the per-step losses and the seconds taken."""
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
    else:
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    total = epochs * len(loader)
    warmup = min(50, max(1, total // 5))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(s, total, warmup))
    history: list[dict] = []
    model.train()
    start = time.perf_counter()
    for epoch in range(epochs):
        for images, targets in loader:
            images = [im.to(device) for im in images]
            targets = [{k: v.to(device) for k, v in t.items() if k in ("boxes", "labels")} for t in targets]
            losses = model(images, targets)
            loss = sum(losses.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            opt.step()
            sched.step()
            history.append({"total": loss.item(), **{k: v.item() for k, v in losses.items()}})
        log(f"   epoch {epoch + 1}/{epochs}: loss {history[-1]['total']:.3f} "
            f"({time.perf_counter() - start:.0f} s)")
    return {"history": history, "seconds": time.perf_counter() - start, "steps": len(history)}


@torch.no_grad()
def predict(model, dataset, device, batch_size: int) -> tuple[list[dict], list[dict], list[torch.Tensor]]:
    """Predictions, targets and images of ``dataset``, on the CPU."""
    model.eval()
    preds, targets, images = [], [], []
    for ims, tgs in DataLoader(dataset, batch_size=batch_size, collate_fn=collate):
        out = model([im.to(device) for im in ims])
        preds += [{k: v.cpu() for k, v in o.items()} for o in out]
        targets += tgs
        images += ims
    return preds, targets, images


# %% [markdown]
# ## 3. Pictures: detections and losses
#
# True boxes are white; the three best detections of each image with a score of at
# least `--score-threshold` are drawn in a colour per class (red rectangle, green
# ellipse, blue triangle) with their score.

# %%
def plot(images, preds, targets, history, threshold: float, det_path: Path | None,
         loss_path: Path | None):
    """Save a grid of detections and the loss curves; return the two figures."""
    import matplotlib

    if "ipykernel" not in __import__("sys").modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(8, len(images))
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[:n]):
        top = {k: v[:3] for k, v in preds[i].items()}  # torchvision sorts detections by score
        ax.imshow(draw_detections(images[i], top, targets[i], threshold).permute(1, 2, 0).numpy())
    fig.suptitle(f"validation images: truth in white; the 3 best detections with score >= {threshold}",
                 fontsize=9)
    fig.tight_layout()
    fig2, ax = plt.subplots(figsize=(6.5, 3.2))
    for key in history[0]:
        values = [h[key] for h in history]
        w = max(1, len(values) // 20)
        smooth = [sum(values[max(0, i - w + 1): i + 1]) / len(values[max(0, i - w + 1): i + 1])
                  for i in range(len(values))]
        ax.plot(smooth, label=key.removeprefix("loss_"), linewidth=2 if key == "total" else 1)
    ax.set(xlabel="training step", ylabel="loss (running mean)", yscale="log",
           title="Faster R-CNN from random weights")
    ax.legend(fontsize=8)
    fig2.tight_layout()
    if det_path is not None:
        fig.savefig(det_path, dpi=110)
        fig2.savefig(loss_path, dpi=110)
    return fig, fig2


# %% [markdown]
# ## Command line
#
# `--dry-run` trains two steps on a handful of 64-pixel images and evaluates four:
# every part runs, and its mAP means nothing. Bad option values stop with a usage line
# and a message naming the option (exit status 2).

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(description="Lab 23.3: Faster R-CNN from random weights on synthetic "
                                            "shapes, scored with VOC mAP@0.5.")
    p.add_argument("--train-images", type=positive_int, default=192,
                   help="synthetic training images (default: %(default)s)")
    p.add_argument("--val-images", type=positive_int, default=64,
                   help="synthetic validation images, scored for mAP (default: %(default)s)")
    p.add_argument("--image-size", type=int_at_least(64), default=96,
                   help="side of the square images in pixels (default: %(default)s)")
    p.add_argument("--epochs", type=positive_int, default=4,
                   help="passes over the training images (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=8,
                   help="images per training step (default: %(default)s)")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd",
                   help="SGD with momentum 0.9 (torchvision's detection recipe) or AdamW "
                        "(default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="peak learning rate (default: 0.02 for sgd, 1e-3 for adamw)")
    p.add_argument("--score-threshold", type=positive_float, default=0.3,
                   help="least score of a drawn detection, at most 1 (default: %(default)s)")
    add_standard_options(p, device="where the detector trains",
                         out_dir="write lab_23_3_results.json, lab_23_3_detections.png and "
                                 "lab_23_3_losses.png here",
                         dry_run="two steps on tiny images, for a quick check")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the lab and return its figures (see the tables it prints)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)
    if args.lr is None:
        args.lr = 0.02 if args.optimizer == "sgd" else 1e-3
    if args.score_threshold > 1:
        parser.error(f"--score-threshold: expected a score in (0, 1], got {args.score_threshold}")
    if args.dry_run:
        args.train_images, args.val_images, args.image_size = 8, 4, 64
        args.epochs, args.batch_size = 1, 4
    with guard_run("Lab 23.3", args.out_dir):
        return _run(args, device)


def _run(args: argparse.Namespace, device: torch.device) -> dict:
    """The body of :func:`main`, with the options checked."""
    torch.manual_seed(args.seed)
    print(f"device: {device_label(device)} · torch {torch.__version__} · {os.cpu_count()} CPU cores")
    train_set = ShapesDataset(args.train_images, args.image_size, seed=2 * args.seed,
                              transforms=train_transforms())
    val_set = ShapesDataset(args.val_images, args.image_size, seed=2 * args.seed + 1,
                            transforms=eval_transforms())
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, collate_fn=collate,
                        generator=torch.Generator().manual_seed(args.seed),
                        pin_memory=device.type == "cuda")
    model = build_detector(len(CLASSES) - 1, args.image_size).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{len(train_set)} training and {len(val_set)} validation images of {args.image_size} px; "
          f"Faster R-CNN MobileNetV3-FPN from random weights, {n_params / 1e6:.1f} M parameters")

    print("\n1. training")
    run = train(model, loader, device, args.epochs, args.lr, log=print, optimizer=args.optimizer)
    hist = run["history"]
    k = min(10, len(hist))
    first = {key: sum(h[key] for h in hist[:k]) / k for key in hist[0]}
    last = {key: sum(h[key] for h in hist[-k:]) / k for key in hist[0]}
    print(format_table([{"losses": f"first {k} steps", **first}, {"losses": f"last {k} steps", **last}],
                       floatfmt=".3f"))

    print("\n2. evaluation: VOC AP at IoU 0.5")
    preds, targets, images = predict(model, val_set, device, args.batch_size)
    scores = mean_average_precision(preds, targets, num_classes=len(CLASSES) - 1, iou_threshold=0.5)
    rows = [{"class": CLASSES[c], "boxes": scores["n_ground_truth"][c],
             "detections": sum(int((p["labels"] == c).sum()) for p in preds),
             "AP@0.5": scores["ap"][c]} for c in scores["ap"]]
    print(format_table(rows, floatfmt=".3f"))
    map50 = scores["map"]
    print(f"mAP@0.5 = {map50:.3f}" if map50 is not None else "mAP@0.5: no ground-truth boxes")
    if args.dry_run:
        print("(dry run: two training steps; the mAP of a detector this untrained means nothing)")

    det_png = loss_png = None
    if args.out_dir is not None:
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        det_png = Path(args.out_dir) / "lab_23_3_detections.png"
        loss_png = Path(args.out_dir) / "lab_23_3_losses.png"
    figs = plot(images, preds, targets, hist, args.score_threshold, det_png, loss_png)
    if "ipykernel" not in __import__("sys").modules:
        import matplotlib.pyplot as plt

        for fig in figs:
            plt.close(fig)
    results = {
        "device": device_label(device),
        "torch": torch.__version__,
        "dry_run": args.dry_run,
        "options": {k: getattr(args, k) for k in ("train_images", "val_images", "image_size", "epochs",
                                                  "batch_size", "optimizer", "lr", "seed")},
        "parameters": n_params,
        "steps": run["steps"],
        "train_seconds": run["seconds"],
        "loss_first": first,
        "loss_last": last,
        "losses": [h["total"] for h in hist],
        "map50": map50,
        "ap50": {CLASSES[c]: ap for c, ap in scores["ap"].items()},
        "n_ground_truth": {CLASSES[c]: n for c, n in scores["n_ground_truth"].items()},
        "detections": {r["class"]: r["detections"] for r in rows},
    }
    path = write_results(args.out_dir, "lab_23_3_results", results)
    if path is not None:
        print(f"\nresults written to {path}, {det_png} and {loss_png}")
    return results


# %%
if __name__ == "__main__":
    main(script_argv())

# %% [markdown]
# ## What to look for, and what to try
#
# * The loss curves (`lab_23_3_losses.png`): the RoI classifier's loss drops early —
#   three quarters of the sampled RoIs are background, and saying "background" is
#   learned quickly; the RPN's objectness loss keeps falling as the proposals start to
#   land on shapes (in the recorded run it fell sevenfold, the classifier's fourfold);
#   the two box-regression losses improve least.
# * AP per class: with a detector this young the differences between classes are
#   noise; after longer training the triangles, whose boxes hold the most
#   background, are usually the hardest.
# * Try `--epochs 10 --train-images 1024` on a GPU, and compare with the same model
#   built with `weights_backbone=MobileNet_V3_Large_Weights.IMAGENET1K_V1` if you can
#   download it: a pretrained backbone reaches a given mAP in far fewer steps.
# * `detection_data.train_transforms` only flips and jitters colours; add
#   `v2.RandomIoUCrop()` or `v2.RandomZoomOut()` and keep `v2.SanitizeBoundingBoxes()`
#   at the end: the crop can cut a box down to nothing, and sanitizing drops it with
#   its label.

# %% [markdown]
# ## A recorded run
#
# `python -m tutorials.lec23_computer_vision.lab_23_detection --device cpu --out-dir ...`
# with the defaults above (192 training and 64 validation images of 96 px, 4 epochs of
# 24 steps, SGD), `OMP_NUM_THREADS=1`, on a 2-core x86-64 CPU shared with other jobs,
# torch 2.14.1 (2026-12-02; 4.5 min wall clock on the busy machine, 96 s of CPU time):
#
# | losses (mean of 10 steps) | total | classifier | box_reg | objectness | rpn_box_reg |
# |---|---|---|---|---|---|
# | first | 2.049 | 1.138 | 0.193 | 0.689 | 0.030 |
# | last | 0.562 | 0.290 | 0.152 | 0.098 | 0.022 |
#
# AP@0.5: rectangle 0.011, ellipse 0.073, triangle 0.010 — **mAP@0.5 = 0.031**, with
# no detection scoring above 0.5. The objectness loss fell sevenfold (the RPN has
# learned where shapes are), but 96 steps from random weights do not give boxes
# within IoU 0.5 of the truth with the right class. The same run with
# `--optimizer adamw` reached 0.007.
