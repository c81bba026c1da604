#include "lib/core/options.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "lib/core/error.h"

namespace zoo {

Options::Options(Json values, std::string what) : values_(std::move(values)), what_(std::move(what)) {
  if (!values_.is_object()) throw UsageError(what_ + "s must be a JSON object");
}

bool Options::has(const std::string& key) const {
  return values_.contains(key) && !values_.at(key).is_null();
}

const Json& Options::at(const std::string& key) const {
  if (!values_.contains(key)) throw UsageError("missing " + what_ + " '" + key + "'");
  return values_.at(key);
}

void Options::bad_value(const std::string& key, const char* expected) const {
  throw UsageError("invalid " + what_ + " '" + key + "': expected " + expected + ", got " +
                   values_.at(key).dump());
}

int64_t Options::get_int(const std::string& key) const {
  const Json& v = at(key);
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())))
    return static_cast<int64_t>(v.get<double>());
  if (v.is_string())
    if (const auto parsed = parse_int(v.get<std::string>())) return *parsed;
  bad_value(key, "an integer");
}

double Options::get_double(const std::string& key) const {
  const Json& v = at(key);
  if (v.is_number()) return v.get<double>();
  if (v.is_string())
    if (const auto parsed = parse_number(v.get<std::string>())) return *parsed;
  bad_value(key, "a number");
}

bool Options::get_bool(const std::string& key) const {
  const Json& v = at(key);
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string())
    if (const auto parsed = parse_bool(v.get<std::string>())) return *parsed;
  if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1)) return v.get<int64_t>() == 1;
  bad_value(key, "true or false");
}

std::string Options::get_string(const std::string& key) const {
  const Json& v = at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return v.dump();
  bad_value(key, "a string");
}

std::vector<double> Options::get_doubles(const std::string& key) const {
  const Json& v = at(key);
  if (v.is_array()) {
    std::vector<double> out;
    for (const auto& x : v) {
      if (!x.is_number()) bad_value(key, "a list of numbers");
      out.push_back(x.get<double>());
    }
    return out;
  }
  if (v.is_number()) return {v.get<double>()};
  bad_value(key, "a list of numbers");
}

std::optional<bool> parse_bool(const std::string& text) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  return std::nullopt;
}

std::optional<int64_t> parse_int(const std::string& text) {
  try {
    size_t used = 0;
    const int64_t value = std::stoll(text, &used);
    if (used == text.size()) return value;
  } catch (const std::exception&) {  // not a number, or out of range
  }
  return std::nullopt;
}

std::optional<double> parse_number(const std::string& text) {
  try {
    size_t used = 0;
    const double value = std::stod(text, &used);
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

Json convert_like(const Json& like, const std::string& text, const std::string& key) {
  auto fail = [&](const char* expected) -> Json {
    throw UsageError("invalid value for '" + key + "': expected " + expected + ", got '" + text + "'");
  };
  if (like.is_boolean()) {
    const auto v = parse_bool(text);
    return v ? Json(*v) : fail("true or false");
  }
  if (like.is_number_integer()) {
    const auto v = parse_int(text);
    return v ? Json(*v) : fail("an integer");
  }
  if (like.is_number_float()) {
    const auto v = parse_number(text);
    return v ? Json(*v) : fail("a number");
  }
  if (like.is_array()) {
    Json out = Json::array();
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');) {
      const auto v = parse_number(item);
      if (!v) return fail("a comma-separated list of numbers");
      out.push_back(*v);
    }
    return out;
  }
  return text;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "nan";  // printf's "-nan" reads like a different thing
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

}  // namespace zoo
