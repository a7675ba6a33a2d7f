"""Lecture 10: FX, rewriting and transforming graphs.

Everything of the chapter ``docs/lectures/10-fx.md`` that no other chapter uses:
:mod:`~tutorials.lec10_fx.chapter` (the code the page shows, section by section: tracing,
nodes, Interpreter/Transformer, ShapeProp, ``replace_pattern``, conv-BN folding, activation
swaps, inlining, custom ``torch.compile`` backends, AOTAutograd's graphs),
:mod:`~tutorials.lec10_fx.exercises` (the self-checks of its exercises) and
:mod:`~tutorials.lec10_fx.drawing` (draws an FX graph with matplotlib).
"""
