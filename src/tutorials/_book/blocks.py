"""Find, expand and execute the code blocks of a documentation page, as rendered.

A page is expanded with the same ``pymdownx.snippets`` preprocessor and options
that MkDocs uses, one source line at a time so that every expanded line keeps its
origin (page line, and file and line of an included section). Its fences are
found here (backticks or tildes, at any indentation, inside admonitions too) and
its markers read with pytest-codeblocks' syntax (``cont``, ``expected-output``,
``pytest.mark.skip(reason=...)``, ``skipif``), plus the output kinds of
:mod:`tutorials._book.outputs`. Fences with attributes (``python title="x"``) are
executed like plain ``python`` fences; a fence that the site would highlight as
Python but that would not run (``~~~python``, ``python3``, ``pycon``) is refused.
Nothing here imports test tooling: the site's hook uses this module to build.

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
import linecache
import os
import re
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from tutorials._book import outputs

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
    output_spec: outputs.OutputSpec = field(default_factory=outputs.OutputSpec)
    output_line: int | None = None  # expanded-page line of the output fence
    in_solution: bool = False  # inside a collapsed "Solution" admonition

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


_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_MARKER = re.compile(r"^<!--[-\s]*pytest-codeblocks:(?P<body>.*?)[-\s]*-->$")
_MARK = re.compile(r"^<!--[-\s]*(?P<mark>pytest\.mark\..*?)[-\s]*-->$")
_ADMONITION = re.compile(
    r'^(?P<indent>[ \t]*)(?:\?{3}\+?|!{3})[ \t]*[\w-]*(?:[ \t]+"(?P<title>[^"]*)")?[ \t]*$')
_OUTPUT_KINDS = {"expected-output": "expected", "expected-output-ignore-whitespace": "expected",
                 "recorded-output": "recorded"}


@dataclass
class Fence:
    """One fenced block of a page, whatever its language (1-based line numbers)."""

    line: int
    info: str
    body_lines: list[int]
    code: str
    fence: str
    in_solution: bool


def _python_like(word: str) -> bool:
    """Whether the site would highlight a fence whose info string starts with ``word`` as Python."""
    if not word:
        return False
    from pygments.lexers import get_lexer_by_name
    from pygments.lexers.python import Python2Lexer, PythonConsoleLexer, PythonLexer
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(word)
    except ClassNotFound:
        return False
    python_family = (PythonLexer, Python2Lexer, PythonConsoleLexer)
    return isinstance(lexer, python_family) or "python" in lexer.name.lower()


def _indent_width(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


def scan_fences(lines: list[str]) -> list[Fence]:
    """Every fenced block (backticks or tildes, at any indentation), in page order."""
    fences: list[Fence] = []
    admonitions: list[tuple[int, bool]] = []  # (indent, is a solution) of the open ones
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip():
            width = _indent_width(line)
            while admonitions and width <= admonitions[-1][0]:
                admonitions.pop()
            head = _ADMONITION.match(line)
            if head:
                title = (head.group("title") or "").lower()
                admonitions.append((width, "solution" in title))
        m = _FENCE_OPEN.match(line)
        if not m:
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent"))
        start, body, code = i + 1, [], []
        i += 1
        while i < len(lines):
            stripped = lines[i].lstrip()
            if stripped.startswith(fence) and not stripped[len(fence):].strip(fence[0] + " \t"):
                break
            body.append(i + 1)
            cut = min(indent, len(lines[i]) - len(stripped))
            code.append(lines[i][cut:] + "\n")
            i += 1
        else:
            raise PageError(f"line {start}: the fence opened here ({fence}) is never closed")
        fences.append(Fence(start, m.group("info").strip(), body, "".join(code), fence,
                            any(sol for _, sol in admonitions)))
        i += 1
    return fences


def _marker_spec(body: str, where: str) -> tuple[str, outputs.OutputSpec] | None:
    keyword, _, options = body.strip().partition(" ")
    if keyword not in _OUTPUT_KINDS:
        return None
    try:
        opts = outputs.parse_marker_options(options, where)
    except ValueError as err:
        raise PageError(str(err)) from err
    kind = _OUTPUT_KINDS[keyword]
    allowed = {"abs", "rel"} if kind == "expected" else {"machine", "torch", "device", "date"}
    unknown = sorted(set(opts) - allowed)
    if unknown:
        raise PageError(f"{where}: {keyword} takes {sorted(allowed)}, not {unknown}")
    try:
        abs_tol, rel_tol = float(opts.pop("abs", 0)), float(opts.pop("rel", 0))
    except ValueError as err:
        raise PageError(f"{where}: a tolerance must be a number ({err})") from err
    return keyword, outputs.OutputSpec(kind, abs_tol, rel_tol,
                                       keyword.endswith("ignore-whitespace"), opts)


def page_blocks(page: ExpandedPage) -> list[Block]:
    """Executable blocks of an expanded page.

    Markers follow pytest-codeblocks' syntax (``cont``, ``expected-output``,
    ``pytest.mark.skip(reason=...)``/``skipif``), plus the output kinds of
    :mod:`tutorials._book.outputs` (a tolerance, ``recorded-output``).

    Raises:
        PageError: an unknown marker, a marker with nothing to attach to, or a
            fence that the site renders as Python but the tests would not run.
    """
    lines = page.text.splitlines()
    try:
        fences = scan_fences(lines)
    except PageError as err:
        raise PageError(f"{page.path}:{err}") from None
    by_line = {f.line: f for f in fences}
    in_fence = {ln for f in fences for ln in f.body_lines}
    for ln, origin in enumerate(page.origins, start=1):
        if origin.file and origin.file.endswith(".py") and ln not in in_fence:
            raise PageError(
                f"{origin.page}:{origin.page_line}: {origin.file} is included outside a code "
                "fence, so it would render as prose; wrap the include in ```python ... ```"
            )
    blocks: list[Block] = []
    raw: list[tuple[Fence, Block]] = []  # every fence, as pytest-codeblocks counts them
    marks: list[str] = []
    pending: tuple[str, outputs.OutputSpec] | None = None
    cont = False
    for ln, line in enumerate(lines, start=1):
        if ln in in_fence:
            continue
        where = str(page.origins[ln - 1])
        stripped = line.strip()
        marker = _MARKER.match(stripped)
        if marker:
            body = marker.group("body")
            spec = _marker_spec(body, where)
            if spec is not None:
                if not raw or raw[-1][1].expected_output is not None:
                    raise PageError(f"{where}: an output marker needs a code block above it, "
                                    "without an output block of its own")
                pending = spec
            elif body.strip() == "cont":
                if not raw:
                    raise PageError(f"{where}: pytest-codeblocks:cont needs a code block above it")
                cont = True
            else:
                raise PageError(f"{where}: unknown marker {stripped!r}")
            continue
        mark = _MARK.match(stripped)
        if mark:
            marks.append(mark.group("mark"))
            continue
        fence = by_line.get(ln)
        if fence is None:
            continue
        word = fence.info.split()[0].strip("{}.").lower() if fence.info else ""
        if pending is not None:
            owner = raw[-1][1]
            owner.expected_output = fence.code
            owner.ignore_whitespace = pending[1].ignore_whitespace
            owner.output_spec = pending[1]
            owner.output_line = fence.line
            pending = None
            continue
        if cont:
            owner_fence, owner = raw[-1]
            owner.code += fence.code
            owner.origins += [page.origins[n - 1] for n in fence.body_lines]
            cont = False
            continue
        language = EXECUTED_LANGUAGES.get(word) if fence.fence.startswith("`") else None
        if language is None and _python_like(word):
            how = ("a ~~~ fence" if fence.fence.startswith("~") else f"the info string {fence.info!r}")
            raise PageError(
                f"{page.origins[fence.line - 1]}: this fence renders as Python but is never run "
                f"({how}); write it as ```python so the tests execute it, or as ```text "
                "if it is not code"
            )
        block = Block(
            page=page.path,
            index=-1,
            language=language or "",
            info=fence.info,
            code=fence.code,
            origins=[page.origins[n - 1] for n in fence.body_lines] or [page.origins[fence.line - 1]],
            marks=marks,
            in_solution=fence.in_solution,
        )
        marks = []
        raw.append((fence, block))
        if language is not None:
            block.index = len(blocks)
            blocks.append(block)
    if pending is not None or cont:
        raise PageError(f"{page.path}: the page ends after a marker that expects a code block")
    return blocks


class BlockFailure(AssertionError):
    """A block raised, or printed something other than the output shown on the page."""


def output_mismatch(block: Block, output: str) -> str | None:
    """Why ``output`` does not match the page's output block (``None``: it matches)."""
    return outputs.compare(block.expected_output or "", output, block.output_spec)


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
        name_written_files: a block that creates or changes files under ``workdir``
            must name each (its path relative to ``workdir``, or a folder above it)
            in what it prints, so the reader knows what appeared where.
        ignore_files: names under ``workdir`` that the machinery itself writes.

    A block's output is everything written to standard output, by Python, by C
    code or by child processes, as a terminal would show it.
    """

    def __init__(self, workdir: Path, env: dict[str, str] | None = None,
                 namespace: dict[str, object] | None = None,
                 silent_without_output: bool = False, name_written_files: bool = False,
                 ignore_files: frozenset[str] = frozenset()) -> None:
        self.workdir = workdir
        self.name_written_files = name_written_files
        self.ignore_files = ignore_files
        self.env = env
        if namespace is None:
            namespace = {"__name__": "__main__", "__builtins__": builtins}
        self.namespace = namespace
        self.silent_without_output = silent_without_output
        self.last_stderr = ""  # standard error of the last shell block

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
        before = self._files() if self.name_written_files else {}
        if block.language == "python":
            output = self._run_python(block)
        else:
            output = self._run_shell(block)
        if self.name_written_files:
            self._check_files_named(block, before, self._files(), output)
        why = output_mismatch(block, output) if block.expected_output is not None else None
        if why is not None:
            kind = ("recorded output (numbers may differ; its text may not)"
                    if block.output_spec.kind == "recorded" else "output")
            raise BlockFailure(
                f"{block.location}: the {kind} shown on the page is not what the code prints: {why}\n"
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

    def _files(self) -> dict[str, tuple[int, int]]:
        """Every file under the working directory: relative path → (size, mtime)."""
        out = {}
        for dirpath, dirnames, filenames in os.walk(self.workdir):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in filenames:
                path = Path(dirpath) / name
                rel = path.relative_to(self.workdir).as_posix()
                if rel in self.ignore_files:
                    continue
                try:
                    st = path.stat()
                except FileNotFoundError:  # removed while we looked
                    continue
                out[rel] = (st.st_size, st.st_mtime_ns)
        return out

    def _check_files_named(self, block: Block, before: dict, after: dict, output: str) -> None:
        written = sorted(rel for rel, stat in after.items() if before.get(rel) != stat)
        unnamed = []
        for rel in written:
            parts = rel.split("/")
            candidates = ["/".join(parts[:k]) for k in range(len(parts), 0, -1)]
            if not any(c in output for c in candidates):
                unnamed.append(rel)
        if unnamed:
            raise BlockFailure(
                f"{block.location}: the block writes {', '.join(unnamed[:5])}"
                f"{' and more' if len(unnamed) > 5 else ''} without saying so; print the path "
                "(or the folder it is in) relative to the page's working directory, e.g. "
                f"print(f\"wrote {{path}}\"), so the reader knows what appeared where"
            )

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
        self.last_stderr = proc.stderr  # a terminal shows it too: the runner reports it
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
