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


@pytest.mark.parametrize("path", LABS, ids=[p.stem for p in LABS])
def test_lab_runs_the_same_in_a_kernel(path):
    """What differs in a notebook kernel is only where the arguments come from.

    Each lab's dry run runs once per suite, on its chapter's page (the learner's
    command); the publishing build executes every lab in a kernel. Between the two,
    a lab must not read ``sys.argv`` or ``__file__`` (a kernel has neither as a script
    has), and must take its arguments from ``script_argv``, which the next test runs
    in a real kernel."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    attrs = {f"{n.value.id}.{n.attr}" for n in ast.walk(tree)
             if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}
    assert "__file__" not in names, f"{path.name} reads __file__, which a notebook kernel does not define"
    assert "sys.argv" not in attrs, f"{path.name} reads sys.argv; use script_argv() (tutorials.core.cli)"


@pytest.mark.slow
def test_a_lab_takes_its_arguments_from_the_environment_in_a_kernel(tmp_path, monkeypatch):
    """The publishing build's path, in a real kernel: ``main(script_argv(...))`` gets
    ``COURSE_LAB_ARGS`` (the suite's ``--dry-run``), not the kernel's own argv."""
    from mkdocs_jupyter import convert

    lab = tmp_path / "lab_00_arguments.py"
    lab.write_text(
        "# %% [markdown]\n# # Arguments\n\n# %%\nimport argparse\n"
        "from tutorials.core.cli import script_argv\n\n"
        "def main(argv=None):\n    p = argparse.ArgumentParser()\n"
        "    p.add_argument('--dry-run', action='store_true')\n    p.add_argument('--device')\n"
        "    args = p.parse_args(argv)\n    print('dry run:', args.dry_run, 'device:', args.device)\n\n"
        "# %%\nif __name__ == \"__main__\":\n    main(script_argv(notebook_default=['--device', 'cuda']))\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COURSE_LAB_ARGS", "--dry-run --device cpu")
    html = convert.nb2html(str(lab), execute=True, allow_errors=False)
    assert "dry run: True device: cpu" in html, html[-2000:]


@pytest.mark.slow
def test_an_error_in_a_lab_fails_the_executed_build(tmp_path):
    """allow_errors is false (the site hook refuses true): an exception stops the build."""
    from mkdocs_jupyter import convert
    from nbclient.exceptions import CellExecutionError

    broken = tmp_path / "lab_broken.py"
    broken.write_text("# %% [markdown]\n# # Broken\n\n# %%\nraise ValueError('lab bug')\n")
    with pytest.raises(CellExecutionError, match="lab bug"):
        convert.nb2html(str(broken), execute=True, allow_errors=False)
