# %% [markdown]
# # Lab 17: an attribution report for a trained model
#
# A report that you could attach to any image classifier before trusting its maps,
# on the digits CNN of Lecture 17:
#
# 1. **Per-class maps**: the mean integrated-gradients map of each class: what the
#    model looks at for a "3", on average.
# 2. **The shortcut test**: a second model is trained on digits with a watermark that
#    encodes the label; the share of attribution on the watermark pixels flags it,
#    and the accuracy on clean digits confirms it.
# 3. **Sanity checks** (Adebayo et al., *Sanity checks for saliency maps*, NeurIPS
#    2018): the layers are re-initialized one after another, from the output down
#    ("cascading randomization"), and each method's maps are compared with the
#    trained model's by Spearman rank correlation. A method that explains the model
#    must change when the model is destroyed; one whose maps stay put is mostly
#    showing the input (an edge detector would pass for it).
#
# Results go to `lab_17_results.json`, figures to PNG files.
#
# ```
# python lab_17_attribution_report.py --help
# python lab_17_attribution_report.py --device auto --out-dir results/
# ```

# %%
from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch

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
from tutorials.core.datasets import digits_images
from tutorials.core.reporting import format_table
from tutorials.core.runtime import device_label
from tutorials.lec17_interpretability.diagnostics import attribution_share, cascading_randomization
from tutorials.lec17_interpretability.drawing import attribution_grid, curves
from tutorials.lec17_interpretability.models import (
    DigitCNN,
    accuracy,
    add_watermark,
    train_classifier,
    watermark_mask,
)

# Captum warns each time it sets requires_grad on an input or hooks the ReLUs: expected here.
warnings.filterwarnings("ignore", message="Input Tensor .* did not already require gradients")
warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU activations")

#: Layers re-initialized by the sanity check, output layer first (batch norm is kept).
CASCADE = ("fc2", "fc1", "conv2", "conv1")
METHODS = ("saliency", "guided backprop", "integrated gradients", "grad-cam")

# %% [markdown]
# ## 1. Train, then the mean map of each class
#
# Integrated gradients from a blank (background-coloured) image, each digit against
# its own class. Averaging over a class smooths out the individual strokes and shows
# the regions the model uses for the class as a whole.

# %%
def explain(model: torch.nn.Module, method: str, x: torch.Tensor, target: torch.Tensor,
            ig_steps: int) -> torch.Tensor:
    """Attributions ``(N, 16, 16)`` of one method, for the logits ``target`` of images ``x``."""
    from captum.attr import GuidedBackprop, IntegratedGradients, LayerAttribution, LayerGradCam, Saliency

    if method == "saliency":
        a = Saliency(model).attribute(x, target=target)
    elif method == "guided backprop":
        a = GuidedBackprop(model).attribute(x, target=target)
    elif method == "integrated gradients":
        blank = torch.full_like(x, float(x.min()))
        a = IntegratedGradients(model).attribute(x, baselines=blank, target=target, n_steps=ig_steps,
                                                 internal_batch_size=512)
    elif method == "grad-cam":
        cam = LayerGradCam(model, model.relu2).attribute(x, target=target, relu_attributions=True)
        a = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")
    else:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    return a.detach()[:, 0].cpu()


def class_maps(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, per_class: int,
               ig_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean input and mean integrated-gradients map ``(10, 16, 16)`` over ``per_class`` images per class."""
    means, maps = [], []
    for c in range(10):
        xc = x[y == c][:per_class]
        means.append(xc[:, 0].mean(0).cpu())
        maps.append(explain(model, "integrated gradients", xc, torch.full((len(xc),), c, device=x.device),
                            ig_steps).mean(0))
    return torch.stack(means), torch.stack(maps)


# %% [markdown]
# ## 2. The shortcut test
#
# The same architecture trained on watermarked digits (Lecture 17, section 7), and
# both models explained on watermarked test digits. The test flags a model when the
# share of |IG| on the 4 watermark pixels (1.6 % of the image) is more than
# `--shortcut-factor` times that area share.

# %%
def shortcut_test(clean: torch.nn.Module, data: tuple, args: argparse.Namespace,
                  device: torch.device) -> tuple[dict, dict]:
    """Train the watermarked model; return the test's figures and the maps to draw."""
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(args.seed)
    marked_model = train_classifier(DigitCNN().to(device), add_watermark(x_train, y_train), y_train,
                                    epochs=args.epochs, lr=args.lr, seed=args.seed)
    n = 10 * args.images_per_class
    probe_x, probe_y = add_watermark(x_test[:n], y_test[:n]), y_test[:n]
    wrong = (y_test + 1) % 10
    area = 4 / 256
    result, maps = {"area_share": area}, {}
    for name, m in (("clean", clean), ("watermarked", marked_model)):
        attr = explain(m, "integrated gradients", probe_x, probe_y, args.ig_steps)
        share = sum(attribution_share(a, watermark_mask(c)) for a, c in zip(attr, probe_y.tolist(),
                                                                           strict=True)) / len(probe_y)
        result[name] = {"watermark_share": share, "flagged": share > args.shortcut_factor * area,
                        "clean_test_accuracy": accuracy(m, x_test, y_test),
                        "follows_wrong_watermark": accuracy(m, add_watermark(x_test, wrong), wrong)}
        maps[f"{name} model"] = attr[:4]
    return result, {"images": probe_x[:4, 0].cpu(), "labels": probe_y[:4].tolist(), "maps": maps}


# %% [markdown]
# ## 3. Sanity checks: cascading randomization
#
# For each method, the maps of the trained model on the same images are compared
# with those after re-initializing `fc2`, then `fc2` and `fc1`, and so on down to
# `conv1`. What the paper found, and this run shows at small scale: saliency and
# Grad-CAM decorrelate as soon as the top layers go, as they should. Guided
# backpropagation changes more slowly: its rule (only positive gradients through every
# ReLU) reconstructs edges of the input whatever the upper layers compute. The
# absolute integrated-gradients map barely changes at all: it is the path-averaged
# gradient *times (x - baseline)*, and that factor, the input itself, dominates its
# ranking. A high correlation does not mean a method is wrong, but that its picture
# is largely the input's, which the maps of a random network show just as well.

# %%
def sanity_checks(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                  ig_steps: int, seed: int) -> dict[str, list[float]]:
    """Mean rank correlation with the trained model's maps after each step of the cascade, per method."""
    return {method: cascading_randomization(model, CASCADE,
                                            lambda m, method=method: explain(m, method, x, y, ig_steps),
                                            seed=seed)
            for method in METHODS}


# %% [markdown]
# ## Command line
#
# `--dry-run` trains for one epoch and explains 3 images per class with 16 IG steps:
# the numbers are rough, every code path runs.

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(description="Lab 17: per-class attribution maps, a shortcut test and "
                                            "the cascading-randomization sanity check.")
    p.add_argument("--epochs", type=positive_int, default=6,
                   help="training epochs of each model (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=3e-3,
                   help="Adam learning rate (default: %(default)s)")
    p.add_argument("--images-per-class", type=positive_int, default=20,
                   help="test images of each class explained (default: %(default)s)")
    p.add_argument("--ig-steps", type=positive_int, default=64,
                   help="integration steps of integrated gradients (default: %(default)s)")
    p.add_argument("--threads", type=non_negative_int, default=1,
                   help="CPU threads for torch; the models are tiny, and more threads mostly add "
                        "synchronization; 0: torch's default (default: %(default)s)")
    p.add_argument("--shortcut-factor", type=positive_float, default=5.0,
                   help="flag a model whose |IG| share on the watermark exceeds this multiple of the "
                        "watermark's area share (default: %(default)s)")
    add_standard_options(p, device="where to train and explain",
                         out_dir="write lab_17_results.json and the report's PNG figures here",
                         dry_run="one epoch, 3 images per class, 16 IG steps, for a quick check")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the lab and return its figures (see the tables it prints)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)
    if args.dry_run:
        args.epochs, args.images_per_class, args.ig_steps = 1, 3, 16
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        with guard_run("Lab 17", args.out_dir):
            return _run(args, device)
    finally:
        torch.set_num_threads(threads)  # a caller's thread count is left as it was


def _run(args: argparse.Namespace, device: torch.device) -> dict:
    """The body of :func:`main`, with the options checked."""
    start = time.perf_counter()
    print(f"device: {device_label(device)} · torch {torch.__version__}")
    train_set, test_set = digits_images(size=16, channels=1, seed=args.seed)
    x_train, y_train = (t.to(device) for t in train_set.tensors)
    x_test, y_test = (t.to(device) for t in test_set.tensors)
    torch.manual_seed(args.seed)
    model = train_classifier(DigitCNN().to(device), x_train, y_train, epochs=args.epochs, lr=args.lr,
                             seed=args.seed)
    test_acc = accuracy(model, x_test, y_test)
    print(f"1. DigitCNN trained for {args.epochs} epochs: test accuracy {test_acc:.3f}")
    means, maps = class_maps(model, x_test, y_test, args.images_per_class, args.ig_steps)
    out = Path(args.out_dir) if args.out_dir is not None else None
    figures = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        attribution_grid(means, {"mean IG": maps}, [f"class {c}" for c in range(10)],
                         out / "lab_17_class_maps.png", title="mean integrated gradients per class")
        figures.append("lab_17_class_maps.png")

    shortcut, drawn = shortcut_test(model, (x_train, y_train, x_test, y_test), args, device)
    print("\n2. shortcut test (|IG| share on the 4 watermark pixels, area share "
          f"{shortcut['area_share']:.3f})")
    print(format_table([{"model": k, **v} for k, v in shortcut.items() if k != "area_share"], floatfmt=".3f"))
    if out is not None:
        attribution_grid(drawn["images"], drawn["maps"], [f"label {t}" for t in drawn["labels"]],
                         out / "lab_17_shortcut.png", title="IG on watermarked test digits")
        figures.append("lab_17_shortcut.png")

    # one image per class: the sanity check compares maps image by image
    idx = torch.stack([(y_test == c).nonzero()[0, 0] for c in range(10)])
    sanity = sanity_checks(model, x_test[idx], y_test[idx], args.ig_steps, args.seed)
    print("\n3. sanity check: mean Spearman correlation with the trained model's maps, "
          "layers re-initialized from the output down")
    print(format_table([{"method": m, **{f"-{layer}": c for layer, c in zip(CASCADE, cs, strict=True)}}
                        for m, cs in sanity.items()], floatfmt=".2f"))
    if out is not None:
        curves(["trained", *[f"-{layer}" for layer in CASCADE]],
               {m: [1.0, *cs] for m, cs in sanity.items()}, "rank correlation with trained maps",
               "cascading randomization (Adebayo et al. 2018)", out / "lab_17_sanity.png", ylim=(-0.2, 1.05))
        figures.append("lab_17_sanity.png")

    results = {
        "device": device_label(device),
        "torch": torch.__version__,
        "dry_run": args.dry_run,
        "options": {"epochs": args.epochs, "lr": args.lr, "images_per_class": args.images_per_class,
                    "ig_steps": args.ig_steps, "shortcut_factor": args.shortcut_factor, "seed": args.seed},
        "test_accuracy": test_acc,
        "class_map_peaks": [int(m.abs().argmax()) for m in maps],
        "shortcut": shortcut,
        "sanity": {"layers": list(CASCADE), "correlations": sanity},
        "figures": figures,
        "seconds": time.perf_counter() - start,
    }
    path = write_results(args.out_dir, "lab_17_results", results)
    if path is not None:
        print(f"\nresults written to {path}; figures {', '.join(figures)}")
    return results


# %%
if __name__ == "__main__":
    main(script_argv())

# %% [markdown]
# ## What to look for, and what to try
#
# * The class maps are red on the strokes that make a class (the loop of a 6, the bar
#   of a 7) and blue where ink would point to another class (the gap of a 4's top).
# * The shortcut test flags the watermarked model only; the clean model's share stays
#   near the area share. Try `--shortcut-factor 2` and see whether the clean model
#   is ever flagged.
# * In the sanity table, saliency and Grad-CAM fall towards 0 as layers are
#   re-initialized; guided backpropagation stays higher until the first convolution
#   goes; |integrated gradients| stays high throughout, because of its input factor.
#   Compare the signed IG maps (drop the `.abs()` in `cascading_randomization`): the
#   sign, which says *for or against* the class, is what the weights decide.
# * Try the data-randomization test of the same paper: train on shuffled labels
#   (`y_train[torch.randperm(len(y_train))]`) and compare the maps with the real
#   model's.
