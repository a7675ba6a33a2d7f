"""Export → AOTInductor package → inference from Python and from C++ (what Lab 8.1 runs).

* :class:`DigitsCNN` and :func:`train_digits`: a small CNN for scikit-learn's 8×8 digits,
  trained in seconds.
* :func:`export_dynamic_batch`: ``torch.export.export`` with a dynamic batch dimension.
* :func:`compile_package`: ``torch._inductor.aoti_compile_and_package``, with the package
  kept next to Inductor's own cache and reused when the same program, weights, device,
  CPU instruction set and thread count come again (Inductor does not cache AOT
  compiles: each call regenerates and recompiles the C++).
* :func:`build_runner` and :func:`run_cpp`: the C++ program ``cpp/aoti_runner.cpp``
  (``torch::inductor::AOTIModelPackageLoader``), built with
  :mod:`tutorials.core.cpp_build` and run on inputs written as raw float32 files.
* :func:`median_us`, :func:`max_abs_diff` and :func:`plot_latency`: the measurements
  and the latency figure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CPP_SOURCE",
    "CppResult",
    "DigitsCNN",
    "PackageBuild",
    "RunnerBuild",
    "build_runner",
    "compile_package",
    "export_dynamic_batch",
    "inductor_compiler_problem",
    "max_abs_diff",
    "median_us",
    "package_key",
    "parse_runner_output",
    "plot_latency",
    "run_cpp",
    "train_digits",
    "write_float32",
]

#: The C++ program that loads a package and times it (Lecture 8 shows its sections).
CPP_SOURCE = Path(__file__).with_name("cpp") / "aoti_runner.cpp"


# --- the model -------------------------------------------------------------------------------------


class DigitsCNN(nn.Module):
    """Two 3×3 convolutions and a linear head for ``(N, 1, 8, 8)`` digit images.

    Args:
        width: channels of the first convolution (the second has twice as many).
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.head = nn.Linear(2 * width * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 10)`` of images ``(N, 1, 8, 8)``."""
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 2w, 4, 4)
        return self.head(x.flatten(1))


def train_digits(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float = 3e-3,
                 batch_size: int = 64, seed: int = 0) -> list[float]:
    """Train ``model`` with Adam on images ``x`` ``(N, 1, 8, 8)`` and labels ``y``.

    Args:
        model: the network (left in train mode; call ``.eval()`` before exporting).
        x: images on the model's device.
        y: int64 labels on the same device.
        epochs: passes over the data (0: no training).
        lr: Adam's learning rate.
        batch_size: images per step.
        seed: seed of the shuffling.

    Returns:
        The mean training loss of each epoch.
    """
    if x.dim() != 4 or x.shape[1:] != (1, 8, 8):
        raise ValueError(f"expected images of shape (N, 1, 8, 8), got {tuple(x.shape)}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g).to(x.device)
        total = 0.0
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(x))
    return losses


# --- export and AOTInductor ------------------------------------------------------------------------


def export_dynamic_batch(model: nn.Module, example: torch.Tensor,
                         max_batch: int = 1024) -> torch.export.ExportedProgram:
    """Export ``model(example)`` with dimension 0 of the input dynamic, from 1 to ``max_batch``.

    The example's batch must be at least 2: export specializes a dimension whose
    example size is 0 or 1 to that constant (the 0/1-specialization rule), and the
    program would then accept that batch size only.

    Args:
        model: the network, in eval mode.
        example: an example input ``(B, ...)`` with ``2 <= B <= max_batch``.
        max_batch: the largest batch the package will accept.

    Returns:
        The exported program.
    """
    if not 2 <= example.shape[0] <= max_batch:
        raise ValueError(f"the example's batch must be in [2, {max_batch}] (a batch of 0 or 1 would be "
                         f"specialized to a constant), got shape {tuple(example.shape)}")
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    return torch.export.export(model, (example,), dynamic_shapes={"x": {0: batch}})


@contextlib.contextmanager
def _quiet_cuda_probe(device: torch.device | str) -> Iterator[None]:
    """On CPU, silence ``torch.utils.cpp_extension``'s "No CUDA runtime is found" warning.

    Inductor's C++ builder imports ``cpp_extension``, which logs that warning on a
    machine with a CUDA wheel and no GPU: true, and irrelevant to a CPU package.
    """
    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    if torch.device(device).type == "cpu":
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def inductor_compiler_problem() -> str | None:
    """Why AOTInductor cannot compile on this machine, or None when its C++ compiler works.

    AOTInductor compiles the C++ it generates (the kernels on CPU, the wrapper on CPU
    and CUDA alike) with the compiler in ``torch._inductor.config.cpp.cxx`` (``$CXX``,
    else ``g++``; ``clang++`` on macOS). Without one, no package can be built at all.

    Returns:
        None, or one sentence naming the compiler looked for and how to get one.
    """
    from torch._inductor import exc
    from torch._inductor.cpp_builder import get_cpp_compiler

    try:
        with _quiet_cuda_probe("cpu"):
            get_cpp_compiler()
    except exc.InvalidCxxCompiler as err:
        return (f"AOTInductor compiles the code it generates with a C++ compiler, and none works here "
                f"({str(err).strip()}); install one (Debian/Ubuntu: `sudo apt-get install g++`, macOS: "
                "`xcode-select --install`) or point $CXX at one")
    return None


@dataclass
class PackageBuild:
    """An AOTInductor package on disk and how it was obtained.

    Attributes:
        path: the ``.pt2`` file.
        compile_s: seconds ``aoti_compile_and_package`` took (when reused: the run that built it).
        cached: True when the package was reused instead of compiled now.
        size_bytes: the file's size.
        key: :func:`package_key` of the program.
    """

    path: Path
    compile_s: float
    cached: bool
    size_bytes: int
    key: str


def _tensor_digest(h: hashlib._Hash, name: str, t: torch.Tensor) -> None:
    """Feed a tensor's name, dtype, shape and bytes to ``h``."""
    h.update(f"{name}:{t.dtype}:{tuple(t.shape)}\n".encode())
    # flat first: a 0-dim tensor (BatchNorm's num_batches_tracked) cannot be viewed as bytes
    flat = t.detach().cpu().contiguous().reshape(-1)
    h.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")


def package_key(ep: torch.export.ExportedProgram, device: torch.device | str) -> str:
    """A hash of everything an AOTInductor package of ``ep`` depends on.

    The program (its code, signature and shape ranges), every weight, buffer and
    constant (their bytes), torch's version, the device; on CPU the instruction set
    Inductor vectorizes for and the thread count its loops are generated for, on
    CUDA the GPU and its compute capability.

    Args:
        ep: the exported program.
        device: the device of the example inputs (the package's device).

    Returns:
        A hex digest (24 characters).
    """
    from torch._inductor import cpu_vec_isa
    from torch._inductor.utils import parallel_num_threads

    device = torch.device(device)
    if device.type == "cpu":  # avx512, avx2, ... (ATEN_CPU_CAPABILITY lowers it)
        with _quiet_cuda_probe(device):
            target = str(cpu_vec_isa.pick_vec_isa())
    else:  # the kernels are compiled for this GPU's architecture
        major, minor = torch.cuda.get_device_capability(device)
        target = f"{torch.cuda.get_device_name(device)} sm_{major}{minor}"
    threads = parallel_num_threads()  # CPU loops are generated for this many threads
    h = hashlib.sha256(f"{torch.__version__}|{device.type}|{target}|{threads}\n".encode())
    h.update(ep.graph_module.code.encode())  # the program: ATen calls, in order
    h.update(str(ep.graph_signature).encode())  # which input is which weight
    h.update(str(sorted((str(k), str(v)) for k, v in ep.range_constraints.items())).encode())
    for name, t in sorted({**ep.state_dict, **ep.constants}.items()):
        if isinstance(t, torch.Tensor):
            _tensor_digest(h, name, t)  # name, dtype, shape and bytes
    return h.hexdigest()[:24]


def compile_package(ep: torch.export.ExportedProgram, path: str | Path, device: torch.device | str,
                    reuse: bool = True, cache_root: str | Path | None = None) -> PackageBuild:
    """Compile ``ep`` with AOTInductor into the package ``path`` (a ``.pt2`` file), or reuse it.

    Inductor's graph cache does not apply to AOT compiles: every call generates the
    C++ again and runs the compiler (tens of seconds on a CPU). So the package is also
    kept as ``<cache_root>/aoti_packages/<key>.pt2`` (see :func:`package_key`) and
    copied from there when the same key comes again and ``reuse`` is true.

    Args:
        ep: the exported program.
        path: where to write the package.
        device: the device of the program's example inputs.
        reuse: take a package built earlier for the same key.
        cache_root: where packages are kept (default: Inductor's cache directory,
            ``$TORCHINDUCTOR_CACHE_DIR`` when set).

    Returns:
        A :class:`PackageBuild`.
    """
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = package_key(ep, device)
    store = Path(cache_root or cache_dir()) / "aoti_packages"
    cached_pkg, cached_meta = store / f"{key}.pt2", store / f"{key}.json"
    if reuse and cached_pkg.is_file() and cached_meta.is_file():  # built before: copy it
        shutil.copyfile(cached_pkg, path)
        compile_s = json.loads(cached_meta.read_text(encoding="utf-8"))["compile_s"]
        return PackageBuild(path, compile_s, True, path.stat().st_size, key)
    with _quiet_cuda_probe(device):
        start = time.perf_counter()
        torch._inductor.aoti_compile_and_package(ep, package_path=str(path))  # the compile itself
        compile_s = time.perf_counter() - start
    store.mkdir(parents=True, exist_ok=True)
    tmp = store / f"{key}.{os.getpid()}.tmp"
    shutil.copyfile(path, tmp)
    os.replace(tmp, cached_pkg)  # atomic: a concurrent run sees no file or the whole file
    tmp.write_text(json.dumps({"compile_s": compile_s, "torch": torch.__version__}), encoding="utf-8")
    os.replace(tmp, cached_meta)
    return PackageBuild(path, compile_s, False, path.stat().st_size, key)


# --- measuring -------------------------------------------------------------------------------------


def median_us(fn: Callable[[], object], iters: int, warmup: int = 3,
              device: torch.device | str = "cpu") -> float:
    """Median microseconds of one call of ``fn()``, timed call by call as ``aoti_runner`` does.

    Args:
        fn: the call to time (no arguments).
        iters: timed calls.
        warmup: untimed calls first (allocations, lazy initialization).
        device: on CUDA each call is followed by a synchronization (kernels are asynchronous).

    Returns:
        The median, in microseconds.
    """
    if iters < 1:
        raise ValueError(f"iters must be at least 1, got {iters}")
    cuda = torch.device(device).type == "cuda"
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2] * 1e6


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max |a - b|`` as a float, on the CPU; a shape mismatch is an error naming both shapes."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    return (a.detach().float().cpu() - b.detach().float().cpu()).abs().max().item()


def write_float32(t: torch.Tensor, path: str | Path) -> Path:
    """Write ``t`` as raw little-endian float32 in C order (what ``aoti_runner`` reads)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4").tofile(path)
    return path


def read_float32(path: str | Path, shape: Sequence[int]) -> torch.Tensor:
    """Read a raw float32 file written by ``aoti_runner`` as a tensor of ``shape``."""
    import numpy as np

    data = np.fromfile(path, dtype="<f4")
    n = 1
    for s in shape:
        n *= s
    if data.size != n:
        raise ValueError(f"{path}: holds {data.size} float32 values, shape {tuple(shape)} needs {n}")
    return torch.from_numpy(data.astype(np.float32)).reshape(tuple(shape))


# --- the C++ runner --------------------------------------------------------------------------------


@dataclass
class RunnerBuild:
    """The C++ runner's executable, or why there is none.

    Attributes:
        executable: the built program, or None.
        reason: why it could not be built (None when it was).
        build_s: seconds the build took (0 when it came from the cache).
        cached: True when the executable was reused.
    """

    executable: Path | None
    reason: str | None = None
    build_s: float = 0.0
    cached: bool = False


def build_runner(cuda: bool = False) -> RunnerBuild:
    """Build ``cpp/aoti_runner.cpp`` against the installed torch with :mod:`tutorials.core.cpp_build`.

    The program is cached by a hash of its source, flags, torch version and compiler
    (``$TUTORIALS_CPP_CACHE``): only the first call compiles. A missing toolchain is
    not an exception: the result then holds no executable and the reason (no C++
    compiler, a failed compile with its last lines), which the lab prints instead of
    the C++ column.

    Args:
        cuda: also link ``libtorch_cuda`` (to run a package compiled for a GPU).

    Returns:
        A :class:`RunnerBuild`.
    """
    from tutorials.core import cpp_build

    try:
        build = cpp_build.build_program([CPP_SOURCE], "aoti_runner", cuda=cuda)
    except cpp_build.CppBuildError as err:  # no compiler, no libtorch_cuda, or the compiler failed
        return RunnerBuild(None, str(err))
    return RunnerBuild(build.binary, None, 0.0 if build.cached else build.seconds, build.cached)


@dataclass
class CppResult:
    """One input's result from ``aoti_runner``.

    Attributes:
        shape: the output's shape.
        checksum: the sum of the output's values.
        first: its first three values.
        median_us: median microseconds per call.
        min_us: fastest call.
        iters: timed calls.
    """

    shape: tuple[int, ...]
    checksum: float
    first: tuple[float, ...]
    median_us: float
    min_us: float
    iters: int


_RESULT = re.compile(r"^result shape=(?P<shape>[\d,]+) sum=(?P<sum>\S+) first=(?P<first>\S+) "
                     r"median_us=(?P<med>\S+) min_us=(?P<min>\S+) iters=(?P<iters>\d+)$", re.M)


def parse_runner_output(text: str) -> list[CppResult]:
    """The ``result ...`` lines that ``aoti_runner`` prints, one per input, in order."""
    return [CppResult(tuple(int(s) for s in m["shape"].split(",")), float(m["sum"]),
                      tuple(float(v) for v in m["first"].split(",")), float(m["med"]), float(m["min"]),
                      int(m["iters"]))
            for m in _RESULT.finditer(text)]


def run_cpp(executable: str | Path, package: str | Path, inputs: Sequence[torch.Tensor],
            work_dir: str | Path, device: torch.device | str = "cpu", threads: int = 1,
            iters: int = 50, timeout: float = 300.0
            ) -> tuple[list[torch.Tensor], list[CppResult], str, list[str]]:
    """Run ``aoti_runner`` on ``inputs`` (one process, one package load) and read its outputs back.

    Args:
        executable: the built runner.
        package: the ``.pt2`` file.
        inputs: float32 input tensors (written to ``work_dir`` as raw files).
        work_dir: where input and output files go.
        device: ``cpu`` or ``cuda``, the package's device.
        threads: intra-op threads of the C++ process (use the Python process's count).
        iters: timed calls per input.
        timeout: seconds before the process is stopped.

    Returns:
        ``(outputs, results, stdout, command)``: the first output of each input, the
        parsed result lines, what the program printed, and the command that ran it.

    Raises:
        tutorials.core.cpp_build.CppBuildError: the program failed; the message holds its command
            and the tail of its standard error.
        RuntimeError: it printed fewer result lines than there are inputs.
    """
    work_dir = Path(work_dir)
    cmd = [str(executable), str(package), torch.device(device).type, str(threads), str(iters)]
    for i, x in enumerate(inputs):
        cmd += [str(write_float32(x, work_dir / f"input_{i}.bin")), ",".join(map(str, x.shape)),
                str(work_dir / f"output_{i}.bin")]
    from tutorials.core.cpp_build import run_program

    stdout = run_program(*cmd, timeout=timeout)  # CppBuildError: its exit status and standard error
    results = parse_runner_output(stdout)
    if len(results) != len(inputs):
        raise RuntimeError(f"aoti_runner printed {len(results)} results for {len(inputs)} inputs:\n{stdout}")
    outputs = [read_float32(work_dir / f"output_{i}.bin", r.shape) for i, r in enumerate(results)]
    return outputs, results, stdout, cmd


# --- the figure ------------------------------------------------------------------------------------


def plot_latency(rows: Sequence[dict], path: str | Path | None = None, title: str = "",
                 note: str | None = None) -> object:
    """Bars of microseconds per call of each runtime, one panel per batch size.

    Each panel has its own linear scale (a batch of 1 and a batch of 256 differ by
    orders of magnitude), and each bar is labelled with its value.

    Args:
        rows: one dict per batch size with ``"batch"`` and one ``"<runtime> us"`` key per
            runtime (a None value leaves its bar out).
        path: where to save the PNG (None: not saved).
        title: the figure's title.
        note: a line under the title, e.g. why a runtime is missing.

    Returns:
        The matplotlib figure.
    """
    import sys

    import matplotlib

    if "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("plot_latency: no rows to plot")
    runtimes = [k for k in rows[0] if k.endswith(" us")]
    fig, axes = plt.subplots(1, len(rows), figsize=(3.2 * len(rows) + 1, 3.8), squeeze=False)
    for ax, row in zip(axes[0], rows, strict=True):
        names = [k[:-3] for k in runtimes]
        values = [row.get(k) for k in runtimes]
        bars = ax.bar(range(len(names)), [v or 0 for v in values],
                      color=[f"C{i}" for i in range(len(names))])
        for bar, v in zip(bars, values, strict=True):
            label = "n/a" if v is None else f"{v:.0f}" if v >= 10 else f"{v:.1f}"
            ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"batch {row['batch']}", fontsize=10)
        ax.margins(y=0.15)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("µs per call (median)")
    fig.suptitle(title + (f"\n{note}" if note else ""), fontsize=10)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig
