"""Lecture 27: contributing to PyTorch core and the compiler stack.

The code of the chapter ``docs/lectures/27-contributing.md``, in the order the page
shows it. Run it top to bottom with ``python -m tutorials.lec27_contributing.chapter``;
it builds one C++ extension (``csrc/softcap.cpp``), runs one Inductor compile, and
writes its files into ``lec27/`` under the current directory.
"""

# --8<-- [start:imports]
import logging
import re
from pathlib import Path

import torch
import torch.nn.functional as F

from tutorials.lec27_contributing.pipeline import capture_stages, draw_pipeline
from tutorials.lec27_contributing.repo_tour import operator_namespaces, packaged_yaml, yaml_entry
from tutorials.lec27_contributing.softcap_op import (
    SCHEMA,
    build_softcap,
    reference_softcap,
    sample_inputs_softcap,
)

torch.manual_seed(0)
OUT = Path("lec27")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)
# --8<-- [end:imports]

# --8<-- [start:registry]
per_namespace = operator_namespaces()
print("operator overloads in the dispatcher > 3000:", sum(per_namespace.values()) > 3000)
print("of them in aten > 2500:", per_namespace["aten"] > 2500)
print(torch.ops.aten.gelu.default._schema)
# --8<-- [end:registry]

# --8<-- [start:yaml_sources]
native = packaged_yaml("native_functions.yaml").read_text(encoding="utf-8")
derivatives = packaged_yaml("derivatives.yaml").read_text(encoding="utf-8")
gelu_native = yaml_entry(native, "gelu").splitlines()
print("\n".join(gelu_native[:2] + [line for line in gelu_native if "tags:" in line]))
print(yaml_entry(derivatives, "gelu", key="name"))
print(yaml_entry(derivatives, "tanh", key="name"))
# --8<-- [end:yaml_sources]

# --8<-- [start:build]
ext = build_softcap()  # load_inline: ~20 s to 2 min the first time, ~2 s once cached
softcap = torch.ops.course27.softcap
print(softcap.default._schema)
print("as written in the C++ source:", str(softcap.default._schema) == f"course27::{SCHEMA}")
x = torch.tensor([-10.0, -1.0, 0.0, 0.5, 10.0])
print(softcap(x, 2.0))
print("matches the reference:", torch.allclose(softcap(x, 2.0), reference_softcap(x, 2.0)))
# --8<-- [end:build]

# --8<-- [start:fake_and_autograd]
@torch.library.register_fake("course27::softcap")
def _softcap_fake(self, cap):
    # the meta function: output metadata only, no data (what structured kernels derive)
    return torch.empty_like(self, memory_format=torch.contiguous_format)


def _softcap_setup_context(ctx, inputs, output):
    self, cap = inputs
    ctx.cap = cap
    ctx.save_for_backward(output)  # the formula uses `result`, like tanh's


def _softcap_backward(ctx, grad):
    # derivatives.yaml:  self: grad * (1 - (result / cap).pow(2))
    (result,) = ctx.saved_tensors
    return grad * (1 - (result / ctx.cap).pow(2)), None  # no gradient for the float `cap`


torch.library.register_autograd(
    "course27::softcap", _softcap_backward, setup_context=_softcap_setup_context)
has_kernel = torch._C._dispatch_has_kernel_for_dispatch_key
print({key: has_kernel("course27::softcap", key) for key in ("CPU", "Meta", "Autograd", "CUDA")})
# --8<-- [end:fake_and_autograd]

# --8<-- [start:opinfo_tests]
rows = []
for dtype in (torch.float32, torch.float64, torch.bfloat16):
    for s in sample_inputs_softcap(dtype):
        got, want = softcap(s.input, *s.args), reference_softcap(s.input, *s.args)
        torch.testing.assert_close(got, want)  # dtype-aware default tolerances
        assert got.shape == s.input.shape and got.dtype == dtype
    rows.append(f"{str(dtype):15} {len(list(sample_inputs_softcap(dtype)))} samples match the reference")
opchecked = ("0-d", "empty", "transposed")  # opcheck traces the op: a few samples suffice
for s in sample_inputs_softcap(torch.float64, requires_grad=True):
    assert torch.autograd.gradcheck(softcap, (s.input, *s.args)), s.name
    if s.name in opchecked:
        result = torch.library.opcheck(softcap.default, (s.input, *s.args))
        assert set(result.values()) == {"SUCCESS"}, (s.name, result)
rows.append(f"gradcheck passed on: {[s.name for s in sample_inputs_softcap(torch.float64)]}")
rows.append(f"opcheck passed on: {list(opchecked)}")
print("\n".join(rows))
# --8<-- [end:opinfo_tests]

# --8<-- [start:compile_op]
def capped_logits(h, w):
    return softcap(h @ w, 5.0).log_softmax(dim=-1)


h = torch.randn(4, 8)
w = torch.randn(8, 6, requires_grad=True)
compiled = torch.compile(capped_logits, backend="aot_eager", fullgraph=True)
g_eager = torch.autograd.grad(capped_logits(h, w).sum(), w)[0]
g_compiled = torch.autograd.grad(compiled(h, w).sum(), w)[0]
print("values and gradients match eager:",
      torch.allclose(compiled(h, w), capped_logits(h, w), atol=1e-6)
      and torch.allclose(g_compiled, g_eager, atol=1e-6))
# --8<-- [end:compile_op]

# --8<-- [start:explain]
def noisy(x):
    y = torch.sin(x) * 2
    print("a side effect")  # Dynamo cannot put print in a graph: graph break
    return torch.cos(y) + 1


report = torch._dynamo.explain(noisy)(torch.randn(3))
print("graphs:", report.graph_count, "| breaks:", report.graph_break_count,
      "| ops per graph:", [sum(n.op == "call_function" for n in g.graph.nodes) for g in report.graphs])
print("reason:", report.break_reasons[0].reason.splitlines()[0])
# --8<-- [end:explain]

# --8<-- [start:fullgraph]
def first_line(err):
    return f"{type(err).__name__}: {str(err).splitlines()[0]}"


try:
    torch.compile(noisy, backend="eager", fullgraph=True)(torch.randn(3))
except torch._dynamo.exc.Unsupported as err:
    print("fullgraph=True        ->", first_line(err))

torch._dynamo.reset()
if hasattr(torch._dynamo, "error_on_graph_break"):  # PyTorch >= 2.9
    with torch._dynamo.error_on_graph_break(True):
        try:
            torch.compile(noisy, backend="eager")(torch.randn(3))
        except torch._dynamo.exc.Unsupported as err:
            print("error_on_graph_break ->", first_line(err))
# --8<-- [end:fullgraph]

# --8<-- [start:recompiles]
compiled_graphs = []


def counting_backend(gm, example_inputs):
    compiled_graphs.append(len(gm.graph.nodes))
    return gm.forward  # run the graph as it is: we only want to count


class Recompiles(logging.Handler):
    """Keeps what TORCH_LOGS="recompiles" prints: the first failed guard of each recompile."""

    def __init__(self):
        super().__init__()
        self.reasons = []

    def emit(self, record):
        failed = [ln for ln in record.getMessage().splitlines() if re.match(r"\s*- \d+/\d+:", ln)]
        self.reasons.append(failed[0].split("#")[0].strip(" -"))


def scale(x, k):
    return (x * k).sin()


torch._dynamo.reset()
recompiles = Recompiles()
torch._logging.set_logs(recompiles=True)  # = TORCH_LOGS="recompiles" (also printed to stderr)
logging.getLogger("torch._dynamo.guards.__recompiles").addHandler(recompiles)
scaled = torch.compile(scale, backend=counting_backend)
calls = [(4, 2), (4, 2), (4, 3), (8, 3), (16, 7), (16, 7, torch.float64)]
for size, k, *dtype in calls:
    scaled(torch.randn(size, dtype=dtype[0] if dtype else torch.float32), k)
torch._logging.set_logs()  # back to the default
logging.getLogger("torch._dynamo.guards.__recompiles").removeHandler(recompiles)
print(f"{len(calls)} calls, {len(compiled_graphs)} compiles")
for reason in recompiles.reasons:
    print(" recompiled because", reason)
# --8<-- [end:recompiles]

# --8<-- [start:stages]
def block(x, w):
    h = F.gelu(x @ w)
    return (h * torch.sigmoid(h)).sum(dim=-1)


xb, wb = torch.randn(8, 16), torch.randn(16, 32, requires_grad=True)
stages = capture_stages(block, xb, wb)
for name, targets in stages.items():
    print(f"{name:9} {len(targets):2} ops:", ", ".join(targets))
# --8<-- [end:stages]

# --8<-- [start:inductor]
from torch._inductor.utils import run_and_get_code  # noqa: E402

torch._dynamo.reset()
# fx_graph_cache=False: in torch 2.14.1 that cache's key omits the vector ISA (see the text);
# the C++ kernel's own compile cache, keyed by source and compiler flags, still applies
with torch.no_grad(), torch._inductor.config.patch(fx_graph_cache=False):
    out, (source,) = run_and_get_code(torch.compile(block), xb, wb)  # the page's one Inductor compile
code_path = OUT / "inductor_output_code.py"
code_path.write_text(source, encoding="utf-8")
kernels = sorted(set(re.findall(r"^(cpp_fused_\w+) = async_compile", source, flags=re.M)))
extern = re.findall(r"extern_kernels\.(\w+)\(", source)
# float32 sums in another order (vector lanes, threads): equal to ~1e-6 relative
print("same result as eager:", torch.allclose(out, block(xb, wb), rtol=1e-4, atol=1e-4))
print("fused C++ kernels:", kernels)
print("library calls:", extern)
print('a C++ function `extern "C" void kernel(...)`:', 'extern "C"' in source)
print("wrote", code_path)
# --8<-- [end:inductor]

# --8<-- [start:figure]
counts = {"dynamo": len(stages["dynamo"]), "forward": len(stages["forward"]),
          "backward": len(stages["backward"]), "kernels": len(kernels), "extern": len(extern)}
print("wrote", draw_pipeline(counts, OUT / "compile-pipeline.png"))
# --8<-- [end:figure]

# --8<-- [start:mistake_signature]
try:
    ext.register_wrong_signature()  # m.impl("softcap", fn taking int64_t cap) at run time
except RuntimeError as err:
    lines = [line.strip() for line in str(err).strip().splitlines()]
    print("\n".join(line for line in lines if not line.startswith("registered at")))
# --8<-- [end:mistake_signature]

# --8<-- [start:mistake_fake]
lib = torch.library.Library("course27", "FRAGMENT")
lib.define("softcap_nofake(Tensor self, float cap) -> Tensor")
lib.impl("softcap_nofake", lambda self, cap: softcap(self, cap), "CPU")  # a CPU kernel, no fake

try:
    torch.compile(lambda t: torch.ops.course27.softcap_nofake(t, 2.0), fullgraph=True,
                  backend="eager")(torch.randn(3))
except torch._dynamo.exc.Unsupported as err:
    print(first_line(err))
# --8<-- [end:mistake_fake]

# --8<-- [start:mistake_derivative]
class SoftcapWrongGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t, cap):
        result = softcap(t, cap)
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx, grad):
        (result,) = ctx.saved_tensors
        return grad * (1 - result.pow(2)), None  # forgot to divide result by cap


t = torch.randn(5, dtype=torch.float64, requires_grad=True)
print("cap = 1:", torch.autograd.gradcheck(SoftcapWrongGrad.apply, (t, 1.0)))  # the bug hides
try:
    torch.autograd.gradcheck(SoftcapWrongGrad.apply, (t, 3.0))
except RuntimeError as err:  # torch.autograd.gradcheck.GradcheckError
    print("cap = 3:", str(err).splitlines()[0])
# --8<-- [end:mistake_derivative]

# --8<-- [start:mistake_input]
for bad in [(torch.randn(3), -1.0), (torch.arange(3), 2.0)]:
    try:
        softcap(*bad)
    except RuntimeError as err:
        print(str(err).splitlines()[0])
# --8<-- [end:mistake_input]
