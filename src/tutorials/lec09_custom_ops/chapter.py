"""Lecture 9: custom operators and extensions, from Python to kernel launch.

The code of the chapter ``docs/lectures/09-custom-ops.md``, in the order the page
shows it. Run it top to bottom with ``python -m tutorials.lec09_custom_ops.chapter``;
it builds the fused C++ extension (cached under ``TORCH_EXTENSIONS_DIR``) and writes
the chapter's figure into ``lec09/`` under the current directory.
"""

# --8<-- [start:imports]
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from tutorials.lec09_custom_ops.observe import GraphRecorder, op_names, plot_traffic

torch.manual_seed(0)
OUT = Path("lec09")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)
# --8<-- [end:imports]

# --8<-- [start:function_new_style]
K = math.sqrt(2.0 / math.pi)  # GELU's tanh approximation: 0.5 z (1 + tanh(K (z + 0.044715 z^3)))


def gelu_tanh_grad(z: Tensor) -> Tensor:
    """d/dz of F.gelu(z, approximate="tanh"), written with torch ops."""
    t = torch.tanh(K * (z + 0.044715 * z**3))
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * K * (1 + 3 * 0.044715 * z * z)


class BiasGelu(torch.autograd.Function):
    """gelu(x + bias): the first two steps of the chain this chapter fuses."""

    @staticmethod
    def forward(x, bias):  # the new style: forward takes no ctx ...
        return F.gelu(x + bias, approximate="tanh")

    @staticmethod
    def setup_context(ctx, inputs, output):  # ... setup_context fills it
        x, bias = inputs
        ctx.save_for_backward(x, bias)  # tensors: save_for_backward
        ctx.bias_shape = bias.shape  # anything else: a plain attribute

    @staticmethod
    def backward(ctx, grad_out):
        x, bias = ctx.saved_tensors
        grad_z = grad_out * gelu_tanh_grad(x + bias)
        # one gradient per input of forward, None where none is needed
        grad_x = grad_z if ctx.needs_input_grad[0] else None
        grad_b = grad_z.sum_to_size(ctx.bias_shape) if ctx.needs_input_grad[1] else None
        return grad_x, grad_b


x = torch.randn(4, 3, requires_grad=True)
bias = torch.randn(3)  # frozen: needs no gradient
y = BiasGelu.apply(x, bias)  # always .apply, never BiasGelu()(...)
print(type(y.grad_fn).__name__, "is ctx; needs_input_grad =", y.grad_fn.needs_input_grad)
print("saved:", [tuple(t.shape) for t in y.grad_fn.saved_tensors], "bias_shape:", y.grad_fn.bias_shape)
y.sum().backward()
print("x.grad", tuple(x.grad.shape), "| bias.grad", bias.grad)
# --8<-- [end:function_new_style]

# --8<-- [start:function_check]
x64 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
b64 = torch.randn(3, dtype=torch.float64, requires_grad=True)
print("gradcheck:    ", torch.autograd.gradcheck(BiasGelu.apply, (x64, b64)))
print("gradgradcheck:", torch.autograd.gradgradcheck(BiasGelu.apply, (x64, b64)))
print("matches F.gelu:", torch.allclose(BiasGelu.apply(x64, b64), F.gelu(x64 + b64, approximate="tanh")))
# --8<-- [end:function_check]

# --8<-- [start:save_vs_ctx]
class ScaleOnCtx(torch.autograd.Function):
    """y = x * w, keeping w as a plain ctx attribute: no version check."""

    @staticmethod
    def forward(x, w):
        return x * w

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.w = inputs[1]  # wrong for tensors

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out * ctx.w, None


class ScaleSaved(ScaleOnCtx):
    """The same, with save_for_backward."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[1])

    @staticmethod
    def backward(ctx, grad_out):
        (w,) = ctx.saved_tensors  # checked against w's version counter
        return grad_out * w, None


for fn in (ScaleOnCtx, ScaleSaved):
    x = torch.ones(3, requires_grad=True)
    w = torch.full((3,), 2.0)
    out = fn.apply(x, w)
    w.add_(100.0)  # someone changes w in place before backward
    try:
        out.sum().backward()
        print(f"{fn.__name__:10s} x.grad = {x.grad.tolist()}  (should be [2.0, 2.0, 2.0])")
    except RuntimeError as err:
        print(f"{fn.__name__:10s} RuntimeError: {str(err).split(':')[0]}")
# --8<-- [end:save_vs_ctx]

# --8<-- [start:non_differentiable]
class BiasGeluDropout(torch.autograd.Function):
    """dropout(gelu(x + bias)): also returns the mask, which has no gradient."""

    @staticmethod
    def forward(x, bias, p):
        keep = torch.rand_like(x) >= p
        mask = keep.to(x.dtype) / (1 - p)  # 0 or 1/(1-p): a float output
        return F.gelu(x + bias, approximate="tanh") * mask, mask

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, bias, p = inputs
        _, mask = output
        ctx.mark_non_differentiable(mask)  # no grad flows into or out of it
        ctx.save_for_backward(x, bias, mask)
        ctx.bias_shape = bias.shape

    @staticmethod
    def backward(ctx, grad_out, grad_mask):  # one grad per output, grad_mask unused
        x, bias, mask = ctx.saved_tensors
        grad_z = grad_out * mask * gelu_tanh_grad(x + bias)
        grad_b = grad_z.sum_to_size(ctx.bias_shape) if ctx.needs_input_grad[1] else None
        return grad_z, grad_b, None  # p is a float: its gradient is None


x = torch.randn(4, 3, requires_grad=True)
bias = torch.zeros(3, requires_grad=True)
y, mask = BiasGeluDropout.apply(x, bias, 0.5)
print("y.requires_grad", y.requires_grad, "| mask.requires_grad", mask.requires_grad)
print("mask values:", sorted(mask.unique().tolist()))
x64 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
def seeded(x, b):  # the same mask on every call: gradcheck needs a deterministic function
    torch.manual_seed(1)
    return BiasGeluDropout.apply(x, b, 0.5)[0]


print("gradcheck with a fixed mask:", torch.autograd.gradcheck(seeded, (x64, b64)))
# --8<-- [end:non_differentiable]

# --8<-- [start:mark_dirty]
class Dropout_(torch.autograd.Function):
    """In-place dropout: multiplies x by a given mask and returns x itself."""

    @staticmethod
    def forward(x, mask):
        return x.mul_(mask)  # writes into x

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, mask = inputs
        ctx.mark_dirty(x)  # tell autograd x was modified in place
        ctx.save_for_backward(mask)

    @staticmethod
    def backward(ctx, grad_out):
        (mask,) = ctx.saved_tensors
        return grad_out * mask, None


class Dropout_NotDirty(Dropout_):
    """The same without mark_dirty."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[1])


mask = torch.tensor([0.0, 2.0, 2.0])
for fn in (Dropout_, Dropout_NotDirty):
    a = torch.ones(3, requires_grad=True)
    h = a * 1.0  # a non-leaf buffer we may overwrite
    fn.apply(h, mask)
    h.sum().backward()  # use h itself, as in-place code does
    print(f"{fn.__name__:16s} h.grad_fn = {type(h.grad_fn).__name__:22s} a.grad = {a.grad.tolist()}")
try:
    Dropout_.apply(torch.ones(3, requires_grad=True), mask)  # a leaf
except RuntimeError as err:
    print("RuntimeError:", err)
# --8<-- [end:mark_dirty]

# --8<-- [start:once_differentiable]
class BiasGeluOnce(BiasGelu):
    """BiasGelu whose backward computes in NumPy: autograd cannot differentiate it."""

    @staticmethod
    @once_differentiable  # runs backward under no_grad, forbids double backward
    def backward(ctx, grad_out):
        x, bias = ctx.saved_tensors
        z = (x + bias).numpy()
        t = np.tanh(K * (z + 0.044715 * z**3))
        dz = 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * K * (1 + 3 * 0.044715 * z * z)
        grad_z = grad_out * torch.from_numpy(dz)
        return grad_z, grad_z.sum_to_size(ctx.bias_shape)


print("gradcheck:", torch.autograd.gradcheck(BiasGeluOnce.apply, (x64, b64)))
print("gradgradcheck:", torch.autograd.gradgradcheck(BiasGeluOnce.apply, (x64, b64), raise_exception=False))
loss = BiasGeluOnce.apply(x64, b64).pow(2).sum()
(g,) = torch.autograd.grad(loss, x64, create_graph=True)  # a graph for the gradient ...
try:
    g.sum().backward()  # ... that cannot be walked
except RuntimeError as err:
    print("RuntimeError:", err)
# --8<-- [end:once_differentiable]

# --8<-- [start:custom_op]
@torch.library.custom_op("lec09::bias_gelu", mutates_args=())
def bias_gelu(x: Tensor, bias: Tensor) -> Tensor:
    """gelu(x + bias) as an operator: one opaque node to autograd and the compilers."""
    return F.gelu(x + bias, approximate="tanh")  # stands for any kernel: C++, Triton, a library


@bias_gelu.register_fake
def _(x, bias):
    # FakeTensors: the output's shape, dtype and device, computed without data
    return torch.empty(torch.broadcast_shapes(x.shape, bias.shape), dtype=x.dtype, device=x.device)


# register_autograd takes the same setup_context and backward as a Function
bias_gelu.register_autograd(BiasGelu.backward, setup_context=BiasGelu.setup_context)

print(torch.ops.lec09.bias_gelu.default._schema)
print("gradcheck:", torch.autograd.gradcheck(bias_gelu, (x64, b64)))
for args in [(torch.randn(4, 3), torch.randn(3)),
             (torch.randn(2, 5, requires_grad=True), torch.randn(5, requires_grad=True))]:
    print(torch.library.opcheck(bias_gelu, args))
# --8<-- [end:custom_op]

# --8<-- [start:custom_op_compile]
def layer(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    return bias_gelu(x @ w, b)


rec = GraphRecorder()  # a backend like "aot_eager" that keeps the graphs it saw
compiled = torch.compile(layer, backend=rec, fullgraph=True)  # a graph break would raise
xc, wc, bc = (torch.randn(8, 4), torch.randn(4, 3, requires_grad=True), torch.randn(3, requires_grad=True))
compiled(xc, wc, bc).sum().backward()
grads = (wc.grad.clone(), bc.grad.clone())
wc.grad = bc.grad = None
layer(xc, wc, bc).sum().backward()
print("gradients match eager:", all(torch.allclose(a, b) for a, b in zip(grads, (wc.grad, bc.grad))))
print("forward: ", op_names(rec.forward_graphs[0]))
backward_ops = op_names(rec.backward_graphs[0])  # our Python backward, traced into aten ops
print("backward: all aten:", all(n.startswith("aten.") for n in backward_ops),
      "| tanh inside:", "aten.tanh.default" in backward_ops, "| ends with", backward_ops[-2:])
# --8<-- [end:custom_op_compile]

# --8<-- [start:no_fake_export]
@torch.library.custom_op("lec09::gelu_np", mutates_args=(), device_types="cpu")
def gelu_np(x: Tensor) -> Tensor:
    """GELU-tanh in NumPy, registered without a fake kernel."""
    z = x.numpy()
    return torch.from_numpy(0.5 * z * (1 + np.tanh(K * (z + 0.044715 * z**3))))


class Head(torch.nn.Module):
    def forward(self, x):
        return gelu_np(x) * 2


try:
    torch.export.export(Head(), (torch.randn(2, 3),))
except RuntimeError as err:
    print(str(err).split("\n")[0])


@gelu_np.register_fake
def _(x):
    return torch.empty_like(x)


exported = torch.export.export(Head(), (torch.randn(2, 3),))
print(op_names(exported.graph_module))
# --8<-- [end:no_fake_export]

# --8<-- [start:mutates_args]
@torch.library.custom_op("lec09::scale_", mutates_args=("x",))  # names the argument it writes
def scale_(x: Tensor, s: float) -> None:  # an in-place op returns nothing
    x.mul_(s)


@scale_.register_fake
def _(x, s):
    return None


print(torch.ops.lec09.scale_.default._schema)  # Tensor(a0!): written to
h = torch.ones(3)
scale_(h, 2.0)
print(h, torch.library.opcheck(scale_, (torch.ones(3), 2.0))["test_schema"])


def twice(x: Tensor) -> Tensor:
    y = x + 1
    scale_(y, 2.0)
    return y


rec = GraphRecorder()
print(torch.compile(twice, backend=rec, fullgraph=True)(torch.zeros(2)))
print(op_names(rec.forward_graphs[0]))  # functionalized: no in-place op left in the graph

try:
    @torch.library.custom_op("lec09::shift_", mutates_args=("out",))  # no argument called out
    def shift_(x: Tensor) -> None:
        x.add_(1)
except ValueError as err:
    print("ValueError:", str(err).split(". ")[0])
# --8<-- [end:mutates_args]

# --8<-- [start:view_of_input]
@torch.library.custom_op("lec09::first_half", mutates_args=())
def first_half(x: Tensor) -> Tensor:
    return x[: x.shape[0] // 2]  # a view: shares x's storage


try:
    first_half(torch.arange(4.0))
except RuntimeError as err:
    print(str(err).split("): ", 1)[1].split(". ")[0])


@torch.library.custom_op("lec09::first_half_copy", mutates_args=())
def first_half_copy(x: Tensor) -> Tensor:
    return x[: x.shape[0] // 2].clone()  # a new tensor


print(first_half_copy(torch.arange(4.0)))
# --8<-- [end:view_of_input]

# --8<-- [start:load_extension]
from tutorials.lec09_custom_ops.fused import (  # noqa: E402 (the page imports where it first needs them)
    EXTENSION_NAME,
    bias_gelu_dropout,
    keep_mask,
    load_extension,
    reference,
    traffic_per_element,
)

ops = load_extension()  # load_inline: compiles on the first call, later loads from the cache
print(EXTENSION_NAME, "->", ops.bias_gelu_dropout.default._schema)
table = torch._C._dispatch_dump_table("lec09_fused::bias_gelu_dropout")
entries = dict(line.split(": ", 1) for line in table.splitlines())
for key in ("CPU", "Meta", "AutogradCPU", "CUDA"):
    entry = entries.get(key, "")
    origin = ("C++, TORCH_LIBRARY_IMPL in the extension" if EXTENSION_NAME in entry
              else "Python, torch/library.py" if "library.py" in entry else "no kernel")
    print(f"{key:12s} {origin}")
# --8<-- [end:load_extension]

# --8<-- [start:fused_vs_reference]
x = torch.randn(64, 256)
b = torch.randn(256)
y_fused = bias_gelu_dropout(x, b, p=0.1, seed=7)
y_ref = reference(x, b, p=0.1, seed=7)  # eager ops, the same hash mask
keep = keep_mask(64, 256, p=0.1, seed=7)  # the hash mask, computed with torch ops
print("dropped elements are zero:", bool((y_fused[~keep] == 0).all()), "| kept fraction:",
      round(keep.float().mean().item(), 2))
print("allclose (atol 1e-5):", torch.allclose(y_fused, y_ref, atol=1e-5))
xd = torch.randn(8, 16, dtype=torch.float64, requires_grad=True)
bd = torch.randn(16, dtype=torch.float64, requires_grad=True)
print("gradcheck (C++ forward and backward, float64):",
      torch.autograd.gradcheck(lambda x, b: bias_gelu_dropout(x, b, 0.1, 7), (xd, bd)))
print(torch.library.opcheck(ops.bias_gelu_dropout.default, (xd, bd, 0.1, 7, True)))
# --8<-- [end:fused_vs_reference]

# --8<-- [start:fused_compile]
def mlp_block(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    return bias_gelu_dropout(x @ w, b, 0.1, 7)


rec = GraphRecorder()
compiled = torch.compile(mlp_block, backend=rec, fullgraph=True)
wc = torch.randn(32, 16, requires_grad=True)
bc = torch.zeros(16, requires_grad=True)
compiled(torch.randn(4, 32), wc, bc).sum().backward()
print("forward: ", op_names(rec.forward_graphs[0]))
print("backward:", op_names(rec.backward_graphs[0]))
# --8<-- [end:fused_compile]

# --8<-- [start:traffic]
eager, fused = traffic_per_element("eager"), traffic_per_element("fused")  # float32, bool mask
chains = {  # bytes read + written per element, kernel by kernel
    "eager forward": [("x + bias", 8), ("gelu", 8), ("make mask", 1), ("* mask", 9)],
    "fused forward": [("fused kernel", 8)],
    "eager backward": [("grad * mask", 9), ("gelu backward", 12), ("bias grad: sum", 4)],
    "fused backward": [("fused backward", 12), ("bias grad: sum", 4)],
}
for name, kernels in chains.items():  # the breakdown adds up to fused.traffic_per_element
    kind, step = name.split()
    assert sum(n for _, n in kernels) == traffic_per_element(kind)[step]
print(f"forward : eager {eager['forward']} B, fused {fused['forward']} B -> "
      f"{eager['forward'] / fused['forward']:.2f}x less traffic")
step_e, step_f = sum(eager.values()), sum(fused.values())
print(f"training step: eager {step_e} B, fused {step_f} B -> {step_e / step_f:.2f}x less traffic")
print("wrote", plot_traffic(chains, OUT / "memory-traffic.png",
                            title="bias + GELU + dropout: bytes moved per element (float32)"))
# --8<-- [end:traffic]

# --8<-- [start:triton_setup]
import os  # noqa: E402

# triton.jit reads TRITON_INTERPRET when a kernel is *defined*: set it first, and the
# kernels run on CPU tensors, element blocks simulated in NumPy (for correctness, not speed)
os.environ["TRITON_INTERPRET"] = "1"
import triton  # noqa: E402, F401, I001 (the kernel source below uses triton and tl)
import triton.language as tl  # noqa: E402, F401

from tutorials.lec09_custom_ops.fused_triton import DEFAULT_BLOCK  # noqa: E402, F401, I001 (1024)
# --8<-- [end:triton_setup]

# --8<-- [start:triton_check]
from tutorials.lec09_custom_ops.fused_triton import (  # noqa: E402, I001
    FusedBiasGeluDropoutTriton,
    bias_gelu_dropout_triton,
    interpreted,
)

print("kernels interpreted on CPU:", interpreted())
x = torch.randn(33, 100)  # 3300 elements: 4 programs of 1024, the last one partial
b = torch.randn(100)
y_triton = bias_gelu_dropout_triton(x, b, p=0.1, seed=7)
print("dropped elements are zero:", bool((y_triton[~keep_mask(33, 100, 0.1, 7)] == 0).all()))
y_cpp = bias_gelu_dropout(x, b, 0.1, 7)
print("allclose to the C++ kernel (atol 1e-5):", torch.allclose(y_triton, y_cpp, atol=1e-5))
print("allclose to reference (atol 1e-5):", torch.allclose(y_triton, reference(x, b, 0.1, 7), atol=1e-5))
xt, bt = x.clone().requires_grad_(), b.clone().requires_grad_()
FusedBiasGeluDropoutTriton.apply(xt, bt, 0.1, 7).sum().backward()
xr, br = x.clone().requires_grad_(), b.clone().requires_grad_()
reference(xr, br, 0.1, 7).sum().backward()
print("gradients allclose (atol 1e-4):", torch.allclose(xt.grad, xr.grad, atol=1e-4),
      torch.allclose(bt.grad, br.grad, atol=1e-4))
# --8<-- [end:triton_check]

# --8<-- [start:mistake_grad_count]
class BiasGeluOneGrad(BiasGelu):
    @staticmethod
    def backward(ctx, grad_out):
        x, bias = ctx.saved_tensors
        return grad_out * gelu_tanh_grad(x + bias)  # forgot the bias's gradient


try:
    BiasGeluOneGrad.apply(torch.randn(2, 3, requires_grad=True), torch.randn(3)).sum().backward()
except RuntimeError as err:
    print("RuntimeError:", err)
# --8<-- [end:mistake_grad_count]

# --8<-- [start:lab_results]
import json  # noqa: E402

results_file = OUT / "labs" / "lab_9_1_results.json"  # written by the lab's dry run above
if results_file.exists():
    lab = json.loads(results_file.read_text())
    print(f"copy bandwidth {lab['copy_gbs']:.1f} GB/s; {lab['benchmark'][0]['elements']} elements")
    for r in lab["benchmark"]:
        print(f"{r['version']:14s} {r['median us']:8.0f} us {r['bytes/elem']:3d} B/elem "
              f"{r['GB/s']:6.2f} GB/s {r['of copy bw']:5.0%} of copy  {r['speed-up vs eager']:4.2f}x")
else:
    print("run the lab first: python -m tutorials.lec09_custom_ops.lab_09_fused_kernel --dry-run "
          "--device cpu --out-dir lec09/labs")
# --8<-- [end:lab_results]
