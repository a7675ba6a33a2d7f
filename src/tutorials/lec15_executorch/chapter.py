"""Lecture 15: the code the page shows, section by section (run it with ``python -m``)."""

# --8<-- [start:imports]
import warnings
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from tutorials.core.reporting import format_table
from tutorials.lec15_executorch.edge import (
    DigitsCNN,
    PteModel,
    digits_images8,
    import_executorch,
    median_call_us,
    memory_plan,
    missing_kernels,
    operator_profile,
    plot_operator_profile,
    pte_operators,
    train_cnn,
)

import_executorch()  # ExecuTorch and torchao, with torchao's import-time deprecation log silenced
from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner  # noqa: E402
from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (  # noqa: E402
    XNNPACKQuantizer,
    get_symmetric_quantization_config,
)
from executorch.devtools.backend_debug import get_delegation_info  # noqa: E402
from executorch.exir import to_edge, to_edge_transform_and_lower  # noqa: E402
from executorch.runtime import Runtime  # noqa: E402
from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e  # noqa: E402

OUT = Path("lec15")  # every file of this chapter goes under ./lec15/
# --8<-- [end:imports]

# --8<-- [start:train]
x_train, y_train, x_val, y_val = digits_images8(seed=0)  # (N, 1, 8, 8) pixels in [0, 1]
torch.manual_seed(0)
model = DigitsCNN()
losses = train_cnn(model, x_train, y_train, epochs=3, lr=1e-2, batch_size=32)  # ~1 s; returns in eval mode
with torch.no_grad():
    eager_logits = model(x_val)  # (359, 10)
eager_acc = (eager_logits.argmax(1) == y_val).float().mean().item()
print(f"{sum(p.numel() for p in model.parameters())} parameters; loss {losses[0]:.2f} -> {losses[-1]:.2f}; "
      f"validation accuracy {eager_acc:.2f} on {len(y_val)} images")
# --8<-- [end:train]

# --8<-- [start:export_edge]
example = x_val[:1]  # (1, 1, 8, 8): a .pte has the shapes it was exported with
exported = torch.export.export(model, (example,))  # ATen dialect: what the model called
edge = to_edge(exported)  # edge dialect: core ATen only, no views, dtypes checked


def op_names(ep: torch.export.ExportedProgram) -> list[str]:
    """The distinct operators a program's graph calls, in order of first use."""
    # torch's OpOverload prints as aten.conv2d.default; an EdgeOpOverload has that as its __name__
    names = [getattr(n.target, "__name__", "") if "Edge" in type(n.target).__name__ else str(n.target)
             for n in ep.graph.nodes if n.op == "call_function"]
    return list(dict.fromkeys(n for n in names if n.startswith("aten.")))


print("torch.export:", op_names(exported))
print("edge dialect:", op_names(edge.exported_program()))
# --8<-- [end:export_edge]

# --8<-- [start:to_pte]
portable = edge.to_executorch()  # memory planning, then the flatbuffer
OUT.mkdir(exist_ok=True)
portable_path = OUT / "digits_portable.pte"
portable_path.write_bytes(portable.buffer)
print(f"wrote {portable_path}: {portable_path.stat().st_size:,} bytes")
print("kernels it calls:", pte_operators(portable))
plan = portable.executorch_program.execution_plan[0]
print("planned activation memory (bytes per buffer):", plan.non_const_buffer_sizes)
# --8<-- [end:to_pte]

# --8<-- [start:run_pte]
runtime = Runtime.get()  # the C++ runtime, through pybind11
program = runtime.load_program(portable_path)
method = program.load_method("forward")  # resolves every operator to a kernel, allocates the plan
print(method.metadata.input_tensor_meta(0))
out = method.execute([example])[0]
print("output:", tuple(out.shape), out.dtype)

pte_logits = PteModel(portable_path).predict(x_val)  # 359 calls of batch 1
portable_diff = (pte_logits - eager_logits).abs().max().item()
print(f"max |eager - .pte| on {len(x_val)} images below 1e-4: {portable_diff < 1e-4}; "
      f"same predictions: {int((pte_logits.argmax(1) == eager_logits.argmax(1)).sum())}/{len(x_val)}")
# --8<-- [end:run_pte]

# --8<-- [start:xnnpack]
lowered = to_edge_transform_and_lower(
    exported,  # the ExportedProgram of section 3: to_edge left it as it was
    partitioner=[XnnpackPartitioner()],  # claims the subgraphs XNNPACK can run
    generate_etrecord=True,  # keep the graph for the profiler's Inspector (section 6)
)
print(lowered.exported_program().graph_module.code.strip())
# --8<-- [end:xnnpack]

# --8<-- [start:delegation]
info = get_delegation_info(lowered.exported_program().graph_module)
print(info.get_summary().strip())
table = info.get_operator_delegation_dataframe()
print(table.to_string(index=False))
# --8<-- [end:delegation]

# --8<-- [start:xnnpack_run]
xnn = lowered.to_executorch()
xnn_path = OUT / "digits_xnnpack.pte"
xnn_path.write_bytes(xnn.buffer)
print(f"wrote {xnn_path}: {xnn_path.stat().st_size:,} bytes; kernels it calls: {pte_operators(xnn)}")
print("XNNPACK in this runtime:", runtime.backend_registry.is_available("XnnpackBackend"))
xnn_logits = PteModel(xnn_path).predict(x_val)
xnn_diff = (xnn_logits - eager_logits).abs().max().item()
print(f"max |eager - XNNPACK| below 1e-4: {xnn_diff < 1e-4}; "
      f"same predictions: {int((xnn_logits.argmax(1) == eager_logits.argmax(1)).sum())}/{len(x_val)}")
# --8<-- [end:xnnpack_run]

# --8<-- [start:missing_kernel]
class SortedScores(torch.nn.Module):
    """Returns the logits sorted: aten.sort is core ATen but has no portable kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sort(model(x), dim=-1, descending=True).values


sorted_program = to_edge(torch.export.export(SortedScores(), (example,))).to_executorch()
print("kernels it calls:", pte_operators(sorted_program))
print("missing in this runtime:", missing_kernels(sorted_program))
try:
    runtime.load_program(sorted_program.buffer).load_method("forward")
except RuntimeError as err:
    print(f"{type(err).__name__}: {err}")
# --8<-- [end:missing_kernel]

# --8<-- [start:no_kernel_list]
registered = runtime.operator_registry.operator_names  # "aten::add.out", ...
have = {name.split("::")[1].split(".")[0] for name in registered}
core = set()
for name in dir(torch.ops.aten):
    packet = getattr(torch.ops.aten, name)
    if isinstance(packet, torch._ops.OpOverloadPacket) and any(
            torch.Tag.core in getattr(packet, o).tags for o in packet.overloads()):
        core.add(name)
# views become *_copy ops in the edge dialect; backward and sym_* ops never reach a .pte
no_kernel = sorted(n for n in core if n not in have and f"{n}_copy" not in have
                   and not n.endswith("_backward") and not n.startswith("sym_"))
print(f"{len(registered)} kernels registered; core ATen operators without one: {len(no_kernel)}")
print(no_kernel)
# --8<-- [end:no_kernel_list]

# --8<-- [start:quantize]
quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
graph = exported.module()  # a fresh nn.Module of section 3's export, which prepare_pt2e edits
prepared = prepare_pt2e(graph, quantizer)  # observers where XNNPACK can run int8
with torch.no_grad():
    for image in x_train[:32]:  # calibration: 32 training images, one at a time (the batch is 1)
        prepared(image[None])
quantized = convert_pt2e(prepared)  # observers -> quantize / dequantize pairs
qdq = Counter(str(n.target).split(".")[1] for n in quantized.graph.nodes
              if n.op == "call_function" and "quantized_decomposed" in str(n.target))
print(dict(sorted(qdq.items())))
# --8<-- [end:quantize]

# --8<-- [start:quantize_lower]
int8 = to_edge_transform_and_lower(torch.export.export(quantized, (example,)),
                                   partitioner=[XnnpackPartitioner()]).to_executorch()
int8_path = OUT / "digits_xnnpack_int8.pte"
int8_path.write_bytes(int8.buffer)
int8_logits = PteModel(int8_path).predict(x_val)
sizes = {"xnnpack fp32": xnn_path.stat().st_size, "xnnpack int8": int8_path.stat().st_size}
accs = {"xnnpack fp32": (xnn_logits.argmax(1) == y_val).float().mean().item(),
        "xnnpack int8": (int8_logits.argmax(1) == y_val).float().mean().item()}
print(f"wrote {int8_path}")
print(format_table([{"program": k, "bytes": sizes[k], "accuracy": round(accs[k], 2)} for k in sizes]))
agree = int((int8_logits.argmax(1) == xnn_logits.argmax(1)).sum())
print(f"int8 / fp32 size: {sizes['xnnpack int8'] / sizes['xnnpack fp32']:.2f}; "
      f"same predictions as fp32: {agree >= len(x_val) - 5} (at most 5 of {len(x_val)} differ)")
# --8<-- [end:quantize_lower]

# --8<-- [start:profile_run]
etrecord_path = OUT / "digits_xnnpack.etrecord"
xnn.get_etrecord().save(str(etrecord_path))  # the graphs, to name the delegate's events
print(f"wrote {etrecord_path}")
profiles = {}
for name, path, etrecord in (("portable", portable_path, None),
                             ("XNNPACK fp32", xnn_path, str(etrecord_path))):
    pte = PteModel(path, etdump=True)  # the runtime records an event per operator call
    for image in x_val[:50]:
        pte(image[None])
    etdump = pte.write_etdump(OUT / f"{path.stem}.etdp")
    profiles[name] = operator_profile(etdump, etrecord)
    print(f"wrote {etdump}")
# --8<-- [end:profile_run]

# --8<-- [start:profile_table]
for name, rows in profiles.items():
    print(f"{name}:")
    print(format_table(rows, floatfmt=".1f"))
fig = plot_operator_profile(profiles, OUT / "operator-profile.png",
                            title="median µs per call of each profiled event (50 calls, batch 1)")
plt.close(fig)
print("wrote", OUT / "operator-profile.png")
# --8<-- [end:profile_table]

# --8<-- [start:memory]
print(format_table(memory_plan(portable)))
print("XNNPACK program, planned activation memory:",
      xnn.executorch_program.execution_plan[0].non_const_buffer_sizes)
# --8<-- [end:memory]

# --8<-- [start:dynamic]
batch = torch.export.Dim("batch", min=1, max=32)  # the bound the planner sizes buffers for
dynamic = to_edge(torch.export.export(model, (x_val[:4],), dynamic_shapes={"x": {0: batch}}))
dyn = PteModel(dynamic.to_executorch().buffer)  # portable kernels; XNNPACK takes bounded shapes too
print("input as planned:", dyn.method.metadata.input_tensor_meta(0))
for n in (1, 8, 32):
    print(f"batch {n:2d} -> output {tuple(dyn(x_val[:n]).shape)}")
try:
    dyn(x_val[:33])
except RuntimeError as err:
    print(f"batch 33 -> {type(err).__name__}: {err}")
# --8<-- [end:dynamic]

# --8<-- [start:batch_latency]
frame_ms = 1000 / 30  # a 30 fps camera: a new frame every 33.3 ms
batch_us = {n: median_call_us(lambda n=n: dyn(x_val[:n]), iters=30) for n in (1, 4, 16, 32)}
rows = [{"batch": n, "µs per call": us, "µs per image": us / n,
         "fits one frame": us / 1000 <= frame_ms} for n, us in batch_us.items()]
print(format_table(rows, floatfmt=".1f"))
# --8<-- [end:batch_latency]

# --8<-- [start:mistake_shape]
try:
    PteModel(portable_path)(x_val[:2])  # exported with a batch of 1
except RuntimeError as err:
    print(f"{type(err).__name__}: {err}")
# --8<-- [end:mistake_shape]

# --8<-- [start:mistake_unbounded]
unbounded = torch.export.export(model, (x_val[:4],), dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
planned = PteModel(to_edge(unbounded).to_executorch().buffer)  # no max=: exports and lowers fine
print("input as planned:", planned.method.metadata.input_tensor_meta(0))
try:
    planned(x_val[:8])
except RuntimeError as err:
    print(f"batch 8 -> {type(err).__name__}: {err}")
# --8<-- [end:mistake_unbounded]

# --8<-- [start:mistake_lite]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    scripted = torch.jit.script(torch.nn.Linear(4, 2))
    scripted._save_for_lite_interpreter(str(OUT / "linear.ptl"))  # the retired mobile format
print(f"wrote {OUT / 'linear.ptl'}")
for w in dict.fromkeys(f"{w.category.__name__}: {' '.join(str(w.message).split())}" for w in caught):
    print(w)
# --8<-- [end:mistake_lite]
