"""Read the operator registry of the installed PyTorch: its YAML sources and its operator names.

The wheel ships the two files a new operator touches, as ``torchgen`` keeps them for
code generation: ``torchgen/packaged/ATen/native/native_functions.yaml`` (in the
repository: ``aten/src/ATen/native/native_functions.yaml``) and
``torchgen/packaged/autograd/derivatives.yaml`` (``tools/autograd/derivatives.yaml``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

_PACKAGED = {
    "native_functions.yaml": ("ATen", "native", "native_functions.yaml"),
    "derivatives.yaml": ("autograd", "derivatives.yaml"),
}


def packaged_yaml(name: str) -> Path:
    """The installed copy of ``native_functions.yaml`` or ``derivatives.yaml``.

    Args:
        name: ``"native_functions.yaml"`` or ``"derivatives.yaml"``.

    Returns:
        The file's path inside the installed ``torchgen`` package.

    Raises:
        ValueError: for another name.
        FileNotFoundError: when this PyTorch install does not ship the file.
    """
    if name not in _PACKAGED:
        raise ValueError(f"packaged_yaml: unknown file {name!r}; expected one of {sorted(_PACKAGED)}")
    import torchgen

    path = Path(torchgen.__file__).parent.joinpath("packaged", *_PACKAGED[name])
    if not path.is_file():
        raise FileNotFoundError(f"packaged_yaml: {path} is missing from this PyTorch install")
    return path


def yaml_entry(text: str, func: str, key: str = "func") -> str:
    """The YAML list entry whose ``func:`` (or ``name:``) starts with ``func(``.

    Entries are read as text, not parsed, so the page shows them as the file has them.

    Args:
        text: the whole YAML file.
        func: operator name with its overload, e.g. ``"gelu"`` or ``"add.Tensor"``.
        key: ``"func"`` for ``native_functions.yaml``, ``"name"`` for ``derivatives.yaml``.

    Returns:
        The entry's lines, from ``- key:`` up to the next entry or blank line.

    Raises:
        KeyError: when no entry has that name.
    """
    head = f"- {key}: {func}("
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(head):
            entry = [line]
            for nxt in lines[i + 1:]:
                if not nxt.strip() or nxt.startswith("- "):
                    break
                entry.append(nxt)
            return "\n".join(entry)
    raise KeyError(f"yaml_entry: no entry '{head}...' in the file")


def operator_namespaces() -> Counter:
    """How many operator overloads the dispatcher knows, per namespace (``aten``, ``prims``, ...).

    Returns:
        A Counter from namespace to the number of registered schemas.
    """
    return Counter(name.split("::")[0] for name in torch._C._dispatch_get_all_op_names())
