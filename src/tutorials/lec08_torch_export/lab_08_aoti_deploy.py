# %% [markdown]
# # Lab 8.1: export → AOTInductor package → C++ and Python inference
#
# You will take a small trained model all the way to a deployable artifact and
# run it without the Python model code:
#
# 1. **Train** a small CNN on scikit-learn's 8×8 digits (a few seconds; nothing is
#    downloaded).
# 2. **Export** it with `torch.export.export`, the batch dimension dynamic.
# 3. **Compile and package** it with AOTInductor
#    (`torch._inductor.aoti_compile_and_package`): one `.pt2` file holding the
#    generated C++ compiled into a shared library, and the weights.
# 4. **Load it from Python** (`torch._inductor.aoti_load_package`) and check it
#    computes what the eager model computes.
# 5. **Load it from C++** with `torch::inductor::AOTIModelPackageLoader`
#    (`cpp/aoti_runner.cpp`, built against the installed wheel), on inputs written
#    to raw float32 files, and check its outputs too.
# 6. **Compare latency**: eager PyTorch, AOTInductor from Python, AOTInductor from
#    C++ (and `torch.compile` with `--torch-compile`) at several batch sizes, with the
#    compile time and the package's size.
#
# Run it from a terminal (with the course package installed):
#
# ```
# python lab_08_aoti_deploy.py --help
# python lab_08_aoti_deploy.py --out-dir results/
# python lab_08_aoti_deploy.py --batch-sizes 1,64,512 --threads 2 --torch-compile --out-dir results/
# ```
#
# Lecture 8 explains `torch.export` and AOTInductor;
# `tutorials.lec08_torch_export.aoti_deploy` holds the helpers this lab calls, and
# `tutorials.core.cpp_build` builds the C++ program (with `g++`, cached).
#
# **A run on a 2-core x86-64 CPU (AVX-512), torch 2.14.1, 1 thread, 2026-12-02**, the
# command `python -m tutorials.lec08_torch_export.lab_08_aoti_deploy --torch-compile
# --out-dir lec08/labs` (8 epochs, validation accuracy 0.983, 200 timed calls per cell;
# the machine was shared with other jobs, so expect ±20 % on every figure):
#
# ```text
# parity against eager (tolerance 0.0001):
# | batch | AOTI-Python max|diff| | AOTI-C++ max|diff| | ok  |
# |-------|-----------------------|--------------------|-----|
# |     1 |               1.9e-06 |            1.9e-06 | yes |
# |    32 |               0.0e+00 |            0.0e+00 | yes |
# |   256 |               0.0e+00 |            0.0e+00 | yes |
#
# 6. latency, median µs per call over 200 calls (1 threads)
# | batch | eager us | torch.compile us | AOTI-Python us | AOTI-C++ us |
# |-------|----------|------------------|----------------|-------------|
# |     1 |     54.4 |             65.0 |           36.7 |        21.9 |
# |    32 |    649.8 |            374.8 |          318.4 |       277.6 |
# |   256 |  12348.9 |           5400.4 |         2116.1 |      1828.5 |
# | export s | AOTI compile s | package cached | package MB | torch.compile first calls s |
# |----------|----------------|----------------|------------|-----------------------------|
# |     1.44 |          25.09 | no             |       1.66 |                       13.40 |
# ```
#
# What it shows: all three runtimes agree to float32 rounding, and the 359 validation
# predictions are identical. At batch 1 the cost is the call itself: the package
# called from C++ takes 22 µs, from Python 37 µs (Python's call and argument
# handling), eager 54 µs (one Python dispatch per operator), and `torch.compile`
# 65 µs (Dynamo checks its guards on every call before running the compiled code).
# At batch 256 the arithmetic dominates and the package is about 6× faster than eager.
# Its convolutions are still ATen's (the generated `wrapper.cpp` inside the `.pt2`
# calls `aoti_torch_cpu_convolution`), but Inductor runs the second one in
# channels-last layout and fuses the ReLUs, the max-pool and the layout changes into
# two generated loops (`kernel.cpp`: `cpp_fused_convolution_relu_0`,
# `cpp_fused_max_pool2d_with_indices_relu_1`); unzip the package to read them. C++ and
# Python then differ by the call overhead only. The price is the compile: 25 s for
# the package (once, at build time) against 13 s of `torch.compile` on the first
# calls of every new process. The whole run took 68 s.

# %%
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import tempfile
import time
from pathlib import Path

import torch

from tutorials.core.cli import (
    add_standard_options,
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
from tutorials.core.datasets import digits_split
from tutorials.core.reporting import format_table
from tutorials.core.runtime import device_label
from tutorials.lec08_torch_export.aoti_deploy import (
    CPP_SOURCE,
    DigitsCNN,
    build_runner,
    compile_package,
    export_dynamic_batch,
    inductor_compiler_problem,
    max_abs_diff,
    median_us,
    plot_latency,
    run_cpp,
    train_digits,
)

RESULTS = "lab_08_aoti_results"
FIGURE = "lab_08_aoti_latency.png"
PACKAGE = "digits_cnn.pt2"

# %% [markdown]
# ## 1. The model
#
# Two 3×3 convolutions and a linear layer on the 8×8 digits, trained with Adam.
# The dry run skips the training: an untrained model exports, compiles and runs
# exactly like a trained one, and the parity checks do not care about accuracy.

# %%
def digits_data(device: torch.device, seed: int) -> tuple[torch.Tensor, ...]:
    """Train and validation images ``(N, 1, 8, 8)`` and labels, on ``device``."""
    x_train, y_train, x_val, y_val = digits_split(seed=seed)
    as_images = lambda x: x.reshape(-1, 1, 8, 8).to(device)  # noqa: E731
    return as_images(x_train), y_train.to(device), as_images(x_val), y_val.to(device)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of rows whose largest logit is the label."""
    return (logits.argmax(1) == labels).float().mean().item()


# %% [markdown]
# ## 2–3. Export with a dynamic batch, then compile and package
#
# `export_dynamic_batch` exports with `Dim("batch", min=1, max=--max-batch)` on
# the input's first dimension, from an example batch of 4: an example batch of 1
# would be *specialized* (export treats sizes 0 and 1 as constants), and the package
# would then refuse every other batch size.
#
# `aoti_compile_and_package` lowers the exported graph with Inductor, generates C++
# for the kernels and a wrapper that calls them, compiles both with the system's
# C++ compiler into a shared library, and zips it with the weights into a `.pt2`.
# Inductor's FX graph cache does not cover AOT compiles (`_compile_fx_inner` in
# `torch/_inductor/compile_fx.py` uses it only `not aot_mode`): each call pays the whole
# compile (tens of seconds on a CPU). `compile_package` therefore keeps each package under
# Inductor's cache directory, keyed by a hash of the program, its weights, torch's
# version, the device, the CPU instruction set and the thread count, and reuses it
# when all of them match (`--rebuild` compiles anyway). The results report the
# compile time of the run that built the package.
#
# On CPU the generated loops are written for the thread count at compile time:
# `WorkSharing.parallel` in `torch/_inductor/codegen/cpp.py` emits
# `#pragma omp parallel num_threads(N)` with `N = torch.get_num_threads()` (unless N is
# the machine's core count, or `TORCHINDUCTOR_CPP_DYNAMIC_THREADS=1`), and with one
# thread no parallel loop at all. That is why `--threads` is set before compiling and
# why the thread count is part of the key.

# %%
def example_batch(x: torch.Tensor, batch: int) -> torch.Tensor:
    """``batch`` validation images (repeating them if there are fewer), as one input."""
    return x[torch.arange(batch, device=x.device) % len(x)].contiguous()


# %% [markdown]
# ## 4–5. Parity: eager, AOTInductor from Python, AOTInductor from C++
#
# All three must compute the same logits up to float32 rounding. The package runs
# other code than eager (its own fused loops, another memory layout), so the outputs
# need not be bitwise equal: the check is `max |Δ| <= tolerance` (1e-4 on CPU; 1e-3 on
# CUDA, where cuDNN convolutions may use TF32). On the whole validation set the lab also counts
# how many predictions (the argmax) agree.
#
# The C++ program reads each input from a raw float32 file (`tensor.numpy().tofile`),
# runs it, and writes the first output the same way; `aoti_deploy.run_cpp` writes the
# inputs, runs the program once for all batch sizes (one package load) and reads the
# outputs back. When the runner cannot be built (its compile fails, or a CUDA package
# meets a CPU-only wheel) the lab says so and leaves the C++ column empty, with the
# reason in the results. Without any C++ compiler the lab stops at the start with a
# message: AOTInductor itself compiles with it, so there would be no package at all.

# %%
def parity_row(batch: int, eager: torch.Tensor, py: torch.Tensor, cpp: torch.Tensor | None,
               tol: float) -> dict:
    """Max absolute differences of one batch's outputs against eager, and whether they pass."""
    d_py = max_abs_diff(eager, py)
    d_cpp = None if cpp is None else max_abs_diff(eager, cpp)
    ok = d_py <= tol and (d_cpp is None or d_cpp <= tol)
    return {"batch": batch, "AOTI-Python max|diff|": d_py, "AOTI-C++ max|diff|": d_cpp, "ok": ok}


def cpp_step(device: torch.device, package: Path, inputs: dict[int, torch.Tensor], io_dir: Path,
             threads: int, iters: int) -> tuple:
    """Build the C++ runner (cached) and run the package on ``inputs``; or say why it cannot.

    Returns:
        ``(build, outputs, median_us, note, command)``: outputs and medians by batch
        size and the command that ran the program, or ``None, None``, the note printed
        instead of the C++ column and ``None``.
    """
    cpp = build_runner(cuda=device.type == "cuda")
    if cpp.executable is None:
        note = f"C++ column skipped: the runner could not be built: {cpp.reason}"
        print(f"\n5. {note}")
        return cpp, None, None, note, None
    outs, results, stdout, command = run_cpp(cpp.executable, package, list(inputs.values()), io_dir,
                                             device=device, threads=threads, iters=iters)
    # the executable lives in the build cache (its path and the whole command are in the results)
    shown = [cpp.executable.name, *command[1:]]
    print(f"\n5. C++ runner ({CPP_SOURCE.name}, built against this torch), run as\n   {shlex.join(shown)}"
          "\n   printed:")
    print("   " + stdout.strip().replace("\n", "\n   "))
    return (cpp, dict(zip(inputs, outs, strict=True)),
            {b: r.median_us for b, r in zip(inputs, results, strict=True)}, None, command)


# %% [markdown]
# ## 6. Latency
#
# Each cell is the median of `--iters` calls timed one by one (3 warm-up calls
# first), in Python with `time.perf_counter` and in C++ with `std::chrono`, both
# with the same number of threads. Small batches show the fixed cost of a call:
# eager PyTorch dispatches every operator from Python, the package runs one C++
# function. Large batches show the kernels themselves.

# %%
def latency_rows(batches: list[int], runtimes: dict[str, object], x_val: torch.Tensor, iters: int,
                 device: torch.device, cpp_us: dict[int, float] | None) -> list[dict]:
    """One row per batch size: median microseconds per call of each runtime."""
    rows = []
    for b in batches:
        x = example_batch(x_val, b)
        row: dict = {"batch": b}
        with torch.inference_mode():
            for name, fn in runtimes.items():
                row[f"{name} us"] = median_us(lambda fn=fn, x=x: fn(x), iters, device=device)
        row["AOTI-C++ us"] = None if cpp_us is None else cpp_us[b]
        rows.append(row)
    return rows


# %% [markdown]
# ## Command line
#
# `main` runs the six steps and returns the measured figures; `--dry-run` skips the
# training and uses two batch sizes and a few timed calls, so the course's tests
# run the whole lab in seconds (the package comes from the cache after the first
# run). Bad option values stop with a usage line naming the option (exit status 2).

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(
        description="Lab 8.1: export a digits CNN, package it with AOTInductor, run it from Python and "
                    "C++, and compare latency with eager PyTorch.")
    p.add_argument("--epochs", type=positive_int, default=8,
                   help="training epochs on the digits (the dry run does not train) (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=3e-3,
                   help="Adam's learning rate (default: %(default)s)")
    p.add_argument("--width", type=positive_int, default=16,
                   help="channels of the first convolution (default: %(default)s)")
    p.add_argument("--batch-sizes", type=int_list(minimum=1), default=[1, 32, 256],
                   help="comma-separated batch sizes to time; the dry run keeps the first two "
                        "(default: 1,32,256)")
    p.add_argument("--max-batch", type=int_at_least(2, "an integer >= 2 (the example batch is 2 or more)"),
                   default=1024, help="the largest batch the package accepts (default: %(default)s)")
    p.add_argument("--iters", type=positive_int, default=200,
                   help="timed calls per runtime and batch size; the dry run makes 5 (default: %(default)s)")
    p.add_argument("--threads", type=non_negative_int, default=1,
                   help="intra-op threads of Python and of the C++ program, set before compiling; "
                        "0 keeps torch's choice (default: %(default)s)")
    p.add_argument("--torch-compile", action="store_true",
                   help="also time torch.compile(model), one more Inductor compile (default: %(default)s)")
    p.add_argument("--rebuild", action="store_true",
                   help="compile the package even when the same one is in the cache (default: %(default)s)")
    add_standard_options(p, device="where the model runs and the package is compiled for",
                         out_dir=f"write {RESULTS}.json, {FIGURE} and the package {PACKAGE} here",
                         without_out_dir="a temporary folder, removed at the end",
                         dry_run="no training, two batch sizes, 5 timed calls: a quick check")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the lab and return its figures (see the tables it prints)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)  # bad values: a usage error (exit status 2)
    if args.dry_run:
        args.batch_sizes, args.iters = args.batch_sizes[:2], 5
    if max(args.batch_sizes) > args.max_batch:
        parser.error(f"--batch-sizes: {max(args.batch_sizes)} is above --max-batch {args.max_batch}, the "
                     "largest batch the package will accept; raise --max-batch")
    problem = inductor_compiler_problem()
    if problem is not None:  # no package without a compiler: say so before creating anything
        parser.exit(1, f"{parser.prog}: cannot run Lab 8.1: {problem}\n")
    if args.threads:
        torch.set_num_threads(args.threads)
    with guard_run("Lab 8.1", args.out_dir):  # Ctrl-C: a message and exit status 130
        if args.out_dir is not None:
            return _run(args, device, Path(args.out_dir))
        tmp = Path(tempfile.mkdtemp(prefix="lab081-"))
        try:
            return _run(args, device, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(args: argparse.Namespace, device: torch.device, out: Path) -> dict:
    """The body of :func:`main`, with the options checked; files go to ``out``."""
    torch.manual_seed(args.seed)
    threads = torch.get_num_threads()
    version = torch.__version__.split("+")[0]  # 2.14.1, without the wheel's +cpu / +cu130
    print(f"device: {device_label(device)} · torch {version} · {os.cpu_count()} CPU cores · "
          f"{threads} torch threads")
    tol = 1e-3 if device.type == "cuda" else 1e-4

    # 1. the model
    x_train, y_train, x_val, y_val = digits_data(device, args.seed)
    model = DigitsCNN(args.width).to(device)
    start = time.perf_counter()
    epochs = 0 if args.dry_run else args.epochs
    losses = train_digits(model, x_train, y_train, epochs, lr=args.lr, seed=args.seed)
    model.eval()
    with torch.inference_mode():
        eager_val = model(x_val)
    acc = accuracy(eager_val, y_val)
    print(f"\n1. model: {sum(p.numel() for p in model.parameters())} parameters, "
          + (f"{epochs} epochs in {time.perf_counter() - start:.1f} s, final loss {losses[-1]:.3f}, "
             if epochs else "untrained (dry run), ")
          + f"validation accuracy {acc:.3f} on {len(y_val)} images")

    # 2. export
    start = time.perf_counter()
    ep = export_dynamic_batch(model, example_batch(x_val, 4), max_batch=args.max_batch)
    export_s = time.perf_counter() - start
    ops = sorted({str(n.target) for n in ep.graph.nodes if n.op == "call_function"})
    user_inputs = ep.graph_signature.user_inputs
    x_node = next(n for n in ep.graph.nodes if n.op == "placeholder" and n.name in user_inputs)
    batch_dim = x_node.meta["val"].shape[0]  # a symbol, e.g. s77, with its range below
    print(f"\n2. torch.export in {export_s:.2f} s: {len(ops)} distinct operators; the input's batch is "
          f"{type(batch_dim).__name__} in {ep.range_constraints[batch_dim.node.expr]}")

    # 3. compile and package
    out.mkdir(parents=True, exist_ok=True)
    pkg = compile_package(ep, out / PACKAGE, device, reuse=not args.rebuild)
    # the same line whether this run compiled the package or copied it from the cache:
    # results["package"]["cached"] says which
    print(f"\n3. AOTInductor package {pkg.path} ({pkg.size_bytes / 1e6:.2f} MB), compiled in "
          f"{pkg.compile_s:.1f} s")

    # 4. Python
    runner = torch._inductor.aoti_load_package(str(pkg.path))
    inputs = {b: example_batch(x_val, b) for b in args.batch_sizes}
    with torch.inference_mode():
        eager_out = {b: model(x) for b, x in inputs.items()}
        py_out = {b: runner(x) for b, x in inputs.items()}
        py_val = runner(x_val)
    agree_py = int((py_val.argmax(1) == eager_val.argmax(1)).sum())
    print(f"\n4. aoti_load_package: predictions agree with eager on {agree_py}/{len(y_val)} validation "
          f"images, max |diff| {max_abs_diff(eager_val, py_val):.1e}")

    # 5. C++
    cpp, cpp_out, cpp_us, cpp_note, cpp_command = cpp_step(device, pkg.path, inputs, out / "cpp_io", threads,
                                                           args.iters)

    parity = [parity_row(b, eager_out[b], py_out[b], None if cpp_out is None else cpp_out[b], tol)
              for b in args.batch_sizes]
    print(f"\nparity against eager (tolerance {tol:g}):\n" + format_table(parity, floatfmt=".1e"))
    parity_ok = all(r["ok"] for r in parity)
    if not parity_ok:
        print(f"PARITY FAILED: an output differs from eager by more than {tol:g}")

    # 6. latency
    runtimes: dict[str, object] = {"eager": model, "AOTI-Python": runner}
    compile_first_s = None
    if args.torch_compile:
        compiled = torch.compile(model)
        start = time.perf_counter()
        with torch.inference_mode():
            for x in inputs.values():
                compiled(x)  # compiles (and recompiles for a new batch size, then as dynamic)
        compile_first_s = time.perf_counter() - start
        runtimes = {"eager": model, "torch.compile": compiled, "AOTI-Python": runner}
    rows = latency_rows(args.batch_sizes, runtimes, x_val, args.iters, device, cpp_us)
    print(f"\n6. latency, median µs per call over {args.iters} calls ({threads} threads)\n"
          + format_table(rows, floatfmt=".1f"))
    summary = {"export s": export_s, "AOTI compile s": pkg.compile_s, "package MB": pkg.size_bytes / 1e6}
    if compile_first_s is not None:
        summary["torch.compile first calls s"] = compile_first_s
    print(format_table([summary], floatfmt=".2f"))

    fig = plot_latency(rows, out / FIGURE,
                       title=f"digits CNN on {device_label(device)}, {threads} thread(s), torch "
                             f"{torch.__version__}",
                       note=None if cpp_note is None else "AOTI-C++: not built here (see the results)")
    import sys

    if "ipykernel" not in sys.modules:  # a notebook shows the figure under the cell
        import matplotlib.pyplot as plt

        plt.close(fig)
    results = {
        "device": device_label(device), "torch": torch.__version__, "cpu_count": os.cpu_count(),
        "threads": threads, "dry_run": args.dry_run, "seed": args.seed, "epochs": epochs,
        "losses": losses, "val_accuracy": acc, "val_images": len(y_val),
        "export_s": export_s, "export_operators": ops,
        "package": {"file": PACKAGE, "compile_s": pkg.compile_s, "cached": pkg.cached,
                    "size_bytes": pkg.size_bytes, "key": pkg.key},
        "cpp": {"available": cpp.executable is not None, "reason": cpp.reason, "build_s": cpp.build_s,
                "cached": cpp.cached, "note": cpp_note, "command": cpp_command,
                "executable": None if cpp.executable is None else str(cpp.executable)},
        "predictions_agree": agree_py, "tolerance": tol, "parity": parity, "parity_ok": parity_ok,
        "latency_us": rows, "iters": args.iters, "torch_compile_first_calls_s": compile_first_s,
    }
    path = write_results(out, RESULTS, results)
    print(f"\nwrote {path}, {out / FIGURE} and {pkg.path}"
          + ("" if cpp_out is None else f"; the C++ runner's inputs and outputs are in {out / 'cpp_io'}"))
    return results


# %%
if __name__ == "__main__":
    main(script_argv())
