"""A small model of PyTorch's CUDA caching allocator, to see fragmentation on a CPU.

PyTorch does not give GPU memory back to the driver when a tensor dies: its caching
allocator (``c10/cuda/CUDACachingAllocator.cpp``) keeps the block and hands it to the
next request that fits. :class:`ToyCachingAllocator` follows the same rules, at the
same sizes, for one device and one stream:

* a request is rounded up to a multiple of 512 bytes (``kMinBlockSize``);
* requests of at most 1 MiB (``kSmallSize``) use the *small pool*, larger ones the
  *large pool*; a block never moves between pools;
* a request is served from the smallest cached free block of its pool that is big
  enough (best fit); if that block is larger, it is **split**, and the remainder stays
  cached as a free block — in the small pool when at least 512 bytes remain, in the
  large pool only when more than 1 MiB remains (otherwise the request gets the whole
  block);
* when no cached block fits, a new **segment** is reserved from the device
  (``cudaMalloc``): 2 MiB (``kSmallBuffer``) for a small request, 20 MiB
  (``kLargeBuffer``) for a request under 10 MiB (``kMinLargeAlloc``), else the request
  rounded up to 2 MiB (``kRoundLarge``);
* if the device refuses, the allocator frees its cached segments that are entirely free
  (what ``torch.cuda.empty_cache()`` does) and tries once more; if that fails too, it
  raises the out-of-memory error, whose message separates memory *allocated* to
  tensors from memory *reserved* by PyTorch but unallocated;
* a freed block is merged with free neighbours **in its own segment**; two segments are
  never merged, so a small live block in the middle of a segment keeps both of its
  sides apart.

Left out: streams and events, ``max_split_size_mb``, the rounding options of
``PYTORCH_CUDA_ALLOC_CONF``, garbage-collection thresholds and expandable segments.

Examples:
    >>> alloc = ToyCachingAllocator(capacity=100 * MiB)
    >>> a = alloc.malloc(3 * MiB)        # a 20 MiB segment, split
    >>> alloc.reserved // MiB, alloc.allocated // MiB
    (20, 3)
    >>> alloc.free(a)
    >>> alloc.reserved // MiB, alloc.allocated // MiB   # cached, not returned
    (20, 0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Block",
    "KiB",
    "MiB",
    "Segment",
    "ToyCachingAllocator",
    "ToyOutOfMemoryError",
    "allocation_size",
    "format_size",
    "round_size",
]

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
MIN_BLOCK = 512  # kMinBlockSize: every size is a multiple of this
SMALL_SIZE = 1 * MiB  # kSmallSize: the largest "small" request
SMALL_BUFFER = 2 * MiB  # kSmallBuffer: a small-pool segment
MIN_LARGE_ALLOC = 10 * MiB  # kMinLargeAlloc: below this, large requests share 20 MiB segments
LARGE_BUFFER = 20 * MiB  # kLargeBuffer
ROUND_LARGE = 2 * MiB  # kRoundLarge: larger segments are rounded up to this


def round_size(size: int) -> int:
    """A request's size as the allocator stores it: at least 512 bytes, a multiple of 512.

    Args:
        size: bytes requested.

    Returns:
        The rounded size.
    """
    if size < MIN_BLOCK:
        return MIN_BLOCK
    return MIN_BLOCK * ((size + MIN_BLOCK - 1) // MIN_BLOCK)


def allocation_size(size: int) -> int:
    """The size of the segment reserved from the device for a (rounded) request that nothing cached fits.

    Args:
        size: the rounded request.

    Returns:
        2 MiB, 20 MiB, or the request rounded up to 2 MiB.
    """
    if size <= SMALL_SIZE:
        return SMALL_BUFFER
    if size < MIN_LARGE_ALLOC:
        return LARGE_BUFFER
    return ROUND_LARGE * ((size + ROUND_LARGE - 1) // ROUND_LARGE)


def format_size(size: int) -> str:
    """Bytes written as the allocator's messages write them (``20.00 MiB``).

    Args:
        size: bytes.

    Returns:
        ``N bytes``, ``x.xx KiB``, ``x.xx MiB`` or ``x.xx GiB``.
    """
    if size <= KiB:
        return f"{size} bytes"
    if size <= MiB:
        return f"{size / KiB:.2f} KiB"
    if size <= GiB:
        return f"{size / MiB:.2f} MiB"
    return f"{size / GiB:.2f} GiB"


class ToyOutOfMemoryError(RuntimeError):
    """The toy device is full; the message has the fields of ``torch.OutOfMemoryError``'s."""


@dataclass(eq=False)
class Block:
    """A piece of a segment: ``[offset, offset + size)``, allocated or cached free."""

    segment: Segment
    offset: int
    size: int
    allocated: bool = False
    requested: int = 0  # the size asked for (before rounding), while allocated

    @property
    def pool(self) -> str:
        """``"small"`` or ``"large"``: the pool of the segment this block belongs to."""
        return self.segment.pool


@dataclass(eq=False)
class Segment:
    """Memory reserved from the device in one piece; its blocks tile it in address order."""

    address: int
    size: int
    pool: str
    blocks: list[Block] = field(default_factory=list)


class ToyCachingAllocator:
    """One device's caching allocator, reduced to its block-and-segment rules (see the module).

    Args:
        capacity: bytes the device has.

    Attributes:
        segments: the reserved segments, in the order they were reserved.
        device_mallocs: how many times a segment was reserved from the device.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.segments: list[Segment] = []
        self.device_mallocs = 0
        self._next_address = 0

    @property
    def reserved(self) -> int:
        """Bytes of all segments (``torch.cuda.memory_reserved()``)."""
        return sum(s.size for s in self.segments)

    @property
    def allocated(self) -> int:
        """Bytes of the blocks live tensors hold (``torch.cuda.memory_allocated()``)."""
        return sum(b.size for s in self.segments for b in s.blocks if b.allocated)

    def free_blocks(self, pool: str | None = None) -> list[Block]:
        """The cached free blocks (of one pool, or of both).

        Args:
            pool: ``"small"``, ``"large"`` or ``None`` for both.

        Returns:
            The blocks, in address order.
        """
        return [b for s in self.segments for b in s.blocks
                if not b.allocated and (pool is None or s.pool == pool)]

    def malloc(self, size: int) -> Block:
        """Allocate ``size`` bytes: a cached block if one fits, else a new segment.

        Args:
            size: bytes requested (a tensor's ``nbytes``).

        Returns:
            The block now allocated.

        Raises:
            ValueError: ``size`` is not positive.
            ToyOutOfMemoryError: the device cannot give the segment, even after the
                allocator freed its entirely free cached segments.
        """
        if size <= 0:
            raise ValueError(f"malloc: size must be positive, got {size}")
        rounded = round_size(size)
        pool = "small" if rounded <= SMALL_SIZE else "large"
        candidates = [b for b in self.free_blocks(pool) if b.size >= rounded]
        if candidates:
            block = min(candidates, key=lambda b: (b.size, b.segment.address + b.offset))
        else:
            block = self._new_segment(allocation_size(rounded), pool, rounded)
        self._split(block, rounded)
        block.allocated, block.requested = True, size
        return block

    def free(self, block: Block) -> None:
        """Give a block back to the cache (not to the device) and merge it with free neighbours.

        Args:
            block: a block :meth:`malloc` returned.

        Raises:
            ValueError: the block is not allocated (freed twice, or not from this allocator).
        """
        segment = block.segment
        if not block.allocated or segment not in self.segments or block not in segment.blocks:
            raise ValueError("free: this block is not allocated by this allocator")
        block.allocated, block.requested = False, 0
        i = segment.blocks.index(block)
        if i + 1 < len(segment.blocks) and not segment.blocks[i + 1].allocated:
            block.size += segment.blocks.pop(i + 1).size
        if i > 0 and not segment.blocks[i - 1].allocated:
            prev = segment.blocks[i - 1]
            prev.size += segment.blocks.pop(i).size

    def empty_cache(self) -> int:
        """Return every entirely free segment to the device (``torch.cuda.empty_cache()``).

        Returns:
            Bytes returned.
        """
        unused = [s for s in self.segments if len(s.blocks) == 1 and not s.blocks[0].allocated]
        self.segments = [s for s in self.segments if s not in unused]
        return sum(s.size for s in unused)

    def _new_segment(self, size: int, pool: str, request: int) -> Block:
        if self.reserved + size > self.capacity:
            self.empty_cache()  # the allocator's retry: free cached segments, try again
        if self.reserved + size > self.capacity:
            raise ToyOutOfMemoryError(self._oom_message(request))
        segment = Segment(self._next_address, size, pool)
        self._next_address += size
        block = Block(segment, 0, size)
        segment.blocks.append(block)
        self.segments.append(segment)
        self.device_mallocs += 1
        return block

    def _split(self, block: Block, size: int) -> None:
        remaining = block.size - size
        keep = remaining >= MIN_BLOCK if block.pool == "small" else remaining > SMALL_SIZE
        if keep:
            rest = Block(block.segment, block.offset + size, remaining)
            block.size = size
            blocks = block.segment.blocks
            blocks.insert(blocks.index(block) + 1, rest)

    def _oom_message(self, request: int) -> str:
        free = format_size(self.capacity - self.reserved)
        return (f"CUDA out of memory. Tried to allocate {format_size(request)}. "
                f"GPU 0 has a total capacity of {format_size(self.capacity)} of which {free} is free. "
                f"Of the allocated memory {format_size(self.allocated)} is allocated by PyTorch, and "
                f"{format_size(self.reserved - self.allocated)} is reserved by PyTorch but unallocated. "
                "If reserved but unallocated memory is large try setting "
                "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.")
