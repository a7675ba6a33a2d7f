# %% [markdown]
# # Lab 16: export to ONNX, check parity, benchmark eager vs `torch.compile` vs ONNX Runtime
#
# The seed's stretch goal, "export the model to ONNX", done the way a deployment needs
# it, and measured:
#
# 1. **train** the digits CNN of Lecture 16 (`models.DigitsCNN`) on scikit-learn's
#    real 8×8 handwritten digits;
# 2. **export** it with `torch.onnx.export(..., dynamo=True)` and a dynamic batch
#    dimension, and save the `.onnx` file;
# 3. **parity**: ONNX Runtime against eager PyTorch on every validation digit, at
#    several batch sizes (max |difference| under `--tolerance`, identical labels,
#    identical accuracy);
# 4. **benchmark** eager PyTorch (`inference_mode`), `torch.compile` (Inductor,
#    `dynamic=False`: one specialised graph per batch size) and ONNX Runtime, all on
#    `--threads` threads, by batch size: median latency per call, throughput, speed-up
#    over eager; a table and a plot.
#
# ```
# python lab_16_onnx_benchmark.py --help
# python lab_16_onnx_benchmark.py --out-dir results/
# python lab_16_onnx_benchmark.py --batch-sizes 1,32,512 --threads 2 --out-dir results/
# ```

# %%
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from tutorials.core.cli import (
    add_standard_options,
    guard_run,
    int_list,
    parse_args_and_device,
    positive_float,
    positive_int,
    script_argv,
    write_results,
)
from tutorials.core.reporting import format_table
from tutorials.core.runtime import device_label
from tutorials.lec16_onnx_serving.models import digits_tensors, train_digits_cnn
from tutorials.lec16_onnx_serving.onnx_tools import ort_session
from tutorials.lec16_onnx_serving.speed import latency_rows, plot_latency, speedups

RESULTS = "lab_16_results"
FIGURE = "lab_16_latency.png"
ONNX_FILE = "lab_16_digits_cnn.onnx"

# %% [markdown]
# ## 1–2. Train and export
#
# The export marks dimension 0 as `batch`; everything else is fixed by the example
# (1 channel, 8×8 pixels). `verbose=False` keeps the exporter's progress lines out of
# the lab's output.

# %%
def export_model(model: torch.nn.Module, example: torch.Tensor, path: Path) -> dict:
    """Export ``model`` with a dynamic batch to ``path``; return what the file holds."""
    start = time.perf_counter()
    program = torch.onnx.export(model, (example,), dynamo=True, verbose=False,
                                dynamic_shapes=({0: "batch"},))
    program.save(path)
    proto = program.model_proto
    return {"path": str(path), "opset": proto.opset_import[0].version,
            "nodes": [n.op_type for n in proto.graph.node], "bytes": path.stat().st_size,
            "export_s": time.perf_counter() - start}


# %% [markdown]
# ## 3. Parity
#
# Float results agree to rounding, not bit for bit (the kernels sum in different
# orders), so the criterion is a tolerance on the logits and equality of the labels.

# %%
def parity(model: torch.nn.Module, session: ort.InferenceSession, x: torch.Tensor, y: torch.Tensor,
           batch_sizes: list[int], tolerance: float) -> list[dict]:
    """ONNX Runtime vs eager on the first ``b`` images of ``x``, for each batch size ``b`` and for all."""
    rows = []
    for b in sorted(set([*batch_sizes, len(x)])):
        if b > len(x):
            continue
        xb = x[:b]
        with torch.inference_mode():
            want = model(xb).numpy()
        got = session.run(None, {"x": xb.numpy()})[0]
        diff = float(np.abs(got - want).max())
        rows.append({"batch": b, "max abs diff": diff, "within tolerance": diff <= tolerance,
                     "same labels": bool((got.argmax(1) == want.argmax(1)).all()),
                     "accuracy": float((got.argmax(1) == y[:b].numpy()).mean())})
    return rows


# %% [markdown]
# ## 4. The benchmark
#
# Each runner takes a NumPy batch. `torch.compile` compiles on its first call at each
# new batch size (with `dynamic=False` it never generalises to a symbolic batch), so
# the warm-up call of `latency_rows` absorbs the compilation, and the lab reports the
# compilation time separately.

# %%
def make_runners(model: torch.nn.Module, session: ort.InferenceSession,
                 compiled: torch.nn.Module | None) -> dict:
    """The callables to time: ``{name: fn(numpy batch)}``."""
    def eager(x: np.ndarray) -> torch.Tensor:
        with torch.inference_mode():
            return model(torch.from_numpy(x))

    runners = {"eager": eager}
    if compiled is not None:
        def compiled_fn(x: np.ndarray) -> torch.Tensor:
            with torch.inference_mode():
                return compiled(torch.from_numpy(x))

        runners["torch.compile"] = compiled_fn
    runners["onnxruntime"] = lambda x: session.run(None, {"x": x})[0]
    return runners


def compile_times(compiled: torch.nn.Module, batch_sizes: list[int]) -> dict[int, float]:
    """Seconds of the first call of ``compiled`` at each batch size (the compilation)."""
    seconds = {}
    for b in batch_sizes:
        start = time.perf_counter()
        with torch.inference_mode():
            compiled(torch.zeros(b, 1, 8, 8))
        seconds[b] = time.perf_counter() - start
    return seconds


# %% [markdown]
# ## Command line
#
# `--dry-run` trains one epoch, times batch sizes 1 and 16 briefly and skips
# `torch.compile` (its first compilation takes longer than the whole dry run);
# `--no-compile` skips it in a full run too.

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(description="Lab 16: export the digits CNN to ONNX, check parity, and "
                                            "benchmark eager vs torch.compile vs ONNX Runtime by batch size.")
    p.add_argument("--epochs", type=positive_int, default=4, help="training epochs (default: %(default)s)")
    p.add_argument("--batch-sizes", type=int_list(minimum=1), default=[1, 4, 16, 64, 256],
                   help="comma-separated batch sizes to benchmark (default: 1,4,16,64,256)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="threads of eager PyTorch, torch.compile and ONNX Runtime alike "
                        "(default: %(default)s)")
    p.add_argument("--min-run-time", type=positive_float, default=0.3,
                   help="seconds of timed calls per runner and batch size (default: %(default)s)")
    p.add_argument("--tolerance", type=positive_float, default=1e-4,
                   help="largest |ORT - eager| accepted on a logit (default: %(default)s)")
    p.add_argument("--no-compile", action="store_true",
                   help="skip torch.compile (default: %(default)s)")
    add_standard_options(p, device="where to run; ONNX Runtime's CPU provider needs cpu",
                         out_dir=f"write {RESULTS}.json, {FIGURE} and {ONNX_FILE} here",
                         dry_run="one epoch, batch sizes 1 and 16, short timings, no torch.compile")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the lab and return its figures (see the tables it prints)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)
    if device.type != "cpu":
        parser.error(f"--device {args.device}: this lab benchmarks ONNX Runtime's CPU execution provider; "
                     "use --device cpu (the CUDA provider needs the onnxruntime-gpu package)")
    if args.dry_run:
        args.epochs, args.batch_sizes, args.min_run_time, args.no_compile = 1, [1, 16], 0.02, True
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        with guard_run("Lab 16", args.out_dir):
            return _run(args)
    finally:
        torch.set_num_threads(previous_threads)


def _run(args: argparse.Namespace) -> dict:
    import tempfile

    start = time.perf_counter()
    # torch's version without its build tag (+cpu, +cu130): the same line on every machine
    version = torch.__version__.split("+")[0]
    print(f"device: {device_label(torch.device('cpu'))} · torch {version} · onnxruntime "
          f"{ort.__version__} · {os.cpu_count()} CPU cores · {args.threads} thread(s)")
    tmp = tempfile.TemporaryDirectory(prefix="lab16-") if args.out_dir is None else None
    out = Path(args.out_dir if args.out_dir is not None else tmp.name)
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _measure(args, out)
    finally:
        if tmp is not None:
            tmp.cleanup()
        print(f"total time: {time.perf_counter() - start:.1f} s")


def _measure(args: argparse.Namespace, out: Path) -> dict:
    # 1. train
    model, acc = train_digits_cnn(epochs=args.epochs, seed=args.seed)
    _, _, x_val, y_val = digits_tensors()
    print(f"\n1. trained DigitsCNN for {args.epochs} epoch(s): validation accuracy {acc:.4f}")

    # 2. export
    exported = export_model(model, x_val[:2], out / ONNX_FILE)
    print(f"2. exported: opset {exported['opset']}, {len(exported['nodes'])} nodes, "
          f"{exported['bytes'] / 1024:.0f} KiB, in {exported['export_s']:.1f} s")

    # 3. parity
    session = ort_session(out / ONNX_FILE, threads=args.threads)
    par = parity(model, session, x_val, y_val, args.batch_sizes, args.tolerance)
    print("\n3. parity, ONNX Runtime vs eager, on the validation digits\n"
          + format_table(par, floatfmt=".2g"))
    parity_ok = all(r["within tolerance"] and r["same labels"] for r in par)

    # 4. benchmark
    compiled, compile_s = None, {}
    if not args.no_compile:
        compiled = torch.compile(model, dynamic=False)
        compile_s = compile_times(compiled, args.batch_sizes)
        print("\ntorch.compile: first call (compilation) per batch size: "
              + ", ".join(f"{b}: {s:.1f} s" for b, s in compile_s.items()))
    runners = make_runners(model, session, compiled)
    rows = latency_rows(runners, args.batch_sizes, lambda b: _batch(x_val, b), min_run_time=args.min_run_time)
    ratio = speedups(rows, baseline="eager")
    table = [{"batch": r["batch"], "runner": r["runner"], "ms / call": r["ms"],
              "samples / s": r["samples_per_s"], "speed-up vs eager": ratio[r["runner"], r["batch"]]}
             for r in rows]
    print(f"\n4. latency by batch size ({args.threads} thread(s), median of repeated calls)\n"
          + format_table(table, floatfmt=".3g"))
    plot_latency(rows, out / FIGURE, f"DigitsCNN, {args.threads} CPU thread(s)")

    results = {
        "torch": torch.__version__, "onnxruntime": ort.__version__, "dry_run": args.dry_run,
        "config": {k: getattr(args, k) for k in ("epochs", "batch_sizes", "threads", "min_run_time",
                                                  "tolerance", "no_compile", "seed")},
        "val_accuracy": acc, "export": exported, "parity": par, "parity_ok": parity_ok,
        "compile_seconds": {str(b): s for b, s in compile_s.items()},
        "latency": rows, "table": table,
    }
    path = write_results(out if args.out_dir is not None else None, RESULTS, results)
    if path is not None:
        print(f"\nwrote {path}, {out / FIGURE} and {out / ONNX_FILE}")
    return results


def _batch(x: torch.Tensor, b: int) -> np.ndarray:
    """``b`` validation images as a float32 array (repeated when ``b`` exceeds the 359 there are)."""
    reps = -(-b // len(x))
    return x.repeat(reps, 1, 1, 1)[:b].numpy()


# %%
if __name__ == "__main__":
    # as a notebook (the site's build): three batch sizes, to keep the compilations to three
    main(script_argv(notebook_default=["--batch-sizes", "1,16,256", "--min-run-time", "0.1"]))

# %% [markdown]
# ## What to look for
#
# * **Parity**: differences around 1e-6 on logits of size ~10, the same labels and the
#   same accuracy at every batch size. A larger difference is a bug (a layer in
#   training mode, a wrong opset conversion), not rounding.
# * **Small batches**: eager PyTorch pays Python and dispatcher overhead per module per
#   call; ONNX Runtime's C++ session and `torch.compile`'s generated code do not, and
#   win by several times.
# * **Large batches**: arithmetic dominates and the three come closer; the
#   compiled and ONNX Runtime graphs still fuse Conv+ReLU and avoid intermediate
#   tensors.
# * **The price of `torch.compile`**: seconds of compilation per new batch size with
#   `dynamic=False` (try `dynamic=True`: one compilation, slightly slower kernels), paid
#   at every process start unless the Inductor cache is warm. ONNX Runtime pays its
#   graph optimization once per session, in milliseconds, and needs no PyTorch.
# * Try `--threads 2`: who gains from a second thread, and at which batch size?
