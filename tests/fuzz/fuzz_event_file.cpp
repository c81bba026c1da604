// Fuzz target: a TensorBoard event file as `zoo plot` and a resumed run read it
// (lib/train/tensorboard.h): the TFRecord framing and CRCs, then each record as an Event.
#include "lib/train/tensorboard.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  fuzz::expect_only_zoo_errors([&] {
    const auto scan = tensorboard::scan_records(bytes);
    if (scan.intact_bytes > bytes.size()) __builtin_trap();
    for (const auto& record : scan.records) tensorboard::parse_event(record);
    // The input as one record's data too: the CRCs stop most mutations before the parser.
    tensorboard::parse_event(bytes);
    if (tensorboard::scan_records(tensorboard::frame_record(bytes)).records.size() != 1) __builtin_trap();
  });
  return 0;
}
