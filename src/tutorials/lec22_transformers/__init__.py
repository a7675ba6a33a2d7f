"""Lecture 22: Transformers and attention from first principles.

Everything of the chapter ``docs/lectures/22-transformers.md`` that no other chapter uses:
:mod:`~tutorials.lec22_transformers.chapter` (the code the page shows, section by
section), :mod:`~tutorials.lec22_transformers.exercises` (the self-checks of its
exercises), :mod:`~tutorials.lec22_transformers.attention` (its helper module: attention,
positional encodings, recurrent cells and patch embeddings written by hand), and its two
labs: ``lab_22_char_gpt`` (a character-level GPT; helper :mod:`~tutorials.lec22_transformers.charlm`)
and ``lab_22_forecasting`` (time-series forecasting with an LSTM and a small Transformer; helper
:mod:`~tutorials.lec22_transformers.forecasting`).
"""
