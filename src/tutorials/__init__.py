"""The tested code of the executable PyTorch course.

One package per chapter, named after its page: ``docs/lectures/03-autograd.md`` is
:mod:`tutorials.lec03_autograd`, which holds the chapter's script (the sections the
page includes), its exercise self-checks, its labs and its helper modules. Code that
a second chapter needs lives in :mod:`tutorials.core`. The machinery that runs and
builds the book is :mod:`tutorials._book` (see :mod:`tutorials._book.layout`).
"""

__version__ = "0.1.0"
