"""tutorials.core.cpp_build: a libtorch program built with g++ (once, then cached), and its errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from tutorials.core import cpp_build
from tutorials.core.cpp_build import (
    CompilerNotFoundError,
    CppBuildError,
    build_program,
    cache_dir,
    cmake_support,
    find_compiler,
    run_program,
    torch_compile_flags,
    torch_link_flags,
)

# ATen's per-operator headers instead of <torch/torch.h>: the same libraries, a third of the compile time.
TINY_TORCH = textwrap.dedent("""\
    #include <ATen/core/Tensor.h>
    #include <ATen/ops/ones.h>
    #include <iostream>
    int main() {
      at::Tensor x = at::ones({2, 3});
      std::cout << "sum=" << x.sum().item<float>() << " threads-ok\\n";
      return 0;
    }
    """)

needs_compiler = pytest.mark.skipif(
    not any(__import__("shutil").which(c) for c in cpp_build.COMPILERS), reason="no C++ compiler here")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny libtorch program, built once per suite (the cache key ignores the source's folder)."""
    src = tmp_path_factory.mktemp("tiny") / "tiny_torch.cpp"
    src.write_text(TINY_TORCH)
    return src, build_program([src], "tiny_torch")


def test_flags_are_the_wheels():
    from torch.utils import cpp_extension

    flags = torch_compile_flags()
    assert "-std=c++20" in flags
    assert f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}" in flags
    assert [f"-I{p}" for p in cpp_extension.include_paths()] == [f for f in flags if f.startswith("-I")]
    link = torch_link_flags()
    assert f"-L{cpp_extension.library_paths()[0]}" in link
    assert f"-Wl,-rpath,{cpp_extension.library_paths()[0]}" in link
    assert {"-ltorch", "-ltorch_cpu", "-lc10"} <= set(link)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TUTORIALS_CPP_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("TUTORIALS_CPP_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "pytorch-course" / "cpp"


@needs_compiler
def test_tiny_program_runs_without_ld_library_path(tiny):
    _, build = tiny
    assert build.binary.is_file() and build.binary.name == "tiny_torch"
    assert (build.binary.parent / "build.json").is_file() or build.cached
    assert run_program(build.binary) == "sum=6 threads-ok\n"
    if sys.platform.startswith("linux"):
        dynamic = subprocess.run(["readelf", "-d", str(build.binary)], capture_output=True, text=True).stdout
        assert str(cpp_build.torch_library_path()) in dynamic  # RUNPATH: no LD_LIBRARY_PATH needed


@needs_compiler
def test_second_build_is_a_cache_hit(tiny):
    src, first = tiny
    start = time.perf_counter()
    again = build_program([src], "tiny_torch")
    assert again.cached and again.binary == first.binary and again.key == first.key
    assert time.perf_counter() - start < 2.0  # no compiler run (a cold build takes 15-90 s)


@needs_compiler
def test_key_changes_with_source_and_flags_plain_cpp(tmp_path):
    src = tmp_path / "exit3.cpp"
    src.write_text("int main() { return 3; }\n")
    cold = build_program([src], "exit3", link_torch=False, cache=tmp_path / "cache")
    warm = build_program([src], "exit3", link_torch=False, cache=tmp_path / "cache")
    assert not cold.cached and warm.cached and warm.key == cold.key
    flagged = build_program([src], "exit3", link_torch=False, cache=tmp_path / "cache", extra_flags=["-DX=1"])
    assert not flagged.cached and flagged.key != cold.key
    src.write_text("int main() { return 4; }\n")
    assert build_program([src], "exit3", link_torch=False, cache=tmp_path / "cache").key != cold.key
    with pytest.raises(CppBuildError, match="exited with 3"):
        run_program(cold.binary)


@needs_compiler
def test_compile_error_names_the_source_and_shows_the_compiler_output(tmp_path):
    src = tmp_path / "broken.cpp"
    src.write_text("int main() { return undefined_name; }\n")
    with pytest.raises(CppBuildError) as err:
        build_program([src], "broken", link_torch=False, cache=tmp_path / "cache")
    message = str(err.value)
    assert str(src) in message and "undefined_name" in message and "failed to build 'broken'" in message
    assert "its first error:\n" + str(src) + ":1" in message  # file:line of the first error, then the tail
    assert not list((tmp_path / "cache").glob("broken-*/broken"))  # nothing half-built is cached


def test_missing_compiler_says_how_to_install(monkeypatch):
    with pytest.raises(CompilerNotFoundError, match=r"no-such-c\+\+.*apt-get install g\+\+"):
        find_compiler("no-such-c++")
    monkeypatch.setenv("CXX", "also-missing-c++")
    with pytest.raises(CompilerNotFoundError, match="also-missing-c"):
        find_compiler()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="plain file name"):
        build_program([tmp_path / "a.cpp"], "../escape")
    with pytest.raises(FileNotFoundError, match="missing.cpp"):
        build_program([tmp_path / "missing.cpp"], "missing")
    with pytest.raises(ValueError, match="no sources"):
        build_program([], "empty")


def test_cmake_support_without_a_toolkit(monkeypatch):
    monkeypatch.setattr(cpp_build, "_cuda_toolkit", lambda: None)
    monkeypatch.setattr(cpp_build.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    support = cmake_support()
    assert not support.available
    assert "CUDA toolkit" in support.reason and "Caffe2Config.cmake" in support.reason
    assert support.without_toolkit_args[1] == "-DTORCH_WITHOUT_CUDA_TOOLKIT=ON"
    monkeypatch.setattr(torch.version, "cuda", None)
    support = cmake_support()
    assert support.available and support.configure_args == [
        f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}"]
    monkeypatch.setattr(cpp_build.shutil, "which", lambda name: None)
    assert "cmake is not on the PATH" in cmake_support().reason


def test_cmake_support_here_is_consistent(tmp_path):
    support = cmake_support()
    if support.available:
        assert support.configure_args[0].startswith("-DCMAKE_PREFIX_PATH=")
        assert os.path.isdir(support.configure_args[0].split("=", 1)[1])
    else:
        assert support.reason
        (tmp_path / "CMakeLists.txt").write_text("project(plain CXX)\nfind_package(Torch REQUIRED)\n")
        with pytest.raises(CppBuildError, match="does not work here"):
            cpp_build.cmake_build(tmp_path, "nothing")


def test_cmake_build_without_a_toolkit_needs_the_projects_option(monkeypatch, tmp_path):
    monkeypatch.setattr(cpp_build, "_cuda_toolkit", lambda: None)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(cpp_build.shutil, "which", lambda name: "/usr/bin/" + name)
    with pytest.raises(CppBuildError, match="CMakeLists.txt does not exist"):
        cpp_build.cmake_build(tmp_path, "nothing")
    (tmp_path / "CMakeLists.txt").write_text("project(plain CXX)\nfind_package(Torch REQUIRED)\n")
    reason = "does not work here: .*without a CUDA toolkit.*TORCH_WITHOUT_CUDA_TOOLKIT=ON"
    with pytest.raises(CppBuildError, match=reason):
        cpp_build.cmake_build(tmp_path, "nothing")


def test_forced_routes_say_why_they_cannot_be_taken(monkeypatch, tmp_path):
    lists = tmp_path / "CMakeLists.txt"
    lists.write_text("project(p CXX)\noption(TORCH_WITHOUT_CUDA_TOOLKIT \"\" OFF)\nfind_package(Torch)\n")
    monkeypatch.setattr(cpp_build.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(cpp_build, "_cuda_toolkit", lambda: None)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    # no toolkit: the workaround
    assert cpp_build._route_args(lists, None)[-1] == "-DTORCH_WITHOUT_CUDA_TOOLKIT=ON"
    with pytest.raises(CppBuildError, match="does not work here: .*without a CUDA toolkit"):
        cpp_build._route_args(lists, False)
    monkeypatch.setattr(cpp_build, "_cuda_toolkit", lambda: tmp_path)
    assert cpp_build._route_args(lists, None)[1] == f"-DCUDA_TOOLKIT_ROOT_DIR={tmp_path}"
    # forced, toolkit or not
    assert cpp_build._route_args(lists, True)[-1] == "-DTORCH_WITHOUT_CUDA_TOOLKIT=ON"
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "CMakeLists.txt").write_text("project(plain CXX)\nfind_package(Torch REQUIRED)\n")
    with pytest.raises(CppBuildError, match="offers no TORCH_WITHOUT_CUDA_TOOLKIT option"):
        cpp_build.cmake_configure(plain, tmp_path / "b", without_toolkit=True)
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(CppBuildError, match="needs cmake and a CUDA wheel: .*CPU wheel"):
        cpp_build._route_args(lists, True)


def test_project_files_skip_build_folders(tmp_path):
    (tmp_path / "CMakeLists.txt").write_text("project(p CXX)\n")
    (tmp_path / "main.cpp").write_text("int main() {}\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "CMakeCache.txt").write_text("")
    (tmp_path / "build" / "generated.cpp").write_text("")
    (tmp_path / "notes.md").write_text("")
    assert [p.name for p in cpp_build._project_files(tmp_path)] == ["CMakeLists.txt", "main.cpp"]


@needs_compiler
def test_concurrent_builds_of_one_key_compile_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    src = tmp_path / "same.cpp"
    src.write_text("int main() { return 0; }\n")
    with ThreadPoolExecutor(2) as pool:
        builds = list(pool.map(lambda _: build_program([src], "same", link_torch=False,
                                                       cache=tmp_path / "c"), range(2)))
    assert sorted(b.cached for b in builds) == [False, True]


def test_pinned_ninja_puts_the_packages_ninja_first_and_restores_the_path(monkeypatch):
    ninja = pytest.importorskip("ninja")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with cpp_build.pinned_ninja():
        assert os.environ["PATH"].split(os.pathsep)[0] == ninja.BIN_DIR
        assert shutil.which("ninja").startswith(ninja.BIN_DIR)
    assert os.environ["PATH"] == "/usr/bin:/bin"
    with pytest.raises(RuntimeError), cpp_build.pinned_ninja():  # restored after an error too
        raise RuntimeError("build failed")
    assert os.environ["PATH"] == "/usr/bin:/bin"
