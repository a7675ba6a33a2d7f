"""Small tools around ONNX files and ONNX Runtime sessions.

* :func:`op_types`: count the operators of an ONNX model, subgraphs (the branches of
  an ``If``, the body of a ``Loop``) included;
* :func:`ort_session`: an ONNX Runtime CPU session with the two settings the chapter
  varies, the graph optimization level and the number of intra-op threads, and the
  option to save the optimized graph;
* :func:`captured_export_noise`: around an export that is expected to fail, keeps
  what torch prints besides the exception (a partial graph on stderr, a logged
  warning) in a buffer instead of the terminal;
* :func:`error_summary`: the stable part of an exporter error (its class and first
  sentence), without the colour codes and advice the exporter adds around it.

Example:
    >>> import onnx
    >>> from onnx import helper, TensorProto
    >>> node = helper.make_node("Relu", ["x"], ["y"])
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    >>> dict(op_types(helper.make_model(helper.make_graph([node], "g", [x], [y]))))
    {'Relu': 1}
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import onnx
import onnxruntime as ort

__all__ = ["LEVELS", "captured_export_noise", "error_summary", "op_types", "ort_session"]

#: ONNX Runtime's graph optimization levels, from none to all (``GraphOptimizationLevel``).
LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def _graph_op_types(graph: onnx.GraphProto, counts: Counter) -> None:
    for node in graph.node:
        # operators outside the default ONNX domain carry it: "com.microsoft.FusedConv"
        counts[f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type] += 1
        for attr in node.attribute:  # If: then_branch/else_branch; Loop/Scan: body
            if attr.type == onnx.AttributeProto.GRAPH:
                _graph_op_types(attr.g, counts)
            for sub in attr.graphs:
                _graph_op_types(sub, counts)


def op_types(model: onnx.ModelProto | str | Path) -> Counter:
    """Count the operators of an ONNX model by type, including those inside subgraphs.

    Args:
        model: a ``ModelProto`` or the path of an ``.onnx`` file.

    Returns:
        ``Counter({op_type: count})``; an operator of another domain than ONNX's own is
        named with its domain, e.g. ``"com.microsoft.FusedConv"`` (ONNX Runtime's contrib ops).
    """
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model))
    counts: Counter = Counter()
    _graph_op_types(model.graph, counts)
    return counts


def ort_session(path: str | Path, *, level: str = "all", threads: int = 0,
                optimized_path: str | Path | None = None) -> ort.InferenceSession:
    """An ONNX Runtime session on the CPU execution provider.

    Args:
        path: the ``.onnx`` file.
        level: graph optimization level, one of :data:`LEVELS`.
        threads: ``intra_op_num_threads``; 0 lets ONNX Runtime choose (one per physical core).
        optimized_path: if given, ONNX Runtime writes the graph it optimized there
            (``SessionOptions.optimized_model_filepath``).

    Raises:
        ValueError: an unknown ``level``.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {sorted(LEVELS)}, got {level!r}")
    options = ort.SessionOptions()
    options.graph_optimization_level = LEVELS[level]
    options.intra_op_num_threads = threads
    # Level "all" with a saved graph logs a warning (the saved graph holds layout changes for
    # this CPU); ERROR and above only, so the chapter's output stays what the code prints.
    options.log_severity_level = 3
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SUMMARY = re.compile(r"^<class '([\w.]+)'>: (.*?)(?:\n\s*\n|\Z)", re.MULTILINE | re.DOTALL)


def error_summary(err: BaseException, max_chars: int = 160) -> str:
    """The stable part of an exporter error: ``"<Class>: <first line>"``.

    ``torch.onnx.export`` wraps what went wrong in a ``TorchExportError`` or
    ``ConversionError`` whose message starts with advice and holds an
    "Exception summary" paragraph ``<class 'pkg.Class'>: message``; this returns that
    paragraph's class name and message (up to the next blank line, cut at
    ``max_chars``), or the error's own first line when there is no summary.

    Args:
        err: the exception caught.
        max_chars: longest message returned.
    """
    text = _ANSI.sub("", str(err))
    match = _SUMMARY.search(text)
    if match is None:
        name, message = type(err).__name__, text.strip().splitlines()[0] if text.strip() else ""
    else:
        name, message = match.group(1).rsplit(".", 1)[-1], match.group(2)
    message = message.strip()
    if len(message) > max_chars:
        message = message[:max_chars].rstrip() + " ..."
    return f"{name}: {message}"


#: Loggers that report, as warnings, details of an export that then fails anyway.
_NOISY_LOGGERS = ("torch.fx.experimental.symbolic_shapes", "torch._export", "torch.export")


@contextlib.contextmanager
def captured_export_noise() -> Iterator[io.StringIO]:
    """Capture what a failing ``torch.onnx.export`` prints besides its exception.

    When ``torch.export`` fails on data-dependent control flow it prints the partial
    FX graph it had traced to ``sys.stderr`` (``torch/export/_trace.py``, once per
    capture strategy the ONNX exporter tries), and
    ``torch.fx.experimental.symbolic_shapes`` logs a warning. Inside this context both
    go to the yielded buffer instead of the terminal; the exception itself propagates.

    Yields:
        The buffer holding what was printed to stderr.
    """
    buffer = io.StringIO()
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
