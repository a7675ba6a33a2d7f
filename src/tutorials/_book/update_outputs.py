"""Author tool: rewrite a page's output blocks with what its code prints now.

Usage::

    python -m tutorials._book.update_outputs docs/lectures/03-autograd.md

Every output fence of the page is replaced by the output of the block above it,
produced by running the page as the tests do (once, in a new interpreter):

* an ``expected-output`` block keeps its text when what the code prints now still
  matches it (numbers to the precision written, or the declared tolerance), so
  running the tool on another machine does not churn last digits;
* a ``recorded-output`` block always takes this run's output, and its marker the
  machine, torch version and date of this run (the page shows them).

Every figure the page shows from ``docs/assets/figures/`` and every speedscope
trace it links from ``docs/assets/traces/`` is replaced by the file its code wrote
at the same path under the page's working directory. Review the diff before
committing: the test suite then holds the page to all of it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
from pathlib import Path

from tutorials._book import blocks, outputs, runner

MARKER = re.compile(
    r"^(?P<indent>\s*)<!--[-\s]*pytest-codeblocks:(?P<kind>expected-output(?:-ignore-whitespace)?"
    r"|recorded-output)(?P<options>[^>]*?)[-\s]*-->\s*$"
)


FIGURE = re.compile(r"\]\((?:\.\./)*assets/figures/([^)\s]+\.png)\)")
TRACE = re.compile(r"assets/traces/([\w./-]+\.speedscope\.json)")


def figure_names(text: str) -> list[str]:
    """Names of the PNG files a page shows from ``assets/figures/``."""
    return sorted(set(FIGURE.findall(text)))


def trace_names(text: str) -> list[str]:
    """Names of the speedscope traces a page links from ``assets/traces/``."""
    return sorted(set(TRACE.findall(text)))


def load_snippet_config(root: Path) -> dict:
    """The ``pymdownx.snippets`` options of ``<root>/mkdocs.yml``, resolved as MkDocs does."""
    from mkdocs.config import load_config

    cfg = load_config(str(root / "mkdocs.yml"))
    return dict(cfg.mdx_configs["pymdownx.snippets"])


def update_page(page: Path, root: Path) -> int:
    """Run ``page`` and rewrite its output blocks; return how many changed.

    Raises:
        blocks.BlockFailure: a block raised (nothing is written then).
    """
    pre = blocks.snippet_preprocessor(load_snippet_config(root))
    expanded = blocks.expand_page(page, root, pre)
    page_blocks = blocks.page_blocks(expanded)
    printed: dict[int, str] = {}
    specs: dict[int, outputs.OutputSpec] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # The page runs as the tests run it: once, in a new interpreter (tutorials._book.runner).
        runnable = [b for b in page_blocks if not any("skip" in m for m in b.marks)]
        process = runner.PageProcess(runnable, Path(tmp), blocks.shell_env(), compare=False)
        process.wait_for(None)
        for b in runnable:
            result = process.results.get(b.index)
            if result is None or result["status"] != "passed":
                raise blocks.BlockFailure(result["message"] if result else f"{b.location}: not run")
            printed[b.location.page_line] = result["output"]
            specs[b.location.page_line] = b.output_spec
        for name in figure_names(expanded.text):
            produced = Path(tmp) / name
            if not produced.is_file():
                raise FileNotFoundError(
                    f"{page}: shows assets/figures/{name} but its code did not write {name}"
                )
            target = root / "docs" / "assets" / "figures" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(produced, target)
        for name in trace_names(expanded.text):
            produced = Path(tmp) / name
            if not produced.is_file():
                raise FileNotFoundError(
                    f"{page}: links assets/traces/{name} but its code did not write {name}"
                )
            target = root / "docs" / "assets" / "traces" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(produced, target)
    recorded_meta = outputs.recording_meta()
    lines = page.read_text(encoding="utf-8").split("\n")
    changed, i, out = 0, 0, []
    while i < len(lines):
        marker = MARKER.match(lines[i])
        if marker and marker.group("kind") == "recorded-output":
            opts = " ".join(f'{k}="{v}"' for k, v in recorded_meta.items())
            lines[i] = f"{marker.group('indent')}<!-- pytest-codeblocks:recorded-output {opts} -->"
        out.append(lines[i])
        if marker:
            owner = max((ln for ln in printed if ln < i + 1), default=None)
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                out.append(lines[j])
                j += 1
            fence = lines[j]
            indent = fence[: len(fence) - len(fence.lstrip())]
            ticks = fence.strip()[: len(fence.strip()) - len(fence.strip().lstrip("`"))]
            k = j + 1
            while not lines[k].strip().startswith(ticks):
                k += 1
            old = lines[j + 1 : k]
            text = printed.get(owner, "") if owner is not None else ""
            new = [indent + ln if ln else ln for ln in text.rstrip("\n").split("\n")]
            if marker.group("kind") != "recorded-output":
                spec = specs.get(owner, outputs.OutputSpec())
                shown = "\n".join(ln[len(indent):] for ln in old) + "\n"
                if outputs.compare(shown, text.rstrip("\n") + "\n", spec) is None:
                    new = old  # still matches: keep the page's digits
            changed += old != new
            out += [fence, *new, lines[k]]
            i = k + 1
            continue
        i += 1
    page.write_text("\n".join(out), encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pages", nargs="+", type=Path, help="Markdown pages to update")
    p.add_argument("--root", type=Path, default=Path.cwd(),
                   help="repository root holding mkdocs.yml (default: the working directory)")
    args = p.parse_args(argv)
    for page in args.pages:
        print(f"{page}: {update_page(page, args.root)} output block(s) changed")


if __name__ == "__main__":
    main()
