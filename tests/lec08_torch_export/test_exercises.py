"""Each self-check passes a right answer and rejects wrong ones with a helpful message."""

import pytest
import torch
from torch.export import Dim

from tutorials.lec08_torch_export import exercises as ex


def test_dynamic_shapes_check(capsys):
    batch, seq = Dim("batch"), Dim("seq")
    ex.check_dynamic_shapes({"x": {0: batch}, "y": {0: batch, 1: seq}})
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="use the same Dim object for both"):
        ex.check_dynamic_shapes({"x": {0: Dim("bx")}, "y": {0: Dim("by"), 1: seq}})
    with pytest.raises(AssertionError, match="dim 1 of y dynamic"):
        ex.check_dynamic_shapes({"x": {0: batch}, "y": {0: batch}})
    with pytest.raises(AssertionError, match="fixed by nn.Linear"):
        ex.check_dynamic_shapes({"x": {0: batch, 1: Dim("f")}, "y": {0: batch, 1: seq}})
    with pytest.raises(AssertionError, match="argument names"):
        ex.check_dynamic_shapes({"inputs": {0: batch}})


def _cond(x):
    return torch.cond(x.abs().max() > 1, lambda t: t / t.abs().max(), lambda t: t * 2, (x,))


def test_cond_rewrite_check(capsys):
    ex.check_cond_rewrite(_cond)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="Replace the Python `if` with torch.cond"):
        ex.check_cond_rewrite(ex.scale_or_double)
    with pytest.raises(AssertionError, match="has no cond"):
        ex.check_cond_rewrite(lambda x: torch.where(x.abs().max() > 1, x / x.abs().max(), x * 2))
    swapped = lambda x: torch.cond(x.abs().max() > 1, lambda t: t * 2,  # noqa: E731
                                   lambda t: t / t.abs().max(), (x,))
    with pytest.raises(AssertionError, match="true_fn is the `if` side"):
        ex.check_cond_rewrite(swapped)
    aliasing = lambda x: torch.cond(x.abs().max() > 1, lambda t: t / t.abs().max(),  # noqa: E731
                                    lambda t: t, (x,))
    with pytest.raises(AssertionError, match="returns its input"):
        ex.check_cond_rewrite(aliasing)


def test_specialised_dim_check(capsys):
    ex.check_specialised_dim(("x", 2, 12))
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="stays dynamic"):
        ex.check_specialised_dim(("x", 0, 2))
    with pytest.raises(AssertionError, match="not to 5"):
        ex.check_specialised_dim(("x", 2, 5))
    with pytest.raises(AssertionError, match="one argument, named 'x'"):
        ex.check_specialised_dim(("c", 2, 12))
    with pytest.raises(AssertionError, match="answer with a tuple"):
        ex.check_specialised_dim("x.shape[2]")


def test_specialisation_is_real():
    """The exercise's premise: exporting Mystery with every dim dynamic names dim 2 and 12."""
    with pytest.raises(Exception, match=r"specialized it to be a constant \(12\)"):
        torch.export.export(ex.Mystery(), (torch.randn(2, 5, 12),),
                            dynamic_shapes={"x": {0: Dim("d0"), 1: Dim("d1"), 2: Dim("d2")}})
