"""Lecture 7: profiling and performance tuning.

The code of the chapter ``docs/lectures/07-profiling.md``, in the order the
page shows it. Run it top to bottom with
``python -m tutorials.lec07_profiling.chapter``; it writes the chapter's two
figures and a Chrome trace into ``lec07/`` under the current directory.

The profiler's tables are full of timings, which differ on every run; what this
script prints is mostly what does not: op names and call counts, shapes, bytes and
labels. Its one timing result (the data phase's share of the step time) is shown on
the page as a recorded run; the chapter's claims check what it means.
"""

# --8<-- [start:imports]
import json
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function, schedule
from torch.utils.data import DataLoader, Dataset, TensorDataset

from tutorials.lec07_profiling import profiling

torch.manual_seed(0)
OUT = Path("lec07")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)
# --8<-- [end:imports]

# --8<-- [start:data_and_model]
# Real data, offline: 1,797 handwritten digits of 8x8 pixels, values 0..16.
digits = load_digits()
X = torch.tensor(digits.data, dtype=torch.float32) / 16.0  # (1797, 64)
Y = torch.tensor(digits.target)                            # (1797,)

model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.1)


def train_step(xb, yb):
    """One step, each phase under a record_function label."""
    with record_function("forward"):
        loss = F.cross_entropy(model(xb), yb)
    with record_function("backward"):
        opt.zero_grad(set_to_none=True)
        loss.backward()
    with record_function("optimizer"):
        opt.step()
    return loss.detach()  # detached, still a tensor: no sync here
# --8<-- [end:data_and_model]

# --8<-- [start:first_profile]
xb, yb = X[:64], Y[:64]
with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
    for _ in range(3):
        train_step(xb, yb)

averages = prof.key_averages()  # one row per op name: calls, times, memory
calls = {e.key: e.count for e in averages}
for name in profiling.top_ops_by_count(averages, 5):
    print(f"{name:<20} {calls[name]} calls")
print(profiling.labels_present(averages, ["forward", "backward", "optimizer"]))
# --8<-- [end:first_profile]

# --8<-- [start:table]
table = averages.table(sort_by="self_cpu_time_total", row_limit=8)
# The table's header (its rows hold times, which change on every run)
header = [c.strip() for c in table.splitlines()[1].split("  ") if c.strip()]
print(header)

# group_by_input_shape splits each op by the shapes it was called with
for e in prof.key_averages(group_by_input_shape=True):
    if e.key == "aten::addmm":  # Linear: bias + input @ weight.T
        print(e.key, e.input_shapes[:3], e.count, "calls")
# --8<-- [end:table]

# --8<-- [start:schedule]
# wait 1 step, warm up 1 (recording, then discarded), record 2; do it twice
sched = schedule(wait=1, warmup=1, active=2, repeat=2)
actions = [sched(step).name for step in range(9)]
for step, action in enumerate(actions):
    print(step, action)
# --8<-- [end:schedule]

# --8<-- [start:schedule_figure]
colors = {"NONE": "#dddddd", "WARMUP": "#f4b183", "RECORD": "#5b9bd5",
          "RECORD_AND_SAVE": "#2e5597"}
fig, ax = plt.subplots(figsize=(8, 1.9))
for step, action in enumerate(actions):
    ax.barh(0, 1, left=step, color=colors[action], edgecolor="white")
    ax.text(step + 0.5, 0, action.replace("_AND_", "\n+ "), ha="center",
            va="center", fontsize=7,
            color="white" if action == "RECORD_AND_SAVE" else "black")
ax.set(xlim=(0, len(actions)), yticks=[], xlabel="step (prof.step() calls)",
       title="schedule(wait=1, warmup=1, active=2, repeat=2)")
ax.set_xticks([s + 0.5 for s in range(len(actions))], range(len(actions)))
fig.tight_layout()
fig.savefig(OUT / "schedule.png", dpi=110)
print(f"wrote {OUT / 'schedule.png'}")
# --8<-- [end:schedule_figure]

# --8<-- [start:scheduled_run]
def export_trace(p):  # on_trace_ready: called at each RECORD_AND_SAVE
    p.export_chrome_trace(str(OUT / "trace.json"))


with profile(activities=[ProfilerActivity.CPU],
             schedule=schedule(wait=1, warmup=1, active=3),
             on_trace_ready=export_trace) as prof:
    for i in range(5):  # wait + warmup + active steps
        k = i % 4       # four different batches of 64
        train_step(X[64 * k:64 * (k + 1)], Y[64 * k:64 * (k + 1)])
        prof.step()     # tell the schedule a step has ended

calls = {e.key: e.count for e in prof.key_averages()}
print("recorded steps:", calls["ProfilerStep*"])  # the active ones only
print("forward calls: ", calls["forward"])
print(f"wrote {OUT / 'trace.json'}")
# --8<-- [end:scheduled_run]

# --8<-- [start:trace_file]
with open(OUT / "trace.json") as f:
    trace = json.load(f)
events = trace["traceEvents"]  # the Chrome "Trace Event Format"
print(sorted({e["cat"] for e in events if "cat" in e}))
print(sorted(profiling.trace_event_names(OUT / "trace.json",
                                         category="user_annotation")))
ops = [e for e in events if e.get("cat") == "cpu_op"]
print(sorted(ops[0]))  # the fields of one complete ("X") event
# --8<-- [end:trace_file]

# --8<-- [start:memory]
with profile(activities=[ProfilerActivity.CPU], profile_memory=True,
             record_shapes=True) as prof:
    train_step(xb, yb)

# self_cpu_memory_usage: bytes the op allocated minus bytes it freed
by_memory = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_memory_usage)
for e in by_memory[:3]:
    print(f"{e.key:<18} {e.self_cpu_memory_usage / 1024:6.1f} KB")
print(64 * 128 * 4 / 1024, "KB = one (64, 128) float32 activation")
# --8<-- [end:memory]

# --8<-- [start:phase_figure]
def aten_ops_under(event):
    """Count the aten ops nested (at any depth) under a profiler event."""
    return sum(c.name.startswith("aten::") + aten_ops_under(c)
               for c in event.cpu_children)


with profile(activities=[ProfilerActivity.CPU]) as prof:
    train_step(xb, yb)
phases = ["forward", "backward", "optimizer"]
counts = {e.name: aten_ops_under(e) for e in prof.events() if e.name in phases}
print(counts)

fig, ax = plt.subplots(figsize=(5, 2.6))
bars = ax.barh(phases[::-1], [counts[p] for p in phases[::-1]], color="#5b9bd5")
ax.bar_label(bars, padding=3)
ax.set(xlabel="aten ops called (one step, 2-layer MLP)",
       title="What one training step is made of")
fig.tight_layout()
fig.savefig(OUT / "ops-per-phase.png", dpi=110)
print(f"wrote {OUT / 'ops-per-phase.png'}")
# --8<-- [end:phase_figure]

# --8<-- [start:sync_points]
def train_logging_every_step(n):
    total = 0.0
    for _ in range(n):
        total += train_step(xb, yb).item()  # .item(): a sync point per step
    return total / n


def train_logging_once(n):
    total = torch.zeros(())
    for _ in range(n):
        total += train_step(xb, yb)  # stays a tensor: no sync
    return total.item() / n          # one sync at the end


for fn in (train_logging_every_step, train_logging_once):
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn(8)
    print(f"{fn.__name__:<25}", profiling.sync_points(prof))
# --8<-- [end:sync_points]

# --8<-- [start:hidden_syncs]
loss = train_step(xb, yb).round(decimals=2)
checks = {
    "print(loss)": lambda: print(loss),
    "f'{loss:.3f}'": lambda: f"{loss:.3f}",
    "float(loss)": lambda: float(loss),
    "if loss > 1:": lambda: bool(loss > 1),
}
for what, fn in checks.items():
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    n = profiling.sync_points(prof)["aten::_local_scalar_dense"]
    print(f"{what:<15} {n} sync(s)")
# --8<-- [end:hidden_syncs]

# --8<-- [start:two_pipelines]
class SlowDigits(Dataset):
    """Digits with a slow __getitem__: think JPEG decoding on one core."""

    def __len__(self):
        return len(X)

    def __getitem__(self, i):
        time.sleep(0.02)  # 20 ms of "decoding" per image (a large JPEG)
        return X[i], Y[i]


big = nn.Sequential(nn.Linear(64, 1024), nn.ReLU(), nn.Linear(1024, 1024),
                    nn.ReLU(), nn.Linear(1024, 10))
big_opt = torch.optim.SGD(big.parameters(), lr=0.01)
slow_loader = DataLoader(SlowDigits(), batch_size=32)
cached_loader = DataLoader(TensorDataset(X, Y), batch_size=128)
# --8<-- [end:two_pipelines]

# --8<-- [start:data_vs_compute]
def profile_loader(loader, net, optimizer):
    batches = iter(loader)

    def one_step(i):
        with record_function("data"):  # all the work that produces the batch
            xb, yb = next(batches)     # the DataLoader records its own range inside
        optimizer.zero_grad()
        F.cross_entropy(net(xb), yb).backward()
        optimizer.step()

    return profiling.profile_steps(one_step, wait=1, warmup=1, active=3)


slow = profile_loader(slow_loader, model, opt)
fast = profile_loader(cached_loader, big, big_opt)
for name, p in (("slow loader, small model", slow),
                ("cached data, big model", fast)):
    share = profiling.data_fraction(p)  # time in the "data" ranges / step time
    print(f"{name}: {share:.0%} of the step in the data phase")
# --8<-- [end:data_vs_compute]

# --8<-- [start:autocast_dtypes]
seen = {}


def record_dtype(module, inputs, output):
    seen[type(module).__name__] = output.dtype


hooks = [m.register_forward_hook(record_dtype) for m in model]
with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
    logits = model(xb)
    loss = F.cross_entropy(logits, yb)
print(seen)
print("loss:", loss.dtype, " weights:", model[0].weight.dtype)
for h in hooks:
    h.remove()
# --8<-- [end:autocast_dtypes]

# --8<-- [start:autocast_lists]
z = model(xb)  # float32 logits, computed outside autocast
with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
    z16 = model(xb)  # Linear is on the lower-precision list: bfloat16
    cases = {
        "softmax": lambda t: t.softmax(dim=1),
        "log_softmax": lambda t: t.log_softmax(dim=1),
        "layer_norm": lambda t: F.layer_norm(t, t.shape[1:]),
        "sum": lambda t: t.sum(),
        "mean": lambda t: t.mean(),
        "norm": lambda t: t.norm(),
        "cross_entropy": lambda t: F.cross_entropy(t, yb),         # fp32 list
        "mse_loss": lambda t: F.mse_loss(t, torch.zeros_like(t)),  # fp32 list
    }
    print(f"{'':21} {'bf16 input':<11} fp32 input")
    for what, op in cases.items():
        print(f"{what:21} {str(op(z16).dtype)[6:]:<11} {str(op(z).dtype)[6:]}")
    # promote list: an op on several tensors runs in the widest of their dtypes
    print(f"{'cat([bf16, fp32])':21}", str(torch.cat([z16, z]).dtype)[6:])
    print(f"{'fp32.index_copy(bf16)':21}",
          str(z.index_copy(0, torch.tensor([0]), z16[:1]).dtype)[6:])

has_rule = torch._C._dispatch_has_kernel_for_dispatch_key  # Lecture 4's table
for op in ("aten::softmax.int", "aten::layer_norm", "aten::sum", "aten::nll_loss",
           "aten::cat"):
    print(f"{op:18} AutocastCPU: {has_rule(op, 'AutocastCPU')!s:5}  "
          f"AutocastCUDA: {has_rule(op, 'AutocastCUDA')}")
# --8<-- [end:autocast_lists]

# --8<-- [start:underflow]
tiny = torch.tensor([1e-4, 1e-6, 1e-8])  # small gradient values, float32
print("float16: ", tiny.half())
print("bfloat16:", tiny.bfloat16())
scale = 2.0 ** 16  # GradScaler's initial scale
print("fp16 of tiny * scale, / scale:", (tiny * scale).half().float() / scale)
print(torch.finfo(torch.float16).tiny, torch.finfo(torch.bfloat16).tiny)
# --8<-- [end:underflow]

# --8<-- [start:amp_step]
def amp_step(net, net_opt, scaler, dtype):
    net_opt.zero_grad()
    with torch.amp.autocast(device_type="cpu", dtype=dtype,
                            enabled=dtype is not None):  # None: plain fp32
        loss = F.cross_entropy(net(xb), yb)  # computed in fp32 by autocast
    scaler.scale(loss).backward()  # backward: outside autocast
    scaler.step(net_opt)  # unscale; skip the step if a grad is inf/NaN
    scaler.update()       # adapt the scale factor
    return loss.detach()


losses = {}
for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    net.load_state_dict(model.state_dict())  # same starting weights
    scaler = torch.amp.GradScaler("cpu", enabled=False)  # bf16: no scaling
    net_opt = torch.optim.SGD(net.parameters(), lr=0.1)
    losses[name] = amp_step(net, net_opt, scaler, dtype)
print({k: v.dtype for k, v in losses.items()})
print(abs(losses["fp32"] - losses["bf16"]).item() < 0.05)
# --8<-- [end:amp_step]

# --8<-- [start:amp_in_profile]
for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        amp_step(net, net_opt, scaler, dtype)
    calls = {e.key: e.count for e in prof.key_averages()}
    shown = ("aten::_to_copy", "aten::addmm", "aten::mm")
    print(name, {k: calls.get(k, 0) for k in shown})
# --8<-- [end:amp_in_profile]

# --8<-- [start:fp16_on_cpu]
from tutorials.lec07_profiling.amp_bench import make_scaler

try:
    make_scaler("fp16", "cpu")
except ValueError as err:
    print(err)
# --8<-- [end:fp16_on_cpu]

# --8<-- [start:mistake_no_step]
with profile(schedule=schedule(wait=1, warmup=1, active=2)) as prof:
    for _ in range(4):
        train_step(xb, yb)  # ...but prof.step() is never called
try:
    prof.key_averages()
except AssertionError as err:
    print("AssertionError:", err)
# --8<-- [end:mistake_no_step]

# --8<-- [start:mistake_cuda_amp]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    torch.cuda.amp.autocast(dtype=torch.bfloat16)  # the old spelling
print(str(caught[0].message))
# --8<-- [end:mistake_cuda_amp]
