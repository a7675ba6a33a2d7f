"""Structured logs: one JSON object per line, per rank, merged afterwards.

A line such as ``rank 3 step 1200 loss nan`` is easy to write and hard to search
across 512 files. A *structured* log writes each event as a JSON object with fixed
fields (time, level, rank, event) plus the event's own fields, one per line
("JSON lines"): ``grep`` still works, and a few lines of Python (or ``jq``) can select
the NaN events of every rank, or line up the ranks in time.

:func:`rank_logger` returns a standard :mod:`logging` logger that writes such lines
for one rank; :func:`read_logs` reads the files of all ranks back, ordered by time.

Examples:
    >>> import io, logging
    >>> stream = io.StringIO()
    >>> log = rank_logger(None, rank=1, stream=stream)
    >>> log.info("step", extra={"step": 7, "loss": 0.25})
    >>> record = json.loads(stream.getvalue())
    >>> record["rank"], record["event"], record["step"], record["loss"]
    (1, 'step', 7, 0.25)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import IO, Any

__all__ = ["JsonLinesFormatter", "read_logs", "rank_logger"]

# The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonLinesFormatter(logging.Formatter):
    """Formats a record as one JSON object: ``time``, ``level``, ``event`` (the message) and the extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"time": record.created, "level": record.levelname,
                               "event": record.getMessage()}
        out.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class _RankAdapter(logging.LoggerAdapter):
    """Adds ``rank`` to every record and keeps the ``extra=`` fields of each call."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs["extra"] = {**self.extra, **kwargs.get("extra", {})}
        return msg, kwargs


def rank_logger(path: str | Path | None, rank: int, *, stream: IO[str] | None = None,
                level: int = logging.INFO) -> logging.LoggerAdapter:
    """A logger that writes JSON lines with ``"rank": rank`` to ``path`` (or to ``stream``).

    Args:
        path: the file to append to (its folder is created), or ``None`` to use ``stream``.
        rank: this process's rank, added to every line.
        stream: a text stream to write to when ``path`` is ``None``.
        level: the lowest level written.

    Returns:
        The logger; pass an event's fields with ``extra={...}``.
    """
    logger = logging.getLogger(f"tutorials.lec26.rank{rank}.{id(stream) if path is None else path}")
    logger.handlers.clear()
    logger.propagate = False  # not also to the root logger's handlers
    logger.setLevel(level)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLinesFormatter())
    logger.addHandler(handler)
    return _RankAdapter(logger, {"rank": rank})


def read_logs(folder: str | Path, pattern: str = "*.jsonl") -> list[dict[str, Any]]:
    """Every record of every log file in ``folder``, ordered by time (then rank).

    Args:
        folder: the folder of the ranks' files.
        pattern: which files to read.

    Returns:
        The records, as dicts.
    """
    records = []
    for path in sorted(Path(folder).glob(pattern)):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                records.append(json.loads(line))
    return sorted(records, key=lambda r: (r.get("time", 0.0), r.get("rank", -1)))
