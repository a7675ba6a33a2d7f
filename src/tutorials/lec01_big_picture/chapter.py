"""Lecture 1: PyTorch's philosophy and the big picture.

The code of the chapter ``docs/lectures/01-big-picture.md``, in the order the
page shows it. Run it top to bottom with
``python -m tutorials.lec01_big_picture.chapter``; it writes the chapter's two
figures into ``lec01/`` under the current directory.
"""

# --8<-- [start:imports]
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
OUT = Path("lec01")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)
# --8<-- [end:imports]

# --8<-- [start:setup_check]
from tutorials.lec01_big_picture.big_picture import setup_check

# Versions, the device the course will use, and a 64x64 matmul run on it
# and compared with a float64 CPU result.
report = setup_check()
print("problems:", report.problems)
print("torch >= 2.4:", torch.__version__ >= "2.4")  # compares as a version
print("device is cpu or cuda:", report.device.type in {"cpu", "cuda"})
# --8<-- [end:setup_check]

# --8<-- [start:define_by_run]
from tutorials.lec01_big_picture.big_picture import count_graph_nodes


def grow(x):
    """Double x until its norm reaches 10: how often depends on x's values."""
    while x.norm() < 10:  # an ordinary Python loop, decided by the data
        x = x * 2
    return x.sum()


# Two leaves; requires_grad=True makes autograd record what is done to them.
small = torch.full((4,), 0.1, requires_grad=True)  # norm 0.2: 6 doublings
large = torch.full((4,), 3.0, requires_grad=True)  # norm 6.0: 1 doubling
y_small, y_large = grow(small), grow(large)
print("nodes:", count_graph_nodes(y_small), count_graph_nodes(y_large))

node, chain = y_large.grad_fn, []  # walk the (here linear) chain of nodes
while node is not None:
    chain.append(type(node).__name__)
    node = node.next_functions[0][0] if node.next_functions else None
print(" -> ".join(chain))
# --8<-- [end:define_by_run]

# --8<-- [start:fresh_graph]
# Same function, same input, two calls: two separate graphs.
first, second = grow(large), grow(large)
print("same graph object:", first.grad_fn is second.grad_fn)

# backward follows the path that *this* call took: d(sum)/dx = 2**doublings
y_small.backward()
y_large.backward()
print(small.grad, large.grad)
# --8<-- [end:fresh_graph]

# --8<-- [start:nodes_per_input]
import matplotlib.pyplot as plt

norms = torch.logspace(-3, 1.3, 80)  # input norms from 0.001 to ~20
nodes = []
for n in norms:
    x = torch.full((4,), n.item() / 2, requires_grad=True)  # ||x|| = n
    nodes.append(count_graph_nodes(grow(x)))
print("fewest nodes:", min(nodes), " most nodes:", max(nodes))

fig, ax = plt.subplots(figsize=(7, 3.2))
ax.step(norms, nodes, where="post", marker=".")
ax.set_xscale("log")
ax.axvline(10, color="gray", linestyle="--", linewidth=1)
ax.text(9, max(nodes) - 1, "norm >= 10:\nno doubling", fontsize=8,
        ha="right")
ax.set_xlabel("norm of the input x")
ax.set_ylabel("nodes in the backward graph")
ax.set_title("grow(x): one call, one graph, its size decided by the data")
fig.tight_layout()
fig.savefig(OUT / "graph-per-input.png", dpi=110)
print(f"wrote {OUT / 'graph-per-input.png'}")
# --8<-- [end:nodes_per_input]

# --8<-- [start:symbolic_trace]
import torch.fx

# A define-and-run tracer feeds *symbols*, not values, through the code:
# a symbol has no norm to compare with 10, so the loop cannot be decided.
try:
    torch.fx.symbolic_trace(grow)
except torch.fx.proxy.TraceError as err:
    print("TraceError:", err)
# --8<-- [end:symbolic_trace]

# --8<-- [start:eager_errors]
a, b = torch.randn(2, 3), torch.randn(4, 5)
try:
    c = a @ b  # eager: fails right here, on this line, with real shapes
except RuntimeError as err:
    print("RuntimeError:", err)
# --8<-- [end:eager_errors]

# --8<-- [start:explain]
def branchy(x):
    if x.sum() > 0:  # a Python `if` on a tensor's value
        return torch.sin(x) * 2
    return torch.cos(x) - 1


# explain() runs Dynamo's capture and reports, without compiling kernels
explanation = torch._dynamo.explain(branchy)(torch.ones(3))
print("graphs:", explanation.graph_count,
      " graph breaks:", explanation.graph_break_count)
where = explanation.break_reasons[0].user_stack[-1]  # the frame that broke
line = where.lineno - branchy.__code__.co_firstlineno + 1
print(f"the break is in {where.name}, line {line} of its def (the `if`)")
# --8<-- [end:explain]

# --8<-- [start:compile_capture]
captured = []  # every FX graph Dynamo hands to the backend


def recording_backend(gm, example_inputs):
    """A torch.compile backend that keeps the graph and runs it unchanged."""
    captured.append(gm)
    return gm.forward


def op_names(gm):
    # the targets of the graph's calls: functions (torch.sin) or methods ("sum")
    return [getattr(n.target, "__name__", n.target)
            for n in gm.graph.nodes if n.op in ("call_function", "call_method")]


compiled = torch.compile(branchy, backend=recording_backend)
# Capture happens on the first call, and again whenever a guard fails.
for x in [torch.ones(3), -torch.ones(3), 2 * torch.ones(3), torch.ones(5)]:
    same = torch.equal(compiled(x), branchy(x))
    print(f"input {x.tolist()}: graphs so far {len(captured)}, "
          f"same as eager {same}")
print([op_names(gm) for gm in captured])
# --8<-- [end:compile_capture]

# --8<-- [start:fullgraph]
strict = torch.compile(branchy, backend="eager", fullgraph=True)
try:
    strict(torch.ones(3))  # fullgraph=True: a graph break is an error
except torch._dynamo.exc.Unsupported as err:
    lines = str(err).splitlines()
    print(lines[0])
    print(lines[1].strip())
# --8<-- [end:fullgraph]

# --8<-- [start:export_fails]
class Branchy(nn.Module):
    def forward(self, x):
        return branchy(x)


try:  # export traces with symbolic values: x.sum() > 0 has no value yet
    torch.export.export(Branchy(), (torch.ones(3),))
except Exception as err:  # a GuardOnDataDependentSymNode error
    print(type(err).__name__)
    # the first line, without the details that vary between versions
    print(str(err).splitlines()[0].split(" (unhinted")[0])
# --8<-- [end:export_fails]

# --8<-- [start:export_cond]
class BranchyCond(nn.Module):
    def forward(self, x):
        # torch.cond puts *both* branches in the graph, chosen at run time
        return torch.cond(x.sum() > 0,
                          lambda x: torch.sin(x) * 2,
                          lambda x: torch.cos(x) - 1,
                          (x,))


program = torch.export.export(BranchyCond(), (torch.ones(3),))
print(program.graph_module.code.strip())  # the top graph: condition + cond
# each branch is a subgraph of its own
print(program.graph_module.true_graph_0.code.strip())
runnable = program.module()  # an nn.Module running the exported graph
# the same answers as eager, on both sides of the condition
print(all(torch.allclose(runnable(x), branchy(x))
          for x in [torch.ones(3), -torch.ones(3)]))
# --8<-- [end:export_cond]

# --8<-- [start:python_layer]
import inspect

site = Path(torch.__file__).parent.parent  # where the torch package lives


def source_of(obj):
    """The file defining obj, relative to site-packages."""
    return Path(inspect.getsourcefile(obj)).relative_to(site).as_posix()


print(source_of(nn.Linear))  # Python: nn.Linear.forward calls F.linear
print(source_of(F.softmax))  # Python wrapper around tensor.softmax
print(type(F.linear).__name__, F.linear.__module__)  # C++, bound to Python
# --8<-- [end:python_layer]

# --8<-- [start:dispatch_keys]
t = torch.ones(3)
# _dispatch_keys is private: fine for looking, not for code you ship.
print(torch._C._dispatch_keys(t))  # the dispatcher's routing keys
print(torch._C._dispatch_keys(torch.ones(3, device="meta")))

add = torch.ops.aten.add.Tensor  # one ATen operator overload
print(add._schema)  # as written in native_functions.yaml
print(torch.equal(add(t, t), t + t))  # `t + t` lands on this very operator
# --8<-- [end:dispatch_keys]

# --8<-- [start:aten_log]
from torch.utils._python_dispatch import TorchDispatchMode


class AtenLog(TorchDispatchMode):
    """Record every ATen operator that reaches the dispatcher's Python mode."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))  # e.g. "aten.addmm.default"
        return func(*args, **(kwargs or {}))


layer, inputs = nn.Linear(3, 2), torch.ones(4, 3)
with AtenLog() as fwd:
    loss = F.gelu(layer(inputs)).sum()
with AtenLog() as bwd:
    loss.backward()  # autograd's backward formulas call ATen ops too
print("forward: ", fwd.ops)
print("backward:", bwd.ops[:5], "...", len(bwd.ops), "ops")
# --8<-- [end:aten_log]

# --8<-- [start:autograd_layer]
x = torch.ones(2, requires_grad=True)
# Called straight at the ATen level, the op is still recorded for backward:
# autograd is a dispatcher layer (key AutogradCPU), not part of the Python API.
y = torch.ops.aten.mul.Tensor(x, x)
print(type(y.grad_fn).__name__)
with torch.no_grad():  # the autograd kernel still runs, but records nothing
    print(torch.ops.aten.mul.Tensor(x, x).grad_fn)
# --8<-- [end:autograd_layer]

# --8<-- [start:layer_diagram]
from tutorials.lec01_big_picture.big_picture import draw_layer_diagram

keys = str(torch._C._dispatch_keys(t)).removeprefix("DispatchKeySet")
aten = [op.removesuffix(".default") for op in fwd.ops]  # aten.t, ...
fig = draw_layer_diagram([
    ("Python API", "torch.add, nn.Linear, F.gelu\n"
                   f"{source_of(nn.Linear)}"),
    ("Graph capture", "torch.compile (Dynamo): FX graphs of torch calls\n"
                      "torch.export: one graph of ATen operators"),
    ("Dispatcher", f"keys of a CPU tensor:\n{keys}"),
    ("Autograd", f"records {type(y.grad_fn).__name__} at key AutogradCPU\n"
                 f"backward runs ATen ops: {bwd.ops[2]}"),
    ("ATen kernels", f"Linear+gelu: {', '.join(aten[:3])}\n"
                     "one kernel per backend: CPU, CUDA, Meta, ..."),
    ("c10", "TensorImpl, storage, dtypes, devices, DispatchKey"),
], title="PyTorch's layers, as observed from Python in this chapter")
fig.savefig(OUT / "layers.png", dpi=110)
print(f"wrote {OUT / 'layers.png'}")
# --8<-- [end:layer_diagram]

# --8<-- [start:where_things_live]
import torch._dynamo.eval_frame
import torch.export

# Modules and functions know their file; open them in your editor.
for obj in (torch._dynamo.eval_frame, torch.export, TorchDispatchMode,
            torch.autograd.backward):
    print(source_of(obj))
# --8<-- [end:where_things_live]

# --8<-- [start:mistake_version_strings]
from torch.torch_version import TorchVersion

print("2.10.0" >= "2.9")  # plain strings: compared letter by letter
print(TorchVersion("2.10.0") >= "2.9")  # what torch.__version__ is
# --8<-- [end:mistake_version_strings]

# --8<-- [start:mistake_item]
def normalize(x):
    scale = x.abs().max().item()  # .item() leaves the graph: a Python float
    return x / scale


# explain() still runs normalize; the break splits it into two graphs
explanation = torch._dynamo.explain(normalize)(torch.randn(8))
print("graphs:", explanation.graph_count,
      " graph breaks:", explanation.graph_break_count)
print(str(explanation.break_reasons[0].reason).splitlines()[0])
# --8<-- [end:mistake_item]
