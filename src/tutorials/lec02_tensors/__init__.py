"""Lecture 2: tensors, their memory format, strides and channels-last.

Everything of the chapter ``docs/lectures/02-tensors.md`` that no other chapter uses:
:mod:`~tutorials.lec02_tensors.chapter` (the code the page shows, section by section),
:mod:`~tutorials.lec02_tensors.exercises` (the self-checks of its exercises),
:mod:`~tutorials.lec02_tensors.tensor_memory` (its helper modules), and its lab
``lab_02_tensor_gpu_basics``.
"""
