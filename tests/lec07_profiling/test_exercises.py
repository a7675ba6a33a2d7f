"""Each self-check passes a right answer and rejects wrong ones with a helpful message."""

import pytest
import torch
import torch.nn.functional as F

from tutorials.lec07_profiling import exercises as ex


def _mean_loss(step, batches):
    total = torch.zeros(())
    for xb, yb in batches:
        total += step(xb, yb)
    return total.item() / len(batches)


def test_sync_free_mean_loss(capsys):
    ex.check_sync_free_mean_loss(_mean_loss)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"at 6 points of the run \(\.item\(\) ×6\)"):
        ex.check_sync_free_mean_loss(
            lambda step, b: sum(step(x, y).item() for x, y in b) / len(b))
    with pytest.raises(AssertionError, match="must return a Python float"):
        ex.check_sync_free_mean_loss(lambda step, b: sum(step(x, y) for x, y in b) / len(b))
    with pytest.raises(AssertionError, match="the mean loss over the 6 steps"):
        ex.check_sync_free_mean_loss(lambda step, b: _mean_loss(step, b) * 2)
    with pytest.raises(AssertionError, match="called step 3 times"):
        ex.check_sync_free_mean_loss(lambda step, b: _mean_loss(step, b[:3]))


def _tolist_every_step(step, batches):  # issue 10: accepted as "0 sync points"
    return sum(step(xb, yb).tolist() for xb, yb in batches) / len(batches)


def _numpy_every_step(step, batches):  # issue 10: accepted as "0 sync points"
    return float(sum(step(xb, yb).numpy() for xb, yb in batches) / len(batches))


def _cpu_every_step(step, batches):
    total = torch.zeros(())
    for xb, yb in batches:
        total += step(xb, yb).cpu()
    return total.item() / len(batches)


def _print_every_step(step, batches):
    total = torch.zeros(())
    for i, (xb, yb) in enumerate(batches):
        loss = step(xb, yb)
        print(f"step {i}: {loss:.3f}")
        total += loss
    return total.item() / len(batches)


@pytest.mark.parametrize("answer,how", [
    (_tolist_every_step, r"\.tolist\(\) ×6"),
    (_numpy_every_step, r"\.numpy\(\) ×6"),
    (_cpu_every_step, r"\.cpu\(\) ×6"),
    (_print_every_step, r"an f-string or format\(\) ×6"),
])
def test_sync_free_mean_loss_sees_every_host_read(answer, how):
    """On a CPU only .item() shows in the profiler; on a GPU all of these wait for it."""
    with pytest.raises(AssertionError, match=rf"at 6 points of the run \({how}.*at most 1"):
        ex.check_sync_free_mean_loss(answer)


def _read_once_via_cpu(step, batches):
    total = torch.zeros(())
    for xb, yb in batches:
        total += step(xb, yb)
    return total.cpu().item() / len(batches)  # two calls, one point: after the last step


def _float_of_stacked_mean(step, batches):
    return float(torch.stack([step(xb, yb) for xb, yb in batches]).mean())


@pytest.mark.parametrize("answer", [_read_once_via_cpu, _float_of_stacked_mean])
def test_sync_free_mean_loss_accepts_one_read_at_the_end(answer, capsys):
    ex.check_sync_free_mean_loss(answer)
    assert "with 1 sync point" in capsys.readouterr().out


def _top_ops(prof, n):
    rows = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    rows.sort(key=lambda e: (-e.count, e.key))
    return [e.key for e in rows[:n]]


def _ignores_ties(prof, n):  # issue 10: accepted, though ties were left in profile order
    rows = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    rows.sort(key=lambda e: -e.count)
    return [e.key for e in rows[:n]]


def _ties_reversed(prof, n):
    rows = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    rows.sort(key=lambda e: (e.count, e.key), reverse=True)
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


@pytest.mark.parametrize("answer", [_ignores_ties, _ties_reversed])
def test_top_ops_rejects_a_wrong_tie_order(answer):
    with pytest.raises(AssertionError, match="same number of calls.*alphabetical order") as err:
        ex.check_top_ops(answer)
    assert "-count" not in str(err.value)  # says what is wrong, not the sort key


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
