"""The fused bias + GELU + dropout C++ operator against its eager reference, and the traffic arithmetic."""

import math

import pytest
import torch
import torch.nn.functional as F

from tutorials.lec09_custom_ops import fused


@pytest.fixture(scope="module")
def ops():
    return fused.load_extension()  # the one cached build ($TORCH_EXTENSIONS_DIR, tests/conftest.py)


def test_hash_is_the_same_on_ints_and_tensors():
    values = [0, 1, 2, 12345, 2**31 - 1, 2**31, 2**32 - 1]
    as_tensor = fused.hash32(torch.tensor(values, dtype=torch.int64)).tolist()
    assert as_tensor == [fused.hash32(v) for v in values]
    assert all(0 <= h < 2**32 for h in as_tensor) and len(set(as_tensor)) == len(values)
    assert fused.hash32(0) == 0 and fused.hash32(1) == 1198589870  # pinned: C++ and Triton compute these bits


def test_dropout_params():
    assert fused.dropout_params(0.3, 5, training=False) == (0, 0, 1.0)
    assert fused.dropout_params(0.0, 5) == (0, 0, 1.0)
    key, threshold, scale = fused.dropout_params(0.25, 5)
    assert key == fused.hash32(5) and threshold == 2**22 and scale == pytest.approx(4 / 3)
    assert fused.dropout_params(1.0, 5)[1:] == (2**24, 0.0)
    assert fused.dropout_params(0.1, -1)[0] == fused.hash32(2**32 - 1)  # the low 32 bits of the seed
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 1.5"):
        fused.dropout_params(1.5, 0)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_keep_mask_is_a_fair_coin_per_element(p):
    m = fused.keep_mask(500, 512, p, seed=3).float()
    n = m.numel()
    assert abs(m.mean().item() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
    # no row or column pattern: each column's keep rate is binomial(500, 1 - p)
    assert m.mean(0).std().item() < 1.5 * math.sqrt(p * (1 - p) / 500)
    assert not torch.equal(m, fused.keep_mask(500, 512, p, seed=4).float())  # another seed, another mask


def test_reference_is_gelu_then_the_mask():
    x, b = torch.randn(16, 40), torch.randn(40)
    a = F.gelu(x + b, approximate="tanh")
    assert torch.equal(fused.reference(x, b, 0.3, 1, training=False), a)
    y, keep = fused.reference(x, b, 0.3, 1), fused.keep_mask(16, 40, 0.3, 1)
    assert torch.equal(y[~keep], torch.zeros(int((~keep).sum())))
    torch.testing.assert_close(y[keep], a[keep] / 0.7)


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (33, 100), (64, 1024)])  # H not a multiple of 8: tails
@pytest.mark.parametrize(("p", "training"),
                         [(0.1, True), (0.5, True), (0.0, True), (0.3, False), (1.0, True)])
def test_cpp_forward_matches_the_reference(ops, shape, p, training):
    g = torch.Generator().manual_seed(shape[0])
    x, b = torch.randn(*shape, generator=g), torch.randn(shape[1], generator=g)
    y = fused.bias_gelu_dropout(x, b, p, 11, training)
    torch.testing.assert_close(y, fused.reference(x, b, p, 11, training), atol=1e-6, rtol=1e-5)
    if training and p > 0:  # exactly the reference's zeros where the mask drops
        dropped = ~fused.keep_mask(*shape, p, 11)
        assert torch.equal(y[dropped], torch.zeros(int(dropped.sum())))


def test_float64_matches_closely_and_threads_do_not_change_the_result(ops):
    x, b = torch.randn(50, 77, dtype=torch.float64), torch.randn(77, dtype=torch.float64)
    torch.testing.assert_close(fused.bias_gelu_dropout(x, b, 0.2, 9), fused.reference(x, b, 0.2, 9),
                               atol=1e-12, rtol=1e-12)
    x32, b32 = torch.randn(300, 257), torch.randn(257)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = fused.bias_gelu_dropout(x32, b32, 0.2, 9)
        torch.set_num_threads(2)
        two = fused.bias_gelu_dropout(x32, b32, 0.2, 9)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)  # each element's mask depends on its index, not on the thread


def test_backward_matches_autograd_through_the_reference(ops):
    x, b = torch.randn(20, 45, requires_grad=True), torch.randn(45, requires_grad=True)
    grad = torch.randn(20, 45)
    fused.bias_gelu_dropout(x, b, 0.3, 5).backward(grad)
    xr, br = x.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    fused.reference(xr, br, 0.3, 5).backward(grad)
    torch.testing.assert_close(x.grad, xr.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b.grad, br.grad, atol=1e-5, rtol=1e-5)


def test_gradcheck_on_the_kernel_in_float64(ops):
    x = torch.randn(6, 19, dtype=torch.float64, requires_grad=True)
    b = torch.randn(19, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, b: fused.bias_gelu_dropout(x, b, 0.3, 2), (x, b))
    assert torch.autograd.gradcheck(lambda x, b: fused.bias_gelu_dropout(x, b, 0.3, 2, False), (x, b))


def test_opcheck_and_fullgraph_compile(ops):
    x, b = torch.randn(8, 24), torch.randn(24)
    torch.library.opcheck(ops.bias_gelu_dropout.default, (x, b, 0.3, 5, True))
    torch.library.opcheck(ops.bias_gelu_dropout_backward.default, (torch.randn(8, 24), x, b, 0.3, 5, True))

    @torch.compile(fullgraph=True, backend="aot_eager")  # the graph needs the fake kernel, not Inductor
    def f(x, b):
        return fused.bias_gelu_dropout(x, b, 0.3, 5) * 2

    torch.testing.assert_close(f(x, b), 2 * fused.reference(x, b, 0.3, 5), atol=1e-6, rtol=1e-5)


def test_bad_inputs_name_the_problem(ops):
    with pytest.raises(RuntimeError, match=r"bias must have shape \(H,\) = \(4,\) for x of shape \[3, 4\]"):
        fused.bias_gelu_dropout(torch.randn(3, 4), torch.randn(5))
    with pytest.raises(RuntimeError, match=r"x must be 2-D \(N, H\), got shape \[2, 3, 4\]"):
        fused.bias_gelu_dropout(torch.randn(2, 3, 4), torch.randn(4))
    with pytest.raises(RuntimeError, match="float32 or float64 only, got Int"):
        fused.bias_gelu_dropout(torch.ones(2, 3, dtype=torch.int32), torch.ones(3, dtype=torch.int32))
    with pytest.raises(RuntimeError, match="x and bias must have one dtype"):
        fused.bias_gelu_dropout(torch.randn(2, 3), torch.randn(3, dtype=torch.float64))
    with pytest.raises(RuntimeError, match=r"p must be in \[0, 1\], got 2"):
        fused.bias_gelu_dropout(torch.randn(2, 3), torch.randn(3), 2.0)


def test_non_contiguous_input_is_handled(ops):
    x, b = torch.randn(40, 30).t(), torch.randn(40)
    torch.testing.assert_close(fused.bias_gelu_dropout(x, b, 0.2, 1), fused.reference(x, b, 0.2, 1),
                               atol=1e-6, rtol=1e-5)


def test_traffic_and_roofline_arithmetic(tmp_path):
    assert fused.traffic_per_element("eager", 4) == {"forward": 26, "backward": 25}
    assert fused.traffic_per_element("eager", 4, mask_bytes=4) == {"forward": 32, "backward": 28}
    assert fused.traffic_per_element("fused", 4) == {"forward": 8, "backward": 16}
    with pytest.raises(ValueError, match="kind must be 'eager' or 'fused', got 'lazy'"):
        fused.traffic_per_element("lazy")
    assert fused.achieved_gbs(8, 10**6, 1e-3) == pytest.approx(8.0)
    assert fused.arithmetic_intensity(8) == pytest.approx(fused.FLOPS_PER_ELEMENT / 8)
    bw = fused.copy_bandwidth_gbs(numel=2**20, repeats=2)
    assert 0.1 < bw < 10_000
    assert fused.matmul_gflops(n=128, repeats=1) > 0.01
    path = tmp_path / "roof.png"
    fig = fused.plot_roofline([{"label": "fused", "intensity": 1.375, "gflops": 5.0}], copy_gbs=bw,
                              peak_gflops=100.0, path=path)
    assert path.stat().st_size > 5_000
    import matplotlib.pyplot as plt

    plt.close(fig)


def _page_setup_py() -> str:
    """The ``setup.py`` that section 5 of the page shows (a file for pip, not a session block)."""
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "lectures" / "09-custom-ops.md").read_text(encoding="utf-8")
    start = page.index('```text title="setup.py"\n') + len('```text title="setup.py"\n')
    return page[start:page.index("```", start)]


@pytest.mark.parametrize("cuda_home", [None, "/opt/cuda"])
def test_page_setup_py_builds_the_cuda_kernel_only_with_a_toolkit(monkeypatch, cuda_home):
    import setuptools
    import torch.utils.cpp_extension as cpp_extension

    monkeypatch.setattr(cpp_extension, "CUDA_HOME", cuda_home)
    captured = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    exec(compile(_page_setup_py(), "setup.py", "exec"), {"__name__": "__main__"})
    (ext,) = captured["ext_modules"]
    assert captured["name"] == "my_fused" and ext.name == "my_fused._C"
    assert captured["cmdclass"]["build_ext"] is cpp_extension.BuildExtension
    assert ext.sources[0] == "my_fused/csrc/fused.cpp"
    assert ("my_fused/csrc/fused_cuda.cu" in ext.sources) is (cuda_home is not None)
    assert any("torch" in d for d in ext.include_dirs)  # the installed torch's headers
