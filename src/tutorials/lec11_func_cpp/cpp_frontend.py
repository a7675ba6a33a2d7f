r"""The C++ frontend: build, run and read back ``cpp/mlp_train.cpp``, an MLP trained in libtorch.

``cpp/mlp_train.cpp`` defines a ``torch::nn::Module`` (a struct whose layers are
``register_module``-ed), generates two moons from ``torch::manual_seed(seed)``, trains
full-batch with ``torch::optim::Adam`` and prints, in this format::

    step    0  loss 0.7008
    ...
    step  300  loss 0.0487
    test accuracy 0.9492 (243/256)
    parameters 337
    saved 8 tensors to <path>          (only with --save PATH)

The program is built with g++ through :mod:`tutorials.core.cpp_build` (no CUDA toolkit
needed, cached: 20-60 s cold on a busy 2-core machine, milliseconds warm; a run takes
about a second) or, the way a real project does it, with ``cpp/CMakeLists.txt``
(``find_package(Torch)``; 40-70 s cold, cached the same way).

The printout above is stable: it was identical, digit for digit, under
``ATEN_CPU_CAPABILITY`` = default, avx2 and avx512 and with 1 or 2 OpenMP threads (the
program runs on one thread), and :func:`train_in_python` matches its losses to the
printed four digits. Build times and ``build.cached`` differ between a cold and a warm
run: a page prints them only as recorded output.

For the page (Lecture 11), the C++ snippet sections of ``cpp/mlp_train.cpp``, shown in
a ```` ```cpp ```` fence with
``--8<-- "src/tutorials/lec11_func_cpp/cpp/mlp_train.cpp:<name>"``:

* ``model``: the ``MLP`` struct (``torch::nn::Module``, ``register_module``, ``forward``);
* ``data``: ``two_moons(n, noise)`` from torch's generator;
* ``train``: seed, data, ``torch::optim::Adam``, the loop, ``NoGradGuard`` evaluation;
* ``save``: the weights written with ``torch::pickle_save`` for ``torch.load(weights_only=True)``.

``cpp/CMakeLists.txt`` is the CMake project (show it whole in a ```` ```cmake ```` fence).

The Python API:

* :func:`build_and_run` -> :class:`CppRun`: builds (cached) and runs the program, returns the
  parsed losses, accuracy, parameter count, the build (``.build.cached``, ``.build.seconds``)
  and the raw ``stdout``;
* :func:`load_cpp_weights`: the ``--save`` file into :class:`MLP`, the same model in Python,
  with the C++ run's test set; :func:`accuracy` of a model on it;
* :func:`train_in_python`: the same seed, data, initialisation and optimiser in Python,
  which reproduces the C++ losses (one library under both frontends);
* :func:`cmake_build_and_run`: the CMake route (``find_package(Torch)``), when
  :func:`tutorials.core.cpp_build.cmake_support` allows it;
* :func:`parse_output`: the program's printout -> a dict.

Examples:
    >>> from tutorials.lec11_func_cpp.cpp_frontend import parse_output
    >>> parse_output("step    0  loss 0.7000\ntest accuracy 0.5000 (1/2)\nparameters 3\n")["correct"]
    1
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from tutorials.core.cpp_build import CppBuild, build_program, cmake_build, run_program

__all__ = [
    "CMAKE_LISTS",
    "CPP_DIR",
    "MLP",
    "PROGRAM",
    "SOURCE",
    "CppRun",
    "accuracy",
    "build",
    "build_and_run",
    "cmake_build_and_run",
    "load_cpp_weights",
    "parse_output",
    "train_in_python",
    "two_moons",
]

#: The folder holding the C++ source and its CMake project.
CPP_DIR = Path(__file__).resolve().parent / "cpp"
#: The C++ program's source.
SOURCE = CPP_DIR / "mlp_train.cpp"
#: The CMake project that builds the same program.
CMAKE_LISTS = CPP_DIR / "CMakeLists.txt"
#: The program's (and the CMake target's) name.
PROGRAM = "mlp_train"

_STEP = re.compile(r"^step\s+(\d+)\s+loss\s+([0-9.]+(?:e-?\d+)?)$")
_ACCURACY = re.compile(r"^test accuracy ([0-9.]+) \((\d+)/(\d+)\)$")
_PARAMETERS = re.compile(r"^parameters (\d+)$")
_SAVED = re.compile(r"^saved (\d+) tensors to (.+)$")


@dataclass(frozen=True)
class CppRun:
    """What one run of ``mlp_train`` printed, parsed.

    Attributes:
        losses: Training loss by step (every 50 steps and the last).
        accuracy: Fraction of the 256 held-out points classified right.
        correct: How many held-out points were classified right.
        total: How many held-out points there are.
        parameters: Number of trainable parameters.
        saved: The ``--save`` file, or None.
        stdout: Everything the program printed.
        build: How the binary was obtained (``cached``, ``seconds``, ``binary``).
    """

    losses: dict[int, float]
    accuracy: float
    correct: int
    total: int
    parameters: int
    saved: Path | None
    stdout: str
    build: CppBuild | None = field(default=None, compare=False)


def parse_output(text: str) -> dict:
    """Read ``mlp_train``'s printout.

    Args:
        text: What the program printed.

    Returns:
        ``{"losses": {step: loss}, "accuracy", "correct", "total", "parameters", "saved"}``;
        ``saved`` is a path string or None.

    Raises:
        ValueError: A line is not in the program's format, or the accuracy line is missing
            (the message quotes the line or the output).
    """
    result: dict = {"losses": {}, "parameters": None, "saved": None}
    for line in text.strip().splitlines():
        line = line.strip()
        if m := _STEP.match(line):
            result["losses"][int(m.group(1))] = float(m.group(2))
        elif m := _ACCURACY.match(line):
            result.update(accuracy=float(m.group(1)), correct=int(m.group(2)), total=int(m.group(3)))
        elif m := _PARAMETERS.match(line):
            result["parameters"] = int(m.group(1))
        elif m := _SAVED.match(line):
            result["saved"] = m.group(2)
        elif line:
            raise ValueError(f"mlp_train printed a line this parser does not know: {line!r}")
    if "accuracy" not in result:
        raise ValueError(f"mlp_train printed no 'test accuracy' line; its output was:\n{text}")
    return result


def build(compiler: str | None = None) -> CppBuild:
    """Build ``mlp_train`` with g++ against the installed wheel, or take it from the cache.

    Args:
        compiler: The C++ compiler (``$CXX`` or g++ when None).

    Returns:
        The :class:`~tutorials.core.cpp_build.CppBuild` (``binary``, ``cached``, ``seconds``).
    """
    return build_program([SOURCE], PROGRAM, compiler=compiler)


def _run(binary: Path, steps: int, seed: int, save: str | os.PathLike[str] | None) -> tuple[str, dict]:
    if steps < 1:
        raise ValueError(f"steps={steps}: train for at least one step")
    args = ["--steps", str(steps), "--seed", str(seed)]
    if save is not None:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        args += ["--save", str(save)]
    stdout = run_program(binary, *args)
    return stdout, parse_output(stdout)


def build_and_run(
    steps: int = 300,
    seed: int = 0,
    save: str | os.PathLike[str] | None = None,
    compiler: str | None = None,
) -> CppRun:
    """Build (cached) and run the C++ training program, and parse what it printed.

    Args:
        steps: Adam steps (full batch of 256 points).
        seed: ``torch::manual_seed`` for data and initialisation.
        save: Write the trained weights and the test set here (``torch::pickle_save``).
        compiler: The C++ compiler (``$CXX`` or g++ when None).

    Returns:
        The parsed :class:`CppRun`, with the build's details in ``.build``.

    Raises:
        ValueError: ``steps`` < 1.
        tutorials.core.cpp_build.CppBuildError: The build or the program failed.
    """
    if steps < 1:
        raise ValueError(f"steps={steps}: train for at least one step")
    made = build(compiler)
    stdout, parsed = _run(made.binary, steps, seed, save)
    return CppRun(parsed["losses"], parsed["accuracy"], parsed["correct"], parsed["total"],
                  parsed["parameters"], Path(parsed["saved"]) if parsed["saved"] else None, stdout, made)


def cmake_build_and_run(
    steps: int = 300,
    seed: int = 0,
    build_dir: str | os.PathLike[str] | None = None,
) -> CppRun:
    """Build the same program with ``cpp/CMakeLists.txt`` (``find_package(Torch)``) and run it.

    Cached like the g++ route: by default the build folder is keyed by the project's files,
    the arguments and the versions (:func:`tutorials.core.cpp_build.cmake_build`), so a second
    call runs no cmake at all. On a CUDA wheel without a CUDA toolkit the project is
    configured with ``-DTORCH_WITHOUT_CUDA_TOOLKIT=ON``.

    Args:
        steps: Adam steps.
        seed: ``torch::manual_seed``.
        build_dir: A CMake build folder of your own (then ``cmake --build`` runs each time).

    Returns:
        The parsed :class:`CppRun`, with the CMake build's details in ``.build``.

    Raises:
        tutorials.core.cpp_build.CppBuildError: CMake is missing, or the configure, build or run failed.
    """
    made = cmake_build(CPP_DIR, PROGRAM, build_dir=build_dir)
    stdout, parsed = _run(made.binary, steps, seed, None)
    return CppRun(parsed["losses"], parsed["accuracy"], parsed["correct"], parsed["total"],
                  parsed["parameters"], None, stdout, made)


class MLP(nn.Module):
    """The C++ program's ``MLP`` in Python: 2 -> 16 -> 16 -> 1 with tanh, one logit per point.

    The parameter names (``fc1.weight`` ...) are the ones ``register_module`` gives in C++.

    Args:
        hidden: Width of the two hidden layers (16 in the C++ program).
    """

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One logit per point.

        Args:
            x: Points, shape ``(n, 2)``.

        Returns:
            Logits, shape ``(n, 1)``.
        """
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return self.fc3(x)


def two_moons(n: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The C++ ``two_moons`` in Python: the same calls on torch's generator, so the same numbers.

    Args:
        n: Number of points.
        noise: Standard deviation of the Gaussian noise.

    Returns:
        Points ``(n, 2)`` and float labels ``(n, 1)`` (0 = upper moon, 1 = lower moon).
    """
    t = torch.rand(n) * math.pi
    label = torch.randint(0, 2, (n,))
    upper = torch.stack([torch.cos(t), torch.sin(t)], 1)
    lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)
    x = torch.where(label.unsqueeze(1) == 0, upper, lower) + noise * torch.randn(n, 2)
    return x, label.float().unsqueeze(1)


def train_in_python(steps: int = 300, seed: int = 0) -> dict[int, float]:
    """The C++ program's training, step for step, in Python.

    Same seed, the same draws in the same order (train set, test set, then the layers'
    initialisation), the same Adam: the losses match the C++ run's to the printed digits.
    Runs on one thread, as the C++ program does, and restores the thread count and the
    global generator afterwards.

    Args:
        steps: Adam steps.
        seed: ``torch.manual_seed``.

    Returns:
        Training loss by step, every 50 steps and the last, as the C++ program prints them.
    """
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(1)
        try:
            torch.manual_seed(seed)
            x_train, y_train = two_moons(256, 0.2)
            two_moons(256, 0.2)  # the test set: drawn to keep the generator in step
            model = MLP()
            optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
            losses = {}
            for step in range(steps + 1):
                optimizer.zero_grad()
                loss = nn.functional.binary_cross_entropy_with_logits(model(x_train), y_train)
                if step % 50 == 0 or step == steps:
                    losses[step] = loss.item()
                if step == steps:
                    break
                loss.backward()
                optimizer.step()
        finally:
            torch.set_num_threads(threads)
    return losses


def load_cpp_weights(path: str | os.PathLike[str]) -> tuple[MLP, torch.Tensor, torch.Tensor]:
    """Read the file ``mlp_train --save PATH`` wrote into the Python :class:`MLP`.

    Args:
        path: The ``--save`` file (``torch::pickle_save`` of ``(names, tensors)``).

    Returns:
        The model with the C++-trained weights (in eval mode), the test points and labels.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: The file is not what ``mlp_train`` saves (the message names what is missing).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run build_and_run(save=...) first")
    loaded = torch.load(path, weights_only=True)
    if not (isinstance(loaded, tuple) and len(loaded) == 2 and len(loaded[0]) == len(loaded[1])):
        raise ValueError(f"{path}: expected (names, tensors) as mlp_train --save writes, got {type(loaded)}")
    tensors = dict(zip(loaded[0], loaded[1], strict=True))
    missing = {"x_test", "y_test"} - tensors.keys()
    if missing:
        raise ValueError(f"{path}: no {sorted(missing)} in the file")
    x_test, y_test = tensors.pop("x_test"), tensors.pop("y_test")
    model = MLP(hidden=tensors["fc1.weight"].shape[0]) if "fc1.weight" in tensors else MLP()
    model.load_state_dict(tensors)  # strict: every name and shape must match
    return model.eval(), x_test, y_test


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
    """How many points a model classifies right (logit > 0 means label 1).

    Args:
        model: Returns one logit per point.
        x: Points ``(n, 2)``.
        y: Labels ``(n, 1)``, 0. or 1.

    Returns:
        ``(correct, total)``.
    """
    predicted = (model(x) > 0).float()
    return int((predicted == y).sum()), int(y.shape[0])
