"""Lecture 12: model optimization, hyperparameter search and best practices.

The code of the chapter ``docs/lectures/12-model-optimization.md``, in the order
the page shows it. Run it top to bottom with
``python -m tutorials.lec12_model_optimization.chapter``; it writes the
chapter's figures into ``lec12/`` under the current directory and its
checkpoints and logs into a temporary folder.
"""

# --8<-- [start:imports]
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
# One CPU thread for this page: a float sum split over 2 threads rounds
# differently than over 1, and the page prints results to 4 digits (section 9).
previous_threads = torch.get_num_threads()
torch.set_num_threads(1)
OUT = Path("lec12")  # this chapter's figures go here
OUT.mkdir(exist_ok=True)
workdir = Path(tempfile.mkdtemp())  # checkpoints and logs: a temporary folder
# --8<-- [end:imports]

# --8<-- [start:data]
from tutorials.core.datasets import digits_split
from tutorials.lec12_model_optimization.experiments import make_model

# 1,797 real 8x8 scans of handwritten digits, pixels in [0, 1], split 80/20
x_train, y_train, x_val, y_val = digits_split(seed=0)
print(tuple(x_train.shape), tuple(x_val.shape), y_train[:10].tolist())
train_ds = TensorDataset(x_train, y_train)
val_loader = DataLoader(TensorDataset(x_val, y_val), batch_size=512)
print(make_model())  # 64 -> 128 -> 128 -> 10, dropout 0.1
# --8<-- [end:data]

# --8<-- [start:train_loop]
# This page trains on the CPU (the model is tiny); on a GPU use "cuda".
device = torch.device("cpu")
loader = DataLoader(train_ds, batch_size=64, shuffle=True,
                    generator=torch.Generator().manual_seed(0))
torch.manual_seed(0)  # initial weights and dropout masks
model = make_model().to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

for epoch in range(3):
    model.train()  # dropout on
    total, seen = 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad(set_to_none=True)  # forget last step's grads
        loss = F.cross_entropy(model(inputs), targets)  # batch mean
        loss.backward()  # fills p.grad of every parameter
        optimizer.step()  # moves the weights
        total += loss.item() * len(targets)  # a float: the graph is freed
        seen += len(targets)
    model.eval()  # dropout off
    correct = 0
    with torch.inference_mode():  # no graph is recorded
        for inputs, targets in val_loader:
            preds = model(inputs.to(device)).argmax(1)
            correct += (preds == targets.to(device)).sum().item()
    acc = correct / len(val_loader.dataset)
    print(f"epoch {epoch}: train loss {total / seen:.4f}  val acc {acc:.4f}")
hand_weights = {k: v.clone() for k, v in model.state_dict().items()}
# --8<-- [end:train_loop]

# --8<-- [start:fit]
from tutorials.lec12_model_optimization.training import TrainConfig, fit

loader = DataLoader(train_ds, batch_size=64, shuffle=True,
                    generator=torch.Generator().manual_seed(0))
torch.manual_seed(0)  # the same start as the hand-written loop
model = make_model()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
# fit moves the model to config.device and batches with it
config = TrainConfig(epochs=3, device="cpu", progress=False)
history = fit(model, loader, val_loader, nn.CrossEntropyLoss(), optimizer,
              config=config)
for h in history:
    print(f"epoch {h['epoch']}: train loss {h['train_loss']:.4f}  "
          f"val acc {h['val_accuracy']:.4f}  grad norm {h['grad_norm']:.3f}")
# torch.equal: same shape and every element bit-identical
same = all(torch.equal(v, hand_weights[k])
           for k, v in model.state_dict().items())
print("same weights as the hand-written loop:", same)
# --8<-- [end:fit]

# --8<-- [start:mistake_zero_grad]
torch.manual_seed(0)
net = make_model(dropout=0.0)
xb, yb = x_train[:64], y_train[:64]
for step in range(3):
    # no optimizer.zero_grad() here: backward ADDS into p.grad
    F.cross_entropy(net(xb), yb).backward()
    print(f"after backward {step + 1}: "
          f"|grad of layer 0| = {net[0].weight.grad.norm():.4f}")
# --8<-- [end:mistake_zero_grad]

# --8<-- [start:mistake_eval]
model.train()  # forgot model.eval(): dropout still drops 10 % of units
with torch.inference_mode():
    a, b = model(x_val[:4]), model(x_val[:4])
print("train mode, same input twice, same output:", torch.equal(a, b))
model.eval()
with torch.inference_mode():
    a, b = model(x_val[:4]), model(x_val[:4])
print("eval mode,  same input twice, same output:", torch.equal(a, b))
# --8<-- [end:mistake_eval]

# --8<-- [start:optimizers]
from tutorials.lec12_model_optimization.experiments import (
    optimizer_factories,
    train_run,
)

data = (x_train, y_train, x_val, y_val)
torch.manual_seed(0)
init_state = make_model().state_dict()  # every run starts from these weights
factories = optimizer_factories(lr=0.05, adam_lr=1e-3, weight_decay=0.01)
runs = {}
for name, make_opt in factories.items():
    # same weights, same batches in the same order, same 8 epochs
    runs[name] = train_run(data, make_opt, epochs=8, batch_size=64, seed=0,
                           device=device, init_state=init_state)
    last = runs[name]["history"][-1]
    print(f"{name:13s} val loss {last['val_loss']:.4f}  "
          f"val acc {last['val_accuracy']:.4f}")
# --8<-- [end:optimizers]

# --8<-- [start:plot_optimizers]
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
# history holds one record per epoch: train_loss, val_loss, val_accuracy...
for name, run in runs.items():
    epochs = [h["epoch"] + 1 for h in run["history"]]
    axes[0].plot(epochs, [h["train_loss"] for h in run["history"]],
                 marker="o", label=name)
    axes[1].plot(epochs, [h["val_loss"] for h in run["history"]],
                 marker="o", label=name)
for ax, title in zip(axes, ("training loss", "validation loss")):
    ax.set(title=title, xlabel="epoch", yscale="log")  # losses span 10x
    ax.grid(alpha=0.3)
axes[0].legend()
fig.suptitle("Four optimizers, same model, data, start and budget")
fig.tight_layout()
fig.savefig(OUT / "optimizers.png", dpi=110)
print(f"wrote {OUT / 'optimizers.png'}")
plt.close(fig)
# --8<-- [end:plot_optimizers]

# --8<-- [start:schedules]
from tutorials.lec12_model_optimization.experiments import SCHEDULES

total_steps = 23 * 8  # 23 optimizer steps per epoch, 8 epochs
lr_curves = {}
for name in ("constant", "step decay", "cosine", "warmup + cosine",
             "OneCycle"):
    # a one-parameter optimizer is enough to read a schedule
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.05,
                          momentum=0.9)
    sched = SCHEDULES[name](opt, total_steps, 0.05)
    lrs = []
    for _ in range(total_steps):
        lrs.append(opt.param_groups[0]["lr"])  # the LR this step uses
        opt.step()
        sched.step()  # after optimizer.step(), once per step
    lr_curves[name] = lrs
    print(f"{name:16s} first {lrs[0]:.4f}  peak {max(lrs):.4f}  "
          f"last {lrs[-1]:.5f}")
# --8<-- [end:schedules]

# --8<-- [start:plot_schedules]
fig, ax = plt.subplots(figsize=(7, 3.4))
for name, lrs in lr_curves.items():  # x: optimizer step, y: its LR
    ax.plot(lrs, label=name, ls="--" if name == "constant" else "-")
ax.set(title="Learning rate of each optimizer step (peak 0.05)",
       xlabel="optimizer step", ylabel="learning rate")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "lr-schedules.png", dpi=110)
print(f"wrote {OUT / 'lr-schedules.png'}")
plt.close(fig)
# --8<-- [end:plot_schedules]

# --8<-- [start:schedules_trained]
for name in ("constant", "cosine", "OneCycle"):
    # train_run calls scheduler_fn(optimizer, total steps); fit steps it
    # after every optimizer step
    run = train_run(data, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
                    epochs=8, batch_size=64, seed=0, device=device,
                    init_state=init_state,
                    scheduler_fn=lambda o, n, s=SCHEDULES[name]: s(o, n, 0.05))
    last = run["history"][-1]
    print(f"{name:9s} steps {len(run['lrs'])}  val loss "
          f"{last['val_loss']:.4f}  val acc {last['val_accuracy']:.4f}")
# --8<-- [end:schedules_trained]

# --8<-- [start:clip_norm]
torch.manual_seed(0)
net = make_model(dropout=0.0)
# logits scaled by 50: a confident, wrong network has large gradients
F.cross_entropy(50 * net(xb), yb).backward()
norm = nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0)
after = torch.stack([p.grad.norm() for p in net.parameters()]).norm()
print(f"total grad norm before {norm:.2f}, after clipping {after:.4f}")
# --8<-- [end:clip_norm]

# --8<-- [start:clip_momentum]
def largest_step(momentum, lr=0.1, max_norm=1.0, steps=50):
    """The longest SGD step, in units of lr * max_norm, with every gradient clipped."""
    w = torch.zeros(3, requires_grad=True)
    opt = torch.optim.SGD([w], lr=lr, momentum=momentum)
    largest = 0.0
    for _ in range(steps):
        opt.zero_grad()
        (w - 100.0).pow(2).sum().backward()  # far from the minimum: one direction
        nn.utils.clip_grad_norm_([w], max_norm)  # every gradient has norm 1
        before = w.detach().clone()
        opt.step()
        largest = max(largest, (w.detach() - before).norm().item())
    return largest / (lr * max_norm)


for momentum in (0.0, 0.9):
    print(f"momentum {momentum}: largest step {largest_step(momentum):.2f} "
          "x lr x max_norm")
# --8<-- [end:clip_momentum]

# --8<-- [start:clip_train]
clip_acc = {}
for clip in (None, 1.0):
    # SGD + momentum with an LR 12x too large
    run = train_run(data, lambda p: torch.optim.SGD(p, lr=0.6, momentum=0.9),
                    epochs=5, batch_size=64, seed=0, device=device,
                    init_state=init_state, clip=clip)
    h = run["history"][-1]
    clip_acc[clip] = h["val_accuracy"]
    print(f"lr 0.6, clip {clip}: val acc {h['val_accuracy']:.4f}  "
          f"mean grad norm in the last epoch {h['grad_norm']:.3g}")
# --8<-- [end:clip_train]

# --8<-- [start:accumulation]
from tutorials.core.batches import Batches
from tutorials.lec12_model_optimization.experiments import (
    manual_accumulation,
    max_param_diff,
)

torch.manual_seed(0)
init0 = make_model(dropout=0.0).state_dict()  # no dropout: masks would differ
sgd = lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)  # noqa: E731
common = dict(epochs=1, seed=0, device=device, init_state=init0, dropout=0.0)
big = train_run(data, sgd, batch_size=64, **common)["model"]
# 4 micro-batches of 16 per optimizer step; 1,438 = 22 x 64 + 30 samples
acc4 = train_run(data, sgd, batch_size=16, accumulation=4, **common)["model"]
print("fit, 4 x 16 vs 64: max |diff| < 1e-6:",
      max_param_diff(big, acc4) < 1e-6)
for divide in (True, False):
    net = make_model(dropout=0.0)
    net.load_state_dict(init0)
    manual_accumulation(net, Batches(x_train, y_train, 16, 0),
                        sgd(list(net.parameters())), 4, divide_by_k=divide)
    label = "loss / 4    " if divide else "no scaling  "
    print(f"hand loop, {label}: max |diff| = {max_param_diff(big, net):.2g}")
# --8<-- [end:accumulation]

# --8<-- [start:resumable_setup]
from tutorials.lec12_model_optimization.checkpoint import (
    CheckpointManager,
    capture_rng_state,
    load_model_state,
    restore_rng_state,
)
from tutorials.lec12_model_optimization.training import evaluate, train_one_epoch


def new_run(epochs):
    """Model, optimizer, scheduler and data-order generator of one run."""
    torch.manual_seed(0)
    model = make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    order = torch.Generator().manual_seed(0)  # the DataLoader's shuffling
    return model, opt, sched, order
# --8<-- [end:resumable_setup]


# --8<-- [start:resumable_train]
def train(ckpt_dir, epochs=4, crash_after=None):
    model, opt, sched, order = new_run(epochs)
    mgr = CheckpointManager(ckpt_dir, keep_last=2)
    start, best = 0, 0.0
    if (latest := mgr.load_latest()) is not None:  # resume
        path, state = latest
        load_model_state(model, state["model"], source=path.name)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        order.set_state(state["order"])
        restore_rng_state(state["rng"])  # dropout masks continue too
        start, best = state["epoch"] + 1, state["best_acc"]
        print(f"resumed from {path.name}: epoch {start}")
    loader = DataLoader(train_ds, batch_size=64, shuffle=True, generator=order)
    for epoch in range(start, epochs):
        train_one_epoch(model, loader, nn.CrossEntropyLoss(), opt,
                        device=device, progress=False)
        sched.step()  # a per-epoch schedule
        acc = evaluate(model, val_loader, nn.CrossEntropyLoss(),
                       device=device)["accuracy"]
        best, is_best = max(best, acc), acc > best
        mgr.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                  "scheduler": sched.state_dict(), "order": order.get_state(),
                  "rng": capture_rng_state(), "epoch": epoch, "val_acc": acc,
                  "best_acc": best}, step=epoch, is_best=is_best)
        print(f"epoch {epoch}: val acc {acc:.4f}{'  (best)' * is_best}")
        if epoch == crash_after:
            raise RuntimeError(f"simulated crash after epoch {epoch}")
    return model, mgr
# --8<-- [end:resumable_train]


# --8<-- [start:resume_compare]
reference, _ = train(workdir / "uninterrupted")  # 4 epochs in one go
print("---")
try:
    train(workdir / "interrupted", crash_after=1)
except RuntimeError as err:
    print("RuntimeError:", err)
resumed, mgr = train(workdir / "interrupted")  # the same command again
print("---")
# bit for bit: torch.equal on every tensor, not allclose
ref_state, res_state = reference.state_dict(), resumed.state_dict()
print("bit-identical weights:",
      all(torch.equal(ref_state[k], res_state[k]) for k in ref_state))
print(sorted(p.name for p in mgr.directory.iterdir()))
best = mgr.load_best()
print(f"best.pt: epoch {best['epoch']}, val acc {best['val_acc']:.4f}")
# --8<-- [end:resume_compare]

# --8<-- [start:corrupt]
newest = mgr.checkpoints()[-1]
raw = bytearray(newest.read_bytes())
raw[len(raw) // 2] ^= 0xFF  # one flipped byte: a bad disk, a partial copy
newest.write_bytes(bytes(raw))

path, state = mgr.load_latest()  # also logs a warning naming the file
for bad, reason in mgr.skipped:
    print("skipped", bad.name, "->", reason.split(": ", 1)[1])
print("resumed from", path.name, "epoch", state["epoch"])
# --8<-- [end:corrupt]

# --8<-- [start:weights_only]
from tutorials.lec12_model_optimization.checkpoint import (
    CheckpointError,
    read_checkpoint,
    write_checkpoint,
)


class Payload:
    # pickle calls __reduce__ on save; a plain torch.load would *call*
    # print(...) while loading. A real attack would call os.system.
    def __reduce__(self):
        return (print, ("this ran while loading!",))


write_checkpoint(workdir / "suspicious.pt", {"model": {}, "extra": Payload()})
try:
    read_checkpoint(workdir / "suspicious.pt")  # weights_only=True inside
except CheckpointError as err:
    line = next(s for s in str(err).splitlines() if "Unsupported global" in s)
    print(line.strip().split(". Please")[0])
# --8<-- [end:weights_only]

# --8<-- [start:wrong_model]
state = mgr.load_best()["model"]  # saved from the 128-wide MLP
try:
    load_model_state(make_model(hidden=64), state, source="best.pt")
except CheckpointError as err:
    print(*str(err).split("; ")[:2], sep=";\n  ")  # first two mismatches
# --8<-- [end:wrong_model]

# --8<-- [start:early_stopping]
from tutorials.lec12_model_optimization.early_stopping import EarlyStopping

small = TensorDataset(x_train[:200], y_train[:200])  # easy to overfit
loader = DataLoader(small, batch_size=32, shuffle=True,
                    generator=torch.Generator().manual_seed(0))
torch.manual_seed(0)
model = make_model(dropout=0.0)
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
loss_fn = nn.CrossEntropyLoss()
stopper = EarlyStopping(patience=3, mode="min")  # on the val loss
es_mgr = CheckpointManager(workdir / "early", keep_last=1)
train_losses, val_losses = [], []
for epoch in range(50):
    train_losses.append(train_one_epoch(model, loader, loss_fn, opt,
                                        device=device, progress=False)["loss"])
    val_loss = evaluate(model, val_loader, loss_fn, device=device)["loss"]
    val_losses.append(val_loss)
    is_best = stopper.improved(val_loss)  # ask before step() records it
    stop = stopper.step(val_loss)  # True on the patience-th bad epoch in a row
    es_mgr.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                 "early_stopping": stopper.state_dict(), "epoch": epoch},
                step=epoch, is_best=is_best)  # the stopper's state included
    if stop:
        break
# --8<-- [end:early_stopping]

# --8<-- [start:early_stopping_report]
print(f"ran {len(val_losses)} of 50 epochs; best val loss "
      f"{stopper.best:.4f} at epoch {stopper.best_epoch}")
print("val loss:", " ".join(f"{v:.3f}" for v in val_losses))
restored = EarlyStopping(patience=3, mode="min")  # e.g. after a restart
restored.load_state_dict(es_mgr.load_latest()[1]["early_stopping"])
print("restored stopper:", {k: round(v, 4) for k, v in
                            restored.state_dict().items()})
model.load_state_dict(es_mgr.load_best()["model"])  # keep the best weights
best_loss = evaluate(model, val_loader, loss_fn, device=device)["loss"]
print(f"best.pt: epoch {es_mgr.load_best()['epoch']}, val loss {best_loss:.4f}")
# --8<-- [end:early_stopping_report]

# --8<-- [start:plot_early_stopping]
fig, ax = plt.subplots(figsize=(6.4, 3.4))
ax.plot(train_losses, label="training loss (200 images)")
ax.plot(val_losses, label="validation loss")
ax.axvline(stopper.best_epoch, color="green", ls="--",
           label=f"best epoch ({stopper.best_epoch}): best.pt")
ax.axvline(len(val_losses) - 1, color="red", ls=":",
           label=f"stopped (patience {stopper.patience})")
ax.set(title="Early stopping", xlabel="epoch", ylabel="loss", yscale="log")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "early-stopping.png", dpi=110)
print(f"wrote {OUT / 'early-stopping.png'}")
plt.close(fig)
# --8<-- [end:plot_early_stopping]

# --8<-- [start:tensorboard]
from tensorboard.backend.event_processing.event_accumulator import (
    EventAccumulator,
)

torch.manual_seed(0)
model = make_model()
opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
loader = DataLoader(train_ds, batch_size=64, shuffle=True,
                    generator=torch.Generator().manual_seed(0))
# one folder per run; `tensorboard --logdir runs` compares all of them
log_dir = workdir / "runs" / "adamw-2e-3"
fit(model, loader, val_loader, nn.CrossEntropyLoss(), opt,
    config=TrainConfig(epochs=3, progress=False, log_dir=str(log_dir)))

events = EventAccumulator(str(log_dir))  # what TensorBoard would read
events.Reload()
print(sorted(events.Tags()["scalars"]))
for tag in ("train_loss", "val_accuracy"):
    print(tag, [(e.step, round(e.value, 4)) for e in events.Scalars(tag)])
# --8<-- [end:tensorboard]

# --8<-- [start:hpo_objective]
from tutorials.lec12_model_optimization.hpo import DigitsObjective

objective = DigitsObjective(epochs=3)  # AdamW, 3 epochs: ~0.05 s a call
for log10_lr in (-4.0, -2.0, 0.0):
    acc = objective({"log10_lr": log10_lr, "log10_wd": -4.0})
    print(f"lr 1e{log10_lr:+.0f}: val acc {acc:.4f}")
# --8<-- [end:hpo_objective]

# --8<-- [start:ax_setup]
import logging

with warnings.catch_warnings():  # Ax's imports warn about TorchScript
    warnings.simplefilter("ignore", FutureWarning)
    from ax.api.client import Client
    from ax.api.configs import RangeParameterConfig

from ax.utils.common.logger import set_stderr_log_level

set_stderr_log_level(logging.WARNING)  # else two INFO lines per trial
# BoTorch warns when its inner optimizer restarts from new starting points
warnings.filterwarnings("ignore", "Optimization failed", RuntimeWarning)

client = Client(random_seed=0)  # seeds Sobol and the BoTorch optimizer
client.configure_experiment(parameters=[
    RangeParameterConfig(name="log10_lr", parameter_type="float",
                         bounds=(-4.0, 0.0)),
    RangeParameterConfig(name="log10_wd", parameter_type="float",
                         bounds=(-5.0, 0.0)),
])
client.configure_optimization(objective="accuracy")  # maximize
# --8<-- [end:ax_setup]

# --8<-- [start:ax_loop]
n_trials = 12
ax_values, ax_points = [], []
for _ in range(n_trials):
    # ask: Sobol points first, then Bayesian optimization (a GP + qLogNEI)
    (index, params), = client.get_next_trials(max_trials=1).items()
    acc = objective(params)  # train and evaluate: the expensive part
    client.complete_trial(trial_index=index, raw_data={"accuracy": acc})  # tell
    ax_values.append(acc)
    ax_points.append((params["log10_lr"], params["log10_wd"]))
    print(f"trial {index:2d}: lr {10 ** params['log10_lr']:.2e}  "
          f"wd {10 ** params['log10_wd']:.2e}  acc {acc:.4f}")
best_params, prediction, _, _ = client.get_best_parameterization()
print("Ax's best:", {k: round(v, 2) for k, v in best_params.items()})
# --8<-- [end:ax_loop]

# --8<-- [start:random_search]
from tutorials.lec12_model_optimization.hpo import best_so_far, random_search

bounds = {"log10_lr": (-4.0, 0.0), "log10_wd": (-5.0, 0.0)}
# the same budget, drawn uniformly in the same box (its own generator)
rs = random_search(objective, bounds, n_trials=n_trials, seed=0)
rs_values = [t["value"] for t in rs]
print("random search:", " ".join(f"{v:.3f}" for v in rs_values))
print(f"best of {n_trials}: Ax {max(ax_values):.4f}, "
      f"random {max(rs_values):.4f}")
half = n_trials // 2  # Ax: 5 space-filling trials, then BO
print(f"mean of the last {half} trials: "
      f"Ax {sum(ax_values[half:]) / half:.2f}, "
      f"random {sum(rs_values[half:]) / half:.2f}")
# --8<-- [end:random_search]

# --8<-- [start:plot_hpo]
fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6))
# left: the running best (what a search is judged by); right: the trials
trial = range(1, n_trials + 1)
for values, marker, label in ((ax_values, "o", "Ax (Sobol, then BO)"),
                              (rs_values, "s", "random search")):
    line, = left.plot(trial, best_so_far(values), marker=marker, label=label)
    left.scatter(trial, values, s=14, marker=marker, color=line.get_color(),
                 alpha=0.4)  # each trial's own result
rs_points = [(t["params"]["log10_lr"], t["params"]["log10_wd"]) for t in rs]
for points, marker in ((ax_points, "o"), (rs_points, "s")):
    right.scatter(*zip(*points), marker=marker, alpha=0.7)
left.set(title="best accuracy so far (dots: each trial)", xlabel="trial",
         ylabel="validation accuracy", ylim=(0, 1))
right.set(title="where each method looked", xlabel="log10(lr)",
          ylabel="log10(weight decay)", xlim=(-4, 0), ylim=(-5, 0))
for a in (left, right):
    a.grid(alpha=0.3)
left.legend(loc="lower right")
fig.tight_layout()
fig.savefig(OUT / "hpo-best-so-far.png", dpi=110)
print(f"wrote {OUT / 'hpo-best-so-far.png'}")
plt.close(fig)
# --8<-- [end:plot_hpo]

# --8<-- [start:seeding]
import random

import numpy as np


def seed_everything(seed):
    random.seed(seed)  # Python's random (augmentations often use it)
    np.random.seed(seed)  # NumPy's global generator
    torch.manual_seed(seed)  # CPU and every CUDA device


def final_weights(seed):
    # seeds: global generators, and train_run's batch-order generator
    seed_everything(seed)
    run = train_run(data, lambda p: torch.optim.AdamW(p, lr=1e-3), epochs=2,
                    batch_size=64, seed=seed, device=device)
    return run["model"].state_dict()


a, b, c = final_weights(0), final_weights(0), final_weights(1)
print("seed 0 twice, identical:", all(torch.equal(a[k], b[k]) for k in a))
print("seed 0 vs 1,  identical:", all(torch.equal(a[k], c[k]) for k in a))
# --8<-- [end:seeding]

# --8<-- [start:loader_draws]
state = torch.get_rng_state()
for _ in val_loader:  # a DataLoader built without generator=
    pass
print("iterating val_loader changed the global RNG:",
      not torch.equal(state, torch.get_rng_state()))
# --8<-- [end:loader_draws]

# --8<-- [start:deterministic]
torch.use_deterministic_algorithms(True)
try:
    # put_ writes to repeated indices: which write wins is not defined
    torch.zeros(4).put_(torch.tensor([1, 1]), torch.tensor([1.0, 2.0]))
except RuntimeError as err:
    print("RuntimeError:", str(err).split(",")[0])
print(torch.empty(3))  # deterministic mode fills new memory with NaN
torch.use_deterministic_algorithms(False)  # back to the default
print("deterministic mode on:", torch.are_deterministic_algorithms_enabled())
# --8<-- [end:deterministic]

# --8<-- [start:worker_dataset]
import sys

from torch.utils.data import Dataset, Subset, get_worker_info


class NoisyDigits(Dataset):
    """Digits with random noise added in __getitem__: randomness in workers."""

    def __init__(self):
        self.rng = np.random.default_rng(0)  # a generator the dataset owns

    def __len__(self):
        return 8

    def __getitem__(self, i):
        # the global generators of NumPy, Python and torch: PyTorch seeds them
        shared = np.random.rand() + random.random() + torch.rand(()).item()
        return x_train[i].sum().item() + shared, self.rng.uniform()


def seed_worker(worker_id):
    # get_worker_info().seed is base_seed + worker_id, with base_seed drawn
    # from the loader's generator: seed the dataset's own generator from it
    info = get_worker_info()
    dataset = info.dataset
    while isinstance(dataset, Subset):  # random_split's parts are Subsets
        dataset = dataset.dataset
    dataset.rng = np.random.default_rng(info.seed)
# --8<-- [end:worker_dataset]


# --8<-- [start:worker_seeding]
def draw(seed, init):
    """One epoch: the noise from the global generators, and from the dataset's."""
    # workers are forked copies of this process: flush, or they inherit
    # (and print again) whatever output is still buffered
    sys.stdout.flush()
    loader = DataLoader(NoisyDigits(), batch_size=2, num_workers=2,
                        worker_init_fn=init,
                        generator=torch.Generator().manual_seed(seed))
    return [torch.cat(column) for column in zip(*loader)]


for init in (None, seed_worker):
    first, again, other = draw(0, init), draw(0, init), draw(1, init)
    print(f"worker_init_fn={init and init.__name__}")
    for k, source in enumerate(("global generators:", "dataset's rng:")):
        noise = first[k]  # batch 0 comes from worker 0, batch 1 from worker 1
        print(f"  {source:18} same seed repeats {torch.equal(noise, again[k])}, "
              f"other seed differs {not torch.equal(noise, other[k])}, "
              f"workers differ {not torch.equal(noise[0:2], noise[2:4])}")
torch.set_num_threads(previous_threads)  # undo this page's global setting
# --8<-- [end:worker_seeding]

# --8<-- [start:mistake_loss_sum]
def graph_nodes(t):
    """How many autograd nodes are reachable from t (all kept in memory)."""
    seen, todo = set(), [t.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None and node not in seen:
            seen.add(node)
            todo.extend(n for n, _ in node.next_functions)
    return len(seen)


torch.manual_seed(0)
net = make_model(dropout=0.0)
running = 0.0
for xb_, yb_ in zip(x_train[:256].split(64), y_train[:256].split(64)):
    loss = F.cross_entropy(net(xb_), yb_)
    running += loss  # a tensor: every batch's graph stays reachable
    print(f"graph nodes kept alive: {graph_nodes(running)}")
print(type(running).__name__, "vs", type(loss.item()).__name__)
# --8<-- [end:mistake_loss_sum]

# --8<-- [start:mistake_scheduler_order]
opt = torch.optim.SGD(net.parameters(), lr=0.1)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    sched.step()  # before any optimizer.step(): the first LR is skipped
    opt.step()
print(str(caught[0].message).split(".  ")[0])
print("LR of the first real step:", opt.param_groups[0]["lr"])
# --8<-- [end:mistake_scheduler_order]
