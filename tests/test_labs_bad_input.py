"""Every lab refuses a bad option value with a usage error, before creating anything.

A usage error: exit status 2, the usage line, ``argument --flag: <what is expected>,
got '<value>'`` on standard error, no traceback, and no ``--out-dir`` left behind.
The checks run in this process (``main(argv)`` raising ``SystemExit``): the parser
refuses the value before the lab does any work.
"""

import importlib

import pytest

from tutorials._book.layout import module_named

# What a bad value looks like for each kind of option.
BAD = {
    "positive_int": ["0", "-3", "2.5", "x"],
    "non_negative_int": ["-1", "1.5"],
    "positive_float": ["0", "-1", "nan", "inf", "x"],
    "non_negative_float": ["-1", "nan"],
    "int_list_0": ["1,x", "-1,2", "", "1,,2"],
    "int_list_1": ["0,16", "x"],
    "int_list_4x": ["4096,1001", "0"],
    "float_list": ["0.1,x", "0.1,-1", ""],
    "bools": ["maybe", ""],
    "image_size": ["4"],
    "precisions": ["fp8", "fp32,"],
}

# Every option of every lab whose value the parser converts, and its kind.
FLAGS = {
    "lab_05_resnet_blocks": {
        "--epochs": "positive_int", "--batch-size": "positive_int", "--lr": "positive_float",
        "--width": "positive_int", "--seed": "non_negative_int", "--limit": "positive_int",
    },
    "lab_06_data_pipeline": {
        "--images-per-class": "positive_int", "--image-size": "image_size", "--workers": "int_list_0",
        "--batch-sizes": "int_list_1", "--pin-memory": "bools", "--repeats": "positive_int",
        "--threads": "non_negative_int", "--lr": "positive_float", "--seed": "non_negative_int",
    },
    "lab_03_custom_autograd": {
        "--sizes": "int_list_1", "--min-run-time": "positive_float", "--seed": "non_negative_int",
    },
    "lab_07_mixed_precision": {
        "--precisions": "precisions", "--epochs": "positive_int", "--batch-size": "positive_int",
        "--lr": "positive_float", "--width": "positive_int", "--depth": "positive_int",
        "--timed-steps": "positive_int", "--seed": "non_negative_int",
    },
    "lab_07_profiling": {
        "--epochs": "positive_int", "--batch-size": "positive_int", "--lr": "positive_float",
        "--profile-steps": "positive_int", "--threads": "non_negative_int", "--seed": "non_negative_int",
    },
    "lab_08_aoti_deploy": {
        "--epochs": "positive_int", "--lr": "positive_float", "--width": "positive_int",
        "--batch-sizes": "int_list_1", "--max-batch": "positive_int", "--iters": "positive_int",
        "--threads": "non_negative_int", "--seed": "non_negative_int",
    },
    "lab_09_fused_kernel": {
        "--rows": "int_list_1", "--hidden": "positive_int", "--p": "non_negative_float",
        "--min-run-time": "positive_float", "--threads": "non_negative_int", "--seed": "non_negative_int",
    },
    "lab_12_checkpointing": {
        "--epochs": "positive_int", "--batch-size": "positive_int", "--lr": "positive_float",
        "--hidden": "positive_int", "--seed": "non_negative_int", "--threads": "positive_int",
        "--save-every": "positive_int", "--keep-last": "positive_int", "--patience": "non_negative_int",
        "--kills": "positive_int", "--step-delay": "non_negative_float",
    },
    "lab_12_training_optimization": {
        "--epochs": "positive_int", "--batch-size": "positive_int", "--lr": "positive_float",
        "--adam-lr": "positive_float", "--weight-decay": "non_negative_float", "--clip-lrs": "float_list",
        "--max-norm": "positive_float", "--accum-steps": "positive_int", "--min-run-time": "positive_float",
        "--threads": "positive_int", "--seed": "non_negative_int",
    },
    "lab_13_ddp_scaling": {
        "--world-sizes": "int_list_1", "--steps": "positive_int", "--warmup": "positive_int",
        "--global-batch": "positive_int", "--hidden": "positive_int", "--depth": "positive_int",
        "--lr": "positive_float", "--bucket-cap-mb": "positive_float", "--threads": "positive_int",
        "--tolerance": "positive_float", "--timeout": "positive_float", "--seed": "non_negative_int",
    },
    "lab_14_fsdp_vs_ddp": {
        "--world-sizes": "int_list_1", "--steps": "positive_int", "--save-at": "positive_int",
        "--batch-size": "positive_int", "--hidden": "positive_int", "--depth": "positive_int",
        "--lr": "positive_float", "--threads": "positive_int", "--seed": "non_negative_int",
    },
    "lab_21_finetune_sentiment": {
        "--train-size": "positive_int", "--test-size": "positive_int", "--epochs": "positive_int",
        "--scratch-epochs": "positive_int", "--max-length": "image_size", "--lr": "positive_float",
        "--batch-size": "positive_int", "--vocab-size": "positive_int", "--threads": "non_negative_int",
        "--seed": "non_negative_int",
    },
    "lab_22_char_gpt": {
        "--steps": "positive_int", "--block-size": "positive_int", "--n-layer": "positive_int",
        "--n-head": "positive_int", "--n-embd": "positive_int", "--batch-size": "positive_int",
        "--lr": "positive_float", "--eval-every": "positive_int", "--sample-every": "positive_int",
        "--temperature": "positive_float", "--top-k": "non_negative_int", "--seed": "non_negative_int",
    },
    "lab_22_forecasting": {
        "--horizon": "positive_int", "--window": "positive_int", "--epochs": "positive_int",
        "--hidden": "positive_int", "--batch-size": "positive_int", "--lr": "positive_float",
        "--seed": "non_negative_int",
    },
    "lab_23_transfer_challenge": {
        "--pretrain-epochs": "positive_int", "--epochs": "positive_int",
        "--finetune-epochs": "non_negative_int", "--batch-size": "positive_int", "--lr": "positive_float",
        "--backbone-lr": "positive_float",
        "--patience": "positive_int", "--threshold": "positive_float", "--head-pool": "positive_int",
        "--image-size": "image_size", "--seed": "non_negative_int",
    },
    "lab_23_cnn_vs_transfer": {
        "--pretrain-epochs": "positive_int", "--train-images": "int_list_0", "--epochs": "positive_int",
        "--batch-size": "positive_int", "--lr": "positive_float", "--precisions": "precisions",
        "--workers": "int_list_0", "--image-size": "image_size", "--seed": "non_negative_int",
    },
    "lab_23_detection": {
        "--train-images": "positive_int", "--val-images": "positive_int", "--image-size": "image_size",
        "--epochs": "positive_int", "--batch-size": "positive_int", "--lr": "positive_float",
        "--score-threshold": "positive_float", "--seed": "non_negative_int",
    },
    "lab_17_attribution_report": {
        "--epochs": "positive_int", "--lr": "positive_float", "--images-per-class": "positive_int",
        "--ig-steps": "positive_int", "--threads": "non_negative_int", "--shortcut-factor": "positive_float",
        "--seed": "non_negative_int",
    },
    "lab_16_onnx_benchmark": {
        "--epochs": "positive_int", "--batch-sizes": "int_list_1", "--threads": "positive_int",
        "--min-run-time": "positive_float", "--tolerance": "positive_float", "--seed": "non_negative_int",
    },
    "lab_18_pipeline": {
        "--epochs": "positive_int", "--hidden": "positive_int", "--lr": "positive_float",
        "--batch-size": "positive_int", "--min-accuracy": "non_negative_float",
        "--psi-threshold": "positive_float", "--seed": "non_negative_int",
    },
    "lab_15_edge_vision": {
        "--epochs": "positive_int", "--lr": "positive_float", "--calibration": "positive_int",
        "--iters": "positive_int", "--seed": "non_negative_int",
    },
    "lab_26_nan_hunt": {
        "--steps": "positive_int", "--fault-step": "non_negative_int", "--batch-size": "positive_int",
        "--lr": "positive_float", "--threads": "non_negative_int", "--seed": "non_negative_int",
    },
    "lab_02_tensor_gpu_basics": {
        "--matmul-sizes": "int_list_1", "--transfer-sizes": "int_list_4x", "--min-run-time": "positive_float",
        "--cpu-threads": "non_negative_int", "--seed": "non_negative_int",
    },
    "kill_benchmark": {
        "--kills": "positive_int", "--per-run": "positive_int", "--seed": "non_negative_int",
        "--epochs": "positive_int", "--hidden": "positive_int", "--save-every": "positive_int",
    },
}

CASES = [(lab, flag, value) for lab, flags in FLAGS.items() for flag, kind in flags.items()
         for value in BAD[kind]]


def _module(name):
    return importlib.import_module(module_named(name))


def _argv(module, *args, out):
    flags = {s for a in module.build_parser()._actions for s in a.option_strings}
    return [*args, "--out-dir", str(out), *(["--device", "cpu"] if "--device" in flags else [])]


@pytest.mark.parametrize("name", sorted(FLAGS))
def test_every_converted_option_is_in_the_table(name):
    parser = _module(name).build_parser()
    typed = {a.option_strings[-1] for a in parser._actions if a.type is not None}
    assert typed == set(FLAGS[name]), f"{name}: add its new options to FLAGS"


@pytest.mark.parametrize("name, flag, value", CASES, ids=[f"{n}{f}={v!r}" for n, f, v in CASES])
def test_bad_value_is_a_usage_error(name, flag, value, tmp_path, usage_error):
    module = _module(name)
    out = tmp_path / "out" / "run"
    err = usage_error(module.main, _argv(module, f"{flag}={value}", out=out))
    assert f"argument {flag}: " in err and repr(value) in err, err
    assert not (tmp_path / "out").exists(), "a refused run must not create --out-dir"


@pytest.mark.parametrize("name, argv, message", [
    ("lab_12_checkpointing", ["--lr", "-1"], "argument --lr: expected a positive number, got '-1'"),
    ("lab_12_checkpointing", ["--lr", "0"], "argument --lr: expected a positive number, got '0'"),
    ("lab_12_checkpointing", ["--patience", "-1"],
     "argument --patience: expected a non-negative integer, got '-1'"),
    ("lab_12_checkpointing", ["--batch-size", "-3"],
     "argument --batch-size: expected a positive integer, got '-3'"),
    ("lab_12_checkpointing", ["--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
    ("lab_06_data_pipeline", ["--workers", "-1"],
     "argument --workers: expected comma-separated non-negative integers, got '-1'"),
    ("lab_06_data_pipeline", ["--workers", "1,x"],
     "argument --workers: expected comma-separated non-negative integers, got '1,x': 'x' is not an integer"),
    ("lab_06_data_pipeline", ["--pin-memory", "false,maybe"],
     "argument --pin-memory: expected comma-separated true/false values, got 'false,maybe': 'maybe' is not"),
    ("lab_12_training_optimization", ["--threads", "0"],
     "argument --threads: expected a positive integer, got '0'"),
    ("lab_02_tensor_gpu_basics", ["--transfer-sizes", "4096,1001"],
     "argument --transfer-sizes: expected comma-separated positive multiples of 4, got '4096,1001'"),
])
def test_messages_as_written_on_a_command_line(name, argv, message, tmp_path, usage_error):
    module = _module(name)
    err = usage_error(module.main, _argv(module, *argv, out=tmp_path / "out"))
    assert message in err
    assert not (tmp_path / "out").exists()


def test_cuda_without_a_gpu_is_a_usage_error(tmp_path, usage_error):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    lab = _module("lab_12_checkpointing")
    err = usage_error(lab.main, ["--device", "cuda", "--dry-run", "--out-dir", str(tmp_path / "out")])
    assert "--device cuda was requested but torch.cuda.is_available() is False" in err
    assert not (tmp_path / "out").exists()
