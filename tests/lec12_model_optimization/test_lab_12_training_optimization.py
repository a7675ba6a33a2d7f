import math

import pytest
import torch

import docs_support
from tutorials.lec12_model_optimization import lab_12_training_optimization as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_12_training_optimization", "lab_2_2_results.json", sessions_root)


def test_every_optimizer_trains_to_a_finite_loss(results):
    rows = {r["optimizer"]: r for r in results["optimizers"]}
    assert set(rows) == {"SGD", "SGD+momentum", "Adam", "AdamW"}
    for name, row in rows.items():
        assert row["status"] == "ok" and math.isfinite(row["final val loss"]), row
        assert 0.0 <= row["final val acc"] <= 1.0
        assert len(results["optimizer_val_loss"][name]) == 2  # dry run: two epochs
    # the untrained 10-class model starts near ln(10) = 2.30; every optimizer improves on it
    assert all(r["final val loss"] < 2.3 for r in rows.values())
    assert rows["SGD+momentum"]["final val loss"] < rows["SGD"]["final val loss"]


def test_schedule_curves_have_the_right_shapes(results):
    curves = results["lr_curves"]
    lr = results["config"]["lr"]
    steps = {len(c) for c in curves.values()}
    assert len(steps) == 1 and steps.pop() == 2 * 23  # 2 epochs × ceil(1437 / 64) steps
    assert all(v == pytest.approx(lr) for v in curves["constant"])
    step = curves["step decay"]
    assert all(a >= b for a, b in zip(step, step[1:]))
    assert step[0] == pytest.approx(lr) and len(set(step)) >= 3  # ×0.1 after each third
    assert all(any(v == pytest.approx(lr * f) for f in (1, 0.1, 0.01, 0.001)) for v in step)
    cos = curves["cosine"]
    assert cos[0] == pytest.approx(lr) and cos[-1] < 0.01 * lr
    assert all(a >= b for a, b in zip(cos, cos[1:]))
    for name in ("warmup + cosine", "OneCycle"):
        c = curves[name]
        peak = c.index(max(c))
        assert 0 < peak < len(c) - 1, name  # rises, then falls
        assert c[0] < 0.1 * lr and max(c) == pytest.approx(lr, rel=1e-3) and c[-1] < 0.01 * lr, name
        assert all(a <= b for a, b in zip(c[:peak], c[1 : peak + 1])), name
        assert all(a >= b for a, b in zip(c[peak:], c[peak + 1 :])), name
    one = curves["OneCycle"]
    assert 0.2 < one.index(max(one)) / len(one) < 0.4  # pct_start = 0.3


def test_clipping_rows_report_every_outcome(results):
    rows = results["clipping"]
    assert len(rows) == 2 * len(results["config"]["clip_lrs"])
    for row in rows:
        if row["outcome"].startswith("NaN/inf"):
            assert "not finite" in row["outcome"] and math.isnan(row["final val loss"])
        else:
            assert math.isfinite(row["final val loss"])
    moderate = [r for r in rows if r["lr"] == 0.1]
    assert all(r["outcome"] == "trained" for r in moderate)


def test_accumulation_matches_the_large_batch(results):
    rows = results["accumulation"]
    assert rows[0]["max |Δ param|"] == 0.0
    assert rows[1]["max |Δ param|"] < 1e-5  # fit's weighted accumulation
    assert rows[2]["max |Δ param|"] > 1e-4  # loss / k is wrong for the short last group
    assert rows[3]["max |Δ param|"] > rows[2]["max |Δ param|"]  # no scaling: k× the gradient


def test_amp_rows_on_cpu(results, capsys):
    rows = {r["amp"]: r for r in results["amp"]}
    assert set(rows) == {"off", "bf16"}  # fp16 only on CUDA
    for row in rows.values():
        assert row["step ms (median)"] > 0 and math.isfinite(row["final val loss"])
    assert rows["off"]["× fp32 time"] == 1.0


def test_reproducibility(results):
    repro = results["reproducibility"]
    assert repro["same seed identical"] is True and repro["same seed max |Δ|"] == 0.0
    assert repro["other seed identical"] is False and repro["other seed max |Δ|"] > 0


def test_files_are_written_and_named(results):
    out = results["_out"]
    figures = ["lab_2_2_clipping.png", "lab_2_2_lr_schedules.png", "lab_2_2_optimizers.png"]
    assert sorted(p.name for p in out.glob("lab_2_2_*.png")) == figures
    for name in figures:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert results["dry_run"] is True and results["device"] == "CPU"
    assert f"results and plots written to {out.parent.name}/{out.name}\n" in results["_stdout"]


def test_threads_are_set_for_the_run_and_restored(monkeypatch):
    before = torch.get_num_threads()
    seen = []
    monkeypatch.setattr(lab, "_run", lambda args, device: seen.append(torch.get_num_threads()) or {})
    lab.main(["--dry-run", "--device", "cpu", "--threads", "1"])
    assert seen == [1] and torch.get_num_threads() == before


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
    (["--amp", "fp16", "--device", "cpu"], "--amp fp16 needs CUDA"),
    (["--batch-size", "30", "--accum-steps", "4", "--device", "cpu"],
     "--batch-size 30 must be divisible by --accum-steps 4"),
])
def test_bad_options_are_usage_errors(argv, message, usage_error, tmp_path):
    if "fp16" in argv and torch.cuda.is_available():
        pytest.skip("fp16 is valid on a CUDA machine")
    err = usage_error(lab.main, ["--dry-run", *argv, "--out-dir", str(tmp_path / "out")])
    assert message in err
    assert not (tmp_path / "out").exists()


def test_unknown_amp_mode_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        lab.main(["--amp", "fp8"])
    assert "invalid choice: 'fp8'" in capsys.readouterr().err
