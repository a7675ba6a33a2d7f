"""What the chapter computes, checked after its last block in the page's own session."""

import torch

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    assert torch.get_num_threads() == ns["previous_threads"], "the page gives back the thread count"
    assert ns["model"].training is False, "the explained model is in eval mode"
    # completeness of integrated gradients and of conductance, to 2 % of the logit gap
    gap = ns["gap"]
    assert torch.allclose(ns["attr_ig"].sum((1, 2, 3)), gap, rtol=0.02, atol=0.05)
    assert torch.allclose(ns["per_channel"].sum(1), gap, rtol=0.03, atol=0.1)
    assert (ns["cam"] >= 0).all(), "relu_attributions=True: Grad-CAM maps are non-negative"
    # the text model: sentiment words carry the sign of their sentiment
    vocab, scores = ns["vocab"], ns["token_scores"]
    for words, row in zip(ns["examples"], scores, strict=True):
        for w, s in zip(words, row.tolist(), strict=False):
            if w in ("good", "great", "excellent"):
                assert s > 0.5, (w, s)
            if w in ("boring", "dull", "poor"):
                assert s < -0.5, (w, s)
    assert len(vocab) == 30
    # the shortcut is found by its attributions and confirmed by the data
    shares = ns["shares"]
    assert shares["shortcut model"] > 5 * 4 / 256 > shares["clean model"] / 2, shares
    assert shares["shortcut model"] > 4 * shares["clean model"], shares
    # pathologies
    g = ns["grad_norms"]
    assert g["sigmoid"][0] / g["sigmoid"][-1] < 1e-4 and g["relu-std1"][0] / g["relu-std1"][-1] > 1e2
    assert 0.1 < g["relu-kaiming"][0] / g["relu-kaiming"][-1] < 10
    assert min(ns["dead"]["lr 1.0"]) > 0.9 and max(ns["dead"]["lr 0.05"]) < 0.25, ns["dead"]
    scores = dict(zip(ns["batches"], ns["monitor"].scores, strict=True))
    clean = max(scores["clean 1"], scores["clean 2"])
    assert all(scores[k] > 3 * clean for k in scores if not k.startswith("clean")), scores
    # representations: recorded t-SNE, its meaning checked here
    assert ns["tsne_knn"] > ns["knn_accuracy"](ns["pca_xy"], ns["labels_np"]) + 0.1
    assert ns["tsne_knn"] > 0.85, ns["tsne_knn"]
    assert min(ns["probe_acc"]["trained"]) > 0.9
    assert ns["probe_acc"]["random weights"][-1] < ns["probe_acc"]["trained"][-1] - 0.1
    assert files_written(workdir, "*.png") == {
        "lec17/attributions.png", "lec17/tokens.png", "lec17/shortcut.png", "lec17/pathologies.png",
        "lec17/probes.png", "lec17/embeddings.png"}
    assert "Target not provided when necessary" in out
    assert "GuidedBackprop on F.relu equals the plain gradient: True" in out
