"""Lecture 9: custom operators and extensions, from Python to kernel launch.

The chapter (``docs/lectures/09-custom-ops.md``) takes ``torch.autograd.Function``
in full (``setup_context``, ``needs_input_grad``, ``mark_dirty``,
``mark_non_differentiable``, ``once_differentiable``), turns a function into an
operator with ``torch.library.custom_op`` (fake kernel, autograd formula,
``opcheck``, ``torch.compile(fullgraph=True)``), builds a C++ extension with
``torch.utils.cpp_extension.load_inline`` registered with ``TORCH_LIBRARY``, and
fuses bias + GELU + dropout into one kernel, in C++ for CPUs and in Triton for
GPUs. ``chapter`` holds the page's code, ``observe`` the graph recorder and the
memory-traffic figure, ``exercises`` the self-checks; ``fused`` and
``fused_triton`` hold the fused kernels and their memory-traffic arithmetic, and
``lab_09_fused_kernel`` is the lab (gradcheck and benchmark table).
"""
