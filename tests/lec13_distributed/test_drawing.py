"""The ring figure is drawn from the ranks' records; its helpers read the sums' bits."""

import pytest
from PIL import Image

from tutorials.lec13_distributed.drawing import chunk_label, contributors, draw_ring_steps


def test_contributors_read_the_bits():
    assert contributors(0) == []
    assert contributors(0b1011) == [0, 1, 3]
    assert chunk_label([0, 1, 3], 4) == "0+1+3" and chunk_label([0, 1, 2, 3], 4) == "all"
    with pytest.raises(ValueError, match=">= 0"):
        contributors(-1)


def _ring_records(n):
    """What the chapter's ring all-reduce records on n ranks (simulated: the same index arithmetic)."""
    chunks = [[1 << r] * n for r in range(n)]
    records = [[{"phase": "start", "step": 0, "sent": None, "chunks": list(chunks[r])}] for r in range(n)]
    for phase in ("reduce-scatter", "all-gather"):
        for step in range(n - 1):
            if phase == "reduce-scatter":
                send = [(r - step) % n for r in range(n)]
                recv = [(r - step - 1) % n for r in range(n)]
            else:
                send = [(r + 1 - step) % n for r in range(n)]
                recv = [(r - step) % n for r in range(n)]
            outgoing = [chunks[r][send[r]] for r in range(n)]
            for r in range(n):
                left = (r - 1) % n
                value = outgoing[left]
                chunks[r][recv[r]] = chunks[r][recv[r]] + value if phase == "reduce-scatter" else value
                records[r].append({"phase": phase, "step": step + 1, "sent": send[r],
                                   "chunks": list(chunks[r])})
    return records


@pytest.mark.parametrize("n", [2, 3])
def test_draws_every_step(tmp_path, n):
    records = _ring_records(n)
    assert all(r[-1]["chunks"] == [(1 << n) - 1] * n for r in records)  # the simulation is a ring
    path = draw_ring_steps(records, tmp_path / "ring.png")
    width, height = Image.open(path).size
    assert width > 400 and height > 300


def test_refuses_ragged_records(tmp_path):
    records = _ring_records(3)
    records[1] = records[1][:-1]
    with pytest.raises(ValueError, match="same steps"):
        draw_ring_steps(records, tmp_path / "ring.png")
    with pytest.raises(ValueError, match="same steps"):
        draw_ring_steps([], tmp_path / "ring.png")
