"""Each self-check passes a right answer and rejects wrong ones with a helpful message."""

import pytest
import torch
import torch.nn.functional as F

from tutorials.exercises import profiling as ex


def _mean_loss(step, batches):
    total = torch.zeros(())
    for xb, yb in batches:
        total += step(xb, yb)
    return total.item() / len(batches)


def test_sync_free_mean_loss(capsys):
    ex.check_sync_free_mean_loss(_mean_loss)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="6 sync points"):
        ex.check_sync_free_mean_loss(
            lambda step, b: sum(step(x, y).item() for x, y in b) / len(b))
    with pytest.raises(AssertionError, match="must return a Python float"):
        ex.check_sync_free_mean_loss(lambda step, b: sum(step(x, y) for x, y in b) / len(b))
    with pytest.raises(AssertionError, match="the mean loss over the 6 steps"):
        ex.check_sync_free_mean_loss(lambda step, b: _mean_loss(step, b) * 2)
    with pytest.raises(AssertionError, match="called step 3 times"):
        ex.check_sync_free_mean_loss(lambda step, b: _mean_loss(step, b[:3]))


def _top_ops(prof, n):
    rows = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    rows.sort(key=lambda e: (-e.count, e.key))
    return [e.key for e in rows[:n]]


def test_top_ops(capsys):
    ex.check_top_ops(_top_ops)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="sort by"):  # by name only
        ex.check_top_ops(lambda prof, n: sorted(
            e.key for e in prof.key_averages() if e.key.startswith("aten::"))[:n])
    with pytest.raises(AssertionError, match="sort by"):  # forgets the aten:: filter
        ex.check_top_ops(lambda prof, n: [e.key for e in sorted(
            prof.key_averages(), key=lambda e: (-e.count, e.key))][:n])
    with pytest.raises(AssertionError, match="must return a list"):
        ex.check_top_ops(lambda prof, n: None)


def _bf16_step(model, opt, x, y):
    opt.zero_grad()
    with torch.amp.autocast(device_type="cpu", dtype=torch.bfloat16):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def test_bf16_step(capsys):
    ex.check_bf16_step(_bf16_step)
    assert "✓" in capsys.readouterr().out


def _no_autocast(model, opt, x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def _casts_model(model, opt, x, y):
    model.bfloat16()
    opt.zero_grad()
    loss = F.cross_entropy(model(x.bfloat16()), y)
    loss.backward()
    opt.step()
    return loss


def _no_step(model, opt, x, y):
    with torch.amp.autocast(device_type="cpu", dtype=torch.bfloat16):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss


@pytest.mark.parametrize("answer,message", [
    (_no_autocast, "expected torch.bfloat16"),
    (_casts_model, "autocast keeps parameters float32"),
    (_no_step, "did not change"),
])
def test_bf16_step_rejects_wrong_answers(answer, message):
    with pytest.raises(AssertionError, match=message):
        ex.check_bf16_step(answer)
