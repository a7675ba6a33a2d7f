"""Lecture 14: FSDP, pipeline parallelism and large-scale systems.

The code of the chapter ``docs/lectures/14-fsdp-pipeline.md``, in the order the page
shows it. Every multi-process example runs on real ``gloo`` process groups started by
:func:`tutorials.core.distributed.launch` (one forked process per rank, a free port, a
timeout, the ranks' output printed rank by rank). Run it top to bottom with
``python -m tutorials.lec14_fsdp_pipeline.chapter``; it writes its figures into
``lec14/`` under the current directory.
"""

# --8<-- [start:imports]
import copy
import statistics
import time
from pathlib import Path

import torch
import torch._dynamo  # noqa: F401  (FSDP2 and DDP import it on first use: once here, not in every rank)
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import Shard, distribute_tensor
from torch.nn.parallel import DistributedDataParallel as DDP

from tutorials.core.distributed import WorkerError, launch
from tutorials.lec14_fsdp_pipeline.models import ToyNet, shard_toynet

# This process only starts ranks and checks their results, with one thread: a forked
# rank must not inherit a running OpenMP thread team (each rank sets its own count).
previous_threads = torch.get_num_threads()
torch.set_num_threads(1)
OUT = Path("lec14")  # this chapter's figures go here
OUT.mkdir(exist_ok=True)
# one global batch for the FSDP sections: 16 samples of 32 features, 8 targets each
X = torch.randn(16, 32, generator=torch.Generator().manual_seed(0))
Y = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
# --8<-- [end:imports]

# --8<-- [start:zero_arithmetic]
psi = sum(p.numel() for p in ToyNet().parameters())
# fp32 training with Adam keeps 16 bytes per parameter: the weight (4), its
# gradient (4) and Adam's two moments (4 + 4). DDP keeps all of it on every rank;
# full sharding (ZeRO stage 3, FSDP) keeps 1/N of each on each of N ranks.
print(f"ToyNet: {psi:,} parameters")
for n in (1, 2, 4):
    print(f"  {n} rank(s): DDP {16 * psi:,} B per rank, fully sharded {16 * psi // n:,} B per rank")
# GPT scale, mixed-precision Adam (ZeRO paper, Fig. 1): a bf16/fp16 weight and
# gradient (2 + 2 bytes) plus an fp32 master weight and two moments (12 bytes)
big, gpus = 7.5e9, 64
print(f"7.5B parameters: DDP {16 * big / 1e9:.0f} GB per GPU; "
      f"fully sharded over {gpus} GPUs {16 * big / gpus / 1e9:.2f} GB per GPU")
# --8<-- [end:zero_arithmetic]

# --8<-- [start:fsdp_step]
def fsdp_step(rank, world_size):
    mesh = init_device_mesh("cpu", (world_size,))  # 1-D mesh: shard over all ranks
    torch.manual_seed(0)  # every rank builds the same initial model
    model = shard_toynet(ToyNet(), mesh)  # fully_shard(block) for each block, then the root
    if rank == 0:
        print(type(model).__name__)  # FSDP2 swaps the class: FSDPToyNet
        for name, p in model.named_parameters():
            print(f"  {name:18} {type(p).__name__} {p.placements[0]!r}  global {tuple(p.shape)!s:10}"
                  f" local {tuple(p.to_local().shape)}")
    odd = fully_shard(nn.Linear(16, 5), mesh=mesh)  # 5 rows do not split evenly
    print(f"rank {rank}: Linear(16, 5).weight local shard {tuple(odd.weight.to_local().shape)}")
    # the optimizer comes after fully_shard: it must see the sharded parameters
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = X.chunk(world_size)[rank], Y.chunk(world_size)[rank]  # this rank's half of the batch
    F.mse_loss(model(x), y).backward()  # gradients arrive reduce-scattered and averaged
    optimizer.step()  # each rank updates its own shard
    full = {name: p.full_tensor() for name, p in model.named_parameters()}  # an all-gather
    del model, optimizer, odd  # free FSDP's state before the process group goes
    return full


weights = launch(fsdp_step, world_size=2)
torch.manual_seed(0)  # the same step in one process, on the whole batch
reference = ToyNet()
sgd = torch.optim.SGD(reference.parameters(), lr=0.1)
F.mse_loss(reference(X), Y).backward()
sgd.step()
print("each rank's weights == one process on the whole batch:",
      all(torch.allclose(w[name], p, atol=1e-6) for w in weights for name, p in reference.named_parameters()))
# --8<-- [end:fsdp_step]

# --8<-- [start:collectives]
from torch.profiler import ProfilerActivity, profile

from tutorials.lec14_fsdp_pipeline.comms import format_collectives, fsdp_collectives

QUIET_PROFILER = {"KINETO_LOG_LEVEL": "6"}  # no kineto log lines in the ranks' output


def profiled_step(rank, world_size, options):
    mesh = init_device_mesh("cpu", (world_size,))
    torch.manual_seed(0)
    model = shard_toynet(ToyNet(), mesh, **options)
    x, y = X.chunk(world_size)[rank], Y.chunk(world_size)[rank]
    F.mse_loss(model(x), y).backward()  # a first step: FSDP initialises itself lazily
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as forward:
        loss = F.mse_loss(model(x), y)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as backward:
        loss.backward()
    del model
    return {"forward": fsdp_collectives(forward), "backward": fsdp_collectives(backward)}


calls = launch(profiled_step, world_size=2, args=({},), env=QUIET_PROFILER)
print("both ranks issued the same collectives:", calls[0] == calls[1])
for phase, phase_calls in calls[0].items():
    print(f"--- {phase}")
    print(format_collectives(phase_calls))
# --8<-- [end:collectives]

# --8<-- [start:policies]
def policies(rank, world_size):
    report = {"keep": profiled_step(rank, world_size, {"reshard_after_forward": False})}
    mesh = init_device_mesh("cpu", (world_size,))
    x, y = X.chunk(world_size)[rank], Y.chunk(world_size)[rank]
    # compute (and all-gather) in bfloat16; reduce gradients and keep the shards in float32
    bf16 = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    torch.manual_seed(0)
    model = shard_toynet(ToyNet(), mesh, mp_policy=bf16)
    seen = {}
    model.blocks[0].register_forward_pre_hook(  # what block 0 computes with
        lambda block, args: seen.update(weight=block.fc.weight.dtype, input=args[0].dtype))
    out = model(x)
    F.mse_loss(out.float(), y).backward()
    shard = model.blocks[0].fc.weight
    report["bf16"] = {"stored": shard.dtype, "computed": seen["weight"], "block input": seen["input"],
                      "output": out.dtype, "gradient": shard.grad.dtype}
    losses = {}
    for name, options in (("plain", {}), ("offload", {"offload_policy": CPUOffloadPolicy(pin_memory=False)})):
        torch.manual_seed(0)
        model = shard_toynet(ToyNet(), mesh, **options)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(3):
            optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
        losses[name] = loss.item()
        state = optimizer.state[model.head.weight]["exp_avg"]
        report[name] = {"weight": model.head.weight.device.type, "Adam state": state.device.type}
    report["same loss"] = losses["plain"] == losses["offload"]
    try:  # the default pin_memory=True page-locks the shards through the CUDA driver
        fully_shard(nn.Linear(4, 4), mesh=mesh, offload_policy=CPUOffloadPolicy())
        report["pinned"] = "works (this machine has a GPU driver)"
    except RuntimeError as err:
        report["pinned"] = f"RuntimeError: {str(err).split('. ')[0]}."  # its first sentence
    del model, optimizer
    return report


report = launch(policies, world_size=2, env=QUIET_PROFILER)[0]
for phase, phase_calls in report["keep"].items():
    print(f"reshard_after_forward=False, {phase}: {len(phase_calls)} collectives "
          f"({sum(c['op'] == 'all-gather' for c in phase_calls)} all-gathers)")
print("bf16 policy:", ", ".join(f"{k} {str(v).removeprefix('torch.')}" for k, v in report["bf16"].items()))
print("CPU offload:", report["offload"], "- same loss as without:", report["same loss"])
print("CPUOffloadPolicy() with its default pin_memory=True:", report["pinned"])
# --8<-- [end:policies]

# --8<-- [start:memory]
from tutorials.lec14_fsdp_pipeline.memory import plot_memory, state_bytes


def adam_state_bytes(model, rank, n):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = X.chunk(n)[rank % n], Y.chunk(n)[rank % n]
    F.mse_loss(model(x), y).backward()
    optimizer.step()  # Adam creates its state in its first step
    measured = state_bytes(model, optimizer)  # what this rank holds (DTensors: the local shard)
    del optimizer
    return measured


def memory_per_rank(rank, world_size):
    measured = {}
    for n in (1, 2, 4):
        # a 2-D mesh: world_size / n independent groups ("replica") of n ranks ("shard")
        mesh = init_device_mesh("cpu", (world_size // n, n), mesh_dim_names=("replica", "shard"))
        group = mesh["shard"]  # the n ranks that share one model
        torch.manual_seed(0)
        ddp = adam_state_bytes(DDP(ToyNet(), process_group=group.get_group()), rank, n)
        torch.manual_seed(0)
        fsdp = adam_state_bytes(shard_toynet(ToyNet(), group), rank, n)
        measured[n] = {"DDP": ddp, "FSDP": fsdp}
    return measured


per_rank = launch(memory_per_rank, world_size=4)
assert all(r == per_rank[0] for r in per_rank)  # even shards: every rank holds the same
rows = [{"world": n, "strategy": s, **b} for n, by in per_rank[0].items() for s, b in by.items()]
print("ranks  strategy   params    grads  Adam state    total  16·Ψ/N + 32")
for r in rows:
    total = r["params"] + r["grads"] + r["optimizer"]
    n = r["world"] if r["strategy"] == "FSDP" else 1
    predicted = 16 * psi // n + 4 * 8  # Adam's 'step': 4 bytes per parameter tensor, not sharded
    print(f"{r['world']:5}  {r['strategy']:8} {r['params']:8,} {r['grads']:8,} {r['optimizer']:11,} "
          f"{total:8,}  {predicted:8,} {'=' if total == predicted else '!='}")
print(f"wrote {plot_memory(rows, OUT / 'memory-per-rank.png', 'ToyNet, fp32 + Adam: bytes per rank')}")
# --8<-- [end:memory]

# --8<-- [start:tensor_parallel]
from torch.distributed.tensor.debug import CommDebugMode
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

from tutorials.lec14_fsdp_pipeline.models import FeedForward


def tensor_parallel(rank, world_size):
    mesh = init_device_mesh("cpu", (world_size,), mesh_dim_names=("tp",))
    torch.manual_seed(0)
    reference = FeedForward(width=32, hidden=128)  # up: 32 -> 128, down: 128 -> 32
    model = parallelize_module(copy.deepcopy(reference), mesh,
                               {"up": ColwiseParallel(), "down": RowwiseParallel()})
    for name, p in model.named_parameters():
        local = tuple(p.to_local().shape)  # this rank's piece
        print(f"{name:11} {p.placements[0]!r:12}  global {tuple(p.shape)!s:9}  local {local}")
    # every rank gets the same input (in a real model: the activation of the layer before)
    x = torch.randn(4, 32, generator=torch.Generator().manual_seed(2), requires_grad=True)
    with CommDebugMode() as forward:
        y = model(x)  # each rank: half the hidden units; one all-reduce sums the halves
    with CommDebugMode() as backward:
        y.square().sum().backward()  # one all-reduce sums the halves of x's gradient
    x_ref = x.detach().requires_grad_()
    reference(x_ref).square().sum().backward()
    print(f"all-reduces: forward {forward.get_total_counts()}, backward {backward.get_total_counts()}; "
          f"output == unsharded: {torch.allclose(y, reference(x_ref), atol=1e-6)}, "
          f"gradients == unsharded: {torch.allclose(x.grad, x_ref.grad, atol=1e-6)} and "
          f"{torch.allclose(model.up.weight.grad.full_tensor(), reference.up.weight.grad, atol=1e-6)}")


launch(tensor_parallel, world_size=2)
# --8<-- [end:tensor_parallel]

# --8<-- [start:pipeline]
from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe

from tutorials.lec14_fsdp_pipeline.models import pipeline_model, stage_of
from tutorials.lec14_fsdp_pipeline.pipeline import in_flight, order, time_chunks

WIDTH, BATCH = 512, 256  # 4 layers of 512 x 512; a batch of 256 rows per step
PX = torch.randn(BATCH, WIDTH, generator=torch.Generator().manual_seed(3))
PY = torch.randn(BATCH, WIDTH, generator=torch.Generator().manual_seed(4))
SCHEDULES = [("GPipe", 2), ("GPipe", 4), ("GPipe", 8), ("1F1B", 4)]


def pipeline_run(rank, world_size, steps=3):
    model = pipeline_model(WIDTH)  # every rank builds the whole model from one seed ...
    part = stage_of(model, rank, world_size)  # ... and keeps its consecutive half
    F.mse_loss(model(PX), PY).backward()  # the one-process reference gradients
    expected = [p.grad.clone() for p in part.parameters()]
    results = {}
    for name, m in SCHEDULES:
        stage = PipelineStage(part, stage_index=rank, num_stages=world_size, device=torch.device("cpu"))
        kind = ScheduleGPipe if name == "GPipe" else Schedule1F1B
        schedule = kind(stage, n_microbatches=m, loss_fn=F.mse_loss)  # mean loss: grads scaled by 1/m
        log = []
        time_chunks(stage, log)  # record each micro-batch's forward and backward
        runs = []
        for _ in range(steps):
            log.clear()
            part.zero_grad()
            losses = []
            dist.barrier()  # the stages start each step together
            start = time.perf_counter()
            if rank == 0:
                schedule.step(PX)  # the first stage feeds the batch, split into m micro-batches
            else:
                schedule.step(target=PY, losses=losses)  # the last stage computes the losses
            runs.append((start, time.perf_counter(), list(log)))
        grads_ok = all(torch.allclose(p.grad, g, atol=1e-6) for p, g in zip(part.parameters(), expected))
        results[name, m] = {"runs": runs, "losses": [v.detach().item() for v in losses], "grads_ok": grads_ok}
    return results


pipe = launch(pipeline_run, world_size=2, timeout=120)
full_loss = F.mse_loss(pipeline_model(WIDTH)(PX), PY).item()
for name, m in [("GPipe", 4), ("1F1B", 4)]:
    print(f"{name}, {m} micro-batches")
    for rank, result in enumerate(pipe):
        log = result[name, m]["runs"][-1][2]
        print(f"  stage {rank}: {order(log)}   in flight at most: {in_flight(log)}")
    last = pipe[-1][name, m]
    loss = statistics.fmean(last["losses"])  # the mean of the micro-batch losses
    print(f"  loss {loss:.5f} (one process: {full_loss:.5f}); gradients == one process:",
          all(r[name, m]["grads_ok"] for r in pipe))
# --8<-- [end:pipeline]

# --8<-- [start:bubble]
from tutorials.lec14_fsdp_pipeline.pipeline import draw_schedule, idle_fraction, replay

p = 2  # stages
bubbles = {}
print("schedule  m  (p-1)/(m+p-1)  replayed  measured   step")
for name, m in SCHEDULES:
    candidates = []
    for step in range(1, len(pipe[0][name, m]["runs"])):  # step 0 was a warm-up
        runs = [result[name, m]["runs"][step] for result in pipe]  # (start, end, log) per stage
        start, end = min(r[0] for r in runs), max(r[1] for r in runs)  # one clock for both ranks
        logs = [r[2] for r in runs]
        ideal = replay(logs)  # the same computations, with communication for free
        ideal_end = max(e for log in ideal for *_, e in log)
        candidates.append({"ms": (end - start) * 1e3, "start": start, "logs": logs, "ideal": ideal,
                           "measured": statistics.fmean(idle_fraction(log, start, end) for log in logs),
                           "replayed": statistics.fmean(idle_fraction(log, 0.0, ideal_end) for log in ideal)})
    b = bubbles[name, m] = min(candidates, key=lambda c: c["ms"])  # the least disturbed step
    b["theory"] = (p - 1) / (m + p - 1)
    print(f"{name:8} {m:2}  {b['theory']:13.3f}  {b['replayed']:8.3f}  {b['measured']:8.3f}"
          f"  {b['ms']:4.0f} ms")
panels, starts = {}, {}
for name, m in [("GPipe", 4), ("1F1B", 4)]:
    b = bubbles[name, m]
    panels[f"{name}, m = {m}: measured"], starts[f"{name}, m = {m}: measured"] = b["logs"], b["start"]
    panels[f"{name}, m = {m}: replayed with free communication"] = b["ideal"]
print(f"wrote {draw_schedule(panels, OUT / 'pipeline-schedule.png', starts)}")
# --8<-- [end:bubble]

# --8<-- [start:three_d]
# Narayanan et al. 2021, Table 1: a GPT with 1,008 B parameters on 3,072 A100 GPUs,
# tensor-parallel t = 8 (inside a node), pipeline-parallel p = 64 (across nodes)
t, p, gpus = 8, 64, 3072
d = gpus // (t * p)  # the data-parallel replicas
ranks = torch.arange(gpus).reshape(d, p, t)  # what init_device_mesh("cuda", (d, p, t)) lays out
rank = 1234
replica, stage, piece = (int(i) for i in (ranks == rank).nonzero()[0])
print(f"d = {d}; rank {rank} = replica {replica}, pipeline stage {stage}, tensor slice {piece}")
print("  its tensor-parallel group (one node, NVLink):", ranks[replica, stage].tolist())
print("  its pipeline, stage by stage:", ranks[replica, :, piece].tolist()[:5], "... 64 ranks")
print("  its data-parallel group:", ranks[:, stage, piece].tolist())
params_per_gpu = 1008e9 / (t * p)
print(f"  parameters per GPU: {params_per_gpu / 1e9:.2f} B -> {16 * params_per_gpu / 1e9:.1f} GB "
      f"of mixed-precision Adam state (an A100 has 80 GB)")
m = 3072 // d  # the batch of 3,072 sequences, as micro-batches of one sequence per pipeline
print(f"  micro-batches per pipeline m = {m}: bubble (p-1)/(m+p-1) = {(p - 1) / (m + p - 1):.3f}")
# --8<-- [end:three_d]

# --8<-- [start:mistake_sharded_parameters]
def sharded_parameter_mistakes(rank, world_size):
    mesh = init_device_mesh("cpu", (world_size,))
    x, y = X.chunk(world_size)[rank], Y.chunk(world_size)[rank]
    torch.manual_seed(0)
    model = ToyNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # mistake 1: too early
    shard_toynet(model, mesh)  # replaces every parameter by a new DTensor parameter
    before = model.head.weight.full_tensor()
    F.mse_loss(model(x), y).backward()
    optimizer.step()
    changed = not torch.equal(before, model.head.weight.full_tensor())
    held = optimizer.param_groups[0]["params"][0]
    if rank == 0:
        print(f"the optimizer holds a {type(held).__name__}, the model a {type(model.inp.weight).__name__}; "
              f"its gradient: {held.grad}; weights changed by step(): {changed}")
    new_head = torch.zeros(8, 128)  # mistake 2: e.g. a pretrained head, as a plain tensor
    try:
        with torch.no_grad():
            model.head.weight.copy_(new_head)
    except RuntimeError as err:
        if rank == 0:
            print(err)
    with torch.no_grad():  # the fix: distribute it the way the parameter is distributed
        model.head.weight.copy_(distribute_tensor(new_head, mesh, [Shard(0)]))
    copied = torch.equal(model.head.weight.full_tensor(), new_head)
    if rank == 0:
        print("after distribute_tensor:", copied)
    del model, optimizer


launch(sharded_parameter_mistakes, world_size=2)
# --8<-- [end:mistake_sharded_parameters]

# --8<-- [start:mistake_microbatches]
def too_few_samples(rank, world_size):
    stage = PipelineStage(nn.Linear(4, 4), stage_index=rank, num_stages=world_size,
                          device=torch.device("cpu"))
    try:
        Schedule1F1B(stage, n_microbatches=1, loss_fn=F.mse_loss)  # fewer micro-batches than stages
    except ValueError as err:
        if rank == 0:
            print("ValueError:", err)
    schedule = ScheduleGPipe(stage, n_microbatches=4, loss_fn=F.mse_loss)
    x, y = torch.randn(3, 4), torch.randn(3, 4)  # a last batch of 3 samples for 4 micro-batches
    if rank == 0:
        schedule.step(x)
    else:
        schedule.step(target=y)


try:
    launch(too_few_samples, world_size=2)
except WorkerError as err:
    for rank, failure in sorted(err.failures.items()):
        print(f"rank {rank} failed: {failure}")
# --8<-- [end:mistake_microbatches]

# --8<-- [start:cleanup]
torch.set_num_threads(previous_threads)  # give the thread count back
# --8<-- [end:cleanup]
