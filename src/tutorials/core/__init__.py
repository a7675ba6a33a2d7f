"""The course's shared core: code that two or more chapters use.

Each module's docstring names the lecture that introduces it. A chapter package
imports only this core and itself, and the core imports no chapter
(``tests/test_layout.py`` checks both), so code moves here when a second chapter
needs it, and no sooner.
"""
