import pytest
import torch
from onnx import TensorProto, helper

from tutorials.lec16_onnx_serving.onnx_tools import (
    captured_export_noise,
    error_summary,
    op_types,
    ort_session,
)


def _relu_model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Neg", ["r"], ["y"])]
    graph = helper.make_graph(nodes, "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_op_types_and_session(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(_relu_model().SerializeToString())
    assert op_types(path) == {"Relu": 1, "Neg": 1}
    saved = tmp_path / "opt.onnx"
    session = ort_session(path, level="basic", threads=1, optimized_path=saved)
    out = session.run(None, {"x": torch.tensor([-1.0, 2.0]).numpy()})[0]
    assert out.tolist() == [0.0, -2.0] and saved.is_file()
    with pytest.raises(ValueError, match="level must be one of"):
        ort_session(path, level="max")


def test_error_summary_reads_the_exception_summary():
    err = RuntimeError("\x1b[96mstep 1/3\x1b[0m advice\n\n## Exception summary\n\n"
                       "<class 'pkg.mod.SomeError'>: first line\n- second line\n\n(Refer to ...)")
    assert error_summary(err) == "SomeError: first line\n- second line"
    assert error_summary(err, max_chars=5) == "SomeError: first ..."
    assert error_summary(ValueError("plain\nmore")) == "ValueError: plain"


def test_captured_export_noise_keeps_stderr_and_restores_loggers():
    import logging
    import sys

    log = logging.getLogger("torch.fx.experimental.symbolic_shapes")
    before = log.level
    with captured_export_noise() as buffer:
        print("partial graph", file=sys.stderr)
        assert log.level == logging.ERROR
    assert buffer.getvalue() == "partial graph\n" and log.level == before


def test_named_dim_is_silently_specialised_by_the_onnx_exporter():
    """The page's claim (mistakes section): torch.export rejects a named Dim that the model
    fixes, but torch.onnx.export retries with the suggested fixes and writes a static size."""

    class AddTable(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.table = torch.nn.Parameter(torch.zeros(4, 3))

        def forward(self, x):
            return x + self.table

    shapes = ({0: torch.export.Dim("batch")},)
    with pytest.raises(Exception, match="Constraints violated"):
        torch.export.export(AddTable(), (torch.randn(4, 3),), dynamic_shapes=shapes)
    program = torch.onnx.export(AddTable().eval(), (torch.randn(4, 3),), dynamo=True, verbose=False,
                                dynamic_shapes=shapes)
    dims = program.model_proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == [4, 3]
