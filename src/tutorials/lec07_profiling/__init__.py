"""Lecture 7: profiling and performance tuning.

Everything of the chapter ``docs/lectures/07-profiling.md`` that no other chapter uses:
:mod:`~tutorials.lec07_profiling.chapter` (the code the page shows, section by section),
:mod:`~tutorials.lec07_profiling.exercises` (the self-checks of its exercises),
:mod:`~tutorials.lec07_profiling.amp_bench`, :mod:`~tutorials.lec07_profiling.profiling`,
:mod:`~tutorials.lec07_profiling.trace_viewer` (its helper modules), and its labs
``lab_07_mixed_precision``, ``lab_07_profiling``.
"""
