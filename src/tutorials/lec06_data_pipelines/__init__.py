"""Lecture 6: data pipelines — Dataset, Sampler, DataLoader, augmentation.

Everything of the chapter ``docs/lectures/06-data-pipelines.md`` that no other chapter uses:
:mod:`~tutorials.lec06_data_pipelines.chapter` (the code the page shows, section by
section), :mod:`~tutorials.lec06_data_pipelines.exercises` (the self-checks of its
exercises), :mod:`~tutorials.lec06_data_pipelines.imagefolder`,
:mod:`~tutorials.lec06_data_pipelines.loader_bench` (its helper modules), and its lab
``lab_06_data_pipeline``.
"""
