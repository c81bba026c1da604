// Test helper: prints the training progress a checkpoint records ("progress {...}"), then one
// line per tensor of its weights, "NAME DTYPE SHAPE CRC32" with the CRC-32 of the tensor's bytes,
// so two runs compare bit for bit with diff.
//   zoo_weights CKPT
#include <zlib.h>

#include <cstdio>

#include "lib/core/checkpoint.h"
#include "lib/core/error.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: zoo_weights CKPT\n");
    return 2;
  }
  try {
    zoo::CheckpointReader reader(argv[1]);
    std::printf("progress %s\n", reader.meta().value("progress", zoo::Json()).dump().c_str());
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
