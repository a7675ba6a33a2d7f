"""TorchX from a program: launch a job on this machine, bounded; render cluster specs without a cluster.

* :func:`run_torchx` runs ``torchx run -s local_cwd ...`` in a subprocess with a
  timeout (when it expires, TorchX and every process below it are killed) and returns the job's
  final state and the lines its replicas printed.
* :func:`scheduler_request` asks a TorchX scheduler for the request it *would*
  submit (``submit_dryrun``): the ``sbatch`` script for Slurm, the Volcano job for
  Kubernetes. Nothing is submitted; the Kubernetes scheduler needs the
  ``kubernetes`` Python client installed to build its objects.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tutorials.core.distributed import kill_process_tree

if TYPE_CHECKING:  # TorchX is imported where a job is built
    from torchx.specs import AppDef

__all__ = ["TorchxRun", "run_torchx", "scheduler_request", "torchx_executable"]


@dataclasses.dataclass
class TorchxRun:
    """What a ``torchx run`` did: exit status, the job's final state, its replicas' lines."""

    returncode: int
    state: str
    job_lines: list[str]
    output: str


def torchx_executable() -> str:
    """The ``torchx`` command next to this interpreter (a venv need not be activated)."""
    candidate = Path(sys.executable).parent / "torchx"
    return str(candidate) if candidate.exists() else "torchx"


def run_torchx(
    component: Sequence[str],
    log_dir: str | os.PathLike[str],
    *,
    scheduler: str = "local_cwd",
    timeout: float = 120.0,
) -> TorchxRun:
    """Run ``torchx run -s <scheduler> -cfg log_dir=<log_dir> <component...>`` and wait for the job.

    Args:
        component: the component and its arguments,
            e.g. ``["utils.python", "-m", "pkg.mod", "--", "--x", "1"]``.
        log_dir: where the local scheduler keeps each replica's stdout, stderr and the job's final state.
        scheduler: a local scheduler (``local_cwd`` runs in this directory with this environment).
        timeout: seconds before TorchX and every process it started are killed.

    Returns:
        A :class:`TorchxRun`; ``state`` is TorchX's final state (``SUCCEEDED``, ``FAILED``, ...)
        or ``"TIMEOUT"``.
    """
    env = dict(os.environ)
    # the job's "python" must be this interpreter (with this course installed)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    command = [torchx_executable(), "run", "-s", scheduler, "-cfg", f"log_dir={log_dir}", *component]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as proc:
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # TorchX starts each replica in a session of its own: stop them by ancestry
            output, _ = kill_process_tree(proc)
            return TorchxRun(proc.returncode, "TIMEOUT", [], output)
    match = re.search(r"Job finished: (\w+)", output)
    # replicas' lines are prefixed with "<role>/<replica id> "
    job_lines = [m.group(1) for m in re.finditer(r"^\S+/\d+ (.*)$", output, re.MULTILINE)]
    return TorchxRun(proc.returncode, match.group(1) if match else "UNKNOWN", job_lines, output)


def scheduler_request(app: AppDef, scheduler: str, cfg: dict) -> str:
    """The request a TorchX scheduler would submit for ``app`` (an ``AppDef``), as text; nothing runs.

    Args:
        app: a ``torchx.specs.AppDef`` (e.g. from ``torchx.components.dist.ddp``).
        scheduler: ``"slurm"`` (an sbatch script) or ``"kubernetes"`` (a Volcano job as YAML).
        cfg: the scheduler's run options (Slurm ``partition``, ``time``; Kubernetes ``queue``, ``namespace``).

    Raises:
        ModuleNotFoundError: the scheduler needs a client library that is not installed
            (``kubernetes`` for Kubernetes).
        ValueError: another scheduler.
    """
    if scheduler == "slurm":
        from torchx.schedulers.slurm_scheduler import create_scheduler

        return create_scheduler("lec18").submit_dryrun(app, cfg).request.materialize()
    if scheduler == "kubernetes":
        import yaml
        from torchx.schedulers.kubernetes_scheduler import create_scheduler

        request = create_scheduler("lec18").submit_dryrun(app, cfg).request
        return yaml.safe_dump(request.resource, sort_keys=False)
    raise ValueError(f"scheduler must be 'slurm' or 'kubernetes', got {scheduler!r}")
