// Fuzz target: option values from a --config JSON file or --set key=value (lib/core/options.h,
// lib/core/option_schema.h): each member of the input object is converted like a command-line
// default of every JSON type, applied as a --set assignment to a model's declared options, and
// checked as a typed value (what a checkpoint's model options are).
#include "lib/core/option_schema.h"
#include "lib/core/options.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

// One option of each type, a range, allowed words and a rule across options.
struct Example {
  int64_t hidden = 256;
  double dropout = 0.1;
  std::string attention = "bahdanau";
  bool tied = false;
  std::vector<double> mean{0.5, 0.5, 0.5};
  std::vector<int64_t> depths{2, 2};
};

const zoo::OptionSet& example_options() {
  using namespace zoo;
  static const auto schema = OptionSchema<Example>("example")
                                 .option("hidden", &Example::hidden, at_least(1), "")
                                 .option("dropout", &Example::dropout, fraction(), "")
                                 .option("attention", &Example::attention, one_of({"bahdanau", "luong"}), "")
                                 .option("tied", &Example::tied, "")
                                 .option("mean", &Example::mean, anything(), "")
                                 .option("depths", &Example::depths, at_least(1), "")
                                 .rule([](const Example& c) {
                                   if (c.depths.size() > 8) throw UsageError("too many stages");
                                 });
  static const OptionSet options = OptionSet().add(schema, Example{});
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  const Json doc = Json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> assignments;
  if (doc.is_object()) {
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      const std::string value = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
      assignments.push_back(it.key() + "=" + value);
      for (const auto& like : {Json(1), Json(0.5), Json("s"), Json(true), Json::array({1.0, 2.0})})
        fuzz::expect_only_zoo_errors([&] { convert_like(like, value, it.key()); });
    }
    fuzz::expect_only_zoo_errors([&] { example_options().resolve({}, "model m", doc); });
  } else {
    // Not JSON: the raw bytes as --set arguments, one per line.
    std::string line;
    for (size_t i = 0; i <= size; ++i) {
      if (i == size || data[i] == '\n') assignments.push_back(std::exchange(line, {}));
      else line += static_cast<char>(data[i]);
    }
  }
  fuzz::expect_only_zoo_errors([&] { example_options().resolve(assignments, "model m"); });
  return 0;
}
