"""What the chapter computes, checked after its last block in the page's own session."""

import torch


def claims(ns, out, workdir):
    # samplers and collate
    assert ns["drawn"].bincount().tolist() == [500, 500], "weighted sampler balances classes"
    assert ns["padded"].shape == (3, 5) and ns["lengths"].tolist() == [3, 2, 5]
    # workers: two processes, overlapping in time; seeding repeats the stream
    assert len(ns["pids"]) == 2
    assert ns["first"] == ns["again"], "a seeded generator repeats the augmentations"
    train_loader = ns["train_loader"]
    assert train_loader.persistent_workers and train_loader.num_workers == 2
    # the image folder: 200 images, five format/mode kinds, one corrupt file
    assert sum(ns["kinds"].values()) == 200 and len(ns["kinds"]) == 5
    assert len(ns["train_set"]) + len(ns["val_set"]) == 200
    assert {p.name for p in workdir.glob("*.png")} == {"lec06-augmentations.png"}
    assert "cannot decode image file 'digit-images/0/corrupt.png'" in out
    assert "stack expects each tensor to be equal size" in out
    assert "same stream twice: True" in out
    x = ns["x"]  # one augmented, normalized image
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert ns["pixels"].shape == (200, 3, 32, 32), "statistics over the readable images"
    assert ns["mean"].shape == ns["std"].shape == (3,)

