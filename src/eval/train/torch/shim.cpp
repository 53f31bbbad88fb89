// The few libtorch functions the tch crate does not expose, as plain C functions
// (src/eval/train/torch/mod.rs declares them). Compiled by build.rs with the `tch` feature.
// No C++ exception crosses into Rust: failures return non-zero and leave a message.
#include <string>
#include <vector>

#include <ATen/Context.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/_fused_adam.h>
#include <ATen/ops/_fused_sgd.h>
#if __has_include(<torch/headeronly/version.h>)
#include <torch/headeronly/version.h>
#else
#include <torch/version.h>
#endif

static thread_local std::string evonas_error;

extern "C" {

// The libtorch version these headers belong to, e.g. "2.9.0".
const char* evonas_torch_version() { return TORCH_VERSION; }

// The message of this thread's last failed call.
const char* evonas_torch_error() { return evonas_error.c_str(); }

// cuDNN's autotuner (fastest kernels, chosen per shape on first use) and deterministic
// algorithms (same results run to run, at some speed). Deterministic wins over benchmark.
void evonas_torch_kernels(int benchmark, int deterministic) {
  auto& ctx = at::globalContext();
  ctx.setDeterministicCuDNN(deterministic != 0);
  ctx.setDeterministicAlgorithms(deterministic != 0, false);
  ctx.setBenchmarkCuDNN(benchmark != 0 && deterministic == 0);
}

// One SGD step over every parameter that has a gradient, in PyTorch's fused kernel (the
// formulas of torch.optim.SGD, dampening 0; buffers start at zero, which with dampening 0 is
// PyTorch's first step), then the gradients are dropped (PyTorch's zero_grad(set_to_none)).
int evonas_sgd_step(at::Tensor** params, at::Tensor** buffers, int n, double weight_decay,
                    double momentum, double lr, int nesterov) {
  try {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> p, g, b;
    for (int i = 0; i < n; ++i) {
      const at::Tensor& grad = params[i]->grad();
      if (!grad.defined()) continue;
      p.push_back(*params[i]);
      g.push_back(grad);
      if (momentum > 0) b.push_back(*buffers[i]);
    }
    if (!p.empty()) {
      at::_fused_sgd_(p, g, b, weight_decay, momentum, lr, 0.0, nesterov != 0, false, false);
    }
    for (int i = 0; i < n; ++i) params[i]->mutable_grad().reset();
    return 0;
  } catch (const std::exception& e) {
    evonas_error = e.what();
    return 1;
  }
}

// One Adam step (torch.optim.Adam's formulas, L2 weight decay), then the gradients are dropped.
int evonas_adam_step(at::Tensor** params, at::Tensor** first, at::Tensor** second,
                     at::Tensor** steps, int n, double lr, double beta1, double beta2,
                     double weight_decay, double eps) {
  try {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> p, g, m, v, s;
    for (int i = 0; i < n; ++i) {
      const at::Tensor& grad = params[i]->grad();
      if (!grad.defined()) continue;
      p.push_back(*params[i]);
      g.push_back(grad);
      m.push_back(*first[i]);
      v.push_back(*second[i]);
      s.push_back(*steps[i]);
    }
    // As torch.optim.Adam does: the kernel reads the step count, the caller advances it.
    for (auto& step : s) step.add_(1);
    if (!p.empty()) {
      at::_fused_adam_(p, g, m, v, {}, s, lr, beta1, beta2, weight_decay, eps, false, false);
    }
    for (int i = 0; i < n; ++i) params[i]->mutable_grad().reset();
    return 0;
  } catch (const std::exception& e) {
    evonas_error = e.what();
    return 1;
  }
}

}
