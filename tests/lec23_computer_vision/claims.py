"""What the chapter computes, checked after its last block in the page's own session."""

from fractions import Fraction

import torch

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    # section 1: the formula agreed with the layers in every setting tried; receptive field
    assert ns["checked"] > 100
    assert ns["receptive_field"](ns["lenet_geometry"]) == (16, 4)
    assert len(ns["rows"]) == 16, "the gradient reaches exactly the receptive field"
    assert sum(p.numel() for p in ns["lenet"].parameters()) == 61706
    # section 4: torchvision's own reader ran on our files (HWC uint8, meta read)
    train_set = ns["train_set"]
    assert train_set.data.shape == (20, 32, 32, 3) and train_set.classes[0] == "airplane"
    assert "Dataset not found or corrupted" in out, "the stock class refuses files with other checksums"
    assert ns["DOWNLOAD_REAL_CIFAR"] is False
    # section 6: pretraining works, only the head trains, and transfer beats chance by far
    assert ns["info"]["val_accuracy"] > 0.9
    assert ns["trainable"] == ["head.weight", "head.bias"]
    assert ns["accuracy"] > 0.75, f"head-only transfer reached {ns['accuracy']:.2f}"
    assert ns["head_curve"][-1][1] > ns["head_curve"][0][1] - 0.05
    # section 8: IoU, NMS, AP exact
    assert ns["nms"](ns["dets"], ns["scores"], 0.5).tolist() == [0, 2, 3]
    assert ns["ap"] == Fraction(34, 45)
    assert "boxes moved with the masks: True" in out
    # section 9: balanced draws (each class within 10 % of a third)
    assert all(abs(c - 1000) < 100 for c in ns["drawn"].tolist())
    # sections 11-12: the optimisation and the GAN did something
    before, after = ns["before"], ns["after"]
    assert after[1].item() < before[1].item() / 4, "style loss fell at least fourfold"
    assert len(ns["gan_curve"]) == 87 and all(torch.isfinite(torch.tensor(ns["gan_curve"])).flatten())
    assert len(ns["samples"]) == 3 and len(ns["samples"][0]) == 8
    # common mistakes
    assert "mat1 and mat2 shapes cannot be multiplied (1x400 and 256x120)" in out
    assert "running stats changed in train mode: True" in out
    assert "... with features.eval(): False" in out
    written = {p for p in files_written(workdir) if not p.startswith("lec23/labs/")}
    assert written == {
        "lec23/cifar/cifar-10-batches-py/" + name
        for name in ["batches.meta", "test_batch"] + [f"data_batch_{i}" for i in range(1, 6)]
    } | {"lec23/backbone.pt", "lec23/augmentations.png", "lec23/detections.png", "lec23/style-transfer.png",
         "lec23/gan-samples.png", "lec23/training-curves.png"}, sorted(written)
