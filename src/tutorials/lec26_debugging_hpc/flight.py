"""Dump the flight recorder of each rank and run PyTorch's analyzer over the dumps.

The *flight recorder* keeps, in every process, a ring buffer of the last collectives
it issued: for each, the process group, its sequence number in that group, the
operation (``gloo:all_reduce``), input and output sizes and dtypes, and (optionally)
the Python stack. It is on by default: ``TORCH_FR_BUFFER_SIZE`` (formerly
``TORCH_NCCL_TRACE_BUFFER_SIZE``) is the number of entries kept, 2000 when unset (checked
on torch 2.14.1 with gloo), and 0 turns it off. With NCCL the watchdog writes the buffer
to ``TORCH_FR_DUMP_TEMP_FILE<rank>`` by itself when a collective times out
(``TORCH_NCCL_DUMP_ON_TIMEOUT``, on by default); with gloo nothing dumps it for you, so
:func:`dump_flight_recorder` writes it with the private
``torch._C._distributed_c10d._dump_fr_trace`` (in an ``except``/``finally`` of the
training loop, or a signal handler).

``torch.distributed.flight_recorder.fr_trace`` (also installed as the
``torchfrtrace`` command) reads one dump per rank, matches the collectives across
ranks and reports the first one that not every rank joined. In torch 2.14.1 a gloo
dump names its process groups in the entries but leaves them out of ``pg_config``, and
the analyzer stops with a ``KeyError``; :func:`complete_pg_config` fills them in from
the entries before :func:`analyze` runs it.

Examples:
    >>> dump = {"pg_config": {"": {"name": "", "desc": "", "ranks": "[0, 1]"}},
    ...         "entries": [{"process_group": ("1", "undefined")}]}
    >>> complete_pg_config(dump, world_size=2)["pg_config"]["1"]
    {'name': '1', 'desc': 'undefined', 'ranks': '[0, 1]'}
"""

from __future__ import annotations

import contextlib
import copy
import logging
import pickle
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["analyze", "complete_pg_config", "dump_flight_recorder", "last_collectives", "read_dumps"]


def dump_flight_recorder(folder: str | Path, rank: int) -> Path:
    """Write this process's flight-recorder buffer to ``folder/rank_<rank>`` (a pickle).

    Stack traces are left out: symbolizing them takes seconds per rank.

    Args:
        folder: where the dumps of all ranks go.
        rank: this process's rank (the analyzer reads it from the file name).

    Returns:
        The file written.
    """
    import torch

    path = Path(folder) / f"rank_{rank}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(torch._C._distributed_c10d._dump_fr_trace(includeStackTraces=False))
    return path


def read_dumps(folder: str | Path) -> dict[int, dict[str, Any]]:
    """The dumps in ``folder``, by rank.

    Args:
        folder: a folder of ``rank_<N>`` files written by :func:`dump_flight_recorder`.

    Returns:
        ``{rank: dump}``, each dump a dict with ``entries``, ``pg_config``, ``pg_status``, ...
    """
    dumps = {}
    for path in sorted(Path(folder).glob("rank_*")):
        dumps[int(path.name.split("_")[1])] = pickle.loads(path.read_bytes())
    return dumps


def complete_pg_config(dump: dict[str, Any], world_size: int) -> dict[str, Any]:
    """A copy of ``dump`` whose ``pg_config`` lists every process group its entries name.

    A group missing from ``pg_config`` is given all ``world_size`` ranks (right for
    groups made with ``new_group()`` over every rank, as on this page).

    Args:
        dump: one rank's dump.
        world_size: the number of ranks.

    Returns:
        The completed copy (``dump`` is not changed).
    """
    out = copy.deepcopy(dump)
    config = out.setdefault("pg_config", {})
    for entry in out.get("entries", []):
        name, desc = entry["process_group"]
        if name not in config:
            config[name] = {"name": name, "desc": desc, "ranks": str(list(range(world_size)))}
    return out


def last_collectives(dumps: dict[int, dict[str, Any]]) -> dict[int, tuple[int, str]]:
    """For each rank, the sequence number and operation of the last collective it issued.

    Args:
        dumps: ``{rank: dump}`` as :func:`read_dumps` returns.

    Returns:
        ``{rank: (collective_seq_id, profiling_name)}``; ``(0, "")`` for a rank with no entry.
    """
    out = {}
    for rank, dump in sorted(dumps.items()):
        entries = [e for e in dump.get("entries", []) if not e.get("is_p2p")]
        last = max(entries, key=lambda e: e["collective_seq_id"], default=None)
        out[rank] = (last["collective_seq_id"], last["profiling_name"]) if last else (0, "")
    return out


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.extend(record.getMessage().splitlines())


def analyze(folder: str | Path, world_size: int) -> list[str]:
    """Run PyTorch's flight-recorder analyzer (``fr_trace``) on the dumps in ``folder``.

    The dumps are completed with :func:`complete_pg_config` in a temporary folder
    first; what the analyzer logs is returned instead of printed.

    Args:
        folder: the dumps, one ``rank_<N>`` file per rank.
        world_size: the number of ranks.

    Returns:
        The analyzer's report, line by line.
    """
    from torch.distributed.flight_recorder.components.fr_logger import FlightRecorderLogger

    logger = FlightRecorderLogger().logger  # the analyzer's logger ("Flight Recorder")
    with tempfile.TemporaryDirectory() as tmp:
        for rank, dump in read_dumps(folder).items():
            (Path(tmp) / f"rank_{rank}").write_bytes(pickle.dumps(complete_pg_config(dump, world_size)))
        capture = _Lines()
        saved = logger.handlers[:]
        logger.handlers[:] = [capture]
        try:
            from torch.distributed.flight_recorder.fr_trace import main

            with contextlib.redirect_stdout(None):
                main([tmp])
        finally:
            logger.handlers[:] = saved
    return [line for line in capture.lines if "tabulate is not installed" not in line]
