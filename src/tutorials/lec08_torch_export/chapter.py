"""Lecture 8: from TorchScript to ``torch.export``, AOTInductor and production graphs.

The code of the chapter ``docs/lectures/08-torch-export.md``, in the order the page
shows it. Run it top to bottom with ``python -m tutorials.lec08_torch_export.chapter``;
it writes its figure, an exported program and an AOTInductor package into ``lec08/``
under the current directory.
"""

# --8<-- [start:imports]
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.export import Dim, export

from tutorials.lec08_torch_export.aoti_deploy import compile_package
from tutorials.lec08_torch_export.graphs import (
    call_targets,
    draw_graphs,
    latency_us,
    op_counts,
    placeholder_kinds,
)

torch.manual_seed(0)
OUT = Path("lec08")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)
# --8<-- [end:imports]


# --8<-- [start:trace_freezes_branch]
class SignShift(nn.Module):
    """Adds 1 where the input sums to a positive number, subtracts 1 otherwise."""

    def forward(self, x):
        if x.sum() > 0:  # data-dependent: the branch depends on the values of x
            return x + 1
        return x - 1


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    traced = torch.jit.trace(SignShift(), torch.ones(3))  # example input: positive sum
deprecation = next(w for w in caught if "deprecated" in str(w.message))
print(deprecation.message)  # a FutureWarning in torch 2.14, a DeprecationWarning in older releases
print("TracerWarning too:", any(w.category is torch.jit.TracerWarning for w in caught))
neg = -torch.ones(3)
print("eager :", SignShift()(neg))
print("traced:", traced(neg))  # the `if` was evaluated once, while tracing
print(traced.code.strip())
# --8<-- [end:trace_freezes_branch]


# --8<-- [start:script_keeps_branch]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    scripted = torch.jit.script(SignShift())  # compiles the Python source instead
print([str(w.message) for w in caught])
print("scripted:", scripted(neg))
print(scripted.code.strip())
print([n.kind() for n in scripted.graph.nodes()])  # the TorchScript IR's nodes
# --8<-- [end:script_keeps_branch]


# --8<-- [start:export_basics]
class SmallNet(nn.Module):
    """Conv -> BatchNorm -> ReLU -> global average -> Linear, plus a constant offset."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 3)
        self.offset = torch.tensor([0.5, -0.5, 0.0])  # a plain tensor attribute

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x)))
        return self.head(h.mean(dim=(2, 3))) + self.offset


net = SmallNet().eval()
x = torch.randn(2, 1, 8, 8)
ep = export(net, (x,))  # non-strict: the default since 2025 (strict=False)
print(type(ep).__name__)
print(call_targets(ep))
for kind, name in placeholder_kinds(ep):
    print(f"{kind:16} {name}")
print([spec.kind.name for spec in ep.graph_signature.output_specs])
# --8<-- [end:export_basics]


# --8<-- [start:state_and_module]
print("state_dict:", len(ep.state_dict), "tensors; constants:", list(ep.constants))
print(ep.state_dict["bn.running_var"] is net.bn.running_var)  # shared, not copied
gm = ep.module()  # a runnable nn.Module (an FX GraphModule) with the same state
print(torch.allclose(gm(x), net(x), atol=1e-6))
try:
    gm(torch.randn(5, 1, 8, 8))  # a different batch size
except Exception as err:
    print(type(err).__name__, "|", str(err).splitlines()[0])
# --8<-- [end:state_and_module]


# --8<-- [start:dynamic_batch]
batch = Dim("batch", min=1, max=1024)
ep_dyn = export(net, (x,), dynamic_shapes={"x": {0: batch}})
bounds = [(vr.lower, vr.upper) for vr in ep_dyn.range_constraints.values()]
print("range constraints:", bounds)
x_node = next(n for n in ep_dyn.graph.nodes if n.name == "x")
print("dim 0 symbolic:", isinstance(x_node.meta["val"].shape[0], torch.SymInt))
gm_dyn = ep_dyn.module()
print(gm_dyn(torch.randn(5, 1, 8, 8)).shape, gm_dyn(torch.randn(1, 1, 8, 8)).shape)
try:
    gm_dyn(torch.randn(5, 1, 9, 9))  # height and width were not marked dynamic
except Exception as err:
    print(type(err).__name__, "|", str(err).splitlines()[0])
# --8<-- [end:dynamic_batch]


# --8<-- [start:zero_one_trap]
one = torch.randn(1, 1, 8, 8)  # a single example: batch size 1
try:
    export(net, (one,), dynamic_shapes={"x": {0: Dim("batch")}})
except Exception as err:
    lines = str(err).splitlines()
    print(type(err).__name__, "|", lines[0])
    print(next(line.strip() for line in lines if "specialized it to be a constant" in line))
# Dim.AUTO does not fail: it silently keeps the size 1 (only a log line on stderr says so)
ep_auto = export(net, (one,), dynamic_shapes={"x": {0: Dim.AUTO}})
print("AUTO with batch 1 -> range constraints:", dict(ep_auto.range_constraints))
try:
    ep_auto.module()(x)
except Exception as err:
    print(type(err).__name__, "|", str(err).splitlines()[0])
# the fix: an example whose dynamic dimension is at least 2
ep_fixed = export(net, (torch.randn(2, 1, 8, 8),), dynamic_shapes={"x": {0: Dim.AUTO}})
print("AUTO with batch 2 -> dynamic dims:", len(ep_fixed.range_constraints))
# --8<-- [end:zero_one_trap]


# --8<-- [start:strict_modes]
ep_strict = export(net, (x,), strict=True)  # TorchDynamo reads the bytecode
print("same ops strict / non-strict:", call_targets(ep_strict) == call_targets(ep))
for strict in (False, True):
    try:
        export(SignShift(), (torch.ones(3),), strict=strict)
    except Exception as err:
        print(f"strict={strict!s:5}", type(err).__name__, "| data-dependent:",
              "data-dependent" in str(err).lower())
# --8<-- [end:strict_modes]


# --8<-- [start:draft_export]
draft = torch.export.draft_export(SignShift(), (torch.ones(3),))
report = draft._report  # a DraftExportReport: what export() would have refused
print(len(report.failures), "failure(s):", [f.failure_type.name for f in report.failures])
print("runtime asserts in the graph:", "_assert_scalar" in call_targets(draft))
print("positive input:", draft.module()(torch.ones(3)))
try:
    draft.module()(neg)  # the branch taken while tracing was assumed, and is checked
except RuntimeError as err:
    print(type(err).__name__, "|", str(err).split(" for expression")[0])
# --8<-- [end:draft_export]


# --8<-- [start:cond]
class SignShiftCond(nn.Module):
    """SignShift with the branch as data: both sides go into the graph."""

    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda t: t + 1, lambda t: t - 1, (x,))


ep_cond = export(SignShiftCond(), (torch.ones(3),), dynamic_shapes={"x": {0: Dim("n")}})
print(call_targets(ep_cond))
print(sorted(name for name, _ in ep_cond.graph_module.named_children()))
cond_gm = ep_cond.module()
print(cond_gm(torch.ones(4)), cond_gm(-torch.ones(2)))
# --8<-- [end:cond]


# --8<-- [start:decompositions]
core = ep_dyn.run_decompositions()  # default table: to the core ATen operator set
before, after = op_counts(ep_dyn), op_counts(core)
print("Torch IR :", sorted(before))
print("core ATen:", sorted(after))
fig_path = draw_graphs(ep_dyn, core, OUT / "exported-graphs.png")
print(fig_path)
print(torch.allclose(core.module()(x), net(x), atol=1e-6))
# --8<-- [end:decompositions]


# --8<-- [start:save_load]
pt2 = OUT / "small_net.pt2"
torch.export.save(ep_dyn, pt2)  # a zip archive: graph, schema, weights
print(pt2, f"({pt2.stat().st_size // 1024} KiB)")
loaded = torch.export.load(pt2)
x3 = torch.randn(3, 1, 8, 8)
print("loaded == eager:", torch.allclose(loaded.module()(x3), net(x3), atol=1e-6))
# --8<-- [end:save_load]


# --8<-- [start:aoti_compile]
threads = torch.get_num_threads()
torch.set_num_threads(1)  # one thread per call, as a server of small models runs; compiled into the package
build = compile_package(ep_dyn, OUT / "small_net_aoti.pt2", "cpu")  # compiles, or copies a cached build
package, compile_s = str(build.path), build.compile_s  # seconds the compile took when it ran
print(package)
runner = torch._inductor.aoti_load_package(package)  # loads the shared library from the archive
x7 = torch.randn(7, 1, 8, 8)
with torch.inference_mode():
    print("AOTI == eager:", torch.allclose(runner(x7), net(x7), atol=1e-5), runner(x7).shape)
# --8<-- [end:aoti_compile]


# --8<-- [start:aoti_latency]
xb = torch.randn(32, 1, 8, 8)
eager_us = latency_us(net, (xb,), repeat=100)  # best of 100 calls
aoti_us = latency_us(runner, (xb,), repeat=100)
print(f"compile + package: {compile_s:.1f} s (when the package was built)")
print(f"eager nn.Module      {eager_us:7.1f} us per batch of 32 (best of 100)")
print(f"AOTInductor package  {aoti_us:7.1f} us per batch of 32 (best of 100)")
print(f"speed-up: {eager_us / aoti_us:.1f}x")
torch.set_num_threads(threads)  # back to the machine's default
# --8<-- [end:aoti_latency]


# --8<-- [start:mistake_call_program]
try:
    ep(x)  # an ExportedProgram is a container, not a module
except RuntimeError as err:
    print(err)
# --8<-- [end:mistake_call_program]


# --8<-- [start:mistake_dynamic_key]
try:
    export(net, (x,), dynamic_shapes={"inp": {0: batch}})  # forward's argument is `x`
except Exception as err:
    print(type(err).__name__, "|", str(err).split(". Alternatively")[0])
# --8<-- [end:mistake_dynamic_key]


# --8<-- [start:mistake_torch_load]
try:
    torch.load(pt2, weights_only=True)  # a .pt2 archive is not a torch.save checkpoint
except Exception as err:
    print(type(err).__name__, "|", str(err).split(": file not found")[0])
# --8<-- [end:mistake_torch_load]


# --8<-- [start:mistake_cond_alias]
class KeepOrNegate(nn.Module):
    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda t: t, lambda t: -t, (x,))  # `t` is the input


try:
    export(KeepOrNegate(), (torch.ones(3),))
except Exception as err:
    print(type(err).__name__, "| aliasing:", "aliasing" in str(err))
    print(next(line.strip() for line in str(err).splitlines() if "clone()" in line))
# --8<-- [end:mistake_cond_alias]
