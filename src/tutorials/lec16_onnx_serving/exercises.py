"""Self-checks for the exercises of Lecture 16 (ONNX and production inference).

Each ``check_*`` function takes *your* answer, tries it on inputs it builds itself,
prints a line starting with ✓ when the answer is right, and raises an
``AssertionError`` that says what is wrong, with a hint, when it is not.

Example:
    >>> from tutorials.lec16_onnx_serving.onnx_tools import op_types
    >>> check_count_ops(op_types)
    ✓ count_ops: 7 nodes of 7 types, the 3 inside the If's branches included
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper
from torch import nn

from tutorials.lec16_onnx_serving.models import DigitsCNN

__all__ = ["check_count_ops", "check_dynamic_export", "check_swish_translation", "swish"]


def _session(program: object, folder: Path, name: str) -> ort.InferenceSession:
    path = folder / f"{name}.onnx"
    program.save(path)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def check_dynamic_export(export_fn: Callable[[nn.Module, torch.Tensor], object]) -> None:
    """Exercise 1: an export whose batch dimension is dynamic.

    Args:
        export_fn: your ``export_fn(model, example)``; it returns the
            ``torch.onnx.ONNXProgram`` of ``model`` exported from the example batch
            ``example`` (2 images) so that ONNX Runtime accepts any batch size.
    """
    torch.manual_seed(0)
    model = DigitsCNN(width=4).eval()
    example = torch.randn(2, 1, 8, 8)
    program = export_fn(model, example)
    assert program is not None and hasattr(program, "save"), (
        f"export_fn returned {type(program).__name__}, not an ONNXProgram; hint: "
        "torch.onnx.export(model, (example,), dynamo=True, ...) returns one (dynamo=False returns None)")
    with tempfile.TemporaryDirectory() as tmp:
        session = _session(program, Path(tmp), "dynamic")
        name = session.get_inputs()[0].name
        for batch in (1, 3, 17):
            x = torch.randn(batch, 1, 8, 8)
            try:
                got = session.run(None, {name: x.numpy()})[0]
            except Exception as err:
                reason = str(err).split(" : ")[-1].splitlines()[0]
                raise AssertionError(
                    f"ONNX Runtime refused a batch of {batch}: {reason}; hint: mark "
                    "dimension 0 dynamic with dynamic_shapes=({0: 'batch'},)") from None
            with torch.inference_mode():
                want = model(x).numpy()
            assert np.abs(got - want).max() < 1e-4, f"batch {batch}: outputs differ from eager PyTorch"
    print("✓ dynamic_export: ONNX Runtime matches eager at batch sizes 1, 3 and 17")


@torch.library.custom_op("lec16::swish", mutates_args=())
def swish(x: torch.Tensor, beta: float) -> torch.Tensor:
    """The custom operator of exercise 2: ``x * sigmoid(beta * x)``."""
    return x * torch.sigmoid(beta * x)


@swish.register_fake
def _(x: torch.Tensor, beta: float) -> torch.Tensor:
    return torch.empty_like(x)


class _SwishNet(nn.Module):
    def __init__(self, beta: float) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 6)
        self.beta = beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swish(self.linear(x), self.beta)


def check_swish_translation(translation: Callable[..., object]) -> None:
    """Exercise 2: an onnxscript translation of the custom operator ``lec16::swish``.

    Args:
        translation: your ``translation(x, beta)``, built from onnxscript operators
            (``from onnxscript import opset18 as op``); the check exports a model that
            calls ``swish`` with ``beta=1.5`` and ``custom_translation_table=
            {torch.ops.lec16.swish.default: translation}``, and compares ONNX Runtime
            with eager PyTorch.
    """
    torch.manual_seed(0)
    model = _SwishNet(beta=1.5).eval()
    x = torch.randn(5, 6) * 3
    try:
        program = torch.onnx.export(model, (x,), dynamo=True, verbose=False,
                                     custom_translation_table={torch.ops.lec16.swish.default: translation})
    except Exception as err:
        raise AssertionError(
            f"the export with your translation failed ({type(err).__name__}); hint: build the result "
            "from onnxscript operators such as op.Mul and op.Sigmoid, not torch functions") from None
    with tempfile.TemporaryDirectory() as tmp:
        session = _session(program, Path(tmp), "swish")
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.inference_mode():
        want = model(x).numpy()
    diff = float(np.abs(got - want).max())
    assert diff < 1e-4, (
        f"ONNX Runtime differs from eager by up to {diff:.3g}; hint: swish is x * sigmoid(beta * x): "
        "did you use beta inside the sigmoid?")
    ops = [n.op_type for n in program.model_proto.graph.node]
    print(f"✓ swish_translation: matches eager PyTorch (beta 1.5) with ONNX nodes {ops}")


def _model_with_if() -> onnx.ModelProto:
    """A small ONNX model: ``y = If(sum(x) > 0, then: relu(x) * 2, else: -x)``, built by hand."""
    def value(name: str) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [2])

    then_graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "r"], ["t"])],
        "then", [], [value("t")])
    else_graph = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [value("e")])
    zero = helper.make_tensor("z", TensorProto.FLOAT, [], [0.0])
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        helper.make_node("Constant", [], ["zero"], value=zero),
        helper.make_node("Greater", ["s", "zero"], ["c"]),
        helper.make_node("If", ["c"], ["y"], then_branch=then_graph, else_branch=else_graph),
    ]
    graph = helper.make_graph(nodes, "main", [value("x")], [value("y")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def check_count_ops(count_ops: Callable[[str], Mapping[str, int]]) -> None:
    """Exercise 3: count the operators of an ONNX file, the ones inside subgraphs included.

    Args:
        count_ops: your ``count_ops(path)``; it returns ``{op_type: count}`` for the
            ``.onnx`` file at ``path``, nodes inside an ``If``'s branches (and any other
            graph-valued attribute) included.
    """
    want = {"ReduceSum": 1, "Constant": 1, "Greater": 1, "If": 1, "Relu": 1, "Add": 1, "Neg": 1}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "with_if.onnx"
        onnx.save(_model_with_if(), str(path))
        got = dict(count_ops(str(path)))
    got = {k: v for k, v in got.items() if v}
    if got == {k: v for k, v in want.items() if k not in ("Relu", "Add", "Neg")}:
        raise AssertionError(
            f"count_ops returned {got}: only the top-level graph; hint: the If node holds two graphs in its "
            "attributes (attr.g, of type onnx.AttributeProto.GRAPH): count their nodes too, recursively")
    assert got == want, f"count_ops returned {got}, expected {want}"
    print(f"✓ count_ops: {sum(want.values())} nodes of {len(want)} types, "
          "the 3 inside the If's branches included")
