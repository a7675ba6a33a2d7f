"""What the chapter computes, checked after its last block in the page's own session."""

import importlib.util

import torch
import torch.fx as fx
from torch import nn

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    assert files_written(workdir, "*.png") == {"lec10/net-graph.png", "lec10/node-times.png"}
    # section 2-3: the graph has all six opcodes and ShapeProp filled every node's metadata
    gm = ns["gm"]
    assert {n.op for n in gm.graph.nodes} == {
        "placeholder", "get_attr", "call_module", "call_function", "call_method", "output"}
    assert all("tensor_meta" in n.meta for n in gm.graph.nodes)
    # section 3 (recorded timing): every node was timed; the convolutions dominate a 32x3x64x64 batch
    assert all(len(ts) == 5 for ts in ns["timer"].times.values())
    times = ns["median"]
    assert set(times) == {n.name for n in gm.graph.nodes}
    total = sum(times.values())
    assert (times["conv1"] + times["conv2"]) / total >= 0.5, dict(times)
    assert times["scale"] < times["conv2"] and times["fc"] < times["conv2"], dict(times)
    assert ns["threads"] == torch.get_num_threads()  # the timing block restored the thread count
    # section 4: the rewrites changed the graph and kept (or changed as intended) the function
    gelu_targets = {n.target for n in ns["gelu_gm"].graph.nodes if n.op == "call_function"}
    assert torch.nn.functional.gelu in gelu_targets and torch.nn.functional.relu not in gelu_targets
    assert not any(n.op == "call_module" and n.target == "block" for n in ns["inlined"].graph.nodes)
    # section 6: folding removed both BNs and matches the unfused eval model on a fresh input
    fused_gm, trained = ns["fused_gm"], ns["trained"]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused_gm.modules())
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        assert torch.allclose(fused_gm(x), trained(x), atol=1e-5)
    assert ns["diff"] < 1e-5
    assert ns["wrong"] > 0.05  # the train-mode comparison really differs
    # section 7: the graph break gave two graphs; AOTAutograd gave ATen forward and backward graphs
    assert len(ns["graphs"]) == 2
    assert set(ns["aot_graphs"]) == {"forward", "backward"}
    bw_ops = {str(n.target) for n in ns["aot_graphs"]["backward"].graph.nodes}
    assert "aten.threshold_backward.default" in bw_ops
    # section 8: export's graph is an FX GraphModule of ATen ops
    assert isinstance(ns["ep"].graph_module, fx.GraphModule)
    assert "points to torchao pt2e: True" in out
    # section 8's prose: the PT2E code has left torch (it lives in torchao) in this torch version
    assert importlib.util.find_spec("torch.ao.quantization.quantize_pt2e") is None
    assert importlib.util.find_spec("torch.ao.quantization.quantizer") is None
    # section 7's prose: this page's backend used AOTAutograd's default partitioner, while the
    # aot_eager backend passes the min-cut one (so its graphs may differ from the page's)
    import inspect

    from torch._dynamo.backends import debugging
    from torch._functorch.aot_autograd import aot_module_simplified

    default = inspect.signature(aot_module_simplified).parameters["partition_fn"].default
    assert default.__name__ == "default_partition"
    assert "min_cut_rematerialization_partition" in inspect.getsource(debugging.aot_eager)
