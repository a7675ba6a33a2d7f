"""The Triton kernel, run on CPU tensors by Triton's interpreter, against the eager reference."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest
import torch

from tutorials.lec09_custom_ops import fused

pytest.importorskip("triton")


@pytest.fixture(scope="module")
def ft():
    """A copy of the module whose kernels were defined under TRITON_INTERPRET=1.

    ``triton.jit`` reads the variable when the kernels are defined (at import), so this
    loads a separate copy with the variable set, whatever imported the module before.
    """
    import tutorials.lec09_custom_ops.fused_triton as installed

    spec = importlib.util.spec_from_file_location("_fused_triton_interpreted", Path(installed.__file__))
    module = importlib.util.module_from_spec(spec)
    old = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        spec.loader.exec_module(module)
    finally:
        if old is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = old
    sys.modules.pop("_fused_triton_interpreted", None)
    assert module.interpreted()
    assert module.triton_available() == (True, "interpreted on CPU (TRITON_INTERPRET=1)")
    return module


@pytest.mark.parametrize(("shape", "block"), [((3, 5), 64), ((37, 100), 256), ((16, 128), 128)])
@pytest.mark.parametrize(("p", "training"), [(0.1, True), (0.5, True), (0.3, False), (1.0, True)])
def test_forward_matches_the_reference_and_drops_the_same_elements(ft, shape, block, p, training):
    g = torch.Generator().manual_seed(1)
    x, b = torch.randn(*shape, generator=g), torch.randn(shape[1], generator=g)
    y = ft.bias_gelu_dropout_triton(x, b, p, 7, training, block=block)
    torch.testing.assert_close(y, fused.reference(x, b, p, 7, training), atol=1e-6, rtol=1e-5)
    if training:
        dropped = ~fused.keep_mask(*shape, p, 7)
        assert torch.equal(y[dropped], torch.zeros(int(dropped.sum())))


@pytest.mark.parametrize(("dtype", "rtol"), [(torch.bfloat16, 2**-7), (torch.float16, 2**-10)])
def test_half_precision_computes_in_float32_and_rounds_once(ft, dtype, rtol):
    x, b = torch.randn(16, 40).to(dtype), torch.randn(40).to(dtype)
    y = ft.bias_gelu_dropout_triton(x, b, 0.2, 3)
    assert y.dtype == dtype
    torch.testing.assert_close(y.float(), fused.reference(x.float(), b.float(), 0.2, 3), rtol=rtol, atol=1e-3)


def test_backward_matches_autograd_through_the_reference(ft):
    x, b = torch.randn(12, 50, requires_grad=True), torch.randn(50, requires_grad=True)
    grad = torch.randn(12, 50)
    ft.FusedBiasGeluDropoutTriton.apply(x, b, 0.3, 5).backward(grad)
    xr, br = x.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    fused.reference(xr, br, 0.3, 5).backward(grad)
    torch.testing.assert_close(x.grad, xr.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b.grad, br.grad, atol=1e-5, rtol=1e-5)


def test_default_arguments_of_the_autograd_function(ft):
    x, b = torch.randn(4, 9, requires_grad=True), torch.randn(9, requires_grad=True)
    ft.FusedBiasGeluDropoutTriton.apply(x, b).sum().backward()  # p=0.1, seed=0, training=True
    torch.testing.assert_close(ft.FusedBiasGeluDropoutTriton.apply(x, b), fused.reference(x, b, 0.1, 0))
    assert x.grad.shape == (4, 9) and b.grad.shape == (9,)


def test_bad_inputs_name_the_problem(ft):
    with pytest.raises(RuntimeError, match=r"x must be \(N, H\) and bias \(H,\), got \(3, 4\) and \(5,\)"):
        ft.bias_gelu_dropout_triton(torch.randn(3, 4), torch.randn(5))
    with pytest.raises(RuntimeError, match="grad must have x's shape"):
        ft.bias_gelu_dropout_triton_backward(torch.randn(2, 4), torch.randn(3, 4), torch.randn(4))


def test_compiled_kernels_refuse_cpu_tensors_with_the_fix():
    import tutorials.lec09_custom_ops.fused_triton as module

    if module.interpreted():
        pytest.skip("this process imported the module under TRITON_INTERPRET=1")
    with pytest.raises(RuntimeError, match="set TRITON_INTERPRET=1 before importing"):
        module.bias_gelu_dropout_triton(torch.randn(2, 3), torch.randn(3))
    if not torch.cuda.is_available():
        ok, why = module.triton_available()
        assert not ok and "TRITON_INTERPRET=1" in why
