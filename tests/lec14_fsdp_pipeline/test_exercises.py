"""Each self-check passes a right answer and rejects the anticipated wrong ones with its hint."""

import pytest
import torch
import torch._dynamo  # noqa: F401  (FSDP2 imports it on first use: once here, not in every forked rank)
from torch import nn

from tutorials.core.distributed import launch
from tutorials.lec14_fsdp_pipeline import exercises as ex

# --- exercise 1: ZeRO bytes per GPU ---------------------------------------------------


def zero_bytes(psi, n, stage):
    weights, grads, state = 2 * psi, 2 * psi, 12 * psi
    if stage >= 1:
        state /= n
    if stage >= 2:
        grads /= n
    if stage >= 3:
        weights /= n
    return weights + grads + state


def test_zero_bytes_right(capsys):
    ex.check_zero_bytes(zero_bytes)
    assert capsys.readouterr().out.startswith("✓ zero_bytes")


@pytest.mark.parametrize("wrong, hint", [
    (lambda psi, n, stage: zero_bytes(psi, n, stage) / 1e9, "return bytes, not GB"),
    (lambda psi, n, stage: zero_bytes(psi, n, min(stage, 1)), "also shards the gradients"),
    (lambda psi, n, stage: zero_bytes(psi, n, min(stage, 2)), "also shards the weights"),
    (lambda psi, n, stage: 16 * psi / (n if stage else 1), "stage 1 does not shard everything"),
    (lambda psi, n, stage: 4 * psi + 4 * psi / (n if stage >= 2 else 1) + 8 * psi / (n if stage else 1),
     "with fp32 weights and gradients"),
    (lambda psi, n, stage: 12 * psi, "16 bytes per parameter"),
    (lambda psi, n, stage: zero_bytes(psi, n, stage) if psi == 7.5e9 else 0.0, "must hold for every psi"),
])
def test_zero_bytes_wrong(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        ex.check_zero_bytes(wrong)


# --- exercise 2: the bubble ------------------------------------------------------------


def test_bubble_right(capsys):
    ex.check_bubble(lambda p, m, v=1: (p - 1) / (v * m + p - 1))
    assert capsys.readouterr().out.startswith("✓ bubble")


@pytest.mark.parametrize("wrong, hint", [
    (lambda p, m, v=1: (p - 1) / m, "relative to the useful compute"),
    (lambda p, m, v=1: (p - 1) / p, "more micro-batches shrink the bubble"),
    (lambda p, m, v=1: (p - 1) / (m + p - 1), "ignores v"),
    (lambda p, m: (p - 1) / (m + p - 1), "must accept v"),
    (lambda p, m, v=1: p / (m + p), "m \\+ p - 1 slots per device"),
])
def test_bubble_wrong(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        ex.check_bubble(wrong)


# --- exercise 3: shard sizes -----------------------------------------------------------


def shard_rows(rows, world, rank):
    per = -(-rows // world)
    return max(0, min(per, rows - rank * per))


def test_shard_rows_right(capsys):
    ex.check_shard_rows(shard_rows)
    assert capsys.readouterr().out.startswith("✓ shard_rows")


@pytest.mark.parametrize("wrong, hint", [
    (lambda rows, world, rank: rows // world, "drops the remainder"),
    (lambda rows, world, rank: rows // world + (rank < rows % world), "not numpy.array_split"),
    (lambda rows, world, rank: min(-(-rows // world), rows - rank * -(-rows // world)),
     "not a negative number"),
    (lambda rows, world, rank: -(-rows // world), "must add up"),
])
def test_shard_rows_wrong(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        ex.check_shard_rows(wrong)


def _local_rows(rank, world_size):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (world_size,))
    rows = {}
    for n in (5, 10, 3, 8):
        layer = fully_shard(nn.Linear(2, n), mesh=mesh)
        rows[n] = layer.weight.to_local().shape[0]
        del layer
    return rows


def test_the_rule_is_what_fsdp2_does():
    """The self-check's rule is measured, not assumed: FSDP2 on 4 real ranks."""
    got = launch(_local_rows, world_size=4, show=False)
    for n in (5, 10, 3, 8):
        assert [g[n] for g in got] == [shard_rows(n, 4, r) for r in range(4)], n
    assert [g[5] for g in got] == [2, 2, 1, 0]
    assert torch.chunk(torch.empty(5), 4)[-1].numel() == 1  # torch.chunk gives 3 pieces; rank 3 gets none
