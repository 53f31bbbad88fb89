// The few libtorch settings the tch crate does not expose, as plain C functions
// (src/eval/train/torch/mod.rs declares them). Compiled by build.rs with the `tch` feature.
#include <ATen/Context.h>
#if __has_include(<torch/headeronly/version.h>)
#include <torch/headeronly/version.h>
#else
#include <torch/version.h>
#endif

extern "C" {

// The libtorch version these headers belong to, e.g. "2.13.0".
const char* evonas_torch_version() { return TORCH_VERSION; }

// cuDNN's autotuner (fastest kernels, chosen per shape on first use) and deterministic
// algorithms (same results run to run, at some speed). Deterministic wins over benchmark.
void evonas_torch_kernels(int benchmark, int deterministic) {
  auto& ctx = at::globalContext();
  ctx.setDeterministicCuDNN(deterministic != 0);
  ctx.setDeterministicAlgorithms(deterministic != 0, false);
  ctx.setBenchmarkCuDNN(benchmark != 0 && deterministic == 0);
}

}
