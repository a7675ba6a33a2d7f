"""Record the environment a run ran in, as JSON, so it can be compared and reproduced.

A result without its environment cannot be reproduced: the same script gives other
numbers with another torch, another CUDA or cuDNN, another thread count, another
``NCCL_*`` setting or uncommitted changes to the code. :func:`capture_environment`
gathers what most often differs between two runs, cheaply (no subprocess but one
``git`` call), and :func:`write_environment` saves it next to the run's results.

``python -m torch.utils.collect_env`` prints a longer report (compilers, driver, CPU
flags, every installed package of interest) that bug reports to PyTorch ask for; it
takes a second or more, because it runs ``pip``, ``nvidia-smi`` and others.

Examples:
    >>> info = capture_environment(env={"OMP_NUM_THREADS": "1", "HOME": "/root"})
    >>> info["env"]
    {'OMP_NUM_THREADS': '1'}
"""

from __future__ import annotations

import fnmatch
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["ENV_PATTERNS", "PACKAGES", "capture_environment", "git_state", "write_environment"]

#: Environment variables worth recording (shell patterns): threads, devices, launchers, libraries.
ENV_PATTERNS = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "CUDA_LAUNCH_BLOCKING",
    "NCCL_*", "TORCH_*", "PYTORCH_*", "ATEN_CPU_CAPABILITY", "MASTER_ADDR", "MASTER_PORT",
    "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "SLURM_JOB_ID", "SLURM_NODELIST",
    "SLURM_PROCID", "SLURM_LOCALID", "SINGULARITY_NAME", "APPTAINER_NAME",
)

#: Packages whose versions are recorded when installed.
PACKAGES = ("torch", "torchvision", "numpy", "triton", "nvidia-nccl-cu13", "nvidia-cudnn-cu13")


def git_state(path: str | Path) -> dict[str, Any] | None:
    """The commit of the git work tree holding ``path``, and whether it has uncommitted changes.

    Args:
        path: a file or folder inside the work tree.

    Returns:
        ``{"commit": sha, "dirty": bool}``, or ``None`` outside a work tree or without ``git``.
    """
    folder = Path(path)
    folder = folder if folder.is_dir() else folder.parent
    try:
        commit = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10)
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if commit.returncode != 0 or status.returncode != 0:
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _versions(names: Iterable[str]) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def capture_environment(*, code: str | Path | None = None, env: Mapping[str, str] | None = None,
                        patterns: Iterable[str] = ENV_PATTERNS,
                        packages: Iterable[str] = PACKAGES) -> dict[str, Any]:
    """What a run needs to be compared with another: versions, devices, threads, variables, commit.

    Args:
        code: a file or folder of the code that ran, for its git commit (``None``: not recorded).
        env: the environment variables to filter (default: ``os.environ``).
        patterns: which variables to keep (shell patterns, :data:`ENV_PATTERNS`).
        packages: which installed packages to record (:data:`PACKAGES`).

    Returns:
        A JSON-serialisable dict: ``python``, ``platform``, ``torch`` (version, git
        version, CUDA, cuDNN, NCCL, CPU capability, threads), ``devices``, ``packages``,
        ``env``, ``cpu_affinity``, ``git`` and ``argv``.
    """
    import torch

    env = os.environ if env is None else env
    patterns = tuple(patterns)
    cuda = torch.cuda.is_available()
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": {
            "version": torch.__version__,
            "git_version": torch.version.git_version,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "nccl": ".".join(map(str, torch.cuda.nccl.version())) if cuda else None,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "num_threads": torch.get_num_threads(),
        },
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "packages": _versions(packages),
        "env": {k: env[k] for k in sorted(env) if any(fnmatch.fnmatchcase(k, p) for p in patterns)},
        "cpu_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "git": git_state(code) if code is not None else None,
        "argv": list(sys.argv),
    }
    return info


def write_environment(path: str | Path, **kwargs: Any) -> Path:
    """Capture the environment (:func:`capture_environment`) and write it as indented JSON.

    Args:
        path: the JSON file to write (its folder is created).
        **kwargs: passed to :func:`capture_environment`.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(capture_environment(**kwargs), indent=2) + "\n", encoding="utf-8")
    return path
