# %% [markdown]
# # Lab 15: a digits CNN on ExecuTorch — size, latency and accuracy of four builds
#
# You will take a small CNN trained on scikit-learn's real 8×8 handwritten digits
# (nothing is downloaded) and deploy it four ways, measuring each:
#
# 1. **eager fp32**: the `nn.Module` itself, the reference;
# 2. **.pte portable**: `torch.export` → `to_edge_transform_and_lower` with no
#    partitioner → `to_executorch()`: every operator runs on ExecuTorch's portable
#    C++ kernels (plain loops, written to compile anywhere);
# 3. **.pte XNNPACK fp32**: the same with `XnnpackPartitioner()`: the whole graph is
#    delegated to XNNPACK's optimized CPU kernels;
# 4. **.pte XNNPACK int8**: quantized first with torchao's PT2E flow
#    (`prepare_pt2e` → calibration → `convert_pt2e`, `XNNPACKQuantizer`), then lowered
#    like 3.
#
# Each `.pte` is loaded with `executorch.runtime.Runtime` and run on all 359
# validation images (batch 1, the shape it was exported with). The lab prints a table
# of file size, median latency per call and validation accuracy, and draws it.
#
# ```
# python lab_15_edge_vision.py --help
# python lab_15_edge_vision.py --out-dir results/
# ```
#
# Lecture 15 explains each step; `tutorials.lec15_executorch.edge` holds the
# helpers this lab calls (`build_pte`, `PteModel`, `median_call_us`, `plot_variants`).
#
# Eager's "size" is the `state_dict` saved with `torch.save`: the weights plus
# pickle's bookkeeping. A `.pte` holds the weights, the program (instructions,
# operators, memory plan) and, for XNNPACK, the delegate's serialized graph. On a
# phone you would also ship the runtime (a few hundred KB with the portable
# kernels; see the page's "Mobile builds" section) — it is not in these numbers.

# %%
from __future__ import annotations

import argparse
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from tutorials.core.cli import (
    add_standard_options,
    guard_run,
    parse_args_and_device,
    positive_float,
    positive_int,
    script_argv,
    write_results,
)
from tutorials.core.reporting import format_table
from tutorials.lec15_executorch.edge import (
    VARIANTS,
    DigitsCNN,
    PteModel,
    build_pte,
    digits_images8,
    import_executorch,
    median_call_us,
    plot_variants,
    train_cnn,
)

RESULTS = "lab_15_edge_results"
LABELS = {"portable": ".pte portable", "xnnpack": ".pte XNNPACK fp32", "xnnpack-int8": ".pte XNNPACK int8"}
FIGURE = "lab_15_edge_vision.png"

# %% [markdown]
# ## 1. Train, then measure eager PyTorch
#
# The model has two 3×3 convolutions and two linear layers (13,706 parameters). A
# few epochs of Adam reach about 97 % validation accuracy; the dry run trains two
# epochs only (its accuracy can be lower, which the table shows as it is).

# %%
def eager_row(model: torch.nn.Module, x_val: torch.Tensor, y_val: torch.Tensor, iters: int) -> dict:
    """Size of the saved state_dict, median latency at batch 1 and accuracy of the eager model."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    with torch.inference_mode():
        acc = (model(x_val).argmax(1) == y_val).float().mean().item()
        us = median_call_us(lambda: model(x_val[:1]), iters)
    return {"variant": "eager fp32", "size KB": len(buffer.getvalue()) / 1024, "latency us": us,
            "accuracy": acc, "max |diff|": 0.0, "build s": 0.0}


# %% [markdown]
# ## 2–4. Build, load and measure each `.pte`
#
# `build_pte` runs export → edge → lowering → `to_executorch()` and times it. Each
# program is written to `--out-dir`, loaded back from the file (as an app would)
# and run image by image; `max |diff|` compares its logits with eager's. The int8
# program is calibrated on `--calibration` training images.

# %%
def pte_row(variant: str, model: torch.nn.Module, data: tuple[torch.Tensor, ...], out: Path,
            iters: int, calibration: int) -> dict:
    """Build one variant, save it, run it on the validation set and time it."""
    x_train, _, x_val, y_val = data
    built = build_pte(model, x_val[:1], variant, calibration=x_train[:calibration])
    path = built.save(out / f"digits_{variant}.pte")
    pte = PteModel(path)
    logits = pte.predict(x_val)
    with torch.inference_mode():
        diff = (logits - model(x_val)).abs().max().item()
    x1 = x_val[:1].contiguous()
    return {"variant": LABELS[variant], "size KB": path.stat().st_size / 1024,
            "latency us": median_call_us(lambda: pte(x1), iters),
            "accuracy": (logits.argmax(1) == y_val).float().mean().item(), "max |diff|": diff,
            "build s": built.seconds}


# %% [markdown]
# ## Command line

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(
        description="Lab 15: a digits CNN as eager, portable, XNNPACK fp32 and XNNPACK int8 ExecuTorch "
                    "programs: size, latency and accuracy.")
    p.add_argument("--epochs", type=positive_int, default=4,
                   help="training epochs; the dry run trains 2 (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=1e-2,
                   help="Adam's learning rate (default: %(default)s)")
    p.add_argument("--calibration", type=positive_int, default=256,
                   help="training images that calibrate the int8 program; the dry run uses 16 "
                        "(default: %(default)s)")
    p.add_argument("--iters", type=positive_int, default=300,
                   help="timed calls per variant; the dry run makes 30 (default: %(default)s)")
    add_standard_options(p, device="where the eager model trains; only cpu: the .pte programs run there",
                         device_default="cpu",
                         out_dir=f"write {RESULTS}.json, {FIGURE} and the four .pte files here",
                         without_out_dir="a temporary folder, removed at the end",
                         dry_run="2 epochs, 16 calibration images, 30 timed calls: a quick check")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the lab and return its figures (the table it prints, and more)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)  # bad values: a usage error (exit status 2)
    if device.type != "cpu":
        parser.error(f"--device {args.device}: ExecuTorch's Python runtime runs on the CPU; use --device cpu")
    if args.dry_run:
        args.epochs, args.calibration, args.iters = 2, 16, 30
    with guard_run("Lab 15", args.out_dir):  # Ctrl-C: a message and exit status 130
        if args.out_dir is not None:
            return _run(args, Path(args.out_dir))
        tmp = Path(tempfile.mkdtemp(prefix="lab15-"))
        try:
            return _run(args, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(args: argparse.Namespace, out: Path) -> dict:
    """The body of :func:`main`, with the options checked; files go to ``out``."""
    start = time.perf_counter()
    import_executorch()
    torch.manual_seed(args.seed)
    data = digits_images8(seed=args.seed)
    x_train, y_train, x_val, y_val = data
    model = DigitsCNN()
    losses = train_cnn(model, x_train, y_train, args.epochs, lr=args.lr, batch_size=32, seed=args.seed)
    print(f"trained {args.epochs} epoch(s): loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    out.mkdir(parents=True, exist_ok=True)
    rows = [eager_row(model, x_val, y_val, args.iters)]
    for variant in VARIANTS:
        rows.append(pte_row(variant, model, data, out, args.iters, args.calibration))
        print(f"built and ran {rows[-1]['variant']} in {rows[-1]['build s']:.1f} s")
    print(f"\n{len(y_val)} validation images, batch 1, {args.iters} timed calls per variant, "
          f"{torch.get_num_threads()} torch thread(s)")
    print(format_table(rows, floatfmt=".3g"))
    version = torch.__version__.split("+")[0]  # 2.14.1, without the wheel's +cpu / +cu130
    fig = plot_variants(rows, out / FIGURE,
                        title=f"digits CNN, {args.epochs} epoch(s), batch 1, torch {version}")
    import sys

    if "ipykernel" not in sys.modules:  # a notebook shows the figure under the cell
        import matplotlib.pyplot as plt

        plt.close(fig)
    results = {"dry_run": args.dry_run, "seed": args.seed, "epochs": args.epochs, "losses": losses,
               "calibration": args.calibration, "iters": args.iters, "cpu_count": os.cpu_count(),
               "torch": torch.__version__, "rows": rows, "figure": FIGURE,
               "files": sorted(p.name for p in out.glob("*.pte")), "seconds": time.perf_counter() - start}
    path = write_results(out, RESULTS, results)
    print(f"\nwrote {path}, {out / FIGURE} and {len(results['files'])} .pte files")
    return results


if __name__ == "__main__":
    main(script_argv(["--dry-run", "--out-dir", "lab15-results"]))
