"""The out-of-tree operator: its build (cached, shared with the page), kernel, errors and samples."""

import pytest
import torch

from tutorials.lec27_contributing import softcap_op


@pytest.fixture(scope="module")
def op():
    softcap_op.build_softcap()  # same name and source as the page: a cached build is reused
    return torch.ops.course27.softcap


def test_schema_matches_source(op):
    assert str(op.default._schema) == f"course27::{softcap_op.SCHEMA}"
    assert softcap_op.SCHEMA in softcap_op.CSRC.read_text(encoding="utf-8")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_kernel_matches_reference_on_samples(op, dtype):
    samples = list(softcap_op.sample_inputs_softcap(dtype))
    assert {"0-d", "empty", "transposed", "strided", "saturating"} <= {s.name for s in samples}
    assert any(not s.input.is_contiguous() for s in samples)
    for s in samples:
        torch.testing.assert_close(op(s.input, *s.args), softcap_op.reference_softcap(s.input, *s.args))


def test_large_input_runs_in_parallel_chunks(op):
    x = torch.linspace(-100, 100, 100_001)
    torch.testing.assert_close(op(x, 3.0), softcap_op.reference_softcap(x, 3.0))


def test_bad_input_names_the_problem(op):
    with pytest.raises(RuntimeError, match="cap must be positive, got 0"):
        op(torch.randn(2), 0.0)
    with pytest.raises(RuntimeError, match="expected a floating-point tensor, got Int"):
        op(torch.ones(2, dtype=torch.int32), 1.0)


def test_requires_grad_samples_are_leaves():
    for s in softcap_op.sample_inputs_softcap(torch.float64, requires_grad=True):
        assert s.input.is_leaf and s.input.requires_grad, s.name
