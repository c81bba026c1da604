// Catch2's main, with OpenBLAS's kernels chosen and the float32 products routed as zoo does
// (lib/core/blas_kernels.h, lib/core/onednn_matmul.h).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "lib/core/onednn_matmul.h"

int main(int argc, char** argv) {
  zoo::choose_cpu_kernels(argv);
  return Catch::Session().run(argc, argv);
}
