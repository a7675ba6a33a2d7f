// Lecture 11: a model defined and trained with PyTorch's C++ frontend (libtorch).
//
// Two moons, generated here from a fixed seed; an MLP (a torch::nn::Module with
// register_module) trained full-batch with torch::optim::Adam; the loss every 50 steps,
// the held-out accuracy, and (with --save PATH) the weights written with
// torch::pickle_save, which Python reads back with torch.load(PATH, weights_only=True).
//
// Built by tutorials.lec11_func_cpp.cpp_frontend (g++ through tutorials.core.cpp_build)
// or with the CMakeLists.txt next to this file.
//
// Usage: mlp_train [--steps N] [--seed S] [--save PATH]

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

// --8<-- [start:model]
// A module is a struct deriving from torch::nn::Module; each child is registered by name,
// so parameters(), named_parameters(), to(device) and serialisation see it, as in Python.
struct MLP : torch::nn::Module {
  MLP(int64_t in, int64_t hidden, int64_t out)
      : fc1(register_module("fc1", torch::nn::Linear(in, hidden))),
        fc2(register_module("fc2", torch::nn::Linear(hidden, hidden))),
        fc3(register_module("fc3", torch::nn::Linear(hidden, out))) {}

  torch::Tensor forward(torch::Tensor x) {
    x = torch::tanh(fc1->forward(x));
    x = torch::tanh(fc2->forward(x));
    return fc3->forward(x);  // one logit per point
  }

  torch::nn::Linear fc1, fc2, fc3;  // holders: shared pointers to LinearImpl
};
// --8<-- [end:model]

// --8<-- [start:data]
// Two interleaved half circles with Gaussian noise; label 0 = upper moon, 1 = lower moon.
std::pair<torch::Tensor, torch::Tensor> two_moons(int64_t n, double noise) {
  auto t = torch::rand({n}) * M_PI;
  auto label = torch::randint(0, 2, {n}, torch::kLong);
  auto upper = torch::stack({torch::cos(t), torch::sin(t)}, 1);
  auto lower = torch::stack({1 - torch::cos(t), 0.5 - torch::sin(t)}, 1);
  auto x = torch::where(label.unsqueeze(1) == 0, upper, lower) + noise * torch::randn({n, 2});
  return {x, label.to(torch::kFloat).unsqueeze(1)};
}
// --8<-- [end:data]

int main(int argc, char** argv) {
  int64_t steps = 300;
  uint64_t seed = 0;
  std::string save_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--steps" || arg == "--seed" || arg == "--save") && i + 1 < argc) {
      std::string value = argv[++i];
      if (arg == "--steps") steps = std::stoll(value);
      if (arg == "--seed") seed = std::stoull(value);
      if (arg == "--save") save_path = value;
    } else {
      std::cerr << "mlp_train: unknown or incomplete argument '" << arg
                << "' (usage: mlp_train [--steps N] [--seed S] [--save PATH])\n";
      return 2;
    }
  }
  if (steps < 1) {
    std::cerr << "mlp_train: --steps must be >= 1, got " << steps << "\n";
    return 2;
  }

  // --8<-- [start:train]
  torch::manual_seed(seed);
  torch::set_num_threads(1);  // the same sums in the same order on every machine
  auto [x_train, y_train] = two_moons(256, 0.2);
  auto [x_test, y_test] = two_moons(256, 0.2);

  auto model = std::make_shared<MLP>(2, 16, 1);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(0.01));

  for (int64_t step = 0; step <= steps; ++step) {
    optimizer.zero_grad();
    auto loss = torch::binary_cross_entropy_with_logits(model->forward(x_train), y_train);
    if (step % 50 == 0 || step == steps) {
      std::printf("step %4lld  loss %.4f\n", static_cast<long long>(step), loss.item<double>());
    }
    if (step == steps) break;  // the last line reports the trained model's loss
    loss.backward();
    optimizer.step();
  }

  torch::NoGradGuard no_grad;  // evaluation: no graph is recorded
  model->eval();
  auto predicted = (model->forward(x_test) > 0).to(torch::kFloat);
  auto correct = (predicted == y_test).sum().item<int64_t>();
  std::printf("test accuracy %.4f (%lld/%lld)\n", static_cast<double>(correct) / x_test.size(0),
              static_cast<long long>(correct), static_cast<long long>(x_test.size(0)));
  // --8<-- [end:train]

  int64_t n_parameters = 0;
  for (const auto& p : model->parameters()) n_parameters += p.numel();
  std::printf("parameters %lld\n", static_cast<long long>(n_parameters));

  if (!save_path.empty()) {
    // --8<-- [start:save]
    // torch.save's zip format, as a pair (names, tensors) of tuples: Python reads it with
    // torch.load(path, weights_only=True). (A c10::Dict would be pickled with a TorchScript
    // type tag, which weights_only=True refuses.)
    std::vector<c10::IValue> names, tensors;
    for (const auto& item : model->named_parameters()) {
      names.emplace_back(item.key());
      tensors.emplace_back(item.value());
    }
    names.emplace_back("x_test"), tensors.emplace_back(x_test);
    names.emplace_back("y_test"), tensors.emplace_back(y_test);
    auto archive = c10::ivalue::Tuple::create(
        {c10::ivalue::Tuple::create(names), c10::ivalue::Tuple::create(tensors)});
    std::vector<char> bytes = torch::pickle_save(archive);
    std::ofstream out(save_path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    // --8<-- [end:save]
    if (!out) {
      std::cerr << "mlp_train: cannot write " << save_path << "\n";
      return 1;
    }
    std::printf("saved %zu tensors to %s\n", tensors.size(), save_path.c_str());
  }
  return 0;
}
