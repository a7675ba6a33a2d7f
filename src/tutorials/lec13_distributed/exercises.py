"""Self-checks for the exercises of Lecture 13 (parallel and distributed training).

Each ``check_*`` function takes *your* answer, runs it (on real ``gloo`` ranks started
with :func:`tutorials.core.distributed.launch` where the exercise is distributed),
prints a line starting with ✓ when it is right, and raises an ``AssertionError`` that
says what is wrong, with a hint, when it is not.

Examples:
    >>> from torch.utils.data import DistributedSampler
    >>> def shard_indices(n, num_replicas, rank, epoch, seed=0, drop_last=False):
    ...     sampler = DistributedSampler(range(n), num_replicas, rank, seed=seed, drop_last=drop_last)
    ...     sampler.set_epoch(epoch)  # the reference itself passes, of course
    ...     return list(sampler)
    >>> check_shard_indices(shard_indices)
    ✓ shard_indices: matches DistributedSampler in 7 cases (padding, drop_last, epochs)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DistributedSampler

from tutorials.core.distributed import WorkerError, launch

__all__ = ["check_all_reduce_from_halves", "check_average_gradients", "check_shard_indices"]

#: Seconds a check waits for its ranks (a wrong answer may leave a rank waiting forever).
TIMEOUT = 30.0


def _run(fn: Callable, world_size: int, args: tuple, what: str, hint: str = "") -> list:
    """Run ``fn`` on real ranks; a failed or hung rank becomes an AssertionError naming it."""
    try:
        return launch(fn, world_size, args=args, timeout=TIMEOUT, show=False)
    except WorkerError as err:  # WorkerTimeout is a WorkerError too
        first = min(err.failures) if err.failures else None
        said = f"rank {first} raised {err.failures[first]}" if first is not None else str(err)
        raise AssertionError(f"{what} failed on the ranks: {said}"
                             + (f"; hint: {hint}" if hint else "")) from None


# --- exercise 1: all-reduce = reduce-scatter + all-gather ---------------------------

_SHAPES = [(6,), (7,), (2, 5)]  # divisible by 3 ranks, not divisible, 2-D


def _all_reduce_ranks(rank: int, world_size: int, answer: Callable) -> list:
    calls: dict[str, int] = {}
    originals = {name: getattr(dist, name) for name in
                 ("all_reduce", "reduce_scatter_single", "all_gather_single", "reduce_scatter",
                  "all_gather", "reduce_scatter_tensor", "all_gather_into_tensor")}

    def counting(name: str, original: Callable) -> Callable:
        def call(*a, **k):
            calls[name] = calls.get(name, 0) + 1
            return original(*a, **k)
        return call

    results = []
    for i, shape in enumerate(_SHAPES):
        t = torch.arange(int(torch.tensor(shape).prod())).reshape(shape) * (rank + 1) + 100 * i
        expected = t.clone()
        dist.all_reduce(expected)  # before patching: the reference is not counted
        for name, original in originals.items():
            setattr(dist, name, counting(name, original))
        try:
            got = answer(t.clone())
        finally:
            for name, original in originals.items():
                setattr(dist, name, original)
        results.append((shape, got, expected))
    return [results, calls]


def check_all_reduce_from_halves(all_reduce_two_step: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise 1: an all-reduce built from its two halves, on 3 ranks.

    Args:
        all_reduce_two_step: your ``all_reduce_two_step(t)``, called on every rank inside
            a process group; it returns the SUM of ``t`` over the ranks, with ``t``'s shape,
            computed with ``dist.reduce_scatter_single`` and ``dist.all_gather_single``
            (and no ``dist.all_reduce``). ``t.numel()`` need not divide by the world size.

    Raises:
        AssertionError: a rank failed, a result is wrong, or ``all_reduce`` was used.
    """
    per_rank = _run(_all_reduce_ranks, 3, (all_reduce_two_step,), "all_reduce_two_step",
                    hint="reduce_scatter_single needs an input of world_size x the output's size: pad the "
                         "flat tensor with zeros to a multiple of the world size")
    for rank, (results, calls) in enumerate(per_rank):
        if calls.get("all_reduce"):
            raise AssertionError("all_reduce_two_step called dist.all_reduce; hint: build it from "
                                 "dist.reduce_scatter_single (each rank sums one shard) and "
                                 "dist.all_gather_single (every rank collects all shards)")
        for shape, got, expected in results:
            if not isinstance(got, torch.Tensor):
                raise AssertionError(f"all_reduce_two_step returned {type(got).__name__}, not a tensor")
            if tuple(got.shape) != tuple(expected.shape):
                hint = ("all_gather the reduced shards back into one tensor"
                        if got.numel() < expected.numel() else
                        "drop the padding and give the result the input's shape (.reshape(t.shape))")
                raise AssertionError(f"for an input of shape {shape} rank {rank} returned shape "
                                     f"{tuple(got.shape)}; hint: {hint}")
            if not torch.equal(got, expected):
                raise AssertionError(f"for an input of shape {shape} rank {rank} returned "
                                     f"{got.flatten()[:6].tolist()}... but the sum over ranks is "
                                     f"{expected.flatten()[:6].tolist()}...; hint: shard i of the "
                                     "reduce-scatter is elements [i*k, (i+1)*k) of the padded flat tensor")
        if not (calls.get("reduce_scatter_single") and calls.get("all_gather_single")):
            raise AssertionError(f"all_reduce_two_step made these collective calls: {calls or 'none'}; "
                                 "hint: use dist.reduce_scatter_single and dist.all_gather_single")
    print(f"✓ all_reduce_two_step: equals dist.all_reduce on 3 ranks for shapes {_SHAPES}")


# --- exercise 2: average the gradients with one all-reduce --------------------------


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def _average_ranks(rank: int, world_size: int, answer: Callable) -> dict:
    from torch.nn.parallel import DistributedDataParallel as DDP

    ddp, mine = DDP(_model()), _model()
    opt_ddp = torch.optim.SGD(ddp.parameters(), lr=0.5)
    opt_mine = torch.optim.SGD(mine.parameters(), lr=0.5)
    gen = torch.Generator().manual_seed(rank)
    calls, original, first = [], dist.all_reduce, None
    for _ in range(3):
        x, y = torch.randn(5, 6, generator=gen), torch.randint(0, 3, (5,), generator=gen)
        opt_ddp.zero_grad()
        F.cross_entropy(ddp(x), y).backward()
        opt_ddp.step()
        opt_mine.zero_grad()
        F.cross_entropy(mine(x), y).backward()
        local = [p.grad.clone() for p in mine.parameters()]
        count = [0]

        def counted(*a, _count=count, **k):
            _count[0] += 1
            return original(*a, **k)

        dist.all_reduce = counted
        try:
            answer(mine)
        finally:
            dist.all_reduce = original
        calls.append(count[0])
        if first is None:  # the first step: both models still hold the same weights
            first = {"unchanged": all(torch.equal(p.grad, g) for p, g in zip(mine.parameters(), local)),
                     "got": [p.grad.clone() for p in mine.parameters()],
                     "expected": [p.grad.clone() for p in ddp.parameters()]}
        opt_mine.step()
    return {"calls": calls, **first,
            "params": max((a - b).abs().max().item()
                          for a, b in zip(ddp.module.parameters(), mine.parameters()))}


def check_average_gradients(average_gradients: Callable[[nn.Module], None]) -> None:
    """Exercise 2: average every gradient over the ranks with a single all-reduce.

    Args:
        average_gradients: your ``average_gradients(model)``, called on every rank after
            ``backward()``; afterwards each ``p.grad`` holds the mean over the ranks, and
            it made exactly one ``dist.all_reduce`` call (one flat buffer, as a DDP bucket).

    Raises:
        AssertionError: the weights differ from DDP's after 3 steps, or the call count is wrong.
    """
    import torch._dynamo  # noqa: F401  (DDP's constructor imports it: once here, not in every rank)

    results = _run(_average_ranks, 2, (average_gradients,), "average_gradients")
    r = results[0]
    if r["unchanged"]:
        raise AssertionError("after average_gradients(model) every p.grad is still this rank's own "
                             "gradient; hint: copy the averaged buffer back into each p.grad "
                             "(p.grad.copy_(flat[offset:offset + n].view_as(p.grad)))")
    ratios = [(g / e)[e.abs() > 1e-6] for g, e in zip(r["got"], r["expected"])]
    if all(torch.allclose(q, torch.full_like(q, 2.0), rtol=1e-4) for q in ratios):
        raise AssertionError("the gradients are twice DDP's: the all-reduce SUMs over 2 ranks; hint: "
                             "divide by dist.get_world_size() to get the mean")
    if r["params"] > 1e-6:
        raise AssertionError(f"after 3 SGD steps the weights differ from DDP's by up to {r['params']:.2e}; "
                             "hint: every parameter's gradient, averaged over the ranks")
    if any(c != 1 for c in r["calls"]):
        raise AssertionError(f"average_gradients called dist.all_reduce {r['calls'][0]} times in a step; "
                             "hint: one call for all parameters: torch.cat([p.grad.view(-1) for p in ...]), "
                             "all-reduce that flat buffer, then copy its pieces back")
    print("✓ average_gradients: same weights as DDP after 3 steps, with one all-reduce per step")


# --- exercise 3: shard indices like DistributedSampler ------------------------------

_CASES = [(10, 4, 0, 0, False), (10, 4, 3, 0, False), (10, 4, 0, 1, False), (10, 4, 3, 0, True),
          (7, 3, 2, 5, False), (12, 4, 1, 2, False), (5, 8, 6, 0, False)]


def _sampler(n: int, replicas: int, rank: int, epoch: int, drop_last: bool) -> list[int]:
    sampler = DistributedSampler(range(n), num_replicas=replicas, rank=rank, seed=0, drop_last=drop_last)
    sampler.set_epoch(epoch)
    return list(sampler)


def _mistakes(n: int, replicas: int, rank: int, epoch: int, drop_last: bool) -> dict[str, list[int]]:
    """What the usual wrong answers return, each with the hint that names the mistake."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch)).tolist()
    per_rank = n // replicas if drop_last else -(-n // replicas)
    total = per_rank * replicas
    padded = order[:total] if drop_last else (order * (total // n + 1))[:total]
    return {
        "rank r takes every num_replicas-th index starting at r (indices[r::num_replicas]), "
        "not a contiguous block": padded[rank * per_rank:(rank + 1) * per_rank],
        "the shuffle of epoch e is seeded with seed + e (that is what set_epoch changes)":
            _sampler(n, replicas, rank, 0, drop_last),
        "without drop_last the shuffled list is padded with its own first indices up to a multiple "
        "of num_replicas, so every rank gets ceil(n / num_replicas)": order[rank::replicas],
        "shuffle first: torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))":
            (list(range(n)) * (total // n + 1))[:total][rank::replicas],
    }


def check_shard_indices(shard_indices: Callable[..., list[int]]) -> None:
    """Exercise 3: the indices ``DistributedSampler`` gives one rank in one epoch.

    Args:
        shard_indices: your ``shard_indices(n, num_replicas, rank, epoch, seed=0,
            drop_last=False)``, returning a list of ints; it must match
            ``list(DistributedSampler(range(n), num_replicas, rank, shuffle=True, seed=seed,
            drop_last=drop_last))`` after ``set_epoch(epoch)``.

    Raises:
        AssertionError: a case differs, with the call, both answers and a hint.
    """
    for n, replicas, rank, epoch, drop_last in _CASES:
        expected = _sampler(n, replicas, rank, epoch, drop_last)
        got = [int(i) for i in shard_indices(n, replicas, rank, epoch, seed=0, drop_last=drop_last)]
        if got == expected:
            continue
        call = (f"shard_indices({n}, num_replicas={replicas}, rank={rank}, epoch={epoch}, seed=0, "
                f"drop_last={drop_last})")
        hint = next((h for h, wrong in _mistakes(n, replicas, rank, epoch, drop_last).items()
                     if got == wrong and wrong != expected),
                    "shuffle with seed + epoch, pad (or cut, with drop_last) to a multiple of "
                    "num_replicas, then take indices[rank::num_replicas]")
        raise AssertionError(f"{call} returned {got} but DistributedSampler gives {expected}; hint: {hint}")
    print(f"✓ shard_indices: matches DistributedSampler in {len(_CASES)} cases (padding, drop_last, epochs)")
