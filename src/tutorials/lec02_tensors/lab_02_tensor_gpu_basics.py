# %% [markdown]
# # Lab: tensor & GPU basics
#
# Where does a tensor live, what does it cost to move it, and when is a GPU
# faster? This lab measures it on the machine you run it on, in six parts:
#
# 1. **Creation on each device**: the same tensors created on the CPU and, when
#    there is one, directly on the GPU (`device=`) or on the CPU and then moved.
# 2. **Transfer overhead**: host→device and device→host copies from pageable and
#    pinned memory, by size. Without CUDA the lab measures host-to-host copies
#    instead and says so.
# 3. **Matrix multiplication**: CPU vs GPU throughput in TFLOP/s across sizes,
#    as a table and a plot.
# 4. **Channels-last**: one convolution timed with NCHW and NHWC inputs.
# 5. **Allocated vs reserved memory**: the CUDA caching allocator at work
#    (CUDA only; the lab says why it is not measured on a CPU).
# 6. **In-place operations**: new memory and time of `a + b`, `torch.add(...,
#    out=)` and `a.add_(b)`.
#
# Every timing uses `tutorials.core.benchmark.time_callable` (`torch.utils.benchmark`:
# it synchronizes CUDA around the timed region; we report the median and the
# interquartile range). Inputs are random, never all zeros: some hardware and
# kernels are faster on zeros, which would flatter the result.
#
# ```
# python lab_02_tensor_gpu_basics.py --help
# python lab_02_tensor_gpu_basics.py --device auto --out-dir results/
# ```
#
# Lecture 2 explains strides, pinned memory and channels-last. Built with
# PyTorch ≥ 2.4; nothing is downloaded.

# %%
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from tutorials.core.benchmark import import_notes, time_callable
from tutorials.core.cli import (
    add_standard_options,
    guard_run,
    int_list,
    non_negative_int,
    parse_args_and_device,
    positive_float,
    refuse_fp16_off_cuda,
    script_argv,
    write_results,
)
from tutorials.core.reporting import format_table
from tutorials.core.runtime import device_label

AMP_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}
NO_CUDA_ALLOCATOR = (
    "not measured: memory_allocated/memory_reserved describe PyTorch's CUDA caching "
    "allocator; CPU tensors come from the system allocator, with no cache and no "
    "such counters"
)


# %% [markdown]
# ## 1. Creating tensors on each device
#
# `torch.randn(n, device="cuda")` fills the tensor on the GPU; `torch.randn(n).to("cuda")`
# fills it on the CPU, then copies it over the bus. `torch.tensor(data)` always
# copies its input; `torch.from_numpy` shares the array's memory (CPU only).

# %%
def creation(devices: list[torch.device], n: int, min_run_time: float) -> list[dict]:
    """Time creating an ``n``-element float32 tensor in several ways on each device."""
    rows = []
    for dev in devices:
        ways = {
            "torch.empty": lambda d=dev: torch.empty(n, device=d),
            "torch.zeros": lambda d=dev: torch.zeros(n, device=d),
            "torch.randn": lambda d=dev: torch.randn(n, device=d),
            "torch.arange": lambda d=dev: torch.arange(n, device=d, dtype=torch.float32),
        }
        if dev.type != "cpu":
            ways["randn on CPU, then .to()"] = lambda d=dev: torch.randn(n).to(d)
        for how, fn in ways.items():
            t = fn()
            timing = time_callable(fn, label=how, min_run_time=min_run_time)
            rows.append({
                "device": device_label(dev),
                "how": how,
                "on": str(t.device),
                "MB": t.nbytes / 1e6,
                "median µs": timing.median_us,
                "IQR µs": timing.iqr_us,
            })
    return rows


# %% [markdown]
# ## 2. Transfer overhead, by size
#
# A copy costs a fixed latency plus bytes / bandwidth, so small copies are
# latency-bound and only large ones reach the bus's bandwidth. From pageable
# memory the driver stages the data through a pinned buffer; from pinned memory
# the GPU reads it directly. The source is allocated (and pinned) once, outside
# the timed region: pinning itself is expensive.

# %%
def transfers(device: torch.device, sizes_bytes: list[int], min_run_time: float, seed: int) -> dict:
    """Bandwidth of host↔device copies (CUDA) or of host-to-host copies (no CUDA)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    if device.type != "cuda":
        note = ("no CUDA device: pinned vs pageable host↔device copies need a GPU; "
                "measured host-to-host copies (dst.copy_(src)) instead")
        for nbytes in sizes_bytes:
            src = torch.randn(nbytes // 4, generator=g)
            dst = torch.empty_like(src)
            t = time_callable(dst.copy_, src, label="host copy", min_run_time=min_run_time)
            rows.append({"direction": "host→host", "memory": "pageable", "bytes": src.nbytes,
                         "median µs": t.median_us, "IQR µs": t.iqr_us,
                         "GB/s": src.nbytes / t.median_us / 1e3})
        return {"ran_on": "CPU", "note": note, "rows": rows}
    for nbytes in sizes_bytes:
        base = torch.randn(nbytes // 4, generator=g)
        on_gpu = base.to(device)
        for memory in ("pageable", "pinned"):
            host = base.pin_memory() if memory == "pinned" else base.clone()
            back = torch.empty(host.shape, pin_memory=memory == "pinned")
            cases = {
                "host→device": lambda h=host: h.to(device, non_blocking=True),
                "device→host": lambda b=back, g=on_gpu: b.copy_(g, non_blocking=True),
            }
            for direction, fn in cases.items():
                t = time_callable(fn, label=direction, min_run_time=min_run_time)
                rows.append({"direction": direction, "memory": memory, "bytes": host.nbytes,
                             "median µs": t.median_us, "IQR µs": t.iqr_us,
                             "GB/s": host.nbytes / t.median_us / 1e3})
    return {"ran_on": device_label(device), "note": "", "rows": rows}


# %% [markdown]
# ## 3. Matrix multiplication: CPU vs GPU
#
# An n×n by n×n product does 2n³ floating-point operations, so
# TFLOP/s = 2n³ / seconds / 10¹². Small products are dominated by fixed
# overheads (on the GPU, launching the kernel); large ones show
# the hardware's arithmetic throughput. On CUDA we also run the `--amp` dtype,
# which uses tensor cores.

# %%
def matmul_benchmark(devices: list[torch.device], sizes: list[int], amp: str,
                     min_run_time: float, seed: int) -> list[dict]:
    """TFLOP/s of ``a @ b`` for each device, dtype and size."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for dev in devices:
        dtypes = [torch.float32]
        if dev.type == "cuda" and AMP_DTYPES[amp] is not None:
            dtypes.append(AMP_DTYPES[amp])
        for dtype in dtypes:
            for n in sizes:
                a = torch.randn(n, n, generator=g).to(dev, dtype)
                b = torch.randn(n, n, generator=g).to(dev, dtype)
                t = time_callable(torch.mm, a, b, label=f"mm {n}", min_run_time=min_run_time)
                rows.append({"device": device_label(dev), "dtype": str(dtype).removeprefix("torch."),
                             "n": n, "median ms": t.median_us / 1e3, "IQR ms": t.iqr_us / 1e3,
                             "TFLOP/s": 2 * n**3 / (t.median_us * 1e-6) / 1e12})
    return rows


def plot_matmul(rows: list[dict], path: Path) -> Path:
    """Plot TFLOP/s against matrix size, one line per device and dtype."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for key in dict.fromkeys((r["device"], r["dtype"]) for r in rows):
        pts = [r for r in rows if (r["device"], r["dtype"]) == key]
        ax.plot([r["n"] for r in pts], [r["TFLOP/s"] for r in pts], "o-", label=" ".join(key))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    sizes = sorted({r["n"] for r in rows})
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.set_xlabel("matrix size n (n×n @ n×n)")
    ax.set_ylabel("TFLOP/s (median)")
    ax.set_title("torch.mm throughput")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_transfers(result: dict, path: Path) -> Path:
    """Plot copy bandwidth against size, one line per direction and memory kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    rows = result["rows"]
    for key in dict.fromkeys((r["direction"], r["memory"]) for r in rows):
        pts = [r for r in rows if (r["direction"], r["memory"]) == key]
        ax.plot([r["bytes"] for r in pts], [r["GB/s"] for r in pts], "o-", label=" ".join(key))
    ax.set_xscale("log", base=2)
    ax.set_xlabel("bytes copied")
    ax.set_ylabel("GB/s (median)")
    ax.set_title(f"copy bandwidth on {result['ran_on']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# %% [markdown]
# ## 4. Channels-last: one convolution in both memory formats
#
# The same 3×3 convolution, weights and input converted with
# `.to(memory_format=torch.channels_last)`. On CUDA the `--amp` dtype is timed
# too: tensor-core convolutions are where NHWC pays most.

# %%
def channels_last_benchmark(device: torch.device, batch: int, channels: int, size: int,
                            amp: str, min_run_time: float, seed: int) -> list[dict]:
    """Median time of a 3×3 convolution with NCHW and NHWC tensors."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, size, size, generator=g).to(device)
    w = (torch.randn(channels, channels, 3, 3, generator=g) * 0.05).to(device)
    dtypes = [torch.float32]
    if device.type == "cuda" and AMP_DTYPES[amp] is not None:
        dtypes.append(AMP_DTYPES[amp])
    rows = []
    for dtype in dtypes:
        times = {}
        for fmt in (torch.contiguous_format, torch.channels_last):
            xi = x.to(dtype).contiguous(memory_format=fmt)
            wi = w.to(dtype).contiguous(memory_format=fmt)
            with torch.no_grad():
                times[fmt] = time_callable(F.conv2d, xi, wi, None, 1, 1, label=str(fmt),
                                           min_run_time=min_run_time)
        base = times[torch.contiguous_format].median_us
        for fmt, name in ((torch.contiguous_format, "NCHW"), (torch.channels_last, "NHWC")):
            rows.append({"device": device_label(device), "dtype": str(dtype).removeprefix("torch."),
                         "format": name, "median ms": times[fmt].median_us / 1e3,
                         "IQR ms": times[fmt].iqr_us / 1e3,
                         "speed-up vs NCHW": base / times[fmt].median_us})
    return rows


# %% [markdown]
# ## 5. Allocated vs reserved memory (CUDA)
#
# `torch.cuda.memory_allocated()` counts bytes in live tensors;
# `torch.cuda.memory_reserved()` counts what the caching allocator holds from the
# driver. After `del`, allocated drops and reserved does not: the block is kept
# for the next tensor of a similar size, which makes allocation nearly free.
# `torch.cuda.empty_cache()` hands cached blocks back (useful only when another
# process needs the memory).

# %%
def allocator_steps(device: torch.device, n: int) -> dict:
    """Allocated and reserved MB after each step of allocate, free, reuse, empty_cache."""
    if device.type != "cuda":
        return {"measured": False, "reason": NO_CUDA_ALLOCATOR, "rows": []}
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    rows = []

    def record(step: str) -> None:
        torch.cuda.synchronize(device)
        rows.append({"step": step,
                     "allocated MB": torch.cuda.memory_allocated(device) / 1e6,
                     "reserved MB": torch.cuda.memory_reserved(device) / 1e6})

    record("start")
    a = torch.randn(n, device=device)
    record(f"a = randn({n:,})")
    del a
    record("del a")
    b = torch.randn(n, device=device)
    record("b = randn(same size): reuses the cached block")
    del b
    torch.cuda.empty_cache()
    record("del b; empty_cache()")
    return {"measured": True, "reason": "", "rows": rows}


# %% [markdown]
# ## 6. In-place operations save memory
#
# `a + b` allocates its result; `torch.add(a, b, out=c)` writes into a buffer you
# own; `a.add_(b)` writes into `a`. We check which one allocated (a new
# `data_ptr`), time each, and on CUDA read the allocator's peak.

# %%
def inplace_comparison(device: torch.device, n: int, min_run_time: float, seed: int) -> list[dict]:
    """New bytes, time and (CUDA) peak memory of out-of-place, out= and in-place add."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, generator=g).to(device)
    b = torch.randn(n, generator=g).to(device)
    c = torch.empty_like(a)
    ops = {
        "c = a + b": lambda: a + b,
        "torch.add(a, b, out=c)": lambda: torch.add(a, b, out=c),
        "a.add_(b)": lambda: a.add_(b),
    }
    rows = []
    for name, fn in ops.items():
        known = {a.data_ptr(), b.data_ptr(), c.data_ptr()}
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            start = torch.cuda.memory_allocated(device)
        result = fn()
        row = {"op": name, "new tensor": result.data_ptr() not in known,
               "new MB": (result.nbytes if result.data_ptr() not in known else 0) / 1e6}
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            row["CUDA peak +MB"] = (torch.cuda.max_memory_allocated(device) - start) / 1e6
        del result
        t = time_callable(fn, label=name, min_run_time=min_run_time)
        row |= {"median µs": t.median_us, "IQR µs": t.iqr_us}
        rows.append(row)
    return rows


# %% [markdown]
# ## Command line
#
# `main` runs the six parts and returns the measured figures; `--dry-run` makes
# every part tiny so the course's test suite can run the whole lab in seconds.
# Bad option values (`--matmul-sizes 0`, `--transfer-sizes 1001`, `--cpu-threads -1`)
# stop with a usage line and a message naming the option (exit status 2).

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(
        description="Lab: tensor & GPU basics (creation, transfers, matmul, memory)."
    )
    p.add_argument("--matmul-sizes", type=int_list(minimum=1), default=[64, 128, 256, 512, 1024],
                   help="comma-separated n for the n×n matmul (default: 64,128,256,512,1024; "
                        "on CUDA 2048,4096 are added)")
    p.add_argument("--transfer-sizes", type=int_list(minimum=4, multiple_of=4),
                   default=[2**12, 2**16, 2**20, 2**24, 2**26],
                   help="comma-separated copy sizes in bytes, multiples of 4 "
                        "(default: 4 KiB to 64 MiB)")
    p.add_argument("--amp", choices=tuple(AMP_DTYPES), default="bf16",
                   help="extra reduced-precision dtype for the CUDA matmul and convolution; "
                        "fp16 needs CUDA (default: %(default)s)")
    p.add_argument("--min-run-time", type=positive_float, default=0.2,
                   help="seconds of timing per measurement (default: %(default)s)")
    p.add_argument("--cpu-threads", type=non_negative_int, default=0,
                   help="CPU threads for the timings, 0 for torch's current setting; 1 gives "
                        "steadier numbers on a busy machine (default: %(default)s)")
    add_standard_options(p, device="the accelerator to compare with the CPU",
                         out_dir="write lab_02_tensor_gpu_basics.json and PNG plots here",
                         dry_run="tiny sizes and short timings, for a quick check")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the lab and return its figures (see the tables it prints)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)  # bad values: a usage error (exit status 2)
    refuse_fp16_off_cuda(parser, "--amp", args.amp, device, instead="--amp bf16 or --amp off")
    with guard_run("the tensor & GPU basics lab", args.out_dir):  # Ctrl-C: a message, exit status 130
        return _run(args, device)


def _run(args: argparse.Namespace, device: torch.device) -> dict:
    """The body of :func:`main`, with the options checked."""
    if args.dry_run:
        mm_sizes, tr_sizes, min_run_time = [32, 64], [2**12, 2**16], 0.01
        conv_shape, n_elems = (2, 8, 16), 2**16
    else:
        mm_sizes, tr_sizes, min_run_time = args.matmul_sizes, args.transfer_sizes, args.min_run_time
        conv_shape, n_elems = (8, 64, 56), 2**24
    if args.cpu_threads:
        torch.set_num_threads(args.cpu_threads)
    torch.manual_seed(args.seed)
    devices = [torch.device("cpu")] + ([device] if device.type != "cpu" else [])
    ran = ", ".join(device_label(d) for d in devices)
    for note in import_notes():  # a warning torch logged on import, explained
        print(note)
    print(f"device: {device_label(device)} · torch {torch.__version__} · "
          f"{torch.get_num_threads()} CPU threads · parts run on: {ran}")

    created = creation(devices, n_elems, min_run_time)
    print("\n1. creating a tensor of", f"{n_elems:,} float32\n" + format_table(created, ".2f"))

    moved = transfers(device, tr_sizes, min_run_time, args.seed)
    print(f"\n2. copy bandwidth, on {moved['ran_on']}")
    if moved["note"]:
        print("   note:", moved["note"])
    print(format_table(moved["rows"], ".2f"))

    gpu_sizes = [2048, 4096] if device.type == "cuda" and not args.dry_run else []
    matmul = matmul_benchmark(devices, mm_sizes, args.amp, min_run_time, args.seed)
    if gpu_sizes:
        matmul += matmul_benchmark([device], gpu_sizes, args.amp, min_run_time, args.seed)
    print("\n3. matrix multiplication\n" + format_table(matmul, ".3g"))

    conv = []
    for dev in devices:
        conv += channels_last_benchmark(dev, *conv_shape, args.amp, min_run_time, args.seed)
    b, c, s = conv_shape
    print(f"\n4. 3×3 convolution, input {b}×{c}×{s}×{s}\n" + format_table(conv, ".3g"))

    allocator = allocator_steps(device, n_elems)
    if allocator["measured"]:
        print("\n5. CUDA caching allocator\n" + format_table(allocator["rows"], ".1f"))
    else:
        print(f"\n5. allocated vs reserved: {allocator['reason']}")

    inplace = inplace_comparison(device, n_elems, min_run_time, args.seed)
    print(f"\n6. a + b for {n_elems:,} float32 on {device_label(device)}\n"
          + format_table(inplace, ".2f"))

    results = {
        "device": device_label(device),
        "ran_on": [device_label(d) for d in devices],
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "dry_run": args.dry_run,
        "creation": created,
        "transfers": moved,
        "matmul": matmul,
        "channels_last": conv,
        "allocator": allocator,
        "inplace": inplace,
        "plots": [],
    }
    if args.out_dir is not None:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        results["plots"] = [
            str(plot_matmul(matmul, out / "lab_tensor_gpu_basics_matmul.png")),
            str(plot_transfers(moved, out / "lab_tensor_gpu_basics_transfers.png")),
        ]
    path = write_results(args.out_dir, "lab_02_tensor_gpu_basics", results)
    if path is not None:
        print(f"\nresults written to {path}")
    return results


# %%
if __name__ == "__main__":
    main(script_argv())

# %% [markdown]
# ## What to look for, and what to try
#
# * Table 2 (with a GPU): compare pinned with pageable at each size, and find
#   the size where the bandwidth stops growing; below it the fixed cost per copy
#   dominates, which is why small transfers are worth batching together.
# * Table 3: find the size where the GPU overtakes the CPU (below it, launch
#   overhead dominates) and how far ahead it is at the largest size; the
#   reduced-precision rows run on tensor cores. Try
#   `torch.set_float32_matmul_precision("high")` (TF32 for float32 matrix
#   products) and run again.
# * On a busy CPU, run with `--cpu-threads 1`: threads that wait for each other
#   can make small operations look far slower than they are.
# * Table 4: whether NHWC wins depends on the device, the dtype and the shape;
#   measure before converting a model.
# * Table 5: reserved stays up after `del`: that is the cache, not a leak.
# * Table 6: only `a + b` allocates. On a CPU a fresh large allocation also pays
#   for the operating system mapping new pages on first touch; CUDA's caching
#   allocator reuses blocks instead. Change the size and watch the gap change.
