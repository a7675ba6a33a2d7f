"""Lecture 13: parallel and distributed training.

The code of the chapter ``docs/lectures/13-distributed.md``, in the order the page
shows it. Every multi-process example runs on real ``gloo`` process groups, started
by :func:`tutorials.core.distributed.launch` (one process per rank, forked, with a
free port and a timeout). Run it top to bottom with
``python -m tutorials.lec13_distributed.chapter``; it writes its figure into
``lec13/`` under the current directory and its checkpoints into a temporary folder.
"""

# --8<-- [start:imports]
import contextlib
import os
import socket
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch._dynamo  # noqa: F401  (DDP's constructor imports it: 3 s, once here, not in every rank)
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from tutorials.core.datasets import digits_split
from tutorials.core.distributed import WorkerError, WorkerTimeout, launch

# This process only starts ranks: it never opens an OpenMP thread team, which
# a forked child could not use (each rank sets its own thread count).
previous_threads = torch.get_num_threads()
torch.set_num_threads(1)
OUT = Path("lec13")  # this chapter's figure goes here
OUT.mkdir(exist_ok=True)
workdir = Path(tempfile.mkdtemp())  # checkpoints: a temporary folder
x_train, y_train, _, _ = digits_split(seed=0)  # 1,438 real 8x8 digits, 64 pixels each
# --8<-- [end:imports]

# --8<-- [start:backends]
print("torch.distributed built in:", dist.is_available())
for backend in ("gloo", "nccl", "mpi", "ucc"):
    # gloo: CPU (and GPU) collectives over TCP; nccl: NVIDIA GPUs;
    # mpi and ucc only when PyTorch is built from source against them
    print(f"  {backend:4s} available: {getattr(dist, f'is_{backend}_available')()}")
# --8<-- [end:backends]

# --8<-- [start:hello]
def hello(rank, world_size):
    # launch() set MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE for this
    # process, as torchrun does; "env://" reads them: rank 0 opens a key-value
    # store on MASTER_ADDR:MASTER_PORT and every rank meets there.
    dist.init_process_group("gloo", init_method="env://")
    try:
        print(f"rank {dist.get_rank()} of {dist.get_world_size()}, "
              f"backend {dist.get_backend()}, RANK={os.environ['RANK']}")
        return os.getpid()
    finally:
        dist.destroy_process_group()  # leave no group (and no sockets) behind


pids = launch(hello, world_size=4, backend=None)  # backend=None: hello inits itself
print("four processes, none of them this one:",
      len(set(pids)) == 4 and os.getpid() not in pids)
# --8<-- [end:hello]

# --8<-- [start:collectives]
def collectives(rank, world_size):
    # launch() created the gloo group before calling us (its default backend)
    x = torch.arange(4) + 10 * rank  # rank 0: [0 1 2 3], rank 1: [10 11 12 13] ...
    summed = x.clone()
    dist.all_reduce(summed)  # SUM over ranks, in place, on every rank
    copied = x.clone()
    dist.broadcast(copied, src=0)  # rank 0's tensor everywhere
    gathered = torch.empty(world_size, dtype=x.dtype)
    dist.all_gather_single(gathered, x[:1])  # everyone's first element, by rank
    mine = torch.empty(1, dtype=x.dtype)
    dist.reduce_scatter_single(mine, x)  # rank r gets the SUM of element r only
    print(f"in {x.tolist()}  all_reduce {summed.tolist()}  broadcast "
          f"{copied.tolist()}  all_gather {gathered.tolist()}  reduce_scatter {mine.tolist()}")


launch(collectives, world_size=4)
# --8<-- [end:collectives]

# --8<-- [start:ring]
def ring_all_reduce(t, record=None):
    """Sum ``t`` over all ranks in place, around a ring; return the bytes this rank sent."""
    rank, n = dist.get_rank(), dist.get_world_size()
    right, left = (rank + 1) % n, (rank - 1) % n
    chunks = t.view(-1).tensor_split(n)  # n views into t (sizes differ by at most 1)
    sent = 0

    def exchange(send_index, into):  # send one chunk right while receiving from the left
        nonlocal sent
        ops = [dist.isend(chunks[send_index], dst=right), dist.irecv(into, src=left)]
        for op in ops:
            op.wait()
        sent += chunks[send_index].numel() * t.element_size()

    # Phase 1, reduce-scatter: in step s, rank r passes chunk (r - s) to the right and
    # adds what arrives from the left into chunk (r - s - 1). After n - 1 steps rank r
    # holds the full sum of chunk (r + 1) % n.
    for step in range(n - 1):
        send, recv = (rank - step) % n, (rank - step - 1) % n
        incoming = torch.empty_like(chunks[recv])
        exchange(send, incoming)
        chunks[recv].add_(incoming)  # in place: chunks are views into t
        if record is not None:
            record.append({"phase": "reduce-scatter", "step": step + 1, "sent": send,
                           "chunks": [int(c[0]) for c in chunks]})
    # Phase 2, all-gather: pass the finished chunks around; each overwrites a stale one.
    for step in range(n - 1):
        send, recv = (rank + 1 - step) % n, (rank - step) % n
        exchange(send, chunks[recv])
        if record is not None:
            record.append({"phase": "all-gather", "step": step + 1, "sent": send,
                           "chunks": [int(c[0]) for c in chunks]})
    return sent
# --8<-- [end:ring]

# --8<-- [start:ring_check]
def ring_demo(rank, world_size):
    # rank r contributes 2**r everywhere, so a sum's bits say which ranks it holds
    x = torch.full((8,), 2 ** rank, dtype=torch.int64)
    start = [int(c[0]) for c in x.tensor_split(world_size)]  # each chunk's first value
    record = [{"phase": "start", "step": 0, "sent": None, "chunks": start}]
    ring_all_reduce(x, record)  # appends one entry per step
    expected = torch.full((8,), 2 ** rank, dtype=torch.int64)
    dist.all_reduce(expected)
    # a larger float tensor: is it the same sum, and how many bytes went out?
    big = torch.randn(1_000_000, generator=torch.Generator().manual_seed(rank))
    reference = big.clone()
    dist.all_reduce(reference)
    sent = ring_all_reduce(big)
    close = torch.allclose(big, reference, rtol=1e-5, atol=1e-5)  # sums in another order
    print(f"ints == all_reduce: {torch.equal(x, expected)}, floats close: {close}, "
          f"sent {sent:,} bytes for a {big.numel() * 4:,}-byte tensor")
    return record


records = launch(ring_demo, world_size=4)
# --8<-- [end:ring_check]

# --8<-- [start:ring_figure]
from tutorials.lec13_distributed.drawing import draw_ring_steps

path = draw_ring_steps(records, OUT / "ring-allreduce.png")
print(f"wrote {path}")
# --8<-- [end:ring_figure]

# --8<-- [start:ring_cost]
def ring_bytes_per_rank(n, nbytes):
    """Bytes each rank sends (and receives) in a ring all-reduce of ``nbytes``."""
    return 2 * (n - 1) / n * nbytes


grads = 25_557_032 * 4  # the fp32 gradients of ResNet-50: 102 MB per step
for n in (2, 4, 8, 64, 1024):
    print(f"{n:5d} ranks: each sends {ring_bytes_per_rank(n, grads) / 1e6:6.1f} MB "
          f"in {2 * (n - 1):4d} messages")
# --8<-- [end:ring_cost]

# --8<-- [start:ddp_scratch]
def make_mlp():
    torch.manual_seed(0)  # same initial weights wherever it is called
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def by_hand_and_ddp(rank, world_size, steps=5, per_rank=32):
    ddp = DDP(make_mlp())  # its constructor broadcasts rank 0's weights
    mine = make_mlp()
    for p in mine.parameters():  # ... so by hand we broadcast them too
        dist.broadcast(p.detach(), src=0)
    opt_ddp = torch.optim.SGD(ddp.parameters(), lr=0.5)
    opt_mine = torch.optim.SGD(mine.parameters(), lr=0.5)
    for step in range(steps):
        # step s uses digits [s*64, (s+1)*64); rank r takes its 32 of them
        lo = (step * world_size + rank) * per_rank
        x, y = x_train[lo:lo + per_rank], y_train[lo:lo + per_rank]
        opt_ddp.zero_grad()
        F.cross_entropy(ddp(x), y).backward()  # DDP averages grads during backward
        opt_ddp.step()
        opt_mine.zero_grad()
        F.cross_entropy(mine(x), y).backward()  # this rank's gradients only
        for p in mine.parameters():
            dist.all_reduce(p.grad)  # SUM over the ranks ...
            p.grad /= world_size  # ... divided: the mean gradient of the 64 digits
        opt_mine.step()
    same = all(torch.equal(a, b) for a, b in zip(ddp.module.parameters(), mine.parameters()))
    print(f"after {steps} steps, by hand == DDP, bit for bit: {same}")
    return [p.detach() for p in mine.parameters()]


weights = launch(by_hand_and_ddp, world_size=2)
single = make_mlp()  # one process, the whole batch of 64 per step
opt = torch.optim.SGD(single.parameters(), lr=0.5)
for step in range(5):
    opt.zero_grad()
    F.cross_entropy(single(x_train[step * 64:(step + 1) * 64]),
                    y_train[step * 64:(step + 1) * 64]).backward()
    opt.step()
diff = max((a - b).abs().max().item() for a, b in zip(weights[0], single.parameters()))
print("both ranks hold the same weights:", all(map(torch.equal, *weights)))
print("same as one process on batches of 64, max |diff| < 1e-6:", diff < 1e-6)
# --8<-- [end:ddp_scratch]

# --8<-- [start:ddp_buckets]
from tutorials.lec13_distributed.ddp_tools import BucketLog, recording_allreduce_hook


def show_buckets(rank, world_size):
    torch.manual_seed(0)
    model = nn.Sequential(*[nn.Linear(64, 64) for _ in range(4)])  # 4 x 16.6 kB
    events = []  # one timeline: backward reaching layers, buckets handed over
    for i, layer in enumerate(model):
        layer.register_full_backward_pre_hook(
            lambda module, grad, i=i: events.append(f"  backward reaches layer {i}"))
    ddp = DDP(model, bucket_cap_mb=0.02)  # 21 kB buckets (default 25 MiB)
    names = {p: name for name, p in model.named_parameters()}
    ddp.register_comm_hook(BucketLog(names, events), recording_allreduce_hook)
    for iteration in range(2):
        events.append(f"iteration {iteration}: backward starts")
        ddp(torch.randn(8, 64)).sum().backward()
        events.append("  backward returns (every bucket reduced)")
    if rank == 0:  # both ranks saw the same order
        print("\n".join(events))


launch(show_buckets, world_size=2)
# --8<-- [end:ddp_buckets]

# --8<-- [start:sampler]
from torch.utils.data import DistributedSampler

dataset = list(range(10))  # anything with a len(): the sampler only yields indices
for epoch in (0, 1):
    for rank in range(4):
        sampler = DistributedSampler(dataset, num_replicas=4, rank=rank, seed=0)
        sampler.set_epoch(epoch)  # the shuffle is seeded with seed + epoch
        print(f"epoch {epoch}, rank {rank}: {list(sampler)}")
stale = DistributedSampler(dataset, num_replicas=4, rank=0, seed=0)  # never set_epoch
print("without set_epoch, every epoch repeats epoch 0's order:",
      list(stale) == list(stale) == [4, 3, 6])
dropped = [list(DistributedSampler(dataset, num_replicas=4, rank=r, seed=0, drop_last=True))
           for r in range(4)]
print("drop_last=True:", dropped)
# --8<-- [end:sampler]

# --8<-- [start:no_sync]
def accumulate(rank, world_size, k=4, micro=8):
    ddp = DDP(make_mlp())
    log = BucketLog()  # counts the all-reduces
    ddp.register_comm_hook(log, recording_allreduce_hook)
    lo = rank * k * micro  # this rank's k * micro digits
    x, y = x_train[lo:lo + k * micro], y_train[lo:lo + k * micro]
    with ddp.no_sync():  # backward only adds into .grad: nothing is sent
        for xb, yb in zip(x.chunk(k)[:-1], y.chunk(k)[:-1]):
            (F.cross_entropy(ddp(xb), yb) / k).backward()
    # the last micro-batch outside no_sync: one all-reduce of the summed gradients
    (F.cross_entropy(ddp(x.chunk(k)[-1]), y.chunk(k)[-1]) / k).backward()
    accumulated, counts = [p.grad.clone() for p in ddp.parameters()], [len(log.records)]
    ddp.zero_grad()
    for xb, yb in zip(x.chunk(k), y.chunk(k)):  # the same without no_sync
        (F.cross_entropy(ddp(xb), yb) / k).backward()
    counts.append(len(log.records) - sum(counts))
    ddp.zero_grad()
    F.cross_entropy(ddp(x), y).backward()  # the large batch in one go
    counts.append(len(log.records) - sum(counts))
    diff = max((a - p.grad).abs().max().item() for a, p in zip(accumulated, ddp.parameters()))
    if rank == 0:
        print(f"all-reduces: {k} micro-batches with no_sync {counts[0]}, without {counts[1]}; "
              f"one batch of {k * micro}: {counts[2]}")
        print("accumulated == large-batch gradient (max |diff| < 1e-6):", diff < 1e-6)


launch(accumulate, world_size=2)
# --8<-- [end:no_sync]

# --8<-- [start:data_parallel]
doc = " ".join(nn.DataParallel.__doc__.split())  # the class's own warning
print(doc[doc.index("It is recommended"):doc.index("See:")].strip())
dp = nn.DataParallel(make_mlp())  # one process, one thread per GPU
print("GPUs DataParallel would use here:", dp.device_ids)
if not dp.device_ids:  # no GPU: forward just calls the module
    print("same output as the plain module:", torch.equal(dp(x_train[:4]), dp.module(x_train[:4])))
# --8<-- [end:data_parallel]

# --8<-- [start:pitfall_unused]
class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(64, 32)
        self.digit = nn.Linear(32, 10)  # used
        self.parity = nn.Linear(32, 2)  # never used in this loop

    def forward(self, x, task="digit"):
        h = torch.relu(self.body(x))
        return self.digit(h) if task == "digit" else self.parity(h)


def unused_parameters(rank, world_size, find_unused):
    # TORCH_DISTRIBUTED_DEBUG=INFO does this in a fresh process: name the parameters
    dist.set_debug_level(dist.DebugLevel.INFO)
    model = DDP(TwoHeads(), find_unused_parameters=find_unused)
    for _ in range(2):  # the second forward finds the first reduction unfinished
        F.cross_entropy(model(x_train[:8]), y_train[:8]).backward()
    return "two steps done"


try:
    launch(unused_parameters, world_size=2, args=(False,))
except WorkerError as err:
    message = err.failures[0]  # rank 0's error; rank 1 raised the same
    print(message.split(". ")[0] + ".")
    print(next(line for line in message.splitlines() if line.startswith("Parameters which")))
print(launch(unused_parameters, world_size=2, args=(True,)))  # the fix
# --8<-- [end:pitfall_unused]

# --8<-- [start:pitfall_batch_sizes]
def unequal_batches(rank, world_size, sizes=(2, 6)):
    lo = sum(sizes[:rank])  # rank 0 gets digits 0-1, rank 1 digits 2-7
    x, y = x_train[lo:lo + sizes[rank]], y_train[lo:lo + sizes[rank]]
    ddp = DDP(make_mlp())
    F.cross_entropy(ddp(x), y).backward()  # mean over ranks of per-rank means
    naive = ddp.module[0].weight.grad.clone()
    ddp.zero_grad()
    # fix: a SUM over this rank's samples, scaled so that DDP's average is the global mean
    scale = world_size / sum(sizes)
    (F.cross_entropy(ddp(x), y, reduction="sum") * scale).backward()
    return naive, ddp.module[0].weight.grad


naive, fixed = launch(unequal_batches, world_size=2)[0]
reference = make_mlp()
F.cross_entropy(reference(x_train[:8]), y_train[:8]).backward()  # all 8 digits at once
true_grad = reference[0].weight.grad
print("batches of 2 and 6, mean loss: equals the 8-digit gradient:",
      torch.allclose(naive, true_grad, atol=1e-6))
print("sum loss x world_size / 8:      equals the 8-digit gradient:",
      torch.allclose(fixed, true_grad, atol=1e-6))
# --8<-- [end:pitfall_batch_sizes]

# --8<-- [start:pitfall_uneven]
def uneven_inputs(rank, world_size, join):
    ddp = DDP(make_mlp())
    opt = torch.optim.SGD(ddp.parameters(), lr=0.5)
    batches = 3 + rank  # rank 1 got one batch more (an uneven split of the data)
    # join(): a rank that runs out of batches keeps answering the others' all-reduces
    with ddp.join() if join else contextlib.nullcontext():
        for b in range(batches):
            lo = (b * world_size + rank) * 16
            opt.zero_grad()
            F.cross_entropy(ddp(x_train[lo:lo + 16]), y_train[lo:lo + 16]).backward()
            opt.step()
    print(f"finished its {batches} batches")
    return [p.detach() for p in ddp.module.parameters()]


try:
    launch(uneven_inputs, world_size=2, args=(False,), timeout=2)
except WorkerTimeout as err:
    print(f"{type(err).__name__}: {err}")
# --8<-- [end:pitfall_uneven]

# --8<-- [start:pitfall_join]
finals = launch(uneven_inputs, world_size=2, args=(True,))
print("both ranks end with the same weights:", all(map(torch.equal, *finals)))
# --8<-- [end:pitfall_join]

# --8<-- [start:pitfall_port]
taken = socket.socket()
taken.bind(("127.0.0.1", 0))  # another program, or a stale run, holds a port ...
taken.listen()
port = taken.getsockname()[1]
try:  # ... and rank 0 is told to open its store on that port
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
except dist.DistNetworkError as err:
    message = str(err)
    print(f"{type(err).__name__}: {message[:message.index(' port:')]}")
    print("address already in use:", "address already in use" in message)
finally:
    taken.close()
print("a process group exists in this process:", dist.is_initialized())
# --8<-- [end:pitfall_port]

# --8<-- [start:pitfall_threads]
def step_ms(rank, world_size, thread_counts):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 256))
    x = torch.randn(128, 256)
    times = {}
    for threads in thread_counts:
        torch.set_num_threads(threads)  # this rank's intra-op threads
        model(x).sum().backward()  # warm-up
        dist.barrier()  # both ranks measure at the same time
        steps, start = 0, time.perf_counter()
        while steps < 3 or time.perf_counter() - start < 0.2:
            model(x).sum().backward()
            steps += 1
        times[threads] = 1e3 * (time.perf_counter() - start) / steps
    return times


# the CPUs this process may run on (os.cpu_count() counts the whole machine)
cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
fits, every_core = max(1, cores // 2), cores  # torch's default: about every core, per process
times = launch(step_ms, world_size=2, args=([fits, every_core],))
for threads in (fits, every_core):
    ms = sum(t[threads] for t in times) / len(times)  # mean over the two ranks
    print(f"2 ranks with {threads} thread(s) each, on {cores} cores: {ms:6.1f} ms per step")
# --8<-- [end:pitfall_threads]

# --8<-- [start:model_parallel]
def make_deep():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def two_stages(rank, world_size, batch=32):
    full = make_deep()  # each rank uses (and would keep) only its stage
    stage = full[:2] if rank == 0 else full[2:]
    x, y = x_train[:batch], y_train[:batch]
    loss = None
    if rank == 0:
        h = stage(x)  # (32, 128): the activations at the cut
        dist.send(h.detach(), dst=1)  # forward: activations go to stage 1
        grad_h = torch.empty_like(h)
        dist.recv(grad_h, src=1)  # backward: d loss / d h comes back
        h.backward(grad_h)  # backward through stage 0
    else:
        h = torch.empty(batch, 128)
        dist.recv(h, src=0)
        h.requires_grad_()  # a leaf here: its .grad is what stage 0 needs
        loss = F.cross_entropy(stage(h), y)
        loss.backward()
        dist.send(h.grad, dst=0)
        loss = loss.item()
    return loss, {name: p.grad for name, p in full.named_parameters() if p.grad is not None}


(_, grads0), (loss, grads1) = launch(two_stages, world_size=2)
reference = make_deep()  # the same model in one process
ref_loss = F.cross_entropy(reference(x_train[:32]), y_train[:32])
ref_loss.backward()
ref_grads = {name: p.grad for name, p in reference.named_parameters()}
print("rank 0 computed the gradients of", sorted(grads0))
print("rank 1 computed the gradients of", sorted(grads1))
print("loss and every gradient bit-identical to one process:", loss == ref_loss.item()
      and all(torch.equal(g, ref_grads[name]) for name, g in {**grads0, **grads1}.items()))
# --8<-- [end:model_parallel]

# --8<-- [start:rpc]
import threading

import torch.distributed.rpc as rpc

print("RPC built into this PyTorch:", rpc.is_available())


class ParameterServer:
    """Owns the weights; trainers pull them and push gradients, each at its own pace."""

    def __init__(self, features):
        self.w = torch.zeros(features)
        self.updates = 0
        self.lock = threading.Lock()  # requests arrive on several server threads

    def pull(self):
        with self.lock:
            return self.w.clone()

    def push(self, grad, lr=0.1):
        with self.lock:
            self.w -= lr * grad
            self.updates += 1


def train_against(server, rank, steps=50):
    """Runs on a trainer: pull the weights, compute a least-squares gradient, push it."""
    true_w = torch.tensor([1.0, -2.0, 3.0])
    gen = torch.Generator().manual_seed(rank)  # each trainer has its own data
    for _ in range(steps):
        w = server.rpc_sync().pull()  # runs pull() where the server lives
        x = torch.randn(16, 3, generator=gen)
        server.rpc_sync().push(2 * x.T @ (x @ w - x @ true_w) / len(x))
    return steps


def parameter_server(rank, world_size):
    # RPC's start-up trips a deprecation warning inside c10d (pytorch/pytorch#149393)
    warnings.filterwarnings("ignore", message="You are using a Backend")
    rpc.init_rpc(f"worker{rank}", rank=rank, world_size=world_size)
    if rank == 0:  # the server, which also starts the trainers
        server = rpc.RRef(ParameterServer(3))  # a reference the trainers can call
        futures = [rpc.rpc_async(f"worker{r}", train_against, args=(server, r))
                   for r in range(1, world_size)]
        steps = sum(f.wait() for f in futures)
        ps = server.local_value()
        print(f"{ps.updates} updates from {world_size - 1} trainers ({steps} steps), "
              f"w = {[round(v, 3) for v in ps.w.tolist()]}")
    rpc.shutdown()  # waits until every worker is done


launch(parameter_server, world_size=3, backend=None)  # RPC makes its own group
# --8<-- [end:rpc]

# --8<-- [start:checkpoint_save]
import torch.distributed.checkpoint as dcp
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import Shard, distribute_tensor

ckpt = workdir / "ckpt"
ckpt.mkdir()


def save_both_ways(rank, world_size, folder):
    mesh = init_device_mesh("cpu", (world_size,))  # the ranks, as a 1-D mesh
    torch.manual_seed(0)
    # an embedding table split by rows: each rank holds 1000 / world_size rows
    table = distribute_tensor(torch.randn(1000, 16), mesh, [Shard(0)])
    # (a) torch.save on rank 0: the whole table must first be gathered there
    full = table.full_tensor()  # an all-gather: every rank builds all 1000 rows
    if rank == 0:
        torch.save({"table": full, "step": 100}, folder / "rank0.pt")
    dist.barrier()  # nobody reads the file before rank 0 has written it
    # (b) torch.distributed.checkpoint: every rank writes its own rows, in parallel
    dcp.save({"table": table, "step": 100}, checkpoint_id=folder / "dcp")
    print(f"holds {table.to_local().shape[0]} of the {full.shape[0]} rows")


launch(save_both_ways, world_size=2, args=(ckpt,))
for f in sorted(ckpt.rglob("*")):
    if f.is_file():
        print(f"{f.relative_to(ckpt)}  {f.stat().st_size / 1e3:3.0f} kB")
# --8<-- [end:checkpoint_save]

# --8<-- [start:checkpoint_load]
def load_resharded(rank, world_size, folder):
    mesh = init_device_mesh("cpu", (world_size,))
    # the destination decides the layout: here 4 shards of 250 rows
    state = {"table": distribute_tensor(torch.zeros(1000, 16), mesh, [Shard(0)]), "step": 0}
    dcp.load(state, checkpoint_id=folder / "dcp")  # each rank opens only the file with its rows
    return state["table"].to_local(), state["step"]


saved = torch.load(ckpt / "rank0.pt", weights_only=True)["table"]
parts = launch(load_resharded, world_size=4, args=(ckpt,))
print("saved by 2 ranks, loaded by 4:", [tuple(t.shape) for t, _ in parts],
      "step", parts[0][1], "same rows:", torch.equal(torch.cat([t for t, _ in parts]), saved))
one = {"table": torch.zeros(1000, 16), "step": 0}  # and by 1 process, with no group
with warnings.catch_warnings():  # DCP warns that it loads in one process: the intent
    warnings.filterwarnings("ignore", message="torch.distributed is disabled")
    dcp.load(one, checkpoint_id=ckpt / "dcp")
print("loaded by this one process:", torch.equal(one["table"], saved), "step", one["step"])
# --8<-- [end:checkpoint_load]

# --8<-- [start:mistake_no_broadcast]
def no_broadcast(rank, world_size, steps=5, per_rank=32):
    torch.manual_seed(rank)  # each rank its own initial weights (no dist.broadcast)
    mine = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.SGD(mine.parameters(), lr=0.5)
    spread = []  # largest weight difference between the two replicas
    for step in range(steps + 1):
        w = [torch.empty_like(mine[0].weight) for _ in range(world_size)]
        dist.all_gather(w, mine[0].weight.detach())  # both replicas' first layer
        spread.append((w[0] - w[1]).abs().max().item())
        if step == steps:
            break
        lo = (step * world_size + rank) * per_rank
        opt.zero_grad()
        F.cross_entropy(mine(x_train[lo:lo + per_rank]), y_train[lo:lo + per_rank]).backward()
        for p in mine.parameters():  # the same averaged gradient on both ranks ...
            dist.all_reduce(p.grad)
            p.grad /= world_size
        opt.step()  # ... applied to different weights
    if rank == 0:
        print(f"max |w(rank 0) - w(rank 1)| before: {spread[0]:.3f}, "
              f"after {steps} steps: {spread[-1]:.3f}")


launch(no_broadcast, world_size=2)
# --8<-- [end:mistake_no_broadcast]

# --8<-- [start:cleanup]
torch.set_num_threads(previous_threads)  # give back the thread count taken at the top
# --8<-- [end:cleanup]
