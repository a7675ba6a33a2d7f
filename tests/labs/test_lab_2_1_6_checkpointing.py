"""Lab 2.1.6: resume by re-running, bit-identical after SIGKILLs, corrupt checkpoints skipped."""

import json

import pytest
import torch

from tutorials.checkpoint import CheckpointError, read_checkpoint
from tutorials.labs import lab_2_1_6_checkpointing as lab

FAST = ["--epochs", "3", "--batch-size", "64", "--save-every", "1", "--hidden", "32",
        "--device", "cpu"]


def test_dry_run_writes_documented_files(tmp_path):
    summary = lab.main(["--dry-run", "--out-dir", str(tmp_path)])
    assert summary["epochs_run"] == 1 and summary["final_val_acc"] > 0.2  # chance is 0.1
    weights = torch.load(tmp_path / lab.FINAL_WEIGHTS, weights_only=True)
    assert set(weights) == set(lab.make_model().state_dict())
    assert json.loads((tmp_path / lab.SUMMARY).read_text())["global_step"] == summary["global_step"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run, in its own process like the runs that get killed."""
    import subprocess

    out = tmp_path_factory.mktemp("reference")
    args = lab.build_parser().parse_args([*FAST, "--out-dir", str(out)])
    subprocess.run(lab.child_command(args, out), check=True, stdout=subprocess.DEVNULL)
    summary = json.loads((out / lab.SUMMARY).read_text())
    return summary, torch.load(out / lab.FINAL_WEIGHTS, weights_only=True)


@pytest.mark.slow
def test_twenty_sigkills_then_bit_identical(reference, tmp_path):
    summary, ref_weights = reference
    args = lab.build_parser().parse_args([*FAST, "--out-dir", str(tmp_path)])
    ckpts = tmp_path / "checkpoints"
    checked = []

    def every_checkpoint_readable():
        for p in sorted(ckpts.glob("*.pt")) if ckpts.is_dir() else []:
            read_checkpoint(p)  # raises if any file on disk is unreadable
            checked.append(p.name)

    kills = lab.run_with_kills(lab.child_command(args, tmp_path), kills=20, seed=1,
                               max_steps=summary["global_step"], after_kill=every_checkpoint_readable)
    assert len(kills) >= 20, f"only {len(kills)} kills landed before the run finished: {kills}"
    assert any(k > 0 for k in kills) and checked
    got = torch.load(tmp_path / lab.FINAL_WEIGHTS, weights_only=True)
    assert lab.same_weights(got, ref_weights), f"weights differ after kills at steps {kills}"


def test_corrupt_and_truncated_checkpoints_are_skipped_and_named(reference, tmp_path):
    summary, ref_weights = reference
    lab.main([*FAST, "--out-dir", str(tmp_path)])  # in this process: --threads pins the threads
    ckpts = sorted((tmp_path / "checkpoints").glob("ckpt-*.pt"))
    assert len(ckpts) == 3, "keep_last=3"
    # pretend the run was killed at the second-to-last checkpoint's step, with the
    # newest file truncated and the next one corrupted: resume must use the oldest
    ckpts[-1].write_bytes(ckpts[-1].read_bytes()[:100])
    raw = bytearray(ckpts[-2].read_bytes())
    raw[-50] ^= 0xFF
    ckpts[-2].write_bytes(bytes(raw))
    (tmp_path / lab.FINAL_WEIGHTS).unlink()
    again = lab.main([*FAST, "--out-dir", str(tmp_path)])
    assert {p.rsplit("/", 1)[-1] for p in again["skipped_checkpoints"]} == {ckpts[-1].name, ckpts[-2].name}
    got = torch.load(tmp_path / lab.FINAL_WEIGHTS, weights_only=True)
    assert lab.same_weights(got, ref_weights)


def test_resuming_with_other_options_is_refused(tmp_path):
    lab.main(["--dry-run", "--out-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="same options or a new --out-dir"):
        lab.main(["--dry-run", "--seed", "1", "--out-dir", str(tmp_path)])


def test_bad_option_is_named():
    with pytest.raises(ValueError, match="--save-every must be at least 1"):
        lab.main(["--save-every", "0"])


def test_foreign_checkpoint_names_the_mismatch(tmp_path):
    lab.main(["--dry-run", "--out-dir", str(tmp_path)])
    state = read_checkpoint(sorted((tmp_path / "checkpoints").glob("ckpt-*.pt"))[-1])
    from tutorials.checkpoint import load_model_state

    msg = r"shape mismatches 0.bias: checkpoint \(128,\) vs model \(16,\)"
    with pytest.raises(CheckpointError, match=msg):
        load_model_state(lab.make_model(hidden=16), state["model"], source="x.pt")
