"""Lecture 12: model optimization, hyperparameter search and best practices.

Everything of the chapter ``docs/lectures/12-model-optimization.md`` that no other chapter
uses: :mod:`~tutorials.lec12_model_optimization.chapter` (the code the page shows, section
by section), :mod:`~tutorials.lec12_model_optimization.exercises` (the self-checks of its
exercises), :mod:`~tutorials.lec12_model_optimization.checkpoint`,
:mod:`~tutorials.lec12_model_optimization.early_stopping`,
:mod:`~tutorials.lec12_model_optimization.experiments`,
:mod:`~tutorials.lec12_model_optimization.hpo`,
:mod:`~tutorials.lec12_model_optimization.kill_benchmark`,
:mod:`~tutorials.lec12_model_optimization.kill_resume`,
:mod:`~tutorials.lec12_model_optimization.training` (its helper modules), and its labs
``lab_12_checkpointing``, ``lab_12_training_optimization``.
"""
