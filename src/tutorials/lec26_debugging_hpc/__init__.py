"""Lecture 26: large-scale debugging and HPC practice.

Everything of the chapter ``docs/lectures/26-debugging-hpc.md`` that no other chapter uses:
:mod:`~tutorials.lec26_debugging_hpc.chapter` (the code the page shows, section by section:
where NaN and Inf come from, gradient-norm tracking, forward hooks and a dispatch mode that stop
at the first non-finite value, ``detect_anomaly``, fp16 underflow and ``GradScaler``, the caching
allocator and fragmentation, memory leaks found with ``gc``, ``weakref`` and the profiler, hung
and desynchronised gloo process groups with ``faulthandler``, the flight recorder,
``monitored_barrier``, ``TORCH_DISTRIBUTED_DEBUG=DETAIL`` and the NaN check hook, CPU binding,
structured logs and environment capture), :mod:`~tutorials.lec26_debugging_hpc.exercises` (the
self-checks of its exercises), and the helpers :mod:`~tutorials.lec26_debugging_hpc.nonfinite`
(stop a forward pass at the first module returning NaN/Inf),
:mod:`~tutorials.lec26_debugging_hpc.caching_allocator` (a small model of the CUDA caching
allocator), :mod:`~tutorials.lec26_debugging_hpc.flight` (flight-recorder dumps and their
analysis), :mod:`~tutorials.lec26_debugging_hpc.debuggers` (stacks from ``faulthandler`` and
``gdb``), :mod:`~tutorials.lec26_debugging_hpc.structured_log` (JSON-lines logs per rank),
:mod:`~tutorials.lec26_debugging_hpc.environment` (a run's environment as JSON),
:mod:`~tutorials.lec26_debugging_hpc.nan_hunt` (train until non-finite, replay the step, name the
cause) and :mod:`~tutorials.lec26_debugging_hpc.figures` (the chapter's plots); the lab
``lab_26_nan_hunt`` runs the NaN hunt on injected faults.
"""
