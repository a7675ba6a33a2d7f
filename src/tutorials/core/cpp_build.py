"""Build a small C++ program against the installed torch wheel, cached, with or without CMake.

Introduced in Lecture 8; also used by Lectures 9, 11, 27.

Two routes lead to a libtorch program:

* **g++ directly** (:func:`build_program`), the route the course runs everywhere. It
  needs only a C++ compiler: the headers and libraries come from the wheel
  (``torch/include``, ``torch/lib``, the same folders as
  ``torch.utils.cpp_extension.include_paths()`` and ``library_paths()``), the code is
  compiled as C++20 (today's headers reject C++17) with the wheel's
  ``-D_GLIBCXX_USE_CXX11_ABI`` value, linked with ``-ltorch -ltorch_cpu -lc10`` and an
  rpath to ``torch/lib``, so the binary runs with no ``LD_LIBRARY_PATH``. The binary is
  cached under :func:`cache_dir` by a hash of the sources, the flags, the torch version
  and the compiler's version: the second call with the same inputs does not compile.
* **CMake** (:func:`cmake_support`, :func:`cmake_build`), the route a real project
  uses: ``find_package(Torch)`` with ``CMAKE_PREFIX_PATH=torch.utils.cmake_prefix_path``.
  With a CUDA wheel (the default ``pip install torch`` on Linux) the package's
  ``Caffe2Config.cmake`` looks for a CUDA toolkit (``nvcc``) even for a CPU-only
  program and stops without one (GitHub's runners have none); :func:`cmake_support`
  says whether this machine can take that route, and why not. A project can still
  configure there if it defines an empty ``torch::cudart`` target before
  ``find_package(Torch)`` (Caffe2's ``public/cuda.cmake`` then returns at its include
  guard). That is a workaround, not a switch PyTorch documents: it relies on the first
  lines of ``public/cuda.cmake`` (``if(TARGET torch::cudart) return()``, marked "Poor man's
  include guard"), checked against torch 2.14's files. The course's ``CMakeLists.txt``
  offers it as the ``TORCH_WITHOUT_CUDA_TOOLKIT`` option, and :func:`cmake_build` turns it
  on where needed; :func:`cmake_configure` runs only the configure step (``find_package``),
  in about a second on the workaround's route, to check a route without building.

This module does not import ``torch.utils.cpp_extension``: that import logs
``No CUDA runtime is found`` on a CPU machine with a CUDA toolkit, and a page's
output must not carry it.

Examples:
    >>> from tutorials.core.cpp_build import torch_compile_flags
    >>> "-std=c++20" in torch_compile_flags()
    True
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

__all__ = [
    "CMakeSupport",
    "WITHOUT_TOOLKIT_OPTION",
    "CppBuild",
    "CppBuildError",
    "CompilerNotFoundError",
    "build_program",
    "cache_dir",
    "cmake_build",
    "cmake_configure",
    "cmake_support",
    "find_compiler",
    "pinned_ninja",
    "run_program",
    "torch_compile_flags",
    "torch_include_paths",
    "torch_library_path",
    "torch_link_flags",
]

#: The environment variable that overrides where built programs are cached.
CACHE_ENV = "TUTORIALS_CPP_CACHE"
#: The compilers tried, in order, after ``$CXX``.
COMPILERS = ("g++", "c++", "clang++")
#: The CMake option a course project offers to configure against a CUDA wheel without a CUDA toolkit.
WITHOUT_TOOLKIT_OPTION = "TORCH_WITHOUT_CUDA_TOOLKIT"
#: How many lines of a failed compiler's output an error shows.
TAIL_LINES = 40


class CppBuildError(RuntimeError):
    """A C++ build (or a built program) failed; the message holds the command's output tail."""


class CompilerNotFoundError(CppBuildError):
    """No C++ compiler was found on this machine."""


@dataclass(frozen=True)
class CppBuild:
    """A built (or cached) program.

    Attributes:
        binary: Path of the executable.
        cached: True when the binary came from the cache (nothing was compiled).
        seconds: Wall time of this call (compiling, or only finding the cached binary).
        key: The cache key: a hash of sources, flags, torch version and compiler version.
        command: The compiler command that built (or would build) the binary.
    """

    binary: Path
    cached: bool
    seconds: float
    key: str
    command: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CMakeSupport:
    """Whether ``find_package(Torch)`` can work on this machine.

    Attributes:
        available: True when ``find_package(Torch)`` configures a project here as it is.
        reason: Why not (or what was found), in one sentence a reader can act on.
        configure_args: ``-D`` arguments that make the configure step work here.
        without_toolkit_args: With a CUDA wheel: the arguments for a project that offers
            the ``TORCH_WITHOUT_CUDA_TOOLKIT`` option (Lecture 11's ``CMakeLists.txt`` does:
            an empty ``torch::cudart`` target defined before ``find_package(Torch)`` skips
            the toolkit search), the route to take where no CUDA toolkit is found. Empty
            with a CPU wheel or without cmake.
    """

    available: bool
    reason: str
    configure_args: list[str] = field(default_factory=list)
    without_toolkit_args: list[str] = field(default_factory=list)


def _torch_root() -> Path:
    return Path(torch.__file__).resolve().parent


def torch_include_paths() -> list[Path]:
    """The wheel's header folders (what ``cpp_extension.include_paths()`` returns for a CPU build).

    Returns:
        ``torch/include`` and ``torch/include/torch/csrc/api/include`` (the C++ frontend).
    """
    root = _torch_root() / "include"
    return [root, root / "torch" / "csrc" / "api" / "include"]


def torch_library_path() -> Path:
    """The wheel's library folder, ``torch/lib`` (``libtorch.so``, ``libtorch_cpu.so``, ``libc10.so``).

    Returns:
        The folder the linker searches and the binary's rpath points to.
    """
    return _torch_root() / "lib"


def torch_compile_flags() -> list[str]:
    """Compiler flags for code that includes ``<torch/torch.h>``.

    Returns:
        ``-std=c++20``, the wheel's ``_GLIBCXX_USE_CXX11_ABI`` value and the ``-I`` folders.
    """
    abi = int(bool(torch._C._GLIBCXX_USE_CXX11_ABI))
    return ["-std=c++20", f"-D_GLIBCXX_USE_CXX11_ABI={abi}"] + [f"-I{p}" for p in torch_include_paths()]


def torch_link_flags(cuda: bool = False) -> list[str]:
    """Linker flags for a program that uses libtorch, with an rpath to the wheel's ``torch/lib``.

    ``libtorch_cpu`` is linked ``--no-as-needed`` (its operators register themselves when it
    loads, even when the program names no symbol from it), as ``TorchConfig.cmake`` does.

    Args:
        cuda: Also load ``libtorch_cuda`` (needed to run CUDA kernels, e.g. an AOTInductor
            package compiled for a GPU); only when the wheel has it. Loading it costs
            time, so CPU programs leave it out.

    Returns:
        The flags, to put after the sources on the command line.

    Raises:
        CppBuildError: ``cuda=True`` with a wheel that has no ``libtorch_cuda``.
    """
    lib = torch_library_path()
    flags = [f"-L{lib}", f"-Wl,-rpath,{lib}"]
    linux = sys.platform.startswith("linux")
    if linux:
        flags.append("-Wl,--no-as-needed")
    flags += ["-ltorch", "-ltorch_cpu", "-lc10"]
    if cuda:
        if not any(lib.glob("libtorch_cuda.*")):
            raise CppBuildError(
                f"cuda=True, but this torch {torch.__version__} has no libtorch_cuda in {lib} "
                "(a CPU-only wheel): build with cuda=False")
        flags += ["-ltorch_cuda", "-lc10_cuda"]
    if linux:
        flags.append("-Wl,--as-needed")
    return flags + ["-pthread"]


def cache_dir() -> Path:
    """Where built programs are cached.

    Returns:
        ``$TUTORIALS_CPP_CACHE`` when set (the test suite sets ``.cache/cpp``), else
        ``$XDG_CACHE_HOME/pytorch-course/cpp`` (``~/.cache/pytorch-course/cpp``).
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytorch-course" / "cpp"


def find_compiler(compiler: str | None = None) -> str:
    """The C++ compiler to use: ``compiler``, else ``$CXX``, else the first of g++, c++, clang++.

    Args:
        compiler: A name on the ``PATH`` or a path; None to search.

    Returns:
        The compiler's absolute path.

    Raises:
        CompilerNotFoundError: Nothing found; the message names what was tried and how to install one.
    """
    wanted = [compiler] if compiler else ([os.environ["CXX"]] if os.environ.get("CXX") else list(COMPILERS))
    for name in wanted:
        found = shutil.which(name)
        if found:
            return found
    raise CompilerNotFoundError(
        f"No C++ compiler found: looked for {', '.join(wanted)} on the PATH. Install one "
        "(Debian/Ubuntu: `sudo apt-get install g++`; Fedora: `sudo dnf install gcc-c++`; "
        "macOS: `xcode-select --install`) or point $CXX at a compiler.")


def _compiler_version(compiler: str) -> str:
    try:
        done = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60)
    except OSError as exc:  # pragma: no cover - found by which(), but not runnable
        raise CompilerNotFoundError(f"The C++ compiler {compiler} could not be run: {exc}") from exc
    return done.stdout.strip()


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold ``folder/.lock`` (where ``fcntl`` exists): two processes never build one key at once."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    kept = text.strip().splitlines()[-lines:]
    return "\n".join(kept)


def build_program(
    sources: Sequence[str | os.PathLike[str]],
    name: str,
    *,
    extra_flags: Sequence[str] = (),
    depends: Sequence[str | os.PathLike[str]] = (),
    link_torch: bool = True,
    cuda: bool = False,
    optimize: str = "-O2",
    compiler: str | None = None,
    cache: str | os.PathLike[str] | None = None,
) -> CppBuild:
    """Compile and link ``sources`` into one program, or return the cached binary.

    Args:
        sources: The ``.cpp`` files.
        name: The program's name (a file name: letters, digits, ``_``, ``-``, ``.``).
        extra_flags: More compiler flags (``-D...``, ``-I...``), part of the cache key.
        depends: Headers (or other files) the sources include: their contents join the key.
        link_torch: Compile and link against the torch wheel; False for plain C++.
        cuda: Also link ``libtorch_cuda`` (see :func:`torch_link_flags`).
        optimize: The optimisation flag.
        compiler: The compiler to use (see :func:`find_compiler`).
        cache: The cache folder; :func:`cache_dir` when None.

    Returns:
        The :class:`CppBuild`: the binary's path, whether it was cached, how long this took.

    Raises:
        FileNotFoundError: A source or a dependency does not exist.
        ValueError: ``name`` is not a plain file name, or ``sources`` is empty.
        CompilerNotFoundError: No C++ compiler.
        CppBuildError: The compiler failed; the message names the sources and shows its output's tail.
    """
    start = time.perf_counter()
    if not name or any(not (c.isalnum() or c in "_-.") for c in name) or name.startswith("."):
        raise ValueError(f"name={name!r}: use a plain file name (letters, digits, _, -, .)")
    paths = [Path(s).resolve() for s in sources]
    deps = [Path(d).resolve() for d in depends]
    if not paths:
        raise ValueError(f"build_program({name!r}): no sources given")
    for p in paths + deps:
        if not p.is_file():
            raise FileNotFoundError(f"C++ source {p} does not exist (building {name!r})")
    if sys.platform == "win32":  # pragma: no cover - the course's C++ builds are for Linux and macOS
        raise CppBuildError("build_program calls g++/clang++ and does not support MSVC; on Windows use "
                            "the CMake route (find_package(Torch)) from a Developer Command Prompt")
    cxx = find_compiler(compiler)
    compile_flags = [optimize] + (torch_compile_flags() if link_torch else ["-std=c++20"]) + list(extra_flags)
    link_flags = torch_link_flags(cuda=cuda) if link_torch else []

    digest = hashlib.sha256()
    for part in (cxx, _compiler_version(cxx), torch.__version__ if link_torch else "",
                 str(torch_library_path()) if link_torch else "", *compile_flags, "|", *link_flags):
        digest.update(part.encode() + b"\0")
    for p in paths + deps:
        digest.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    key = digest.hexdigest()[:16]

    folder = Path(cache) if cache is not None else cache_dir()
    folder = folder.expanduser() / f"{name}-{key}"
    binary = folder / name
    command = [cxx, *compile_flags, *map(str, paths), "-o", str(binary), *link_flags]
    if binary.is_file() and os.access(binary, os.X_OK):
        return CppBuild(binary, True, time.perf_counter() - start, key, command)

    with _locked(folder):
        if binary.is_file() and os.access(binary, os.X_OK):  # another process built it meanwhile
            return CppBuild(binary, True, time.perf_counter() - start, key, command)
        return _compile(cxx, name, paths, command, link_flags, binary, key, start)


def _compile(cxx: str, name: str, paths: list[Path], command: list[str], link_flags: list[str],
             binary: Path, key: str, start: float) -> CppBuild:
    folder = binary.parent
    partial = folder / f".{name}.{os.getpid()}.partial"
    command_tmp = [*command[:command.index("-o") + 1], str(partial), *link_flags]
    done = subprocess.run(command_tmp, capture_output=True, text=True)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        where = ", ".join(str(p) for p in paths)
        output = done.stderr + done.stdout
        first = next((line for line in output.splitlines() if " error: " in line), "")
        raise CppBuildError(
            f"{Path(cxx).name} failed to build {name!r} from {where} (exit {done.returncode}); "
            f"its first error:\n{first}\nthe last lines of its output:\n{_tail(output)}")
    os.replace(partial, binary)  # atomic: a concurrent build never sees half a binary
    seconds = time.perf_counter() - start
    (folder / "build.json").write_text(json.dumps(
        {"name": name, "key": key, "command": command, "seconds": round(seconds, 2),
         "torch": torch.__version__, "compiler": _compiler_version(cxx).splitlines()[0]}, indent=1))
    return CppBuild(binary, False, seconds, key, command)


def run_program(binary: str | os.PathLike[str], *args: str, timeout: float = 300) -> str:
    """Run a built program and return what it printed.

    The program runs with ``LD_LIBRARY_PATH`` unset, as a reader's shell would: the
    rpath alone must find libtorch.

    Args:
        binary: The executable (``CppBuild.binary``).
        *args: Its command-line arguments.
        timeout: Seconds before it is stopped.

    Returns:
        Its standard output.

    Raises:
        CppBuildError: It exited non-zero; the message shows the tail of its standard error.
    """
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    done = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise CppBuildError(
            f"{binary} {' '.join(args)} exited with {done.returncode}; the last lines of its output:\n"
            f"{_tail(done.stderr + done.stdout)}")
    return done.stdout


def _cuda_toolkit() -> Path | None:
    """The root of a CUDA toolkit (a folder with ``bin/nvcc`` and ``include/cuda_runtime.h``), or None."""
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(str(Path(nvcc).resolve().parent.parent))
    for c in candidates:
        if c and (Path(c) / "bin" / "nvcc").is_file() and (Path(c) / "include" / "cuda_runtime.h").is_file():
            return Path(c)
    return None


def _wheel_nvrtc() -> Path | None:
    """The NVRTC library the CUDA wheel ships (``site-packages/nvidia/.../libnvrtc.so.N``), or None."""
    site = _torch_root().parent
    found = sorted(glob.glob(str(site / "nvidia" / "*" / "lib" / "libnvrtc.so.*")))
    found = [f for f in found if "builtins" not in f and "alt" not in Path(f).name]
    return Path(found[0]) if found else None


def cmake_support() -> CMakeSupport:
    """Whether ``find_package(Torch)`` can configure a project on this machine, and the arguments it needs.

    A CPU-only wheel needs only ``CMAKE_PREFIX_PATH``. A CUDA wheel's ``Caffe2Config.cmake``
    also runs ``find_package(CUDA)`` and fails without a CUDA toolkit. Where one is found,
    the arguments name it (``-DCUDA_TOOLKIT_ROOT_DIR``: needed when the ``nvcc`` on the
    PATH is not in the toolkit's ``bin/``) and the wheel's NVRTC (``-DCUDA_nvrtc_LIBRARY``:
    needed when the toolkit has none, as a partial toolkit may not); passing them where
    CMake would find both itself does no harm.

    Returns:
        The :class:`CMakeSupport`: available or not, why, and the ``-D`` arguments.
    """
    prefix = f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}"
    if shutil.which("cmake") is None:
        return CMakeSupport(False, "cmake is not on the PATH (install it: `pip install cmake` or your "
                                   "system's package)")
    if torch.version.cuda is None:
        return CMakeSupport(True, f"torch {torch.__version__} is a CPU wheel: CMAKE_PREFIX_PATH is enough",
                            [prefix])
    without_toolkit = [prefix, f"-D{WITHOUT_TOOLKIT_OPTION}=ON"]
    toolkit = _cuda_toolkit()
    if toolkit is None:
        return CMakeSupport(
            False,
            f"torch {torch.__version__} is a CUDA {torch.version.cuda} wheel, whose Caffe2Config.cmake "
            "runs find_package(CUDA) and stops ('Your installed Caffe2 version uses CUDA but I cannot "
            "find the CUDA libraries') on a machine without a CUDA toolkit; none found in $CUDA_HOME, "
            "$CUDA_PATH, nvcc on the PATH or /usr/local/cuda (a project that defines an empty "
            f"torch::cudart target before find_package(Torch), as -D{WITHOUT_TOOLKIT_OPTION}=ON does in "
            "the course's CMakeLists.txt, configures anyway)",
            without_toolkit_args=without_toolkit)
    args = [prefix, f"-DCUDA_TOOLKIT_ROOT_DIR={toolkit}"]
    nvrtc = _wheel_nvrtc()
    if nvrtc is not None:
        args.append(f"-DCUDA_nvrtc_LIBRARY={nvrtc}")
    return CMakeSupport(True, f"CUDA toolkit found at {toolkit}", args, without_toolkit)


_CMAKE_SOURCES = (".c", ".cc", ".cpp", ".cxx", ".h", ".hpp", ".cmake", ".txt", ".in")


def _project_files(source: Path) -> list[Path]:
    """The project's source files (skipping build folders, which hold a ``CMakeCache.txt``)."""
    found = []
    for folder, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not (Path(folder) / d / "CMakeCache.txt").exists())
        found += [Path(folder) / f for f in sorted(files) if Path(f).suffix in _CMAKE_SOURCES]
    return found


def _route_args(lists: Path, without_toolkit: bool | None) -> list[str]:
    """The configure arguments for the project ``lists``, on the route asked for (see :func:`cmake_build`)."""
    if not lists.is_file():
        raise CppBuildError(f"{lists} does not exist: source_dir must hold a CMake project")
    support = cmake_support()
    offers_option = WITHOUT_TOOLKIT_OPTION in lists.read_text()
    if without_toolkit is None:  # the route this machine allows
        if support.available:
            return support.configure_args
        if support.without_toolkit_args and offers_option:
            return support.without_toolkit_args
        raise CppBuildError(f"The CMake route does not work here: {support.reason}")
    if without_toolkit:
        if not support.without_toolkit_args:
            raise CppBuildError(f"without_toolkit=True needs cmake and a CUDA wheel: {support.reason}")
        if not offers_option:
            raise CppBuildError(
                f"without_toolkit=True, but {lists} offers no {WITHOUT_TOOLKIT_OPTION} option")
        return support.without_toolkit_args
    if not support.available:
        raise CppBuildError(f"The CMake route does not work here: {support.reason}")
    return support.configure_args


def cmake_configure(
    source_dir: str | os.PathLike[str],
    build_dir: str | os.PathLike[str],
    *,
    without_toolkit: bool | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 900,
) -> list[str]:
    """Run only CMake's configure step (``find_package(Torch)`` included) of a project; build nothing.

    A check that a route configures, for a fraction of a build's time: about a second with
    ``without_toolkit=True`` (nothing probes ``nvcc``), about ten with a CUDA toolkit
    (CMake's CUDA language checks run ``nvcc``).

    Args:
        source_dir: The folder with ``CMakeLists.txt``.
        build_dir: Where CMake writes its cache (a scratch folder).
        without_toolkit: None for the route :func:`cmake_support` gives on this machine;
            True to take the ``TORCH_WITHOUT_CUDA_TOOLKIT`` route even where a toolkit
            exists (the route of a machine without one); False for the plain route.
        extra_args: More configure arguments.
        timeout: Seconds for the configure step.

    Returns:
        The configure command that succeeded.

    Raises:
        CppBuildError: The route cannot work here (why), or the configure step failed
            (with its output's tail).
    """
    source = Path(source_dir).resolve()
    args = ["-DCMAKE_BUILD_TYPE=Release", *_route_args(source / "CMakeLists.txt", without_toolkit),
            *extra_args]
    command = ["cmake", "-S", str(source), "-B", str(build_dir), *args]
    Path(build_dir).mkdir(parents=True, exist_ok=True)
    _cmake_steps([command], Path(build_dir), timeout)
    return command


def cmake_build(
    source_dir: str | os.PathLike[str],
    target: str,
    *,
    build_dir: str | os.PathLike[str] | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 900,
    without_toolkit: bool | None = None,
) -> CppBuild:
    """Configure and build ``target`` of a CMake project that calls ``find_package(Torch)``, cached.

    With ``build_dir=None`` the build folder is ``cache_dir()/cmake/<target>-<key>``, the key a
    hash of the project's files, the configure arguments, the torch version and the cmake
    and compiler versions: when its binary exists, nothing runs (a fresh checkout's newer
    file times would otherwise make ``make`` rebuild). With a ``build_dir``, CMake is
    configured once per argument set and ``cmake --build`` rebuilds what changed.

    Where :func:`cmake_support` says the plain route cannot work (a CUDA wheel, no CUDA
    toolkit) and the project's ``CMakeLists.txt`` offers the ``TORCH_WITHOUT_CUDA_TOOLKIT``
    option, the project is configured with that option on.

    Args:
        source_dir: The folder with ``CMakeLists.txt``.
        target: The executable target to build.
        build_dir: Where to build; a keyed folder under ``cache_dir()/cmake`` when None.
        extra_args: More configure arguments.
        timeout: Seconds for each of the configure and build steps.
        without_toolkit: The route, as in :func:`cmake_configure` (None: this machine's).

    Returns:
        The :class:`CppBuild` (its ``command`` is the configure command).

    Raises:
        CppBuildError: CMake cannot work here (the reason from :func:`cmake_support`), or
            the configure or build step failed (with its output's tail).
    """
    start = time.perf_counter()
    source = Path(source_dir).resolve()
    route = _route_args(source / "CMakeLists.txt", without_toolkit)
    configure_args = ["-DCMAKE_BUILD_TYPE=Release", *route, *extra_args]
    digest = hashlib.sha256()
    cmake_version = subprocess.run(["cmake", "--version"], capture_output=True, text=True).stdout
    for part in (target, torch.__version__, str(torch_library_path()), cmake_version,
                 _compiler_version(find_compiler()), *configure_args):
        digest.update(part.encode() + b"\0")
    for f in _project_files(source):
        digest.update(str(f.relative_to(source)).encode() + b"\0" + f.read_bytes() + b"\0")
    key = digest.hexdigest()[:16]
    keyed = build_dir is None
    build = Path(build_dir) if build_dir is not None else cache_dir() / "cmake" / f"{target}-{key}"
    binary = build / target
    steps = [["cmake", "-S", str(source), "-B", str(build), *configure_args],
             ["cmake", "--build", str(build), "--target", target]]
    if keyed and binary.is_file() and (build / ".tutorials-built").is_file():
        return CppBuild(binary, True, time.perf_counter() - start, key, steps[0])
    with _locked(build):
        if keyed and binary.is_file() and (build / ".tutorials-built").is_file():
            return CppBuild(binary, True, time.perf_counter() - start, key, steps[0])
        _cmake_steps(steps, build, timeout)
        if not binary.is_file():
            raise CppBuildError(f"cmake built {target!r} but {binary} does not exist")
        (build / ".tutorials-built").write_text(key)
    return CppBuild(binary, False, time.perf_counter() - start, key, steps[0])


def _cmake_steps(steps: list[list[str]], build: Path, timeout: float) -> None:
    stamp = build / ".tutorials-configure"
    todo = steps
    if stamp.is_file() and stamp.read_text() == "\n".join(steps[0]) and (build / "CMakeCache.txt").is_file():
        todo = steps[1:]  # configured with these arguments already: `cmake --build` reconfigures if needed
    for step in todo:
        done = subprocess.run(step, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise CppBuildError(f"`{' '.join(step)}` failed (exit {done.returncode}); the last lines of "
                                f"its output:\n{_tail(done.stdout + done.stderr)}")
        if step[1] == "-S":
            stamp.write_text("\n".join(step))


@contextlib.contextmanager
def pinned_ninja() -> Iterator[None]:
    """Within the block, ``torch.utils.cpp_extension.load_inline`` runs the ``ninja`` package's ninja.

    ``load_inline`` calls whichever ``ninja`` comes first on the PATH. Two versions (the
    pip package's, 1.13, in the virtual environment; a system one, 1.11, in ``/usr/bin``)
    record the build command differently in the build folder's ``.ninja_log``: a process
    that finds the other one first sees "command line changed" and rebuilds the extension
    (a minute or two), and the next process of the first kind rebuilds it again. Without
    the ``ninja`` package installed the PATH is left as it is.
    """
    try:
        import ninja
    except ImportError:
        yield
        return
    path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([ninja.BIN_DIR, path]) if path else ninja.BIN_DIR
    try:
        yield
    finally:
        os.environ["PATH"] = path
