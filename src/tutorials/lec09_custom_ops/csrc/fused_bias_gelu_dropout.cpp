// Lecture 9: y = dropout(gelu_tanh(x + bias)) in ONE pass over memory, forward and backward.
//
// Built by tutorials.lec09_custom_ops.fused.load_extension() with
// torch.utils.cpp_extension.load_inline under one stable name, so every caller reuses one build.
//
// * x: (N, H), bias: (H,), float32 or float64 (float64 is for torch.autograd.gradcheck).
// * Dropout draws no random numbers from a generator: element i = row * H + col is kept when
//   hash32(uint32(i) ^ key) >> 8 >= threshold, a counter-based hash of (seed, index). The forward
//   and the backward recompute the same mask, so nothing is saved between them but x and bias
//   (no float mask, no bit mask), and the Python reference and the Triton kernel compute the same
//   mask with the same integer arithmetic.
// * Vectorisation: the GELU uses at::vec::Vectorized<scalar_t>, whose width follows what the
//   compiler targets (the build uses -march=native, see fused.py): 16 floats with AVX-512, 8 with
//   AVX2 + FMA, else ATen's portable fallback; tanh is SLEEF's, exported by libtorch_cpu. The hash
//   is a plain loop over uint32 that gcc -O3 auto-vectorises (-fopt-info-vec-optimized reports
//   "loop vectorized" for dropout_multipliers).
// * Parallelism: at::parallel_for over rows (OpenMP, the build passes -fopenmp).

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VL__)
#define CPU_CAPABILITY_AVX512  // Vectorized<float>: 16 lanes
#elif defined(__AVX2__) && defined(__FMA__)
#define CPU_CAPABILITY_AVX2  // Vectorized<float>: 8 lanes
#endif

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>
#include <torch/types.h>

#include <cmath>
#include <cstdint>

namespace lec09 {

// --8<-- [start:hash]
// A 32-bit integer hash (two multiply-xorshift rounds). The multipliers are below 2^31, so
// the PyTorch reference can compute the same bits in int64 without overflow.
inline uint32_t hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x2c1b3c6dU;
  x ^= x >> 16;
  return x;
}

// Keep element `index` when the top 24 bits of its hash are >= threshold = ceil(p * 2^24).
inline bool keep(int64_t index, uint32_t key, uint32_t threshold) {
  return (hash32(static_cast<uint32_t>(index) ^ key) >> 8) >= threshold;
}
// --8<-- [end:hash]

constexpr double kAlpha = 0.7978845608028654;  // sqrt(2 / pi)
constexpr double kBeta = 0.044715;

struct Dropout {
  uint32_t key;        // hash32(seed)
  uint32_t threshold;  // ceil(p * 2^24); 0 keeps everything
  double scale;        // 1 / (1 - p); 0 when p == 1
};

Dropout make_dropout(double p, int64_t seed, bool training) {
  TORCH_CHECK(p >= 0.0 && p <= 1.0, "bias_gelu_dropout: p must be in [0, 1], got ", p);
  if (!training || p == 0.0) {
    return {0, 0, 1.0};
  }
  const auto threshold = static_cast<uint32_t>(std::ceil(p * 16777216.0));
  return {hash32(static_cast<uint32_t>(seed)), threshold, p < 1.0 ? 1.0 / (1.0 - p) : 0.0};
}

void check_inputs(const at::Tensor& x, const at::Tensor& bias, const char* op) {
  TORCH_CHECK(x.device().is_cpu() && bias.device().is_cpu(), op, ": this kernel runs on CPU tensors, got x on ",
              x.device(), " and bias on ", bias.device());
  TORCH_CHECK(x.dim() == 2, op, ": x must be 2-D (N, H), got shape ", x.sizes());
  TORCH_CHECK(bias.dim() == 1 && bias.size(0) == x.size(1), op, ": bias must have shape (H,) = (", x.size(1),
              ",) for x of shape ", x.sizes(), ", got ", bias.sizes());
  TORCH_CHECK(x.scalar_type() == bias.scalar_type(), op, ": x and bias must have one dtype, got ",
              x.scalar_type(), " and ", bias.scalar_type());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op,
              ": float32 or float64 only, got ", x.scalar_type());
}

// Multipliers of one chunk of a row: scale where the element is kept, 0 where it is dropped.
// A plain loop over uint32 arithmetic: gcc -O3 vectorises it (no intrinsics needed).
template <typename scalar_t>
inline void dropout_multipliers(scalar_t* out, int64_t first_index, int64_t count, const Dropout& d) {
  const auto scale = static_cast<scalar_t>(d.scale);
  for (int64_t j = 0; j < count; ++j) {
    out[j] = keep(first_index + j, d.key, d.threshold) ? scale : scalar_t(0);
  }
}

// --8<-- [start:forward_kernel]
template <typename scalar_t>
void forward_rows(const scalar_t* x, const scalar_t* b, scalar_t* y, int64_t n, int64_t h, const Dropout& d) {
  using Vec = at::vec::Vectorized<scalar_t>;
  constexpr int64_t L = Vec::size();  // 16 floats with AVX-512, 8 with AVX2
  const Vec half(0.5), one(1.0), alpha(kAlpha), beta(kBeta);
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(h, 1));  // ~32K elements a task
  at::parallel_for(0, n, grain, [&](int64_t row_begin, int64_t row_end) {
    alignas(64) scalar_t mult[L];
    for (int64_t r = row_begin; r < row_end; ++r) {
      for (int64_t c = 0; c < h; c += L) {
        const int64_t count = std::min(L, h - c);  // the last chunk of a row may be partial
        const int64_t i = r * h + c;
        const Vec z = Vec::loadu(x + i, count) + Vec::loadu(b + c, count);  // bias add
        const Vec t = (alpha * (z + beta * z * z * z)).tanh();
        const Vec g = half * z * (one + t);  // gelu, tanh approximation
        if (d.threshold == 0 && d.scale == 1.0) {
          g.store(y + i, count);  // eval mode or p == 0: no dropout
        } else {
          dropout_multipliers(mult, i, count, d);
          (g * Vec::loadu(mult, count)).store(y + i, count);  // dropout: * scale or * 0
        }
      }
    }
  });
}
// --8<-- [end:forward_kernel]

// --8<-- [start:backward_kernel]
// d/dz gelu(z) = 0.5 (1 + t) + 0.5 z (1 - t^2) alpha (1 + 3 beta z^2),  t = tanh(alpha (z + beta z^3))
template <typename scalar_t>
void backward_rows(const scalar_t* grad, const scalar_t* x, const scalar_t* b, scalar_t* gx, int64_t n,
                   int64_t h, const Dropout& d) {
  using Vec = at::vec::Vectorized<scalar_t>;
  constexpr int64_t L = Vec::size();
  const Vec half(0.5), one(1.0), alpha(kAlpha), beta(kBeta), three_beta(3.0 * kBeta);
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(h, 1));
  at::parallel_for(0, n, grain, [&](int64_t row_begin, int64_t row_end) {
    alignas(64) scalar_t mult[L];
    for (int64_t r = row_begin; r < row_end; ++r) {
      for (int64_t c = 0; c < h; c += L) {
        const int64_t count = std::min(L, h - c);
        const int64_t i = r * h + c;
        const Vec z = Vec::loadu(x + i, count) + Vec::loadu(b + c, count);  // recomputed, not saved
        const Vec t = (alpha * (z + beta * z * z * z)).tanh();
        const Vec dgelu = half * (one + t) + half * z * (one - t * t) * alpha * (one + three_beta * z * z);
        Vec g = Vec::loadu(grad + i, count) * dgelu;
        if (!(d.threshold == 0 && d.scale == 1.0)) {
          dropout_multipliers(mult, i, count, d);  // the forward's mask, recomputed from the hash
          g = g * Vec::loadu(mult, count);
        }
        g.store(gx + i, count);
      }
    }
  });
}
// --8<-- [end:backward_kernel]

// --8<-- [start:ops]
at::Tensor bias_gelu_dropout(const at::Tensor& x, const at::Tensor& bias, double p, int64_t seed,
                             bool training) {
  check_inputs(x, bias, "bias_gelu_dropout");
  const Dropout d = make_dropout(p, seed, training);
  const at::Tensor xc = x.contiguous(), bc = bias.contiguous();
  at::Tensor y = at::empty_like(xc);
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "bias_gelu_dropout", [&] {
    forward_rows<scalar_t>(xc.const_data_ptr<scalar_t>(), bc.const_data_ptr<scalar_t>(),
                           y.mutable_data_ptr<scalar_t>(), xc.size(0), xc.size(1), d);
  });
  return y;
}

at::Tensor bias_gelu_dropout_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& bias,
                                      double p, int64_t seed, bool training) {
  check_inputs(x, bias, "bias_gelu_dropout_backward");
  TORCH_CHECK(grad.sizes() == x.sizes() && grad.scalar_type() == x.scalar_type(),
              "bias_gelu_dropout_backward: grad must match x (", x.sizes(), ", ", x.scalar_type(),
              "), got ", grad.sizes(), ", ", grad.scalar_type());
  const Dropout d = make_dropout(p, seed, training);
  const at::Tensor gc = grad.contiguous(), xc = x.contiguous(), bc = bias.contiguous();
  at::Tensor gx = at::empty_like(xc);
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "bias_gelu_dropout_backward", [&] {
    backward_rows<scalar_t>(gc.const_data_ptr<scalar_t>(), xc.const_data_ptr<scalar_t>(),
                            bc.const_data_ptr<scalar_t>(), gx.mutable_data_ptr<scalar_t>(), xc.size(0),
                            xc.size(1), d);
  });
  return gx;
}

}  // namespace lec09

// The schema is the contract every backend, the fake (meta) kernel and autograd agree on.
TORCH_LIBRARY(lec09_fused, m) {
  m.def("bias_gelu_dropout(Tensor x, Tensor bias, float p, int seed, bool training) -> Tensor");
  m.def("bias_gelu_dropout_backward(Tensor grad, Tensor x, Tensor bias, float p, int seed, "
        "bool training) -> Tensor");
}

TORCH_LIBRARY_IMPL(lec09_fused, CPU, m) {
  m.impl("bias_gelu_dropout", &lec09::bias_gelu_dropout);
  m.impl("bias_gelu_dropout_backward", &lec09::bias_gelu_dropout_backward);
}
// --8<-- [end:ops]
