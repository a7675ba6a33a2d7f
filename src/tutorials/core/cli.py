"""Small helpers shared by the lab scripts' command lines.

Introduced in Lecture 2; also used by Lectures 3, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 21, 22, 23, 26.

* Option types for ``argparse`` (``type=positive_int`` and so on): a bad value is
  refused by the parser itself, with a usage line, exit status 2 and a message that
  names the flag and what it expects, before the lab has done or created anything::

      error: argument --workers: expected comma-separated non-negative integers,
      got '1,x': 'x' is not an integer

* :func:`refuse_fp16_off_cuda`: the one precision rule of every lab with an
  ``--amp`` or ``--precisions`` option: ``fp16`` without CUDA is a usage error that
  names the option and the device.

* :func:`add_standard_options`: the four options every lab has (``--seed``,
  ``--device``, ``--out-dir``, ``--dry-run``), each help ending with its default.

* :func:`pick_device_or_exit`: ``--device cuda`` on a machine without CUDA is a
  usage error too, not a traceback; :func:`parse_args_and_device` parses a lab's
  command line and resolves its ``--device`` in one call.
* :func:`guard_run`: around the body of a lab, removes the ``--out-dir`` this run
  created if the run fails before writing anything in it, and turns Ctrl-C into a
  one-line message (where the run can resume from, or which partial outputs exist)
  and exit status 130.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the labs import torch; the option types do not need it
    import torch

__all__ = [
    "FP16_NEEDS_CUDA",
    "add_standard_options",
    "bool_list",
    "command_line",
    "guard_run",
    "int_at_least",
    "int_list",
    "non_negative_float",
    "non_negative_int",
    "parse_args_and_device",
    "pick_device_or_exit",
    "positive_float",
    "positive_float_list",
    "positive_int",
    "refuse_fp16_off_cuda",
    "script_argv",
    "write_results",
]


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


# --- option types -------------------------------------------------------------------
# argparse calls ``type(text)``; an ArgumentTypeError becomes
# "argument --flag: <message>" after the usage line, with exit status 2.


def int_at_least(minimum: int, what: str | None = None) -> Callable[[str], int]:
    """An option type accepting integers ``>= minimum``.

    Args:
        minimum: the smallest value accepted.
        what: how the message describes a valid value (default ``"an integer >= N"``).

    Example:
        >>> int_at_least(8)("16")
        16
    """
    what = what or f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = f"int_at_least_{minimum}"
    return parse


#: ``type=`` for counts that must be at least 1 (epochs, batch sizes, widths).
positive_int = int_at_least(1, "a positive integer")
positive_int.__name__ = "positive_int"
#: ``type=`` for counts where 0 means none or "torch's choice" (threads, patience, seeds).
non_negative_int = int_at_least(0, "a non-negative integer")
non_negative_int.__name__ = "non_negative_int"


def _finite_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def positive_float(text: str) -> float:
    """``type=`` for a finite number > 0 (learning rates, durations).

    Example:
        >>> positive_float("3e-4")
        0.0003
    """
    value = _finite_float(text)
    if value is None or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """``type=`` for a finite number >= 0 (weight decay, delays)."""
    value = _finite_float(text)
    if value is None or value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def _below(value: int, minimum: int) -> str:
    if minimum == 0:
        return f"{value} is negative"
    if value <= 0:
        return f"{value} is not positive"
    return f"{value} is below {minimum}"


def _list_type(what: str, convert: Callable[[str], object]) -> Callable[[str], list]:
    """An option type for comma-separated items; ``convert(item)`` returns a value or a problem.

    ``convert`` returns the item's value, or raises ``ValueError`` whose message says
    what is wrong with that item; the error then reads
    ``expected comma-separated <what>, got '1,x': 'x' is not an integer``.
    """

    def parse(text: str) -> list:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}: no value")
        values = []
        for item in text.split(","):
            try:
                if not item.strip():
                    raise ValueError("an item is empty")
                values.append(convert(item.strip()))
            except ValueError as err:
                raise argparse.ArgumentTypeError(
                    f"expected comma-separated {what}, got {text!r}: {err}") from None
        return values

    # argparse names the type only for an unexpected ValueError: "invalid <name> value"
    parse.__name__ = f"comma-separated {what}"
    return parse


def int_list(minimum: int = 0, multiple_of: int = 1, what: str | None = None) -> Callable[[str], list[int]]:
    """An option type for comma-separated integers, each ``>= minimum`` and a multiple of ``multiple_of``.

    The message of a bad value names the first bad item and what is wrong with it.

    Example:
        >>> int_list(minimum=1)("32, 128")
        [32, 128]
        >>> int_list(minimum=2, what="sizes >= 2")("4,x")
        Traceback (most recent call last):
        argparse.ArgumentTypeError: expected comma-separated sizes >= 2, got '4,x': 'x' is not an integer
    """
    if what is None:
        what = {0: "non-negative integers", 1: "positive integers"}.get(minimum, f"integers >= {minimum}")
        if multiple_of > 1:
            what = f"positive multiples of {multiple_of}"

    def convert(item: str) -> int:
        try:
            value = int(item)
        except ValueError:
            raise ValueError(f"{item!r} is not an integer") from None
        if value < minimum:
            raise ValueError(_below(value, minimum))
        if value % multiple_of:
            raise ValueError(f"{value} is not a multiple of {multiple_of}")
        return value

    return _list_type(what, convert)


def _positive_number(item: str) -> float:
    value = _finite_float(item)
    if value is None:
        raise ValueError(f"{item!r} is not a finite number")
    if value <= 0:
        raise ValueError(f"{item} is not positive")
    return value


#: ``type=`` for comma-separated finite numbers > 0 (a list of learning rates).
positive_float_list = _list_type("positive numbers", _positive_number)

_BOOLS = {"true": True, "on": True, "yes": True, "1": True,
          "false": False, "off": False, "no": False, "0": False}


def _bool(item: str) -> bool:
    try:
        return _BOOLS[item.lower()]
    except KeyError:
        raise ValueError(f"{item!r} is not one of true/false, on/off, yes/no, 1/0") from None


#: ``type=`` for comma-separated true/false values (``--pin-memory false,true``).
bool_list = _list_type("true/false values", _bool)


# --- the precision rule: float16 only on CUDA ---------------------------------------

#: Why fp16 is refused off CUDA (Lecture 7, "mixed precision").
FP16_NEEDS_CUDA = (
    "fp16 is a CUDA path in these labs (Lecture 7): on CPUs without native float16 "
    "arithmetic it is far slower than float32"
)


def refuse_fp16_off_cuda(parser: argparse.ArgumentParser, option: str, modes: str | list[str],
                         device: torch.device, instead: str) -> None:
    """The labs' one precision rule: ``fp16`` on a device other than CUDA is a usage error.

    Args:
        parser: the lab's parser (``parser.error``: usage line, exit status 2).
        option: the flag, as the message names it (``"--amp"``).
        modes: the flag's value: one mode or a list of modes.
        device: the device the lab resolved (``--device auto`` on a CPU-only machine: CPU).
        instead: what to use instead, e.g. ``"--amp bf16 or --amp off"``.
    """
    modes = [modes] if isinstance(modes, str) else list(modes)
    if "fp16" in modes and device.type != "cuda":
        parser.error(f"{option} fp16 needs CUDA, the device is {device.type}: {FP16_NEEDS_CUDA}; "
                     f"use {instead} (or --device cuda on a machine with a GPU)")


def pick_device_or_exit(parser: argparse.ArgumentParser, name: str) -> torch.device:
    """:func:`tutorials.core.runtime.pick_device`, with "no CUDA here" as a usage error (exit 2)."""
    from tutorials.core.runtime import pick_device

    try:
        return pick_device(name)
    except RuntimeError as err:  # --device cuda without a usable GPU
        parser.error(str(err))


def parse_args_and_device(parser: argparse.ArgumentParser,
                          argv: list[str] | None) -> tuple[argparse.Namespace, torch.device]:
    """Parse a lab's command line and resolve its ``--device``; every mistake is a usage error.

    A bad value (``--epochs 0``) is refused by the parser, ``--device cuda`` on a
    machine without CUDA by :func:`pick_device_or_exit`: a usage line, a message
    naming the option, exit status 2, before the lab has done anything.

    Args:
        parser: the lab's parser (it has a ``--device`` option).
        argv: the arguments (``None``: the process's command line).

    Returns:
        ``(args, device)``.
    """
    args = parser.parse_args(argv)
    return args, pick_device_or_exit(parser, args.device)


# --- the options every lab has ------------------------------------------------------


def add_standard_options(parser: argparse.ArgumentParser, *, out_dir: str, dry_run: str | None,
                         out_dir_default: str | None = None, without_out_dir: str = "no files",
                         device: str | None = "where to run", device_default: str = "auto",
                         seed: str = "random seed") -> None:
    """Add ``--seed``, ``--device``, ``--out-dir`` and ``--dry-run``, in this order, to a lab's parser.

    Every help ends with the option's default, ``(default: ...)``, as the labs'
    other options do; a lab says only what is its own: what ``--out-dir`` holds and
    what ``--dry-run`` shrinks.

    Args:
        parser: the lab's parser.
        out_dir: what ``--out-dir`` is for, e.g. ``"write lab_2_2_results.json here"``.
        dry_run: what ``--dry-run`` does, e.g. ``"two epochs, for a quick check"``;
            ``None``: no ``--dry-run`` option.
        out_dir_default: the default of ``--out-dir``; ``None``: nothing is written
            unless it is given.
        without_out_dir: what happens without ``--out-dir`` when its default is
            ``None`` (the help's "(default: None, no files)").
        device: what ``--device`` chooses (one of
            :data:`tutorials.core.runtime.DEVICE_CHOICES`); ``None``: no ``--device``.
        device_default: the default of ``--device``.
        seed: what ``--seed`` seeds (a non-negative integer, default 0).

    Example:
        >>> p = argparse.ArgumentParser()
        >>> add_standard_options(p, out_dir="write results.json here", dry_run="a quick check")
        >>> sorted(vars(p.parse_args(["--dry-run"])).items())
        [('device', 'auto'), ('dry_run', True), ('out_dir', None), ('seed', 0)]
    """
    from tutorials.core.runtime import DEVICE_CHOICES

    parser.add_argument("--seed", type=non_negative_int, default=0, help=f"{seed} (default: %(default)s)")
    if device is not None:
        parser.add_argument("--device", choices=DEVICE_CHOICES, default=device_default,
                            help=f"{device} (default: %(default)s)")
    default_means = f", {without_out_dir}" if out_dir_default is None else ""
    parser.add_argument("--out-dir", default=out_dir_default,
                        help=f"{out_dir} (default: %(default)s{default_means})")
    if dry_run is not None:
        parser.add_argument("--dry-run", action="store_true", help=f"{dry_run} (default: %(default)s)")


# --- running a lab: no empty out-dir left behind, Ctrl-C as a message ---------------


def command_line(module: str, argv: list[str] | None) -> str:
    """The shell command that runs ``module`` with ``argv`` (``None``: this process's arguments)."""
    args = sys.argv[1:] if argv is None else list(argv)
    return shlex.join(["python", "-m", module, *args])


def _files(root: Path | None) -> dict[Path, int]:
    if root is None or not root.is_dir():
        return {}
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def _first_missing(path: Path) -> Path | None:
    """The outermost directory of ``path`` that does not exist yet (what a mkdir -p would create)."""
    missing = None
    for p in (path, *path.parents):
        if p.exists():
            return missing
        missing = p
    return missing


def _remove_empty_dirs(root: Path) -> None:
    """Remove ``root`` and the directories under it that hold no file; files are never touched."""
    if not root.is_dir():
        return
    for dirpath, _, _ in os.walk(root, topdown=False):
        with contextlib.suppress(OSError):  # not empty: something was written, keep it
            os.rmdir(dirpath)


def partial_outputs(out_dir: str | Path | None, before: dict[Path, int], limit: int = 5) -> list[str]:
    """Files under ``out_dir`` that are new or changed since the snapshot ``before``."""
    root = None if out_dir is None else Path(out_dir)
    changed = sorted(p for p, t in _files(root).items() if before.get(p) != t)
    names = [str(p) for p in changed[:limit]]
    if len(changed) > limit:
        names.append(f"… and {len(changed) - limit} more")
    return names


@contextlib.contextmanager
def guard_run(name: str, out_dir: str | Path | None,
              on_interrupt: Callable[[], str] | None = None) -> Iterator[None]:
    """Run a lab's body: clean up a new, empty ``out_dir`` on failure; Ctrl-C exits 130 with a message.

    * Any exception (a bad input found late, Ctrl-C, a bug) removes the directories
      this run created for ``out_dir`` if nothing was written in them. A directory
      that existed before the run is never removed, nor is any file.
    * ``KeyboardInterrupt`` prints one line to standard error, ``on_interrupt()``
      (e.g. where a run resumes from) or by default which partial outputs this run
      wrote, then exits with status 130 (128 + SIGINT), the shell's convention, with
      no traceback. In a notebook kernel the interrupt is re-raised after the line.

    Args:
        name: the lab, as the default message names it (``"Lab 2.1.5"``).
        out_dir: the lab's ``--out-dir`` (``None``: it writes no files).
        on_interrupt: builds the message for Ctrl-C (called after the clean-up).
    """
    out = None if out_dir is None else Path(out_dir)
    created = None if out is None else _first_missing(out.absolute())
    before = _files(out)
    try:
        yield
    except BaseException as err:
        if created is not None:
            _remove_empty_dirs(created)
        if not isinstance(err, KeyboardInterrupt):
            raise
        if on_interrupt is not None:
            message = on_interrupt()
        else:
            written = partial_outputs(out, before)
            message = (f"interrupted: {name} cannot resume; "
                       + (f"partial outputs: {', '.join(written)}" if written else "it wrote no output")
                       + "; run the same command to start over")
        print(message, file=sys.stderr, flush=True)
        if "ipykernel" in sys.modules:
            raise  # the notebook shows the interruption as usual
        raise SystemExit(130) from None
