"""Timing a pipeline schedule, one micro-batch at a time, and drawing what it did.

A schedule of ``torch.distributed.pipelining`` (``ScheduleGPipe``, ``Schedule1F1B``)
drives its stage through two methods: ``stage.forward_one_chunk(i, ...)`` runs the
forward of micro-batch ``i``, ``stage.backward_one_chunk(i, ...)`` its backward. The
receives that wait for the neighbouring stage happen outside them. :func:`time_chunks`
wraps both methods of one stage so that each call is logged with its start and end
(``time.perf_counter``, one clock for every process of the machine) and the CPU time
its thread spent in it (``time.thread_time``: a process that the operating system
pauses on a busy machine accrues wall time, not CPU time): what a stage computed and
when. Everything between its calls is time the stage waited: the bubble, and
communication.

Example:
    >>> log = [("F", 0, 0.0, 1.0), ("F", 1, 1.0, 2.0), ("B", 0, 3.0, 5.0), ("B", 1, 5.0, 7.0)]
    >>> order(log)
    'F0 F1 B0 B1'
    >>> in_flight(log)
    2
    >>> idle_fraction(log, 0.0, 8.0)
    0.25

:func:`replay` re-runs measured logs with free communication: each operation keeps its
measured CPU time and its place in its stage's order, and starts as soon as its stage
is free and its input has arrived. What is still idle then is the bubble alone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch.distributed.pipelining import PipelineStage


__all__ = ["draw_schedule", "idle_fraction", "in_flight", "order", "replay", "time_chunks"]

#: One logged call: ``(kind, micro-batch, start, end[, cpu seconds])``, kind ``"F"`` or ``"B"``.
Event = tuple


def time_chunks(stage: PipelineStage, log: list) -> None:
    """Log every forward and backward micro-batch that ``stage`` runs into ``log``.

    Args:
        stage: a ``torch.distributed.pipelining.PipelineStage``; its
            ``forward_one_chunk`` and ``backward_one_chunk`` are wrapped on the
            instance (the schedule calls them through the instance).
        log: a list that receives ``(kind, micro-batch, start, end, cpu seconds)`` tuples.
    """
    forward, backward = stage.forward_one_chunk, stage.backward_one_chunk

    def timed_forward(i, *args, **kwargs):
        start, cpu = time.perf_counter(), time.thread_time()
        out = forward(i, *args, **kwargs)
        log.append(("F", i, start, time.perf_counter(), time.thread_time() - cpu))
        return out

    def timed_backward(i, *args, **kwargs):
        start, cpu = time.perf_counter(), time.thread_time()
        out = backward(i, *args, **kwargs)
        log.append(("B", i, start, time.perf_counter(), time.thread_time() - cpu))
        return out

    stage.forward_one_chunk, stage.backward_one_chunk = timed_forward, timed_backward


def order(log: Sequence[Event]) -> str:
    """The order in which a stage ran its micro-batches: ``"F0 F1 B0 B1"``."""
    return " ".join(f"{e[0]}{e[1]}" for e in sorted(log, key=lambda e: e[2]))


def in_flight(log: Sequence[Event]) -> int:
    """The most micro-batches whose forward ran and whose backward had not yet.

    Each of them keeps its activations alive until its backward: GPipe holds all ``m``
    at once, 1F1B at most ``p`` (the number of stages) on the first stage.
    """
    live = most = 0
    for event in sorted(log, key=lambda e: e[2]):
        live += 1 if event[0] == "F" else -1
        most = max(most, live)
    return most


def idle_fraction(log: Sequence[Event], start: float, end: float) -> float:
    """The fraction of ``[start, end]`` that the stage spent outside its computations."""
    busy = sum(e[3] - e[2] for e in log)
    return 1.0 - busy / (end - start)


def replay(logs: Sequence[Sequence[Event]]) -> list[list[Event]]:
    """The same operations with zero communication time: the schedule's bubble alone.

    Each stage runs its operations in the order it ran them, each for its measured CPU
    time (its wall time when the log has none); a forward of micro-batch ``i`` waits for
    the previous stage's forward of ``i``, a backward waits for the next stage's backward
    of ``i`` (the last stage's backward follows its own forward, which its order already
    ensures).

    Args:
        logs: one log per stage (stage 0 first), as :func:`time_chunks` records them.

    Returns:
        One log per stage with the replayed ``(kind, micro-batch, start, end)``, time 0
        at the start of the step.

    Raises:
        ValueError: the logs cannot all run (an operation waits for one that never runs).
    """
    ops = [sorted(log, key=lambda e: e[2]) for log in logs]
    done: dict[tuple[str, int, int], float] = {}  # (kind, micro-batch, stage) -> end
    out: list[list[Event]] = [[] for _ in logs]
    free = [0.0] * len(logs)
    nxt = [0] * len(logs)
    last = len(logs) - 1
    while any(nxt[s] < len(ops[s]) for s in range(len(ops))):
        progressed = False
        for s, stage_ops in enumerate(ops):
            while nxt[s] < len(stage_ops):
                kind, i, start, end, *cpu = stage_ops[nxt[s]]
                need = (("F", i, s - 1) if s > 0 else None) if kind == "F" else (
                    ("B", i, s + 1) if s < last else None)
                if need is not None and need not in done:
                    break
                begin = max(free[s], done[need] if need is not None else 0.0)
                free[s] = done[(kind, i, s)] = begin + (cpu[0] if cpu else end - start)
                out[s].append((kind, i, begin, free[s]))
                nxt[s] += 1
                progressed = True
        if not progressed:
            raise ValueError("replay: the logs wait on each other (not a valid pipeline schedule)")
    return out


def draw_schedule(runs: Mapping[str, Sequence[Sequence[Event]]], path: str | Path,
                  starts: Mapping[str, float] | None = None) -> Path:
    """Draw each schedule's measured timeline: one row per stage, one box per micro-batch.

    Args:
        runs: ``{title: [log of stage 0, log of stage 1, ...]}``, one panel each.
        path: the PNG to write.
        starts: ``{title: time 0 of that panel}`` (default: its earliest event).

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"F": "#4c72b0", "B": "#dd8452"}
    fig, axes = plt.subplots(len(runs), 1, figsize=(8, 1.35 * len(runs) + 0.6), squeeze=False)
    for ax, (title, logs) in zip(axes[:, 0], runs.items()):
        t0 = (starts or {}).get(title, min(e[2] for log in logs for e in log))
        for stage, log in enumerate(logs):
            for kind, i, s, e, *_ in log:
                ms_start, ms_len = (s - t0) * 1e3, (e - s) * 1e3
                ax.barh(stage, ms_len, left=ms_start, height=0.7, color=colors[kind], edgecolor="white")
                ax.text(ms_start + ms_len / 2, stage, f"{kind}{i}", ha="center", va="center",
                        color="white", fontsize=7)
        ax.set_yticks(range(len(logs)), [f"stage {s}" for s in range(len(logs))])
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_xlim(left=0)
    axes[-1, 0].set_xlabel("time since the step started (ms); white space = the stage waits")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
