"""Self-checks for the exercises of Lecture 2 (tensors, strides, memory format).

Each ``check_*`` function takes *your* answer, exercises it on inputs it builds
itself, prints a one-line confirmation when the answer is right, and raises an
``AssertionError`` that says what is wrong (and usually a hint) when it is not.

Examples:
    >>> import torch
    >>> check_weighted_histogram(
    ...     lambda labels, weights, n: torch.bincount(labels, weights, minlength=n))
    ✓ weighted histogram: every duplicate label counted, with its weight

"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = [
    "check_pairwise_sq_distances",
    "check_sliding_windows",
    "check_strides_for",
    "check_weighted_histogram",
]


def check_strides_for(fn: Callable[..., Sequence[int]]) -> None:
    """Exercise 1: the strides of a freshly allocated tensor, in either memory format.

    ``fn(shape)`` must return the strides of a contiguous (row-major) tensor of that
    shape, and ``fn(shape, channels_last=True)`` those of a 4-D NCHW tensor stored
    channels-last (NHWC).

    Args:
        fn: your function.

    Raises:
        AssertionError: a stride tuple differs from what PyTorch allocates.
    """
    shapes = [(5,), (3, 4), (2, 3, 4), (2, 1, 5), (4, 3, 8, 8)]
    for shape in shapes:
        expected = torch.empty(shape).stride()
        got = tuple(int(s) for s in fn(shape))
        assert got == expected, (
            f"strides_for({shape}) should be {expected}, got {got}; in row-major order the "
            "last dimension has stride 1 and each stride is the product of the sizes to "
            "its right"
        )
    for shape in [(2, 3, 4, 5), (1, 8, 2, 2), (4, 3, 8, 8)]:
        expected = torch.empty(shape).to(memory_format=torch.channels_last).stride()
        got = tuple(int(s) for s in fn(shape, channels_last=True))
        assert got == expected, (
            f"strides_for({shape}, channels_last=True) should be {expected}, got {got}; "
            "channels-last stores N, H, W, C in that order: C gets stride 1, W gets C, "
            "H gets W*C, N gets H*W*C, and the result is listed in N, C, H, W order"
        )
    print("✓ strides_for: row-major and channels-last strides match PyTorch's")


def check_sliding_windows(fn: Callable[[Tensor, int, int], Tensor]) -> None:
    """Exercise 2: overlapping windows of a 1-D tensor with ``as_strided``, no copy.

    ``fn(x, size, step)`` must return a ``(num_windows, size)`` view of ``x`` whose
    row ``k`` is ``x[k*step : k*step + size]``, the same as ``x.unfold(0, size, step)``.

    Args:
        fn: your function.

    Raises:
        AssertionError: the windows are wrong, or were copied instead of viewed.
    """
    base = torch.arange(40.0)
    cases = [
        ("x = torch.arange(40.)", base, 4, 2),
        ("x = torch.arange(40.)", base, 5, 5),
        ("x = torch.arange(40.)[3:]", base[3:], 6, 3),   # a storage offset
        ("x = torch.arange(40.)[::2]", base[::2], 3, 1),  # a stride of 2
    ]
    for text, x, size, step in cases:
        expected = x.unfold(0, size, step)
        got = fn(x, size, step)
        assert isinstance(got, Tensor) and got.shape == expected.shape, (
            f"{text}, size={size}, step={step}: expected shape {tuple(expected.shape)}, got "
            f"{tuple(getattr(got, 'shape', ()))}; there are (len(x) - size) // step + 1 windows"
        )
        assert torch.equal(got, expected), (
            f"{text}, size={size}, step={step}: windows differ from x.unfold(0, size, step); "
            "strides are counted in storage elements, so multiply by x.stride(0), and "
            "leave storage_offset at its default to start where x starts"
        )
        assert got.untyped_storage().data_ptr() == x.untyped_storage().data_ptr(), (
            f"{text}: the windows were copied; build them with x.as_strided(...) so they "
            "share x's storage"
        )
    print("✓ sliding_windows: a view of x, equal to x.unfold for offsets and strides")


def check_pairwise_sq_distances(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Exercise 3: all squared distances between two point sets, by broadcasting.

    ``fn(a, b)`` with ``a`` of shape ``(N, D)`` and ``b`` of shape ``(M, D)`` must
    return the ``(N, M)`` tensor of ``||a[i] - b[j]||^2``.

    Args:
        fn: your function.

    Raises:
        AssertionError: the shape or the values are wrong.
    """
    g = torch.Generator().manual_seed(2)
    for n, m, d in [(5, 7, 3), (4, 4, 2), (1, 6, 5)]:
        a = torch.randn(n, d, generator=g, dtype=torch.float64)
        b = torch.randn(m, d, generator=g, dtype=torch.float64)
        expected = torch.cdist(a, b) ** 2
        try:
            got = fn(a, b)
        except RuntimeError as err:
            raise AssertionError(
                f"a {tuple(a.shape)}, b {tuple(b.shape)}: your function raised "
                f"'{str(err).splitlines()[0]}'; insert size-1 dimensions so that a becomes "
                "(N, 1, D) and b (1, M, D) before subtracting"
            ) from err
        assert isinstance(got, Tensor) and got.shape == (n, m), (
            f"a {tuple(a.shape)}, b {tuple(b.shape)}: expected shape ({n}, {m}), got "
            f"{tuple(getattr(got, 'shape', ()))}; subtract a[:, None, :] - b[None, :, :] and "
            "sum the squares over the last dimension"
        )
        assert torch.allclose(got.to(expected.dtype), expected, atol=1e-6), (
            f"a {tuple(a.shape)}, b {tuple(b.shape)}: values differ from "
            "torch.cdist(a, b) ** 2 by up to "
            f"{float((got.to(expected.dtype) - expected).abs().max()):.3g}"
        )
    print("✓ pairwise squared distances: right shape and values for N != M")


def check_weighted_histogram(fn: Callable[[Tensor, Tensor, int], Tensor]) -> None:
    """Exercise 4: sum weights per label, with repeated labels.

    ``fn(labels, weights, num_classes)`` must return a float tensor of length
    ``num_classes`` whose entry ``c`` is the sum of ``weights[labels == c]``.

    Args:
        fn: your function.

    Raises:
        AssertionError: a class total is wrong, typically because repeated labels
            were written instead of added.
    """
    labels = torch.tensor([2, 0, 2, 2, 4, 0])
    weights = torch.tensor([1.0, 0.5, 2.0, 0.25, 3.0, 1.5])
    expected = torch.tensor([2.0, 0.0, 3.25, 0.0, 3.0, 0.0])  # class 5 never occurs
    got = fn(labels, weights, 6)
    assert isinstance(got, Tensor) and got.shape == (6,), (
        f"num_classes=6: expected a tensor of shape (6,), got "
        f"{tuple(getattr(got, 'shape', ()))}; classes that never occur still get an "
        "entry (torch.bincount needs minlength=num_classes)"
    )
    assert torch.allclose(got.float(), expected), (
        f"labels {labels.tolist()}, weights {weights.tolist()}: expected "
        f"{expected.tolist()}, got {got.tolist()}. `out[labels] += weights` keeps one write "
        "per repeated label; use out.index_add_(0, labels, weights) or torch.bincount"
    )
    print("✓ weighted histogram: every duplicate label counted, with its weight")
