"""Unit tests for tutorials.lec11_func_cpp.parallel: jit.fork, futures on a thread pool, streams."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from tutorials.lec11_func_cpp.parallel import scripted_fork, submit, two_streams_matmul


def test_scripted_fork_graph_and_warning():
    fn, warns = scripted_fork()
    graph = str(fn.graph)
    assert "prim::fork" in graph and "aten::wait" in graph
    x = torch.randn(3, 3)
    torch.testing.assert_close(fn(x), x @ x + x @ x.T)
    assert warns and all("deprecated" in w for w in warns), warns


def test_submit_returns_torch_future_and_forwards_errors():
    with ThreadPoolExecutor(2) as pool:
        fut = submit(pool, torch.add, torch.ones(2), 1)
        assert isinstance(fut, torch.futures.Future)
        assert torch.equal(fut.then(lambda f: f.value() * 2).wait(), torch.full((2,), 4.0))

        def boom():
            raise ValueError("bad input shape")

        with pytest.raises(ValueError, match="bad input shape"):
            submit(pool, boom).wait()


def test_two_streams_matmul_cpu():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    r1, r2 = two_streams_matmul(a, b)
    assert torch.equal(r1, a @ a) and torch.equal(r2, b @ b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_two_streams_matmul_cuda():
    a, b = torch.randn(64, 64, device="cuda"), torch.randn(64, 64, device="cuda")
    r1, r2 = two_streams_matmul(a, b)
    torch.testing.assert_close(r1, a @ a)
    torch.testing.assert_close(r2, b @ b)
