"""Lecture 11: forward-mode AD, ``torch.func``, the C++ frontend and what replaced ``jit.fork``.

The code of the chapter ``docs/lectures/11-func-cpp.md``, in the order the page shows
it. Run it top to bottom with ``python -m tutorials.lec11_func_cpp.chapter``; it writes
the chapter's figures into ``lec11/`` under the current directory.
"""

# --8<-- [start:imports]
import copy
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import (
    functional_call,
    grad,
    grad_and_value,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    stack_module_state,
    vjp,
    vmap,
)

from tutorials.lec11_func_cpp.jacobians import (
    ntk_by_loop,
    plot_jacobian_timings,
    plot_ntk,
    time_jacobian_modes,
)
from tutorials.lec11_func_cpp.parallel import scripted_fork, submit, two_streams_matmul

torch.manual_seed(0)
OUT = Path("lec11")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)
# --8<-- [end:imports]

# --8<-- [start:grad]
x = torch.tensor([0.0, 1.0, 2.0])


def f(x: Tensor) -> Tensor:
    return torch.sin(x).sum()


df = grad(f)  # a new *function*: x -> df/dx
print(df(x))  # cos(x)
print(torch.allclose(df(x), torch.cos(x)))
g, value = grad_and_value(f)(x)  # both, from one forward pass
print(round(value.item(), 4))
# transforms compose: the second derivative of sin, point by point
print(vmap(grad(grad(torch.sin)))(x))  # -sin(x)
# --8<-- [end:grad]

# --8<-- [start:grad_argnums]
def mse(w: Tensor, b: Tensor, xb: Tensor, yb: Tensor) -> Tensor:
    return ((xb @ w + b - yb) ** 2).mean()


xb, yb = torch.randn(8, 3), torch.randn(8)
w0, b0 = torch.zeros(3), torch.tensor(0.0)
gw, gb = grad(mse, argnums=(0, 1))(w0, b0, xb, yb)  # gradients w.r.t. w and b only
print(gw.shape, gb.shape)
# the same numbers as autograd's .backward()
w1, b1 = w0.clone().requires_grad_(), b0.clone().requires_grad_()
mse(w1, b1, xb, yb).backward()
print(torch.allclose(gw, w1.grad), torch.allclose(gb, b1.grad))
# --8<-- [end:grad_argnums]

# --8<-- [start:vjp_jvp]
def h(x: Tensor) -> Tensor:  # R^3 -> R^2
    return torch.stack([x[0] * x[1], torch.sin(x[2]) + x.sum()])


x = torch.tensor([1.0, 2.0, 3.0])
J = jacrev(h)(x)  # the whole 2 x 3 Jacobian, for reference
print(J)

y, vjp_fn = vjp(h, x)  # reverse mode: one pass gives u^T J, a ROW combination
(row0,) = vjp_fn(torch.tensor([1.0, 0.0]))
y2, col0 = jvp(h, (x,), (torch.tensor([1.0, 0.0, 0.0]),))  # forward mode: J v, a COLUMN
print(torch.equal(row0, J[0]), torch.equal(col0, J[:, 0]))
# --8<-- [end:vjp_jvp]

# --8<-- [start:jacobians]
print(torch.allclose(jacfwd(h)(x), jacrev(h)(x)))  # same matrix, other mode


def energy(x: Tensor) -> Tensor:
    return (x**4).sum() / 4 + x[0] * x[1]


H = hessian(energy)(x)  # defined as jacfwd(jacrev(energy)): forward over reverse
print(H)
print(torch.allclose(H, jacfwd(jacrev(energy))(x)),
      torch.allclose(H, torch.autograd.functional.hessian(energy, x)))
# a Hessian-vector product without building H: a JVP of the gradient
v = torch.tensor([1.0, -1.0, 0.5])
_, hvp = jvp(grad(energy), (x,), (v,))
print(hvp, torch.allclose(hvp, H @ v))
# --8<-- [end:jacobians]

# --8<-- [start:dual_numbers]
v = torch.tensor([1.0, 0.0, 0.0])
with fwAD.dual_level():  # forward AD needs a level: it scopes the tangents
    x_dual = fwAD.make_dual(x, v)  # x + v·ε
    y_dual = h(x_dual)  # every op pushes the tangent forward with the value
    primal, tangent = fwAD.unpack_dual(y_dual)
print(primal)
print(tangent, torch.allclose(tangent, jvp(h, (x,), (v,))[1]))
# sin(a + b·ε) = sin(a) + b·cos(a)·ε: the tangent is the derivative times b
with fwAD.dual_level():
    s = fwAD.unpack_dual(torch.sin(fwAD.make_dual(torch.tensor(0.5), torch.tensor(2.0))))
print(round(s.tangent.item(), 4), round(2 * torch.cos(torch.tensor(0.5)).item(), 4))
print(fwAD.unpack_dual(y_dual).tangent)  # outside the level the tangent is gone
# --8<-- [end:dual_numbers]

# --8<-- [start:vmap_dims]
def dot(a: Tensor, b: Tensor) -> Tensor:  # written for ONE pair of vectors
    return (a * b).sum()


A, B, w = torch.randn(5, 3), torch.randn(5, 3), torch.randn(3)
print(vmap(dot)(A, B).shape)  # map dim 0 of both: 5 dot products
print(vmap(dot, in_dims=(0, None))(A, w).shape)  # w is shared, not mapped
print(vmap(dot, in_dims=(1, 1))(A, B).shape)  # map over dim 1 instead: 3 results
print(vmap(lambda a: 2 * a, out_dims=1)(A).shape)  # put the mapped dim last
pairwise = vmap(vmap(dot, in_dims=(0, None)), in_dims=(None, 0))(A, B)  # [j, i] = dot(A[i], B[j])
print(pairwise.shape, torch.allclose(pairwise, B @ A.T))
# --8<-- [end:vmap_dims]

# --8<-- [start:vmap_randomness]
ones = torch.ones(4, 6)
for mode in ["different", "same"]:
    torch.manual_seed(0)
    dropped = vmap(lambda r: F.dropout(r, p=0.5), randomness=mode)(ones)
    rows_equal = all(torch.equal(dropped[0], r) for r in dropped)
    print(f"randomness={mode!r}: every row the same mask = {rows_equal}")
try:
    vmap(lambda r: F.dropout(r, p=0.5))(ones)  # default randomness="error"
except RuntimeError as err:
    print(str(err).split(". ")[0])
# --8<-- [end:vmap_randomness]

# --8<-- [start:functional_call]
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
params = {k: v.detach() for k, v in model.named_parameters()}
xs, ys = torch.randn(16, 3), torch.randn(16, 1)
print(torch.equal(functional_call(model, params, (xs,)), model(xs)))
zeros = {k: torch.zeros_like(p) for k, p in params.items()}
print(functional_call(model, zeros, (xs,)).abs().sum().item())  # other weights, same module
print(model[0].weight.abs().sum().item() > 0)  # the module itself is untouched


def loss_fn(p: dict[str, Tensor], xb: Tensor, yb: Tensor) -> Tensor:
    return F.mse_loss(functional_call(model, p, (xb,)), yb)


grads = grad(loss_fn)(params, xs, ys)  # a dict, keyed like the parameters
model.zero_grad()
F.mse_loss(model(xs), ys).backward()
print(list(grads))
print(all(torch.allclose(grads[k], p.grad) for k, p in model.named_parameters()))
# --8<-- [end:functional_call]

# --8<-- [start:per_sample]
def sample_loss(p: dict[str, Tensor], x1: Tensor, y1: Tensor) -> Tensor:
    # written for ONE example: add the batch dimension the module expects
    return F.mse_loss(functional_call(model, p, (x1.unsqueeze(0),)), y1.unsqueeze(0))


per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))(params, xs, ys)
print({k: tuple(g.shape) for k, g in per_sample.items()})

loop = {k: [] for k in params}  # the slow way: one backward per example
for i in range(len(xs)):
    model.zero_grad()
    F.mse_loss(model(xs[i:i + 1]), ys[i:i + 1]).backward()
    for k, p in model.named_parameters():
        loop[k].append(p.grad.clone())
print(all(torch.allclose(per_sample[k], torch.stack(loop[k]), atol=1e-6) for k in params))
# their mean is the batch gradient of the previous block
print(all(torch.allclose(per_sample[k].mean(0), grads[k], atol=1e-6) for k in params))
# --8<-- [end:per_sample]

# --8<-- [start:ensemble]
def make_mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))


members = [make_mlp(seed) for seed in range(5)]
stacked, buffers = stack_module_state(members)  # each leaf: (5, *shape)
print({k: tuple(p.shape) for k, p in stacked.items()})
base = copy.deepcopy(members[0]).to("meta")  # a skeleton: structure, no data


def run_member(p: dict[str, Tensor], b: dict[str, Tensor], xb: Tensor) -> Tensor:
    return functional_call(base, (p, b), (xb,))


preds = vmap(run_member, in_dims=(0, 0, None))(stacked, buffers, xs)  # same batch, 5 models
print(preds.shape)
print(torch.allclose(preds, torch.stack([m(xs) for m in members]), atol=1e-6))
# --8<-- [end:ensemble]

# --8<-- [start:ntk]
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
net_params = {k: v.detach() for k, v in net.named_parameters()}


def f_one(p: dict[str, Tensor], x1: Tensor) -> Tensor:  # one input -> its scalar output
    return functional_call(net, p, (x1.unsqueeze(0),)).squeeze()


def param_jacobian(xb: Tensor) -> Tensor:
    jac = vmap(jacrev(f_one), in_dims=(None, 0))(net_params, xb)  # name -> (N, *shape)
    return torch.cat([j.flatten(1) for j in jac.values()], dim=1)  # (N, number of parameters)


grid = torch.linspace(-3, 3, 41).unsqueeze(1)
Jg = param_jacobian(grid)
ntk = Jg @ Jg.T  # Θ(x, x') = ∇θ f(x) · ∇θ f(x')
print(tuple(Jg.shape), tuple(ntk.shape))
print("symmetric:", torch.allclose(ntk, ntk.T))
eig = torch.linalg.eigvalsh(ntk.double())
print("positive semi-definite:", bool(eig.min() > -1e-6 * eig.max()))
print("matches a loop of autograd.grad:",
      torch.allclose(ntk[:6, :6], ntk_by_loop(net, grid[:6], grid[:6]), rtol=1e-4, atol=1e-5))
print("wrote", plot_ntk(ntk, grid.squeeze(1), OUT / "ntk.png"))
# --8<-- [end:ntk]

# --8<-- [start:fwd_vs_rev]
shapes = [(2, 1024), (8, 256), (256, 8), (1024, 2)]  # (inputs, outputs): tall to wide
rows = time_jacobian_modes(shapes, min_run_time=0.02)  # one thread, medians of torch.utils.benchmark
for r in rows:  # rev_over_fwd > 1: forward mode was faster
    print(f"J is {r['n_out']:4d} x {r['n_in']:<4d}  jacfwd {r['jacfwd_ms']:.2f} ms  "
          f"jacrev {r['jacrev_ms']:.2f} ms  jacrev/jacfwd = {r['rev_over_fwd']:.2g}")
print("wrote", plot_jacobian_timings(rows, OUT / "jacfwd-vs-jacrev.png"))
# --8<-- [end:fwd_vs_rev]

# --8<-- [start:functorch_migration]
import functorch  # noqa: E402  (the old package still ships with torch, as a shim)

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    old = functorch.vmap(torch.sin)(torch.zeros(2))
print(torch.equal(old, vmap(torch.sin)(torch.zeros(2))))
print(caught[0].category.__name__ + ":", str(caught[0].message).split(";")[0])
# --8<-- [end:functorch_migration]

# --8<-- [start:cpp_run]
from tutorials.lec11_func_cpp.cpp_frontend import (  # noqa: E402
    accuracy,
    build_and_run,
    load_cpp_weights,
    train_in_python,
)

run = build_and_run(steps=300, seed=0, save=OUT / "mlp_cpp.pt")  # g++, cached after the first build
print("loss by step:", "  ".join(f"{step}: {loss:.3f}" for step, loss in run.losses.items()))
print(f"test accuracy above 0.9: {run.accuracy > 0.9} | parameters {run.parameters}")
print("wrote", run.saved)
# --8<-- [end:cpp_run]

# --8<-- [start:cpp_to_python]
cpp_model, x_test, y_test = load_cpp_weights(run.saved)  # torch.load(weights_only=True)
print(type(cpp_model).__name__, [k for k, _ in cpp_model.named_parameters()][:3])
print("same predictions in Python:", accuracy(cpp_model, x_test, y_test) == (run.correct, run.total))
py_losses = train_in_python(steps=300, seed=0)  # the same program, written with torch.nn
print("same losses as C++:", all(abs(py_losses[k] - run.losses[k]) < 1e-3 for k in run.losses))
# --8<-- [end:cpp_to_python]

# --8<-- [start:jit_fork]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    fut = torch.jit.fork(torch.mm, torch.eye(2), torch.eye(2))  # in eager mode: runs right now
    print(type(fut).__name__, fut.done(), torch.equal(torch.jit.wait(fut), torch.eye(2)))
print(sorted({str(w.message) for w in caught}))  # FutureWarning in torch 2.14

two_branches, script_warnings = scripted_fork()  # the TorchScript way (see parallel.py)
graph = str(two_branches.graph)
print(script_warnings)
print("prim::fork" in graph, "aten::wait" in graph)
# --8<-- [end:jit_fork]

# --8<-- [start:futures]
# two thread pools: intra-op (inside one op: torch.get_num_threads) and inter-op
# (between ops: torch.get_num_interop_threads, what TorchScript's fork ran its tasks on)


def branch(seed: int) -> Tensor:  # one independent piece of work
    m = torch.randn(128, 128, generator=torch.Generator().manual_seed(seed))
    return (m @ m.T).trace()


with ThreadPoolExecutor(max_workers=2) as pool:  # torch ops release the GIL
    futures = [submit(pool, branch, seed).then(lambda fut: fut.value() / 128) for seed in range(3)]
    joined = torch.futures.collect_all(futures).wait()  # a future of all the futures
parallel = [f.value() for f in joined]
print(all(torch.allclose(p, branch(s) / 128) for s, p in enumerate(parallel)))
# --8<-- [end:futures]

# --8<-- [start:streams]
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
a = torch.randn(512, 512, generator=torch.Generator().manual_seed(0)).to(device)
b = torch.randn(512, 512, generator=torch.Generator().manual_seed(1)).to(device)
r1, r2 = two_streams_matmul(a, b)  # two CUDA streams on a GPU, one after the other on CPU
print("same results as one stream:",
      torch.allclose(r1, a @ a, rtol=1e-4, atol=1e-3) and torch.allclose(r2, b @ b, rtol=1e-4, atol=1e-3))
# --8<-- [end:streams]

# --8<-- [start:mistakes_vmap]
batch = torch.randn(4, 3)


def flip_if_negative(r: Tensor) -> Tensor:
    return -r if r.sum().item() < 0 else r  # .item(): a Python number per example?


def flip_if_negative_2(r: Tensor) -> Tensor:
    return -r if r.sum() < 0 else r  # bool(tensor): the same question


buf = torch.zeros(3)


def accumulate(r: Tensor) -> Tensor:
    buf.add_(r)  # in place, into a tensor vmap does not batch
    return buf


for fn in (flip_if_negative, flip_if_negative_2, accumulate):
    try:
        vmap(fn)(batch)
    except RuntimeError as err:
        print(f"{fn.__name__}: {str(err).split('. ')[0]}")
print(torch.equal(vmap(lambda r: torch.where(r.sum() < 0, -r, r))(batch),
                  torch.where(batch.sum(1, keepdim=True) < 0, -batch, batch)))  # the fix
# --8<-- [end:mistakes_vmap]

# --8<-- [start:mistakes_ad]
try:
    fwAD.make_dual(x, v)  # no `with fwAD.dual_level():`
except RuntimeError as err:
    print(str(err).split(", make sure")[0])


def loss_with_backward(w: Tensor) -> Tensor:
    loss = (w**2).sum()
    loss.backward()  # autograd's habit; grad() does this itself
    return loss


try:
    grad(loss_with_backward)(torch.ones(2))
except RuntimeError as err:
    print(str(err).split(". ")[0])
print(grad(lambda w: (w**2).sum())(torch.ones(2)))  # the fix: just return the loss
# --8<-- [end:mistakes_ad]
