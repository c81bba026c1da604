// Test helper: prints the training progress a checkpoint records ("progress {...}"), then one
// line per tensor of its weights, "NAME DTYPE SHAPE CRC32" with the CRC-32 of the tensor's bytes,
// so two runs compare bit for bit with diff. With --diff, the largest relative difference of two
// checkpoints' floating-point weights, max|a - b| / max|b| per tensor, and the tensor it is in.
//   zoo_weights CKPT
//   zoo_weights --diff CKPT_A CKPT_B     (ZOO_DIFF_ALL=1: every tensor's ratio and scale on stderr)
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "lib/core/checkpoint.h"
#include "lib/core/error.h"

int diff(const char* path_a, const char* path_b) {
  const auto a = zoo::CheckpointReader(path_a).weights(), b = zoo::CheckpointReader(path_b).weights();
  double worst = 0, difference_squares = 0, squares = 0;
  std::string where = "(none)";
  for (const auto& [name, tensor] : b) {
    if (!a.count(name)) throw zoo::Error(std::string(path_a) + " has no " + name);
    if (!tensor.is_floating_point()) continue;
    const auto x = a.at(name).to(torch::kFloat64), y = tensor.to(torch::kFloat64);
    if (x.sizes() != y.sizes()) throw zoo::Error(name + " differs in shape");
    const double scale = y.abs().max().item<double>();
    const double relative = (x - y).abs().max().item<double>() / (scale > 0 ? scale : 1.0);
    difference_squares += (x - y).pow(2).sum().item<double>(), squares += y.pow(2).sum().item<double>();
    if (std::getenv("ZOO_DIFF_ALL")) std::fprintf(stderr, "%.3e %s max %.3e\n", relative, name.c_str(), scale);
    if (!(relative <= worst)) worst = relative, where = name;
  }
  // The whole model's: ||a - b|| / ||b|| over every floating-point weight, the measure for a
  // tensor that starts at zero and moved little (a BatchNorm bias after a step), where the
  // per-tensor ratio is the rounding of a cancelling sum over its own small size.
  std::printf("max_relative_difference %.3e %s\nrelative_difference %.3e\n", worst, where.c_str(),
              squares > 0 ? std::sqrt(difference_squares / squares) : 0.0);
  return 0;
}

int main(int argc, char** argv) {
  if (!(argc == 2 || (argc == 4 && std::string(argv[1]) == "--diff"))) {
    std::fprintf(stderr, "usage: zoo_weights CKPT | zoo_weights --diff CKPT_A CKPT_B\n");
    return 2;
  }
  try {
    if (argc == 4) return diff(argv[2], argv[3]);
    zoo::CheckpointReader reader(argv[1]);
    // The loop's state, without the wall-clock time it took (which no two runs share).
    zoo::Json progress = reader.meta().value("progress", zoo::Json());
    if (progress.is_object()) progress.erase("run_seconds");
    std::printf("progress %s\n", progress.dump().c_str());
    for (const auto& [name, tensor] : reader.weights()) {
      const auto bytes = tensor.contiguous();
      const uLong crc = ::crc32_z(::crc32(0L, Z_NULL, 0), static_cast<const Bytef*>(bytes.data_ptr()), bytes.numel() * bytes.element_size());
      std::string shape;
      for (auto size : tensor.sizes()) shape += (shape.empty() ? "" : "x") + std::to_string(size);
      std::printf("%s %s %s %08lx\n", name.c_str(), std::string(c10::toString(tensor.scalar_type())).c_str(), shape.c_str(), crc);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zoo_weights: %s\n", zoo::first_line(e.what()).c_str());
    return 1;
  }
}
