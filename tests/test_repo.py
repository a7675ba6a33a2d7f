"""The repository's promises: two README commands, CI runs the test one, pinned set, workflows."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_command(name: str) -> str:
    m = re.search(rf"<!-- command:{name} -->\n```bash\n(.+?)\n```", README, re.S)
    assert m, f"README.md has no ```bash block under <!-- command:{name} -->"
    return m.group(1)


def test_readme_has_the_two_commands():
    serve, test = readme_command("serve"), readme_command("test")
    for cmd in (serve, test):
        assert "\n" not in cmd, "each quick-start command is one line"
        assert "pip install -c constraints.txt" in cmd, "install the tested set"
    assert serve.endswith("mkdocs serve") and '".[docs]"' in serve
    assert test.endswith("python -m pytest") and '".[test]"' in test
    assert "pip install --no-deps -r requirements-nodeps.txt" in test, "the --no-deps packages"


def test_ci_runs_the_readme_test_command():
    out = subprocess.run(
        ["bash", str(ROOT / ".ci" / "run"), "--print-command"],
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == readme_command("test")
    assert 'bash -euo pipefail -c "$cmd"' in (ROOT / ".ci" / "run").read_text()


def test_constraints_pin_the_tested_set_and_pyproject_has_lower_bounds():
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + [d for ds in project["optional-dependencies"].values() for d in ds]
    assert not [d for d in deps if "==" in d], "exact pins belong in constraints.txt"
    assert any(d.startswith("mkdocs>=") and "<2" in d for d in deps), "Material needs mkdocs<2"
    names = {re.split(r"[<>=\[ ]", d)[0].lower() for d in deps}
    for required in ("torch", "torchvision", "mkdocs-material", "mkdocs-jupyter", "mkdocstrings",
                     "pymdown-extensions", "pytest", "pytest-socket", "ax-platform",
                     "tensorboard", "ruff"):
        assert required in names, f"{required} missing from pyproject.toml"
        assert required.replace("-", "_") in {k.lower().replace("-", "_") for k in pins}, (
            f"{required} missing from constraints.txt"
        )


def test_workflows_match_the_github_schema():
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert exe, "check-jsonschema is a test dependency"
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    assert len(workflows) == 2
    out = subprocess.run(
        [exe, "--builtin-schema", "vendor.github-workflows", *workflows],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_publishing_workflow_tests_then_builds_with_labs_executed():
    pages = (ROOT / ".github" / "workflows" / "pages.yml").read_text()
    assert pages.index("python -m pytest") < pages.index("mkdocs build --strict")
    assert 'COURSE_EXECUTE_LABS: "true"' in pages
    assert "actions/deploy-pages" in pages
    ci = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert "bash .ci/run" in ci and "pull_request" in ci
    # a job builds with the docs extra alone; a job runs the pages under the baseline capability
    assert 'pip install -c constraints.txt -e ".[docs]"' in ci and "mkdocs build --strict" in ci
    assert "python -m tutorials._book.matrix --capability default" in ci


def test_ruff_check_is_clean():
    """The lint rules in pyproject.toml hold for the package and the tests (issue 11)."""
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "src", "tests"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert out.returncode == 0, f"ruff check src tests failed:\n{out.stdout}{out.stderr}"


def test_pages_use_no_latex_math():
    """The site has no math renderer (MathJax/KaTeX would be fetched from a CDN): LaTeX shows raw."""
    import re

    offenders = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)  # code may hold $
        for line in text.splitlines():
            if "$$" in line or re.search(r"\\(frac|sum|sqrt|text|operatorname)\{", line):
                offenders.append(f"{page.relative_to(ROOT)}: {line.strip()[:80]}")
    assert not offenders, "write formulas as text or in a ```text block:\n" + "\n".join(offenders)
