"""What the chapter computes, checked after its last block in the page's own session."""

import threading

import torch

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    assert torch.get_num_threads() == ns["previous_threads"], "the page gives back the thread count"
    # sections 2-3: a dynamic batch, and parity on every validation digit
    assert ns["val_acc"] > 0.9
    assert abs(ns["ort_acc"] - ns["val_acc"]) < 1e-6, "same labels (a float32 vs a float64 mean)"
    # recorded: ONNX Runtime is faster than eager at batch 1 (the per-call overhead), and
    # throughput grows from batch 1 to 64 for both runners
    rows = {(r["runner"], r["batch"]): r for r in ns["rows"]}
    assert rows["onnxruntime", 1]["ms"] < rows["eager", 1]["ms"], rows
    for runner in ("eager", "onnxruntime"):
        assert rows[runner, 64]["samples_per_s"] > 2 * rows[runner, 1]["samples_per_s"], runner
    # recorded: the transformer in ORT is not slower than eager at short sequences (by a margin)
    tx = {(r["runner"], r["seq"]): r["ms"] for r in ns["tx_rows"]}
    assert tx["onnxruntime", 8] < 1.5 * tx["eager", 8], tx
    # section 9: every response right, batching happened, percentiles ordered, nothing left running
    results = ns["results"]
    assert len(results) == 128 and all(status == 200 for _, status, _ in results)
    batches = ns["batches"]
    assert sum(batches) == 128, "every request ran in exactly one batch"
    assert len(batches) < 128 and max(batches) > 1, "the batcher batched"
    assert max(batches) <= 16, "max_batch holds"
    p = ns["percentiles"](ns["latencies_ms"])
    assert 0 < p["p50"] <= p["p95"] <= p["p99"]
    names = {t.name for t in threading.enumerate()}
    assert "uvicorn" not in names and "micro-batcher" not in names, names
    # the errors shown
    assert "Could not guard on data-dependent expression" in out
    assert "No ONNX function found for <OpOverload(op='lec16.softcap'" in out
    assert "but tracing inferred a static shape of 4 for dimension inputs[0].shape[0]" in out
    assert "Opset 30 is under development" in out
    assert files_written(workdir, "*.png") == {"lec16/latency-by-batch.png", "lec16/serving.png"}
    assert files_written(workdir, "*.onnx") == {
        "lec16/digits_cnn.onnx", "lec16/scale_down_cond.onnx", "lec16/capped_cnn.onnx",
        "lec16/tiny_transformer.onnx", "lec16/digits_cnn.opset30.onnx",
        *(f"lec16/digits_cnn.{level}.onnx" for level in ("disable", "basic", "extended", "all"))}
