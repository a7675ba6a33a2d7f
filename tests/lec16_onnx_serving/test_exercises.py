"""Each self-check passes a right answer and rejects the anticipated wrong ones with its hint."""

from collections import Counter

import onnx
import pytest
import torch
from onnxscript import opset18 as op

from tutorials.lec16_onnx_serving import exercises as ex
from tutorials.lec16_onnx_serving.onnx_tools import op_types


def export_dynamic(model, example):
    return torch.onnx.export(model, (example,), dynamo=True, verbose=False, dynamic_shapes=({0: "batch"},))


def export_static(model, example):
    return torch.onnx.export(model, (example,), dynamo=True, verbose=False)


def test_dynamic_export(capsys):
    ex.check_dynamic_export(export_dynamic)
    assert capsys.readouterr().out.startswith("✓ dynamic_export")


def test_dynamic_export_rejects_a_static_batch():
    with pytest.raises(AssertionError, match=r"refused a batch of 1: .*hint: mark dimension 0 dynamic"):
        ex.check_dynamic_export(export_static)


def test_dynamic_export_rejects_the_legacy_return_value():
    with pytest.raises(AssertionError, match="not an ONNXProgram; hint"):
        ex.check_dynamic_export(lambda model, example: None)


def swish_right(x, beta: float):
    return op.Mul(x, op.Sigmoid(op.Mul(x, beta)))


def swish_without_beta(x, beta: float):
    return op.Mul(x, op.Sigmoid(x))


def swish_in_torch(x, beta: float):
    return x * torch.sigmoid(beta * x)


def test_swish_translation(capsys):
    ex.check_swish_translation(swish_right)
    assert capsys.readouterr().out.startswith("✓ swish_translation")


@pytest.mark.parametrize("wrong, hint", [
    (swish_without_beta, "did you use beta inside the sigmoid"),
    (swish_in_torch, "build the result from onnxscript operators"),
])
def test_swish_translation_rejects(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        ex.check_swish_translation(wrong)


def test_count_ops(capsys):
    ex.check_count_ops(op_types)
    assert capsys.readouterr().out.startswith("✓ count_ops: 7 nodes")


def test_count_ops_rejects_the_top_level_only():
    def top_level(path):
        return Counter(n.op_type for n in onnx.load(path).graph.node)

    with pytest.raises(AssertionError, match="only the top-level graph; hint: the If node holds two graphs"):
        ex.check_count_ops(top_level)


def test_count_ops_rejects_a_wrong_count():
    def doubled(path):
        return {k: 2 * v for k, v in op_types(path).items()}

    with pytest.raises(AssertionError, match="expected"):
        ex.check_count_ops(doubled)
