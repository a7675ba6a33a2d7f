"""What the chapter computes, checked after its last block in the page's own session."""

import torch

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    assert torch.get_num_threads() == ns["previous_threads"], "the page gives back the thread count"
    assert not torch.are_deterministic_algorithms_enabled(), "deterministic mode is switched off again"
    assert ns["same"] is True, "fit trains the same weights as the hand-written loop"
    ref, res = ns["ref_state"], ns["res_state"]
    assert all(torch.equal(ref[k], res[k]) for k in ref), "resume is bit-identical"
    assert [p.name for p, _ in ns["mgr"].skipped] == ["ckpt-00000003.pt"]
    stopper = ns["stopper"]
    assert stopper.bad_epochs == stopper.patience, "stopped on the patience-th bad epoch"
    assert len(ns["val_losses"]) == stopper.best_epoch + stopper.patience + 1
    assert len(ns["val_losses"]) < 50
    assert len(ns["ax_values"]) == len(ns["rs_values"]) == ns["n_trials"]
    # Recorded outputs (chaotic across CPUs): their conclusions hold on every machine.
    ax, rs, half = ns["ax_values"], ns["rs_values"], ns["n_trials"] // 2
    assert max(ax) >= 0.93 and max(rs) >= 0.93, (max(ax), max(rs))
    assert sum(ax[half:]) > sum(rs[half:]), "Ax's later trials beat random search's on average"
    best = ns["best_params"]  # get_best_parameterization: an evaluated trial, not a new point
    assert (best["log10_lr"], best["log10_wd"]) in ns["ax_points"], best
    # the clipped run still takes large steps: 0.93 with AVX-512/AVX2 kernels, 0.88 without
    assert ns["clip_acc"][1.0] > 0.85, ns["clip_acc"]
    assert ns["clip_acc"][None] < ns["clip_acc"][1.0] - 0.3, ns["clip_acc"]
    assert files_written(workdir, "*.png") == {
        "lec12/optimizers.png", "lec12/lr-schedules.png", "lec12/early-stopping.png",
        "lec12/hpo-best-so-far.png"}
    assert "same weights as the hand-written loop: True" in out
    assert "bit-identical weights: True" in out
    assert "Unsupported global: GLOBAL print" in out
    assert "this ran while loading!" not in out, "the refused payload never ran"
    assert "put_ does not have a deterministic implementation" in out
    assert "Detected call of `lr_scheduler.step()` before `optimizer.step()`" in out
    assert "fit, 4 x 16 vs 64: max |diff| < 1e-6: True" in out
    assert out.count("worker_init_fn=None") == out.count("worker_init_fn=seed_worker") == 1, (
        "no output repeated by workers")
    # clipped SGD: a step is at most lr * max_norm / (1 - momentum), and nearly reaches it
    assert abs(ns["largest_step"](0.0) - 1) < 1e-5
    assert 9 < ns["largest_step"](0.9) <= 10 + 1e-5 and ns["largest_step"](0.99) > 30

