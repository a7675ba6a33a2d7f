"""Lecture 18: pipeline orchestration and MLOps.

Everything of the chapter ``docs/lectures/18-mlops.md`` that no other chapter uses:
:mod:`~tutorials.lec18_mlops.chapter` (the code the page shows, section by section:
config and environment capture, an MLflow + TensorBoard sweep read back, cached steps,
the pipeline, the model registry, TorchX jobs and specs, drift-triggered retraining),
:mod:`~tutorials.lec18_mlops.exercises` (the self-checks of its exercises), the helper
modules :mod:`~tutorials.lec18_mlops.steps` (content-hashed steps and their manifest),
:mod:`~tutorials.lec18_mlops.pipeline` (prepare → train → evaluate → register → deploy
with MLflow and TensorBoard), :mod:`~tutorials.lec18_mlops.drift` (PSI, KS, a
simulated new scanner; also the TorchX job's command), :mod:`~tutorials.lec18_mlops.jobs`
(``torchx run`` bounded by a timeout, scheduler requests rendered without a cluster)
and :mod:`~tutorials.lec18_mlops.drawing` (the figures), and the lab
``lab_18_pipeline`` (the whole pipeline as one idempotent command).
"""
