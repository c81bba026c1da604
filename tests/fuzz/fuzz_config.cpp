// Fuzz target: option values from a --config JSON file or --set key=value (lib/core/options.h):
// each member of the input object is converted like a default of every JSON type and applied as
// a model option override.
#include "lib/core/options.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  static const Json defaults = {{"hidden", 256}, {"dropout", 0.1}, {"attention", "bahdanau"}, {"tied", false}, {"mean", {0.5, 0.5, 0.5}}};
  const Json doc = Json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> assignments;
  if (doc.is_object()) {
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      const std::string value = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
      assignments.push_back(it.key() + "=" + value);
      for (const auto& like : {Json(1), Json(0.5), Json("s"), Json(true), Json::array({1.0, 2.0})})
        fuzz::expect_only_zoo_errors([&] { convert_like(like, value, it.key()); });
    }
  } else {
    // Not JSON: the raw bytes as --set arguments, one per line.
    std::string line;
    for (size_t i = 0; i <= size; ++i) {
      if (i == size || data[i] == '\n') assignments.push_back(std::exchange(line, {}));
      else line += static_cast<char>(data[i]);
    }
  }
  fuzz::expect_only_zoo_errors([&] { apply_overrides(defaults, assignments, "model m"); });
  return 0;
}
