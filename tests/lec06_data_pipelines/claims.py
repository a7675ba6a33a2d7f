"""What the chapter computes, checked after its last block in the page's own session."""

import torch
from torch.utils.data import ConcatDataset, DataLoader, Subset

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    # samplers and collate
    assert ns["drawn"].bincount().tolist() == [500, 500], "weighted sampler balances classes"
    assert ns["padded"].shape == (3, 5) and ns["lengths"].tolist() == [3, 2, 5]
    # workers: two processes, overlapping in time; seeding repeats the stream
    assert len(ns["pids"]) == 2
    # The overlap demo is recorded output (its times depend on the machine and its
    # load). What holds everywhere: both workers loaded 8 samples each, their busy
    # spans overlap, and from the first sample's start to the last one's end the
    # 16 × 50 ms of sleeping took less wall time than one process doing them in turn
    # needs (two workers need about half; the workers' start-up is not counted).
    busy = ns["busy"]
    assert sorted(busy) == [0, 1] and all(len(v) == 8 for v in ns["spans"].values())
    assert busy[0][0] < busy[1][1] and busy[1][0] < busy[0][1], f"no overlap: {busy}"
    assert ns["loading"] < 16 * 0.05, f"two workers took {ns['loading']:.2f} s, not < 0.80 s"
    assert ns["first"] == ns["again"], "a seeded generator repeats the augmentations"
    assert ns["inside"] == ns["first"], "seed_worker reaches the dataset inside a Subset"
    # ... and inside nested Subsets (random_split of a Subset) and every part of a concat
    Jitter, stream = ns["JitterDataset"], ns["augmentation_stream"]
    nested = Subset(Subset(Jitter(), range(8)), range(8))
    assert stream(nested, 0) == ns["first"], "seed_worker unwraps a chain of Subsets"
    loader = DataLoader(ConcatDataset([Jitter(), Jitter()]), batch_size=None,
                        num_workers=2, worker_init_fn=ns["seed_worker"])
    drawn = list(loader)  # items 0-7 from part 0, 8-15 from part 1: with one seed
    # for both parts, each worker would draw the same numbers in the two halves
    assert drawn[:8] != drawn[8:], "the parts of a ConcatDataset get different seeds"
    train_loader = ns["train_loader"]
    assert train_loader.persistent_workers and train_loader.num_workers == 2
    # the image folder: 200 images, five format/mode kinds, one corrupt file
    assert sum(ns["kinds"].values()) == 200 and len(ns["kinds"]) == 5
    assert len(ns["train_set"]) + len(ns["val_set"]) == 200
    written = files_written(workdir)  # not the runner's files, not the labs' --out-dir
    assert {p for p in written if not p.startswith("lec06/digit-images/")} == {
        "lec06/augmentations.png"}, sorted(written)
    assert len([p for p in written if p.startswith("lec06/digit-images/")]) == 201
    assert "cannot decode image file 'lec06/digit-images/0/corrupt.png'" in out
    assert "stack expects each tensor to be equal size" in out
    assert "same stream twice: True" in out
    x = ns["x"]  # one augmented, normalized image
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert ns["pixels"].shape == (200, 3, 32, 32), "statistics over the readable images"
    assert ns["mean"].shape == ns["std"].shape == (3,)
