"""Lecture 17: interpretability, debugging and explainability.

Everything of the chapter ``docs/lectures/17-interpretability.md`` that no other chapter uses:
:mod:`~tutorials.lec17_interpretability.chapter` (the code the page shows: Captum's saliency,
guided backpropagation, integrated gradients, SmoothGrad, occlusion, Grad-CAM and conductance on
a digits CNN, token attributions of a text model, a planted shortcut, training pathologies from
hooks and batch-norm statistics, linear probes and PCA/t-SNE projections),
:mod:`~tutorials.lec17_interpretability.models` (the CNN, the watermark, the generated sentiment
corpus and its model), :mod:`~tutorials.lec17_interpretability.diagnostics` (activation statistics,
batch-norm drift, probes, the randomization sanity check),
:mod:`~tutorials.lec17_interpretability.drawing` (the figures),
:mod:`~tutorials.lec17_interpretability.exercises` (the self-checks of its exercises) and the lab
``lab_17_attribution_report`` (per-class maps, the shortcut test and the sanity checks as a report).
"""
