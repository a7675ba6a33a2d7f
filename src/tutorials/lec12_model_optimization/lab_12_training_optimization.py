# %% [markdown]
# # Lab 2.2: training and optimization
#
# One small classifier, trained many times under controlled changes, so that
# each difference you see comes from the one thing that changed:
#
# 1. **Optimizers**: SGD, SGD with momentum, Adam and AdamW with the same
#    budget (epochs, batches, initial weights): validation loss curves and a table.
# 2. **Learning-rate schedules**: constant, step decay, cosine, linear warmup +
#    cosine, OneCycle. The LR each optimizer step used is recorded and plotted.
# 3. **Gradient clipping and accumulation**: learning rates at which training
#    collapses or turns NaN without clipping, the same with clipping (reported as
#    they come out); then accumulated micro-batches against one large batch,
#    compared parameter by parameter.
# 4. **Mixed precision**: fp32 against bf16 autocast (and fp16 + `GradScaler` on
#    CUDA): time per training step and accuracy.
# 5. **Reproducibility**: the same seed twice gives bit-identical weights; a
#    different seed does not.
#
# Every run goes through the course's training loop, `tutorials.lec12_model_optimization.training.fit`
# (`TrainConfig` holds epochs, clipping, accumulation, AMP and the scheduler
# interval), by way of `train_run` in `tutorials.lec12_model_optimization.experiments`.
# The data are the scikit-learn digits (1,797 real 8×8 images, on disk with
# scikit-learn: nothing is downloaded).
#
# ```
# python lab_12_training_optimization.py --help
# python lab_12_training_optimization.py --device auto --out-dir results/
# ```
#
# Interrupting and resuming a run (checkpoints) is Lab 2.1.6; this lab does not
# repeat it. Built with PyTorch ≥ 2.4.

# %%
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from tutorials.core.batches import Batches
from tutorials.core.benchmark import import_notes, time_callable
from tutorials.core.cli import (
    add_standard_options,
    guard_run,
    non_negative_float,
    parse_args_and_device,
    positive_float,
    positive_float_list,
    positive_int,
    refuse_fp16_off_cuda,
    script_argv,
    write_results,
)
from tutorials.core.datasets import digits_split
from tutorials.core.reporting import format_table
from tutorials.core.runtime import device_label
from tutorials.lec12_model_optimization.experiments import (
    SCHEDULES,
    Data,
    final,
    make_model,
    manual_accumulation,
    max_param_diff,
    optimizer_factories,
    train_run,
)
from tutorials.lec12_model_optimization.training import AMP_MODES, autocast_for

# %% [markdown]
# ## 0. Data, model, and one training run
#
# The digits are split 80/20 once, with a generator seeded by `--seed`. The
# batches come from `tutorials.core.batches.Batches`, a small iterable over
# tensors already on the device: each pass draws a new permutation from *its own*
# generator, so the order of the batches is fixed by the seed and does not depend
# on anything else that draws random numbers. A `DataLoader` with `shuffle=True,
# generator=...` does the same, with per-sample indexing and collation that would
# dominate the time of a model this small.
#
# The model and the experiment come from `tutorials.lec12_model_optimization.experiments`,
# the module the chapter's page uses too. `make_model` is the MLP 64 → 128 → 128 →
# 10 with dropout. `train_run` is one experiment: build the model (from shared
# initial weights when given), build the optimizer and scheduler, call `fit`, and
# record the LR of every optimizer step with an optimizer *step pre-hook*. `fit`
# raises a `RuntimeError` when a loss becomes NaN or infinite; the run catches
# exactly that one, keeps the epochs done so far, and reports the failure, which
# `final(run, key)` turns into a NaN in the tables.

# %%
def load_split(seed: int, device: torch.device) -> Data:
    """Digits as float tensors in [0, 1] on ``device``: an 80/20 train/validation split."""
    return tuple(t.to(device) for t in digits_split(seed))


# %% [markdown]
# ## 1. Optimizers with the same budget
#
# All four start from the same initial weights and see the same batches in the
# same order. Plain SGD and SGD with momentum share `--lr`; Adam and AdamW share
# `--adam-lr` (adaptive methods want an LR about 100× smaller, because they divide
# each step by the gradient's running RMS) and `--weight-decay`. Adam adds the
# decay to the gradient as an L2 term, which its per-weight scaling then weakens
# for weights with large gradients; AdamW shrinks the weights directly
# ("decoupled" weight decay, Loshchilov & Hutter). The same number therefore
# regularizes differently. `optimizer_factories(lr, adam_lr, weight_decay)` (in
# `experiments`) builds the four, each as a function of the parameters.

# %%
def compare_optimizers(data: Data, init_state: dict, args: argparse.Namespace,
                       device: torch.device) -> tuple[list[dict], dict[str, list[float]]]:
    """Final validation figures per optimizer, and each one's validation-loss curve."""
    rows, curves = [], {}
    for name, opt_fn in optimizer_factories(args.lr, args.adam_lr, args.weight_decay).items():
        run = train_run(data, opt_fn, epochs=args.epochs, batch_size=args.batch_size,
                        seed=args.seed, device=device, init_state=init_state, amp=args.amp)
        val_losses = [h["val_loss"] for h in run["history"]]
        curves[name] = val_losses
        rows.append({
            "optimizer": name,
            "final val loss": final(run, "val_loss"),
            "best val loss": min(val_losses, default=float("nan")),
            "best epoch": val_losses.index(min(val_losses)) + 1 if val_losses else 0,  # 1-based
            "final val acc": final(run, "val_accuracy"),
            "status": run["error"] or "ok",
        })
    return rows, curves


# %% [markdown]
# ## 2. Learning-rate schedules
#
# Each scheduler is stepped after every optimizer step (`scheduler_interval=
# "step"`, `fit`'s default), over `epochs × steps per epoch` steps in all, with
# SGD + momentum and a peak LR of `--lr`:
#
# * **step decay**: ×0.1 after each third of training (`StepLR`);
# * **cosine**: from `--lr` down to 0 along half a cosine (`CosineAnnealingLR`);
# * **warmup + cosine**: a linear ramp from 1 % of `--lr` over the first 10 % of
#   steps, then cosine (`LinearLR` and `CosineAnnealingLR` chained by
#   `SequentialLR`). Warmup keeps the first, large and badly-aimed gradients of a
#   fresh model from throwing the weights far off;
# * **OneCycle**: up from `--lr`/25 to `--lr` over 30 % of the steps, then down to
#   almost 0; it also cycles the momentum the other way (`OneCycleLR`).
#
# `SCHEDULES` (in `experiments`) maps each name, and `"constant"`, to a function
# `(optimizer, total steps, peak LR) -> scheduler`.

# %%
def compare_schedules(data: Data, init_state: dict, args: argparse.Namespace,
                      device: torch.device) -> tuple[list[dict], dict[str, list[float]]]:
    """Final validation figures per schedule, and the LR of every step."""
    rows, lr_curves = [], {}
    for name, make in SCHEDULES.items():
        run = train_run(data, lambda p: torch.optim.SGD(p, lr=args.lr, momentum=0.9),
                        epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                        device=device, init_state=init_state, amp=args.amp,
                        scheduler_fn=lambda opt, total, make=make: make(opt, total, args.lr))
        lr_curves[name] = run["lrs"]
        rows.append({
            "schedule": name,
            "first LR": run["lrs"][0],
            "peak LR": max(run["lrs"]),
            "last LR": run["lrs"][-1],
            "final val loss": final(run, "val_loss"),
            "final val acc": final(run, "val_accuracy"),
            "status": run["error"] or "ok",
        })
    return rows, lr_curves


# %% [markdown]
# ## 3a. Gradient clipping
#
# `clip_grad_norm_` rescales all gradients together when their total L2 norm
# exceeds `max_norm`, so no single step moves the weights by more than
# `lr × max_norm` (times momentum's accumulation). We train with SGD + momentum
# at several learning rates, each without and with clipping, from the same
# weights. What to expect, and what this lab reports as it comes out:
#
# * a moderate LR: both train;
# * a too-large LR: without clipping the ReLU network is knocked into a state
#   where it predicts one class (accuracy ≈ 10 %, the "collapsed" row); clipping
#   keeps each step small enough to train;
# * an absurd LR: without clipping the loss overflows to NaN (`fit` raises and the
#   run records the message); with clipping it stays finite but learns nothing.
#   Clipping bounds the step; it does not make every LR usable.

# %%
def clipping_experiment(data: Data, init_state: dict, args: argparse.Namespace,
                        device: torch.device) -> tuple[list[dict], dict[str, list[float]]]:
    """Each LR of ``--clip-lrs`` trained without and with clipping at ``--max-norm``."""
    rows, curves = [], {}
    for lr in args.clip_lrs:
        for clip in (None, args.max_norm):
            run = train_run(data, lambda p, lr=lr: torch.optim.SGD(p, lr=lr, momentum=0.9),
                            epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                            device=device, init_state=init_state, clip=clip, amp=args.amp)
            acc = final(run, "val_accuracy")
            if run["error"] is not None:
                outcome = "NaN/inf: " + run["error"]
            elif acc < 0.2:  # 10 classes: 0.1 is chance
                outcome = "collapsed (≈ chance)"
            else:
                outcome = "trained"
            label = f"lr {lr:g}, " + (f"clip {clip:g}" if clip else "no clip")
            if run["error"] is not None:
                label += f" (NaN in epoch {len(run['history']) + 1})"
            curves[label] = [h["train_loss"] for h in run["history"]]
            rows.append({
                "lr": lr,
                "max norm": "none" if clip is None else clip,
                "epochs done": len(run["history"]),
                "final val loss": final(run, "val_loss"),
                "final val acc": acc,
                "outcome": outcome,
            })
    return rows, curves


# %% [markdown]
# ## 3b. Gradient accumulation
#
# `k` micro-batches of `B/k` samples, with one optimizer step per group, must give
# the same weights as batches of `B`: the gradient of a mean loss is the
# sample-weighted mean of the micro-batches' gradients. `fit` weights each
# micro-batch's mean loss by its share of the samples in its group, which also
# holds for the short last group (here 1,438 training samples = 22 × 64 + 30).
# Two hand-written loops show the usual mistakes: dividing every micro-batch
# loss by `k` (right except for a short last group) and not scaling at all (a
# `k`× larger gradient, i.e. a `k`× larger LR); both are
# `manual_accumulation(model, batches, optimizer, k, divide_by_k)` in `experiments`.
#
# One epoch of SGD + momentum, no dropout (dropout masks would differ between
# one batch of 64 and four of 16), in float32, from the same weights and the
# same sample order. We print the largest parameter difference to the large batch.

# %%
def accumulation_experiment(data: Data, args: argparse.Namespace, device: torch.device) -> list[dict]:
    """Max parameter difference to one large-batch epoch for three ways of accumulating."""
    k, big = args.accum_steps, args.batch_size
    if big % k:
        raise ValueError(f"--batch-size {big} must be divisible by --accum-steps {k}")
    torch.manual_seed(args.seed)
    init = make_model(dropout=0.0).state_dict()
    opt_fn = lambda p: torch.optim.SGD(p, lr=args.lr, momentum=0.9)  # noqa: E731
    common = dict(epochs=1, seed=args.seed, device=device, init_state=init, dropout=0.0)
    reference = train_run(data, opt_fn, batch_size=big, **common)["model"]
    accumulated = train_run(data, opt_fn, batch_size=big // k, accumulation=k, **common)["model"]
    rows = [{"method": f"1 batch of {big}", "optimizer steps / epoch": len(Batches(*data[:2], big, None)),
             "max |Δ param|": 0.0},
            {"method": f"fit: {k} × {big // k}, weighted", "optimizer steps / epoch":
             math.ceil(len(Batches(*data[:2], big // k, None)) / k),
             "max |Δ param|": max_param_diff(reference, accumulated)}]
    for divide, label in ((True, f"loop: {k} × {big // k}, loss / {k}"),
                          (False, f"loop: {k} × {big // k}, no scaling")):
        model = make_model(dropout=0.0)
        model.load_state_dict(init)
        model.to(device)
        manual_accumulation(model, Batches(*data[:2], big // k, args.seed), opt_fn(list(model.parameters())),
                            k, divide)
        rows.append({"method": label, "optimizer steps / epoch": rows[1]["optimizer steps / epoch"],
                     "max |Δ param|": max_param_diff(reference, model)})
    return rows


# %% [markdown]
# ## 4. Mixed precision
#
# The same Adam run under each autocast mode of `tutorials.lec12_model_optimization.training.AMP_MODES`:
# `off` (float32), `bf16` (bfloat16 autocast: float32's range, no scaler) and, on
# CUDA only, `fp16` with a `GradScaler` (float16's narrow range needs the loss
# scaled so that small gradients do not flush to zero; `fit` creates the scaler).
# The time of one training step on a fixed batch is measured with
# `torch.utils.benchmark` (median of many steps). At this model size nothing is
# compute-bound: on a CPU without bfloat16 instructions expect bf16 to be
# *slower*; Lab 2.1.4 varies the width to find where mixed precision pays.

# %%
def time_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor,
              amp: str, min_run_time: float) -> float:
    """Median milliseconds of one forward + backward + optimizer step under ``amp``."""
    loss_fn = nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler(x.device.type) if amp == "fp16" else None

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast_for(x.device, amp):
            loss = loss_fn(model(x), y)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    model.train()
    return time_callable(step, label=amp, min_run_time=min_run_time).median_us / 1e3


def amp_experiment(data: Data, init_state: dict, args: argparse.Namespace,
                   device: torch.device) -> list[dict]:
    """Step time and final accuracy for each AMP mode available on ``device``."""
    modes = ["off", "bf16"] + (["fp16"] if device.type == "cuda" else [])
    opt_fn = lambda p: torch.optim.Adam(p, lr=args.adam_lr)  # noqa: E731
    rows = []
    for amp in modes:
        run = train_run(data, opt_fn, epochs=args.epochs, batch_size=args.batch_size,
                        seed=args.seed, device=device, init_state=init_state, amp=amp)
        bench = make_model()
        bench.load_state_dict(init_state)
        bench.to(device)
        ms = time_step(bench, opt_fn(list(bench.parameters())), data[0][: args.batch_size],
                       data[1][: args.batch_size], amp, args.min_run_time)
        rows.append({"amp": amp, "step ms (median)": ms, "× fp32 time": 0.0,
                     "final val loss": final(run, "val_loss"),
                     "final val acc": final(run, "val_accuracy"), "status": run["error"] or "ok"})
    for row in rows:
        row["× fp32 time"] = row["step ms (median)"] / rows[0]["step ms (median)"]
    return rows


# %% [markdown]
# ## 5. Reproducibility
#
# A run is a function of its seed when every source of randomness is seeded:
# initial weights and dropout masks (`torch.manual_seed`), the batch order (the
# `Batches` generator), and the split. On a CPU with a fixed thread count
# (`--threads`; the way float sums are split across threads changes their
# rounding) two runs give *bit-identical* weights, checked with `torch.equal`. On
# CUDA, bit-identity also needs `torch.use_deterministic_algorithms(True)` and
# `CUBLAS_WORKSPACE_CONFIG=:4096:8`; without them the table reports what happened.

# %%
def reproducibility_experiment(data: Data, args: argparse.Namespace, device: torch.device) -> dict:
    """Train AdamW three times (seed, seed, seed + 1) and compare the final weights."""
    def weights(seed: int) -> list[Tensor]:
        run = train_run(data, lambda p: torch.optim.AdamW(p, lr=args.adam_lr),
                        epochs=args.epochs, batch_size=args.batch_size, seed=seed,
                        device=device, amp=args.amp)
        return [t.detach().cpu() for t in run["model"].state_dict().values()]

    first, again, other = weights(args.seed), weights(args.seed), weights(args.seed + 1)
    return {
        "same seed identical": all(torch.equal(a, b) for a, b in zip(first, again)),
        "same seed max |Δ|": max(float((a - b).abs().max()) for a, b in zip(first, again)),
        "other seed identical": all(torch.equal(a, b) for a, b in zip(first, other)),
        "other seed max |Δ|": max(float((a - b).abs().max()) for a, b in zip(first, other)),
    }


# %% [markdown]
# ## Pictures

# %%
def plot_curves(curves: dict[str, list[float]], path: Path, title: str, xlabel: str,
                ylabel: str, log: bool = True) -> None:
    """One line per entry of ``curves`` (NaN-free prefix of each), saved as a PNG."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, ys in curves.items():
        xs = range(1, len(ys) + 1) if xlabel == "epoch" else range(len(ys))
        ax.plot(list(xs), ys, label=name, marker="o" if len(ys) < 4 else None)
    if log:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# %% [markdown]
# ## Command line
#
# `main` runs the five parts and returns their figures; `--dry-run` trains two
# epochs per run and times few steps, for the course's tests. Bad option values
# (`--lr 0`, `--clip-lrs 0.1,x`, `--weight-decay -1`, a `--batch-size` that
# `--accum-steps` does not divide, `--amp fp16` without CUDA) stop with a usage
# line and a message naming the option (exit status 2).

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(
        description="Lab 2.2: optimizers, LR schedules, clipping, accumulation, AMP, reproducibility."
    )
    p.add_argument("--epochs", type=positive_int, default=20,
                   help="epochs per training run (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="batch size (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=0.1,
                   help="SGD learning rate and peak LR of the schedules (default: %(default)s)")
    p.add_argument("--adam-lr", type=positive_float, default=1e-3,
                   help="learning rate of Adam and AdamW (default: %(default)s)")
    p.add_argument("--weight-decay", type=non_negative_float, default=0.01,
                   help="weight decay of Adam (L2) and AdamW (decoupled) (default: %(default)s)")
    p.add_argument("--clip-lrs", type=positive_float_list, default=[0.1, 0.6, 100.0],
                   help="comma-separated SGD+momentum LRs for the clipping part (default: 0.1,0.6,100)")
    p.add_argument("--max-norm", type=positive_float, default=1.0,
                   help="gradient-norm clipping threshold (default: %(default)s)")
    p.add_argument("--accum-steps", type=positive_int, default=4,
                   help="micro-batches per optimizer step in the accumulation part (default: %(default)s)")
    p.add_argument("--amp", choices=AMP_MODES, default="off",
                   help="autocast mode of parts 1, 2, 3a and 5; part 4 compares all; fp16 needs CUDA "
                        "(default: %(default)s)")
    p.add_argument("--min-run-time", type=positive_float, default=0.3,
                   help="seconds of step timing per AMP mode (default: %(default)s)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="CPU threads, restored afterwards; fixed for stable timings and "
                        "bit-identical reruns (default: %(default)s)")
    add_standard_options(p, out_dir="write lab_2_2_results.json and the PNG plots here",
                         dry_run="two epochs per run and short timings, for a quick check")
    return p


def check_args(args: argparse.Namespace) -> None:
    """Reject combinations of options that cannot work, naming the options.

    (Each value alone is checked by the parser's ``type=``.)

    Raises:
        ValueError: the message names the options and what would work.
    """
    if args.batch_size % args.accum_steps:
        raise ValueError(f"--batch-size {args.batch_size} must be divisible by --accum-steps "
                         f"{args.accum_steps} (micro-batches of equal size)")


def main(argv: list[str] | None = None) -> dict:
    """Run the lab and return its figures (see the tables it prints)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)  # bad values: a usage error (exit status 2)
    try:
        check_args(args)
    except ValueError as err:  # options that do not fit together: a usage error too
        parser.error(str(err))
    refuse_fp16_off_cuda(parser, "--amp", args.amp, device, instead="--amp bf16 or --amp off")
    if args.dry_run:
        args.epochs, args.min_run_time = 2, 0.02
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        with guard_run("Lab 2.2", args.out_dir):  # Ctrl-C: a message and exit status 130
            return _run(args, device)
    finally:
        torch.set_num_threads(previous_threads)


def _run(args: argparse.Namespace, device: torch.device) -> dict:
    start = time.perf_counter()
    for note in import_notes():  # a warning torch logged on import, explained
        print(note)
    print(f"device: {device_label(device)} · torch {torch.__version__} · "
          f"{args.epochs} epochs per run · batch {args.batch_size} · amp {args.amp}")
    data = load_split(args.seed, device)
    torch.manual_seed(args.seed)
    init_state = {k: v.clone() for k, v in make_model().state_dict().items()}  # shared start

    part_seconds: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(part: str) -> None:  # wall time of each part, for the summary
        nonlocal mark
        part_seconds[part] = time.perf_counter() - mark
        mark = time.perf_counter()

    opt_rows, opt_curves = compare_optimizers(data, init_state, args, device)
    lap("optimizers")
    print("\n1. optimizers (same weights, batches, epochs)\n" + format_table(opt_rows, floatfmt=".4f"))
    sched_rows, lr_curves = compare_schedules(data, init_state, args, device)
    lap("schedules")
    print("\n2. LR schedules (SGD + momentum, stepped every optimizer step)\n"
          + format_table(sched_rows, floatfmt=".4g"))
    clip_rows, clip_curves = clipping_experiment(data, init_state, args, device)
    lap("clipping")
    print(f"\n3a. gradient clipping (SGD + momentum, max norm {args.max_norm:g})\n"
          + format_table(clip_rows, floatfmt=".4g"))
    accum_rows = accumulation_experiment(data, args, device)
    lap("accumulation")
    print("\n3b. gradient accumulation: one epoch, difference to the large batch\n"
          + format_table(accum_rows, floatfmt=".2e"))
    amp_rows = amp_experiment(data, init_state, args, device)
    lap("amp")
    print(f"\n4. mixed precision (Adam, step on a batch of {args.batch_size})\n"
          + format_table(amp_rows, floatfmt=".4g"))
    if device.type != "cuda":
        print("note: fp16 autocast + GradScaler is a CUDA path (float16 kernels on CPU are missing "
              "or slow), so this CPU run compares fp32 (off) and bf16 only; run with --device cuda "
              "on a GPU for the fp16 row")
    repro = reproducibility_experiment(data, args, device)
    lap("reproducibility")
    print("\n5. reproducibility (AdamW, final weights compared with torch.equal)\n"
          + format_table([repro], floatfmt=".3g"))

    results = {
        "device": device_label(device),
        "torch": torch.__version__,
        "dry_run": args.dry_run,
        "config": {k: getattr(args, k) for k in (
            "epochs", "batch_size", "lr", "adam_lr", "weight_decay", "clip_lrs", "max_norm",
            "accum_steps", "amp", "threads", "seed")},
        "optimizers": opt_rows,
        "optimizer_val_loss": opt_curves,
        "schedules": sched_rows,
        "lr_curves": lr_curves,
        "clipping": clip_rows,
        "clipping_train_loss": clip_curves,
        "accumulation": accum_rows,
        "amp": amp_rows,
        "reproducibility": repro,
        "seconds": time.perf_counter() - start,
        "part_seconds": part_seconds,
    }
    path = write_results(args.out_dir, "lab_2_2_results", results)
    if path is not None:
        out = path.parent
        plot_curves(opt_curves, out / "lab_2_2_optimizers.png", "validation loss per optimizer",
                    "epoch", "validation loss")
        plot_curves(lr_curves, out / "lab_2_2_lr_schedules.png", "learning rate of each step",
                    "optimizer step", "learning rate", log=False)
        plot_curves(clip_curves, out / "lab_2_2_clipping.png",
                    "training loss with and without clipping (a NaN run ends early)",
                    "epoch", "training loss")
        results["figures"] = sorted(str(p.name) for p in out.glob("lab_2_2_*.png"))
        print(f"\nresults and plots written to {out}")
    print(f"total time: {results['seconds']:.1f} s ("
          + ", ".join(f"{k} {v:.1f} s" for k, v in part_seconds.items()) + ")")
    return results


# %%
if __name__ == "__main__":
    main(script_argv())

# %% [markdown]
# ## What to look for, and what to try
#
# * **Optimizers**: with their usual learning rates, momentum and Adam(W) reach a
#   low validation loss in a few epochs while plain SGD lags; the best epoch is
#   often not the last (the validation loss rises again while the training loss
#   keeps falling: that is where early stopping, `tutorials.lec12_model_optimization.early_stopping`, would
#   stop). Adam with `weight_decay` (an L2 term) and AdamW (decoupled decay) end
#   apart although the number is the same; try `--weight-decay 0` to see them
#   coincide. Rerun with `--lr 0.5`: which optimizer is most sensitive?
# * **Schedules**: the LR plot shows each schedule's shape; the ones that end at a
#   small LR (cosine, warmup + cosine, OneCycle, step decay) usually end with a
#   lower validation loss than the constant LR, which keeps bouncing.
# * **Clipping**: read the outcome column, not just the accuracy. Try
#   `--max-norm 10`: clipping that never triggers changes nothing.
# * **Accumulation**: `fit`'s weighted accumulation matches the large batch to
#   float32 rounding (~1e-7); dividing by `k` is off because of the short last
#   group; no scaling is far off. Try `--batch-size 96 --accum-steps 3`.
# * **AMP**: on a GPU, try `--device cuda` to add the fp16 + `GradScaler` row.
# * **Reproducibility**: change `--threads` between two runs and compare: the
#   weights may differ in the last bits.
