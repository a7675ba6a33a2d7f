// Lecture 9: the CUDA version of csrc/fused_bias_gelu_dropout.cpp, as a CUDA extension would hold it.
//
// Shown on the page to explain the structure of a CUDA extension (a __global__ kernel, its launch
// configuration, the index arithmetic, the bounds check, the stream and the error check, and the
// registration under the same operator name for the CUDA dispatch key). The course does not build
// it: it needs nvcc and a GPU. It would be built with torch.utils.cpp_extension.CUDAExtension (or
// load(..., sources=[...cpp, ...cu])) together with the C++ file, whose TORCH_LIBRARY block
// defines the schema this file adds a CUDA kernel to.

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>
#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace lec09 {

// --8<-- [start:kernel]
__host__ __device__ inline uint32_t hash32(uint32_t x) {  // the same hash as the CPU kernel
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x2c1b3c6dU;
  x ^= x >> 16;
  return x;
}

template <typename scalar_t>
__global__ void bias_gelu_dropout_kernel(const scalar_t* __restrict__ x, const scalar_t* __restrict__ bias,
                                         scalar_t* __restrict__ y, int64_t n, int64_t h, uint32_t key,
                                         uint32_t threshold, float scale) {
  // a grid-stride loop: any grid size covers all n elements, each element exactly once
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float z = static_cast<float>(x[i]) + static_cast<float>(bias[i % h]);  // bias of column i % h
    const float g = 0.5f * z * (1.0f + tanhf(0.7978845608f * (z + 0.044715f * z * z * z)));
    const bool kept = (hash32(static_cast<uint32_t>(i) ^ key) >> 8) >= threshold;
    y[i] = static_cast<scalar_t>(kept ? g * scale : 0.0f);  // one read of x, one write of y
  }
}
// --8<-- [end:kernel]

// --8<-- [start:launch]
at::Tensor bias_gelu_dropout_cuda(const at::Tensor& x, const at::Tensor& bias, double p, int64_t seed,
                                  bool training) {
  TORCH_CHECK(x.is_cuda() && bias.device() == x.device(), "bias_gelu_dropout: x and bias on one CUDA device");
  TORCH_CHECK(x.dim() == 2 && bias.dim() == 1 && bias.size(0) == x.size(1),
              "bias_gelu_dropout: x (N, H) and bias (H,), got ", x.sizes(), " and ", bias.sizes());
  TORCH_CHECK(p >= 0.0 && p <= 1.0, "bias_gelu_dropout: p must be in [0, 1], got ", p);
  const at::cuda::OptionalCUDAGuard guard(x.device());  // launch on x's GPU, not the current one
  const at::Tensor xc = x.contiguous(), bc = bias.contiguous();  // the kernel indexes flat memory
  at::Tensor y = at::empty_like(xc);
  const int64_t n = xc.numel();
  if (n == 0) return y;  // a grid of 0 blocks is a launch error
  const bool drop = training && p > 0.0;
  const uint32_t key = drop ? hash32(static_cast<uint32_t>(seed)) : 0u;
  const uint32_t threshold = drop ? static_cast<uint32_t>(std::ceil(p * 16777216.0)) : 0u;
  const float scale = drop ? (p < 1.0 ? static_cast<float>(1.0 / (1.0 - p)) : 0.0f) : 1.0f;
  const int threads = 256;  // a multiple of the warp size, 32
  const int blocks = static_cast<int>(std::min<int64_t>((n + threads - 1) / threads, 65535));
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();  // PyTorch's stream, not stream 0
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, xc.scalar_type(), "bias_gelu_dropout_cuda", [&] {
    bias_gelu_dropout_kernel<scalar_t><<<blocks, threads, 0, stream>>>(
        xc.const_data_ptr<scalar_t>(), bc.const_data_ptr<scalar_t>(), y.mutable_data_ptr<scalar_t>(), n,
        xc.size(1), key, threshold, scale);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();  // a bad launch configuration raises here, not somewhere later
  return y;
}

}  // namespace lec09

// the same operator as the CPU kernel: one more row in its dispatch table
TORCH_LIBRARY_IMPL(lec09_fused, CUDA, m) {
  m.impl("bias_gelu_dropout", &lec09::bias_gelu_dropout_cuda);
}
// --8<-- [end:launch]
