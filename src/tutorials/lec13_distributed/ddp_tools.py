"""A DDP communication hook that does DDP's job and records every bucket it all-reduces.

DistributedDataParallel hands each *bucket* of gradients (a flat buffer holding the
gradients of several parameters) to a communication hook as soon as all of them are
ready in backward, and waits for the hook's future before the optimizer may step.
:func:`recording_allreduce_hook` does what DDP's default does (divide by the world
size, all-reduce with ``SUM``, asynchronously) and writes down, in a :class:`BucketLog`,
each bucket's index, size, parameters, and when its all-reduce was launched and when it
finished. Lecture 13 uses it to show the buckets and their order, and its lab to time
the all-reduce of each bucket.

Register it with ``ddp.register_comm_hook(log, recording_allreduce_hook)``. (DDP checks a
hook's annotations: the bucket must be annotated ``dist.GradBucket`` and the result
``torch.futures.Future[torch.Tensor]``, if at all, so this module does not postpone
the evaluation of annotations.)

Examples:
    >>> log = BucketLog(names={})
    >>> log.records, log.events
    ([], [])
"""

import time
from collections.abc import Callable

import torch
import torch.distributed as dist

__all__ = ["BucketLog", "recording_allreduce_hook"]


class BucketLog:
    """What :func:`recording_allreduce_hook` saw: one record per bucket all-reduce.

    Args:
        names: ``{parameter: name}`` to name each bucket's parameters (``None``: no names).
        events: a list shared with other hooks (e.g. module backward hooks) to which a
            line ``"bucket i: all-reduce launched ..."`` is appended when a bucket is
            handed over; ``None``: a new list.
        group: the process group the gradients are averaged over (``None``: the default group).
        clock: the clock of the timings (seconds).

    Attributes:
        records: per all-reduce, ``{"bucket", "values", "bytes", "params", "launched",
            "done"}`` (``done`` is filled in when the all-reduce completes; times in
            ``clock`` seconds).
        events: the shared event lines.
    """

    def __init__(self, names: dict | None = None, events: list | None = None,
                 group: dist.ProcessGroup | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        self.names = names
        self.events = [] if events is None else events
        self.group = group
        self.clock = clock
        self.records: list[dict] = []

    def seconds(self) -> list[float]:
        """Launch-to-completion time of each finished all-reduce, in record order."""
        return [r["done"] - r["launched"] for r in self.records if r["done"] is not None]


def recording_allreduce_hook(log: BucketLog, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
    """DDP's default gradient averaging (divide, then all-reduce ``SUM``), recorded in ``log``.

    Args:
        log: the :class:`BucketLog` passed as ``state`` to ``register_comm_hook``.
        bucket: the ``dist.GradBucket`` DDP hands over (its ``buffer()`` holds the
            gradients of ``bucket.parameters()``, flattened).

    Returns:
        A future whose value is the averaged buffer; DDP copies it back into ``.grad``.
    """
    buffer = bucket.buffer()
    params = [log.names.get(p, "?") for p in bucket.parameters()] if log.names is not None else []
    record = {"bucket": bucket.index(), "values": buffer.numel(),
              "bytes": buffer.numel() * buffer.element_size(), "params": params,
              "launched": log.clock(), "done": None}
    log.records.append(record)
    log.events.append(f"bucket {bucket.index()}: all-reduce launched, {buffer.numel()} values"
                      + (f" ({', '.join(params)})" if params else ""))
    buffer.div_(dist.get_world_size(log.group))
    work = dist.all_reduce(buffer, group=log.group, async_op=True)

    def finished(fut: torch.futures.Future) -> torch.Tensor:
        record["done"] = log.clock()
        return fut.value()[0]

    return work.get_future().then(finished)
