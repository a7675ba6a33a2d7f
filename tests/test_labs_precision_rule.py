"""One precision rule for every lab: fp16 without CUDA is a usage error.

Lecture 7 runs float16 on CUDA only; every lab with an ``--amp`` or ``--precisions``
option refuses ``fp16`` on another device through ``_cli.refuse_fp16_off_cuda``:
exit status 2, the usage line, a message naming the option and the device, no
traceback, no ``--out-dir`` created.
"""

import importlib

import pytest
import torch

from tutorials._book.layout import labs, module_named
from tutorials.core.cli import FP16_NEEDS_CUDA

PRECISION_FLAGS = {"--amp", "--precision", "--precisions", "--dtype"}

# lab -> (its precision option, a value asking for fp16, what the message suggests instead)
CASES = {
    "lab_05_resnet_blocks": ("--amp", "fp16", "use --amp bf16 or --amp off"),
    "lab_07_mixed_precision": ("--precisions", "fp32,fp16", "use --precisions fp32,bf16"),
    "lab_12_training_optimization": ("--amp", "fp16", "use --amp bf16 or --amp off"),
    "lab_02_tensor_gpu_basics": ("--amp", "fp16", "use --amp bf16 or --amp off"),
    "lab_23_transfer_challenge": ("--precision", "fp16", "use --precision bf16 or fp32"),
    "lab_23_cnn_vs_transfer": ("--precisions", "fp32,fp16", "use --precisions fp32,bf16"),
}


def _module(name):
    return importlib.import_module(module_named(name))


def test_every_lab_with_a_precision_option_is_checked():
    with_option = set()
    for path in labs():
        parser = _module(path.stem).build_parser()
        flags = {s for a in parser._actions for s in a.option_strings}
        if flags & PRECISION_FLAGS:
            with_option.add(path.stem)
    assert with_option == set(CASES), "a lab with a precision option must follow the fp16 rule"


@pytest.mark.parametrize("name", sorted(CASES))
def test_fp16_on_cpu_is_a_usage_error(name, usage_error, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("fp16 is valid on a CUDA machine")
    option, value, instead = CASES[name]
    out = tmp_path / "out"
    for device in ("cpu", "auto"):  # auto on a machine without CUDA: the CPU
        err = usage_error(_module(name).main, ["--dry-run", "--device", device, option, value,
                                               "--out-dir", str(out)])
        assert f"error: {option} fp16 needs CUDA, the device is cpu: {FP16_NEEDS_CUDA}; {instead}" in err
        assert not out.exists()
