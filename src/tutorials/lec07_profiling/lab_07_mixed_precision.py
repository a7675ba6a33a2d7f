# %% [markdown]
# # Lab 2.1.4: mixed precision training
#
# Train the same classifier three ways and compare what it costs and what it
# keeps:
#
# 1. **fp32**: the baseline, everything in float32.
# 2. **bf16 autocast**: `torch.amp.autocast(device_type, dtype=torch.bfloat16)`;
#    bfloat16 has float32's range, so no gradient scaling. Runs on CPU and GPU.
# 3. **fp16 autocast + `GradScaler`**: `torch.amp.GradScaler("cuda")` scales the
#    loss so that small gradients survive float16's narrow range. A CUDA path: on
#    CPUs without native float16 arithmetic it is far slower than float32, so the
#    lab runs it only on a GPU (and says so).
#
# For each: the median time of a training step, the peak memory (CUDA:
# `torch.cuda.max_memory_allocated`; on CPU it is not measured), and the test
# accuracy after training, as one table.
#
# The seed of this lab used `torch.cuda.amp`; that spelling is deprecated. The
# device-generic `torch.amp.autocast(device_type=...)` and
# `torch.amp.GradScaler(device)` are today's API.
#
# ```
# python lab_07_mixed_precision.py --help
# python lab_07_mixed_precision.py --device auto --out-dir results/
# ```
#
# The step itself is `tutorials.lec07_profiling.amp_bench.train_step` (Lecture 7, section 8).
# Built with PyTorch ≥ 2.4; nothing is downloaded.

# %%
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from torch import Tensor, nn

from tutorials.core.batches import Batches
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
from tutorials.core.reporting import format_table
from tutorials.core.runtime import device_label
from tutorials.lec07_profiling.amp_bench import (
    PRECISIONS,
    autocast_dtype,
    bench_train_step,
    make_scaler,
    train_step,
)

# %% [markdown]
# ## 1. Data and model
#
# The scikit-learn digits (1,797 real 8×8 images, 80/20 split) and an MLP whose
# width sets how much of the step is matrix multiplication, the part mixed
# precision speeds up. On a GPU, use a width and batch large enough to keep it busy
# (e.g. `--width 4096 --batch-size 1024`): at small sizes the step is launch-bound
# and every precision takes the same time.

# %%
def load_data(device: torch.device, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Train and test tensors of the digits on ``device`` (pixels scaled to [0, 1])."""
    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0
    y = torch.tensor(d.target)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(x))
    tr, te = order[:cut], order[cut:]
    return x[tr].to(device), y[tr].to(device), x[te].to(device), y[te].to(device)


def make_model(width: int, depth: int) -> nn.Sequential:
    """An MLP: 64 -> width (x depth, ReLU) -> 10."""
    layers: list[nn.Module] = []
    fan_in = 64
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.ReLU()]
        fan_in = width
    return nn.Sequential(*layers, nn.Linear(fan_in, 10))


# %% [markdown]
# ## 2. Train and evaluate under one precision
#
# Every mode starts from the same weights and sees the same batches
# (`tutorials.core.batches.Batches`: each epoch a new permutation from the
# iterator's own generator, seeded by `--seed`). Evaluation runs under the same
# autocast as training: that is the accuracy you would deploy.

# %%
@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, precision: str) -> float:
    """Test accuracy with the forward pass under the mode's autocast."""
    dtype = autocast_dtype(precision)
    model.eval()
    with torch.autocast(device_type=x.device.type, dtype=dtype, enabled=dtype is not None):
        pred = model(x).argmax(1)
    model.train()
    return float((pred == y).float().mean())


def train(model, data, precision, device, epochs, batch_size, lr, seed) -> float:
    """Train for ``epochs`` with Adam; return the last epoch's mean loss."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    scaler = make_scaler(precision, device)
    batches = Batches(data[0], data[1], batch_size, seed)  # a new order each epoch, fixed by the seed
    total = torch.zeros((), device=device)
    for _ in range(epochs):
        total.zero_()
        for xb, yb in batches:
            total += train_step(model, opt, scaler, xb, yb, precision=precision, device=device)
    return total.item() / len(batches)  # one sync per run


# %% [markdown]
# ## 3. Time one step, read the peak memory
#
# `bench_train_step` runs a few untimed warm-up steps, then times single steps
# (synchronizing CUDA around each) and reports the median and IQR; on CUDA it
# resets and reads the allocator's peak. Peak memory includes weights, gradients,
# Adam's two moments (all float32 in every mode), and the activations, which
# autocast stores in 16 bits: the saving grows with batch size × width.

# %%
def run_precision(precision, init_state, data, device, args) -> dict:
    """Train, evaluate and time one precision mode."""
    torch.manual_seed(args.seed)
    model = make_model(args.width, args.depth).to(device)
    model.load_state_dict(init_state)
    final_loss = train(model, data, precision, device, args.epochs, args.batch_size,
                       args.lr, args.seed)
    acc = evaluate(model, data[2], data[3], precision)
    bench_model = make_model(args.width, args.depth).to(device)
    bench_model.load_state_dict(init_state)
    opt = torch.optim.Adam(bench_model.parameters(), lr=args.lr)
    xb, yb = data[0][: args.batch_size], data[1][: args.batch_size]
    stats = bench_train_step(bench_model, opt, xb, yb, precision=precision, device=device,
                             steps=args.timed_steps, warmup=2 if args.dry_run else 5)
    return {
        "precision": precision,
        "step ms (median)": stats.median_ms,
        "IQR ms": stats.iqr_ms,
        "peak MB": stats.peak_mb if stats.peak_mb is not None else "not measured",
        "test accuracy": acc,
        "final loss": final_loss,
    }


def plot(rows: list[dict], path: Path, device_name: str) -> None:
    """Bars of step time and test accuracy per precision."""
    import matplotlib.pyplot as plt

    names = [r["precision"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(7, 2.8))
    a.bar(names, [r["step ms (median)"] for r in rows], color="#5b9bd5")
    a.set(ylabel="ms per training step", title=f"step time ({device_name})")
    b.bar(names, [r["test accuracy"] for r in rows], color="#9bbb59")
    b.set(ylim=(0, 1), ylabel="test accuracy", title="accuracy after training")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# %% [markdown]
# ## Command line
#
# Bad option values (`--lr 0`, `--width 0`, `--precisions fp8`, or fp16 without
# CUDA) stop with a usage line and a message naming the option (exit status 2).

# %%
def _precisions(text: str) -> str | list[str]:
    """``type=`` for ``--precisions``: ``auto`` or comma-separated modes of PRECISIONS."""
    if text == "auto":
        return text
    modes = [m.strip() for m in text.split(",")]
    unknown = [m for m in modes if m not in PRECISIONS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown mode {unknown[0]!r} in {text!r}; expected auto or comma-separated modes "
            f"among {','.join(PRECISIONS)}")
    return modes


def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(
        description="Lab 2.1.4: fp32 vs bf16 vs fp16 autocast: step time, memory, accuracy."
    )
    p.add_argument("--precisions", type=_precisions, default="auto",
                   help="comma-separated modes among fp32,bf16,fp16 (fp16 needs CUDA); auto = "
                        "fp32,bf16 on CPU and fp32,bf16,fp16 on CUDA (default: %(default)s)")
    p.add_argument("--epochs", type=positive_int, default=15,
                   help="training epochs per mode (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=128,
                   help="batch size (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=1e-3,
                   help="Adam learning rate (default: %(default)s)")
    p.add_argument("--width", type=positive_int, default=512, help="hidden width (default: %(default)s)")
    p.add_argument("--depth", type=positive_int, default=2,
                   help="hidden layers (default: %(default)s)")
    p.add_argument("--timed-steps", type=positive_int, default=20,
                   help="steps timed per mode (default: %(default)s)")
    add_standard_options(p, out_dir="write lab_2_1_4_results.json and a plot here",
                         dry_run="tiny model, one epoch, few timed steps")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the lab and return its figures (see the table it prints)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)  # bad values: a usage error (exit status 2)
    if args.precisions == "auto":
        precisions = ["fp32", "bf16"] + (["fp16"] if device.type == "cuda" else [])
    else:
        precisions = args.precisions
    refuse_fp16_off_cuda(parser, "--precisions", precisions, device, instead="--precisions fp32,bf16")
    if args.dry_run:
        args.epochs, args.width, args.timed_steps = 1, 64, 3
    with guard_run("Lab 2.1.4", args.out_dir):  # Ctrl-C: a message and exit status 130
        return _run(args, device, precisions)


def _run(args: argparse.Namespace, device: torch.device, precisions: list[str]) -> dict:
    """The body of :func:`main`, with the options checked."""
    print(f"device: {device_label(device)} · torch {torch.__version__}")
    if device.type != "cuda":
        print("fp16 autocast + GradScaler is a CUDA path (float16 on CPU is slow "
              "without native float16 arithmetic); this CPU run compares fp32 and bf16")

    data = load_data(device, args.seed)
    torch.manual_seed(args.seed)
    init_state = make_model(args.width, args.depth).state_dict()
    rows = [run_precision(p, init_state, data, device, args) for p in precisions]
    base = rows[0]["step ms (median)"]
    for r in rows:
        r["× fp32 time"] = r["step ms (median)"] / base if rows[0]["precision"] == "fp32" else 1.0
    print(f"\nwidth {args.width}, depth {args.depth}, batch {args.batch_size}, "
          f"{args.epochs} epoch(s)\n" + format_table(rows, floatfmt=".3g"))

    results = {
        "device": device_label(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "dry_run": args.dry_run,
        "config": {k: getattr(args, k) for k in ("width", "depth", "batch_size", "epochs")},
        "rows": rows,
    }
    path = write_results(args.out_dir, "lab_2_1_4_results", results)
    if path is not None:
        plot(rows, path.parent / "lab_2_1_4_precisions.png", device_label(device))
        print(f"\nresults and plot written to {path.parent}")
    return results


# %%
if __name__ == "__main__":
    main(script_argv())

# %% [markdown]
# ## What to look for, and what to try
#
# * **Accuracy**: all modes should land within a point or two of each other; if
#   fp16 falls behind or its loss turns NaN, look at the scaler
#   (`scaler.get_scale()` each step) — that is what it protects against.
# * **Speed on a GPU**: bf16 and fp16 matmuls run on tensor cores; expect large
#   gains at `--width 4096 --batch-size 1024` and none at the default size, where
#   kernel launches dominate. Profile both (Lab 2.1.5) to see it in the trace.
# * **Speed on a CPU**: bf16 only pays on CPUs with bfloat16 instructions
#   (AVX512-BF16, AMX); elsewhere it is often slower than fp32.
# * **Memory**: the peak falls with 16-bit activations, not with weights: Adam's
#   state and the master weights stay float32. Raise `--batch-size` to see the
#   activations' share grow.
