"""Helpers around ``torch.profiler``: profile steps, summarize, find syncs, spot the bottleneck.

The profiler's own tables hold timings, which change from run to run. These helpers
turn a finished profile into rows (for the labs' printed tables) and into facts that
do not depend on the machine: the ops called most often, how many times the CPU had
to wait for a tensor's value (a *sync point*), which ``record_function`` labels are
present, and whether the run spent most of its step time producing its input.

Examples:
    >>> import torch
    >>> from torch.profiler import record_function
    >>> def step(i):
    ...     with record_function("forward"):
    ...         y = torch.ones(4, 4) @ torch.ones(4, 4)
    ...     return y.sum().item()  # .item() copies a value to Python: a sync point
    >>> prof = profile_steps(step, wait=1, warmup=1, active=2)
    >>> sync_points(prof)
    {'aten::item': 2, 'aten::_local_scalar_dense': 2}
    >>> labels_present(prof, ["forward", "backward"])
    {'forward': True, 'backward': False}
    >>> top_ops_by_count(prof, 3)  # 6, 6 and 4 calls; ties broken by name
    ['aten::fill_', 'aten::resolve_conj', 'aten::empty']
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
from torch.autograd.profiler_util import EventList
from torch.profiler import ProfilerActivity, profile, schedule

__all__ = [
    "DATALOADER_LABEL",
    "SYNC_OPS",
    "classify_bottleneck",
    "data_fraction",
    "default_activities",
    "label_times_us",
    "labels_present",
    "op_rows",
    "profile_steps",
    "quiet_kineto_without_gpu",
    "schedule_actions",
    "step_shares",
    "sync_points",
    "top_ops_by_count",
    "trace_event_names",
]

#: The ops through which a tensor's value reaches Python (``.item()``, ``float(t)``,
#: ``if t:``, printing). On CUDA each one waits for the GPU to finish: a sync point.
SYNC_OPS = ("aten::item", "aten::_local_scalar_dense")

#: Prefix of the label the DataLoader's iterator records around each ``next(...)``.
DATALOADER_LABEL = "enumerate(DataLoader)"


def default_activities(device: torch.device | str = "cpu") -> list[ProfilerActivity]:
    """CPU activity, plus CUDA when ``device`` is a CUDA device.

    Args:
        device: where the profiled code runs.

    Returns:
        The list to pass as ``activities=`` to ``torch.profiler.profile``.
    """
    acts = [ProfilerActivity.CPU]
    if torch.device(device).type == "cuda":
        acts.append(ProfilerActivity.CUDA)
    return acts


def schedule_actions(
    steps: int, *, wait: int, warmup: int, active: int, repeat: int = 1, skip_first: int = 0
) -> list[str]:
    """What a ``torch.profiler.schedule`` does at each step, by name.

    Args:
        steps: how many steps to list.
        wait: steps with the profiler off at the start of each cycle.
        warmup: steps recorded and thrown away (the profiler's start-up cost).
        active: steps recorded and kept.
        repeat: number of cycles (0: cycle forever).
        skip_first: steps skipped once, before the first cycle.

    Returns:
        One of ``NONE``, ``WARMUP``, ``RECORD``, ``RECORD_AND_SAVE`` per step.

    Examples:
        >>> schedule_actions(5, wait=1, warmup=1, active=2)
        ['NONE', 'WARMUP', 'RECORD', 'RECORD_AND_SAVE', 'NONE']
    """
    fn = schedule(wait=wait, warmup=warmup, active=active, repeat=repeat, skip_first=skip_first)
    return [fn(i).name for i in range(steps)]


def profile_steps(
    step: Callable[[int], object],
    *,
    wait: int = 1,
    warmup: int = 1,
    active: int = 3,
    repeat: int = 1,
    trace_path: str | Path | None = None,
    activities: Sequence[ProfilerActivity] | None = None,
    **profile_kwargs: object,
) -> profile:
    """Call ``step(i)`` under a profiler schedule and return the finished profiler.

    Runs ``(wait + warmup + active) * repeat`` steps and calls ``prof.step()`` after
    each, so only the ``active`` steps of each cycle are recorded; the first
    ``wait + warmup`` steps absorb one-time costs (allocations, lazy initialization).

    Args:
        step: the work of one step; receives the step index.
        wait: steps with the profiler off at the start of each cycle.
        warmup: steps recorded and thrown away.
        active: steps recorded and kept.
        repeat: number of cycles.
        trace_path: when given, each recorded window is exported there as a Chrome
            trace (JSON; a later window overwrites an earlier one).
        activities: profiler activities (default: CPU only).
        **profile_kwargs: passed on to ``torch.profiler.profile`` (``record_shapes``,
            ``profile_memory``, ``with_stack``...).

    Returns:
        The profiler, ready for ``key_averages()`` and ``events()``.

    Raises:
        ValueError: ``active`` or ``repeat`` is below 1, or ``wait``/``warmup`` below 0.
    """
    if active < 1 or repeat < 1 or wait < 0 or warmup < 0:
        raise ValueError(
            f"profile_steps needs active >= 1, repeat >= 1, wait >= 0 and warmup >= 0; "
            f"got wait={wait}, warmup={warmup}, active={active}, repeat={repeat}"
        )

    def export(prof: profile) -> None:
        if trace_path is not None:
            Path(trace_path).parent.mkdir(parents=True, exist_ok=True)
            prof.export_chrome_trace(str(trace_path))

    with profile(
        activities=list(activities or [ProfilerActivity.CPU]),
        schedule=schedule(wait=wait, warmup=warmup, active=active, repeat=repeat),
        on_trace_ready=export,
        **profile_kwargs,
    ) as prof:
        for i in range((wait + warmup + active) * repeat):
            step(i)
            prof.step()
    return prof


def _averages(prof: profile | EventList) -> EventList:
    return prof.key_averages() if isinstance(prof, profile) else prof


def top_ops_by_count(prof: profile | EventList, n: int, prefix: str = "aten::") -> list[str]:
    """Names of the ``n`` ops called most often (ties broken by name).

    Call counts, unlike times, are the same on every run of the same code.

    Args:
        prof: a finished profiler, or its ``key_averages()``.
        n: how many names.
        prefix: keep only names starting with this (``""`` for every event).

    Returns:
        The names, most called first.
    """
    rows = [e for e in _averages(prof) if e.key.startswith(prefix)]
    rows.sort(key=lambda e: (-e.count, e.key))
    return [e.key for e in rows[:n]]


def sync_points(prof: profile | EventList) -> dict[str, int]:
    """How often a tensor's value was copied to Python (see :data:`SYNC_OPS`).

    Args:
        prof: a finished profiler, or its ``key_averages()``.

    Returns:
        ``{op name: calls}`` for each op in :data:`SYNC_OPS` (0 when absent).
    """
    counts = {e.key: e.count for e in _averages(prof)}
    return {name: counts.get(name, 0) for name in SYNC_OPS}


def labels_present(prof: profile | EventList, labels: Iterable[str]) -> dict[str, bool]:
    """Whether each ``record_function`` label (or op name) appears in the profile."""
    keys = {e.key for e in _averages(prof)}
    return {label: label in keys for label in labels}


def op_rows(
    prof: profile | EventList, *, sort_by: str = "self_cpu_time_total", limit: int = 10
) -> list[dict[str, object]]:
    """The ``key_averages()`` table as rows of dicts, for ``format_table`` or JSON.

    Args:
        prof: a finished profiler, or its ``key_averages()``.
        sort_by: an attribute of the averaged events (``"count"``,
            ``"self_cpu_time_total"``, ``"cpu_time_total"``, ``"self_cpu_memory_usage"``,
            ``"self_device_time_total"``...), largest first.
        limit: how many rows.

    Returns:
        Rows with the op name, calls, self and total CPU time (ms), self CPU
        memory (KB) and, when the profile has device time, self device time (ms).

    Raises:
        ValueError: ``sort_by`` is not an attribute of the averaged events.
    """
    averages = list(_averages(prof))
    if averages and not hasattr(averages[0], sort_by):
        raise ValueError(
            f"sort_by={sort_by!r} is not an attribute of FunctionEventAvg; try 'count', "
            "'self_cpu_time_total', 'cpu_time_total' or 'self_cpu_memory_usage'"
        )
    averages.sort(key=lambda e: (-getattr(e, sort_by), e.key))
    with_device = any(getattr(e, "self_device_time_total", 0) > 0 for e in averages)
    rows = []
    for e in averages[:limit]:
        row: dict[str, object] = {
            "op": e.key,
            "calls": e.count,
            "self CPU ms": e.self_cpu_time_total / 1e3,
            "CPU total ms": e.cpu_time_total / 1e3,
            "self CPU mem KB": e.self_cpu_memory_usage / 1024,
        }
        if with_device:
            row["self device ms"] = e.self_device_time_total / 1e3
        rows.append(row)
    return rows


def label_times_us(prof: profile, labels: Iterable[str]) -> dict[str, float]:
    """Total CPU time (µs) spent inside each label, summed over its occurrences.

    A label matches events whose name equals it or starts with it, so
    :data:`DATALOADER_LABEL` collects every ``enumerate(DataLoader)#...__next__``.
    """
    averages = list(prof.key_averages())
    return {
        label: float(sum(e.cpu_time_total for e in averages if e.key.startswith(label)))
        for label in labels
    }


# --8<-- [start:data_fraction]
def data_fraction(prof: profile, label: str = "data") -> float:
    """Share of the recorded step time spent inside the ranges named ``label``.

    Label the whole input phase of a step, ``with record_function("data"):``
    around everything that produces the batch (``next(loader)``, the copy to the
    device, augmentation applied to the batch), and this is the step's data share.
    ``label=DATALOADER_LABEL`` measures only the time inside ``next(loader)``: work
    done on the batch after the loader returns it is not in that share.

    The denominator is the time of the ``ProfilerStep#N`` ranges that a scheduled
    profiler records around each step.

    Raises:
        ValueError: the profile has no ``ProfilerStep`` events (no schedule, or
            ``prof.step()`` was never called), or no range named ``label``.
    """
    data = step = 0.0
    found = False
    for e in prof.key_averages():
        if e.key == label or e.key.startswith(label + "#"):  # "enumerate(DataLoader)#..."
            data += e.cpu_time_total  # the range, with everything called inside it
            found = True
        elif e.key.startswith("ProfilerStep"):
            step += e.cpu_time_total  # the whole recorded step
    if step <= 0:
        raise ValueError(
            "the profile has no ProfilerStep events: profile with a schedule and call "
            "prof.step() after every step (profile_steps does both)"
        )
    if not found:
        raise ValueError(
            f"the profile has no {label!r} range: wrap the code that produces each batch "
            f"in record_function({label!r}), or pass the label you used"
        )
    return data / step
# --8<-- [end:data_fraction]


def step_shares(prof: profile, label: str = "data") -> list[float]:
    """The share of each recorded step spent inside the ranges named ``label``.

    :func:`data_fraction` is one number for the whole window, so one step slowed down
    by another process weighs on it; the median of these per-step shares does not.

    Args:
        prof: a profiler run with a schedule (see :func:`data_fraction`).
        label: a ``record_function`` label, or :data:`DATALOADER_LABEL`.

    Returns:
        One share in [0, 1] per recorded ``ProfilerStep``, in order.

    Raises:
        ValueError: no recorded steps, or no range named ``label``.
    """
    events = list(prof.events())
    steps = [e for e in events if e.name.startswith("ProfilerStep")]
    ranges = [e for e in events if e.name == label or e.name.startswith(label + "#")]
    if not steps:
        raise ValueError("the profile has no ProfilerStep events: profile with a schedule "
                         "and call prof.step() after every step (profile_steps does both)")
    if not ranges:
        raise ValueError(f"the profile has no {label!r} range: wrap the code that produces "
                         f"each batch in record_function({label!r}), or pass the label you used")
    shares = []
    for s in steps:
        start, end = s.time_range.start, s.time_range.end
        inside = sum(r.time_range.elapsed_us() for r in ranges if r.thread == s.thread
                     and start <= r.time_range.start and r.time_range.end <= end)
        shares.append(inside / max(end - start, 1e-9))
    return shares


def classify_bottleneck(prof: profile, threshold: float = 0.5, label: str = "data") -> str:
    """``"data-bound"`` when at least ``threshold`` of step time is in the data phase.

    Args:
        prof: a profiler run with a schedule (see :func:`data_fraction`).
        threshold: the share of step time above which the run waits on data.
        label: the ``record_function`` label of the data phase.

    Returns:
        ``"data-bound"`` or ``"compute-bound"``.
    """
    return "data-bound" if data_fraction(prof, label) >= threshold else "compute-bound"


def quiet_kineto_without_gpu() -> bool:
    """Turn kineto's console log off on a machine where CUDA is not available.

    kineto, the profiler's C++ library, writes its own log to standard error. In a
    CUDA build of torch it asks the CUDA runtime for the GPUs' properties when a
    profile ends (for the trace's metadata, whatever ``activities`` were asked for);
    with no GPU driver that fails and it logs ``ERROR ... gpuGetDeviceCount failed
    with code 35`` (35: ``cudaErrorInsufficientDriver``). It also logs its
    ``profiler_start``/``profiler_stop`` probes (``USDT:`` lines). Neither concerns a
    CPU profile. kineto reads ``KINETO_LOG_LEVEL`` once, at the process's first
    profile; this sets it to ``6`` (above every level kineto logs at), unless CUDA is
    available or the variable is already set.

    Returns:
        True when it set the variable.
    """
    if torch.cuda.is_available() or "KINETO_LOG_LEVEL" in os.environ:
        return False
    os.environ["KINETO_LOG_LEVEL"] = "6"
    return True


def trace_event_names(path: str | Path, category: str | None = None) -> set[str]:
    """Names of the events in an exported Chrome trace (optionally of one category).

    Args:
        path: a file written by ``prof.export_chrome_trace``.
        category: keep only events of this ``cat`` (``"cpu_op"``, ``"user_annotation"``,
            ``"kernel"``...).

    Raises:
        ValueError: the file is not a Chrome trace (no ``traceEvents`` list).
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        raise ValueError(f"{path} is not a Chrome trace: expected a JSON object with 'traceEvents'")
    return {
        e["name"]
        for e in data["traceEvents"]
        if "name" in e and (category is None or e.get("cat") == category)
    }
