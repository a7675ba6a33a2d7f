"""The environment record: versions, filtered variables, the git state of the code, as JSON."""

import doctest
import json
import subprocess

import torch

from tutorials.lec26_debugging_hpc import environment
from tutorials.lec26_debugging_hpc.environment import capture_environment, git_state, write_environment


def test_doctest():
    assert doctest.testmod(environment).failed == 0


def test_fields_and_filter(tmp_path):
    info = capture_environment(env={"NCCL_DEBUG": "INFO", "TORCH_LOGS": "+dynamo", "PATH": "/bin",
                                    "SLURM_JOB_ID": "7"})
    assert info["env"] == {"NCCL_DEBUG": "INFO", "SLURM_JOB_ID": "7", "TORCH_LOGS": "+dynamo"}
    assert info["torch"]["version"] == torch.__version__
    assert info["torch"]["num_threads"] == torch.get_num_threads()
    assert info["packages"]["torch"] == torch.__version__.split("+")[0] or "torch" in info["packages"]
    assert info["git"] is None
    path = write_environment(tmp_path / "sub" / "env.json", env={})
    assert json.loads(path.read_text())["env"] == {}


def test_git_state(tmp_path):
    assert git_state(tmp_path) is None  # not a work tree
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f.txt").write_text("a")
    git = ["git", "-C", str(tmp_path), "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run([*git, "add", "f.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    state = git_state(tmp_path / "f.txt")
    assert len(state["commit"]) == 40 and state["dirty"] is False
    (tmp_path / "f.txt").write_text("b")
    assert git_state(tmp_path)["dirty"] is True
