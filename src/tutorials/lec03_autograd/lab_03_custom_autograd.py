# %% [markdown]
# # Lab 2.1.3: custom autograd functions (Swish and Mish)
#
# You will implement two activations as `torch.autograd.Function`s with a
# hand-written backward, prove the gradients right, and find out what a custom
# backward costs in memory and time compared with PyTorch's built-ins.
#
# 1. **Correctness**: `gradcheck` and `gradgradcheck` in float64.
# 2. **Agreement**: same values and gradients as `F.silu` and `F.mish`.
# 3. **Memory**: the bytes each variant keeps alive for backward, measured with
#    `torch.autograd.graph.saved_tensors_hooks` (and the peak on CUDA).
# 4. **Speed**: forward + backward timed with `torch.utils.benchmark` (median and IQR).
#
# Run it from a terminal (with the course package installed):
#
# ```
# python lab_03_custom_autograd.py --help
# python lab_03_custom_autograd.py --device auto --out-dir results/
# ```
#
# The Functions live in `tutorials.lec03_autograd.activations`; Lecture 3 walks through the
# Swish one line by line. Built with PyTorch ≥ 2.4; nothing is downloaded.

# %%
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from tutorials.core.benchmark import import_notes, time_callable
from tutorials.core.cli import (
    add_standard_options,
    guard_run,
    int_list,
    parse_args_and_device,
    positive_float,
    script_argv,
    write_results,
)
from tutorials.core.reporting import format_table
from tutorials.core.runtime import device_label
from tutorials.lec03_autograd.activations import MishFunction, MishRecompute, SwishFunction, SwishRecompute
from tutorials.lec03_autograd.memory import saved_tensor_report

# Each custom variant with the built-in it must agree with.
VARIANTS = {
    "SwishFunction": (SwishFunction.apply, F.silu),
    "SwishRecompute": (SwishRecompute.apply, F.silu),
    "MishFunction": (MishFunction.apply, F.mish),
    "MishRecompute": (MishRecompute.apply, F.mish),
}
BUILTINS = {"F.silu": F.silu, "F.mish": F.mish}

# %% [markdown]
# ## 1. Gradients checked against finite differences
#
# `gradcheck` perturbs each input element by ±ε and compares the numerical slope
# with your backward; it needs float64, where ε = 1e-6 is far above rounding noise.
# `gradgradcheck` does the same for the backward pass itself, which matters as
# soon as someone differentiates through your function twice (a gradient
# penalty, a Hessian-vector product).

# %%
def check_gradients(device: torch.device, seed: int) -> list[dict]:
    """Run gradcheck and gradgradcheck on every variant with a small float64 input."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for name, (fn, _) in VARIANTS.items():
        x = torch.randn(16, dtype=torch.float64, generator=g).to(device).requires_grad_()
        rows.append({
            "function": name,
            "gradcheck": torch.autograd.gradcheck(fn, (x,), raise_exception=False),
            "gradgradcheck": torch.autograd.gradgradcheck(fn, (x,), raise_exception=False),
        })
    return rows


# %% [markdown]
# ## 2. Same values and gradients as the built-ins
#
# In float32 the two computations round differently, so we compare the largest
# absolute difference with a tolerance instead of asking for equality.

# %%
def compare_with_builtins(device: torch.device, n: int, seed: int) -> list[dict]:
    """Largest |difference| of value and gradient between each variant and its built-in."""
    g = torch.Generator().manual_seed(seed)
    base = (torch.randn(n, generator=g) * 3).to(device)
    grad_out = torch.randn(n, generator=g).to(device)
    rows = []
    for name, (fn, builtin) in VARIANTS.items():
        x1 = base.clone().requires_grad_()
        x2 = base.clone().requires_grad_()
        y1, y2 = fn(x1), builtin(x2)
        (g1,) = torch.autograd.grad(y1, x1, grad_out)
        (g2,) = torch.autograd.grad(y2, x2, grad_out)
        rows.append({
            "function": name,
            "max |Δ value|": float((y1 - y2).detach().abs().max()),
            "max |Δ grad|": float((g1 - g2).abs().max()),
        })
    return rows


# %% [markdown]
# ## 3. Memory kept alive for backward
#
# A graph holds every tensor saved with `ctx.save_for_backward` until backward
# runs. Saving the *input* costs nothing new (the caller keeps it anyway); saving
# intermediates does. On CUDA we also read the allocator's peak during forward.

# %%
def measure_memory(device: torch.device, n: int, seed: int) -> list[dict]:
    """Saved-tensor count and new bytes held by each variant and built-in."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g).to(device).requires_grad_()
    fns = {name: fn for name, (fn, _) in VARIANTS.items()} | BUILTINS
    rows = []
    for name, fn in fns.items():
        report = saved_tensor_report(fn, x)
        row = {
            "function": name,
            "saved tensors": report.count,
            "new MB held": report.extra_bytes / 1e6,
        }
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            y = fn(x)  # the output and everything saved for backward are alive here
            torch.cuda.synchronize(device)
            row["CUDA peak MB"] = (torch.cuda.max_memory_allocated(device) - before) / 1e6
            del y
        rows.append(row)
    return rows


# %% [markdown]
# ## 4. Speed: forward + backward
#
# `torch.utils.benchmark` warms up, synchronizes CUDA around the timed region and
# chooses the number of repeats; we report the median and the interquartile
# range (IQR) of the per-call time, and the ratio to the built-in.

# %%
def benchmark(device: torch.device, sizes: list[int], min_run_time: float, seed: int):
    """Median and IQR of forward+backward time for each function and size."""
    g = torch.Generator().manual_seed(seed)
    fns = {name: fn for name, (fn, _) in VARIANTS.items()} | BUILTINS
    rows = []
    for n in sizes:
        x = torch.randn(n, generator=g).to(device).requires_grad_()
        grad_out = torch.randn(n, generator=g).to(device)

        def fwd_bwd(fn, x=x, grad_out=grad_out):
            return torch.autograd.grad(fn(x), x, grad_out)  # no .grad accumulation

        times = {name: time_callable(fwd_bwd, fn, label=name, min_run_time=min_run_time)
                 for name, fn in fns.items()}
        for name, t in times.items():
            builtin = "F.silu" if "Swish" in name or name == "F.silu" else "F.mish"
            rows.append({
                "function": name,
                "elements": n,
                "median µs": t.median_us,
                "IQR µs": t.iqr_us,
                "× built-in": t.median_us / times[builtin].median_us,
            })
    return rows


# %% [markdown]
# ## Command line
#
# `main` runs the four parts and returns the measured figures; `--dry-run` makes
# every part tiny so the course's test suite can run the whole lab in seconds.
# Bad option values (`--sizes 0,16`, `--min-run-time 0`) stop with a usage line and
# a message naming the option (exit status 2).

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(
        description="Lab 2.1.3: Swish and Mish as custom autograd Functions, checked and timed."
    )
    p.add_argument("--sizes", type=int_list(minimum=1),
                   default=[65_536, 1_048_576],
                   help="comma-separated tensor sizes to benchmark (default: 65536,1048576)")
    p.add_argument("--min-run-time", type=positive_float, default=0.3,
                   help="seconds of timing per function and size (default: %(default)s)")
    add_standard_options(p, out_dir="write lab_2_1_3_results.json here", without_out_dir="no file",
                         dry_run="tiny sizes and short timings, for a quick check")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the lab and return its figures (see the tables it prints)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)  # bad values: a usage error (exit status 2)
    with guard_run("Lab 2.1.3", args.out_dir):  # Ctrl-C: a message and exit status 130
        return _run(args, device)


def _run(args: argparse.Namespace, device: torch.device) -> dict:
    """The body of :func:`main`, with the options checked."""
    sizes = [1_024] if args.dry_run else args.sizes
    min_run_time = 0.01 if args.dry_run else args.min_run_time
    torch.manual_seed(args.seed)
    for note in import_notes():  # a warning torch logged on import, explained
        print(note)
    print(f"device: {device_label(device)} · torch {torch.__version__}")

    grads = check_gradients(device, args.seed)
    print("\n1. gradient checks (float64)\n" + format_table(grads))
    agree = compare_with_builtins(device, max(sizes), args.seed)
    print("\n2. agreement with the built-ins (float32)\n" + format_table(agree, floatfmt=".1e"))
    memory = measure_memory(device, max(sizes), args.seed)
    print(f"\n3. memory kept for backward, {max(sizes):,} float32 elements\n"
          + format_table(memory, floatfmt=".2f"))
    timings = benchmark(device, sizes, min_run_time, args.seed)
    print("\n4. forward + backward time\n" + format_table(timings, floatfmt=".2f"))

    results = {
        "device": device_label(device),
        "torch": torch.__version__,
        "dry_run": args.dry_run,
        "gradients": grads,
        "agreement": agree,
        "memory": memory,
        "timings": timings,
    }
    path = write_results(args.out_dir, "lab_2_1_3_results", results)
    if path is not None:
        print(f"\nresults written to {path}")
    return results


# %%
if __name__ == "__main__":
    main(script_argv())

# %% [markdown]
# ## What to look for, and what to try
#
# * Every row of table 1 must say `yes`; if `gradgradcheck` fails while
#   `gradcheck` passes, your backward uses a tensor that autograd cannot trace to
#   the input (see the comment in `SwishFunction.backward`).
# * Table 3: the `…Function` variants hold one extra tensor of the input's size;
#   the `…Recompute` variants and the built-ins hold none. That is why PyTorch's
#   own `F.silu` recomputes the sigmoid in backward.
# * Table 4: on CPU the built-ins are fused C++ kernels, several times faster than
#   a chain of Python-dispatched elementwise ops. Try `torch.compile` on
#   `SwishFunction.apply` and time it again: the gap mostly closes.
# * Write `MishFunction` yourself first, then check it with
#   `tutorials.lec03_autograd.exercises.check_mish_function` (Lecture 3, exercise 1).
