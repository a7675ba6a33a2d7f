"""Lecture 16: ONNX and production inference.

Everything of the chapter ``docs/lectures/16-onnx-serving.md`` that no other chapter
uses: :mod:`~tutorials.lec16_onnx_serving.chapter` (the code the page shows, section by
section: export with ``torch.onnx.export(..., dynamo=True)``, ONNX Runtime parity,
``torch.cond``, a custom operator's onnxscript translation, graph optimization levels,
threads, latency by batch size, a Transformer with a dynamic sequence length, an HTTP
service with dynamic micro-batching, and the common errors),
:mod:`~tutorials.lec16_onnx_serving.exercises` (the self-checks of its exercises), the
helper modules :mod:`~tutorials.lec16_onnx_serving.models` (the digits CNN and a tiny
Transformer), :mod:`~tutorials.lec16_onnx_serving.onnx_tools` (operator counts, sessions,
exporter error summaries), :mod:`~tutorials.lec16_onnx_serving.speed` (latency by batch
size and its plot) and :mod:`~tutorials.lec16_onnx_serving.serving` (the micro-batcher,
the FastAPI app, uvicorn in a thread, the load test), and the lab
``lab_16_onnx_benchmark`` (eager vs ``torch.compile`` vs ONNX Runtime).
"""
