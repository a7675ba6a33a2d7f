// Lecture 27's hypothetical PR: course27::softcap(x, cap) = cap * tanh(x / cap), out of tree.
// Built once by tutorials.lec27_contributing.softcap_op.build_softcap (torch.utils.cpp_extension.load_inline).
#include <cmath>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/extension.h>
#include <torch/library.h>

// --8<-- [start:kernel]
// The CPU kernel: what would go in aten/src/ATen/native/SoftCap.cpp.
at::Tensor softcap_cpu(const at::Tensor& self, double cap) {
  TORCH_CHECK(cap > 0, "softcap: cap must be positive, got ", cap);
  TORCH_CHECK(self.is_floating_point(), "softcap: expected a floating-point tensor, got ", self.scalar_type());
  const at::Tensor x = self.contiguous();       // any strides in, dense loop inside
  at::Tensor out = at::empty_like(x, at::MemoryFormat::Contiguous);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "softcap_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;     // float for bfloat16/half, as ATen's kernels do
    const scalar_t* in = x.const_data_ptr<scalar_t>();
    scalar_t* res = out.mutable_data_ptr<scalar_t>();
    const acc_t c = static_cast<acc_t>(cap);
    at::parallel_for(0, x.numel(), 2048, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        res[i] = static_cast<scalar_t>(c * std::tanh(static_cast<acc_t>(in[i]) / c));
      }
    });
  });
  return out;
}
// --8<-- [end:kernel]

// --8<-- [start:register]
// The schema: the line a PR adds to native_functions.yaml (`func:`), here in a TORCH_LIBRARY block.
TORCH_LIBRARY(course27, m) {
  m.def("softcap(Tensor self, float cap) -> Tensor");
}
// The kernel for one dispatch key: what `dispatch: CPU: softcap_cpu` generates in-tree.
TORCH_LIBRARY_IMPL(course27, CPU, m) {
  m.impl("softcap", &softcap_cpu);
}
// --8<-- [end:register]

// --8<-- [start:wrong_signature]
// A kernel whose C++ signature disagrees with the schema (int64_t where the schema says float).
at::Tensor softcap_int_cap(const at::Tensor& self, int64_t cap) {
  return softcap_cpu(self, static_cast<double>(cap));
}

// Registers it at run time, so that the error is raised here instead of when the library loads.
void register_wrong_signature() {
  torch::Library lib(torch::Library::IMPL, "course27", c10::DispatchKey::CPU, __FILE__, __LINE__);
  lib.impl("softcap", &softcap_int_cap);
}
// --8<-- [end:wrong_signature]
