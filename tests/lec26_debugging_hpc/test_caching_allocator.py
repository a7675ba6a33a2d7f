"""The toy allocator follows the caching allocator's rules: rounding, pools, segment sizes, splitting,
merging within a segment only, the retry after freeing cached segments, and the OOM message."""

import doctest

import pytest

from tutorials.lec26_debugging_hpc import caching_allocator as ca
from tutorials.lec26_debugging_hpc.caching_allocator import KiB, MiB, ToyCachingAllocator, ToyOutOfMemoryError


def test_doctest():
    assert doctest.testmod(ca).failed == 0


def test_rounding_and_segment_sizes():
    assert [ca.round_size(n) for n in (1, 512, 513, 1000)] == [512, 512, 1024, 1024]
    assert ca.allocation_size(MiB) == 2 * MiB  # small pool
    assert ca.allocation_size(MiB + 512) == 20 * MiB  # large request under 10 MiB
    assert ca.allocation_size(10 * MiB) == 10 * MiB
    assert ca.allocation_size(11 * MiB) == 12 * MiB  # rounded up to 2 MiB
    assert [ca.format_size(n) for n in (1024, 1536, 3 * MiB, 5 * 1024 * MiB)] == [
        "1024 bytes", "1.50 KiB", "3.00 MiB", "5.00 GiB"]


def test_best_fit_split_and_pools():
    gpu = ToyCachingAllocator(200 * MiB)
    small = gpu.malloc(100 * KiB)
    assert small.pool == "small"
    assert [b.size for b in small.segment.blocks] == [100 * KiB, 2 * MiB - 100 * KiB]
    big = gpu.malloc(19 * MiB + 512 * KiB)  # leaves 512 KiB: not split in the large pool (must be > 1 MiB)
    assert big.size == 20 * MiB and len(big.segment.blocks) == 1
    a = gpu.malloc(3 * MiB)
    assert len(a.segment.blocks) == 2 and gpu.device_mallocs == 3
    gpu.free(a)
    assert len(a.segment.blocks) == 1, "freed block merged with its free neighbour"
    b = gpu.malloc(4 * MiB)  # reuses the cached 20 MiB segment (best fit), no new segment
    assert gpu.device_mallocs == 3 and b.segment is a.segment
    assert gpu.allocated == 100 * KiB + 20 * MiB + 4 * MiB


def test_merge_stays_inside_a_segment_and_fragmentation_ooms():
    gpu = ToyCachingAllocator(100 * MiB)
    gpu.free(gpu.malloc(60 * MiB))
    b1, keep, b2 = gpu.malloc(20 * MiB), gpu.malloc(2 * MiB), gpu.malloc(20 * MiB)
    gpu.free(b1)
    gpu.free(b2)
    layout = [(b.size // MiB, b.allocated) for b in keep.segment.blocks]
    assert layout == [(20, False), (2, True), (38, False)]
    with pytest.raises(ToyOutOfMemoryError) as info:
        gpu.malloc(50 * MiB)
    assert str(info.value).startswith(
        "CUDA out of memory. Tried to allocate 50.00 MiB. GPU 0 has a total capacity of 100.00 MiB of which "
        "40.00 MiB is free. Of the allocated memory 2.00 MiB is allocated by PyTorch, and 58.00 MiB is "
        "reserved by PyTorch but unallocated.")


def test_retry_frees_cached_segments():
    gpu = ToyCachingAllocator(100 * MiB)
    gpu.free(gpu.malloc(60 * MiB))  # a cached, entirely free segment
    x = gpu.malloc(70 * MiB)  # does not fit the cache, nor the device beside it: the cache is emptied first
    assert gpu.reserved == 70 * MiB and x.size == 70 * MiB
    assert gpu.empty_cache() == 0


def test_bad_calls():
    gpu = ToyCachingAllocator(10 * MiB)
    with pytest.raises(ValueError, match="positive"):
        gpu.malloc(0)
    block = gpu.malloc(KiB)
    gpu.free(block)
    with pytest.raises(ValueError, match="not allocated"):
        gpu.free(block)
