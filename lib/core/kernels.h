// What a unit with zoo's own parallel CPU kernels includes (lib/nn/attention_kernels.cpp,
// lib/nn/cross_entropy.cpp, lib/nn/fused_attention.cpp, lib/nn/lstm_sequence.cpp, lib/train/fused_optim.cpp;
// CMakeLists.txt's ZOO_OPENMP_SOURCES):
// ATen's at::parallel_for, which splits a loop between threads only in a unit compiled with
// OpenMP (without it, every call runs on one thread, silently), and the switch that sends a
// kernel back to LibTorch's unfused path for a before/after measurement.
#pragma once
#include <ATen/Parallel.h>

#include "lib/core/env.h"  // env_is, for the switches back to LibTorch's path

#ifndef _OPENMP
#error "compile with -fopenmp (CMakeLists.txt, ZOO_OPENMP_SOURCES): without it at::parallel_for runs this unit's kernels on one thread"
#endif
