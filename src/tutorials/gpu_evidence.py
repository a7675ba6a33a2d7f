"""Capture the GPU evidence the course pages show: benchmark tables and profiler traces.

One command, run on a CUDA machine with nothing but torch, torchvision, numpy and
matplotlib importable (``PYTHONPATH=src`` is enough)::

    PYTHONPATH=src python -m tutorials.gpu_evidence --out docs/assets/gpu

writes ``results.json`` (every figure with its unit, median and spread, and the
run's metadata: GPU, driver, CUDA and torch versions, date, git commit) and gzip-
compressed Chrome traces under ``traces/``. Timings use CUDA events after warm-up
(or ``time.perf_counter`` after ``synchronize`` off CUDA) on random, never all-zero,
inputs; medians are reported.

On a machine without CUDA the same code runs at a tiny size (``--quick``) so the
test suite can exercise it; :func:`validate` then rejects the artifacts, because
they do not come from a CUDA device: CPU figures are never committed as GPU ones.

Examples:
    >>> r = measure(lambda: None, warmup=1, repeats=3, device=torch.device("cpu"))
    >>> sorted(r)
    ['iqr', 'median', 'repeats', 'unit']
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["capture", "measure", "metadata", "validate"]

RESULTS = "results.json"
TRACES = "traces"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(fn: Callable[[], object], *, warmup: int, repeats: int, device: torch.device) -> dict:
    """Median and IQR of ``fn``'s time in milliseconds (CUDA events on CUDA)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()  # read the clock only after the GPU finished
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    q = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    return {"median": statistics.median(times), "iqr": q[2] - q[0], "repeats": repeats, "unit": "ms"}


def metadata(device: torch.device) -> dict[str, str]:
    """What a reader needs to judge the figures: hardware, versions, date, commit."""
    meta = {
        "device_type": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
        or platform.machine(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "none",
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
    }
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True)
        meta["driver"] = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout else "?"
    try:
        meta["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                            cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        meta["git_commit"] = "unknown"
    return meta


def bench_matmul(device: torch.device, sizes: list[int], quick: bool) -> list[dict]:
    """TFLOP/s of an n×n matmul by size and dtype (fp32 with TF32 off, TF32, bf16, fp16)."""
    rows = []
    modes = [("fp32", torch.float32, False), ("tf32", torch.float32, True),
             ("bf16", torch.bfloat16, False), ("fp16", torch.float16, False)]
    if device.type != "cuda":
        modes = [m for m in modes if m[0] in ("fp32", "bf16")]
    previous = torch.backends.cuda.matmul.allow_tf32
    try:
        for name, dtype, tf32 in modes:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            for n in sizes:
                a = torch.randn(n, n, device=device, dtype=dtype)
                b = torch.randn(n, n, device=device, dtype=dtype)
                t = measure(lambda a=a, b=b: a @ b, warmup=2 if quick else 10,
                            repeats=3 if quick else 30, device=device)
                rows.append({"dtype": name, "n": n, "time_ms": t,
                             "tflops": {"median": 2 * n**3 / (t["median"] * 1e-3) / 1e12, "unit": "TFLOP/s"}})
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    return rows


def bench_transfers(device: torch.device, sizes_mb: list[int], quick: bool) -> list[dict]:
    """Host→device and device→host GB/s, pinned vs pageable host memory (CUDA only)."""
    if device.type != "cuda":
        return []
    rows = []
    for mb in sizes_mb:
        n = mb * 2**20 // 4
        gpu = torch.randn(n, device=device)
        for pinned in (False, True):
            host = torch.randn(n).pin_memory() if pinned else torch.randn(n)
            for direction in ("h2d", "d2h"):
                def copy(host=host, direction=direction, gpu=gpu, pinned=pinned):
                    if direction == "h2d":
                        gpu.copy_(host, non_blocking=pinned)
                    else:
                        host.copy_(gpu, non_blocking=pinned)
                t = measure(copy, warmup=2 if quick else 5, repeats=3 if quick else 20, device=device)
                rows.append({"direction": direction, "pinned": pinned, "mb": mb, "time_ms": t,
                             "gbps": {"median": mb * 2**20 / (t["median"] * 1e-3) / 1e9, "unit": "GB/s"}})
    return rows


def bench_activations(device: torch.device, n: int, quick: bool, compile_: bool) -> list[dict]:
    """Forward+backward time of the Lab 2.1.3 Functions vs the built-ins (vs torch.compile)."""
    from tutorials.lec03_autograd.activations import MishFunction, SwishFunction, SwishRecompute

    fns = {"SwishFunction": SwishFunction.apply, "SwishRecompute": SwishRecompute.apply,
           "F.silu": F.silu, "MishFunction": MishFunction.apply, "F.mish": F.mish}
    if compile_:
        fns["compiled swish"] = torch.compile(lambda t: t * torch.sigmoid(t))
    x = torch.randn(n, device=device, requires_grad=True)
    g = torch.randn(n, device=device)
    rows = []
    for name, fn in fns.items():
        t = measure(lambda fn=fn: torch.autograd.grad(fn(x), x, g), warmup=3 if quick else 20,
                    repeats=3 if quick else 50, device=device)
        rows.append({"function": name, "elements": n, "time_ms": t})
    return rows


def bench_amp(device: torch.device, quick: bool, compile_: bool) -> list[dict]:
    """ResNet-18 training steps per precision: time, peak memory, accuracy after fixed steps."""
    import torchvision

    from tutorials.core.datasets import digits_images
    from tutorials.lec07_profiling.amp_bench import bench_train_step, make_scaler, train_step

    train, test = digits_images(size=16 if quick else 64, channels=3)
    if quick:
        test = torch.utils.data.TensorDataset(*(t[:32] for t in test.tensors))
    batch = 8 if quick else 256
    steps = 1 if quick else 60
    modes = ["fp32", "tf32", "bf16", "fp16"] if device.type == "cuda" else ["fp32", "bf16"]
    variants = [(m, False, False) for m in modes] + ([("bf16", True, False)] if device.type == "cuda" else [])
    if compile_ and device.type == "cuda":
        variants.append(("bf16", True, True))
    rows = []
    previous = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    for precision, channels_last, compiled in variants:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
        torch.manual_seed(0)
        model = torchvision.models.resnet18(weights=None, num_classes=10).to(device)
        mf = torch.channels_last if channels_last else torch.contiguous_format
        model = model.to(memory_format=mf)
        step_model = torch.compile(model) if compiled else model
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        mode = "fp32" if precision == "tf32" else precision
        x, y = train.tensors[0][:batch].to(device, memory_format=mf), train.tensors[1][:batch].to(device)
        stats = bench_train_step(step_model, opt, x, y, precision=mode, device=device,
                                 steps=1 if quick else 20, warmup=0 if quick else 5)
        scaler = make_scaler(mode, device)
        gen = torch.Generator().manual_seed(1)
        for _ in range(steps):  # a fixed number of steps, then test accuracy
            idx = torch.randint(0, len(train), (batch,), generator=gen)
            train_step(step_model, opt, scaler, train.tensors[0][idx].to(device, memory_format=mf),
                       train.tensors[1][idx].to(device), precision=mode, device=device)
        model.eval()
        with torch.no_grad():
            xt = test.tensors[0].to(device, memory_format=mf)
            acc = float((model(xt).argmax(1).cpu() == test.tensors[1]).float().mean())
        step_ms = {"median": stats.median_ms, "iqr": stats.iqr_ms, "unit": "ms"}
        rows.append({"precision": precision, "channels_last": channels_last, "compiled": compiled,
                     "batch": batch, "step_ms": step_ms, "peak_mb": stats.peak_mb,
                     "accuracy_after_steps": acc, "steps": steps})
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous
    return rows


def capture_traces(device: torch.device, out: Path, quick: bool) -> list[str]:
    """Chrome traces (gzip) of fp32 vs bf16 training steps and a data-bound vs compute-bound loop."""
    from torch.profiler import ProfilerActivity, profile, record_function

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    (out / TRACES).mkdir(parents=True, exist_ok=True)
    written = []
    model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    size = 32 if quick else 128
    x = torch.randn(8 if quick else 128, 3, size, size, device=device)
    y = torch.randint(0, 10, (x.shape[0],), device=device)

    def step(dtype):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def slow_batches(n):
        for _ in range(n):
            time.sleep(0.002 if quick else 0.02)  # a loader that decodes too slowly
            yield x.cpu(), y.cpu()

    cases = {
        "fp32_step": lambda: step(None),
        "bf16_step": lambda: step(torch.bfloat16),
        "data_bound": lambda: [step(None) for xb, yb in slow_batches(1)],
        "compute_bound": lambda: step(None),
    }
    for name, fn in cases.items():
        for _ in range(2):  # warm-up outside the trace
            fn()
        _sync(device)
        with profile(activities=activities) as prof:
            for i in range(2 if quick else 5):
                with record_function(f"step {i}"):
                    fn()
            _sync(device)
        raw = out / TRACES / f"{name}.json"
        prof.export_chrome_trace(str(raw))
        with open(raw, "rb") as src, gzip.open(raw.with_suffix(".json.gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        raw.unlink()
        written.append(f"{TRACES}/{name}.json.gz")
    return written


def capture(out: str | Path, device: str = "auto", quick: bool = False, compile_: bool = True) -> dict:
    """Run every measurement and write ``results.json`` and the traces into ``out``."""
    from tutorials.core.runtime import pick_device

    dev = pick_device(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = {
        "metadata": metadata(dev),
        "matmul": bench_matmul(dev, [256, 512] if quick else [1024, 2048, 4096, 8192], quick),
        "transfers": bench_transfers(dev, [1] if quick else [1, 16, 256], quick),
        "activations": bench_activations(dev, 4096 if quick else 2**24, quick, compile_ and not quick),
        "amp": bench_amp(dev, quick, compile_ and not quick),
        "traces": capture_traces(dev, out, quick),
    }
    (out / RESULTS).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


def validate(directory: str | Path) -> dict:
    """Check committed GPU evidence: CUDA metadata, figures with units, traces with kernels.

    Raises:
        ValueError: the results do not come from a CUDA device, a figure lacks its
            unit or median, or a trace is unreadable or has no CUDA kernel events;
            the message names the file.
    """
    directory = Path(directory)
    path = directory / RESULTS
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: unreadable results ({err})") from err
    meta = results.get("metadata", {})
    if meta.get("device_type") != "cuda" or meta.get("cuda", "none") == "none":
        raise ValueError(f"{path}: measured on {meta.get('device_type')!r} ({meta.get('device_name')}), "
                         "not on a CUDA device: these are not GPU figures")

    def figures(node: Any):
        if isinstance(node, dict):
            if "median" in node:
                yield node
            for v in node.values():
                yield from figures(v)
        elif isinstance(node, list):
            for v in node:
                yield from figures(v)

    for fig in figures({k: v for k, v in results.items() if k != "metadata"}):
        if "unit" not in fig:
            raise ValueError(f"{path}: a figure has no unit: {fig}")
    for rel in results.get("traces", []):
        trace = directory / rel
        try:
            with gzip.open(trace, "rt", encoding="utf-8") as f:
                events = json.load(f)["traceEvents"]
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f"{trace}: unreadable trace ({err})") from err
        if not any(e.get("cat") == "kernel" for e in events):
            raise ValueError(f"{trace}: no CUDA kernel events")
    return results


def main(argv: list[str] | None = None) -> dict:
    """Command line: capture, then validate unless ``--quick``."""
    p = argparse.ArgumentParser(description="Capture the course's GPU benchmark tables and traces.")
    p.add_argument("--out", default="docs/assets/gpu", help="output directory (default: %(default)s)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="device (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for tests (default: %(default)s)")
    p.add_argument("--no-compile", action="store_true",
                   help="skip the torch.compile variants (default: %(default)s)")
    args = p.parse_args(argv)
    results = capture(args.out, args.device, args.quick, not args.no_compile)
    print(json.dumps(results["metadata"], indent=2))
    if not args.quick:
        validate(args.out)
        print(f"validated {Path(args.out) / RESULTS}")
    return results


if __name__ == "__main__":
    main()
