"""Lecture 27's hypothetical operator, ``course27::softcap``: its C++ build and its test inputs.

``softcap(x, cap) = cap * tanh(x / cap)`` squashes values smoothly into ``(-cap, cap)``
(logit soft-capping, as in Gemma 2). The C++ source in ``csrc/softcap.cpp`` defines the
schema and the CPU kernel; :func:`build_softcap` compiles it once with
``torch.utils.cpp_extension.load_inline`` under one stable name, so the page and the tests
share one build (in ``TORCH_EXTENSIONS_DIR``). The helpers here are what an OpInfo entry
holds: a reference implementation and a generator of sample inputs.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tutorials.core.cpp_build import pinned_ninja

EXTENSION_NAME = "lec27_softcap"
CSRC = Path(__file__).resolve().parent / "csrc" / "softcap.cpp"
SCHEMA = "softcap(Tensor self, float cap) -> Tensor"
_BUILT: dict[str, types.ModuleType] = {}


def build_softcap(verbose: bool = False) -> types.ModuleType:
    """Compile ``csrc/softcap.cpp`` (once per process; a warm build cache makes it seconds).

    Loading the library runs its ``TORCH_LIBRARY`` blocks, which define
    ``torch.ops.course27.softcap`` with a CPU kernel.

    Args:
        verbose: print the compiler's command lines.

    Returns:
        The extension module (it exposes ``register_wrong_signature``, used to show a
        schema mismatch).
    """
    if EXTENSION_NAME not in _BUILT:
        import warnings

        from torch.utils.cpp_extension import load_inline

        source = CSRC.read_text(encoding="utf-8")
        # pinned_ninja: one ninja version for every process (no spurious rebuilds)
        with warnings.catch_warnings(), pinned_ninja():
            warnings.simplefilter("ignore")  # "No CUDA runtime is found" on CPU-only machines
            _BUILT[EXTENSION_NAME] = load_inline(
                name=EXTENSION_NAME, cpp_sources=[source], functions=["register_wrong_signature"],
                extra_cflags=["-O2"], with_cuda=False, verbose=verbose)
    return _BUILT[EXTENSION_NAME]


def reference_softcap(x: torch.Tensor, cap: float) -> torch.Tensor:
    """The reference the kernel is tested against: computed in float64 from torch ops.

    Args:
        x: input tensor (any floating dtype, shape and strides).
        cap: positive cap.

    Returns:
        ``cap * tanh(x / cap)`` in ``x``'s dtype.
    """
    return (cap * torch.tanh(x.double() / cap)).to(x.dtype)


@dataclass
class Sample:
    """One sample input, as OpInfo's ``SampleInput`` holds it: the tensor and the other arguments."""

    input: torch.Tensor
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    name: str = ""


def sample_inputs_softcap(dtype: torch.dtype, device: str = "cpu",
                          requires_grad: bool = False) -> Iterator[Sample]:
    """Sample inputs for ``softcap``: scalar, empty, 1-d, 2-d, non-contiguous, saturating.

    Args:
        dtype: dtype of the input tensors.
        device: where to make them.
        requires_grad: whether the inputs require grad (for gradcheck).

    Yields:
        :class:`Sample` objects, each with ``args == (cap,)``.
    """
    g = torch.Generator().manual_seed(0)

    def make(*shape: int, scale: float = 3.0) -> torch.Tensor:
        return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype=dtype, device=device)

    def leaf(t: torch.Tensor) -> torch.Tensor:
        return t.detach().requires_grad_(requires_grad)  # a leaf, even when t is a view

    yield Sample(leaf(make()), (2.0,), name="0-d")
    yield Sample(leaf(make(0)), (2.0,), name="empty")
    yield Sample(leaf(make(7)), (1.0,), name="1-d")
    yield Sample(leaf(make(3, 5)), (30.0,), name="2-d, large cap")
    yield Sample(leaf(make(4, 6).t()), (2.5,), name="transposed")
    yield Sample(leaf(make(10)[::3]), (0.5,), name="strided")
    yield Sample(leaf(make(6, scale=50.0)), (1.0,), name="saturating")
