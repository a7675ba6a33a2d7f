"""Lecture 27: contributing to PyTorch core and the compiler stack.

A tour of the repository read from the installed wheel (``repo_tour``: the operator
registry and the packaged ``native_functions.yaml`` and ``derivatives.yaml``); a worked
"hypothetical PR" adding ``course27::softcap``, built out of tree (``softcap_op`` and its
C++ source ``csrc/softcap.cpp``: schema, CPU kernel, OpInfo-style sample inputs and a
reference); and ``torch.compile`` seen from the inside (``pipeline``: what Dynamo,
AOTAutograd and Inductor each produce, and the picture of it). ``chapter`` is the page's
code, ``exercises`` the self-checks.
"""
