"""Lecture 1: PyTorch's philosophy and the big picture.

Everything of the chapter ``docs/lectures/01-big-picture.md`` that no other chapter uses:
:mod:`~tutorials.lec01_big_picture.chapter` (the code the page shows, section by section),
:mod:`~tutorials.lec01_big_picture.exercises` (the self-checks of its exercises),
:mod:`~tutorials.lec01_big_picture.big_picture` (its helper modules).
"""
