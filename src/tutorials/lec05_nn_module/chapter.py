"""Lecture 5: nn.Module from scratch.

The code of the chapter ``docs/lectures/05-nn-module.md``, in the order the page
shows it. Run it top to bottom with ``python -m tutorials.lec05_nn_module.chapter``;
it writes the chapter's two figures into ``lec05/`` under the current directory.
"""

# --8<-- [start:imports]
import math
import tempfile
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
OUT = Path("lec05")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)
# --8<-- [end:imports]

# --8<-- [start:inside_a_module]
class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()  # creates the empty registries first
        self.hidden = nn.Linear(4, 8)           # a Module  -> _modules
        self.out = nn.Linear(8, 2)
        self.scale = nn.Parameter(torch.ones(1))  # a Parameter -> _parameters
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        self.note = "an ordinary attribute"    # anything else -> __dict__

    def forward(self, x):
        self.calls += 1  # buffers are state too, just not trained
        return self.out(torch.relu(self.hidden(x))) * self.scale


net = TwoLayer()
print(list(net._parameters), list(net._buffers), list(net._modules))
print("note" in net.__dict__, "hidden" in net.__dict__)
# --8<-- [end:inside_a_module]

# --8<-- [start:recursion]
for name, p in net.named_parameters():  # recursive, dotted names
    print(f"{name:15s} {tuple(p.shape)}")
print([name for name, _ in net.named_children()])   # direct children only
print([name for name, _ in net.named_modules()])    # '' is net itself
print(list(net.state_dict()))                       # parameters + buffers
# --8<-- [end:recursion]

# --8<-- [start:mini_vs_nn]
from tutorials.lec05_nn_module.minimodule import MiniLinear, MiniReLU, MiniSequential

torch.manual_seed(0)
mini = MiniSequential(MiniLinear(4, 8), MiniReLU(), MiniLinear(8, 2))
torch.manual_seed(0)  # same seed, same draws: the inits must agree
real = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

mini_names = [name for name, _ in mini.named_parameters()]
real_names = [name for name, _ in real.named_parameters()]
print(mini_names)
print(mini_names == real_names,
      list(mini.state_dict()) == list(real.state_dict()))
same = all(torch.equal(a, b)
           for a, b in zip(mini.parameters(), real.parameters()))
x = torch.randn(3, 4)
print(same, torch.equal(mini(x), real(x)))
# --8<-- [end:mini_vs_nn]

# --8<-- [start:mini_load]
# Train the real model one step, then move its weights into the mini one.
opt = torch.optim.SGD(real.parameters(), lr=0.1)
F.mse_loss(real(x), torch.zeros(3, 2)).backward()
opt.step()
print(torch.equal(mini(x), real(x)))  # they differ now
mini.load_state_dict(real.state_dict())  # plain tensors in, by name
print(torch.equal(mini(x), real(x)))
try:
    mini.load_state_dict({"0.weight": torch.zeros(8, 4)})  # keys missing
except RuntimeError as err:
    print(err)
# --8<-- [end:mini_load]

# --8<-- [start:failed_load]
# A complete state dict (all zeros) with one key too many; strict=True by default
zeros = {key: torch.zeros_like(t) for key, t in real.state_dict().items()}
zeros["extra"] = torch.zeros(1)
for model in (mini, real):
    try:
        model.load_state_dict(zeros)
    except RuntimeError as err:
        print(str(err).replace("\n\t", " ").strip())
    print("  weights overwritten anyway:", not model[0].weight.any().item())
# --8<-- [end:failed_load]

# --8<-- [start:mini_hooks]
shapes = []
handle = mini.register_forward_hook(
    lambda module, args, out: shapes.append(tuple(out.shape)))
mini(x)          # __call__: forward, then the hooks
mini.forward(x)  # forward alone: the hooks do not run
handle.remove()
mini(x)
print(shapes)
# --8<-- [end:mini_hooks]

# --8<-- [start:buffers]
class RunningStandardize(nn.Module):
    """Standardize features with running statistics (BatchNorm's idea)."""

    def __init__(self, features, momentum=0.1):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("var", torch.ones(features))

    def forward(self, x):  # x: (N, features)
        if self.training:  # update the statistics; no graph for them
            with torch.no_grad():
                self.mean.lerp_(x.mean(0), self.momentum)
                self.var.lerp_(x.var(0), self.momentum)
        return (x - self.mean) / torch.sqrt(self.var + 1e-5)


norm = RunningStandardize(3)
print(list(norm.parameters()), list(norm.state_dict()))
print([name for name, _ in norm.named_buffers()])
# --8<-- [end:buffers]

# --8<-- [start:buffers_train_eval]
data = torch.randn(64, 3) * 2 + 5
norm(data)  # training mode: the statistics move towards the data's
print(norm.mean)
norm.eval()
norm(data)  # eval mode: statistics frozen
print(norm.mean)
norm.to(torch.float64)  # .to() moves and casts buffers with parameters
print(norm.mean.dtype, norm.var.dtype)
# --8<-- [end:buffers_train_eval]

# --8<-- [start:plain_tensor]
class Forgetful(nn.Module):
    def __init__(self):
        super().__init__()
        self.mean = torch.zeros(3)  # a plain tensor: nn.Module cannot see it


forgetful = Forgetful().to(torch.float64)
print(list(forgetful.state_dict()), forgetful.mean.dtype)


class Remembers(nn.Module):
    def __init__(self):
        super().__init__()
        self.mean = nn.Buffer(torch.zeros(3))  # same as register_buffer("mean", ...)


remembers = Remembers().to(torch.float64)
print(list(remembers.state_dict()), remembers.mean.dtype)
# --8<-- [end:plain_tensor]

# --8<-- [start:custom_linear]
class Linear(nn.Module):
    """y = x Wᵀ + b, written as nn.Linear is."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features))
        else:
            self.register_parameter("bias", None)  # declared, absent
        self.reset_parameters()

    def reset_parameters(self):
        # kaiming_uniform_ with a=√5 is U(-1/√fan_in, 1/√fan_in)
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x):  # (*, in_features) -> (*, out_features)
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias
# --8<-- [end:custom_linear]

# --8<-- [start:linear_check]
torch.manual_seed(0)
mine = Linear(5, 3)
torch.manual_seed(0)
ref = nn.Linear(5, 3)
x = torch.randn(4, 5)
print(torch.equal(mine.weight, ref.weight), torch.equal(mine.bias, ref.bias))
mine(x).pow(2).sum().backward()
ref(x).pow(2).sum().backward()
print(torch.allclose(mine(x), ref(x)),
      torch.allclose(mine.weight.grad, ref.weight.grad))
ref.load_state_dict(Linear(5, 3).state_dict())  # same keys and shapes
print(list(Linear(5, 3, bias=False).state_dict()))
# --8<-- [end:linear_check]

# --8<-- [start:state_dict]
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(),
                      nn.Linear(8, 2))
model(torch.randn(16, 4))  # one training-mode pass moves BatchNorm's buffers
for key, value in model.state_dict().items():
    print(f"{key:26s} {str(value.dtype):12s} {tuple(value.shape)}")
# --8<-- [end:state_dict]

# --8<-- [start:save_load]
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "model.pt"
    torch.save(model.state_dict(), path)  # a dict of tensors: portable
    # weights_only=True: tensors and plain containers only, no code runs
    state = torch.load(path, map_location="cpu", weights_only=True)

restored = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(),
                         nn.Linear(8, 2))  # code builds it, the file fills it
print(restored.load_state_dict(state))
x = torch.randn(5, 4)
print(torch.equal(model.eval()(x), restored.eval()(x)))
# --8<-- [end:save_load]

# --8<-- [start:whole_model]
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "whole.pt"
    torch.save(model, path)  # pickles the object: classes by import path
    try:
        torch.load(path, weights_only=True)
    except Exception as err:  # pickle.UnpicklingError
        line = next(s for s in str(err).splitlines() if "Unpickler" in s)
        print(line.strip().split(" Please use")[0])
# --8<-- [end:whole_model]

# --8<-- [start:plain_list]
class PlainList(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(4, 4) for _ in range(3)]  # a Python list


class Registered(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(4, 4) for _ in range(3))

    def forward(self, x):
        for layer in self.layers:  # any control flow: residuals, early exits
            x = x + torch.relu(layer(x))
        return x


def count(module):
    return sum(p.numel() for p in module.parameters())


print(count(PlainList()), count(Registered()))
print([name for name, _ in Registered().named_parameters()][:2])
# --8<-- [end:plain_list]

# --8<-- [start:sequential_dict]
trunk = nn.Sequential(OrderedDict(fc=nn.Linear(4, 16), act=nn.ReLU()))
heads = nn.ModuleDict({"digit": nn.Linear(16, 10), "parity": nn.Linear(16, 2)})
x = torch.randn(3, 4)
for task, head in heads.items():  # keys in insertion order
    print(task, tuple(head(trunk(x)).shape))
print(trunk.fc)  # children by name...
print(type(trunk[:1]).__name__, len(trunk[:1]))  # ...slices are Sequentials
print([name for name, _ in heads.named_parameters()])
# --8<-- [end:sequential_dict]

# --8<-- [start:complex_modules]
layers = {
    "Conv2d": nn.Conv2d(3, 8, kernel_size=3),
    "LSTM": nn.LSTM(input_size=4, hidden_size=8),
    "BatchNorm2d": nn.BatchNorm2d(8),
    "Encoder": nn.TransformerEncoderLayer(16, nhead=4, dim_feedforward=32),
}
for kind, layer in layers.items():
    own = " ".join(f"{n}{tuple(p.shape)}"
                   for n, p in layer.named_parameters(recurse=False))
    bufs = " ".join(n for n, _ in layer.named_buffers(recurse=False))
    kids = " ".join(n for n, _ in layer.named_children())
    print(f"{kind:11s} params: {own or '-'}")
    if bufs or kids:
        print(f"{'':11s} buffers: {bufs or '-'}   children: {kids or '-'}")
# --8<-- [end:complex_modules]

# --8<-- [start:train_eval]
drop, x = nn.Dropout(p=0.5), torch.ones(8)
torch.manual_seed(0)
print(drop(x))    # training: zero half, scale the rest by 1 / (1 - p)
print(drop.eval()(x))  # evaluation: the identity
bn = nn.BatchNorm1d(2)
batch = torch.tensor([[0.0, 10.0], [2.0, 30.0]])
with torch.no_grad():  # bn has parameters: skip the graph to print
    print(bn(batch))         # training: this batch's statistics
    print(bn.eval()(batch))  # evaluation: the running statistics
# --8<-- [end:train_eval]

# --8<-- [start:init_study]
import matplotlib.pyplot as plt

INITS = {  # each function fills one Linear weight in place
    "default": lambda w, act: None,  # nn.Linear's own U(±1/√fan_in)
    "xavier": lambda w, act: nn.init.xavier_normal_(w),
    "kaiming": lambda w, act: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "orthogonal": lambda w, act: nn.init.orthogonal_(
        w, gain=nn.init.calculate_gain(act)),
}


def make_mlp(act, init, depth=20, width=128):
    """`depth` × (Linear, act): the init fills the weights, biases are 0.

    "default" keeps nn.Linear's own initialization, random biases included.
    """
    torch.manual_seed(0)
    layers = []
    for _ in range(depth):
        linear = nn.Linear(width, width)
        if init != "default":
            INITS[init](linear.weight, act)
            nn.init.zeros_(linear.bias)
        layers += [linear, nn.Tanh() if act == "tanh" else nn.ReLU()]
    return nn.Sequential(*layers)
# --8<-- [end:init_study]

# --8<-- [start:activation_hooks]
def activation_stds(model, x):
    """Std of every activation output, recorded by forward hooks."""
    stds = []
    handles = [m.register_forward_hook(
        lambda mod, args, out: stds.append(out.std().item()))
        for m in model if not isinstance(m, nn.Linear)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()  # leave the model as we found it
    return stds


torch.manual_seed(1)
inputs = torch.randn(256, 128)  # unit-variance input
stds = {(act, init): activation_stds(make_mlp(act, init), inputs)
        for act in ("tanh", "relu") for init in INITS}
print(f"{'init':10s} tanh: layer 1  layer 20   relu: layer 1  layer 20")
for init in INITS:
    t, r = stds["tanh", init], stds["relu", init]
    print(f"{init:10s} {t[0]:13.3g} {t[-1]:9.3g} {r[0]:14.3g} {r[-1]:9.3g}")
# --8<-- [end:activation_hooks]

# --8<-- [start:init_plot]
fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
for ax, act in zip(axes, ("tanh", "relu")):
    for init in INITS:
        ys = stds[act, init]
        ax.semilogy(range(1, len(ys) + 1), ys, marker=".", label=init)
    ax.set_title(f"{act} network, width 128")
    ax.set_xlabel("layer")
    ax.set_xticks([1, 5, 10, 15, 20])
axes[0].set_ylabel("std of activations")
axes[1].legend()
fig.tight_layout()
fig.savefig(OUT / "init-activations.png", dpi=110)
print(f"wrote {OUT / 'init-activations.png'}")
# --8<-- [end:init_plot]

# --8<-- [start:gradient_flow]
from tutorials.core.hooks import GradientNormRecorder

x = inputs.clone().requires_grad_()  # so layer 0 reports a grad_input too
fig, ax = plt.subplots(figsize=(7, 3.2))
for init in INITS:
    net = make_mlp("relu", init)
    with GradientNormRecorder(net) as rec:  # full backward hook per Linear
        net(x).pow(2).mean().backward()
    norms = list(rec.grad_input_norms.values())  # input layer first
    ax.semilogy(range(len(norms)), norms, marker=".", label=init)
    print(f"{init:10s} layer 0: {norms[0]:.1e}   layer 19: {norms[-1]:.1e}")
ax.set_xlabel("Linear layer (0 = closest to the input)")
ax.set_xticks(range(0, 20, 2))
ax.set_ylabel("gradient norm at layer input")
ax.set_title("Gradient flow, 20-layer ReLU network")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "init-gradients.png", dpi=110)
print(f"wrote {OUT / 'init-gradients.png'}")
# --8<-- [end:gradient_flow]

# --8<-- [start:block_shapes]
from tutorials.lec05_nn_module.resnet import BasicBlock, Bottleneck

x = torch.randn(2, 64, 32, 32)  # (N, C, H, W)
plain = BasicBlock(64, 64)              # identity shortcut
down = BasicBlock(64, 128, stride=2)    # 1×1 conv shortcut
neck = Bottleneck(64, 64)               # 1×1 to 64, 3×3, 1×1 to 256
for name, block in [("plain", plain), ("down", down), ("neck", neck)]:
    short = "identity" if block.downsample is None else "1×1 conv + BN"
    print(f"{name}: {tuple(block(x).shape)}  params {count(block):,}  "
          f"shortcut: {short}")
# --8<-- [end:block_shapes]

# --8<-- [start:resnet_vs_torchvision]
import torchvision

from tutorials.lec05_nn_module.resnet import resnet18, resnet50

x = torch.randn(2, 3, 64, 64)
for ours, theirs in [(resnet18, torchvision.models.resnet18),
                     (resnet50, torchvision.models.resnet50)]:
    mine, tv = ours().eval(), theirs(weights=None).eval()  # nothing downloaded
    mine.load_state_dict(tv.state_dict(), strict=True)  # every key matches
    with torch.no_grad():
        diff = (mine(x) - tv(x)).abs().max().item()
    print(f"{ours.__name__}: {count(mine):,} vs {count(tv):,} parameters, "
          f"output {tuple(mine(x).shape)}, max |diff| {diff:.1e}")
# --8<-- [end:resnet_vs_torchvision]

# --8<-- [start:mistake_super]
class NoSuper(nn.Module):
    def __init__(self):
        self.fc = nn.Linear(2, 2)  # super().__init__() forgotten


try:
    NoSuper()
except AttributeError as err:
    print("AttributeError:", err)
# --8<-- [end:mistake_super]

# --8<-- [start:mistake_tensor_for_parameter]
layer = nn.Linear(2, 2)
try:
    layer.weight = torch.zeros(2, 2)  # a Tensor cannot replace a Parameter
except TypeError as err:
    print("TypeError:", err)
with torch.no_grad():
    layer.weight.copy_(torch.zeros(2, 2))  # fix: change the values in place
print(layer.weight.abs().sum().item())
# --8<-- [end:mistake_tensor_for_parameter]

# --8<-- [start:mistake_prefix]
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

# As saved from a DDP / DataParallel wrapper: every key starts with "module."
state = {"module." + k: v for k, v in nn.Linear(4, 8).state_dict().items()}
try:
    nn.Linear(4, 8).load_state_dict(state)
except RuntimeError as err:
    print("\n".join(line.strip() for line in str(err).splitlines()))
consume_prefix_in_state_dict_if_present(state, "module.")  # in place
print(nn.Linear(4, 8).load_state_dict(state))
# --8<-- [end:mistake_prefix]

# --8<-- [start:mistake_eval]
bn_model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8))
try:
    bn_model(torch.randn(1, 4))  # one sample, still in training mode
except ValueError as err:
    print("ValueError:", err)
print(tuple(bn_model.eval()(torch.randn(1, 4)).shape))  # fix: eval()
# --8<-- [end:mistake_eval]
