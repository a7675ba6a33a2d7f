"""Lecture 4: C++ internals, ATen, the c10 dispatcher and custom operators.

The code of the chapter ``docs/lectures/04-dispatcher.md``, in the order the
page shows it. Run it top to bottom with
``python -m tutorials.lec04_dispatcher.chapter``; it writes the chapter's two
figures into ``lec04/`` under the current directory.
"""

# --8<-- [start:imports]
import textwrap
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tutorials.lec04_dispatcher.dispatch import FunctionLog, OpLog, dispatch_keys, kernel_kinds

torch.manual_seed(0)
OUT = Path("lec04")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)
# --8<-- [end:imports]

# --8<-- [start:one_op_two_names]
a = torch.tensor([1.0, 2.0])
b = torch.tensor([10.0, 20.0])

# torch.add is a thin Python binding; the operator itself lives in the
# dispatcher under the name aten::add, overload "Tensor".
op = torch.ops.aten.add.Tensor
print(op._schema)  # the schema, exactly as in native_functions.yaml
print(torch.equal(torch.add(a, b, alpha=2), op(a, b, alpha=2)))
# other overloads of the same name: a Scalar `other`, and the out= variant
print(torch.ops.aten.add.Scalar._schema)
print(torch.ops.aten.add.out._schema)  # Tensor(a!): `out` is written to
# --8<-- [end:one_op_two_names]

# --8<-- [start:keys_of_tensors]
examples = {
    "CPU tensor": torch.ones(2),
    "requires_grad": torch.ones(2, requires_grad=True),
    "int64": torch.ones(2, dtype=torch.int64),
    "meta (no data)": torch.ones(2, device="meta"),
    "sparse COO": torch.ones(2).to_sparse(),
}
with torch.inference_mode():  # tensors made here never need autograd
    examples["inference_mode"] = torch.ones(2)

for name, t in examples.items():
    # highest priority first: the order the dispatcher tries them
    print(f"{name:15s} {dispatch_keys(t)}")
# --8<-- [end:keys_of_tensors]

# --8<-- [start:raw_key_set]
t = torch.ones(2)
print(torch._C._dispatch_keys(t))  # the C++ DispatchKeySet, a 64-bit mask
print(torch._C._dispatch_keys(t).highestPriorityTypeId())
# --8<-- [end:raw_key_set]

# --8<-- [start:autocast_tls]
DK = torch._C.DispatchKey
w = torch.randn(4, 4)


def autocast_excluded():
    # thread-local state: keys the dispatcher must skip on this thread
    return torch._C._dispatch_tls_is_dispatch_key_excluded(DK.AutocastCPU)


print("outside autocast: excluded =", autocast_excluded(),
      "| mm ->", torch.mm(w, w).dtype)
with torch.autocast("cpu", dtype=torch.bfloat16):
    print("inside  autocast: excluded =", autocast_excluded(),
          "| mm ->", torch.mm(w, w).dtype)
    print("keys of w unchanged:", dispatch_keys(w) == dispatch_keys(t))

# AutogradFunctionality: the "autograd" bit shared by AutogradCPU, ...CUDA
autograd_bit = DK.AutogradFunctionality
with torch.no_grad():  # only a grad-mode flag, read by the autograd kernel
    print("no_grad excludes autograd:",
          torch._C._dispatch_tls_is_dispatch_key_excluded(autograd_bit))
with torch.inference_mode():  # takes the autograd keys out of dispatch
    print("inference_mode excludes autograd:",
          torch._C._dispatch_tls_is_dispatch_key_excluded(autograd_bit))
# --8<-- [end:autocast_tls]

# --8<-- [start:dispatch_table]
keys = ["AutocastCPU", "AutogradCPU", "ADInplaceOrView", "CPU", "Meta"]
ops = ["aten::add.Tensor", "aten::add_.Tensor", "aten::mm",
       "aten::view", "aten::linear"]
print(f"{'':18s}" + "".join(f"{k:>16s}" for k in keys))
for name in ops:
    row = kernel_kinds(name, keys)  # what the table holds for each key
    print(f"{name:18s}" + "".join(f"{row[k]:>16s}" for k in keys))
# --8<-- [end:dispatch_table]

# --8<-- [start:trace_forward]
torch.manual_seed(0)
mlp = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
x = torch.randn(2, 3)

# FunctionLog: Python calls, above C++. OpLog: ATen ops, below autograd.
with FunctionLog() as py_log, OpLog() as aten_log:
    loss = mlp(x).pow(2).mean()
print("Python level:", py_log.calls)
print(textwrap.fill("ATen level: " + ", ".join(aten_log.names()), width=78))
# --8<-- [end:trace_forward]

# --8<-- [start:trace_backward]
with OpLog() as backward_log:
    loss.backward()  # the engine runs each node's formula: more ATen ops
short = [name.split(".")[1] for name in backward_log.names()]  # "mm"
print(textwrap.fill(", ".join(short), width=78))
# --8<-- [end:trace_backward]

# --8<-- [start:op_counts_figure]
import matplotlib.pyplot as plt

forward_counts = aten_log.counts()
backward_counts = backward_log.counts()
names = sorted(set(forward_counts) | set(backward_counts),
               key=lambda n: (-forward_counts[n] - backward_counts[n], n))
fig, ax = plt.subplots(figsize=(7, 3.4))
pos = np.arange(len(names))
ax.barh(pos - 0.2, [forward_counts[n] for n in names], 0.4, label="forward")
ax.barh(pos + 0.2, [backward_counts[n] for n in names], 0.4,
        label="backward")
ax.set_yticks(pos, names)
ax.invert_yaxis()  # most frequent op at the top
ax.set_xlabel("calls logged by OpLog (TorchDispatchMode)")
ax.set_title("ATen ops of one MLP training step: Linear-ReLU-Linear, MSE")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "op-counts.png", dpi=110)
total_f, total_b = forward_counts.total(), backward_counts.total()
print(f"forward: {total_f} op calls, backward: {total_b} op calls")
print(f"wrote {OUT / 'op-counts.png'}")
# --8<-- [end:op_counts_figure]

# --8<-- [start:path_of_one_call]
from tutorials.lec04_dispatcher.dispatch import draw_dispatch_path

a = torch.ones(3, requires_grad=True)
b = torch.ones(3)
with FunctionLog() as py_log, OpLog() as aten_log:
    c = torch.add(a, b)
table = kernel_kinds("aten::add.Tensor", dispatch_keys(a))
print(py_log.calls, aten_log.names(), type(c.grad_fn).__name__)
print(table)

steps = [
    ("Python", f"{py_log.calls[0]}(a, b)  (a.requires_grad)", "python"),
    ("__torch_function__", f"FunctionLog saw {py_log.calls[0]}", "observed"),
    ("C++ binding", "parse args -> at::add -> Dispatcher::call", "ran"),
    ("AutocastCPU", f"{table['AutocastCPU']}; excluded outside autocast",
     "skipped"),
    ("AutogradCPU", f"{table['AutogradCPU']}: records "
     f"{type(c.grad_fn).__name__}", "ran"),
    ("ADInplaceOrView", f"{table['ADInplaceOrView']} (not in-place, "
     "not a view)", "skipped"),
    ("Python key", f"OpLog saw {aten_log.names()[0]}", "observed"),
    ("CPU", f"{table['CPU']}: ufunc_add_CPU -> add_stub -> vector loop",
     "ran"),
]
fig = draw_dispatch_path(steps, "The path of torch.add(a, b) on CPU")
fig.savefig(OUT / "dispatch-path.png", dpi=110)
print(f"wrote {OUT / 'dispatch-path.png'}")
# --8<-- [end:path_of_one_call]

# --8<-- [start:saved_fields]
p = torch.randn(3, requires_grad=True)
q = torch.randn(3, requires_grad=True)
nodes = {
    "p * q": (p * q).grad_fn,
    "add(p, q, alpha=2)": torch.add(p, q, alpha=2).grad_fn,
    "relu(p)": p.relu().grad_fn,
}
for expr, node in nodes.items():
    # _saved_* fields: what the formula in derivatives.yaml needs
    saved = [n.removeprefix("_saved_") for n in dir(node)
             if n.startswith("_saved_")]
    print(f"{expr:19s} {node.name():14s} saves {saved}")
print(nodes["add(p, q, alpha=2)"]._saved_alpha)
# --8<-- [end:saved_fields]

# --8<-- [start:matmul_decomposes]
shapes = [((3, 4), (4,)), ((4,), (4,)), ((3, 4), (4, 5)),
          ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5))]
for sa, sb in shapes:
    left, right = torch.randn(sa), torch.randn(sb)
    with OpLog() as log:
        left @ right  # aten::matmul: composite, picks kernels by shape
    ops_run = [n.split(".")[1] for n in log.names()]
    print(f"{str(sa):>10s} @ {str(sb):10s} -> {ops_run}")
# --8<-- [end:matmul_decomposes]

# --8<-- [start:library_low_level]
# The Python mirror of C++'s TORCH_LIBRARY / TORCH_LIBRARY_IMPL macros.
lib = torch.library.Library("lec04", "FRAGMENT")  # add to namespace lec04
lib.define("triple(Tensor x) -> Tensor")          # m.def(schema)
lib.impl("triple", lambda x: x * 3, "CPU")        # m.impl(name, kernel)
lib.impl("triple", lambda x: torch.empty_like(x), "Meta")

print(torch.ops.lec04.triple(torch.ones(2)))
print(torch.ops.lec04.triple(torch.ones(2, device="meta")).shape)
print(kernel_kinds("lec04::triple", ["AutogradCPU", "CPU", "Meta"]))
del lib  # dropping the Library object unregisters everything it added
# --8<-- [end:library_low_level]

# --8<-- [start:custom_op_cpu]
@torch.library.custom_op("lec04::swish", mutates_args=(), device_types="cpu")
def swish(x: Tensor) -> Tensor:
    """X * sigmoid(x), computed by NumPy: code PyTorch cannot look into."""
    xn = x.numpy()
    return torch.from_numpy(xn / (1.0 + np.exp(-xn)))


x = torch.tensor([-1.0, 0.0, 2.0])
print(swish(x), torch.allclose(swish(x), F.silu(x)))
print(torch.ops.lec04.swish.default._schema)  # inferred from the hints
# --8<-- [end:custom_op_cpu]

# --8<-- [start:custom_op_missing]
try:
    swish(torch.empty(3, device="meta"))  # no data, like a FakeTensor
except RuntimeError as err:
    print(str(err).split(". ")[0])
try:
    swish(x.clone().requires_grad_()).sum().backward()
except RuntimeError as err:
    print(str(err).split(". ")[0])
# --8<-- [end:custom_op_missing]

# --8<-- [start:register_fake]
@swish.register_fake
def _(x):
    # runs on FakeTensors: only shapes, dtypes and devices, never data
    return torch.empty_like(x)


print(swish(torch.empty(2, 5, device="meta")).shape)
# --8<-- [end:register_fake]

# --8<-- [start:register_autograd]
def setup_context(ctx, inputs, output):
    (x,) = inputs
    ctx.save_for_backward(x)  # what backward needs, as in Lecture 3


def backward(ctx, grad):
    (x,) = ctx.saved_tensors
    s = torch.sigmoid(x)  # torch ops: differentiable again (double backward)
    return grad * (s + x * s * (1 - s))


swish.register_autograd(backward, setup_context=setup_context)

x64 = torch.randn(5, dtype=torch.float64, requires_grad=True)
print("gradcheck:", torch.autograd.gradcheck(swish, (x64,)))
print(kernel_kinds("lec04::swish", ["AutogradCPU", "CPU", "Meta"]))
# --8<-- [end:register_autograd]

# --8<-- [start:opcheck]
samples = [torch.randn(3), torch.randn(2, 4, requires_grad=True),
           torch.randn(5, dtype=torch.float64, requires_grad=True)]
for sample in samples:
    # checks schema, fake impl vs real, autograd registration, AOT tracing
    result = torch.library.opcheck(swish, (sample,))
    print(tuple(sample.shape), sorted(set(result.values())))
# --8<-- [end:opcheck]

# --8<-- [start:compile]
def block(x: Tensor) -> Tensor:
    return swish(x * 2.0).sum()


# fullgraph=True: any graph break would raise instead of falling back.
# "aot_eager" traces forward and backward with FakeTensors (our fake impl
# and autograd formula), then runs the graphs eagerly: cheap to compile.
compiled = torch.compile(block, backend="aot_eager", fullgraph=True)
xc = torch.randn(4, 3, requires_grad=True)
xe = xc.detach().clone().requires_grad_()
out_c, out_e = compiled(xc), block(xe)
out_c.backward()
out_e.backward()
print("values and gradients match eager:",
      torch.allclose(out_c, out_e) and torch.allclose(xc.grad, xe.grad))
with OpLog() as log:
    block(xe)
print(log.names())  # the op is one opaque node to the dispatcher
# --8<-- [end:compile]

# --8<-- [start:mistake_mutation]
@torch.library.custom_op("lec04::scale_bad", mutates_args=())
def scale_bad(x: Tensor) -> Tensor:
    x.mul_(2)  # writes into its input, but mutates_args=() says it does not
    return x.clone()


@scale_bad.register_fake
def _(x):
    return torch.empty_like(x)


try:
    torch.library.opcheck(scale_bad, (torch.randn(3),))
except Exception as err:  # torch.testing._internal's OpCheckError
    print(str(err).split(" (scroll")[0])
# --8<-- [end:mistake_mutation]

# --8<-- [start:mistake_alias]
@torch.library.custom_op("lec04::passthrough", mutates_args=())
def passthrough(x: Tensor) -> Tensor:
    return x  # must be a new tensor: return x.clone()


try:
    passthrough(torch.randn(3))
except RuntimeError as err:
    print(str(err).split("): ", 1)[1].split(". ")[0])
# --8<-- [end:mistake_alias]

# --8<-- [start:mistake_fake_shape]
@torch.library.custom_op("lec04::row_sum", mutates_args=())
def row_sum(x: Tensor) -> Tensor:
    return x.sum(1)


@row_sum.register_fake
def _(x):
    return torch.empty_like(x)  # wrong: the output has shape (rows,)


try:
    torch.library.opcheck(row_sum, (torch.randn(3, 2),))
except Exception as err:
    print(str(err).split(" (scroll")[0].split("found ")[1])
# --8<-- [end:mistake_fake_shape]
