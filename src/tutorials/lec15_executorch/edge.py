"""Helpers of Lecture 15: a digits CNN, the ExecuTorch pipeline in one call, and what a `.pte` holds.

The chapter shows each ExecuTorch call once, step by step; the lab and the later
sections of the page call the same steps through :func:`build_pte`. The rest reads
what a program holds (its operators, its memory plan), runs it
(:class:`PteModel`), measures it (:func:`median_call_us`, :func:`operator_profile`)
and draws the pictures.

Examples:
    >>> model = DigitsCNN()
    >>> model(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    >>> sum(p.numel() for p in model.parameters())
    13706
"""

from __future__ import annotations

import logging
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tutorials.core.datasets import digits_split

__all__ = [
    "VARIANTS",
    "BuiltPte",
    "DigitsCNN",
    "PteModel",
    "build_pte",
    "digits_images8",
    "import_executorch",
    "median_call_us",
    "memory_plan",
    "missing_kernels",
    "operator_profile",
    "plot_operator_profile",
    "plot_variants",
    "pte_operators",
    "quantize_int8",
    "train_cnn",
]

VARIANTS = ("portable", "xnnpack", "xnnpack-int8")


def import_executorch() -> None:
    """Import ExecuTorch once, with torchao's one import-time warning silenced.

    torchao 0.18 registers an ``Enum`` with ``torch.utils._pytree.register_constant``
    when it is imported, and torch 2.14 logs a deprecation warning for that
    (``torch/utils/_pytree.py``, logger ``torch.utils._pytree``). It says nothing about
    the reader's code, so this raises that logger's level for the import only.
    """
    logger = logging.getLogger("torch.utils._pytree")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        import executorch.exir  # noqa: F401 - imports torchao through the quantizer registry
        import executorch.runtime  # noqa: F401
        import torchao.quantization.pt2e.quantize_pt2e  # noqa: F401
    finally:
        logger.setLevel(level)


class DigitsCNN(nn.Module):
    """Two 3×3 convolutions and two linear layers for the 8×8 digits: 13,706 parameters.

    Input ``(N, 1, 8, 8)`` pixels in [0, 1]; output ``(N, 10)`` logits.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 16, 4, 4)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, 2, 2)
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 10)`` of images ``(N, 1, 8, 8)``."""
        return self.head(self.features(x))


def digits_images8(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The digits as ``(N, 1, 8, 8)`` images in [0, 1]: 1,438 to train, 359 to validate.

    Args:
        seed: seed of the split (``tutorials.core.datasets.digits_split``).

    Returns:
        ``(x_train, y_train, x_val, y_val)``.
    """
    x_train, y_train, x_val, y_val = digits_split(seed=seed)
    return x_train.reshape(-1, 1, 8, 8), y_train, x_val.reshape(-1, 1, 8, 8), y_val


def train_cnn(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float = 3e-3,
              batch_size: int = 64, seed: int = 0) -> list[float]:
    """Train with Adam and cross-entropy on one CPU thread; return the mean loss of each epoch.

    Args:
        model: the model, trained in place (left in eval mode).
        x: images ``(N, 1, 8, 8)``.
        y: labels ``(N,)``.
        epochs: passes over the data (0 trains nothing).
        lr: Adam's learning rate.
        batch_size: images per step.
        seed: seed of the shuffling.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    threads = torch.get_num_threads()
    # a model this small gains nothing from intra-op threads, and on a busy machine their
    # synchronization makes training many times slower (measured: 0.6 s on 1 thread,
    # 21 s on 2 threads of a loaded 2-core machine)
    torch.set_num_threads(1)
    try:
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for start in range(0, len(x), batch_size):
                idx = order[start:start + batch_size]
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            losses.append(total / len(x))
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return losses


def quantize_int8(model: nn.Module, example: torch.Tensor, calibration: torch.Tensor) -> torch.fx.GraphModule:
    """Static 8-bit quantization for XNNPACK with torchao's PT2E flow.

    ``prepare_pt2e`` inserts observers where ``XNNPACKQuantizer`` annotates the graph,
    the calibration images run through it, and ``convert_pt2e`` replaces the
    observers with quantize/dequantize pairs (int8 activations per tensor, int8
    weights per output channel).

    Args:
        model: an eval-mode float model.
        example: one input with the shape the program will have.
        calibration: images run through the observers, in chunks of ``example``'s batch size.

    Returns:
        The quantized graph module, to be exported again and lowered.
    """
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    graph = torch.export.export(model, (example,)).module()
    prepared = prepare_pt2e(graph, quantizer)
    n = example.shape[0]
    with torch.no_grad():
        for start in range(0, len(calibration) - n + 1, n):  # observers record min/max
            prepared(calibration[start:start + n])
    return convert_pt2e(prepared)


@dataclass
class BuiltPte:
    """A lowered program: the manager ``to_executorch()`` returned and its bytes.

    Attributes:
        variant: ``"portable"``, ``"xnnpack"`` or ``"xnnpack-int8"``.
        program: the ``ExecutorchProgramManager``.
        edge: the ``EdgeProgramManager`` it came from (delegation can be read there).
        seconds: time from export to the serialized program.
    """

    variant: str
    program: Any
    edge: Any
    seconds: float

    @property
    def buffer(self) -> bytes:
        """The `.pte` file's bytes."""
        return self.program.buffer

    def save(self, path: str | Path) -> Path:
        """Write the `.pte` file and return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.buffer)
        return path


def build_pte(model: nn.Module, example: torch.Tensor, variant: str,
              calibration: torch.Tensor | None = None, dynamic_shapes: dict | None = None,
              etrecord: bool = False) -> BuiltPte:
    """``torch.export`` → edge (lowered to XNNPACK or not) → ``to_executorch()``.

    Args:
        model: an eval-mode float model.
        example: an example input.
        variant: one of :data:`VARIANTS`: ``portable`` (every operator on the portable
            kernels), ``xnnpack`` (float32, delegated to XNNPACK), ``xnnpack-int8``
            (quantized with :func:`quantize_int8`, then delegated).
        calibration: calibration images, needed by ``xnnpack-int8``.
        dynamic_shapes: passed to ``torch.export.export``.
        etrecord: also keep an ETRecord (``program.get_etrecord()``) for the Inspector.

    Raises:
        ValueError: an unknown variant, or ``xnnpack-int8`` without calibration data.
    """
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    start = time.perf_counter()
    if variant == "xnnpack-int8":
        if calibration is None:
            raise ValueError("variant 'xnnpack-int8' needs calibration images")
        model = quantize_int8(model, example, calibration)
    exported = torch.export.export(model, (example,), dynamic_shapes=dynamic_shapes)
    partitioner = [] if variant == "portable" else [XnnpackPartitioner()]
    edge = to_edge_transform_and_lower(exported, partitioner=partitioner, generate_etrecord=etrecord)
    program = edge.to_executorch()
    return BuiltPte(variant, program, edge, time.perf_counter() - start)


class PteModel:
    """A `.pte` program loaded by ``executorch.runtime.Runtime``, called like a model.

    Args:
        pte: a path or the program's bytes.
        etdump: record an ETDump (profiling events) while it runs.
        method: the method to run.
    """

    def __init__(self, pte: str | Path | bytes, etdump: bool = False, method: str = "forward") -> None:
        from executorch.runtime import Runtime

        source = pte if isinstance(pte, bytes) else str(pte)
        self.program = Runtime.get().load_program(source, enable_etdump=etdump,
                                                  debug_buffer_size=0)
        self.method = self.program.load_method(method)
        sizes = self.method.metadata.input_tensor_meta(0).sizes()
        self.input_shape = tuple(sizes)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Run the method on one input; return its first output."""
        return self.method.execute([x])[0]

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for every row of ``x``, run in chunks of the program's batch size.

        A `.pte` with a static batch of ``b`` takes exactly ``b`` images per call; the
        rows beyond the last full chunk are padded with zeros and their outputs dropped.
        """
        b = self.input_shape[0]
        outs = []
        for start in range(0, len(x), b):
            chunk = x[start:start + b]
            pad = b - len(chunk)
            if pad:
                chunk = torch.cat([chunk, chunk.new_zeros((pad, *chunk.shape[1:]))])
            outs.append(self(chunk.contiguous())[:b - pad])
        return torch.cat(outs)

    def write_etdump(self, etdump_path: str | Path) -> Path:
        """Write the recorded ETDump (profile events of every call so far)."""
        self.program.write_etdump_result_to_file(str(etdump_path), "")
        return Path(etdump_path)


def pte_operators(program: Any) -> list[str]:
    """The operators a program's ``forward`` calls on the runtime's kernels (not the delegated ones).

    Args:
        program: an ``ExecutorchProgramManager``.
    """
    plan = program.executorch_program.execution_plan[0]
    return [f"{op.name}.{op.overload}" if op.overload else op.name for op in plan.operators]


def missing_kernels(program: Any) -> list[str]:
    """The operators a program needs that this runtime has no kernel for.

    Loading such a program fails with ``Failed to load method forward, error: 0x:14``
    (``Error::OperatorMissing`` in ``executorch/runtime/core/error.h``).

    Args:
        program: an ``ExecutorchProgramManager``.
    """
    from executorch.runtime import Runtime

    registered = Runtime.get().operator_registry.operator_names
    return [op for op in pte_operators(program) if op not in registered]


def memory_plan(program: Any) -> list[dict]:
    """Where the memory planner put each operator's output in the shared activation buffer.

    Args:
        program: an ``ExecutorchProgramManager``.

    Returns:
        One row per operator call on the runtime: ``op``, ``offset`` and ``bytes`` in
        the buffer, and the ``lifetime`` (first and last instruction that uses it).
    """
    rows = []
    gm = program.exported_program().graph_module
    for node in gm.graph.nodes:
        spec = node.meta.get("spec")
        if node.op != "call_function" or "alloc" in node.name or getattr(spec, "mem_offset", None) is None:
            continue
        if not hasattr(node.target, "_schema") and "delegate" not in node.name:
            continue  # getitem and views share their input's memory
        rows.append({"op": node.name, "offset": spec.mem_offset, "bytes": spec.allocated_memory,
                     "lifetime": tuple(spec.lifetime)})
    return rows


def operator_profile(etdump_path: str | Path, etrecord: str | None = None) -> list[dict]:
    """Per-event median latency from an ETDump, read with ExecuTorch's ``Inspector``.

    Args:
        etdump_path: the file ``PteModel.write_etdump`` wrote.
        etrecord: the path of the program's saved ETRecord (names the delegate of each
            event), or ``None``.

    Returns:
        One row per event of the ``Execute`` block: ``event``, ``backend`` (the delegate
        that ran it, ``runtime`` for the whole method, else ``portable``), ``calls`` and
        ``p50_us``.
    """
    from executorch.devtools import Inspector

    with warnings.catch_warnings():
        # no debug buffer was recorded (tensor values), and the ETRecord's graph has
        # kwargs the schema printer skips: neither matters for timings
        warnings.filterwarnings("ignore", message="Output Buffer not found")
        warnings.filterwarnings("ignore", message="Unsupported kwarg encountered")
        inspector = Inspector(etdump_path=str(etdump_path), etrecord=etrecord)
    rows = []
    for block in inspector.event_blocks:
        if block.name != "Execute":
            continue
        for event in block.events:
            if event.perf_data is None or event.name == "OPERATOR_CALL":
                continue  # OPERATOR_CALL wraps the native_call_* event just before it
            # who ran it: the delegate, the runtime itself (Method::*), or a portable kernel
            backend = event.delegate_backend_name or ("runtime" if event.name.startswith("Method::")
                                                      else "portable")
            rows.append({"event": event.name, "backend": backend,
                         "calls": len(event.perf_data.raw), "p50_us": float(event.perf_data.p50) * 1e3})
    return rows


def median_call_us(fn: Callable[[], object], iters: int, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` over ``iters`` calls, in microseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def plot_operator_profile(profiles: dict[str, Sequence[dict]], path: str | Path, title: str) -> Any:
    """Horizontal bars: the median time of each profiled event, one panel per program.

    Args:
        profiles: rows of :func:`operator_profile` by program name.
        path: the PNG to write.
        title: the figure's title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(profiles), figsize=(5.2 * len(profiles), 3.6), squeeze=False)
    for ax, (name, rows) in zip(axes[0], profiles.items(), strict=True):
        labels = [r["event"] for r in rows][::-1]
        values = [r["p50_us"] for r in rows][::-1]
        colors = [{"portable": "tab:blue", "runtime": "tab:gray"}.get(r["backend"], "tab:orange")
                  for r in rows][::-1]
        ax.barh(range(len(rows)), values, color=colors)
        ax.set_yticks(range(len(rows)), labels, fontsize=7)
        ax.set_xlabel("median µs per call")
        ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return fig


def plot_variants(rows: Sequence[dict], path: str | Path, title: str) -> Any:
    """Three bar charts of the lab's table: size (KB), latency (µs per image) and accuracy.

    Args:
        rows: dicts with ``variant``, ``size KB``, ``latency us`` and ``accuracy``.
        path: the PNG to write.
        title: the figure's title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["variant"] for r in rows]
    colors = ["tab:gray", "tab:blue", "tab:orange", "tab:green"][:len(rows)]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for ax, key, label in zip(axes, ("size KB", "latency us", "accuracy"),
                              ("file size (KB)", "median µs per call, batch 1", "validation accuracy"),
                              strict=True):
        values = [r[key] for r in rows]
        ax.bar(range(len(rows)), values, color=colors)
        ax.set_xticks(range(len(rows)), names, rotation=20, fontsize=8)
        ax.set_title(label, fontsize=9)
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize=7)
        if key == "accuracy":
            ax.set_ylim(min(values) - 0.05, 1.0)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return fig
