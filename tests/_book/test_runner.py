"""A page runs once, in its own fresh interpreter: what it captures, checks and reports."""

import textwrap
from pathlib import Path

import pytest

from tutorials._book import blocks
from tutorials._book.runner import PageProcess

FENCE = "```"


def page(tmp_path: Path, text: str) -> list[blocks.Block]:
    path = tmp_path / "page.md"
    path.write_text(textwrap.dedent(text))
    pre = blocks.snippet_preprocessor({"base_path": [str(tmp_path)], "check_paths": True})
    return blocks.page_blocks(blocks.expand_page(path, tmp_path, pre))


def out_block(text: str) -> str:
    return f"<!-- pytest-codeblocks:expected-output -->\n{FENCE}text\n{text}{FENCE}\n\n"


def run(tmp_path, text, claims=None):
    bs = page(tmp_path, text)
    proc = PageProcess(bs, tmp_path / "work", blocks.shell_env(), claims=claims)
    proc.wait_for(None)
    return bs, proc


def test_fresh_interpreter_terminal_output_and_claims(tmp_path):
    claims = tmp_path / "claims.py"
    claims.write_text(textwrap.dedent("""\
        def claims(ns, out, workdir):
            assert ns["Point"].__module__ == "__main__"
            assert out == "hello from C\\nfrom a child process\\nwrote made.txt\\n"
            assert (workdir / "made.txt").read_text() == "x"
    """))
    bs, proc = run(tmp_path, (
        f"{FENCE}python\nimport ctypes, subprocess, sys\n"
        "sys.stdout.flush()\nctypes.CDLL(None).puts(b'hello from C')\n"
        "subprocess.run(['echo', 'from a child process'])\n"
        f"{FENCE}\n\n" + out_block("hello from C\nfrom a child process\n")
        + f"{FENCE}python\nimport pickle, sys\nclass Point:\n    pass\n"
        "pickle.dumps(Point())  # found in the real __main__\n"
        "open('made.txt', 'w').write('x')\nprint('wrote made.txt')\n"
        f"{FENCE}\n\n" + out_block("wrote made.txt\n")
    ), claims=claims)
    assert [proc.results[b.index]["status"] for b in bs] == ["passed", "passed"], proc.results
    assert proc.claims_result == {"claims": "passed"}


def test_unshown_output_fails_and_stops_the_page(tmp_path):
    bs, proc = run(tmp_path, f"""\
        {FENCE}python
        print("the page does not show this")
        {FENCE}

        {FENCE}python
        x = 1
        {FENCE}
    """)
    assert proc.results[bs[0].index]["status"] == "failed"
    assert "prints output the page does not show" in proc.results[bs[0].index]["message"]
    assert bs[1].index not in proc.results, "a reader's session is broken after a failure"
    assert proc.claims_result is None


def test_a_crashing_process_is_reported_with_its_exit_code(tmp_path):
    bs = page(tmp_path, f"{FENCE}python\nimport os\nos._exit(7)\n{FENCE}\n")
    proc = PageProcess(bs, tmp_path / "work", blocks.shell_env())
    with pytest.raises(blocks.BlockFailure, match="ended with exit code 7 before reporting"):
        proc.wait_for(bs[0].index)


def test_failing_claims_carry_their_traceback(tmp_path):
    claims = tmp_path / "claims.py"
    claims.write_text("def claims(ns, out, workdir):\n    assert ns['a'] == 2, 'a should be 2'\n")
    _, proc = run(tmp_path, f"{FENCE}python\na = 1\n{FENCE}\n", claims=claims)
    assert proc.claims_result["claims"] == "failed"
    assert "AssertionError: a should be 2" in proc.claims_result["message"]


def test_pages_are_offline(tmp_path):
    bs, proc = run(tmp_path, (
        f"{FENCE}python\nimport socket\ntry:\n"
        "    socket.create_connection(('192.0.2.1', 80), timeout=5)\n"
        "except Exception as err:\n    print(type(err).__name__)\n"
        f"{FENCE}\n\n" + out_block("SocketConnectBlockedError\n")
    ))
    assert proc.results[bs[0].index]["status"] == "passed", proc.results[bs[0].index].get("message")


def test_each_page_starts_unseeded_like_a_new_interpreter(tmp_path):
    import torch

    torch.manual_seed(0)  # what an earlier test in this process might have done
    bs = page(tmp_path, f"{FENCE}python\nimport torch\nprint(torch.initial_seed())\n{FENCE}\n")
    seeds = []
    for run_no in range(2):
        proc = PageProcess(bs, tmp_path / f"work{run_no}", blocks.shell_env(), compare=False)
        proc.wait_for(None)
        seeds.append(int(proc.results[bs[0].index]["output"]))
    assert 0 not in seeds and seeds[0] != seeds[1]


def test_a_block_that_writes_files_must_name_them(tmp_path):
    shown = out_block("wrote lec99/said.txt\nlogs in lec99/logs/\n")
    bs, proc = run(tmp_path, f"""\
        {FENCE}python
        from pathlib import Path
        out = Path("lec99")
        out.mkdir()
        (out / "said.txt").write_text("x")
        print(f"wrote {{out / 'said.txt'}}")
        (out / "logs").mkdir()
        (out / "logs" / "events.1234").write_text("x")
        print(f"logs in {{out / 'logs'}}/")
        {FENCE}

        {shown}
        {FENCE}python
        (out / "said.txt").write_text("changed")
        Path("silent.png").write_bytes(b"")
        {FENCE}
    """)
    assert proc.results[0]["status"] == "passed", proc.results[0]
    message = proc.results[1]["message"]
    assert "writes lec99/said.txt, silent.png without saying so" in message


def test_recorded_and_tolerant_outputs(tmp_path):
    shown = out_block("accuracy 0.9499\n")
    bs, proc = run(tmp_path, f"""\
        {FENCE}python
        print("speed-up 3.1x, best trial 7")
        {FENCE}

        <!-- pytest-codeblocks:recorded-output machine="M" torch="2.14.1" date="2026-12-01" -->
        {FENCE}text
        speed-up 12.4x, best trial 3
        {FENCE}

        {FENCE}python
        print("loss 0.5012 and 0.12")
        {FENCE}

        <!-- pytest-codeblocks:expected-output abs=0.01 -->
        {FENCE}text
        loss 0.4950 and 0.121
        {FENCE}

        {FENCE}python
        print("accuracy 0.9471")
        {FENCE}

        {shown}
    """)
    assert [proc.results[b.index]["status"] for b in bs] == ["passed", "passed", "failed"]
    assert "the page shows 0.9499, the code printed 0.9471" in proc.results[2]["message"]
    assert bs[1].output_spec.abs_tol == 0.01 and bs[0].output_spec.meta["machine"] == "M"


SOLUTION_PAGE = f"""\
{FENCE}python
import torch
torch.manual_seed(0)
with open("data.txt", "w") as f:
    f.write("from the page")
print("wrote data.txt")
{FENCE}

<!-- pytest-codeblocks:expected-output -->
{FENCE}text
wrote data.txt
{FENCE}

??? success "Solution"

    {FENCE}python
    answer = 42{{extra}}
    {FENCE}

{FENCE}python
print(open("data.txt").read(), (torch.ones(64, 64) @ torch.ones(64, 64)).sum().item(){{use}})
{FENCE}

<!-- pytest-codeblocks:expected-output -->
{FENCE}text
from the page 262144.0
{FENCE}
"""


def learner_run(tmp_path, extra="", use=""):
    bs = page(tmp_path, SOLUTION_PAGE.replace("{extra}", extra).replace("{use}", use))
    assert [b.in_solution for b in bs] == [False, True, False]
    proc = PageProcess(bs, tmp_path / "work", blocks.shell_env(), learner_run=True)
    assert proc.learner is not None and proc.learner.indices == [bs[0].index, bs[2].index]
    proc.learner.wait(proc, timeout=120)
    return bs, proc


def test_the_learner_run_forks_at_the_first_solution_and_runs_the_rest_alone(tmp_path):
    bs, proc = learner_run(tmp_path)
    assert [proc.results[b.index]["status"] for b in bs] == ["passed"] * 3
    learner = proc.learner.results
    assert set(learner) == {bs[2].index}, "the blocks before the fork ran once, in the reader's run"
    assert learner[bs[2].index]["status"] == "passed", learner
    # its own working directory: a copy of the reader's at the fork
    assert (tmp_path / "work-without-solutions" / "data.txt").read_text() == "from the page"


def test_a_block_that_needs_a_solution_fails_the_learner_run_only(tmp_path):
    bs, proc = learner_run(tmp_path, use=" + 0 * answer")
    assert proc.results[bs[2].index]["status"] == "passed"
    failed = proc.learner.results[bs[2].index]
    assert failed["status"] == "failed" and "NameError" in failed["message"], failed


def test_a_solution_that_changes_later_output_is_caught(tmp_path):
    # the solution draws from the global generator: the page's next output is the solution reader's
    text = (f"{FENCE}python\nimport torch\ntorch.manual_seed(0)\n{FENCE}\n\n"
            f'??? success "Solution"\n\n    {FENCE}python\n    noise = torch.rand(3)\n    {FENCE}\n\n'
            f"{FENCE}python\nprint(torch.randint(10**6, (1,)).item())\n{FENCE}\n\n"
            + out_block("{first}\n"))
    import torch

    torch.manual_seed(0)
    torch.rand(3)
    with_solution = torch.randint(10**6, (1,)).item()
    bs = page(tmp_path, text.replace("{first}", str(with_solution)))
    proc = PageProcess(bs, tmp_path / "work", blocks.shell_env(), learner_run=True)
    proc.learner.wait(proc, timeout=120)
    assert proc.results[bs[2].index]["status"] == "passed"
    missed = proc.learner.results[bs[2].index]
    assert missed["status"] == "failed" and str(with_solution) in missed["message"], missed
