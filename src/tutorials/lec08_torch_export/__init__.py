"""Lecture 8: from TorchScript to ``torch.export``, AOTInductor and production graphs.

Everything of the chapter ``docs/lectures/08-torch-export.md``:
:mod:`~tutorials.lec08_torch_export.chapter` (the code the page shows, section by section),
:mod:`~tutorials.lec08_torch_export.exercises` (the self-checks of its exercises),
:mod:`~tutorials.lec08_torch_export.graphs` (reading an ``ExportedProgram``'s operators, drawing
its graph, timing a compiled model), :mod:`~tutorials.lec08_torch_export.aoti_deploy` (AOTInductor
packages, cached, and the C++ runner; shared by the page and the lab),
:mod:`~tutorials.lec08_torch_export.torchrun_job` (the two-process job section 11 launches with
``torchrun``) and the lab
``lab_08_aoti_deploy`` (export, AOTInductor package, C++ and Python inference).
"""
