"""Small helpers shared by the lab scripts' command lines."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

__all__ = ["script_argv", "write_results"]


def script_argv(notebook_default: list[str] | None = None) -> list[str] | None:
    """Arguments for a lab's ``main()``: the command line, or a notebook's arguments.

    When the documentation build executes a lab as a notebook, ``sys.argv`` holds
    the kernel's own arguments (``-f kernel.json``), which the lab's parser must not
    see. The lab then runs with the options in the ``COURSE_LAB_ARGS`` environment
    variable if it is set (the tests use ``--dry-run``), else ``notebook_default``
    (what the published page should show), else its defaults.
    """
    if "ipykernel" in sys.modules:
        if "COURSE_LAB_ARGS" in os.environ:
            return shlex.split(os.environ["COURSE_LAB_ARGS"])
        return list(notebook_default or [])
    return None


def write_results(out_dir: str | Path | None, name: str, results: dict) -> Path | None:
    """Write ``results`` as ``<out_dir>/<name>.json`` when ``out_dir`` is given.

    Args:
        out_dir: the lab's ``--out-dir`` (created if missing) or ``None`` to skip.
        name: file stem, e.g. ``"lab_2_1_3_results"``.
        results: JSON-serializable figures returned by the lab's ``main``.

    Returns:
        The path written, or ``None``.
    """
    if out_dir is None:
        return None
    path = Path(out_dir) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
