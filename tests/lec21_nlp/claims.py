"""What the chapter computes, checked after its last block in the page's own session."""

import torch

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    # the corpus: real human labels, balanced split, no text in both sets
    split = ns["split"]
    assert len(ns["snippets"]) > 12000
    assert not set(split.train_texts) & set(split.test_texts), "a snippet in both train and test"
    assert sum(split.test_labels) == len(split.test_labels) // 2
    # the tokenizers: [PAD] = 0, every encoding wrapped in [CLS] ... [SEP]
    tok = ns["tokenizer"]
    assert tok.get_vocab_size() == 2000 and tok.token_to_id("[PAD]") == 0
    assert ns["VOCAB"] < 10_000 and all(int(x.max()) < ns["VOCAB"] for x, _ in ns["train_set"])
    assert all(t[0] == 101 and t[-1] == 102 for t in ns["train_ids"])  # WordPiece [CLS] ... [SEP]
    assert max(len(t) for t in ns["train_ids"]) == 48, "cut to max_length"
    # packing: h_n is the state at each sequence's own last token
    h_n, out_padded, lengths = ns["h_n"], ns["out_padded"], ns["lengths"]
    for b in range(len(lengths)):
        assert torch.allclose(h_n[0, b], out_padded[b, lengths[b] - 1], atol=1e-6)
    # bucketing: the same indices, every one once, and far less padding
    lengths_ = ns["train_lengths"]
    for batches in (ns["shuffled"], ns["bucketed"]):
        assert sorted(i for b in batches for i in b) == list(range(len(lengths_)))
    pad_random = ns["padding_fraction"](lengths_, ns["shuffled"])
    pad_bucket = ns["padding_fraction"](lengths_, ns["bucketed"])
    assert pad_bucket[0] * 10 < pad_random[0], (pad_bucket, pad_random)
    # accuracies: every model above chance on 1000 balanced test snippets; the baseline clearly
    r = ns["results"]
    assert r["bag of embeddings"] > 0.62, r
    assert r["LSTM"] > 0.5 and r["Transformer"] > 0.5, r
    assert r["bag of embeddings"] > max(r["LSTM"], r["Transformer"]), "the page says the baseline wins"
    assert r["MiniLM features + logistic regression"] > 0.6, r
    # Hugging Face: the frozen head alone trains; fine-tuning trains every weight
    assert "frozen encoder: 770 trainable parameters" in out  # printed before `tuned` unfroze it
    assert ns["count_trainable"](ns["tuned"]) == 22_713_216 + 770
    assert ns["count_trainable"](ns["frozen"].head) == 384 * 2 + 2
    sims = ns["vectors"] @ ns["vectors"].T
    assert sims[0, 1] > sims[0, 2] > sims[0, 3], "similar sentences are closest"
    # mistakes: the messages the page shows
    assert "must be sorted in decreasing order when `enforce_sorted` is True" in out
    assert "plain mean equals the sentence alone:  False" in out
    # files: the figure and the saved tokenizer (the lab's --out-dir is checked by the lab's tests)
    written = files_written(workdir)
    assert written == {"lec21/padding.png", "lec21/bpe-2000.json"}, sorted(written)
    from tokenizers import Tokenizer

    saved = Tokenizer.from_file(str(workdir / "lec21" / "bpe-2000.json"))
    assert saved.get_vocab() == tok.get_vocab(), "the saved tokenizer is the trained one"
