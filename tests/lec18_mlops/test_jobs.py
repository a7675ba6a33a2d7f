"""TorchX: a real local job, a timeout that kills the job, and the scheduler requests."""

import sys

import pytest

from tutorials.lec18_mlops.jobs import run_torchx, scheduler_request


def test_local_job_succeeds_and_reports_its_lines(tmp_path):
    job = run_torchx(
        ["utils.python", "-c", "print('hello from the job')"], log_dir=tmp_path / "logs", timeout=120
    )
    assert job.state == "SUCCEEDED" and job.returncode == 0, job.output
    assert job.job_lines == ["hello from the job"]
    assert any((tmp_path / "logs").rglob("stdout.log"))


def test_failing_job(tmp_path):
    job = run_torchx(["utils.python", "-c", "raise SystemExit(3)"], log_dir=tmp_path, timeout=120)
    assert job.state == "FAILED", job.output


def test_timeout_kills_the_job(tmp_path):
    job = run_torchx(["utils.python", "-c", "import time; time.sleep(60)"], log_dir=tmp_path, timeout=5)
    assert job.state == "TIMEOUT" and job.returncode != 0


def test_scheduler_requests():
    from torchx.components.dist import ddp

    app = ddp(script="train.py", j="2x4", gpu=4, name="x")
    script = scheduler_request(app, "slurm", {"partition": "gpu"})
    assert script.count("#SBATCH --job-name=train-") == 2 and "--nnodes 2 --nproc_per_node 4" in script
    if "kubernetes" not in sys.modules:
        try:
            import kubernetes  # noqa: F401
        except ModuleNotFoundError:
            with pytest.raises(ModuleNotFoundError, match="kubernetes"):
                scheduler_request(app, "kubernetes", {"queue": "default"})
    with pytest.raises(ValueError, match="slurm"):
        scheduler_request(app, "aws_batch", {})
