"""Lecture 3: the autograd engine, in-place operations and gradient mechanics.

The code of the chapter ``docs/lectures/03-autograd.md``, in the order the page shows
it. Run it top to bottom with ``python -m tutorials.lec03_autograd.chapter``; it
writes the chapter's two figures into ``lec03/`` under the current directory.
"""

# --8<-- [start:imports]
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

torch.manual_seed(0)
OUT = Path("lec03")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)
# --8<-- [end:imports]

# --8<-- [start:graph_on_the_fly]
# A leaf is a tensor you create; requires_grad=True asks autograd to track it.
x = torch.tensor(2.0, requires_grad=True)
w = torch.tensor([1.0, -0.5], requires_grad=True)
b = torch.tensor(0.5, requires_grad=True)

# Running the expression *is* building the graph: each op appends a node.
u = (w * x).sum() + b          # u = x * (w0 + w1) + b = 1.5
y = torch.tanh(u) * x

print(type(y.grad_fn).__name__)  # the op that made y
# the nodes of y's inputs, one per input (None for inputs without grad)
print([type(f).__name__ for f, _ in y.grad_fn.next_functions])
# --8<-- [end:graph_on_the_fly]

# --8<-- [start:backward]
y.backward()  # one reverse pass fills .grad of every leaf that needs it

# Check dy/dx by hand: y = tanh(u) * x and du/dx = w0 + w1.
with torch.no_grad():
    t = torch.tanh(u)
    dy_dx = t + x * (1 - t**2) * w.sum()
print(f"x.grad = {x.grad.item():.6f}   by hand = {dy_dx.item():.6f}")
print(f"w.grad = {w.grad}   b.grad = {b.grad.item():.4f}")
# --8<-- [end:backward]

# --8<-- [start:draw_graph]
from tutorials.lec03_autograd.autograd_graph import draw_backward_graph

# A fresh graph: backward() freed the saved tensors of the previous one.
y = torch.tanh((w * x).sum() + b) * x
fig = draw_backward_graph(y, names={"x": x, "w": w, "b": b})
fig.savefig(OUT / "backward-graph.png", dpi=110)
print(f"wrote {OUT / 'backward-graph.png'}")
# --8<-- [end:draw_graph]

# --8<-- [start:leaves]
a = torch.randn(3, requires_grad=True)  # leaf
h = a * 2                               # non-leaf: the result of an op
h.retain_grad()  # keep h.grad too (non-leaves drop it by default)
out = h.pow(2).sum()
out.backward()

print(a.is_leaf, h.is_leaf, out.is_leaf)
print(type(h.grad_fn.next_functions[0][0]).__name__)  # the node writing a.grad
print(torch.allclose(a.grad, 8 * a), torch.allclose(h.grad, 2 * h))

c = torch.randn(3)  # no requires_grad: a leaf that autograd ignores
print(c.is_leaf, c.requires_grad, (c * 2).requires_grad)
# --8<-- [end:leaves]

# --8<-- [start:grad_accumulates]
p = torch.tensor(3.0, requires_grad=True)
for step in range(3):
    loss = p**2      # d(loss)/dp = 2p = 6 at every step...
    loss.backward()  # ...but backward *adds* into p.grad
    print(f"step {step}: p.grad = {p.grad.item()}")

p.grad = None  # what optimizer.zero_grad() does to every parameter
# --8<-- [end:grad_accumulates]

# --8<-- [start:inplace_leaf]
leaf = torch.ones(3, requires_grad=True)
try:
    leaf += 1  # would overwrite the value autograd tracks from
except RuntimeError as err:
    print("RuntimeError:", err)

with torch.no_grad():  # how optimizers update parameters: outside the graph
    leaf += 1
print(leaf)
# --8<-- [end:inplace_leaf]

# --8<-- [start:version_counter]
z = torch.tensor([0.0, 1.0, 2.0], requires_grad=True)
s = torch.sigmoid(z)  # saves its *output* s for backward: σ'(z) = s * (1 - s)
print("version before:", s._version)
s.mul_(2)             # in-place: s now holds 2σ(z), its version is bumped
print("version after: ", s._version)
try:
    s.sum().backward()
except RuntimeError as err:
    print(str(err).split(" Hint:")[0])
# --8<-- [end:version_counter]

# --8<-- [start:inplace_ok]
s = torch.sigmoid(z) * 2  # the fix: out-of-place, the saved s is untouched
s.sum().backward()
print(z.grad)

z.grad = None
t = z * 3  # times a constant: backward needs neither z nor t...
t.add_(1)  # ...so this in-place op is safe (and saves a copy)
t.sum().backward()
print(z.grad)
# --8<-- [end:inplace_ok]

# --8<-- [start:retain_graph]
q = torch.tensor([1.0, 2.0], requires_grad=True)
r = q.exp().sum()
r.backward(retain_graph=True)  # keep the saved tensors for another pass
r.backward()                   # second pass works; gradients add up: 2 * exp(q)
print(q.grad)
try:
    r.backward()  # the last pass freed the saved tensors
except RuntimeError as err:
    print(str(err).split(" Saved intermediate")[0])
# --8<-- [end:retain_graph]

# --8<-- [start:higher_order]
x = torch.tensor(1.0, requires_grad=True)
y = x**3
# create_graph=True records the backward pass itself, so we can differentiate it
(dy_dx,) = torch.autograd.grad(y, x, create_graph=True)   # 3x^2 = 3
(d2y_dx2,) = torch.autograd.grad(dy_dx, x)                # 6x   = 6
print(dy_dx.item(), d2y_dx2.item())
# --8<-- [end:higher_order]

# --8<-- [start:tensor_hooks]
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
h = x * x
h.register_hook(lambda g: print("gradient arriving at h:", g))  # inspect
# modify: the hook's return value replaces the gradient
handle = x.register_hook(lambda g: g.clamp(max=3.0))
h.sum().backward()
print("x.grad:", x.grad)  # 2x = [2, 4, 6], clamped to [2, 3, 3]
handle.remove()           # hooks stay until removed: always keep the handle
# --8<-- [end:tensor_hooks]

# --8<-- [start:module_hooks]
def deep_mlp(activation, depth=8, width=64):
    """`depth` Linear+activation pairs and a Linear head, default init."""
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), activation()]
    return nn.Sequential(*layers, nn.Linear(width, 1))


activations = {}


def keep_output(name):
    def hook(module, inputs, output):  # forward hook: runs right after forward
        activations[name] = output.detach()
    return hook


torch.manual_seed(0)
net = deep_mlp(nn.Sigmoid)
handles = [m.register_forward_hook(keep_output(name))
           for name, m in net.named_modules() if isinstance(m, nn.Sigmoid)]
net(torch.randn(256, 64))
for handle in handles:
    handle.remove()
first_three = list(activations.items())[:3]  # spread of the first outputs
print({name: round(a.std().item(), 3) for name, a in first_three})
# --8<-- [end:module_hooks]

# --8<-- [start:gradient_norms]
import matplotlib.pyplot as plt

from tutorials.core.hooks import GradientNormRecorder

data = torch.randn(256, 64, requires_grad=True)  # layer 0 too has grad_input
fig, ax = plt.subplots(figsize=(7, 3.2))
for act in (nn.Sigmoid, nn.Tanh, nn.ReLU):
    torch.manual_seed(0)
    net = deep_mlp(act)
    with GradientNormRecorder(net) as rec:  # full backward hooks on each Linear
        net(data).pow(2).mean().backward()
    norms = list(rec.grad_input_norms.values())  # reordered: input layer first
    ax.semilogy(range(len(norms)), norms, marker="o", label=act.__name__)
    first, last = norms[0], norms[-1]
    print(f"{act.__name__:8s} layer 0: {first:.1e}  layer 8: {last:.1e}")
ax.set_xlabel("Linear layer (0 = closest to the input)")
ax.set_ylabel("gradient norm at layer input")
ax.set_title("Gradient norm per layer, 9 Linear layers, default init")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "gradient-norms.png", dpi=110)
print(f"wrote {OUT / 'gradient-norms.png'}")
# --8<-- [end:gradient_norms]

# --8<-- [start:accumulation]
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 2))
data, target = torch.randn(32, 10), torch.randint(0, 2, (32,))

# 1) one batch of 32
model.zero_grad()
F.cross_entropy(model(data), target).backward()
full_batch = [p.grad.clone() for p in model.parameters()]

# 2) four micro-batches of 8: .grad accumulates across backward calls
model.zero_grad()
for xb, yb in zip(data.split(8), target.split(8)):
    # weight each micro-batch's mean loss by its share of the batch
    loss = F.cross_entropy(model(xb), yb) * len(xb) / len(data)
    loss.backward()

same = all(torch.allclose(p.grad, g, atol=1e-6)
           for p, g in zip(model.parameters(), full_batch))
print("micro-batch gradients equal the full batch:", same)
# --8<-- [end:accumulation]

# --8<-- [start:nan_gradient]
x = torch.tensor([-1.0, 4.0], requires_grad=True)
# sqrt only where x > 0: the forward value is finite...
y = torch.where(x > 0, torch.sqrt(x), torch.zeros_like(x))
y.sum().backward()
print(y.detach(), x.grad)  # ...but the gradient is NaN for x = -1
# --8<-- [end:nan_gradient]

# --8<-- [start:anomaly]
x.grad = None
with torch.autograd.detect_anomaly():  # slow: for debugging only
    y = torch.where(x > 0, torch.sqrt(x), torch.zeros_like(x))
    try:
        y.sum().backward()
    except RuntimeError as err:
        print(err)  # names the backward node; a warning shows the forward line
# --8<-- [end:anomaly]

# --8<-- [start:anomaly_fix]
x.grad = None
safe = torch.where(x > 0, x, torch.ones_like(x))  # never feed sqrt a negative
y = torch.where(x > 0, torch.sqrt(safe), torch.zeros_like(x))
y.sum().backward()
print(x.grad)
# --8<-- [end:anomaly_fix]

# --8<-- [start:dual_numbers]
class Dual:
    """a + b·ε with ε² = 0: the b part carries the derivative along."""

    def __init__(self, value, tangent):
        self.value, self.tangent = value, tangent

    def __add__(self, other):
        return Dual(self.value + other.value, self.tangent + other.tangent)

    def __mul__(self, other):  # (a + bε)(c + dε) = ac + (ad + bc)ε
        return Dual(self.value * other.value,
                    self.value * other.tangent + self.tangent * other.value)


def f(x):
    return x * x * x + x  # f'(x) = 3x² + 1


d = f(Dual(2.0, 1.0))  # seed the tangent with dx/dx = 1
print(d.value, d.tangent)  # f(2) = 10, f'(2) = 13
# --8<-- [end:dual_numbers]

# --8<-- [start:forward_ad]
import torch.autograd.forward_ad as fwAD


def g(t: Tensor) -> Tensor:  # R^3 -> R^2
    return torch.stack([t[0] * t[1], torch.sin(t[2])])


x = torch.tensor([1.0, 2.0, 0.0])
v = torch.tensor([1.0, 0.0, 1.0])  # the direction to differentiate along
with fwAD.dual_level():
    out = g(fwAD.make_dual(x, v))  # one forward pass carries value and tangent
    value, jvp = fwAD.unpack_dual(out)
print(value, jvp)  # jvp = J @ v

_, jvp_func = torch.func.jvp(g, (x,), (v,))  # the same, functional API
print(torch.equal(jvp, jvp_func))
# --8<-- [end:forward_ad]

# --8<-- [start:jacobians]
from torch.func import jacfwd, jacrev

J_forward = jacfwd(g)(x)  # n = 3 JVPs, one per input direction (vmapped)
J_reverse = jacrev(g)(x)  # m = 2 VJPs, one per output row
print(J_forward)
print(torch.allclose(J_forward, J_reverse))
# --8<-- [end:jacobians]

# --8<-- [start:custom_function_check]
from tutorials.lec03_autograd.activations import SwishFunction

x64 = torch.randn(6, dtype=torch.float64, requires_grad=True)
swish = SwishFunction.apply
print("gradcheck:    ", torch.autograd.gradcheck(swish, (x64,)))
print("gradgradcheck:", torch.autograd.gradgradcheck(swish, (x64,)))
print("matches F.silu:", torch.allclose(swish(x64), F.silu(x64)))
# --8<-- [end:custom_function_check]

# --8<-- [start:saved_memory]
from tutorials.lec03_autograd.activations import SwishRecompute
from tutorials.lec03_autograd.memory import saved_tensor_report

x = torch.randn(1_000_000, requires_grad=True)  # 4 MB of float32
for name, fn in [("SwishFunction", SwishFunction.apply),
                 ("SwishRecompute", SwishRecompute.apply),
                 ("F.silu", F.silu)]:
    r = saved_tensor_report(fn, x)
    held_mb = r.extra_bytes / 1e6  # bytes beyond the input itself
    print(f"{name:15s} saves {r.count} tensor(s), new memory held: {held_mb:.0f} MB")
# --8<-- [end:saved_memory]

# --8<-- [start:mistake_non_scalar]
x = torch.randn(3, requires_grad=True)
y = x * 2
try:
    y.backward()  # y has 3 elements: d(what)/dx?
except RuntimeError as err:
    print("RuntimeError:", err)
y.backward(gradient=torch.ones_like(y))  # fix: give the vector, or use y.sum()
print(x.grad)
# --8<-- [end:mistake_non_scalar]

# --8<-- [start:mistake_numpy]
try:
    x.numpy()
except RuntimeError as err:
    print("RuntimeError:", err)
print(x.detach().numpy().shape)  # fix: detach first (shares memory, no graph)
# --8<-- [end:mistake_numpy]
