"""Find, expand and execute the code blocks of a documentation page, as rendered.

A page is expanded with the same ``pymdownx.snippets`` preprocessor and options
that MkDocs uses, one source line at a time so that every expanded line keeps its
origin (page line, and file and line of an included section). The expanded text
is handed to pytest-codeblocks' own ``extract_from_buffer``, so its markers
(``cont``, ``expected-output``, ``pytest.mark.skip(reason=...)``, ``skipif``) mean
what they mean there. Fences with attributes (``python title="x"``) are executed
like plain ``python`` fences.

A page runs as one Python session, like a reader who pastes its blocks in order
into a fresh interpreter: one namespace with ``__name__ == "__main__"``, its own
working directory, standard output captured and compared with the output block
shown under the code. :mod:`tutorials._book.runner` runs that session in a new
process (the tests and the author tool use it).
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import io
import linecache
import os
import re
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from pytest_codeblocks import extract_from_buffer

EXECUTED_LANGUAGES = {"python": "python", "py": "python", "bash": "bash", "sh": "sh"}
_SECTION_MARK = re.compile(r"-{1,}8<-{1,}[ \t]+\[[ \t]*(start|end)[ \t]*:[ \t]*([-_0-9a-zA-Z]+)")
_INCLUDE = re.compile(r"""^[ \t]*-{1,}8<-{1,}[ \t]+(["'])(?P<target>.+?)\1[ \t]*$""")
_BLOCK_FORM = re.compile(r"^[ \t]*-{1,}8<-{1,}[ \t]*$")


class PageError(Exception):
    """A page cannot be expanded or parsed; the message names the file and line."""


@dataclass(frozen=True)
class Origin:
    """Where one line of expanded page text came from."""

    page: str
    page_line: int
    file: str | None = None
    file_line: int | None = None

    def __str__(self) -> str:
        where = f"{self.page}:{self.page_line}"
        if self.file is not None:
            where += f" (included from {self.file}:{self.file_line})"
        return where


@dataclass
class Block:
    """One executable block of a page."""

    page: str
    index: int
    language: str
    info: str
    code: str
    origins: list[Origin]
    expected_output: str | None = None
    ignore_whitespace: bool = False
    marks: list[str] = field(default_factory=list)
    importorskip: str | None = None

    @property
    def location(self) -> Origin:
        """Origin of the block's first line."""
        return self.origins[0]

    @property
    def test_id(self) -> str:
        return f"{self.page}:{self.location.page_line}"


@dataclass
class ExpandedPage:
    """A page after snippet expansion, with per-line origins."""

    path: str
    text: str
    origins: list[Origin]

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the expanded text: changes when the page or an included section does."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def snippet_preprocessor(snippet_config: dict):
    """A ``pymdownx.snippets`` preprocessor configured exactly like the site's."""
    import markdown

    md = markdown.Markdown(
        extensions=["pymdownx.snippets"],
        extension_configs={"pymdownx.snippets": dict(snippet_config)},
    )
    return md.preprocessors["snippet"]


def _section_lines(file: Path, section: str | None) -> list[int]:
    """1-based line numbers of the lines that an include of ``file[:section]`` yields."""
    lines = file.read_text(encoding="utf-8").splitlines()
    if section is None:
        return [i + 1 for i, line in enumerate(lines) if not _SECTION_MARK.search(line)]
    out, inside = [], False
    for i, line in enumerate(lines):
        m = _SECTION_MARK.search(line)
        if m and m.group(2) == section:
            if m.group(1) == "start":
                inside = True
            elif inside:
                break
            continue
        if inside and not m:
            out.append(i + 1)
    return out


def expand_page(path: Path, root: Path, preprocessor) -> ExpandedPage:
    """Expand the snippet includes of one page, keeping each line's origin.

    Args:
        path: the Markdown page.
        root: the repository root (paths in origins are relative to it).
        preprocessor: from :func:`snippet_preprocessor`.

    Raises:
        PageError: an include is malformed or names a missing file or section.
    """
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    out: list[str] = []
    origins: list[Origin] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if "8<-" not in line:
            out.append(line)
            origins.append(Origin(rel, n))
            continue
        if _BLOCK_FORM.match(line):
            raise PageError(
                f"{rel}:{n}: block-form snippet includes are not supported here; "
                'write one `--8<-- "path:section"` line per include'
            )
        try:
            new = preprocessor.run([line])
        except Exception as err:  # SnippetMissingError and friends
            raise PageError(f"{rel}:{n}: cannot expand include {line.strip()!r}: {err}") from err
        m = _INCLUDE.match(line)
        mapped: list[int] = []
        target_file = None
        if m:
            target = m.group("target")
            file_part, _, section = target.rpartition(":")
            if not file_part or "/" in section or "." in section:
                file_part, section = target, None
            for base in preprocessor.base_path:
                candidate = Path(base) / file_part
                if candidate.is_file():
                    target_file = candidate
                    mapped = _section_lines(candidate, section)
                    break
            if not new:
                raise PageError(f"{rel}:{n}: include {target!r} expanded to nothing")
        for k, new_line in enumerate(new):
            out.append(new_line)
            if target_file is not None and len(mapped) == len(new):
                file_rel = target_file.resolve().relative_to(root.resolve()).as_posix()
                origins.append(Origin(rel, n, file_rel, mapped[k]))
            else:
                origins.append(Origin(rel, n))
    return ExpandedPage(rel, "\n".join(out) + "\n", origins)


def _fence_bodies(lines: list[str]) -> dict[int, list[int]]:
    """Map each fence's opening line (1-based) to the line numbers of its body."""
    bodies: dict[int, list[int]] = {}
    i = 0
    while i < len(lines):
        stripped = lines[i].lstrip()
        if stripped.startswith("```"):
            ticks = len(stripped) - len(stripped.lstrip("`"))
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith("`" * ticks):
                body.append(i + 1)
                i += 1
            bodies[start] = body
        i += 1
    return bodies


def page_blocks(page: ExpandedPage) -> list[Block]:
    """Executable blocks of an expanded page, via pytest-codeblocks' extractor.

    Raises:
        PageError: pytest-codeblocks rejects the page (an unknown marker, say).
    """
    try:
        raw = extract_from_buffer(io.StringIO(page.text))
    except RuntimeError as err:
        raise PageError(f"{page.path}: {err}") from err
    lines = page.text.splitlines()
    bodies = _fence_bodies(lines)
    fence_starts = sorted(bodies)
    in_fence = {ln for body in bodies.values() for ln in body}
    for ln, origin in enumerate(page.origins, start=1):
        if origin.file and origin.file.endswith(".py") and ln not in in_fence:
            raise PageError(
                f"{origin.page}:{origin.page_line}: {origin.file} is included outside a code "
                "fence, so it would render as prose; wrap the include in ```python ... ```"
            )
    blocks: list[Block] = []
    for cb in raw:
        info = (cb.syntax or "").strip()
        word = info.split()[0].strip("{}.") if info else ""
        language = EXECUTED_LANGUAGES.get(word)
        if language is None:
            continue
        # Line origins: the block's own fence, then (for `cont`) the fences it absorbed.
        n_lines = cb.code.count("\n")
        linenos = list(bodies.get(cb.lineno, []))
        later = [s for s in fence_starts if s > cb.lineno]
        while len(linenos) < n_lines and later:
            linenos += bodies[later.pop(0)]
        linenos = linenos[:n_lines] or [cb.lineno]
        origins = [page.origins[ln - 1] for ln in linenos]
        blocks.append(
            Block(
                page=page.path,
                index=len(blocks),
                language=language,
                info=info,
                code=cb.code,
                origins=origins,
                expected_output=cb.expected_output,
                ignore_whitespace=cb.expected_output_ignore_whitespace,
                marks=list(cb.marks),
                importorskip=cb.importorskip,
            )
        )
    return blocks


class BlockFailure(AssertionError):
    """A block raised, or printed something other than the output shown on the page."""


def _output_matches(block: Block, output: str) -> bool:
    expected = block.expected_output or ""
    if block.ignore_whitespace:
        return re.sub(r"\s+", "", expected) == re.sub(r"\s+", "", output)
    return expected == output


class _Captured:
    text = ""


@contextlib.contextmanager
def _captured_fd1():
    """Capture everything written to standard output, as a terminal would show it.

    That is file descriptor 1 (C code, child processes) and ``sys.stdout``, in the
    order it was written.
    """
    import tempfile

    captured = _Captured()
    sys.stdout.flush()
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(1)
        os.dup2(tmp.fileno(), 1)
        # sys.stdout may not write to fd 1 (pytest replaces it): point it at the same
        # file, line-buffered, so Python's and C's output interleave as written
        stream = open(tmp.fileno(), "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
        try:
            with contextlib.redirect_stdout(stream):
                yield captured
        finally:
            stream.flush()
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            captured.text = tmp.read().decode("utf-8", errors="replace")


class PageSession:
    """Runs the blocks of one page in order in one namespace, as a reader would.

    The tests and the author tool run a session in a new interpreter of its own
    (:mod:`tutorials._book.runner`), so nothing from another page or test leaks in.

    Args:
        workdir: the session's working directory (files the blocks write land here).
        env: environment for shell blocks.
        namespace: the globals the Python blocks run in (default: a new dict with
            ``__name__ == "__main__"``; the runner passes its real ``__main__``
            module's, as in an interactive interpreter).
        silent_without_output: a Python block with no output block under it must
            print nothing (the page would hide what it printed).

    A block's output is everything written to standard output, by Python, by C
    code or by child processes, as a terminal would show it.
    """

    def __init__(self, workdir: Path, env: dict[str, str] | None = None,
                 namespace: dict[str, object] | None = None,
                 silent_without_output: bool = False) -> None:
        self.workdir = workdir
        self.env = env
        if namespace is None:
            namespace = {"__name__": "__main__", "__builtins__": builtins}
        self.namespace = namespace
        self.silent_without_output = silent_without_output

    def _filename(self, block: Block) -> str:
        return f"<{block.page} block {block.index}>"

    def _describe(self, block: Block, exc: BaseException) -> str:
        """A traceback whose frames in page code point at the page and the included file."""
        fake = self._filename(block)
        parts = [f"{block.location}: {block.language} block {block.index} failed"]
        tb = traceback.extract_tb(exc.__traceback__)
        frames = []
        for fr in tb:
            if fr.filename == fake and fr.lineno and 0 < fr.lineno <= len(block.origins):
                frames.append(f"  {block.origins[fr.lineno - 1]}\n    {fr.line}")
            elif fr.filename != __file__:
                frames.append(f"  {fr.filename}:{fr.lineno} in {fr.name}\n    {fr.line}")
        if frames:
            parts.append("Traceback (page code first):\n" + "\n".join(frames))
        parts.append(f"{type(exc).__name__}: {exc}")
        return "\n".join(parts)

    def run(self, block: Block) -> str:
        """Execute one block; return what it printed.

        Raises:
            BlockFailure: the block raised, exited non-zero, or its output differs
                from the output shown on the page.
        """
        if block.language == "python":
            output = self._run_python(block)
        else:
            output = self._run_shell(block)
        if block.expected_output is not None and not _output_matches(block, output):
            raise BlockFailure(
                f"{block.location}: the output shown on the page is not what the code prints.\n"
                f"--- shown on the page\n{block.expected_output}"
                f"--- printed by the code\n{output}"
            )
        if (self.silent_without_output and block.language == "python"
                and block.expected_output is None and output):
            raise BlockFailure(
                f"{block.location}: the block prints output the page does not show; add an "
                "expected-output block under it (fill it with tutorials._book.update_outputs).\n"
                f"--- printed by the code\n{output}"
            )
        return output

    def _run_python(self, block: Block) -> str:
        fake = self._filename(block)
        linecache.cache[fake] = (len(block.code), None, block.code.splitlines(True), fake)
        old_cwd = os.getcwd()
        os.chdir(self.workdir)
        try:
            # dont_inherit: this module's `from __future__ import annotations` must not
            # leak into page code (it would hide unimported names in annotations).
            code = compile(block.code, fake, "exec", dont_inherit=True)
            with _captured_fd1() as captured:
                exec(code, self.namespace)
        except Exception as exc:
            raise BlockFailure(self._describe(block, exc)) from exc
        finally:
            os.chdir(old_cwd)
        return captured.text

    def _run_shell(self, block: Block) -> str:
        shell = "/bin/bash" if block.language == "bash" else "/bin/sh"
        proc = subprocess.run(
            [shell, "-e", "-c", block.code],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise BlockFailure(
                f"{block.location}: {block.language} block {block.index} exited with "
                f"{proc.returncode}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
            )
        return proc.stdout


def shell_env() -> dict[str, str]:
    """Environment for shell blocks: this interpreter's ``bin`` first on ``PATH``."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    return env
