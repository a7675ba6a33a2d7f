"""The labs' shared command-line helpers: option types, clean-up of a new out-dir, Ctrl-C."""

import argparse
import importlib

import pytest
import torch

from tutorials._book.layout import module_named
from tutorials.core import cli as _cli


@pytest.mark.parametrize("parse, text, value", [
    (_cli.positive_int, "3", 3),
    (_cli.non_negative_int, "0", 0),
    (_cli.positive_float, "1e-3", 1e-3),
    (_cli.non_negative_float, "0", 0.0),
    (_cli.int_list(minimum=0), "0, 2,4", [0, 2, 4]),
    (_cli.int_list(minimum=4, multiple_of=4), "4096,8", [4096, 8]),
    (_cli.positive_float_list, "0.1,100", [0.1, 100.0]),
    (_cli.bool_list, "false, On,1", [False, True, True]),
    (_cli.int_at_least(8), "8", 8),
])
def test_good_values_convert(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize("parse, text, message", [
    (_cli.positive_int, "0", "expected a positive integer, got '0'"),
    (_cli.non_negative_int, "-1", "expected a non-negative integer, got '-1'"),
    (_cli.positive_float, "inf", "expected a positive number, got 'inf'"),
    (_cli.non_negative_float, "nan", "expected a non-negative number, got 'nan'"),
    # a list's message names the first bad item and what is wrong with it
    (_cli.int_list(minimum=0), "1,x", "expected comma-separated non-negative integers, got '1,x': "
                                      "'x' is not an integer"),
    (_cli.int_list(minimum=0), "1,-2", "expected comma-separated non-negative integers, got '1,-2': "
                                       "-2 is negative"),
    (_cli.int_list(minimum=0), "", "expected comma-separated non-negative integers, got '': no value"),
    (_cli.int_list(minimum=1), "0", "expected comma-separated positive integers, got '0': 0 is not positive"),
    (_cli.int_list(minimum=4, multiple_of=4), "6",
     "expected comma-separated positive multiples of 4, got '6': 6 is not a multiple of 4"),
    (_cli.int_list(minimum=4, multiple_of=4), "0",
     "expected comma-separated positive multiples of 4, got '0': 0 is not positive"),
    (_cli.positive_float_list, "1,,2", "expected comma-separated positive numbers, got '1,,2': "
                                       "an item is empty"),
    (_cli.positive_float_list, "0.1,nan", "expected comma-separated positive numbers, got '0.1,nan': "
                                          "'nan' is not a finite number"),
    (_cli.bool_list, "true,maybe", "expected comma-separated true/false values, got 'true,maybe': "
                                   "'maybe' is not one of true/false, on/off, yes/no, 1/0"),
    (_cli.int_at_least(8, "an integer >= 8 (why)"), "7", "expected an integer >= 8 (why), got '7'"),
])
def test_bad_values_raise_argument_type_errors(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as exc:
        parse(text)
    assert str(exc.value) == message


def test_list_types_read_well_in_argparse_own_messages():
    # argparse names a type only when it raises ValueError itself: never "_int_list"
    for parse in (_cli.int_list(minimum=0), _cli.positive_float_list, _cli.bool_list):
        assert parse.__name__.startswith("comma-separated ") and "_" not in parse.__name__


def test_fp16_off_cuda_is_a_usage_error_naming_option_and_device(capsys):
    parser = argparse.ArgumentParser(prog="lab")
    _cli.refuse_fp16_off_cuda(parser, "--amp", "bf16", torch.device("cpu"), instead="--amp bf16")
    _cli.refuse_fp16_off_cuda(parser, "--amp", "fp16", torch.device("cuda"), instead="--amp bf16")
    with pytest.raises(SystemExit) as exc:
        _cli.refuse_fp16_off_cuda(parser, "--precisions", ["fp32", "fp16"], torch.device("cpu"),
                                  instead="--precisions fp32,bf16")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: lab") and "Traceback" not in err
    assert (f"lab: error: --precisions fp16 needs CUDA, the device is cpu: {_cli.FP16_NEEDS_CUDA}; "
            "use --precisions fp32,bf16 (or --device cuda on a machine with a GPU)") in err


def _helps(parser):
    return {a.option_strings[-1]: a.help % {"default": a.default} for a in parser._actions
            if a.option_strings != ["-h", "--help"]}


def test_standard_options_say_their_defaults():
    parser = argparse.ArgumentParser(prog="lab")
    _cli.add_standard_options(parser, out_dir="write r.json here", dry_run="one step, for a quick check")
    assert _helps(parser) == {
        "--seed": "random seed (default: 0)",
        "--device": "where to run (default: auto)",
        "--out-dir": "write r.json here (default: None, no files)",
        "--dry-run": "one step, for a quick check (default: False)",
    }
    args = parser.parse_args(["--seed", "3", "--device", "cpu", "--out-dir", "o", "--dry-run"])
    assert (args.seed, args.device, args.out_dir, args.dry_run) == (3, "cpu", "o", True)


def test_standard_options_own_defaults_and_omissions():
    parser = argparse.ArgumentParser(prog="bench")
    _cli.add_standard_options(parser, out_dir="working directory", out_dir_default="bench_dir",
                              dry_run=None, device=None, seed="seeds the kill moments")
    assert _helps(parser) == {"--seed": "seeds the kill moments (default: 0)",
                              "--out-dir": "working directory (default: bench_dir)"}
    parser = argparse.ArgumentParser(prog="lab")
    _cli.add_standard_options(parser, out_dir="write traces here", without_out_dir="a temporary folder",
                              dry_run="short", device="the GPU to compare", device_default="cpu")
    helps = _helps(parser)
    assert helps["--out-dir"] == "write traces here (default: None, a temporary folder)"
    assert helps["--device"] == "the GPU to compare (default: cpu)"


@pytest.mark.parametrize("argv, message", [
    (["--seed", "-1"], "argument --seed: expected a non-negative integer, got '-1'"),
    (["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
])
def test_standard_options_refuse_bad_values(argv, message, capsys):
    parser = argparse.ArgumentParser(prog="lab")
    _cli.add_standard_options(parser, out_dir="o", dry_run="d")
    with pytest.raises(SystemExit) as exc:
        _cli.parse_args_and_device(parser, argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("usage: lab") and message in err


def test_parse_args_and_device(capsys):
    parser = argparse.ArgumentParser(prog="lab")
    _cli.add_standard_options(parser, out_dir="o", dry_run="d")
    args, device = _cli.parse_args_and_device(parser, ["--device", "cpu", "--seed", "2"])
    assert device == torch.device("cpu") and args.seed == 2
    if torch.cuda.is_available():
        return
    with pytest.raises(SystemExit) as exc:
        _cli.parse_args_and_device(parser, ["--device", "cuda"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--device cuda was requested but torch.cuda.is_available() is False" in err


def test_a_new_out_dir_is_removed_when_the_run_fails_before_writing(tmp_path):
    out = tmp_path / "a" / "b" / "run"
    with pytest.raises(RuntimeError, match="late"):
        with _cli.guard_run("Lab", out):
            (out / "checkpoints").mkdir(parents=True)
            raise RuntimeError("late error")
    assert not (tmp_path / "a").exists() and tmp_path.is_dir()


def test_an_out_dir_that_existed_or_holds_files_is_kept(tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(ValueError):
        with _cli.guard_run("Lab", existing):
            raise ValueError
    assert existing.is_dir()
    out = tmp_path / "new"
    with pytest.raises(ValueError):
        with _cli.guard_run("Lab", out):
            (out / "empty").mkdir(parents=True)
            (out / "results.json").write_text("{}")
            raise ValueError
    assert (out / "results.json").is_file() and not (out / "empty").exists()


def test_ctrl_c_lists_partial_outputs_and_exits_130(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.json").write_text("{}")  # from an earlier run: not listed
    with pytest.raises(SystemExit) as exc:
        with _cli.guard_run("Lab 9", out):
            (out / "trace.json").write_text("{}")
            raise KeyboardInterrupt
    assert exc.value.code == 130
    err = capsys.readouterr().err
    assert err == (f"interrupted: Lab 9 cannot resume; partial outputs: {out / 'trace.json'}; "
                   "run the same command to start over\n")


def test_ctrl_c_with_a_custom_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        with _cli.guard_run("Lab", tmp_path / "new", on_interrupt=lambda: "resume from x"):
            raise KeyboardInterrupt
    assert exc.value.code == 130 and capsys.readouterr().err == "resume from x\n"
    assert not (tmp_path / "new").exists()


NON_RESUMABLE = ["lab_05_resnet_blocks", "lab_06_data_pipeline", "lab_03_custom_autograd",
                 "lab_07_mixed_precision", "lab_07_profiling", "lab_12_training_optimization",
                 "lab_02_tensor_gpu_basics"]


@pytest.mark.parametrize("name", NON_RESUMABLE)
def test_ctrl_c_in_a_lab_says_what_was_written(name, tmp_path, monkeypatch, capsys):
    """Ctrl-C inside a lab's body (here: after it wrote one file): one line, exit 130."""
    lab = importlib.import_module(module_named(name))
    out = tmp_path / "results"

    def interrupted(*args, **kwargs):
        out.mkdir()
        (out / "part.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(lab, "_run", interrupted)
    capsys.readouterr()  # drop warnings printed by the first import
    with pytest.raises(SystemExit) as exc:
        lab.main(["--dry-run", "--device", "cpu", "--out-dir", str(out)])
    err = capsys.readouterr().err
    assert exc.value.code == 130 and "Traceback" not in err
    assert err.startswith("interrupted: ") and "cannot resume" in err and str(out / "part.json") in err
    assert err.count("\n") == 1, "one line"
