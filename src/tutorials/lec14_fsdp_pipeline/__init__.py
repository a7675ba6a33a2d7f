"""Lecture 14: FSDP, pipeline parallelism and large-scale systems.

Everything of the chapter ``docs/lectures/14-fsdp-pipeline.md`` that no other chapter
uses: :mod:`~tutorials.lec14_fsdp_pipeline.chapter` (the code the page shows, section by
section: FSDP2 ``fully_shard`` on a ``DeviceMesh``, its collectives and policies, memory
per rank against DDP, tensor parallelism with DTensor, pipeline schedules and their
bubble, 3-D parallelism), :mod:`~tutorials.lec14_fsdp_pipeline.exercises` (the
self-checks of its exercises), the helper modules
:mod:`~tutorials.lec14_fsdp_pipeline.models` (the small models and how they are
sharded), :mod:`~tutorials.lec14_fsdp_pipeline.comms` (FSDP2's collectives read from a
profile), :mod:`~tutorials.lec14_fsdp_pipeline.memory` (bytes of training state per
rank), :mod:`~tutorials.lec14_fsdp_pipeline.pipeline` (timing and drawing a pipeline
schedule), :mod:`~tutorials.lec14_fsdp_pipeline.fsdp_vs_ddp` (the lab's training
worker and sharded checkpoints), and the lab ``lab_14_fsdp_vs_ddp``.
"""
