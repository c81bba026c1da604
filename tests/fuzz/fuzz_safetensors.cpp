// Fuzz target: a safetensors file's header (lib/export/safetensors_format.h): its length, its
// JSON, each tensor's dtype, shape and offsets, and the tiling of the data.
#include "lib/export/safetensors_format.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  fuzz::expect_only_zoo_errors([&] {
    const auto header = safetensors::parse_header(bytes, "input.safetensors");
    // What was accepted lies inside the file, tensor by tensor.
    for (const auto& e : header.entries)
      if (header.data_start + e.end > bytes.size()) __builtin_trap();
  });
  return 0;
}
