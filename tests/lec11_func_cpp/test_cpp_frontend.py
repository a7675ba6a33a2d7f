"""Lecture 11's C++ frontend program: built with g++ (cached) and with CMake, run, and read back in Python."""

from __future__ import annotations

import shutil

import pytest
import torch

from tutorials.core.cpp_build import (
    COMPILERS,
    CppBuildError,
    cmake_build,
    cmake_configure,
    cmake_support,
    run_program,
)
from tutorials.lec11_func_cpp import cpp_frontend
from tutorials.lec11_func_cpp.cpp_frontend import (
    MLP,
    accuracy,
    build,
    build_and_run,
    load_cpp_weights,
    parse_output,
    train_in_python,
    two_moons,
)

pytestmark = pytest.mark.skipif(not any(shutil.which(c) for c in COMPILERS), reason="no C++ compiler here")

STEPS = [0, 50, 100, 150, 200, 250, 300]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run of the g++-built program with --save (the binary is shared with the page via the cache)."""
    return build_and_run(save=tmp_path_factory.mktemp("lec11") / "mlp_weights.pt")


def test_the_program_trains_and_prints_its_format(run):
    assert list(run.losses) == STEPS
    assert run.losses[0] == pytest.approx(0.7008, abs=2e-3)  # about log 2: an untrained logit near 0
    assert run.losses[300] == pytest.approx(0.0487, abs=5e-3) and run.losses[300] < run.losses[0] / 10
    assert (run.correct, run.total, run.parameters) == (243, 256, 337)  # 2*16+16 + 16*16+16 + 16+1
    assert run.accuracy == pytest.approx(243 / 256, abs=1e-4)
    assert run.stdout.splitlines()[-3:-1] == ["test accuracy 0.9492 (243/256)", "parameters 337"]
    assert run.saved is not None and run.saved.is_file()


def test_second_build_is_cached(run):
    again = build()
    assert again.cached and again.binary == run.build.binary


def test_python_reads_the_cpp_weights_and_gets_the_same_accuracy(run):
    model, x_test, y_test = load_cpp_weights(run.saved)
    assert isinstance(model, MLP) and not model.training
    assert accuracy(model, x_test, y_test) == (run.correct, run.total)
    with torch.random.fork_rng(devices=[]):  # the same generator: Python draws the C++ program's data
        torch.manual_seed(0)
        two_moons(256, 0.2)
        x, y = two_moons(256, 0.2)
    assert torch.equal(x, x_test) and torch.equal(y, y_test)


def test_python_training_reproduces_the_cpp_losses(run):
    """The first 50 of the 300 steps; the page compares all 300 (a loss does not depend on later steps)."""
    state = torch.random.get_rng_state()
    losses = train_in_python(steps=50)
    assert torch.equal(state, torch.random.get_rng_state())  # the global generator is left alone
    assert list(losses) == [0, 50]
    for step in (0, 50):
        assert losses[step] == pytest.approx(run.losses[step], abs=2e-4), step


def test_bad_arguments_are_reported(run):
    with pytest.raises(CppBuildError, match="(?s)exited with 2.*unknown or incomplete argument '--stepz'"):
        run_program(run.build.binary, "--stepz", "3")
    with pytest.raises(ValueError, match="at least one step"):
        build_and_run(steps=0)


def test_parse_output_rejects_what_it_does_not_know():
    assert parse_output("step   10  loss 0.5000\ntest accuracy 1.0000 (4/4)\nparameters 9\n")["losses"] == {
        10: 0.5}
    with pytest.raises(ValueError, match="does not know: 'hello'"):
        parse_output("hello\ntest accuracy 1.0000 (4/4)\n")
    with pytest.raises(ValueError, match="no 'test accuracy' line"):
        parse_output("step    0  loss 0.7000\n")


def test_load_cpp_weights_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt does not exist"):
        load_cpp_weights(tmp_path / "missing.pt")
    torch.save({"fc1.weight": torch.zeros(1)}, tmp_path / "dict.pt")
    with pytest.raises(ValueError, match="expected \\(names, tensors\\)"):
        load_cpp_weights(tmp_path / "dict.pt")
    torch.save((("fc1.weight",), (torch.zeros(16, 2),)), tmp_path / "no_test.pt")
    with pytest.raises(ValueError, match="no \\['x_test', 'y_test'\\]"):
        load_cpp_weights(tmp_path / "no_test.pt")


needs_cmake = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not on the PATH")


@needs_cmake
def test_cmake_route_builds_the_same_program(run):
    """find_package(Torch) against the wheel, on this machine's route: the ONE CMake build of the suite.

    With a CUDA toolkit, the toolkit's route; without one (GitHub's runners, a CUDA wheel), the
    TORCH_WITHOUT_CUDA_TOOLKIT=ON workaround, built and run. Built once per torch/compiler/source
    version (content-keyed folder under .cache/cpp/cmake), then cached.
    """
    support = cmake_support()
    cmake_run = cpp_frontend.cmake_build_and_run()
    assert cmake_run.stdout == run.stdout.replace(f"saved 8 tensors to {run.saved}\n", "")
    route = cmake_run.build.command
    assert ("-DTORCH_WITHOUT_CUDA_TOOLKIT=ON" in route) == (not support.available), support.reason
    assert cmake_build(cpp_frontend.CPP_DIR, cpp_frontend.PROGRAM).cached  # keyed by content: no cmake runs


@needs_cmake
@pytest.mark.skipif(torch.version.cuda is None, reason="a CPU wheel has one route: CMAKE_PREFIX_PATH")
@pytest.mark.skipif(not cmake_support().available,
                    reason="no CUDA toolkit: the test above built and ran the workaround's route")
def test_the_workaround_route_configures_here_too(tmp_path):
    """The route of GitHub's runners (a CUDA wheel, no nvcc), configured (not built) where a toolkit exists.

    With TORCH_WITHOUT_CUDA_TOOLKIT=ON the project defines torch::cudart before find_package(Torch),
    so Caffe2's public/cuda.cmake returns at once and never looks for nvcc, whether one exists or
    not: the configure step here is the one a machine without a toolkit runs. The build after it
    is the one the test above already does (same sources, same libraries), so it is not repeated.
    """
    build_dir = tmp_path / "build"
    command = cmake_configure(cpp_frontend.CPP_DIR, build_dir, without_toolkit=True)
    assert "-DTORCH_WITHOUT_CUDA_TOOLKIT=ON" in command
    assert not any(arg.startswith("-DCUDA_TOOLKIT_ROOT_DIR") for arg in command)
    cache = (build_dir / "CMakeCache.txt").read_text()
    assert "Torch_DIR:PATH=" in cache and "TORCH_WITHOUT_CUDA_TOOLKIT:BOOL=ON" in cache
    assert "CMAKE_CUDA_COMPILER:" not in cache  # nvcc was never probed
