"""Each self-check passes a right answer and rejects wrong ones with a helpful message."""

import math

import pytest
import torch
import torch.nn.functional as F

from tutorials.lec12_model_optimization import exercises as ex


def good_step(model, optimizer, inputs, targets):
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.item()


def no_zero_grad(model, optimizer, inputs, targets):
    loss = F.cross_entropy(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.item()


def returns_tensor(model, optimizer, inputs, targets):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss


def zero_after_backward(model, optimizer, inputs, targets):
    loss = F.cross_entropy(model(inputs), targets)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def test_train_step_check(capsys):
    ex.check_train_step(good_step)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("answer,message", [
    (no_zero_grad, "zero_grad"),
    (returns_tensor, "loss.item"),
    (zero_after_backward, "did not change"),
])
def test_train_step_check_rejects(answer, message):
    with pytest.raises(AssertionError, match=message):
        ex.check_train_step(answer)


def good_schedule(opt, warmup, total):
    def factor(s):
        if s < warmup:
            return (s + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup)))
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def test_warmup_cosine_check(capsys):
    ex.check_warmup_cosine(good_schedule)
    assert "✓" in capsys.readouterr().out


def test_warmup_cosine_check_rejects_off_by_one():
    def off_by_one(opt, warmup, total):
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: s / warmup if s < warmup
            else 0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup))))
    with pytest.raises(AssertionError, match="step 0 used lr 0"):
        ex.check_warmup_cosine(off_by_one)


def _save(path, model, opt, sched, epoch, rng=True, optimizer=True):
    state = {"model": model.state_dict(), "scheduler": sched.state_dict(), "epoch": epoch}
    if optimizer:
        state["optimizer"] = opt.state_dict()
    if rng:
        state["rng"] = torch.get_rng_state()
    torch.save(state, path)


def _load(path, model, opt, sched):
    state = torch.load(path, weights_only=True)
    model.load_state_dict(state["model"])
    if "optimizer" in state:
        opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    if "rng" in state:
        torch.set_rng_state(state["rng"])
    return state["epoch"] + 1


def test_resume_check(capsys):
    ex.check_resume(_save, _load)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("save,message", [
    (lambda *a: _save(*a, rng=False), "torch.get_rng_state"),
    (lambda *a: _save(*a, optimizer=False), "momentum restarts"),
    (lambda path, model, *rest: torch.save({"model": model}, path), "weights_only=True"),
])
def test_resume_check_rejects(save, message):
    with pytest.raises(AssertionError, match=message):
        ex.check_resume(save, _load)
