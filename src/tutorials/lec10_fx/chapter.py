"""Lecture 10: FX, rewriting and transforming graphs.

The code of the chapter ``docs/lectures/10-fx.md``, in the order the page shows it.
Run it top to bottom with ``python -m tutorials.lec10_fx.chapter``; it writes the
chapter's figure into ``lec10/`` under the current directory.
"""

# --8<-- [start:imports]
import time
from collections import Counter
from pathlib import Path

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
OUT = Path("lec10")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)


class Net(nn.Module):
    """Two conv-BN pairs, a residual add, a learned scale and a linear head."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(8)
        self.scale = nn.Parameter(torch.tensor(0.5))
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(x))
        x = F.relu(x + y * self.scale)
        x = x.mean(dim=(2, 3))  # global average pool
        return self.fc(x)


model = Net().eval()
x = torch.randn(2, 3, 16, 16)
# --8<-- [end:imports]

# --8<-- [start:trace]
gm = fx.symbolic_trace(model)  # runs forward once with Proxy objects
print(type(gm).__name__, "| same result:", torch.equal(gm(x), model(x)))
print(gm.code.strip())
# --8<-- [end:trace]

# --8<-- [start:nodes]
for node in gm.graph.nodes:
    target = node.target if isinstance(node.target, str) else node.target.__name__
    users = [u.name for u in node.users]
    print(f"{node.op:13s} {node.name:8s} {target:12s} args={node.args} users={users}")
# --8<-- [end:nodes]

# --8<-- [start:draw]
from tutorials.lec10_fx.drawing import draw_fx_graph

path = draw_fx_graph(gm.graph, OUT / "net-graph.png",
                     title="symbolic_trace(Net()): the FX graph, coloured by Node.op")
print(f"{len(gm.graph.nodes)} nodes; wrote {path}")
# --8<-- [end:draw]

# --8<-- [start:edit]
gm2 = fx.symbolic_trace(model)
for node in gm2.graph.nodes:
    if node.op == "call_function" and node.target is F.relu:
        node.target = torch.sigmoid  # point the node at another function
        node.kwargs = {}  # F.relu had inplace=False; sigmoid takes no such argument
gm2.graph.lint()  # checks the graph's invariants (order, users, targets)
gm2.recompile()  # regenerates gm2.code and gm2.forward from the graph
print([line.strip() for line in gm2.code.splitlines() if "sigmoid" in line])
print("result changed:", not torch.allclose(gm2(x), gm(x)))
# --8<-- [end:edit]

# --8<-- [start:insert]
gm3 = fx.symbolic_trace(model)
out_node = next(n for n in gm3.graph.nodes if n.op == "output")
fc_node = out_node.args[0]
with gm3.graph.inserting_after(fc_node):
    # a new node that clamps the logits; it must be created *after* fc_node
    clamped = gm3.graph.call_function(torch.clamp, (fc_node,), {"min": -1.0, "max": 1.0})
fc_node.replace_all_uses_with(clamped, delete_user_cb=lambda user: user is not clamped)
gm3.graph.lint()
gm3.recompile()
print(gm3.code.strip().splitlines()[-3:])
print(bool(gm3(x).abs().max() <= 1.0))
# --8<-- [end:insert]

# --8<-- [start:shape_prop]
from torch.fx.passes.shape_prop import ShapeProp

ShapeProp(gm).propagate(x)  # runs the graph once and stores a TensorMetadata per node
for node in gm.graph.nodes:
    meta = node.meta.get("tensor_meta")
    if meta is not None:
        print(f"{node.name:8s} {tuple(meta.shape)} {meta.dtype}")
# --8<-- [end:shape_prop]

# --8<-- [start:interpreter]
class ShapeLogger(fx.Interpreter):
    """Runs the graph node by node and logs each node's output shape."""

    def __init__(self, module):
        super().__init__(module)
        self.log = []

    def run_node(self, n):
        result = super().run_node(n)  # the default: dispatch on n.op
        if isinstance(result, torch.Tensor):
            self.log.append((n.name, tuple(result.shape)))
        return result


logger = ShapeLogger(gm)
print(torch.equal(logger.run(x), model(x)), len(logger.log), "tensors logged")
print(logger.log[:3])
# --8<-- [end:interpreter]

# --8<-- [start:timing]
class NodeTimer(fx.Interpreter):
    """Times every node, once per run of the graph."""

    def __init__(self, module):
        super().__init__(module)
        self.times = {}  # node name -> list of seconds, one per run

    def run_node(self, n):
        start = time.perf_counter()
        result = super().run_node(n)
        self.times.setdefault(n.name, []).append(time.perf_counter() - start)
        return result


big = torch.randn(32, 3, 64, 64)
timer = NodeTimer(gm)
threads = torch.get_num_threads()
torch.set_num_threads(1)  # one thread: each time is the node's own work, not waiting for threads
with torch.no_grad():
    for _ in range(5):
        timer.run(big)
torch.set_num_threads(threads)
median = {name: sorted(ts)[len(ts) // 2] for name, ts in timer.times.items()}
total = sum(median.values())
for name in ("conv1", "bn1", "conv2", "bn2", "scale", "fc"):
    print(f"{name:6s} {1e3 * median[name]:7.3f} ms  {100 * median[name] / total:5.1f}%")
print(f"all {len(median)} nodes: {1e3 * total:.3f} ms (sum of the medians of 5 runs)")
# --8<-- [end:timing]

# --8<-- [start:timing_figure]
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

names = [n.name for n in gm.graph.nodes if n.op not in ("placeholder", "output")]
colours = ["#4c72b0" if n.startswith("conv") else "#dd8452" if n.startswith("bn") else "#8c8c8c"
           for n in names]
fig, ax = plt.subplots(figsize=(7, 3.6))
ax.barh(names, [1e3 * median[n] for n in names], color=colours)
ax.invert_yaxis()  # graph order, top to bottom
ax.set_xlabel("median time per run (ms), NodeTimer over 5 runs")
ax.set_title("Per-node time of Net on a 32x3x64x64 batch (one CPU run)")
fig.tight_layout()
fig.savefig(OUT / "node-times.png", dpi=110)
plt.close(fig)
print(f"wrote {OUT / 'node-times.png'}")
# --8<-- [end:timing_figure]

# --8<-- [start:transformer]
class SwapReLU(fx.Transformer):
    """Re-traces the graph, replacing every ReLU (module or function) by `act`."""

    def __init__(self, module, act):
        super().__init__(module)
        self.act = act

    def call_module(self, target, args, kwargs):
        if isinstance(self.submodules[target], nn.ReLU):
            return self.tracer.create_proxy("call_function", self.act, args, {})
        return super().call_module(target, args, kwargs)

    def call_function(self, target, args, kwargs):
        if target is F.relu:
            return self.tracer.create_proxy("call_function", self.act, args, {})
        return super().call_function(target, args, kwargs)


gelu_gm = SwapReLU(gm, F.gelu).transform()  # a new GraphModule; gm is unchanged
calls = Counter(n.target.__name__ for n in gelu_gm.graph.nodes if n.op == "call_function")
print(sorted(calls.items()))


def gelu_net(m, x):  # Net.forward written again with GELU, to compare with
    x = F.gelu(m.bn1(m.conv1(x)))
    y = m.bn2(m.conv2(x))
    return m.fc(F.gelu(x + y * m.scale).mean(dim=(2, 3)))


print(torch.allclose(gelu_gm(x), gelu_net(model, x), atol=1e-6))
# --8<-- [end:transformer]

# --8<-- [start:inline]
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return torch.tanh(self.lin(x)) + x


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.block(x))


class KeepBlocks(fx.Tracer):
    def is_leaf_module(self, m, qualname):  # a leaf is recorded as one call_module node
        return isinstance(m, Block) or super().is_leaf_module(m, qualname)


outer = Outer()
leafy = fx.GraphModule(outer, KeepBlocks().trace(outer))
print([n.target for n in leafy.graph.nodes if n.op == "call_module"])


def inline_submodule(gm, node):
    """Replace a call_module node by the traced graph of the module it calls."""
    sub = fx.symbolic_trace(gm.get_submodule(node.target))
    inputs = [n for n in sub.graph.nodes if n.op == "placeholder"]
    env = dict(zip(inputs, node.args))  # the submodule's inputs are the node's args
    with gm.graph.inserting_before(node):
        for n in sub.graph.nodes:
            if n.op == "placeholder":
                continue
            if n.op == "output":
                node.replace_all_uses_with(env[n.args[0]])
                break
            new = gm.graph.node_copy(n, lambda a: env[a])
            if n.op in ("call_module", "get_attr"):  # prefix the submodule's path
                new.target = f"{node.target}.{n.target}"
            env[n] = new
    gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    return gm


block_node = next(n for n in leafy.graph.nodes if n.target == "block")
inlined = inline_submodule(leafy, block_node)
print([n.target if isinstance(n.target, str) else n.target.__name__
       for n in inlined.graph.nodes if n.op.startswith("call")])
xb = torch.randn(3, 4)
print(torch.equal(inlined(xb), outer(xb)))
# --8<-- [end:inline]

# --8<-- [start:replace_pattern]
from torch.fx import subgraph_rewriter


def swish_by_hand(x):
    return x * torch.sigmoid(x)


class Head(nn.Module):
    def forward(self, x):
        h = x * torch.sigmoid(x)  # SiLU written out
        return h * torch.sigmoid(h) + 1


def pattern(x):
    return x * torch.sigmoid(x)


def replacement(x):
    return F.silu(x)


head = fx.symbolic_trace(Head())
matches = subgraph_rewriter.replace_pattern(head, pattern, replacement)
print(len(matches), "matches replaced")
print(head.code.strip())
xs = torch.randn(5)
print(torch.allclose(head(xs), Head()(xs)))
# --8<-- [end:replace_pattern]

# --8<-- [start:control_flow]
class Gate(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # depends on the *values* of x
            return x.relu()
        return x.sigmoid()


try:
    fx.symbolic_trace(Gate())
except fx.proxy.TraceError as err:
    print("TraceError:", err)
# --8<-- [end:control_flow]

# --8<-- [start:concrete_args]
def scaled(x, double):
    return x * 2 if double else x  # depends on a Python flag, not on tensor values


doubled = fx.symbolic_trace(scaled, concrete_args={"double": True})
print([n.op for n in doubled.graph.nodes])
print(doubled(torch.ones(2), True))
try:
    doubled(torch.ones(2), False)
except AssertionError as err:  # the specialisation is checked at run time
    print("AssertionError:", err)
# --8<-- [end:concrete_args]

# --8<-- [start:wrap]
@fx.wrap  # at module level: calls are recorded as one call_function node
def clip_if_large(x):
    if x.abs().max() > 10:  # fine here: this code is not traced
        return x.clamp(-10, 10)
    return x


def uses_wrapped(x):
    return clip_if_large(x * 100) + 1


wrapped = fx.symbolic_trace(uses_wrapped)
print([n.target.__name__ for n in wrapped.graph.nodes if n.op == "call_function"])
print(wrapped(torch.tensor([0.5, -0.01])))
# --8<-- [end:wrap]

# --8<-- [start:fold]
def fold_conv_bn(gm):
    """Fold each BatchNorm2d that follows a Conv2d into the conv's weight and bias (eval mode)."""
    modules = dict(gm.named_modules())
    folded = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], nn.BatchNorm2d):
            continue
        conv_node = node.args[0]
        if not (isinstance(conv_node, fx.Node) and conv_node.op == "call_module"
                and isinstance(modules[conv_node.target], nn.Conv2d)
                and len(conv_node.users) == 1):  # the conv output must feed the BN only
            continue
        conv, bn = modules[conv_node.target], modules[node.target]
        if not bn.track_running_stats:  # such a BN uses batch statistics even in eval mode
            continue
        assert not (conv.training or bn.training), "fold_conv_bn: call model.eval() first"
        # bn(y) = (y - mean) / sqrt(var + eps) * gamma + beta, one scale per channel
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                          conv.padding, conv.dilation, conv.groups, bias=True,
                          padding_mode=conv.padding_mode)
        with torch.no_grad():
            fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
            bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
        fused.eval()
        gm.add_submodule(conv_node.target, fused)  # replaces the old conv
        node.replace_all_uses_with(conv_node)  # the BN's users now read the conv
        gm.graph.erase_node(node)
        folded += 1
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return folded


# give the BNs non-trivial statistics: a few training-mode passes, then eval
trained = Net()
with torch.no_grad():
    for _ in range(3):
        trained.train()(torch.randn(8, 3, 16, 16) * 2 + 1)
trained.eval()
fused_gm = fx.symbolic_trace(trained)
print("folded pairs:", fold_conv_bn(fused_gm))
print([n.target for n in fused_gm.graph.nodes if n.op == "call_module"])
diff = (fused_gm(x) - trained(x)).abs().max().item()
print(f"allclose(atol=1e-5): {torch.allclose(fused_gm(x), trained(x), atol=1e-5)}, "
      f"max abs diff {diff:.4f}")
# --8<-- [end:fold]

# --8<-- [start:fuse_library]
from torch.fx.experimental.optimization import fuse
from torch.nn.utils.fusion import fuse_conv_bn_eval

library_fused = fuse(trained)  # symbolic_trace + the same pattern match, on a copy
print([n.target for n in library_fused.graph.nodes if n.op == "call_module"])
print(torch.allclose(library_fused(x), fused_gm(x), atol=1e-6))
conv1 = fuse_conv_bn_eval(trained.conv1, trained.bn1)  # one pair, no graph
print(torch.allclose(conv1.weight, fused_gm.conv1.weight, atol=1e-6))
# --8<-- [end:fuse_library]

# --8<-- [start:train_mode]
train_model = Net()
train_model.load_state_dict(trained.state_dict())
train_model.train()  # the mistake: BN normalises with the *batch's* statistics
batch = torch.randn(8, 3, 16, 16) * 2 + 1
try:
    fold_conv_bn(fx.symbolic_trace(train_model))
except AssertionError as err:
    print("AssertionError:", err)
try:
    fuse_conv_bn_eval(train_model.conv1, train_model.bn1)
except AssertionError as err:
    print("AssertionError:", err)
# the folded (running-statistics) model against the training-mode one:
with torch.no_grad():
    wrong = (fused_gm(batch) - train_model(batch)).abs().max().item()
print(f"folded vs train-mode outputs: max abs diff > 0.05: {wrong > 0.05}")
# --8<-- [end:train_mode]

# --8<-- [start:backend]
import torch._dynamo

graphs = []


def inspecting_backend(gm, example_inputs):
    """A torch.compile backend: receives an FX GraphModule, returns a callable."""
    graphs.append(gm)
    ops = Counter(n.op for n in gm.graph.nodes)
    print(f"graph {len(graphs)}: {len(example_inputs)} inputs, {dict(sorted(ops.items()))}")
    return gm.forward  # run the graph as it is (what backend="eager" does)


def mlp(x, w1, w2):
    return torch.relu(x @ w1).sin() @ w2


torch._dynamo.reset()
compiled = torch.compile(mlp, backend=inspecting_backend)
w1, w2 = torch.randn(4, 8), torch.randn(8, 2)
xm = torch.randn(3, 4)
print(torch.allclose(compiled(xm, w1, w2), mlp(xm, w1, w2)))
print([n.target.__name__ for n in graphs[0].graph.nodes if n.op == "call_function"])
# --8<-- [end:backend]

# --8<-- [start:graph_break]
def chatty(x):
    y = torch.relu(x) * 2
    print("  (a print inside the model)")  # Dynamo cannot put print in a graph
    return y.sin() + 1


graphs.clear()
torch._dynamo.reset()
torch.compile(chatty, backend=inspecting_backend)(torch.randn(3))
explained = torch._dynamo.explain(chatty)(torch.randn(3))
print("graphs:", explained.graph_count, "| graph breaks:", explained.graph_break_count)
print("print" in explained.break_reasons[0].reason)
# --8<-- [end:graph_break]

# --8<-- [start:aot]
from torch._functorch.aot_autograd import aot_module_simplified, make_boxed_func

aot_graphs = {}


def recording_compiler(kind):
    def compiler(gm, example_inputs):
        aot_graphs[kind] = gm  # an FX graph of ATen ops
        return make_boxed_func(gm.forward)
    return compiler


def aot_backend(gm, example_inputs):
    return aot_module_simplified(gm, example_inputs,
                                 fw_compiler=recording_compiler("forward"),
                                 bw_compiler=recording_compiler("backward"))


torch._dynamo.reset()
net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
torch.compile(net, backend=aot_backend)(xm).sum().backward()
for kind, g in aot_graphs.items():
    ops = [str(n.target) for n in g.graph.nodes if n.op == "call_function"]
    print(f"{kind:8s} {len(ops)} ops, distinct: {sorted(set(ops))}")
fw_out = next(n for n in aot_graphs["forward"].graph.nodes if n.op == "output")
print("forward returns", len(fw_out.args[0]), "values: the output + what backward needs")
# --8<-- [end:aot]

# --8<-- [start:export]
ep = torch.export.export(trained, (x,))
print(type(ep.graph_module).__name__, isinstance(ep.graph_module, fx.GraphModule))
aten = Counter(str(n.target) for n in ep.graph.nodes if n.op == "call_function")
print(sorted(aten))
print(Counter(n.op for n in fx.symbolic_trace(trained).graph.nodes)["call_module"], "call_module nodes "
      "in symbolic_trace,", Counter(n.op for n in ep.graph.nodes)["call_module"], "in export")
# --8<-- [end:export]

# --8<-- [start:quantization]
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # in case this torch version warns on import
    from torch.ao.quantization import quantize_fx

notice = getattr(quantize_fx.prepare_fx, "__deprecated__", "")  # set by @deprecated
print((notice or "no deprecation notice").splitlines()[0].strip())
print("points to torchao pt2e:", "prepare_pt2e" in notice and "torchao" in notice)
# --8<-- [end:quantization]

# --8<-- [start:mistake_recompile]
stale = fx.symbolic_trace(Head())
for node in stale.graph.nodes:
    if node.target is torch.sigmoid:
        node.target = torch.tanh
# forgot recompile(): forward is still the code generated from the old graph
print("still computes sigmoid:", torch.allclose(stale(xs), Head()(xs)))
stale.recompile()
print("after recompile():", torch.allclose(stale(xs), Head()(xs)))
# --8<-- [end:mistake_recompile]

# --8<-- [start:mistake_erase]
g = fx.symbolic_trace(model)
bn_node = next(n for n in g.graph.nodes if n.target == "bn1")
try:
    g.graph.erase_node(bn_node)  # relu still reads it
except RuntimeError as err:
    print("RuntimeError:", err)
# --8<-- [end:mistake_erase]

# --8<-- [start:mistake_lint]
g = fx.symbolic_trace(model)
fc_node = next(n for n in g.graph.nodes if n.target == "fc")
first = next(iter(g.graph.nodes))
with g.graph.inserting_after(first):  # too early: fc_node is defined much later
    bad = g.graph.call_function(torch.neg, (fc_node,))
try:
    g.graph.lint()
except RuntimeError as err:
    print("RuntimeError:", str(err).splitlines()[0])
# --8<-- [end:mistake_lint]
