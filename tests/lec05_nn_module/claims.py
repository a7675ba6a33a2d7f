"""What the chapter computes, checked after its last block in the page's own session."""

import torch

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    assert ns["mini_names"] == ns["real_names"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    written = files_written(workdir)  # not the runner's files, not the labs' --out-dir
    assert written == {"lec05/init-activations.png", "lec05/init-gradients.png"}, (
        "the chapter writes its two figures, nothing else (checkpoints go to a temporary "
        f"directory): {sorted(written)}")
    stds = ns["stds"]
    # the study's conclusions, as the page states them
    for init in ("kaiming", "orthogonal"):
        assert stds["relu", init][-1] > 0.3, init
    assert stds["relu", "xavier"][-1] < 1e-2 < stds["tanh", "xavier"][-1]
    assert stds["relu", "default"][-1] < 0.1 * stds["relu", "default"][0]
    assert ns["count"](ns["PlainList"]()) == 0 and ns["count"](ns["Registered"]()) == 60
    assert "resnet18: 11,689,512 vs 11,689,512 parameters" in out
    assert "resnet50: 25,557,032 vs 25,557,032 parameters" in out
    assert "max |diff| 0.0e+00" in out
    assert isinstance(ns["restored"], torch.nn.Sequential)
