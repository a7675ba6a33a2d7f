"""Bias + GELU + dropout in one kernel: the reference, the C++ extension, and the memory-traffic arithmetic.

The computation, for ``x`` of shape ``(N, H)`` and ``bias`` of shape ``(H,)``::

    y = dropout(gelu_tanh(x + bias), p)        # training; eval: y = gelu_tanh(x + bias)

Three ways to compute it:

* :func:`reference`: eager PyTorch ops (bias add, ``F.gelu(approximate="tanh")``, the
  mask multiply): one kernel each, each reading and writing a whole ``(N, H)`` tensor.
* :func:`bias_gelu_dropout`: the custom operator ``torch.ops.lec09_fused.bias_gelu_dropout``,
  a C++ CPU kernel (``csrc/fused_bias_gelu_dropout.cpp``) that reads ``x`` once and
  writes ``y`` once. :func:`load_extension` builds it with
  ``torch.utils.cpp_extension.load_inline`` under the one name :data:`EXTENSION_NAME`
  with the same source and flags every time, so the chapter, the lab and the tests
  share one build in ``$TORCH_EXTENSIONS_DIR`` (cold: about 40 s of CPU time, one to two
  minutes on a busy 2-core machine; cached: about 2 s). It then
  registers, in Python, a fake kernel (``torch.library.register_fake``: shapes for
  ``torch.compile(fullgraph=True)`` and ``torch.export``) and the derivative
  (``torch.library.register_autograd``), whose backward is the second C++ op
  ``lec09_fused.bias_gelu_dropout_backward``; ``torch.library.opcheck`` passes and
  ``torch.autograd.gradcheck`` runs on the kernel itself in float64.
* ``tutorials.lec09_custom_ops.fused_triton``: the same kernel in Triton.

**Dropout without a generator.** Element ``i = row * H + col`` is kept when
``hash32(i mod 2**32 XOR key) >> 8 >= ceil(p * 2**24)`` with ``key = hash32(seed)``:
a counter-based hash of (seed, index) (:func:`keep_mask`). The same integer arithmetic
runs in the reference (int64 torch ops), in C++ (uint32) and in Triton, so all three
drop exactly the same elements, and the backward recomputes the mask instead of
loading it. Why not a saved mask: a float mask costs 4 bytes per element written in
the forward and read in the backward, a bool mask 1 + 1 (see :func:`traffic_per_element`);
the hash costs about ten integer operations per element, which a memory-bound kernel
gets for free. (Indices repeat after 2**32 elements; the kernel is for tensors below
that. ``torch.nn.functional.dropout`` uses the Philox generator instead, so its masks
differ from these.)

**Memory traffic.** :func:`traffic_per_element` counts the bytes each version moves per
element, :func:`copy_bandwidth_gbs` measures what the machine can move (a large
``Tensor.copy_``), :func:`achieved_gbs` turns a time into GB/s, and
:func:`arithmetic_intensity` gives FLOP per byte, the x axis of :func:`plot_roofline`.

Examples:
    >>> import torch
    >>> x, b = torch.randn(4, 8), torch.randn(8)
    >>> y = reference(x, b, p=0.5, seed=1)
    >>> bool(((y == 0) == ~keep_mask(4, 8, p=0.5, seed=1)).all())   # zeros exactly where dropped
    True
    >>> traffic_per_element("fused", 4)["forward"], traffic_per_element("eager", 4)["forward"]
    (8, 26)
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from tutorials.core.cpp_build import pinned_ninja

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "BUILD_FLAGS",
    "CPP_SOURCE",
    "EXTENSION_NAME",
    "FLOPS_PER_ELEMENT",
    "achieved_gbs",
    "arithmetic_intensity",
    "bias_gelu_dropout",
    "bias_gelu_dropout_backward",
    "copy_bandwidth_gbs",
    "dropout_params",
    "hash32",
    "keep_mask",
    "load_extension",
    "matmul_gflops",
    "plot_roofline",
    "reference",
    "register_python_parts",
    "traffic_per_element",
]

#: The C++ source, with snippet markers (``hash``, ``forward_kernel``, ``backward_kernel``, ``ops``).
CPP_SOURCE = Path(__file__).with_name("csrc") / "fused_bias_gelu_dropout.cpp"
#: The one name every caller builds under: same name + same source + same flags = one build.
EXTENSION_NAME = "lec09_fused_bias_gelu_dropout"
#: Compiler flags: -O3 lets gcc vectorise the hash loop; -march=native lets ``at::vec::Vectorized``
#: use the build machine's widest vectors (the source defines CPU_CAPABILITY_AVX512 when the AVX-512
#: F/BW/DQ/VL macros are set, else CPU_CAPABILITY_AVX2 with AVX2 + FMA), so the build runs only on
#: CPUs like the one that built it: keep ``$TORCH_EXTENSIONS_DIR`` per machine; -fopenmp makes
#: ``at::parallel_for`` a ``#pragma omp parallel`` region.
BUILD_FLAGS = ("-O3", "-march=native", "-fopenmp")
#: FLOPs counted per element: bias add 1, GELU-tanh 9 (counting tanh as 1), dropout multiply 1.
FLOPS_PER_ELEMENT = 11

_HASH_C1, _HASH_C2 = 0x7FEB352D, 0x2C1B3C6D  # below 2**31: int64 products never overflow
_M32 = 0xFFFFFFFF
_OPS = None


# --- the dropout mask: a counter-based hash ------------------------------------------


def hash32(x: int | Tensor) -> int | Tensor:
    """The kernels' 32-bit hash, on a Python int or an int64 tensor of values in ``[0, 2**32)``.

    Args:
        x: a non-negative integer below 2**32, or an int64 tensor of them.

    Returns:
        The hash, same kind as ``x``, in ``[0, 2**32)``.
    """
    x = x ^ (x >> 16)
    x = (x * _HASH_C1) & _M32
    x = x ^ (x >> 15)
    x = (x * _HASH_C2) & _M32
    return x ^ (x >> 16)


def dropout_params(p: float, seed: int, training: bool = True) -> tuple[int, int, float]:
    """``(key, threshold, scale)`` as the kernels compute them.

    Args:
        p: dropout probability in ``[0, 1]``.
        seed: any integer; its low 32 bits are hashed into the key.
        training: ``False`` (or ``p == 0``): keep everything, scale 1.

    Returns:
        ``key = hash32(seed mod 2**32)``, ``threshold = ceil(p * 2**24)`` (an element is kept
        when the top 24 bits of its hash are ``>= threshold``) and ``scale = 1 / (1 - p)``
        (0 when ``p == 1``).

    Raises:
        ValueError: ``p`` outside ``[0, 1]``.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"bias_gelu_dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return 0, 0, 1.0
    return hash32(seed & _M32), math.ceil(p * 2**24), (1.0 / (1.0 - p) if p < 1.0 else 0.0)


def keep_mask(n: int, h: int, p: float, seed: int, device: torch.device | str = "cpu") -> Tensor:
    """The kernels' keep mask for an ``(n, h)`` tensor, computed with torch ops (int64).

    Args:
        n: rows.
        h: columns (the bias length).
        p: dropout probability.
        seed: the dropout seed.
        device: where to build the mask.

    Returns:
        A bool tensor ``(n, h)``, True where the element is kept.
    """
    key, threshold, _ = dropout_params(p, seed)
    index = torch.arange(n * h, dtype=torch.int64, device=device).view(n, h)
    return (hash32((index & _M32) ^ key) >> 8) >= threshold


def reference(x: Tensor, bias: Tensor, p: float = 0.1, seed: int = 0, training: bool = True) -> Tensor:
    """The eager composition the fused kernel must reproduce: one kernel per op, intermediates in memory.

    Args:
        x: ``(N, H)`` input.
        bias: ``(H,)`` bias.
        p: dropout probability.
        seed: dropout seed (the mask is :func:`keep_mask`, not ``F.dropout``'s Philox draw).
        training: apply dropout or not.

    Returns:
        ``dropout(gelu_tanh(x + bias))``, differentiable with respect to ``x`` and ``bias``.
    """
    _, threshold, scale = dropout_params(p, seed, training)
    a = F.gelu(x + bias, approximate="tanh")  # kernel 1 writes x + bias, kernel 2 reads it, writes a
    if threshold == 0 and scale == 1.0:
        return a
    keep = keep_mask(x.shape[0], x.shape[1], p, seed, x.device)
    return torch.where(keep, a * scale, torch.zeros((), dtype=a.dtype, device=a.device))


# --- the C++ extension ---------------------------------------------------------------


def load_extension(verbose: bool = False) -> torch._ops._OpNamespace:
    """Build (first call: about 40 s of CPU; cached: ~2 s) and load the C++ ops; register their Python parts.

    ``load_inline`` hashes the source and the flags: the same :data:`EXTENSION_NAME`,
    source and :data:`BUILD_FLAGS` find the build in ``$TORCH_EXTENSIONS_DIR`` (the
    tests set it under ``.cache/compiled/``) and only load it. The library holds
    ``TORCH_LIBRARY(lec09_fused, ...)``, so loading it defines the ops; this function
    then adds the fake kernels and the autograd formula, once per process.

    Args:
        verbose: print the compiler's command lines.

    Returns:
        ``torch.ops.lec09_fused``, the namespace holding ``bias_gelu_dropout`` and
        ``bias_gelu_dropout_backward``.
    """
    global _OPS
    if _OPS is not None:
        return _OPS
    from torch.utils.cpp_extension import load_inline

    with pinned_ninja():  # one ninja version for every process: no spurious rebuilds
        load_inline(
            name=EXTENSION_NAME,
            cpp_sources=[CPP_SOURCE.read_text(encoding="utf-8")],
            extra_cflags=list(BUILD_FLAGS),
            extra_ldflags=["-fopenmp"],
            is_python_module=False,  # a plain shared library: its TORCH_LIBRARY blocks register the ops
            verbose=verbose,
        )
    register_python_parts()  # the library defined the ops; now their Python parts
    _OPS = torch.ops.lec09_fused
    return _OPS


# --8<-- [start:register]
def register_python_parts() -> None:
    """Register the fake kernels (shapes for tracing) and the autograd formula of the C++ ops.

    Call it once, after the library is loaded (:func:`load_extension` does).
    """

    @torch.library.register_fake("lec09_fused::bias_gelu_dropout")
    def _(x, bias, p, seed, training):
        torch._check(x.dim() == 2 and bias.shape == (x.shape[1],),
                     lambda: f"bias_gelu_dropout: x (N, H) and bias (H,), got {tuple(x.shape)}, "
                             f"{tuple(bias.shape)}")
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    @torch.library.register_fake("lec09_fused::bias_gelu_dropout_backward")
    def _(grad, x, bias, p, seed, training):
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    def setup_context(ctx, inputs, output):
        x, bias, p, seed, training = inputs
        ctx.save_for_backward(x, bias)  # no mask: the backward recomputes it from (seed, index)
        ctx.p, ctx.seed, ctx.training = p, seed, training

    def backward(ctx, grad):
        x, bias = ctx.saved_tensors
        grad_x = torch.ops.lec09_fused.bias_gelu_dropout_backward(
            grad, x, bias, ctx.p, ctx.seed, ctx.training)
        grad_bias = grad_x.sum(0) if ctx.needs_input_grad[1] else None
        return grad_x, grad_bias, None, None, None

    torch.library.register_autograd("lec09_fused::bias_gelu_dropout", backward,
                                    setup_context=setup_context)
# --8<-- [end:register]


def bias_gelu_dropout(x: Tensor, bias: Tensor, p: float = 0.1, seed: int = 0,
                      training: bool = True) -> Tensor:
    """The fused C++ operator: ``dropout(gelu_tanh(x + bias))`` in one pass (builds it on first use).

    Args:
        x: ``(N, H)`` float32 or float64 CPU tensor.
        bias: ``(H,)``, same dtype.
        p: dropout probability in ``[0, 1]``.
        seed: dropout seed: the same seed drops the same elements as :func:`reference`.
        training: apply dropout or not.

    Returns:
        ``y`` of shape ``(N, H)``; differentiable with respect to ``x`` and ``bias``.

    Raises:
        RuntimeError: a wrong shape, dtype or device (the message names it), or ``p`` outside ``[0, 1]``.
    """
    return load_extension().bias_gelu_dropout(x, bias, p, seed, training)


def bias_gelu_dropout_backward(grad: Tensor, x: Tensor, bias: Tensor, p: float = 0.1, seed: int = 0,
                               training: bool = True) -> Tensor:
    """The fused backward: ``grad_x = grad * mask * scale * gelu'(x + bias)``; ``grad_bias = grad_x.sum(0)``.

    Args:
        grad: gradient of the output, ``(N, H)``.
        x: the forward's input.
        bias: the forward's bias.
        p: the forward's dropout probability.
        seed: the forward's seed (the mask is recomputed from it).
        training: the forward's mode.

    Returns:
        ``grad_x`` of shape ``(N, H)``.
    """
    return load_extension().bias_gelu_dropout_backward(grad, x, bias, p, seed, training)


# --- memory traffic and the roofline -------------------------------------------------


def traffic_per_element(kind: str, dtype_bytes: int = 4, mask_bytes: int = 1) -> dict[str, int]:
    """Bytes read + written per element of ``x`` (the bias is ``H`` elements: negligible).

    The model: every kernel reads each of its inputs and writes its output once.

    * ``"eager"`` forward: ``x + bias`` (read x, write z: 2s), GELU (read z, write a: 2s),
      dropout (write a mask of ``mask_bytes``, then read a and the mask, write y:
      2s + 2m): ``6s + 2m``, 26 bytes in float32 with a bool mask.
      Backward: grad * mask * scale (read grad and mask, write: 2s + m), GELU backward
      (read that and z, write grad_z: 3s), ``grad_bias = grad_z.sum(0)`` (read: s): ``6s + m``.
    * ``"fused"`` (the C++ and Triton kernels, and what Inductor generates): forward reads x,
      writes y (``2s``); backward reads grad and x, writes grad_x (3s) and sums it for the
      bias (s): ``4s``.

    Args:
        kind: ``"eager"`` or ``"fused"``.
        dtype_bytes: bytes of one element (4 for float32).
        mask_bytes: bytes of one element of eager's saved mask (1: bool; 4: a float mask).

    Returns:
        ``{"forward": bytes, "backward": bytes}`` per element.

    Raises:
        ValueError: an unknown ``kind``.
    """
    s, m = dtype_bytes, mask_bytes
    if kind == "eager":
        return {"forward": 6 * s + 2 * m, "backward": 6 * s + m}
    if kind == "fused":
        return {"forward": 2 * s, "backward": 4 * s}
    raise ValueError(f"traffic_per_element: kind must be 'eager' or 'fused', got {kind!r}")


def achieved_gbs(bytes_per_element: float, numel: int, seconds: float) -> float:
    """Achieved bandwidth: bytes moved / time, in GB/s (1e9 bytes).

    Args:
        bytes_per_element: from :func:`traffic_per_element`.
        numel: elements processed.
        seconds: time of one call.

    Returns:
        GB/s.
    """
    return bytes_per_element * numel / seconds / 1e9


def arithmetic_intensity(bytes_per_element: float, flops_per_element: float = FLOPS_PER_ELEMENT) -> float:
    """FLOP per byte moved: the roofline's x axis.

    Args:
        bytes_per_element: from :func:`traffic_per_element`.
        flops_per_element: FLOPs per element (default :data:`FLOPS_PER_ELEMENT`).

    Returns:
        FLOP / byte.
    """
    return flops_per_element / bytes_per_element


def _best_seconds(fn, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def copy_bandwidth_gbs(numel: int = 2**25, repeats: int = 5, device: torch.device | str = "cpu") -> float:
    """The machine's measured memory bandwidth: the best of ``repeats`` ``dst.copy_(src)`` of float32.

    A copy reads ``4 * numel`` bytes and writes as many; pick ``numel`` far above the
    last-level cache (the default, 128 MiB a tensor) or the result is the cache's bandwidth.

    Args:
        numel: float32 elements per tensor.
        repeats: copies timed; the fastest counts.
        device: ``"cpu"`` or a CUDA device (synchronised around each copy).

    Returns:
        GB/s (read + written bytes over time).
    """
    device = torch.device(device)
    src = torch.ones(numel, device=device)
    dst = torch.empty_like(src)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def copy():
        dst.copy_(src)
        sync()

    copy()  # first touch: page faults, not bandwidth
    return 8 * numel / _best_seconds(copy, repeats) / 1e9


def matmul_gflops(n: int = 1024, repeats: int = 3, device: torch.device | str = "cpu") -> float:
    """A compute roof: float32 GFLOP/s of an ``n x n`` matmul (``2 n**3`` FLOPs), the best of ``repeats``.

    Args:
        n: matrix side.
        repeats: products timed; the fastest counts.
        device: where to multiply.

    Returns:
        GFLOP/s.
    """
    device = torch.device(device)
    a = torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def mm():
        a @ a
        sync()

    mm()
    return 2 * n**3 / _best_seconds(mm, repeats) / 1e9


def plot_roofline(points: list[dict], copy_gbs: float, peak_gflops: float | None = None,
                  path: str | os.PathLike | None = None,
                  title: str = "bias + GELU + dropout") -> Figure:
    """A roofline: each point at (FLOP/byte, GFLOP/s) under the bandwidth roof ``copy_gbs * intensity``.

    Args:
        points: dicts with ``"label"``, ``"intensity"`` (FLOP/byte) and ``"gflops"``.
        copy_gbs: the measured copy bandwidth (the slanted roof).
        peak_gflops: a compute roof (the flat line), e.g. :func:`matmul_gflops`; ``None``: none drawn.
        path: save the figure here (PNG) if given.
        title: the figure's title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    lo = min(p["intensity"] for p in points) / 4
    hi = max(max(p["intensity"] for p in points) * 4, (peak_gflops or 0) / copy_gbs * 4)
    xs = [lo * (hi / lo) ** (k / 100) for k in range(101)]
    roof = [copy_gbs * x if peak_gflops is None else min(copy_gbs * x, peak_gflops) for x in xs]
    ax.plot(xs, roof, color="black", linewidth=1.5, label=f"roof: copy bandwidth {copy_gbs:.1f} GB/s"
            + ("" if peak_gflops is None else f", matmul {peak_gflops:.0f} GFLOP/s"))
    for i, p in enumerate(points):
        ax.scatter([p["intensity"]], [p["gflops"]], s=50, color=f"C{i}", zorder=3, label=p["label"])
    ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (FLOP / byte moved)",
           ylabel="GFLOP/s", title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
