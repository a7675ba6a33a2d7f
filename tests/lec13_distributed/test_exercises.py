"""Each self-check passes a right answer and rejects the anticipated wrong ones with its hint."""

import pytest
import torch
import torch._dynamo  # noqa: F401  (DDP's constructor imports it: once here, not in every forked rank)
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from tutorials.lec13_distributed import exercises as ex

# --- exercise 1 ---------------------------------------------------------------------


def _padded_shard(t):
    n = dist.get_world_size()
    flat = t.reshape(-1)
    k = -(-flat.numel() // n)
    padded = torch.zeros(k * n, dtype=t.dtype)
    padded[:flat.numel()] = flat
    shard = torch.empty(k, dtype=t.dtype)
    dist.reduce_scatter_single(shard, padded)
    return shard, k, n, flat


def right_two_step(t):
    shard, k, n, flat = _padded_shard(t)
    full = torch.empty(k * n, dtype=t.dtype)
    dist.all_gather_single(full, shard)
    return full[:flat.numel()].reshape(t.shape)


def without_padding(t):
    n = dist.get_world_size()
    flat = t.reshape(-1)
    shard = torch.empty(flat.numel() // n, dtype=t.dtype)
    dist.reduce_scatter_single(shard, flat)
    full = torch.empty(shard.numel() * n, dtype=t.dtype)
    dist.all_gather_single(full, shard)
    return full.reshape(t.shape)


def shard_only(t):
    return _padded_shard(t)[0]


def padding_kept(t):
    shard, k, n, _ = _padded_shard(t)
    full = torch.empty(k * n, dtype=t.dtype)
    dist.all_gather_single(full, shard)
    return full


def plain_all_reduce(t):
    t = t.clone()
    dist.all_reduce(t)
    return t


def test_all_reduce_from_halves(capsys):
    ex.check_all_reduce_from_halves(right_two_step)
    assert capsys.readouterr().out.startswith("✓ all_reduce_two_step")
    with pytest.raises(AssertionError, match="pad the flat tensor with zeros to a multiple of the world"):
        ex.check_all_reduce_from_halves(without_padding)
    with pytest.raises(AssertionError, match="all_gather the reduced shards back"):
        ex.check_all_reduce_from_halves(shard_only)
    with pytest.raises(AssertionError, match="drop the padding"):
        ex.check_all_reduce_from_halves(padding_kept)
    with pytest.raises(AssertionError, match="called dist.all_reduce"):
        ex.check_all_reduce_from_halves(plain_all_reduce)


# --- exercise 2 ---------------------------------------------------------------------


def _flat_average(model, divide=True, copy_back=True):
    grads = [p.grad for p in model.parameters()]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    if divide:
        flat /= dist.get_world_size()
    if copy_back:
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()


def per_parameter(model):
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= dist.get_world_size()


def test_average_gradients(capsys):
    ex.check_average_gradients(_flat_average)
    assert capsys.readouterr().out.startswith("✓ average_gradients")
    with pytest.raises(AssertionError, match="one call for all parameters"):
        ex.check_average_gradients(per_parameter)
    with pytest.raises(AssertionError, match="divide by dist.get_world_size"):
        ex.check_average_gradients(lambda m: _flat_average(m, divide=False))
    with pytest.raises(AssertionError, match="copy the averaged buffer back"):
        ex.check_average_gradients(lambda m: _flat_average(m, copy_back=False))


# --- exercise 3 ---------------------------------------------------------------------


def right_shards(n, num_replicas, rank, epoch, seed=0, drop_last=False):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)).tolist()
    if drop_last:
        order = order[:n // num_replicas * num_replicas]
    else:
        total = -(-n // num_replicas) * num_replicas
        while len(order) < total:
            order += order[:total - len(order)]
    return order[rank::num_replicas]


def blocks(n, num_replicas, rank, epoch, seed=0, drop_last=False):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)).tolist()
    per_rank = -(-n // num_replicas)
    order = (order * 2)[:per_rank * num_replicas]
    return order[rank * per_rank:(rank + 1) * per_rank]


def no_epoch(n, num_replicas, rank, epoch, seed=0, drop_last=False):
    return list(DistributedSampler(range(n), num_replicas, rank, seed=seed, drop_last=drop_last))


def no_padding(n, num_replicas, rank, epoch, seed=0, drop_last=False):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)).tolist()
    return order[rank::num_replicas]


def no_shuffle(n, num_replicas, rank, epoch, seed=0, drop_last=False):
    total = -(-n // num_replicas) * num_replicas
    return (list(range(n)) * 2)[:total][rank::num_replicas]


def test_shard_indices(capsys):
    ex.check_shard_indices(right_shards)
    assert capsys.readouterr().out.startswith("✓ shard_indices")
    with pytest.raises(AssertionError, match="not a contiguous block"):
        ex.check_shard_indices(blocks)
    with pytest.raises(AssertionError, match="seeded with seed \\+ e"):
        ex.check_shard_indices(no_epoch)
    with pytest.raises(AssertionError, match="padded with its own first indices"):
        ex.check_shard_indices(no_padding)
    with pytest.raises(AssertionError, match="shuffle first"):
        ex.check_shard_indices(no_shuffle)
    with pytest.raises(AssertionError, match="then take indices"):  # anything else: the recipe
        ex.check_shard_indices(lambda *a, **k: [0])
