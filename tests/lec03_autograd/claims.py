"""What the chapter computes, checked after its last block in the page's own session."""

import math
import re

import torch

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    assert ns["same"] is True, "micro-batch accumulation equals the full batch"
    assert (ns["d"].value, ns["d"].tangent) == (10.0, 13.0), "dual numbers give f and f'"
    assert torch.allclose(ns["J_forward"], ns["J_reverse"])
    assert files_written(workdir, "*.png") == {
        "lec03/backward-graph.png", "lec03/gradient-norms.png"}
    assert "SwishFunction   saves 2 tensor(s), new memory held: 4 MB" in out
    assert "Function 'SqrtBackward0' returned nan values" in out
    # The text explains the printed gradient norms by a factor per hidden layer:
    # default init shrinks by about 1/sqrt(3); sigmoid' <= 1/4; ReLU keeps half.
    factor = {name: (float(first) / float(last)) ** (1 / 8) for name, first, last in
              re.findall(r"(\w+)\s+layer 0: (\S+)\s+layer 8: (\S+)", out)}
    assert abs(factor["Sigmoid"] / (1 / (4 * math.sqrt(3))) - 1) < 0.1, factor
    assert abs(factor["ReLU"] / math.sqrt(1 / 6) - 1) < 0.1, factor
