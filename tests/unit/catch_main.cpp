// Catch2's main, with OpenBLAS's kernels chosen as zoo chooses them (lib/core/blas_kernels.h).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "lib/core/blas_kernels.h"

int main(int argc, char** argv) {
  zoo::choose_blas_kernels(argv);
  return Catch::Session().run(argc, argv);
}
