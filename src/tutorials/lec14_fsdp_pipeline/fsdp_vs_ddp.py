"""FSDP2 against DDP on the same model, and a sharded checkpoint saved and resumed.

The workers of Lab 14 (``lab_14_fsdp_vs_ddp``). :func:`compare_worker` runs on every
rank of a process group started by :func:`tutorials.core.distributed.launch`: it trains
the same digits classifier twice from the same initial weights on the same batches,
once replicated with ``DistributedDataParallel`` and once sharded with FSDP2
``fully_shard``, and reports per step the global loss and the step time, and at the end
the bytes of parameters, gradients and Adam state this rank holds. The FSDP run saves a
sharded checkpoint with ``torch.distributed.checkpoint`` (each rank writes its own
shards, rank 0 the metadata) after ``save_at`` steps; :func:`resume_worker` loads it in
fresh processes and trains the remaining steps.

Both workers live in this importable module, so they also run under
``launch(..., start_method="spawn")``, which NCCL on GPUs needs.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from tutorials.lec14_fsdp_pipeline.memory import state_bytes

__all__ = ["compare_worker", "load_checkpoint", "make_mlp", "median_ms", "resume_worker", "save_checkpoint",
           "shard_mlp"]


def make_mlp(hidden: int, depth: int, seed: int) -> nn.Sequential:
    """A digits classifier: 64 pixels -> ``depth`` hidden layers of ``hidden`` units -> 10 classes.

    Args:
        hidden: units per hidden layer.
        depth: hidden layers (at least 1).
        seed: the seed of the initial weights (the same on every rank).
    """
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(64, hidden), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(hidden, hidden), nn.ReLU()]
    layers.append(nn.Linear(hidden, 10))
    return nn.Sequential(*layers)


def shard_mlp(model: nn.Sequential, mesh) -> nn.Sequential:
    """FSDP2 on ``model`` in place: one group per hidden ``Linear``, the output layer in the root's."""
    from torch.distributed.fsdp import fully_shard

    hidden = [m for m in model if isinstance(m, nn.Linear)][:-1]
    for layer in hidden:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, step: int) -> None:
    """Save a sharded checkpoint of model, optimizer and step (every rank must call it).

    ``get_state_dict`` returns the state dicts with their DTensors (each rank's shards)
    under the model's plain parameter names, whatever wraps the model;
    ``torch.distributed.checkpoint.save`` writes one file per rank plus ``.metadata``.

    Args:
        path: the checkpoint's folder.
        model: the (sharded or replicated) model.
        optimizer: its optimizer.
        step: the number of optimizer steps taken.
    """
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_state, optim_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optim": optim_state, "step": torch.tensor(step)}
    dcp.save(state, checkpoint_id=str(path))


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Load a checkpoint written by :func:`save_checkpoint` in place; return its step.

    ``dcp.load`` fills the state dicts it is given, so each rank reads exactly the shards
    its own DTensors need (on another world size it reads other pieces of the same files).

    Args:
        path: the checkpoint's folder.
        model: a model built and sharded as the saved one was.
        optimizer: its optimizer.

    Returns:
        The step stored in the checkpoint.
    """
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    model_state, optim_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optim": optim_state, "step": torch.tensor(0)}
    dcp.load(state, checkpoint_id=str(path))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    return int(state["step"])


def _build(strategy: str, config: dict, device: torch.device):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.nn.parallel import DistributedDataParallel as DDP

    model = make_mlp(config["hidden"], config["depth"], config["seed"]).to(device)
    if strategy == "FSDP":
        model = shard_mlp(model, init_device_mesh(device.type, (dist.get_world_size(),)))
    else:
        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    return model, torch.optim.AdamW(model.parameters(), lr=config["lr"])


def _train(model, optimizer, config: dict, data, rank: int, world_size: int, device: torch.device,
           first: int, checkpoint: str | None = None) -> dict:
    x, y = data
    per_rank = config["batch_size"] // world_size
    losses, times = [], []
    for step in range(first, config["steps"]):
        # the global batch of this step (the same samples for every strategy), and this rank's part
        rows = torch.arange(step * config["batch_size"], (step + 1) * config["batch_size"]) % len(x)
        rows = rows[rank * per_rank:(rank + 1) * per_rank]
        xb, yb = x[rows].to(device), y[rows].to(device)
        dist.barrier()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
        mean = loss.detach().clone()
        dist.all_reduce(mean)  # the loss of the whole global batch (equal parts per rank)
        losses.append(mean.item() / world_size)
        if checkpoint is not None and step + 1 == config["save_at"]:
            save_checkpoint(checkpoint, model, optimizer, step + 1)
    return {"losses": losses, "step_ms": [t * 1e3 for t in times], **state_bytes(model, optimizer)}


def _device(rank: int, config: dict) -> torch.device:
    if config.get("device", "cpu") == "cuda":
        torch.cuda.set_device(rank)
        return torch.device("cuda", rank)
    return torch.device("cpu")


def compare_worker(rank: int, world_size: int, config: dict, data: tuple[torch.Tensor, torch.Tensor],
                   checkpoint: str | None) -> dict:
    """Train with DDP, then with FSDP2, from the same weights on the same batches (one rank).

    Args:
        rank: this process's rank.
        world_size: the number of ranks.
        config: ``steps``, ``batch_size`` (divisible by ``world_size``), ``lr``,
            ``hidden``, ``depth``, ``seed``, ``save_at`` and ``device`` (``"cpu"`` or
            ``"cuda"``).
        data: ``(x, y)``, the training images (``(N, 64)``) and labels.
        checkpoint: the folder of the FSDP run's checkpoint, or ``None``.

    Returns:
        ``{"DDP": run, "FSDP": run}``, each with ``losses`` (global, per step), ``step_ms``
        and this rank's ``params``, ``grads``, ``optimizer`` bytes.
    """
    device = _device(rank, config)
    out = {}
    for strategy in ("DDP", "FSDP"):
        model, optimizer = _build(strategy, config, device)
        out[strategy] = _train(model, optimizer, config, data, rank, world_size, device, 0,
                               checkpoint if strategy == "FSDP" else None)
        del model, optimizer  # FSDP2 on gloo: free the sharded state before the group goes
    return out


def resume_worker(rank: int, world_size: int, config: dict, data: tuple[torch.Tensor, torch.Tensor],
                  checkpoint: str) -> dict:
    """Build the FSDP2 model afresh, load the checkpoint and train the remaining steps (one rank).

    Args:
        rank: this process's rank.
        world_size: the number of ranks.
        config: as for :func:`compare_worker`.
        data: as for :func:`compare_worker`.
        checkpoint: the folder :func:`compare_worker` saved into.

    Returns:
        ``{"resumed_at": step, "losses": [...]}`` (the losses of the steps after it).
    """
    device = _device(rank, config)
    model, optimizer = _build("FSDP", {**config, "seed": config["seed"] + 1}, device)  # other weights
    step = load_checkpoint(checkpoint, model, optimizer)  # ... replaced by the saved ones
    run = _train(model, optimizer, config, data, rank, world_size, device, step)
    del model, optimizer
    return {"resumed_at": step, "losses": run["losses"]}


def median_ms(times: list[float], skip: int = 1) -> float:
    """The median of ``times`` after the first ``skip`` (warm-up) entries."""
    kept = times[skip:] or times
    return statistics.median(kept)
