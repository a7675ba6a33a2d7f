"""Lecture 16: ONNX and production inference.

The code of the chapter ``docs/lectures/16-onnx-serving.md``, in the order the page
shows it: export with ``torch.onnx.export(..., dynamo=True)``, ONNX Runtime parity and
speed, control flow, custom operators, graph optimizations, a Transformer with a
dynamic sequence length, and an HTTP service with dynamic micro-batching. Run it top
to bottom with ``python -m tutorials.lec16_onnx_serving.chapter``; it writes into
``lec16/`` under the current directory.
"""

# --8<-- [start:imports]
import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxscript import opset18 as op
from torch import nn

from tutorials.core.distributed import free_port
from tutorials.lec16_onnx_serving.models import TinyTransformer, digits_tensors, train_digits_cnn
from tutorials.lec16_onnx_serving.onnx_tools import (
    LEVELS,
    captured_export_noise,
    error_summary,
    op_types,
    ort_session,
)
from tutorials.lec16_onnx_serving.serving import (
    MicroBatcher,
    build_app,
    get_json,
    load_test,
    percentiles,
    plot_serving,
    post_json,
    serving,
)
from tutorials.lec16_onnx_serving.speed import latency_rows, plot_latency, speedups

# One PyTorch thread for the page: the printed accuracies do not depend on how a
# machine splits its sums, and eager PyTorch and ONNX Runtime are timed on equal terms.
previous_threads = torch.get_num_threads()
torch.set_num_threads(1)
OUT = Path("lec16")  # every file of this chapter goes here
OUT.mkdir(exist_ok=True)
x_train, y_train, x_val, y_val = digits_tensors()  # (1438, 1, 8, 8) and (359, 1, 8, 8) real digits
print("ONNX Runtime", ort.__version__, "· onnx", onnx.__version__, "· default opset of this onnx:",
      onnx.defs.onnx_opset_version())
# --8<-- [end:imports]

# --8<-- [start:train]
model, val_acc = train_digits_cnn(epochs=3, seed=0)  # DigitsCNN, returned in eval mode
print(model)
print(f"validation accuracy {val_acc:.3f}")
# --8<-- [end:train]

# --8<-- [start:export]
example = x_val[:2]  # an example input: its shape fixes every dimension not marked dynamic
onnx_program = torch.onnx.export(
    model, (example,),
    dynamo=True,                     # the torch.export-based exporter (the default since 2.9)
    dynamic_shapes=({0: "batch"},),  # dimension 0 of argument 0 may vary; "batch" names it
    verbose=False,                   # no progress lines
)


def dims(value_info):
    """The shape of an ONNX graph input/output: a name for a dynamic dimension, else the size."""
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


proto = onnx_program.model_proto  # the ONNX ModelProto, in memory
print(type(onnx_program).__name__, "· opset", proto.opset_import[0].version)
print("inputs ", [(v.name, dims(v)) for v in proto.graph.input])
print("outputs", [(v.name, dims(v)) for v in proto.graph.output])
print("nodes  ", [n.op_type for n in proto.graph.node])
# --8<-- [end:export]

# --8<-- [start:save]
onnx_program.optimize()  # onnxscript's graph optimizer: constant folding, dead code; idempotent
cnn_path = OUT / "digits_cnn.onnx"
onnx_program.save(cnn_path)  # weights inside the file (below 2 GB); external_data=True splits them out
onnx.checker.check_model(str(cnn_path), full_check=True)  # schema and shape inference pass
n_params = sum(p.numel() for p in model.parameters())
# the file also holds the graph and metadata with source locations (paths of this machine's Python):
# its size differs from one install to the next, the weights' size does not
print(f"wrote {cnn_path}: {n_params} parameters, {n_params * 4 / 1024:.1f} KiB of float32 weights")
# --8<-- [end:save]

# --8<-- [start:parity]
print("execution providers in this onnxruntime:", ort.get_available_providers())
session = ort.InferenceSession(cnn_path, providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name  # "x": the exporter keeps forward()'s argument name
for batch in (1, 7, 64, len(x_val)):
    x = x_val[:batch]
    with torch.inference_mode():
        want = model(x).numpy()
    got = session.run(None, {input_name: x.numpy()})[0]  # None: every output; a list of arrays
    print(f"batch {batch:3d}: max |ORT - eager| < 1e-4: {bool(np.abs(got - want).max() < 1e-4)}, "
          f"same labels: {bool((got.argmax(1) == want.argmax(1)).all())}")
ort_acc = (session.run(None, {input_name: x_val.numpy()})[0].argmax(1) == y_val.numpy()).mean()
print(f"accuracy, eager {val_acc:.4f}  ONNX Runtime {ort_acc:.4f}")
# --8<-- [end:parity]

# --8<-- [start:legacy]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    # the retired path: TorchScript tracing; it writes the file and returns None
    torch.onnx.export(model, (example,), io.BytesIO(), dynamo=False)
message = next(str(w.message) for w in caught if issubclass(w.category, DeprecationWarning))
print(message.split(". ")[0] + ".")
print(message.split(". ")[1] + ".")
# --8<-- [end:legacy]

# --8<-- [start:python_if]
class ScaleDown(nn.Module):
    """Divide the input by its largest magnitude, but only when that exceeds 1."""

    def forward(self, x):
        m = x.abs().max()
        if m > 1:  # a Python `if` on a tensor's *value*: export cannot record both paths
            return x / m
        return x


try:
    with captured_export_noise() as noise:  # torch also prints the partial graph to stderr
        torch.onnx.export(ScaleDown().eval(), (torch.randn(2, 3),), dynamo=True, verbose=False)
except Exception as err:
    print(type(err).__name__, "(step 1 of 3, torch.export)")
    print(error_summary(err, max_chars=70))
    print("and the partial graph it had traced went to stderr:", "GraphModule" in noise.getvalue())
# --8<-- [end:python_if]

# --8<-- [start:cond]
class ScaleDownCond(nn.Module):
    """The same, with both branches as functions and the choice as data: torch.cond."""

    def forward(self, x):
        m = x.abs().max()
        return torch.cond(m > 1, lambda x, m: x / m, lambda x, m: x.clone(), (x, m))


cond_model = ScaleDownCond().eval()
cond_program = torch.onnx.export(cond_model, (torch.randn(2, 2),), dynamo=True, verbose=False)
cond_path = OUT / "scale_down_cond.onnx"
cond_program.save(cond_path)
print(f"wrote {cond_path}")
print("top-level nodes:", [n.op_type for n in cond_program.model_proto.graph.node])
print("with the If's two branches:", dict(sorted(op_types(cond_program.model_proto).items())))
cond_session = ort.InferenceSession(cond_path, providers=["CPUExecutionProvider"])
for x in (torch.tensor([[0.5, -0.25], [0.0, 1.0]]), torch.tensor([[4.0, -2.0], [1.0, 0.5]])):
    got = cond_session.run(None, {"x": x.numpy()})[0]
    print(x.tolist(), "->", got.tolist(), "equal to eager:", np.array_equal(got, cond_model(x).numpy()))
# --8<-- [end:cond]

# --8<-- [start:custom_op]
@torch.library.custom_op("lec16::softcap", mutates_args=())
def softcap(x: torch.Tensor, cap: float) -> torch.Tensor:
    """Soft capping: ``cap * tanh(x / cap)``, smooth and bounded by ``cap`` (Gemma 2's logit capping)."""
    return cap * torch.tanh(x / cap)


@softcap.register_fake
def _(x, cap):  # shapes only: what export traces with
    return torch.empty_like(x)


class CappedCNN(nn.Module):
    def __init__(self, cnn: nn.Module, cap: float = 5.0):
        super().__init__()
        self.cnn, self.cap = cnn, cap

    def forward(self, x):
        return softcap(self.cnn(x), self.cap)


capped = CappedCNN(model).eval()
try:
    torch.onnx.export(capped, (example,), dynamo=True, verbose=False)
except Exception as err:
    print(type(err).__name__, "(step 3 of 3, translation to ONNX)")
    print(error_summary(err, max_chars=95))
# --8<-- [end:custom_op]

# --8<-- [start:translation]
def softcap_onnx(x, cap: float):
    # onnxscript: ONNX operators called like functions; `cap` arrives as a Python float
    return op.Mul(op.Tanh(op.Div(x, cap)), cap)


capped_program = torch.onnx.export(
    capped, (example,), dynamo=True, verbose=False, dynamic_shapes=({0: "batch"},),
    custom_translation_table={torch.ops.lec16.softcap.default: softcap_onnx},
)
capped_path = OUT / "capped_cnn.onnx"
capped_program.save(capped_path)
print(f"wrote {capped_path}; last nodes:", [n.op_type for n in capped_program.model_proto.graph.node][-4:])
capped_session = ort.InferenceSession(capped_path, providers=["CPUExecutionProvider"])
got = capped_session.run(None, {"x": x_val.numpy()})[0]
with torch.inference_mode():
    want = capped(x_val).numpy()
print(f"max |ORT - eager| < 1e-4: {bool(np.abs(got - want).max() < 1e-4)}, "
      f"largest |logit| {np.abs(got).max():.2f} (cap 5)")
# --8<-- [end:translation]

# --8<-- [start:levels]
for level in LEVELS:  # disable, basic, extended, all
    saved = OUT / f"digits_cnn.{level}.onnx"
    ort_session(cnn_path, level=level, optimized_path=saved)  # ORT writes the graph it will run
    counts = op_types(saved)
    print(f"{level:8s} {sum(counts.values())} nodes: {dict(sorted(counts.items()))}")
print(f"wrote {OUT}/digits_cnn.<level>.onnx")
# --8<-- [end:levels]

# --8<-- [start:threads]
batch64 = x_val[:64].numpy()
for threads in (1, 2):
    s = ort_session(cnn_path, threads=threads)
    run = lambda x, s=s: s.run(None, {"x": x})  # noqa: E731
    ms = latency_rows({"ort": run}, [64], lambda b: batch64[:b], min_run_time=0.05)[0]["ms"]
    print(f"intra_op_num_threads={threads}: batch 64 in {ms:.3f} ms")
# --8<-- [end:threads]

# --8<-- [start:latency]
ort_1 = ort_session(cnn_path, threads=1)  # one thread each: the comparison is per core


def eager(x):
    with torch.inference_mode():
        return model(torch.from_numpy(x))


runners = {"eager": eager, "onnxruntime": lambda x: ort_1.run(None, {"x": x})}
rows = latency_rows(runners, [1, 8, 64, 256], lambda b: x_train[:b].numpy(), min_run_time=0.02)
for r in rows:
    print(f"batch {r['batch']:3d}  {r['runner']:11s} {r['ms']:7.3f} ms  {r['samples_per_s']:9.0f} samples/s")
ratio = speedups(rows, baseline="eager")
print("ORT speed-up over eager by batch:", {b: round(ratio['onnxruntime', b], 1) for b in (1, 8, 64, 256)})
print("wrote", plot_latency(rows, OUT / "latency-by-batch.png", "DigitsCNN on this CPU, one thread"))
# --8<-- [end:latency]

# --8<-- [start:transformer]
torch.manual_seed(0)
tiny = TinyTransformer(vocab=32, d_model=32, heads=4, layers=1, max_len=64).eval()
tokens = torch.randint(0, 32, (2, 16))
tx_program = torch.onnx.export(tiny, (tokens,), dynamo=True, verbose=False,
                               dynamic_shapes=({0: "batch", 1: "seq"},))
tx_path = OUT / "tiny_transformer.onnx"
tx_program.save(tx_path)
tx_session = ort_session(tx_path, threads=1)
print(f"wrote {tx_path}: input {dims(tx_program.model_proto.graph.input[0])}, "
      f"{len(tx_program.model_proto.graph.node)} nodes")
for seq in (1, 7, 16, 33, 64):
    t = torch.randint(0, 32, (3, seq))
    with torch.inference_mode():
        want = tiny(t).numpy()
    got = tx_session.run(None, {"tokens": t.numpy()})[0]
    close = bool(np.abs(got - want).max() < 1e-4)
    print(f"seq {seq:2d}: output {got.shape}, max |ORT - eager| < 1e-4: {close}")
# --8<-- [end:transformer]

# --8<-- [start:transformer_speed]
def tiny_eager(t):
    with torch.inference_mode():
        return tiny(torch.from_numpy(t))


tx_runners = {"eager": tiny_eager, "onnxruntime": lambda t: tx_session.run(None, {"tokens": t})}
tx_rows = []
for seq in (8, 64):  # batch 8, two lengths
    tx_rows += latency_rows(tx_runners, [8], lambda b, seq=seq: torch.randint(0, 32, (b, seq)).numpy(),
                            min_run_time=0.02)
for r, seq in zip(tx_rows, (8, 8, 64, 64)):
    r["seq"] = seq
    print(f"batch 8, seq {seq:2d}  {r['runner']:11s} {r['ms']:6.3f} ms")
# --8<-- [end:transformer_speed]

# --8<-- [start:serve]
serve_session = ort_session(cnn_path, threads=1)


def run_batch(x):  # (n, 1, 8, 8) float32 -> (n, 10) logits: one ORT call per micro-batch
    return serve_session.run(None, {"x": x})[0]


images = x_val[:128, 0].numpy()  # 128 requests, one 8x8 digit each
port = free_port()  # a port free on 127.0.0.1 now
with MicroBatcher(run_batch, max_batch=16, max_wait_ms=2.0) as batcher:
    with serving(build_app(batcher), port) as url:  # uvicorn in a thread, always stopped
        print("GET /health ->", get_json("127.0.0.1", port, "/health"))
        status, body = post_json("127.0.0.1", port, "/predict", {"image": images[0].tolist()})
        print("POST /predict ->", status, "label", body["label"], "true label", int(y_val[0]))
        print("bad shape ->", *post_json("127.0.0.1", port, "/predict", {"image": [[0.0] * 8] * 7}))
        print("no image ->", post_json("127.0.0.1", port, "/predict", {"pixels": []})[1]["detail"][0]["msg"])
        results = load_test("127.0.0.1", port, images, concurrency=8)  # 8 clients, 128 requests
print("server stopped; batcher stopped")
# --8<-- [end:serve]

# --8<-- [start:serve_check]
with torch.inference_mode():
    want = model(x_val[:128]).numpy()
got = np.array([body["logits"] for _, _, body in results])
print("all 200:", all(status == 200 for _, status, _ in results),
      "· every label equal to eager:", bool((got.argmax(1) == want.argmax(1)).all()),
      "· max |logit - eager| < 1e-4:", bool(np.abs(got - want).max() < 1e-4))
# --8<-- [end:serve_check]

# --8<-- [start:serve_stats]
batches = batcher.batch_sizes[1:]  # the first batch was the single request above
print(f"{len(results)} requests in {len(batches)} model calls")
latencies_ms = [1e3 * lat for lat, _, _ in results]
print("latency ms:", {k: round(v, 1) for k, v in percentiles(latencies_ms).items()})
print(f"batch sizes: mean {np.mean(batches):.1f}, largest {max(batches)}, "
      f"{batches.count(1)} batch(es) of a single request")
print("wrote", plot_serving(latencies_ms, batches, OUT / "serving.png",
                            "128 requests, 8 concurrent clients, max_batch 16, max_wait 2 ms"))
# --8<-- [end:serve_stats]

# --8<-- [start:lab_full_run]
import json
from importlib.resources import files

# the lab's full run on the machine named in the file (a recorded result, shipped with the package)
full_run = files("tutorials.lec16_onnx_serving") / "recorded" / "lab_16_full_run.json"
recorded = json.loads(full_run.read_text())
print("wrote", plot_latency(recorded["latency"], OUT / "labs" / "full-run.png",
                            f"DigitsCNN, recorded full run of the lab: {recorded['machine']}, 1 thread"))
# --8<-- [end:lab_full_run]

# --8<-- [start:mistake_specialized]
class AddTable(nn.Module):
    """Adds a learned (4, 3) table: the batch can only be 4 (or broadcast from 1)."""

    def __init__(self):
        super().__init__()
        self.table = nn.Parameter(torch.zeros(4, 3))

    def forward(self, x):
        return x + self.table


try:
    torch.onnx.export(AddTable().eval(), (torch.randn(4, 3),), dynamo=True, verbose=False,
                      dynamic_shapes=({0: "batch"},))
except Exception as err:
    print(type(err).__name__)
    print(error_summary(err, max_chars=400).split("\n- ")[1])
# --8<-- [end:mistake_specialized]

# --8<-- [start:mistake_opset]
stamped = onnx.load(str(cnn_path))
stamped.opset_import[0].version = 30  # what a runtime older than the model sees: an opset from its future
future_path = OUT / "digits_cnn.opset30.onnx"
onnx.save(stamped, str(future_path))
print(f"wrote {future_path}")
try:
    ort.InferenceSession(future_path, providers=["CPUExecutionProvider"])
except Exception as err:
    text = str(err)  # starts with the source file and line of ONNX Runtime's check: cut to the message
    start, end = text.index("ONNX Runtime only"), text.index("support for this is limited")
    print(type(err).__name__, "·", text[start:end] + "support for this is limited.")
# --8<-- [end:mistake_opset]

# --8<-- [start:mistake_inputs]
for feed in ({"input": x_val[:2].numpy()},           # a name the graph does not have
             {"x": x_val[:2].double().numpy()},       # float64: NumPy's default dtype
             {"x": x_val[:2, 0].numpy()}):            # the channel dimension dropped
    try:
        session.run(None, feed)
    except Exception as err:
        print(type(err).__name__, "·", str(err).split(" : ")[-1].split("\n")[0][:110])
# --8<-- [end:mistake_inputs]

# --8<-- [start:cleanup]
torch.set_num_threads(previous_threads)  # give back the thread count taken at the top
# --8<-- [end:cleanup]
