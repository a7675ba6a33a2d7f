// Lab 8.1: load an AOTInductor package (.pt2) from C++ and time it, with no Python in the process.
//
// Usage:
//   aoti_runner PACKAGE DEVICE THREADS ITERS INPUT SHAPE OUTPUT [INPUT SHAPE OUTPUT ...]
//
//   PACKAGE  the .pt2 file written by torch._inductor.aoti_compile_and_package
//   DEVICE   cpu or cuda (the device the package was compiled for)
//   THREADS  intra-op threads (0: libtorch's default), to match the Python process
//   ITERS    timed iterations per input, after 3 warm-up calls
//   INPUT    raw float32 values, little-endian, C order (what tensor.numpy().tofile() writes)
//   SHAPE    the input's shape, comma-separated: 4,1,8,8
//   OUTPUT   where the first output is written, raw float32 like INPUT
//
// For each input it prints one line that tutorials.lec08_torch_export.aoti_deploy parses:
//   result shape=4,10 sum=-1.234567 first=0.1,0.2,0.3 median_us=41.2 min_us=39.9 iters=50
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/torch.h>
// --8<-- [start:include]
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
// --8<-- [end:include]

namespace {

std::vector<int64_t> parse_shape(const std::string& text) {
  std::vector<int64_t> shape;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    shape.push_back(std::stoll(item));
  }
  if (shape.empty()) {
    throw std::invalid_argument("empty shape '" + text + "'");
  }
  return shape;
}

at::Tensor read_float32(const std::string& path, const std::vector<int64_t>& shape) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    throw std::runtime_error("cannot open input file '" + path + "'");
  }
  auto bytes = static_cast<int64_t>(in.tellg());
  at::Tensor t = torch::empty(shape, torch::kFloat32);
  if (bytes != t.numel() * 4) {
    throw std::runtime_error("input file '" + path + "' holds " + std::to_string(bytes) +
                             " bytes, the shape needs " + std::to_string(t.numel() * 4));
  }
  in.seekg(0);
  in.read(reinterpret_cast<char*>(t.data_ptr<float>()), bytes);
  return t;
}

void write_float32(const std::string& path, const at::Tensor& t) {
  at::Tensor c = t.to(torch::kCPU, torch::kFloat32).contiguous();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(c.data_ptr<float>()), c.numel() * 4);
}

std::string join(at::IntArrayRef values) {
  std::string s;
  for (size_t i = 0; i < values.size(); ++i) {
    s += (i ? "," : "") + std::to_string(values[i]);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 8 || (argc - 5) % 3 != 0) {
    std::fprintf(stderr,
                 "usage: %s PACKAGE DEVICE THREADS ITERS INPUT SHAPE OUTPUT [INPUT SHAPE OUTPUT ...]\n",
                 argv[0]);
    return 2;
  }
  try {
    const std::string package = argv[1];
    const torch::Device device(argv[2]);
    const int threads = std::stoi(argv[3]);
    const int iters = std::stoi(argv[4]);
    if (threads > 0) {
      at::set_num_threads(threads);
    }
    auto sync = [&] {
      if (device.is_cuda()) torch::cuda::synchronize();  // kernels run asynchronously
    };

    // --8<-- [start:load]
    torch::NoGradGuard no_grad;
    auto t0 = std::chrono::steady_clock::now();
    torch::inductor::AOTIModelPackageLoader loader(package);  // unzips the .pt2, dlopens its .so
    auto t1 = std::chrono::steady_clock::now();
    // --8<-- [end:load]
    std::printf("loaded %s in %.1f ms (%d threads)\n", package.c_str(),
                std::chrono::duration<double, std::milli>(t1 - t0).count(), at::get_num_threads());

    for (int a = 5; a + 2 < argc; a += 3) {
      at::Tensor x = read_float32(argv[a], parse_shape(argv[a + 1])).to(device);
      // --8<-- [start:run]
      std::vector<at::Tensor> inputs = {x};
      std::vector<at::Tensor> outputs = loader.run(inputs);  // same flat inputs as the export
      // --8<-- [end:run]
      for (int i = 0; i < 2; ++i) loader.run(inputs);  // warm-up (3 calls with the one above)
      sync();
      std::vector<double> us;
      for (int i = 0; i < iters; ++i) {
        auto start = std::chrono::steady_clock::now();
        outputs = loader.run(inputs);
        sync();
        us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                         .count());
      }
      std::sort(us.begin(), us.end());
      at::Tensor y = outputs.at(0).to(torch::kCPU);
      write_float32(argv[a + 2], y);
      at::Tensor flat = y.flatten().to(torch::kFloat64);
      std::string first;
      for (int64_t i = 0; i < std::min<int64_t>(3, flat.numel()); ++i) {
        first += (i ? "," : "") + std::to_string(flat[i].item<double>());
      }
      std::printf("result shape=%s sum=%.6f first=%s median_us=%.1f min_us=%.1f iters=%d\n",
                  join(y.sizes()).c_str(), y.sum().item<double>(), first.c_str(), us[us.size() / 2],
                  us.front(), iters);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aoti_runner: %s\n", e.what());
    return 1;
  }
  return 0;
}
