# %% [markdown]
# # Lab 2.1.6: checkpointing that survives a kill
#
# A training run on a shared machine gets preempted, crashes, or is killed
# with `SIGKILL` in the middle of writing a file. This lab trains a small
# network on real handwritten digits (scikit-learn's 8×8 images) with a
# checkpoint after every `--save-every` optimizer steps, and shows that
#
# * a run **resumes by itself** when the same command is run again with the same
#   `--out-dir`;
# * the resumed run ends with weights **bit-identical** to a run that was never
#   interrupted, because the checkpoint holds the complete training state: model,
#   optimizer, LR scheduler, grad scaler, epoch and step inside the epoch, the
#   random generators (Python, NumPy, torch CPU and CUDA), the data order, the best
#   metric and the early-stopping counters (and the run uses a fixed number of CPU
#   threads: a float sum split over 2 threads rounds differently than over 1);
# * a checkpoint is never left half-written (`tutorials.checkpoint` writes to a
#   temporary file, `fsync`s it and renames it atomically), and a corrupted one is
#   detected by its checksum and skipped, with its path reported.
#
# ```
# python lab_2_1_6_checkpointing.py --out-dir run1            # train (resumes if run1/ has checkpoints)
# python lab_2_1_6_checkpointing.py --out-dir run1 --demo-kill # kill a child run, resume, compare
# ```
#
# The final weights are written to `<out-dir>/final_model.pt` (a `state_dict`,
# load it with `torch.load(path, weights_only=True)`), the summary to
# `<out-dir>/summary.json`.

# %%
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tutorials.checkpoint import (
    CheckpointManager,
    capture_rng_state,
    load_model_state,
    read_checkpoint,
    restore_rng_state,
    unwrap_model,
)
from tutorials.datasets import digits_split
from tutorials.early_stopping import EarlyStopping
from tutorials.labs._cli import script_argv
from tutorials.reporting import format_table
from tutorials.runtime import DEVICE_CHOICES, pick_device

FINAL_WEIGHTS = "final_model.pt"
SUMMARY = "summary.json"

# %% [markdown]
# ## 1. Data and model
#
# The 1,797 digits are split once with a fixed generator; the *order* in which a
# training epoch visits them comes from a generator seeded with `(seed, epoch)`,
# so a resumed run can rebuild the exact order of an interrupted epoch and skip
# the batches already done.

# %%
def make_model(hidden: int = 128) -> nn.Module:
    """A small MLP; dropout makes the run depend on the RNG state, as real runs do."""
    return nn.Sequential(
        nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(hidden, 10),
    )


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The sample order of one epoch: a pure function of (seed, epoch)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


# %% [markdown]
# ## 2. The complete training state
#
# Everything that influences the next step goes into the checkpoint. Forget one
# piece and the resumed run silently diverges: without the optimizer state,
# momentum restarts at zero; without the RNG state, dropout masks differ; without
# the step inside the epoch, some batches are seen twice.

# %%
def training_state(model, optimizer, scheduler, scaler, stopper, epoch, step_in_epoch,
                   global_step, history, args) -> dict:
    """A checkpoint payload: tensors and plain data only (loadable with weights_only=True)."""
    return {
        "model": unwrap_model(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "early_stopping": stopper.state_dict(),
        "epoch": epoch,
        "step_in_epoch": step_in_epoch,
        "global_step": global_step,
        "history": history,
        "rng": capture_rng_state(),
        "config": {"seed": args.seed, "batch_size": args.batch_size, "lr": args.lr,
                   "hidden": args.hidden, "epochs": args.epochs},
    }


# %% [markdown]
# ## 3. The training loop, resumable at any step

# %%
def train(args: argparse.Namespace) -> dict:
    """Train (resuming from ``args.out_dir`` if it holds checkpoints); return the summary."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)  # float sums depend on how work is split
    try:
        return _train(args)
    finally:
        torch.set_num_threads(previous_threads)


def _train(args: argparse.Namespace) -> dict:
    device = pick_device(args.device)
    torch.use_deterministic_algorithms(True, warn_only=True)
    out = Path(args.out_dir)
    mgr = CheckpointManager(out / "checkpoints", keep_last=args.keep_last)
    x_tr, y_tr, x_val, y_val = digits_split(args.seed)
    x_tr, y_tr, x_val, y_val = (t.to(device) for t in (x_tr, y_tr, x_val, y_val))

    torch.manual_seed(args.seed)
    model = make_model(args.hidden).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    steps_per_epoch = (len(x_tr) + args.batch_size - 1) // args.batch_size
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * steps_per_epoch)
    scaler = torch.amp.GradScaler(device.type, enabled=False)  # fp32 here; state saved anyway
    stopper = EarlyStopping(patience=args.patience, mode="max", min_delta=1e-4)
    epoch, step_in_epoch, global_step, history = 0, 0, 0, []

    resumed = mgr.load_latest(map_location=device)
    if resumed is not None:
        path, state = resumed
        if state["config"]["seed"] != args.seed or state["config"]["hidden"] != args.hidden:
            raise ValueError(f"{path}: checkpoint was made with {state['config']}; run with the "
                             "same options or a new --out-dir")
        load_model_state(model, state["model"], source=str(path))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        stopper.load_state_dict(state["early_stopping"])
        epoch, step_in_epoch = state["epoch"], state["step_in_epoch"]
        global_step, history = state["global_step"], state["history"]
        restore_rng_state(state["rng"])
        print(f"resumed from {path.name}: epoch {epoch}, step {step_in_epoch}", flush=True)

    def save(is_best: bool = False) -> None:
        mgr.save(training_state(model, optimizer, scheduler, scaler, stopper, epoch, step_in_epoch,
                                global_step, history, args), step=global_step, is_best=is_best)

    stop = bool(history) and history[-1].get("stop", False)
    while epoch < args.epochs and not stop:
        order = epoch_order(len(x_tr), args.seed, epoch).to(device)
        model.train()
        while step_in_epoch < steps_per_epoch:
            idx = order[step_in_epoch * args.batch_size:(step_in_epoch + 1) * args.batch_size]
            loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()  # per-step schedule: stepped after optimizer.step()
            step_in_epoch += 1
            global_step += 1
            if args.step_delay:
                time.sleep(args.step_delay)  # lets the kill demo land mid-epoch
            if global_step % args.save_every == 0:
                save()
            if args.verbose:
                print(f"step {global_step}", flush=True)
        model.eval()
        with torch.no_grad():
            val_acc = float((model(x_val).argmax(1) == y_val).float().mean())
        improved = stopper.improved(val_acc)
        stop = stopper.step(val_acc)
        history.append({"epoch": epoch, "val_acc": val_acc, "stop": stop})
        epoch, step_in_epoch = epoch + 1, 0
        save(is_best=improved)

    torch.save(unwrap_model(model).state_dict(), out / FINAL_WEIGHTS)
    summary = {
        "epochs_run": len(history),
        "global_step": global_step,
        "best_val_acc": stopper.best,
        "best_epoch": stopper.best_epoch,
        "final_val_acc": history[-1]["val_acc"] if history else None,
        "stopped_early": stop and epoch < args.epochs,
        "skipped_checkpoints": [str(p) for p, _ in mgr.skipped],
        "final_weights": str(out / FINAL_WEIGHTS),
    }
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


# %% [markdown]
# ## 4. Interrupt, resume, compare
#
# `--demo-kill` runs the whole experiment: an uninterrupted reference run, then a
# run that is killed with `SIGKILL` at random moments (often in the middle of
# writing a checkpoint) and restarted with the same command until it finishes.
# The two final weight files must be equal bit for bit.

# %%
def child_command(args: argparse.Namespace, out_dir: Path) -> list[str]:
    """The command line of one training run, for a subprocess."""
    cmd = [sys.executable, "-m", "tutorials.labs.lab_2_1_6_checkpointing", "--out-dir", str(out_dir),
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
           "--seed", str(args.seed), "--hidden", str(args.hidden), "--save-every", str(args.save_every),
           "--device", args.device, "--patience", str(args.patience), "--threads", str(args.threads),
           "--verbose"]
    return cmd


def run_with_kills(cmd: list[str], kills: int, seed: int, max_steps: int,
                   after_kill=None) -> list[int]:
    """Start ``cmd``, SIGKILL it at a random moment, repeat ``kills`` times, then let it finish.

    Most kills land a random number of steps into the run plus a random fraction of
    a step (often inside a checkpoint write); one in four lands at a random time
    after the process starts (during imports, or while loading the checkpoint).

    Args:
        cmd: the training command (it must print ``step N`` lines).
        kills: how many times to kill it.
        seed: seeds the choice of kill moments.
        max_steps: steps of a whole run, to spread the kills over it.
        after_kill: optional callback run after each kill (the tests check that
            every checkpoint on disk is still readable).

    Returns:
        The last step printed before each kill (-1 for a kill before any step).
    """
    rng = __import__("random").Random(seed)
    killed_at = []
    for _ in range(kills):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        last_step = None  # None: no kill was sent (the run finished first)
        if rng.random() < 0.25:
            time.sleep(rng.random() * 3.0)
            proc.send_signal(signal.SIGKILL)
            last_step = -1
        else:
            target, seen = rng.randint(1, max(1, max_steps // (2 * kills) + 1)), 0
            for line in proc.stdout:
                if line.startswith("step "):
                    seen += 1
                    if seen >= target:
                        time.sleep(rng.random() * 0.02)  # somewhere inside the next step
                        proc.send_signal(signal.SIGKILL)
                        last_step = int(line.split()[1])
                        break
        proc.communicate()
        if after_kill is not None:
            after_kill()
        if last_step is not None and proc.returncode == -signal.SIGKILL:  # the kill landed
            killed_at.append(last_step)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return killed_at


def same_weights(a: dict, b: dict) -> bool:
    """Whether two state_dicts hold the same tensors, bit for bit (``torch.equal``)."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def demo_kill(args: argparse.Namespace) -> dict:
    """Reference run vs killed-and-resumed run; returns whether the weights are identical."""
    out = Path(args.out_dir)
    ref_dir, killed_dir = out / "reference", out / "interrupted"
    subprocess.run(child_command(args, ref_dir), check=True, stdout=subprocess.DEVNULL)
    steps = json.loads((ref_dir / SUMMARY).read_text())["global_step"]
    kills = run_with_kills(child_command(args, killed_dir), args.kills, args.seed, steps)
    ref = torch.load(ref_dir / FINAL_WEIGHTS, weights_only=True)
    got = torch.load(killed_dir / FINAL_WEIGHTS, weights_only=True)
    identical = same_weights(ref, got)
    unreadable = []
    for p in sorted((killed_dir / "checkpoints").glob("*.pt")):
        try:
            read_checkpoint(p)
        except Exception as err:  # report every unreadable file, then fail below
            unreadable.append(f"{p.name}: {err}")
    rows = [{"run": "uninterrupted", "kills": 0, "steps": steps},
            {"run": "killed and resumed", "kills": len(kills), "steps": steps}]
    print(format_table(rows))
    print(f"killed at steps {kills}; final weights bit-identical: {identical}")
    return {"kills": kills, "identical": identical, "unreadable_checkpoints": unreadable}


# %% [markdown]
# ## Command line

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(description="Lab 2.1.6: resumable training with complete checkpoints.")
    p.add_argument("--out-dir", default="lab_2_1_6_run",
                   help="run directory: checkpoints/, final_model.pt, summary.json (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=8, help="training epochs (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default: %(default)s)")
    p.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (default: %(default)s)")
    p.add_argument("--hidden", type=int, default=128, help="hidden width (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="cpu",
                   help="device; bit-identical resume is guaranteed on CPU (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads; resume is bit-identical only with the same count "
                        "(default: %(default)s)")
    p.add_argument("--save-every", type=int, default=5,
                   help="optimizer steps between checkpoints (default: %(default)s)")
    p.add_argument("--keep-last", type=int, default=3,
                   help="numbered checkpoints kept (default: %(default)s)")
    p.add_argument("--patience", type=int, default=3,
                   help="early-stopping patience in epochs (default: %(default)s)")
    p.add_argument("--demo-kill", action="store_true",
                   help="run the kill-and-resume experiment in --out-dir (default: %(default)s)")
    p.add_argument("--kills", type=int, default=5,
                   help="SIGKILLs in --demo-kill (default: %(default)s)")
    p.add_argument("--step-delay", type=float, default=0.0,
                   help="seconds to sleep per step, to make kills easy to land (default: %(default)s)")
    p.add_argument("--verbose", action="store_true", help="print every step (default: %(default)s)")
    p.add_argument("--dry-run", action="store_true",
                   help="one short epoch, for a quick check (default: %(default)s)")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Train (or run the kill demo) and return the figures."""
    args = build_parser().parse_args(argv)
    if args.dry_run:
        args.epochs = 1  # one epoch of ~23 steps
    for name in ("epochs", "batch_size", "save_every", "keep_last", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    if args.demo_kill:
        return demo_kill(args)
    summary = train(args)
    print(format_table([{k: v for k, v in summary.items()
                         if k in ("epochs_run", "global_step", "best_val_acc", "final_val_acc")}],
                       floatfmt=".4f"))
    print(f"final weights: {summary['final_weights']}")
    return summary


# %%
if __name__ == "__main__":
    # As a notebook (the published page) it runs the kill-and-resume experiment.
    main(script_argv(notebook_default=["--demo-kill", "--kills", "3", "--out-dir", "lab_2_1_6_demo"]))
