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
  if (v.is_string()) {
    try {
      size_t used = 0;
      int64_t out = std::stoll(v.get<std::string>(), &used);
      if (used == v.get<std::string>().size()) return out;
    } catch (const std::exception&) {
    }
  }
  bad_value(key, "an integer");
}

double Options::get_double(const std::string& key) const {
  const Json& v = at(key);
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    try {
      size_t used = 0;
      double out = std::stod(v.get<std::string>(), &used);
      if (used == v.get<std::string>().size()) return out;
    } catch (const std::exception&) {
    }
  }
  bad_value(key, "a number");
}

bool Options::get_bool(const std::string& key) const {
  const Json& v = at(key);
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    auto s = v.get<std::string>();
    if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  }
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

Json convert_like(const Json& like, const std::string& text, const std::string& key) {
  auto fail = [&](const char* expected) -> Json {
    throw UsageError("invalid value for '" + key + "': expected " + expected + ", got '" + text + "'");
  };
  try {
    size_t used = 0;
    if (like.is_boolean()) {
      if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
      if (text == "false" || text == "0" || text == "no" || text == "off") return false;
      return fail("true or false");
    }
    if (like.is_number_integer()) {
      int64_t v = std::stoll(text, &used);
      return used == text.size() ? Json(v) : fail("an integer");
    }
    if (like.is_number_float()) {
      double v = std::stod(text, &used);
      return used == text.size() ? Json(v) : fail("a number");
    }
    if (like.is_array()) {
      Json out = Json::array();
      std::stringstream in(text);
      std::string item;
      while (std::getline(in, item, ',')) {
        double v = std::stod(item, &used);
        if (used != item.size()) return fail("a comma-separated list of numbers");
        out.push_back(v);
      }
      return out;
    }
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception&) {
    return fail(like.is_boolean() ? "true or false" : like.is_number_integer() ? "an integer" : "a number");
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
