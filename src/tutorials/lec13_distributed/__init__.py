"""Lecture 13: parallel and distributed training.

Everything of the chapter ``docs/lectures/13-distributed.md`` that no other chapter
uses: :mod:`~tutorials.lec13_distributed.chapter` (the code the page shows, section by
section: process groups, collectives, a ring all-reduce by hand, DDP and its pitfalls,
model parallelism, RPC, distributed checkpoints), :mod:`~tutorials.lec13_distributed.exercises`
(the self-checks of its exercises), the helper modules
:mod:`~tutorials.lec13_distributed.ddp_tools` (a DDP communication hook that records and
times every bucket), :mod:`~tutorials.lec13_distributed.drawing` (the ring all-reduce
figure) and :mod:`~tutorials.lec13_distributed.ddp_worker` (the module ``torchrun`` starts
for the lab), and the lab ``lab_13_ddp_scaling``. The processes are started with
:func:`tutorials.core.distributed.launch` and :func:`tutorials.core.distributed.torchrun`.
"""
