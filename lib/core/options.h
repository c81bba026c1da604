// Options as a flat JSON object with typed, validated access. Every value that reaches a
// command (defaults, --config file, flags, --set) ends up here, so config.json can replay it.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace zoo {

using Json = nlohmann::json;

class Options {
 public:
  // `what` names the options in messages: "option" (--name) or "model option" (--set name=).
  explicit Options(Json values = Json::object(), std::string what = "option");

  bool has(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<double> get_doubles(const std::string& key) const;

  const Json& json() const { return values_; }
  Json& json() { return values_; }

 private:
  const Json& at(const std::string& key) const;
  [[noreturn]] void bad_value(const std::string& key, const char* expected) const;
  Json values_;
  std::string what_;
};

// Text as a value, the whole text or nothing: "true|1|yes|on" / "false|0|no|off"; an integer; a
// number (stod's syntax). What flags, config files and --set share.
std::optional<bool> parse_bool(const std::string& text);
std::optional<int64_t> parse_int(const std::string& text);
std::optional<double> parse_number(const std::string& text);

// A double as a person reads it in a message: "0.001", "-1", "nan".
std::string format_value(double value);

// Converts one textual value to the JSON type of `like`; throws UsageError naming `key`.
Json convert_like(const Json& like, const std::string& text, const std::string& key);

}  // namespace zoo
