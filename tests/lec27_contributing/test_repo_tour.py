"""Reading the packaged YAML sources and the operator registry."""

import pytest

from tutorials.lec27_contributing import repo_tour


def test_yaml_entries():
    native = repo_tour.packaged_yaml("native_functions.yaml").read_text(encoding="utf-8")
    entry = repo_tour.yaml_entry(native, "add.Tensor")
    assert entry.startswith("- func: add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor")
    assert "structured_delegate: add.out" in entry and "- func" not in entry.splitlines()[1]
    derivatives = repo_tour.packaged_yaml("derivatives.yaml").read_text(encoding="utf-8")
    assert "self: tanh_backward(grad, result)" in repo_tour.yaml_entry(derivatives, "tanh", key="name")
    with pytest.raises(KeyError, match="no entry"):
        repo_tour.yaml_entry(derivatives, "no_such_op", key="name")


def test_unknown_file():
    with pytest.raises(ValueError, match="unknown file"):
        repo_tour.packaged_yaml("tags.yml")


def test_operator_namespaces():
    counts = repo_tour.operator_namespaces()
    assert counts["aten"] > 2500 and counts["prims"] > 50
