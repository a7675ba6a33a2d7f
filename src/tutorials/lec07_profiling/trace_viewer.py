"""Turn a PyTorch profiler Chrome trace into a speedscope profile for the offline viewer.

``torch.profiler`` exports the Chrome *trace event* format: one ``"ph": "X"``
(complete) event per operator, kernel or ``record_function`` range, with a start
``ts`` and a duration ``dur`` in microseconds, grouped by process and thread (or
CUDA stream). The course site ships speedscope, which reads its own "evented"
format instead: per thread, a sequence of *open frame* / *close frame* events
that must nest properly. :func:`to_speedscope` does that conversion; ranges that
overlap without nesting (rounding in the exported timestamps) are clipped to
their parent.

Usage::

    python -m tutorials.lec07_profiling.trace_viewer trace.json trace.speedscope.json

then open ``assets/speedscope/index.html#profileURL=<path of the output>`` on the
site, or drop the file on https://www.speedscope.app.

Examples:
    >>> trace = {"traceEvents": [
    ...     {"ph": "X", "name": "step", "pid": 1, "tid": 1, "ts": 0, "dur": 10},
    ...     {"ph": "X", "name": "aten::mm", "pid": 1, "tid": 1, "ts": 2, "dur": 5}]}
    >>> prof = to_speedscope(trace)["profiles"][0]
    >>> [(e["type"], e["frame"], e["at"]) for e in prof["events"]]
    [('O', 0, 0.0), ('O', 1, 2.0), ('C', 1, 7.0), ('C', 0, 10.0)]
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections import defaultdict
from pathlib import Path

__all__ = ["SCHEMA", "convert_file", "load_trace", "to_speedscope"]

SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def load_trace(path: str | Path) -> dict:
    """Read a Chrome trace (``.json`` or ``.json.gz``) written by ``export_chrome_trace``.

    Raises:
        ValueError: the file is not JSON with a ``traceEvents`` list (names the file).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable Chrome trace ({err})") from err
    if isinstance(data, list):  # the bare-array variant of the format
        data = {"traceEvents": data}
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        raise ValueError(f"{path}: no 'traceEvents' list; is this a torch.profiler trace?")
    return data


def _lane_names(events: list[dict]) -> dict[tuple, str]:
    names: dict[tuple, str] = {}
    for e in events:
        if e.get("ph") == "M" and e.get("name") in ("thread_name", "process_name"):
            key = (e.get("pid"), e.get("tid") if e["name"] == "thread_name" else None)
            names[key] = str(e.get("args", {}).get("name", ""))
    return names


def _nested_events(
    ranges: list[tuple[float, float, str]], frames: list[dict], frame_index: dict[str, int]
) -> list[dict]:
    """Open/close events for one lane's ranges, clipped so that they nest."""
    ranges = sorted(ranges, key=lambda r: (r[0], -(r[1] - r[0])))  # parents first
    out: list[dict] = []
    stack: list[tuple[float, int]] = []  # (end, frame) of the open ranges
    for start, end, label in [*ranges, (float("inf"), float("inf"), "")]:
        while stack and stack[-1][0] <= start:
            closed_at, frame = stack.pop()
            out.append({"type": "C", "frame": frame, "at": closed_at})
        if start == float("inf"):
            break
        if stack:
            end = min(end, stack[-1][0])  # clip a range that outlives its parent
        if label not in frame_index:
            frame_index[label] = len(frames)
            frames.append({"name": label})
        out.append({"type": "O", "frame": frame_index[label], "at": start})
        stack.append((end, frame_index[label]))
    return out


def to_speedscope(trace: dict, name: str = "PyTorch trace") -> dict:
    """Convert Chrome trace events into a speedscope file (one evented profile per lane).

    Args:
        trace: the parsed Chrome trace (a dict with ``traceEvents``).
        name: the name speedscope shows for the file.

    Returns:
        A dict following speedscope's file-format schema, ready for ``json.dump``.

    Raises:
        ValueError: the trace has no complete (``"ph": "X"``) events with durations.
    """
    events = trace.get("traceEvents", [])
    lanes: dict[tuple, list[tuple[float, float, str]]] = defaultdict(list)
    for e in events:
        if e.get("ph") != "X" or "dur" not in e or "ts" not in e:
            continue
        start, dur = float(e["ts"]), max(float(e["dur"]), 0.0)
        lanes[(e.get("pid"), e.get("tid"))].append((start, start + dur, str(e.get("name", "?"))))
    if not lanes:
        raise ValueError("the trace has no complete ('X') events with a duration to show")
    lane_names = _lane_names(events)
    frames: list[dict] = []
    frame_index: dict[str, int] = {}
    profiles = []
    for (pid, tid), ranges in sorted(lanes.items(), key=lambda kv: str(kv[0])):
        out = _nested_events(ranges, frames, frame_index)
        lane = lane_names.get((pid, tid)) or f"thread {tid}"
        process = lane_names.get((pid, None)) or f"process {pid}"
        profiles.append({
            "type": "evented",
            "name": f"{process} · {lane}",
            "unit": "microseconds",
            "startValue": min(r[0] for r in ranges),
            "endValue": max(e["at"] for e in out),
            "events": out,
        })
    return {
        "$schema": SCHEMA,
        "shared": {"frames": frames},
        "profiles": profiles,
        "name": name,
        "activeProfileIndex": max(range(len(profiles)), key=lambda i: len(profiles[i]["events"])),
        "exporter": "tutorials.lec07_profiling.trace_viewer",
    }


def convert_file(src: str | Path, dst: str | Path) -> Path:
    """Read the Chrome trace ``src`` and write its speedscope version to ``dst``."""
    src, dst = Path(src), Path(dst)
    data = to_speedscope(load_trace(src), name=src.name)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    return dst


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m tutorials.lec07_profiling.trace_viewer TRACE.json[.gz] OUT.json``."""
    p = argparse.ArgumentParser(description="Convert a torch.profiler Chrome trace for speedscope.")
    p.add_argument("trace", help="Chrome trace from prof.export_chrome_trace (.json or .json.gz)")
    p.add_argument("out", help="speedscope file to write")
    args = p.parse_args(argv)
    print(f"wrote {convert_file(args.trace, args.out)}")


if __name__ == "__main__":
    main()
