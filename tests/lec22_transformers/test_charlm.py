import math

import pytest
import torch

from tutorials.lec22_transformers.charlm import (
    STDLIB_MODULES,
    CharGPT,
    CharTokenizer,
    GPTConfig,
    estimate_loss,
    generate,
    get_batch,
    split_corpus,
    stdlib_corpus,
    tokens_per_second,
    train_step,
)


def tiny(vocab=11, block=8, layers=2):
    torch.manual_seed(0)
    return CharGPT(GPTConfig(vocab_size=vocab, block_size=block, n_layer=layers, n_head=2, n_embd=16))


def test_tokenizer_round_trip_and_unknown_character():
    tok = CharTokenizer("def f(x):\n    return x\n")
    text = "return f(x)\n"
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode(torch.tensor(tok.encode(text))) == text
    assert tok.chars == sorted(tok.chars) and tok.vocab_size == len(set("def f(x):\n    return x\n"))
    with pytest.raises(ValueError, match="character 'Z' is not in the tokenizer's vocabulary"):
        tok.encode("Z")
    with pytest.raises(ValueError, match="non-empty"):
        CharTokenizer("")


def test_stdlib_corpus_is_real_deterministic_text():
    corpus = stdlib_corpus()
    assert corpus.names == STDLIB_MODULES and len(corpus.parts) == len(STDLIB_MODULES)
    assert corpus.parts[0].startswith("# ==== argparse.py ====\n")
    assert "class ArgumentParser" in corpus.parts[0]
    assert len(corpus.text) > 300_000
    assert stdlib_corpus().sha256 == corpus.sha256


def test_stdlib_corpus_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no_such_module\.py does not exist"):
        stdlib_corpus(("no_such_module.py",), root=tmp_path)


def test_split_corpus_holds_out_the_tail_of_each_part():
    train, val = split_corpus(["a" * 10, "b" * 20], 0.1)
    assert train == "a" * 9 + "b" * 18 and val == "a" + "bb"
    with pytest.raises(ValueError, match="val_fraction"):
        split_corpus(["abc"], 1.0)


def test_output_at_t_does_not_depend_on_later_tokens():
    """The causal property: changing tokens after t leaves the logits up to t unchanged."""
    model = tiny().eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 11, (2, 8), generator=g)
    y = x.clone()
    y[:, 5:] = (y[:, 5:] + 1) % 11
    with torch.no_grad():
        a, b = model(x)[0], model(y)[0]
    # torch.allclose, not torch.testing.assert_close: that one imports torch.distributed (seconds)
    assert torch.allclose(a[:, :5], b[:, :5], atol=1e-6, rtol=1e-5)
    assert not torch.allclose(a[:, 5:], b[:, 5:])


def test_weight_tying_shares_one_matrix_counted_once():
    model = tiny()
    assert model.head.weight is model.tok_emb.weight
    untied = sum(p.numel() for p in model.state_dict().values())  # the state dict lists it twice
    assert model.num_params() == untied - 11 * 16


def test_initial_loss_is_about_log_vocab_and_training_lowers_it():
    model = tiny(layers=1)
    data = torch.arange(64) % 11  # a cycle: perfectly predictable
    g = torch.Generator().manual_seed(0)
    x, y = get_batch(data, 8, 4, g)
    assert x.shape == y.shape == (4, 8) and torch.equal(y[:, :-1], x[:, 1:])
    before = estimate_loss(model, data, 8, 4, batches=2)
    assert abs(before - math.log(11)) < 0.1
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(30):
        train_step(model, opt, *get_batch(data, 8, 8, g))
    assert estimate_loss(model, data, 8, 4, batches=2) < 0.5 * before


def test_get_batch_and_forward_refuse_what_does_not_fit():
    with pytest.raises(ValueError, match="too short for block_size=8"):
        get_batch(torch.arange(8), 8, 2, torch.Generator())
    with pytest.raises(ValueError, match="exceeds block_size=8"):
        tiny()(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="multiple of n_head"):
        GPTConfig(vocab_size=5, n_head=3, n_embd=16)


def test_generate_is_reproducible_and_top_k_1_is_greedy():
    model = tiny()
    prompt = torch.tensor([[1, 2, 3]])
    a = generate(model, prompt, 10, generator=torch.Generator().manual_seed(0))
    b = generate(model, prompt, 10, generator=torch.Generator().manual_seed(0))
    assert a.shape == (1, 13) and torch.equal(a, b) and torch.equal(a[:, :3], prompt)
    greedy = prompt
    with torch.no_grad():
        for _ in range(10):
            greedy = torch.cat([greedy, model(greedy[:, -8:])[0][:, -1].argmax(-1, keepdim=True)], 1)
    sampled = generate(model, prompt, 10, top_k=1, generator=torch.Generator().manual_seed(5))
    assert torch.equal(sampled, greedy)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        generate(model, prompt, 1, temperature=0)


def test_tokens_per_second_counts_the_batches_tokens():
    calls = []
    batches = [(torch.zeros(4, 8), torch.zeros(4, 8))] * 3
    rate = tokens_per_second(lambda x, y: calls.append(x.numel()), batches)
    assert calls == [32, 32, 32] and rate > 0
