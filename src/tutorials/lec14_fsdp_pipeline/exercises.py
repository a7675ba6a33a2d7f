"""Self-checks for the exercises of Lecture 14 (ZeRO memory, pipeline bubbles, shard sizes).

Each ``check_*`` function takes *your* answer, tries it on inputs it builds itself,
prints a line starting with ✓ when the answer is right, and raises an
``AssertionError`` that says what is wrong (with a hint) when it is not.

Examples:
    >>> check_bubble(lambda p, m, v=1: (p - 1) / (v * m + p - 1))
    ✓ bubble: (p-1)/(v·m+p-1) of every step is idle, for every p, m and v tried
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["check_bubble", "check_shard_rows", "check_zero_bytes"]

# The ZeRO paper's example (Rajbhandari et al. 2020, Figure 1): 7.5 B parameters on 64 GPUs.
_PAPER_PSI, _PAPER_N = 7.5e9, 64


def _zero(psi: float, n: int, stage: int) -> float:
    """Bytes per GPU for mixed-precision Adam: 2 (fp16 weight) + 2 (fp16 gradient) + 12 (fp32 state)."""
    weights, grads, state = 2 * psi, 2 * psi, 12 * psi
    if stage >= 1:
        state /= n
    if stage >= 2:
        grads /= n
    if stage >= 3:
        weights /= n
    return weights + grads + state


def _close(a, b) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    except (TypeError, ValueError):
        return False


def check_zero_bytes(zero_bytes: Callable[[float, int, int], float]) -> None:
    """Exercise 1: ``zero_bytes(psi, n, stage)``, the bytes of model state per GPU.

    Mixed-precision Adam as in the ZeRO paper: a 2-byte weight and a 2-byte gradient per
    parameter, and 12 bytes of fp32 optimizer state (master weight, momentum, variance).
    Stage 0 is plain data parallelism; stage 1 shards the optimizer state over the
    ``n`` GPUs, stage 2 the gradients too, stage 3 the weights too.

    Args:
        zero_bytes: your function; ``psi`` parameters, ``n`` GPUs, ``stage`` 0 to 3.

    Raises:
        AssertionError: a stage's bytes differ from the paper's accounting.
    """
    got = {s: zero_bytes(_PAPER_PSI, _PAPER_N, s) for s in range(4)}
    want = {s: _zero(_PAPER_PSI, _PAPER_N, s) for s in range(4)}
    for stage in range(4):
        if _close(got[stage], want[stage]):
            continue
        shown = f"zero_bytes(7.5e9, 64, {stage}) = {got[stage]!r}, expected {want[stage] / 1e9:.4g} GB"
        if _close(got[stage], want[stage] / 1e9):
            raise AssertionError(f"{shown}: return bytes, not GB")
        if stage == 0:
            raise AssertionError(f"{shown}: without sharding every GPU holds 2 + 2 + 12 = 16 bytes per "
                                 "parameter (fp16 weight and gradient, fp32 master weight, momentum, "
                                 "variance)")
        if _close(got[stage], 16 * _PAPER_PSI / _PAPER_N) and stage < 3:
            raise AssertionError(f"{shown}: stage {stage} does not shard everything; stage 1 shards the "
                                 "optimizer state only, stage 2 the gradients too, stage 3 the weights too")
        if _close(got[stage], _zero(_PAPER_PSI, _PAPER_N, stage - 1)):
            sharded = {1: "the optimizer state", 2: "the gradients", 3: "the weights"}[stage]
            raise AssertionError(f"{shown}: that is stage {stage - 1}'s figure; stage {stage} also shards "
                                 f"{sharded} (each GPU keeps 1/n of them)")
        fp32 = {1: 8 * _PAPER_PSI + 8 * _PAPER_PSI / _PAPER_N, 2: 4 * _PAPER_PSI + 12 * _PAPER_PSI / _PAPER_N}
        if stage in fp32 and _close(got[stage], fp32[stage]):
            raise AssertionError(f"{shown}: with fp32 weights and gradients (4 + 4 bytes) and 8 bytes of "
                                 "Adam moments; the paper's mixed precision keeps 2 + 2 bytes and 12 of "
                                 "fp32 state")
        raise AssertionError(f"{shown}: count 2 bytes of weight, 2 of gradient and 12 of optimizer state per "
                             "parameter, and divide by n what the stage shards")
    for psi, n in ((1e9, 8), (70e9, 512), (38280, 4)):
        for stage in range(4):
            value = zero_bytes(psi, n, stage)
            if not _close(value, _zero(psi, n, stage)):
                raise AssertionError(f"zero_bytes({psi:g}, {n}, {stage}) = {value!r}, expected "
                                     f"{_zero(psi, n, stage):g}: the formula must hold for every psi and n")
    print("✓ zero_bytes: 120, 31.4, 16.6 and 1.88 GB per GPU for 7.5 B parameters on 64 GPUs, "
          "as in the ZeRO paper")


def _bubble(p: int, m: int, v: int = 1) -> float:
    return (p - 1) / (v * m + p - 1)


def check_bubble(bubble: Callable[..., float]) -> None:
    """Exercise 2: ``bubble(p, m, v=1)``, the fraction of a step each device is idle.

    ``p`` pipeline stages, ``m`` micro-batches per step, ``v`` model chunks per device
    (``v = 1``: GPipe and 1F1B; ``v > 1``: the interleaved 1F1B of Narayanan et al.
    2021). Forward and backward of a micro-batch take the same time on every stage.

    Args:
        bubble: your function.

    Raises:
        AssertionError: a value differs from the idle fraction.
    """
    for p, m in ((2, 4), (4, 8), (8, 32), (1, 5), (64, 512)):
        got, want = bubble(p, m), _bubble(p, m)
        if _close(got, want):
            continue
        shown = f"bubble({p}, {m}) = {got!r}, expected {want:.4g}"
        if p > 1 and _close(got, (p - 1) / m):
            raise AssertionError(f"{shown}: (p-1)/m is the bubble's time relative to the useful compute "
                                 "time; as a fraction of the whole step divide by all m + p - 1 slots")
        if _close(got, (p - 1) / p):
            raise AssertionError(f"{shown}: more micro-batches shrink the bubble; the step has m + p - 1 "
                                 "slots of which p - 1 are idle on each device")
        raise AssertionError(f"{shown}: a step takes m + p - 1 slots per device, p - 1 of them idle")
    for p, m, v in ((4, 8, 2), (8, 32, 4), (2, 4, 1)):
        try:
            got = bubble(p, m, v)
        except TypeError:
            raise AssertionError("bubble(p, m, v) must accept v, the number of model chunks per device "
                                 "(default 1)") from None
        if not _close(got, _bubble(p, m, v)):
            hint = (": v chunks per device make every slot v times shorter, so the p - 1 idle slots shrink "
                    "by v while the m micro-batches still take m full slots")
            if _close(got, _bubble(p, m)):
                hint = ": the value ignores v" + hint
            raise AssertionError(f"bubble({p}, {m}, {v}) = {got!r}, expected {_bubble(p, m, v):.4g}{hint}")
    print("✓ bubble: (p-1)/(v·m+p-1) of every step is idle, for every p, m and v tried")


def _rows(rows: int, world: int, rank: int) -> int:
    per = -(-rows // world)  # ceil: torch.chunk's chunk size
    return max(0, min(per, rows - rank * per))


def check_shard_rows(shard_rows: Callable[[int, int, int], int]) -> None:
    """Exercise 3: ``shard_rows(rows, world, rank)``, the rows of dim 0 a rank holds under FSDP2.

    FSDP2 cuts each parameter along dim 0 as ``torch.chunk`` does and pads the shards to
    one size for the all-gather.

    Args:
        shard_rows: your function.

    Raises:
        AssertionError: a rank's row count differs from FSDP2's.
    """
    for rows, world in ((8, 4), (5, 2), (5, 4), (10, 4), (7, 3), (1, 4), (128, 8), (3, 4)):
        got = [shard_rows(rows, world, r) for r in range(world)]
        want = [_rows(rows, world, r) for r in range(world)]
        if got == want:
            continue
        shown = f"{rows} rows on {world} ranks: you give {got}, FSDP2 gives {want}"
        if got == [rows // world] * world:
            raise AssertionError(f"{shown}: rows // world drops the remainder; every rank gets "
                                 f"ceil(rows / world) rows while they last")
        base, extra = divmod(rows, world)
        if got == [base + (r < extra) for r in range(world)]:
            raise AssertionError(f"{shown}: FSDP2 splits like torch.chunk, not numpy.array_split: "
                                 f"each rank takes ceil({rows}/{world}) = {-(-rows // world)} rows in turn, "
                                 "so the last ranks get a short or empty shard (padded for the all-gather)")
        if any(g < 0 for g in got):
            raise AssertionError(f"{shown}: a rank past the end holds 0 rows, not a negative number")
        if sum(got) != rows:
            raise AssertionError(f"{shown}: the shards must add up to the {rows} rows")
        raise AssertionError(f"{shown}: each rank takes ceil(rows / world) rows in rank order")
    print("✓ shard_rows: ceil(rows/world) rows per rank while they last, as torch.chunk and FSDP2 cut "
          "(5 rows on 4 ranks: 2, 2, 1, 0)")
