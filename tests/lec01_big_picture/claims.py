"""What the chapter computes, checked after its last block in the page's own session."""


from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    assert ns["report"].ok, ns["report"].format()
    # define-by-run: the graph's size follows the data, one graph per call
    assert min(ns["nodes"]) == 2 and max(ns["nodes"]) > 10
    assert ns["nodes"] == sorted(ns["nodes"], reverse=True), "bigger inputs, fewer doublings"
    assert ns["first"].grad_fn is not ns["second"].grad_fn
    # torch.compile captured the condition and each branch, torch.export one graph
    names = [ns["op_names"](gm) for gm in ns["captured"]]
    assert ["sum", "gt"] in names and ["sin", "mul"] in names and ["cos", "sub"] in names
    assert "torch.ops.higher_order.cond" in ns["program"].graph_module.code
    # the layers: autograd recorded an op called at the ATen level, backward ran ATen ops
    assert type(ns["y"].grad_fn).__name__ == "MulBackward0"
    assert "aten.addmm.default" in ns["fwd"].ops
    assert "aten.gelu_backward.default" in ns["bwd"].ops
    assert files_written(workdir, "*.png") == {
        "lec01/graph-per-input.png", "lec01/layers.png"}
    assert "problems: []" in out
    assert "GuardOnDataDependentSymNode" in out

