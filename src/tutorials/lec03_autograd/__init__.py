"""Lecture 3: the autograd engine, in-place operations and gradient mechanics.

Everything of the chapter ``docs/lectures/03-autograd.md`` that no other chapter uses:
:mod:`~tutorials.lec03_autograd.chapter` (the code the page shows, section by section),
:mod:`~tutorials.lec03_autograd.exercises` (the self-checks of its exercises),
:mod:`~tutorials.lec03_autograd.activations`,
:mod:`~tutorials.lec03_autograd.autograd_graph`, :mod:`~tutorials.lec03_autograd.memory`
(its helper modules), and its lab ``lab_03_custom_autograd``.
"""
