"""Self-checks for the exercises of Lecture 27 (``docs/lectures/27-contributing.md``).

Each ``check_...`` tries the reader's answer on inputs it builds itself, prints a line
starting with ✓ when it is right, and raises an ``AssertionError`` with a hint when not.
None of them needs the chapter's C++ extension.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def check_out_schema(schema: str) -> None:
    """Exercise 1: the ``out=`` overload of ``softcap``, written as in ``native_functions.yaml``.

    Args:
        schema: the schema string, without a namespace, e.g. ``"softcap.out(...) -> ..."``.
    """
    assert isinstance(schema, str), f"check_out_schema: pass the schema as a str, not {type(schema).__name__}"
    try:
        parsed = torch._C.parse_schema(schema)
    except RuntimeError as err:
        raise AssertionError(
            f"torch._C.parse_schema cannot read {schema!r}: {str(err).splitlines()[0]}. "
            "Write it like softcap(Tensor self, float cap) -> Tensor, with an overload name after a dot."
        ) from None
    assert "::" not in parsed.name, (
        f"{parsed.name!r} has a namespace; a func: line in native_functions.yaml has none "
        "(every op there is aten::): write softcap.out(...)")
    assert parsed.name != "softcap_out", (
        "softcap_out is another operator; an overload is written name.overload: softcap.out(...)")
    assert parsed.name == "softcap", f"the operator's name is {parsed.name!r}; keep 'softcap'"
    assert parsed.overload_name == "out", (
        f"the overload name is {parsed.overload_name!r}: an out= variant is the overload 'out' "
        "(softcap.out(...))")
    args = {a.name: a for a in parsed.arguments}
    assert [a.name for a in parsed.arguments[:2]] == ["self", "cap"] and str(args["cap"].type) == "float", (
        "keep the inputs of softcap first and unchanged: (Tensor self, float cap, ...)")
    assert "out" in args, "the output tensor is an argument named out"
    out = args["out"]
    assert out.kwarg_only, "out must be keyword-only: put it after a `*`, as in (..., *, Tensor(a!) out)"
    assert out.alias_info is not None and out.alias_info.is_write, (
        "out is written to: annotate it as mutable, Tensor(a!) out (the ! is the write)")
    assert len(parsed.returns) == 1 and parsed.returns[0].alias_info is not None \
        and parsed.returns[0].alias_info.before_set == out.alias_info.before_set, (
        "an out= overload returns the tensor it wrote: -> Tensor(a!), the same alias set as out")
    print(f"✓ {schema}: parses, out is keyword-only, mutable and returned")


def _coverage(samples: list, dtype: torch.dtype) -> None:
    assert samples, "sample_inputs yielded nothing"
    for s in samples:
        assert isinstance(s, tuple) and len(s) == 2 and isinstance(s[0], torch.Tensor), (
            "yield (tensor, cap) pairs")
        assert s[0].dtype == dtype, f"a sample has dtype {s[0].dtype}, asked for {dtype}"
        assert isinstance(s[1], float) and s[1] > 0, (
            f"cap must be a positive float, got {s[1]!r} (the schema says float cap: write 2.0, not 2)")
    tensors = [t for t, _ in samples]
    assert any(t.dim() == 0 for t in tensors), "no 0-d (scalar) tensor: add torch.tensor(1.5) or similar"
    assert any(t.numel() == 0 for t in tensors), "no empty tensor: add one with a 0-sized dimension"
    assert any(not t.is_contiguous() for t in tensors), (
        "no non-contiguous tensor: add a transposed (.t()) or strided ([::2]) view")
    assert any(t.dim() >= 2 for t in tensors), "no tensor with 2 or more dimensions"
    assert any((t.abs() > 3 * cap).any() for t, cap in samples if t.numel()), (
        "no value far beyond the cap: add one where |x| >> cap, so saturation is tested")


def check_sample_inputs(sample_inputs: Callable) -> None:
    """Exercise 2: an OpInfo-style generator of sample inputs for ``softcap``.

    Args:
        sample_inputs: ``sample_inputs(dtype)`` yielding ``(tensor, cap)`` pairs.
    """
    from tutorials.lec27_contributing.softcap_op import reference_softcap

    for dtype in (torch.float32, torch.float64):
        samples = list(sample_inputs(dtype))
        _coverage(samples, dtype)
        for t, cap in samples:  # the reference runs on every sample
            assert reference_softcap(t, cap).shape == t.shape
    print(f"✓ sample_inputs: {len(samples)} samples per dtype cover 0-d, empty, 2-d, "
          "non-contiguous and saturating inputs")


def _fn(x: torch.Tensor, k: int) -> torch.Tensor:
    return (x * k).sin().sum()


def check_compile_once(compile_once: Callable) -> None:
    """Exercise 3: compile so that new sizes and new integer arguments do not recompile.

    Args:
        compile_once: ``compile_once(fn, backend)`` returning a compiled ``fn`` that uses
            ``backend``.
    """
    compiles = []

    def backend(gm: torch.fx.GraphModule, example_inputs: list) -> Callable:
        compiles.append(gm)
        return gm.forward

    torch._dynamo.reset()
    compiled = compile_once(_fn, backend)
    assert callable(compiled), "compile_once must return the compiled function"
    g = torch.Generator().manual_seed(0)
    for size, k in [(3, 1), (5, 2), (7, 3), (4, 5)]:
        x = torch.randn(size, generator=g)
        got = compiled(x, k)
        assert torch.allclose(got, _fn(x, k)), f"wrong result for size {size}, k={k}"
    torch._dynamo.reset()
    n = len(compiles)
    assert n > 0, "the backend was never called: pass backend=backend to torch.compile"
    assert n != 2, (
        "2 compiles: the default (automatic dynamic) recompiles once when a size or an int first "
        "changes, then marks it dynamic. Ask for dynamic shapes from the start: dynamic=True")
    assert n != 4, "4 compiles, one per call: dynamic=False specializes on every size and int"
    assert n == 1, f"{n} compiles; expected 1 for four calls with new sizes and new k"
    print("✓ compile_once: 4 calls with new sizes and new k, 1 compile")


def check_softcap_grad(softcap_grad: Callable) -> None:
    """Exercise 4: the ``derivatives.yaml`` formula of ``softcap``, as a function.

    Args:
        softcap_grad: ``softcap_grad(grad, result, cap)`` returning the gradient with
            respect to ``self``, from the upstream ``grad``, the forward's ``result`` and ``cap``.
    """
    g = torch.Generator().manual_seed(0)
    for cap in (1.0, 0.5, 3.0):
        x = (torch.randn(6, generator=g, dtype=torch.float64) * 2).requires_grad_()
        result = cap * torch.tanh(x / cap)
        grad = torch.randn(6, generator=g, dtype=torch.float64)
        (want,) = torch.autograd.grad(result, x, grad)
        got = softcap_grad(grad, result.detach(), cap)
        assert isinstance(got, torch.Tensor) and got.shape == x.shape, (
            "return a tensor shaped like self: grad times the local derivative")
        local = 1 - (result.detach() / cap).pow(2)
        assert not torch.allclose(got, local), (
            "that is the local derivative alone: multiply it by grad, the gradient flowing in "
            "(the chain rule; every derivatives.yaml formula starts from grad)")
        if cap == 1.0:
            assert torch.allclose(got, want), (
                "wrong already at cap = 1: d/dx tanh(x) = 1 - tanh(x)^2; use result (= cap * tanh(x / cap))")
        assert cap == 1.0 or not torch.allclose(got, want * cap), (
            f"right at cap = 1 but {cap} times too large at cap = {cap}: the outer cap and the "
            "inner 1/cap of cap * tanh(x / cap) cancel; no factor of cap is left")
        assert torch.allclose(got, want), (
            f"right at cap = 1 but wrong at cap = {cap}: result is cap * tanh(x / cap), so "
            "tanh(x / cap) = result / cap; divide result by cap before squaring")
    print("✓ softcap_grad: matches autograd of cap * tanh(x / cap) for cap = 1, 0.5 and 3")
