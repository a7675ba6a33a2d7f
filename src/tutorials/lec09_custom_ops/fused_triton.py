"""Bias + GELU + dropout as a Triton kernel: the GPU version of ``csrc/fused_bias_gelu_dropout.cpp``.

The same computation, the same dropout mask (the counter-based hash of
:mod:`tutorials.lec09_custom_ops.fused`: ``hash32(index XOR key) >> 8 >= threshold``,
here in ``tl.uint32`` arithmetic, which wraps modulo 2**32 like C++'s ``uint32_t``),
the same one read of ``x`` and one write of ``y``. Each program instance handles
``BLOCK`` consecutive elements of the flattened ``(N, H)`` tensor: it loads them with
``tl.load`` under a mask (``offsets < n_elements``: the last block is partial), loads
the bias at ``offsets % H``, computes in float32 and stores with ``tl.store``.
``tanh`` is written with ``tl.exp`` (``1 - 2 / (exp(2u) + 1)``), which every Triton
backend and the interpreter have.

**Where it runs.** On CUDA tensors the kernels are compiled (PTX) at their first call.
On CPU tensors they run in Triton's interpreter (NumPy, for correctness only, slow):
``triton.jit`` decides between the two **when the kernels are defined**, i.e. when this
module is imported, by reading ``TRITON_INTERPRET``. So set it before the import, and
leave it set (Triton's own helper kernels, imported at the first launch, read it too,
and a mixture fails with an ``AssertionError`` inside ``triton.experimental.gluon``)::

    import os
    os.environ["TRITON_INTERPRET"] = "1"        # before the import below, for the whole process
    from tutorials.lec09_custom_ops import fused_triton

:func:`interpreted` says which mode the kernels were built in; calling them on CPU
tensors in compiled mode raises a ``RuntimeError`` that says what to do. Without Triton
installed the module still imports: :data:`TRITON_ERROR` says why, and the functions
raise ``RuntimeError`` with that message (the lab prints it and skips the Triton rows).

Examples:
    >>> import torch
    >>> if interpreted():  # a CPU check of the kernel, TRITON_INTERPRET=1 set before the import
    ...     x, b = torch.randn(3, 5), torch.randn(5)
    ...     from tutorials.lec09_custom_ops.fused import reference
    ...     assert torch.allclose(bias_gelu_dropout_triton(x, b, 0.5, 1), reference(x, b, 0.5, 1), atol=1e-6)
"""

from __future__ import annotations

import torch
from torch import Tensor

from tutorials.lec09_custom_ops.fused import dropout_params

__all__ = [
    "DEFAULT_BLOCK",
    "TRITON_ERROR",
    "FusedBiasGeluDropoutTriton",
    "bias_gelu_dropout_triton",
    "bias_gelu_dropout_triton_backward",
    "interpreted",
    "triton_available",
]

#: Elements per program instance (a power of two; 1024 = 8 warps x 32 threads x 4 elements).
DEFAULT_BLOCK = 1024

try:
    import triton
    import triton.language as tl

    TRITON_ERROR: str | None = None
except ImportError as err:  # the GPU machine's torch may come without it
    triton = tl = None
    TRITON_ERROR = f"Triton is not installed ({err}): the Triton kernel cannot run; pip install triton"

if triton is not None:

    # --8<-- [start:triton_forward]
    @triton.jit
    def _kept(offsets, key, threshold):
        """Whether each element survives dropout: the C++ kernel's hash, in uint32 arithmetic."""
        h = offsets.to(tl.uint32) ^ key.to(tl.uint32)
        h = h ^ (h >> 16)
        h = h * 0x7FEB352D
        h = h ^ (h >> 15)
        h = h * 0x2C1B3C6D
        h = h ^ (h >> 16)
        return (h >> 8) >= threshold

    @triton.jit(do_not_specialize=["key", "threshold"])  # a value of 1 would become a constexpr
    def _forward_kernel(x_ptr, b_ptr, y_ptr, n_elements, H, key, threshold, scale,
                        DROPOUT: tl.constexpr, BLOCK: tl.constexpr):
        pid = tl.program_id(axis=0)
        offsets = pid * BLOCK + tl.arange(0, BLOCK)  # this instance's BLOCK elements
        inside = offsets < n_elements  # the last block is partial
        x = tl.load(x_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
        b = tl.load(b_ptr + offsets % H, mask=inside, other=0.0).to(tl.float32)
        z = x + b
        u = 0.7978845608028654 * (z + 0.044715 * z * z * z)
        t = 1.0 - 2.0 / (tl.exp(2.0 * u) + 1.0)  # tanh(u)
        y = 0.5 * z * (1.0 + t)
        if DROPOUT:  # the same hash as the C++ kernel: recomputed, never stored
            y = tl.where(_kept(offsets, key, threshold), y * scale, 0.0)
        tl.store(y_ptr + offsets, y.to(y_ptr.dtype.element_ty), mask=inside)
    # --8<-- [end:triton_forward]

    @triton.jit(do_not_specialize=["key", "threshold"])
    def _backward_kernel(g_ptr, x_ptr, b_ptr, gx_ptr, n_elements, H, key, threshold, scale,
                         DROPOUT: tl.constexpr, BLOCK: tl.constexpr):
        pid = tl.program_id(axis=0)
        offsets = pid * BLOCK + tl.arange(0, BLOCK)
        inside = offsets < n_elements
        g = tl.load(g_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
        x = tl.load(x_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
        b = tl.load(b_ptr + offsets % H, mask=inside, other=0.0).to(tl.float32)
        z = x + b  # recomputed from x and bias: nothing else was saved
        u = 0.7978845608028654 * (z + 0.044715 * z * z * z)
        t = 1.0 - 2.0 / (tl.exp(2.0 * u) + 1.0)
        dgelu = 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 0.134145 * z * z)
        gx = g * dgelu
        if DROPOUT:  # the forward's mask, recomputed from the element's index
            gx = tl.where(_kept(offsets, key, threshold), gx * scale, 0.0)
        tl.store(gx_ptr + offsets, gx.to(gx_ptr.dtype.element_ty), mask=inside)


def triton_available() -> tuple[bool, str]:
    """Whether the Triton kernels can run here, and why not.

    Returns:
        ``(True, "compiled for CUDA")`` / ``(True, "interpreted on CPU (TRITON_INTERPRET=1)")``,
        or ``(False, reason)``: Triton missing, or neither CUDA nor the interpreter.
    """
    if TRITON_ERROR is not None:
        return False, TRITON_ERROR
    if interpreted():
        return True, "interpreted on CPU (TRITON_INTERPRET=1)"
    if torch.cuda.is_available():
        return True, "compiled for CUDA"
    return False, ("no CUDA device, and the kernels were not built for the interpreter: set "
                   "TRITON_INTERPRET=1 before importing tutorials.lec09_custom_ops.fused_triton")


def interpreted() -> bool:
    """True when the kernels were defined under ``TRITON_INTERPRET=1`` (they then run on CPU tensors)."""
    return triton is not None and type(_forward_kernel).__name__ == "InterpretedFunction"


def _check(x: Tensor, bias: Tensor, op: str) -> None:
    if TRITON_ERROR is not None:
        raise RuntimeError(f"{op}: {TRITON_ERROR}")
    if x.dim() != 2 or bias.shape != (x.shape[1],):
        raise RuntimeError(f"{op}: x must be (N, H) and bias (H,), got {tuple(x.shape)} and "
                           f"{tuple(bias.shape)}")
    if x.device != bias.device or x.dtype != bias.dtype:
        raise RuntimeError(f"{op}: x and bias must share device and dtype, got {x.device}/{x.dtype} and "
                           f"{bias.device}/{bias.dtype}")
    if x.device.type == "cpu" and not interpreted():
        raise RuntimeError(f"{op}: CPU tensors need Triton's interpreter: set TRITON_INTERPRET=1 before "
                           "importing tutorials.lec09_custom_ops.fused_triton (or use CUDA tensors)")
    if x.device.type not in ("cpu", "cuda"):
        raise RuntimeError(f"{op}: CUDA tensors (or CPU tensors under TRITON_INTERPRET=1), got {x.device}")


# --8<-- [start:triton_launch]
def bias_gelu_dropout_triton(x: Tensor, bias: Tensor, p: float = 0.1, seed: int = 0, training: bool = True,
                             block: int = DEFAULT_BLOCK) -> Tensor:
    """Launch the forward kernel: one program instance per ``block`` elements.

    Args:
        x: ``(N, H)`` CUDA tensor (CPU under ``TRITON_INTERPRET=1``), float32, bfloat16 or float16.
        bias: ``(H,)``, same device and dtype.
        p: dropout probability in ``[0, 1]``.
        seed: dropout seed: the same mask as :func:`tutorials.lec09_custom_ops.fused.reference`.
        training: apply dropout or not.
        block: elements per program instance (a power of two).

    Returns:
        ``dropout(gelu_tanh(x + bias))`` (not differentiable: see :class:`FusedBiasGeluDropoutTriton`).

    Raises:
        RuntimeError: Triton missing, a wrong shape, or CPU tensors without the interpreter.
    """
    _check(x, bias, "bias_gelu_dropout_triton")
    key, threshold, scale = dropout_params(p, seed, training)
    x, bias = x.contiguous(), bias.contiguous()
    y = torch.empty_like(x)
    n = x.numel()
    grid = (triton.cdiv(n, block),)
    _forward_kernel[grid](x, bias, y, n, x.shape[1], key, threshold, scale,
                          DROPOUT=threshold > 0 or scale != 1.0, BLOCK=block)
    return y
# --8<-- [end:triton_launch]


def bias_gelu_dropout_triton_backward(grad: Tensor, x: Tensor, bias: Tensor, p: float = 0.1, seed: int = 0,
                                      training: bool = True, block: int = DEFAULT_BLOCK) -> Tensor:
    """Launch the backward kernel: ``grad_x = grad * mask * scale * gelu'(x + bias)``.

    Args:
        grad: gradient of the output, like ``x``.
        x: the forward's input.
        bias: the forward's bias.
        p: the forward's dropout probability.
        seed: the forward's seed (the mask is recomputed from it).
        training: the forward's mode.
        block: elements per program instance.

    Returns:
        ``grad_x`` (``grad_bias`` is ``grad_x.sum(0)``).
    """
    _check(x, bias, "bias_gelu_dropout_triton_backward")
    if grad.shape != x.shape:
        raise RuntimeError(f"bias_gelu_dropout_triton_backward: grad must have x's shape {tuple(x.shape)}, "
                           f"got {tuple(grad.shape)}")
    key, threshold, scale = dropout_params(p, seed, training)
    grad, x, bias = grad.contiguous(), x.contiguous(), bias.contiguous()
    gx = torch.empty_like(x)
    n = x.numel()
    _backward_kernel[(triton.cdiv(n, block),)](grad, x, bias, gx, n, x.shape[1], key, threshold, scale,
                                               DROPOUT=threshold > 0 or scale != 1.0, BLOCK=block)
    return gx


class FusedBiasGeluDropoutTriton(torch.autograd.Function):
    """The Triton kernels as a differentiable function: ``.apply(x, bias, p, seed, training)``.

    Saves only ``x`` and ``bias``; the backward recomputes ``x + bias`` and the mask.
    """

    @staticmethod
    def forward(x: Tensor, bias: Tensor, p: float = 0.1, seed: int = 0, training: bool = True) -> Tensor:
        """Run the forward kernel."""
        return bias_gelu_dropout_triton(x, bias, p, seed, training)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        """Save what the backward needs: x, bias and the dropout settings."""
        x, bias, p, seed, training = (list(inputs) + [0.1, 0, True][len(inputs) - 2:])[:5]
        ctx.save_for_backward(x, bias)
        ctx.p, ctx.seed, ctx.training = p, seed, training

    @staticmethod
    def backward(ctx, grad: Tensor):
        """Run the backward kernel; the bias gradient sums it over rows."""
        x, bias = ctx.saved_tensors
        gx = bias_gelu_dropout_triton_backward(grad, x, bias, ctx.p, ctx.seed, ctx.training)
        return gx, (gx.sum(0) if ctx.needs_input_grad[1] else None), None, None, None
