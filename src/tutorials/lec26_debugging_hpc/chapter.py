"""Lecture 26: large-scale debugging and HPC practice.

The code of the chapter ``docs/lectures/26-debugging-hpc.md``, in the order the page
shows it. Run it top to bottom with ``python -m tutorials.lec26_debugging_hpc.chapter``;
it writes its figures, the flight-recorder dumps, the logs and the environment record
into ``lec26/`` under the current directory, and starts (and always stops) a few
two- and three-process gloo groups on this machine.
"""

# --8<-- [start:imports]
import gc
import math
import os
import re
import warnings
import weakref
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from tutorials.core.distributed import WorkerError, WorkerTimeout, launch

torch.set_num_threads(1)  # small tensors: a second thread only waits for a free core
OUT = Path("lec26")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)
# --8<-- [end:imports]

# --8<-- [start:nonfinite_sources]
inf = float("inf")
cases = {
    "exp(100) in float32": torch.tensor(100.0).exp(),  # above float32's max, 3.4e38
    "70000 in float16": torch.tensor(70000.0, dtype=torch.float16),  # above float16's max, 65504
    "inf - inf": torch.tensor(inf) - inf,
    "0 * inf": torch.tensor(0.0) * inf,
    "0 / 0": torch.tensor(0.0) / 0.0,
    "log(0)": torch.tensor(0.0).log(),
    "log(-1)": torch.tensor(-1.0).log(),
    "sqrt(-1)": torch.tensor(-1.0).sqrt(),
    "softmax of [-inf, -inf]": torch.tensor([-inf, -inf]).softmax(0)[0],
}
for what, value in cases.items():
    print(f"{what:24s} {value.item()}")
# --8<-- [end:nonfinite_sources]

# --8<-- [start:training_run]
gen = torch.Generator().manual_seed(0)
X = torch.randn(512, 16, generator=gen)  # a regression problem: 512 samples, 16 features
Y = X @ torch.randn(16, 1, generator=gen) + 0.1 * torch.randn(512, 1, generator=gen)
BAD_STEP = 30  # the step whose batch holds a corrupted record


def batch(step):
    i = (step * 32) % 512
    xb = X[i : i + 32].clone()
    if step == BAD_STEP:
        xb[0] *= 1e4  # one record in the wrong unit: its features are 10,000 times too large
    return xb, Y[i : i + 32]


def train(steps=60, clip=None):
    """SGD on the MLP; returns [(step, loss, gradient norm before clipping)], ending at a non-finite loss."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    history = []
    for step in range(steps):
        xb, yb = batch(step)
        loss = F.mse_loss(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        if clip is None:  # the total L2 norm over all gradients: one number per step
            norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
        else:  # clip_grad_norm_ returns the same norm, measured before it rescales
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
        history.append((step, loss.item(), norm.item()))
        if not math.isfinite(loss.item()):
            break  # stop at the first non-finite loss: nothing after it means anything
        opt.step()
    return history
# --8<-- [end:training_run]

# --8<-- [start:diverge]
plain = train()
print("step  loss      grad norm")
for step, loss, norm in plain[BAD_STEP - 2 :]:
    print(f"{step:4d}  {loss:<8.3g}  {norm:.3g}")
first_bad = next(step for step, loss, _ in plain if not math.isfinite(loss))
print(f"first non-finite loss at step {first_bad}, {first_bad - BAD_STEP} steps after the corrupted batch")
# --8<-- [end:diverge]

# --8<-- [start:clipped]
clipped = train(clip=5.0)
worst = max(loss for step, loss, _ in clipped if step > BAD_STEP)
print(f"clipped at norm 5: {len(clipped)} steps, all finite: {all(math.isfinite(h[1]) for h in clipped)}")
print(f"largest loss after the bad batch: {worst:.3g}; last loss: {clipped[-1][1]:.3f}")
# --8<-- [end:clipped]

# --8<-- [start:grad_norm_figure]
from tutorials.lec26_debugging_hpc.figures import plot_grad_norms

path = plot_grad_norms({"no clipping": plain, "clip_grad_norm_(max_norm=5)": clipped},
                       bad_step=BAD_STEP, path=OUT / "grad-norms.png")
print(f"wrote {path}")
# --8<-- [end:grad_norm_figure]

# --8<-- [start:classifier]
class AttentionPool(nn.Module):
    """Pools a padded sequence into one vector, weighting the real tokens by a learned score."""

    def __init__(self, dim, fill=float("-inf")):
        super().__init__()
        self.score = nn.Linear(dim, 1)
        self.fill = fill  # the score given to padding

    def forward(self, h, mask):  # h: (B, T, D); mask: (B, T), True for a real token
        scores = self.score(h).squeeze(-1).masked_fill(~mask, self.fill)  # (B, T)
        weights = scores.softmax(dim=-1)  # a row without real tokens: softmax of all -inf
        return (weights.unsqueeze(-1) * h).sum(dim=1)  # (B, D)


class Classifier(nn.Module):
    def __init__(self, dim=16, classes=3):
        super().__init__()
        self.embed = nn.Linear(8, dim)
        self.encoder = nn.Sequential(nn.Linear(dim, dim), nn.ReLU())
        self.pool = AttentionPool(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x, mask):
        return self.head(self.pool(self.encoder(self.embed(x)), mask))


torch.manual_seed(0)
clf = Classifier()
tokens, labels = torch.randn(4, 5, 8), torch.tensor([0, 1, 2, 0])  # 4 sequences of 5 tokens
mask = torch.ones(4, 5, dtype=torch.bool)
mask[2] = False  # the third sequence is empty (a blank document that survived filtering)
print("loss:", F.cross_entropy(clf(tokens, mask), labels).item())
# --8<-- [end:classifier]

# --8<-- [start:hook_by_hand]
def stop_at_nonfinite(name):
    def hook(module, inputs, output):  # runs right after module.forward returns
        if not torch.isfinite(output).all():
            raise RuntimeError(f"first non-finite output: {name!r} ({type(module).__name__})")
    return hook


handles = [m.register_forward_hook(stop_at_nonfinite(n)) for n, m in clf.named_modules()]
try:
    clf(tokens, mask)
except RuntimeError as err:
    print(err)
finally:
    for h in handles:
        h.remove()  # a forgotten hook slows down (or breaks) every later forward
# --8<-- [end:hook_by_hand]

# --8<-- [start:hook_helper]
from tutorials.lec26_debugging_hpc.nonfinite import NonFiniteError, first_nonfinite

try:
    with first_nonfinite(clf):  # hooks on every module, removed on exit
        clf(tokens, mask)
except NonFiniteError as err:
    print(err)
# --8<-- [end:hook_helper]

# --8<-- [start:dispatch_mode]
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class FirstNaNOp(TorchDispatchMode):
    """Checks the output of every ATen operator; raises at the first NaN."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):  # an op may return several tensors
            if isinstance(t, torch.Tensor) and t.is_floating_point() and t.isnan().any():
                raise RuntimeError(f"{func} returned NaN")
        return out


try:
    with FirstNaNOp():  # every op below this line, in this thread, goes through the mode
        clf(tokens, mask)
except RuntimeError as err:
    print(err)
# --8<-- [end:dispatch_mode]

# --8<-- [start:hook_fix]
clf.pool.fill = torch.finfo(torch.float32).min  # finite: an empty row gets uniform weights, not NaN
with first_nonfinite(clf):
    loss = F.cross_entropy(clf(tokens, mask), labels)
print(f"loss: {loss.item():.4f}")
# --8<-- [end:hook_fix]

# --8<-- [start:backward_nan]
def safe_sqrt(x):
    # looks safe: the square roots of negative numbers are masked out in forward
    return torch.where(x > 0, torch.sqrt(x), torch.zeros_like(x))


x = torch.tensor([4.0, -1.0, 0.25], requires_grad=True)
y = safe_sqrt(x)
y.sum().backward()
print("forward finite:", torch.isfinite(y).all().item(), "| grad:", x.grad)
# --8<-- [end:backward_nan]

# --8<-- [start:anomaly]
x.grad = None
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        with torch.autograd.detect_anomaly():  # records each op's forward stack; checks backward outputs
            safe_sqrt(x).sum().backward()
    except RuntimeError as err:
        print("RuntimeError:", err)
# anomaly mode also warned, with the forward stack of the op whose backward failed
note = next(str(w.message) for w in caught if "Error detected in" in str(w.message)).splitlines()
print(note[0])
frame = re.search(r"in (\w+)$", note[-3]).group(1)  # the innermost frame: function and source line
print(f"innermost forward frame: {frame}: {note[-2].strip()}")
# --8<-- [end:anomaly]

# --8<-- [start:anomaly_fix]
def safe_sqrt(x):
    ok = x > 0
    # the inner where keeps sqrt away from x <= 0, so its backward never divides by 0 or NaN
    return torch.where(ok, torch.sqrt(torch.where(ok, x, 1.0)), 0.0)


x.grad = None
safe_sqrt(x).sum().backward()
print("grad:", x.grad)
# --8<-- [end:anomaly_fix]

# --8<-- [start:fp16_range]
f16 = torch.finfo(torch.float16)
print(f"float16: max {f16.max:g}, smallest normal {f16.tiny:.3g}, smallest subnormal {2.0**-24:.3g}")
small = torch.tensor([1e-3, 1e-5, 1e-7, 1e-8])  # gradient values, in float32
print("in float16:                 ", [f"{v:.3g}" for v in small.half().float().tolist()])
scale = 2.0**16
print("scaled by 2**16, unscaled:  ", [f"{v:.3g}" for v in ((small * scale).half().float() / scale).tolist()])
# --8<-- [end:fp16_range]

# --8<-- [start:grad_underflow]
torch.manual_seed(0)
mlp = nn.Sequential(nn.Linear(32, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
xs = torch.randn(256, 32, generator=gen)
ys = xs @ torch.randn(32, 1, generator=gen) * 0.1


def weight_grads(scale, fp16):
    """The unscaled gradients of the weight matrices, forward under fp16 autocast or in float32."""
    mlp.zero_grad()
    with torch.autocast("cpu", dtype=torch.float16, enabled=fp16):
        out = mlp(xs)  # matmuls in float16; backward runs them in float16 too
    loss = F.mse_loss(out.float(), ys) * 1e-3  # a small loss, as with a mean over many tokens
    (loss * scale).backward()
    return torch.cat([p.grad.flatten() / scale for p in mlp.parameters() if p.dim() == 2])


exact = weight_grads(1.0, fp16=False)
for scale in (1.0, 2.0**16):
    g = weight_grads(scale, fp16=True)
    lost = ((g == 0) & (exact != 0)).sum().item()  # entries that underflowed to exactly 0
    err = ((g - exact).norm() / exact.norm()).item()
    print(f"scale {scale:>7g}: {lost:3d} of {g.numel()} gradient entries flushed to 0, error {err:.2%}")
# --8<-- [end:grad_underflow]

# --8<-- [start:grad_scaler]
torch.manual_seed(0)
mlp = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 1))
opt = torch.optim.SGD(mlp.parameters(), lr=0.05)
# "cpu": the scaler's device; init_scale 2**24 (default 2**16): far too high, on purpose;
# growth_interval 10 (default 2000) so that growth shows in 60 steps
scaler = torch.amp.GradScaler("cpu", init_scale=2.0**24, growth_interval=10)
scales, skipped = [], []
for step in range(60):
    opt.zero_grad()
    with torch.autocast("cpu", dtype=torch.float16):
        loss = F.mse_loss(mlp(xs).float(), ys)
    scales.append(scaler.get_scale())
    scaler.scale(loss).backward()  # float16 gradients of loss * scale: Inf if too large
    scaler.step(opt)  # unscales; skips opt.step() if any gradient is Inf or NaN
    scaler.update()  # halves the scale after Inf/NaN, doubles it after 10 clean steps
    if scaler.get_scale() < scales[-1]:
        skipped.append(step)
print("skipped steps:", skipped)
changes = [f"{s}:2**{int(math.log2(v))}" for s, v in enumerate(scales) if s == 0 or v != scales[s - 1]]
print("scale from step:", " ".join(changes))
finite = all(torch.isfinite(p).all() for p in mlp.parameters())
print(f"final loss {loss.item():.3f}, parameters finite: {finite}")
# --8<-- [end:grad_scaler]

# --8<-- [start:loss_scale_figure]
from tutorials.lec26_debugging_hpc.figures import plot_loss_scale

print(f"wrote {plot_loss_scale(scales, skipped, OUT / 'loss-scale.png')}")
# --8<-- [end:loss_scale_figure]

# --8<-- [start:allocator]
from tutorials.lec26_debugging_hpc.caching_allocator import MiB, ToyCachingAllocator, ToyOutOfMemoryError

gpu = ToyCachingAllocator(capacity=100 * MiB)  # a 100 MiB "GPU" following the allocator's rules
a = gpu.malloc(3 * MiB)  # a large-pool request under 10 MiB: a 20 MiB segment, split
b = gpu.malloc(300 * 1024)  # a small-pool request (<= 1 MiB): a 2 MiB segment, split
print(f"allocated {gpu.allocated / MiB:.2f} MiB, reserved {gpu.reserved / MiB:.2f} MiB")
gpu.free(a)
gpu.free(b)  # back to the cache, not to the device
print(f"after free: allocated {gpu.allocated / MiB:.2f} MiB, reserved {gpu.reserved / MiB:.2f} MiB")
c = gpu.malloc(5 * MiB)  # served from the cached 20 MiB segment
print(f"5 MiB more: reserved {gpu.reserved / MiB:.2f} MiB, segments from the device: {gpu.device_mallocs}")
# --8<-- [end:allocator]

# --8<-- [start:fragmentation]
def steps(gpu, keep_first):
    """A big temporary, then two activations with a small long-lived tensor allocated between them."""
    keep = gpu.malloc(2 * MiB) if keep_first else None  # e.g. a running metric, a cache entry
    gpu.free(gpu.malloc(60 * MiB))  # step 1: a 60 MiB temporary (a long sequence), freed
    act1 = gpu.malloc(20 * MiB)  # step 2: activations reuse the cached 60 MiB segment...
    keep = keep or gpu.malloc(2 * MiB)  # ...and the long-lived tensor lands between them
    act2 = gpu.malloc(20 * MiB)
    gpu.free(act1)
    gpu.free(act2)
    return keep


layouts = {}
for keep_first in (False, True):
    gpu = ToyCachingAllocator(capacity=100 * MiB)
    steps(gpu, keep_first)
    title = "long-lived tensor allocated first" if keep_first else "long-lived tensor allocated in between"
    layouts[title] = [[(blk.offset, blk.size, blk.allocated) for blk in s.blocks] for s in gpu.segments]
    try:
        gpu.malloc(50 * MiB)  # step 3: a 50 MiB activation
        print(f"{title}: 50 MiB allocated; reserved {gpu.reserved / MiB:.0f} MiB")
    except ToyOutOfMemoryError as err:
        free = (gpu.capacity - gpu.allocated) / MiB
        print(f"{title}: {free:.0f} MiB not allocated, yet\n{err}")
# --8<-- [end:fragmentation]

# --8<-- [start:fragmentation_figure]
from tutorials.lec26_debugging_hpc.figures import plot_segments

path = plot_segments(layouts, unit=MiB, capacity=100 * MiB, request=50 * MiB, path=OUT / "fragmentation.png")
print(f"wrote {path}")
# --8<-- [end:fragmentation_figure]

# --8<-- [start:cuda_snapshot]
def record_cuda_memory(step, path, steps=3):
    """GPU only: record every CUDA allocation of `steps` calls of `step`, and write a snapshot.

    Open the file at https://pytorch.org/memory_viz, or render it with
    `python -m torch.cuda._memory_viz trace_plot snapshot.pickle -o trace.html`.
    """
    torch.cuda.memory._record_memory_history(max_entries=100_000)  # keep a stack per alloc/free
    try:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
        torch.cuda.memory._dump_snapshot(str(path))  # segments, blocks and the event history
    finally:
        torch.cuda.memory._record_memory_history(enabled=None)  # stop recording
    return path
# --8<-- [end:cuda_snapshot]

# --8<-- [start:leak]
def live_tensors():
    # type(o), not isinstance(o, ...): isinstance may run code of odd objects (deprecated aliases warn)
    return sum(1 for o in gc.get_objects() if issubclass(type(o), torch.Tensor))


torch.manual_seed(0)
net = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 1))
val = [(torch.randn(128, 64, generator=gen), torch.randn(128, 1, generator=gen)) for _ in range(5)]
alive = []  # a weak reference to each batch's hidden activation: does it outlive the loop?
hook = net[1].register_forward_hook(lambda module, inputs, out: alive.append(weakref.ref(out)))

before = live_tensors()
losses = []
for xb, yb in val:
    losses.append(F.mse_loss(net(xb), yb))  # the bug: a tensor, and through grad_fn its whole graph
print(f"tensors alive: +{live_tensors() - before}; activations alive: "
      f"{sum(r() is not None for r in alive)} of {len(alive)}")
# --8<-- [end:leak]

# --8<-- [start:leak_graph]
def saved_bytes(t):
    """Bytes of the tensors saved for backward in the graph behind `t` (each storage once)."""
    seen, storages, todo = set(), {}, [t.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        for name in dir(node):  # saved tensors show up as node._saved_<name>
            value = getattr(node, name) if name.startswith("_saved_") else None
            if isinstance(value, torch.Tensor):
                storages[value.untyped_storage().data_ptr()] = value.untyped_storage().nbytes()
        todo.extend(next_node for next_node, _ in node.next_functions)
    return sum(storages.values())


print(f"one kept loss holds {saved_bytes(losses[0]):,} bytes of saved tensors;"
      f" its grad_fn: {type(losses[0].grad_fn).__name__}")
# --8<-- [end:leak_graph]

# --8<-- [start:leak_fix]
losses, alive[:] = [], []
before = live_tensors()
with torch.no_grad():  # evaluation needs no graph at all
    for xb, yb in val:
        losses.append(F.mse_loss(net(xb), yb).item())  # a Python float
print(f"tensors alive: +{live_tensors() - before}; activations alive: "
      f"{sum(r() is not None for r in alive)} of {len(alive)}")
hook.remove()
# --8<-- [end:leak_fix]

# --8<-- [start:leak_profiler]
from torch.profiler import ProfilerActivity, profile


def net_allocated(evaluate):
    """Bytes allocated and not freed while `evaluate` ran, by the profiler's memory events."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        kept = evaluate()  # keep the result alive until the profile ends
    del kept
    return sum(e.self_cpu_memory_usage for e in prof.key_averages())


leaky = net_allocated(lambda: [F.mse_loss(net(xb), yb) for xb, yb in val])
fixed = net_allocated(lambda: [F.mse_loss(net(xb), yb).item() for xb, yb in val])
print(f"kept by the leaky loop: {leaky:,} bytes = 5 x {leaky // 5:,}; by the fixed one: {fixed:,}")
# --8<-- [end:leak_profiler]

# --8<-- [start:leak_rss]
import psutil


def rss_mib():
    return psutil.Process().memory_info().rss / 2**20  # resident memory of this process, MiB


big = nn.Sequential(nn.Linear(256, 2048), nn.ReLU(), nn.Linear(2048, 1))
data = torch.randn(256, 256, generator=gen)
start = rss_mib()
kept_losses = [big(data).square().mean() for _ in range(12)]  # 12 graphs, each with a 2 MiB activation
leaked = rss_mib() - start
del kept_losses
with torch.no_grad():
    start = rss_mib()
    floats = [big(data).square().mean().item() for _ in range(12)]
print(f"RSS growth: {leaked:.0f} MiB with the graphs kept, {rss_mib() - start:.0f} MiB without")
# --8<-- [end:leak_rss]

# --8<-- [start:custom_op_leak]
class LeakyExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = x.exp()
        ctx.out = out  # the bug: a tensor stored on ctx. out -> grad_fn (ctx) -> out is a cycle
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.out


class GoodExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = x.exp()
        ctx.save_for_backward(out)  # saved tensors are held without a reference cycle
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


gc.disable()  # no automatic collection in the middle of the experiment
try:
    for fn in (LeakyExp, GoodExp):
        y = fn.apply(torch.randn(1000, requires_grad=True))
        ref = weakref.ref(y)
        del y
        freed_by_refcount = ref() is None
        gc.collect()
        print(f"{fn.__name__}: freed when its last name went: {freed_by_refcount};"
              f" after gc.collect(): {ref() is None}")
finally:
    gc.enable()
# --8<-- [end:custom_op_leak]

# --8<-- [start:stuck_rank]
import faulthandler
import signal
import threading

from tutorials.lec26_debugging_hpc.debuggers import stack_functions


def load_batch(lock):
    with lock:  # waits for a lock that another code path never released
        pass


def stuck(rank, world_size):
    # on SIGTERM (how the launcher stops a hung rank), print the Python stack first, then die
    faulthandler.register(signal.SIGTERM, chain=True)
    group = dist.new_group(timeout=timedelta(minutes=5))  # long: only the launcher's timeout fires
    lock = threading.Lock()
    if rank == 1:
        lock.acquire()  # say, a loader thread died holding it
        load_batch(lock)  # rank 1 never gets further
    dist.all_reduce(torch.ones(2), group=group)  # rank 0 waits here for rank 1


try:
    launch(stuck, 2, timeout=1.5, show=False)
except WorkerTimeout as err:
    print(err)
    for rank, text in err.outputs.items():
        print(f"rank {rank} was in:", " <- ".join(stack_functions(text)))
# --8<-- [end:stuck_rank]

# --8<-- [start:skipped_collective]
from tutorials.lec26_debugging_hpc.flight import dump_flight_recorder

FR_DIR = OUT / "flight"


def skip_one(rank, world_size, folder):
    group = dist.new_group(timeout=timedelta(seconds=0.5))  # its collectives give up after 0.5 s
    try:
        for step in range(3):
            if rank == 1 and step == 1:
                continue  # rank 1 skips step 1's reduction (say, its batch was empty)
            x = torch.full((2,), 10.0**step)
            dist.all_reduce(x, group=group)
            print(f"step {step}: sum {x[0].item():g}")
    finally:
        dump_flight_recorder(folder, rank)  # with gloo nothing else writes the buffer out


try:  # TORCH_FR_BUFFER_SIZE: keep the last 64 collectives of each rank (default 2000)
    launch(skip_one, 2, args=(FR_DIR,), timeout=20, env={"TORCH_FR_BUFFER_SIZE": "64"}, show=False)
except WorkerError as err:
    for rank in (0, 1):
        print(f"rank {rank} printed:", " | ".join(err.outputs[rank].splitlines()))
    print("rank 0 failed:", err.failures[0].split("] ")[-1])
print(f"wrote {FR_DIR}/rank_0 and rank_1")
# --8<-- [end:skipped_collective]

# --8<-- [start:flight_analysis]
from tutorials.lec26_debugging_hpc.flight import analyze, last_collectives, read_dumps

for rank, (seq, op) in last_collectives(read_dumps(FR_DIR)).items():
    print(f"rank {rank}: last collective issued #{seq} ({op})")
report = analyze(FR_DIR, world_size=2)  # torch.distributed.flight_recorder's analyzer
print("\n".join(line for line in report if line.strip() and not line.startswith("collective stack")))
# --8<-- [end:flight_analysis]

# --8<-- [start:monitored_barrier]
import time


def laggard(rank, world_size):
    if rank == 2:
        time.sleep(1.0)  # rank 2 is late: a slow disk, a bad node, a long data-loading stall
    # gloo only: rank 0 waits for each rank in turn, and names the ranks that did not arrive
    dist.monitored_barrier(timeout=timedelta(seconds=0.5), wait_all_ranks=True)


try:
    launch(laggard, 3, timeout=20, show=False)
except WorkerError as err:
    print(err.failures[0].splitlines()[0])
# --8<-- [end:monitored_barrier]

# --8<-- [start:debug_detail]
def mismatched(rank, world_size):
    # torch.distributed read TORCH_DISTRIBUTED_DEBUG when it was imported (here, in the parent,
    # before the fork); read it again, then make a group: under DETAIL it is wrapped in a checker
    dist.set_debug_level_from_env()
    group = dist.new_group()
    t = torch.ones(4 if rank == 0 else 5)  # rank 1 built its tensor with another shape
    dist.all_reduce(t, group=group)


for env in ({}, {"TORCH_DISTRIBUTED_DEBUG": "DETAIL"}):
    try:
        launch(mismatched, 2, timeout=20, env=env, show=False)
    except WorkerError as err:
        print(f"TORCH_DISTRIBUTED_DEBUG={env.get('TORCH_DISTRIBUTED_DEBUG', 'OFF')}, rank 0:",
              err.failures[0].split(". ")[0])
        said = err.outputs[0] + err.failures[0]  # what rank 0 printed (C++ too), and its error
        for pattern in (r"Received data size.*?code\?", r"TensorShape=\[\d+\]", r"Collectives differ.*"):
            for found in dict.fromkeys(re.findall(pattern, said)):  # each once, in order
                print("   ", re.sub(r"\s+", " ", found))
# --8<-- [end:debug_detail]

# --8<-- [start:nan_check]
def nan_on_rank1(rank, world_size):
    grad = torch.ones(4)
    if rank == 1:
        grad[2] = float("nan")  # rank 1 computed a NaN gradient
    summed = grad.clone()
    dist.all_reduce(summed)
    print("after all_reduce:", summed.tolist())  # now every rank holds the NaN
    from torch._C._distributed_c10d import NanCheckHook  # private API, torch 2.1x

    check = NanCheckHook.attach(dist.group.WORLD)  # checks the inputs of every collective of the group
    dist.all_reduce(grad)
    check.remove()


try:
    launch(nan_on_rank1, 2, timeout=20, show=False)
except WorkerError as err:
    print("rank 0 printed:", err.outputs[0].strip())
    print("rank 1 printed:", err.outputs[1].strip())
    print("rank 1 failed:", err.failures[1])
# --8<-- [end:nan_check]

# --8<-- [start:bind_and_log]
from tutorials.lec26_debugging_hpc.structured_log import rank_logger, read_logs

LOG_DIR = OUT / "logs"


def bind_and_log(rank, world_size, folder):
    local_rank = int(os.environ["LOCAL_RANK"])  # this process's index on its node (torchrun sets it)
    local_size = int(os.environ["LOCAL_WORLD_SIZE"])
    cores = sorted(os.sched_getaffinity(0))  # the cores this process may run on
    mine = cores[local_rank::local_size] or cores  # a disjoint share per rank (all, if too few cores)
    os.sched_setaffinity(0, mine)  # pin this process (and the threads it starts) to its share
    torch.set_num_threads(len(mine))  # one intra-op thread per core it owns
    # one GPU per process: cuda:<LOCAL_RANK> (with CUDA_VISIBLE_DEVICES renumbering what it sees)
    device = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    log = rank_logger(Path(folder) / f"rank{rank}.jsonl", rank)
    log.info("bound", extra={"cores": mine, "threads": torch.get_num_threads(), "device": str(device)})
    loss = torch.tensor(float(rank) + 0.5)
    dist.all_reduce(loss)
    log.info("step", extra={"step": 0, "loss": loss.item(), "finite": math.isfinite(loss.item())})
    return mine


shares = launch(bind_and_log, 2, args=(LOG_DIR,), timeout=20)
print("disjoint shares:", not set(shares[0]) & set(shares[1]) or len(os.sched_getaffinity(0)) < 2)
for record in sorted(read_logs(LOG_DIR), key=lambda r: (r["rank"], r["time"])):
    print({k: record[k] for k in ("rank", "event", "step", "loss") if k in record})
print(f"wrote {LOG_DIR}/rank0.jsonl and rank1.jsonl")
# --8<-- [end:bind_and_log]

# --8<-- [start:environment]
import json

from tutorials.lec26_debugging_hpc import environment
from tutorials.lec26_debugging_hpc.environment import write_environment

# code=: a file of the code that ran, for the commit (and uncommitted changes) of its git work tree
path = write_environment(OUT / "environment.json", code=environment.__file__)
info = json.loads(path.read_text())
print(f"wrote {path}:", ", ".join(info))
print("torch fields:", ", ".join(info["torch"]))
print("same torch as this process:", info["torch"]["version"] == torch.__version__)
# --8<-- [end:environment]

# --8<-- [start:mistake_isnan]
loss = torch.tensor(inf)  # an overflowed loss
print("isnan:", torch.isnan(loss).item(), "| isfinite:", torch.isfinite(loss).item())
# --8<-- [end:mistake_isnan]

# --8<-- [start:mistake_clip_nan]
torch.manual_seed(0)
layer = nn.Linear(4, 4)
layer(torch.randn(2, 4)).sum().backward()
layer.bias.grad[0] = float("nan")  # one NaN, in one parameter
norm = torch.nn.utils.clip_grad_norm_(layer.parameters(), max_norm=1.0)
print("norm:", norm.item(), "| weight grad finite:", torch.isfinite(layer.weight.grad).all().item())
try:
    torch.nn.utils.clip_grad_norm_(layer.parameters(), max_norm=1.0, error_if_nonfinite=True)
except RuntimeError as err:
    print("RuntimeError:", str(err).split(", so")[0])
# --8<-- [end:mistake_clip_nan]

# --8<-- [start:mistake_unscale]
torch.manual_seed(0)
layer = nn.Linear(4, 1)
opt = torch.optim.SGD(layer.parameters(), lr=0.1)
scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
scaler.scale(layer(torch.randn(8, 4)).pow(2).mean()).backward()
wrong = torch.nn.utils.get_total_norm([p.grad for p in layer.parameters()])  # the scaled gradients
scaler.unscale_(opt)  # divides the gradients by the scale (once; step() then skips it)
right = torch.nn.utils.clip_grad_norm_(layer.parameters(), max_norm=1.0)
scaler.step(opt)
scaler.update()
ratio = wrong.item() / right.item()
print(f"norm before unscale_: {wrong.item():.4g} = {ratio:g} x the true {right.item():.4f}")
# --8<-- [end:mistake_unscale]

# --8<-- [start:mistake_debug_env]
os.environ["TORCH_DISTRIBUTED_DEBUG"] = "DETAIL"  # too late: read when torch.distributed was imported
print("after setting the variable:", dist.get_debug_level())
dist.set_debug_level_from_env()  # reads it again (or set it before Python starts)
print("after set_debug_level_from_env():", dist.get_debug_level())
dist.set_debug_level(dist.DebugLevel.OFF)  # back to the default for what follows
del os.environ["TORCH_DISTRIBUTED_DEBUG"]
# --8<-- [end:mistake_debug_env]

# --8<-- [start:evaluate_leaky]
def evaluate_leaky(model, batches):
    losses = [F.mse_loss(model(x), y) for x, y in batches]
    return sum(losses) / len(losses)
# --8<-- [end:evaluate_leaky]
