"""Lecture 5: nn.Module from scratch.

Everything of the chapter ``docs/lectures/05-nn-module.md`` that no other chapter uses:
:mod:`~tutorials.lec05_nn_module.chapter` (the code the page shows, section by section),
:mod:`~tutorials.lec05_nn_module.exercises` (the self-checks of its exercises),
:mod:`~tutorials.lec05_nn_module.minimodule`, :mod:`~tutorials.lec05_nn_module.resnet` (its
helper modules), and its lab ``lab_05_resnet_blocks``.
"""
