"""The tested code of the executable PyTorch course.

Chapters include sections of these modules with ``pymdownx.snippets``; labs
(:mod:`tutorials.labs`) import them; the test suite executes both. The chapter
scripts live in :mod:`tutorials.lectures`, the exercise self-checks in
:mod:`tutorials.exercises`. The site's API reference documents each public module.
"""

__version__ = "0.1.0"
