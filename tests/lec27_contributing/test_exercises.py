"""Each self-check of Lecture 27 passes a right answer and rejects wrong ones with its hint."""

import pytest
import torch

from tutorials.lec27_contributing import exercises as ex


def test_check_out_schema(capsys):
    ex.check_out_schema("softcap.out(Tensor self, float cap, *, Tensor(a!) out) -> Tensor(a!)")
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="keyword-only"):
        ex.check_out_schema("softcap.out(Tensor self, float cap, Tensor(a!) out) -> Tensor(a!)")
    with pytest.raises(AssertionError, match="the ! is the write"):
        ex.check_out_schema("softcap.out(Tensor self, float cap, *, Tensor out) -> Tensor")
    with pytest.raises(AssertionError, match="returns the tensor it wrote"):
        ex.check_out_schema("softcap.out(Tensor self, float cap, *, Tensor(a!) out) -> Tensor")
    with pytest.raises(AssertionError, match="overload 'out'"):
        ex.check_out_schema("softcap(Tensor self, float cap, *, Tensor(a!) out) -> Tensor(a!)")
    with pytest.raises(AssertionError, match="cannot read"):
        ex.check_out_schema("softcap.out(Tensor self, float cap, *, Tensor(a!) out) ->")
    with pytest.raises(AssertionError, match="written name.overload"):
        ex.check_out_schema("softcap_out(Tensor self, float cap, *, Tensor(a!) out) -> Tensor(a!)")
    with pytest.raises(AssertionError, match="has a namespace"):
        ex.check_out_schema("aten::softcap.out(Tensor self, float cap, *, Tensor(a!) out) -> Tensor(a!)")
    with pytest.raises(AssertionError, match="inputs of softcap first and unchanged"):
        ex.check_out_schema("softcap.out(Tensor self, Scalar cap, *, Tensor(a!) out) -> Tensor(a!)")


def _right(dtype):
    g = torch.Generator().manual_seed(1)
    yield torch.tensor(1.5, dtype=dtype), 2.0
    yield torch.empty(0, dtype=dtype), 1.0
    yield torch.randn(4, 6, generator=g).to(dtype).t(), 2.5
    yield (torch.randn(8, generator=g) * 50).to(dtype), 1.0


def test_check_sample_inputs(capsys):
    ex.check_sample_inputs(_right)
    assert "✓" in capsys.readouterr().out

    def contiguous_only(dtype):
        for t, cap in _right(dtype):
            yield t.contiguous(), cap

    with pytest.raises(AssertionError, match="non-contiguous"):
        ex.check_sample_inputs(contiguous_only)
    with pytest.raises(AssertionError, match="no empty tensor"):
        ex.check_sample_inputs(lambda dtype: (s for s in _right(dtype) if s[0].numel() != 0))
    with pytest.raises(AssertionError, match="saturation"):
        ex.check_sample_inputs(lambda dtype: ((t.clamp(-1, 1), c) for t, c in _right(dtype)))
    with pytest.raises(AssertionError, match="dtype"):
        ex.check_sample_inputs(lambda dtype: ((t.float(), c) for t, c in _right(dtype)))
    with pytest.raises(AssertionError, match="write 2.0, not 2"):
        ex.check_sample_inputs(lambda dtype: ((t, int(c)) for t, c in _right(dtype)))


def test_check_compile_once(capsys):
    ex.check_compile_once(lambda fn, backend: torch.compile(fn, backend=backend, dynamic=True))
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="dynamic=True"):
        ex.check_compile_once(lambda fn, backend: torch.compile(fn, backend=backend))
    with pytest.raises(AssertionError, match="one per call"):
        ex.check_compile_once(lambda fn, backend: torch.compile(fn, backend=backend, dynamic=False))
    with pytest.raises(AssertionError, match="backend was never called"):
        ex.check_compile_once(lambda fn, backend: fn)


def test_check_softcap_grad(capsys):
    ex.check_softcap_grad(lambda grad, result, cap: grad * (1 - (result / cap) ** 2))
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="divide result by cap"):
        ex.check_softcap_grad(lambda grad, result, cap: grad * (1 - result**2))
    with pytest.raises(AssertionError, match="wrong already at cap = 1"):
        ex.check_softcap_grad(lambda grad, result, cap: grad * (1 - result))
    with pytest.raises(AssertionError, match="shaped like self"):
        ex.check_softcap_grad(lambda grad, result, cap: (grad * (1 - (result / cap) ** 2)).sum())
    with pytest.raises(AssertionError, match="multiply it by grad"):
        ex.check_softcap_grad(lambda grad, result, cap: 1 - (result / cap) ** 2)
    with pytest.raises(AssertionError, match="no factor of cap is left"):
        ex.check_softcap_grad(lambda grad, result, cap: grad * cap * (1 - (result / cap) ** 2))
