"""How a block's printed output is held to the output shown on the page.

Three kinds of output block, chosen by the marker above it (see the README's
"Writing a chapter"):

``<!-- pytest-codeblocks:expected-output -->``
    Text is compared exactly (after the trailing spaces of each line); integers
    are text. A **floating-point number is compared to the precision written on
    the page**: ``0.9499`` matches any printed value within one unit of its last
    digit (``0.9498``…``0.9500``), because two machines that round correctly can
    disagree by one unit in the last place. A number written without a fraction
    digit (``1.``, ``3e+00``) must match exactly. This is the meaning of pytest's
    doctest ``NUMBER`` option, widened from half a unit to one for the rounding
    boundary. Runs of spaces next to numbers may differ (column padding follows
    the width of the numbers).

``<!-- pytest-codeblocks:expected-output abs=0.01 -->`` (or ``rel=1e-3``, or both)
    The same, with a declared tolerance for every floating-point number of the
    block: for results whose last digits depend on the CPU's kernels (a loss after
    training). The page shows the tolerance to the reader.

``<!-- pytest-codeblocks:recorded-output machine="…" torch="…" date="…" -->``
    **Recorded** output of a result that is chaotic across machines (a search
    path, a timing, a speed-up): shown as it printed on the machine named, which
    the page labels, and refreshed by the author tool. Only its text is checked
    (every number, integer or not, may differ); what the numbers mean is checked by
    the chapter's claims with honest bounds.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field

__all__ = ["OutputSpec", "compare", "parse_marker_options"]

# A number-like run of characters not glued to a word: 12, -0.5, 1e-05, 3., 2.14.1 (text).
_NUMBERISH = re.compile(r"(?<![\w.])[-+]?(?:\d[\d.]*|\.\d+)(?:[eE][-+]?\d+)?")
_FLOAT = re.compile(r"^[-+]?(?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][-+]?\d+)?$")
_INT = re.compile(r"^[-+]?\d+$")


@dataclass(frozen=True)
class OutputSpec:
    """How one output block is compared: ``kind`` is ``expected`` or ``recorded``."""

    kind: str = "expected"
    abs_tol: float = 0.0
    rel_tol: float = 0.0
    ignore_whitespace: bool = False
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def declared_tolerance(self) -> str:
        """``±0.01`` / ``±0.1 %`` as the page shows it, or ``""``."""
        parts = []
        if self.abs_tol:
            parts.append(f"±{self.abs_tol:g}")
        if self.rel_tol:
            parts.append(f"±{self.rel_tol * 100:g} %")
        return " or ".join(parts)


def parse_marker_options(text: str, where: str) -> dict[str, str]:
    """``abs=0.01 machine="AMD EPYC"`` → ``{"abs": "0.01", "machine": "AMD EPYC"}``.

    Raises:
        ValueError: a word is not ``key=value``.
    """
    out = {}
    for word in shlex.split(text):
        key, eq, value = word.partition("=")
        if not eq or not key.isidentifier():
            raise ValueError(f"{where}: marker option {word!r} is not key=value")
        out[key] = value
    return out


def _tokens(text: str) -> list[tuple[str, str]]:
    """Split text into ``("text", s)`` and ``("int"|"float", s)`` tokens."""
    out: list[tuple[str, str]] = []
    pos = 0
    for m in _NUMBERISH.finditer(text):
        s = m.group(0)
        kind = "float" if _FLOAT.match(s) else "int" if _INT.match(s) else None
        if kind is None:  # 2.14.1, 1.2.: text
            continue
        if m.start() > pos:
            out.append(("text", text[pos : m.start()]))
        out.append((kind, s))
        pos = m.end()
    if pos < len(text):
        out.append(("text", text[pos:]))
    # merge adjacent text tokens (skipped number-like runs)
    merged: list[tuple[str, str]] = []
    for tok in out:
        if merged and tok[0] == "text" and merged[-1][0] == "text":
            merged[-1] = ("text", merged[-1][1] + tok[1])
        else:
            merged.append(tok)
    return merged


def _unit(written: str) -> float:
    """One unit in the last written digit of a float literal (0 when it has no fraction digit)."""
    mantissa, _, exponent = written.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    if decimals == 0:
        return 0.0
    return 10.0 ** (int(exponent or 0) - decimals)


def _text_equal(a: str, b: str, after_number: bool, before_number: bool) -> bool:
    """Text between numbers is equal; the spaces padding a number may differ."""
    if after_number:
        a, b = a.lstrip(" "), b.lstrip(" ")
    if before_number:
        a, b = a.rstrip(" "), b.rstrip(" ")
    return a == b


def _strip_lines(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.split("\n"))


def compare(shown: str, printed: str, spec: OutputSpec) -> str | None:
    """``None`` when ``printed`` matches ``shown`` under ``spec``, else why not (one line or a few)."""
    if spec.ignore_whitespace:
        shown, printed = re.sub(r"\s+", "", shown), re.sub(r"\s+", "", printed)
    else:
        shown, printed = _strip_lines(shown), _strip_lines(printed)
    if shown == printed:
        return None
    want, got = _tokens(shown), _tokens(printed)
    numbers_free = spec.kind == "recorded"
    if numbers_free:
        # every number (integer or not) is free: compare the text around them
        want = [("num", s) if k != "text" else (k, s) for k, s in want]
        got = [("num", s) if k != "text" else (k, s) for k, s in got]
        want, got = _merge_numbers(want), _merge_numbers(got)
    if [k for k, _ in want] != [k for k, _ in got]:
        return _first_text_difference(shown, printed, "the text around the numbers differs")
    line = 1
    for i, ((kind, w), (_, g)) in enumerate(zip(want, got)):
        if kind == "text":
            if not _text_equal(w, g, after_number=i > 0, before_number=i + 1 < len(want)):
                return _first_text_difference(shown, printed, "the text differs")
            line += w.count("\n")
        elif kind == "int" and w.lstrip("+") != g.lstrip("+"):
            return f"line {line}: the page shows the integer {w}, the code printed {g}"
        elif kind == "float":
            a, b = float(w), float(g)
            if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
                if w != g:
                    return f"line {line}: the page shows {w}, the code printed {g}"
                continue
            declared = max(spec.abs_tol, spec.rel_tol * abs(a))
            tol = max(_unit(w), declared)
            if abs(a - b) > tol * (1 + 1e-9):
                if tol == 0:
                    how = "it has no fraction digit, so it must match exactly"
                elif declared >= _unit(w):
                    how = f"more than the declared ±{tol:g}"
                else:
                    how = f"more than ±{tol:g}, one unit of its last written digit"
                return (f"line {line}: the page shows {w}, the code printed {g}: "
                        f"off by {abs(a - b):.3g}, {how}")
    return None


def _merge_numbers(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Recorded output: a number next to a number (``1.5e-3``, ``12 34``) is one free token."""
    out: list[tuple[str, str]] = []
    for tok in tokens:
        if out and tok[0] == "num" and out[-1][0] == "num":
            out[-1] = ("num", out[-1][1] + tok[1])
        else:
            out.append(tok)
    return out


def _first_text_difference(shown: str, printed: str, what: str) -> str:
    a, b = shown.split("\n"), printed.split("\n")
    for i, (x, y) in enumerate(zip(a, b), start=1):
        if x != y:
            return f"line {i}: {what}:\n  page: {x!r}\n  code: {y!r}"
    return f"{what}: the page shows {len(a)} lines, the code printed {len(b)}"


def machine_label() -> str:
    """``AMD EPYC · 2 cores · AVX512`` (or the GPU's name): what produced a recorded output."""
    import os
    import platform

    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda})"
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{model} · {os.cpu_count()} cores · {capability}"


def recording_meta() -> dict[str, str]:
    """The options a ``recorded-output`` marker carries: machine, torch version, date."""
    import datetime

    import torch

    return {"machine": machine_label(), "torch": torch.__version__.split("+")[0],
            "date": datetime.date.today().isoformat()}
