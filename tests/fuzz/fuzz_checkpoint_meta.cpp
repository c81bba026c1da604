// Fuzz target: a checkpoint file before LibTorch reads it (lib/core/checkpoint_file.h): the zip
// end record and seal check on the input as a file, and the meta record's validation on the
// input as text.
#include "lib/core/checkpoint_file.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  const std::string path = fuzz::write_scratch("meta.ckpt", data, size);
  zip_damage(path);
  fuzz::expect_only_zoo_errors([&] { parse_checkpoint_meta(std::string(reinterpret_cast<const char*>(data), size), path); });
  return 0;
}
