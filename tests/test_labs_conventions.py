"""Conventions every lab script follows, and the notebook path the publishing build uses."""

import importlib
import re

import jupytext
import pytest

from tutorials._book import layout

LABS = layout.labs()


@pytest.mark.parametrize("path", LABS, ids=[p.stem for p in LABS])
def test_lab_cli_conventions(path):
    module = importlib.import_module(layout.lab_module(path))
    parser = module.build_parser()
    flags = {s for a in parser._actions for s in a.option_strings}
    assert {"--dry-run", "--device", "--seed", "--out-dir"} <= flags
    for action in parser._actions:
        if action.option_strings != ["-h", "--help"]:
            assert re.search(r"\(default: .+\)$", action.help or ""), (
                f"{path.name}: help of {action.option_strings} must end with (default: ...)"
            )
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# %% [markdown]\n# # "), f"{path.name}: a percent script opening with a title"
    assert re.search(r'if __name__ == "__main__":\n(    #.*\n)*    main\(script_argv\(', text)


@pytest.mark.parametrize("path", LABS, ids=[p.stem for p in LABS])
def test_lab_reads_as_a_notebook(path):
    nb = jupytext.read(path)
    kinds = [c.cell_type for c in nb.cells]
    assert kinds.count("markdown") >= 3 and kinds.count("code") >= 3


@pytest.mark.slow
@pytest.mark.parametrize("path", LABS, ids=[p.stem for p in LABS])
def test_lab_executes_as_a_notebook(path, monkeypatch, tmp_path):
    """The publishing build's path: mkdocs-jupyter executes the lab in a kernel."""
    from mkdocs_jupyter import convert

    monkeypatch.chdir(tmp_path)  # the kernel works in the build's directory: keep files out of src/
    monkeypatch.setenv("COURSE_LAB_ARGS", "--dry-run --device cpu")
    html = convert.nb2html(str(path), execute=True, allow_errors=False)
    assert "<pre>" in html and "Traceback" not in html, f"{path.name}: no output in the executed notebook"


@pytest.mark.slow
def test_an_error_in_a_lab_fails_the_executed_build(tmp_path):
    """allow_errors is false (the site hook refuses true): an exception stops the build."""
    from mkdocs_jupyter import convert
    from nbclient.exceptions import CellExecutionError

    broken = tmp_path / "lab_broken.py"
    broken.write_text("# %% [markdown]\n# # Broken\n\n# %%\nraise ValueError('lab bug')\n")
    with pytest.raises(CellExecutionError, match="lab bug"):
        convert.nb2html(str(broken), execute=True, allow_errors=False)
