"""Lecture 4: C++ internals, ATen, the c10 dispatcher and custom operators.

Everything of the chapter ``docs/lectures/04-dispatcher.md`` that no other chapter uses:
:mod:`~tutorials.lec04_dispatcher.chapter` (the code the page shows, section by section),
:mod:`~tutorials.lec04_dispatcher.exercises` (the self-checks of its exercises),
:mod:`~tutorials.lec04_dispatcher.dispatch` (its helper modules).
"""
