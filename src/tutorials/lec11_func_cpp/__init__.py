"""Lecture 11: forward-mode AD, ``torch.func``, the C++ frontend and task parallelism.

Everything of the chapter ``docs/lectures/11-func-cpp.md`` that no other chapter uses:
:mod:`~tutorials.lec11_func_cpp.chapter` (the code the page shows, section by section:
``grad``, ``vjp``/``jvp``, Jacobians and Hessians, dual numbers, ``vmap``,
``functional_call``, per-sample gradients, ensembles, the NTK, ``functorch`` migration,
the C++ frontend and what replaced ``jit.fork``),
:mod:`~tutorials.lec11_func_cpp.exercises` (the self-checks of its exercises),
:mod:`~tutorials.lec11_func_cpp.jacobians` (``jacfwd`` vs ``jacrev`` timings, the NTK
reference loop and the figures), :mod:`~tutorials.lec11_func_cpp.parallel` (``jit.fork``,
``torch.futures`` and CUDA streams) and :mod:`~tutorials.lec11_func_cpp.cpp_frontend`
(building and running the libtorch program in ``cpp/``).
"""
