#include "lib/core/option_schema.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace zoo {

namespace {

bool integral(double v) { return std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9.2e18; }

std::string words_text(const std::vector<std::string>& words, const char* last_joint) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) out += (i == 0 ? "" : i + 1 == words.size() ? last_joint : ", ") + words[i];
  return out;
}

}  // namespace

bool Allowed::admits(double value) const {
  if (std::isnan(value)) return false;
  if (min && (min_open ? !(value > *min) : !(value >= *min))) return false;
  if (max && (max_open ? !(value < *max) : !(value <= *max))) return false;
  return true;
}

bool Allowed::admits(const std::string& word) const {
  return words.empty() || std::find(words.begin(), words.end(), word) != words.end();
}

std::string Allowed::text() const {
  if (!words.empty()) return words_text(words, " or ");
  if (min && !max) return min_open ? "above " + format_value(*min) : format_value(*min) + " or more";
  if (max && !min) return max_open ? "below " + format_value(*max) : format_value(*max) + " or less";
  if (min && max) return std::string(min_open ? "(" : "[") + format_value(*min) + ", " + format_value(*max) + (max_open ? ")" : "]");
  return "";
}

Allowed anything() { return {}; }
Allowed at_least(double min) { return {min, std::nullopt, false, false, {}}; }
Allowed positive() { return {0.0, std::nullopt, true, false, {}}; }
Allowed fraction() { return {0.0, 1.0, false, true, {}}; }
Allowed probability() { return {0.0, 1.0, false, false, {}}; }
Allowed in_range(double min, double max, const char* ends) { return {min, max, ends[0] == '(', ends[1] == ')', {}}; }
Allowed one_of(std::vector<std::string> words) { return {std::nullopt, std::nullopt, false, false, std::move(words)}; }

std::string OptionInfo::type_name() const {
  switch (type) {
    case OptionType::Int: return "int";
    case OptionType::Float: return "float";
    case OptionType::Bool: return "bool";
    case OptionType::String: return "string";
    case OptionType::Ints: return "ints";
    case OptionType::Floats: return "floats";
  }
  return "?";
}

Json OptionInfo::parse(const std::string& text) const {
  auto fail = [&](const std::string& expected) -> Json {
    throw UsageError("invalid " + name + " '" + text + "': expected " + expected);
  };
  switch (type) {
    case OptionType::Bool: {
      const auto v = parse_bool(text);
      return v ? Json(*v) : fail("true or false");
    }
    case OptionType::Int: {
      const auto v = parse_int(text);
      return v ? check(*v) : fail("an integer");
    }
    case OptionType::Float: {
      const auto v = parse_number(text);
      return v ? check(*v) : fail("a number");
    }
    case OptionType::String: return check(text);
    case OptionType::Ints:
    case OptionType::Floats: {
      const char* expected = type == OptionType::Ints ? "a comma-separated list of integers" : "a comma-separated list of numbers";
      Json list = Json::array();
      std::stringstream in(text);
      for (std::string item; std::getline(in, item, ',');) {
        const auto v = parse_number(item);
        if (!v) fail(expected);
        list.push_back(*v);
      }
      if (list.empty()) fail(expected);
      return check(list);
    }
  }
  return fail("a value");
}

// Checks run at every --set, checkpoint load and model construction: the message is built only
// when a value fails.
Json OptionInfo::check(const Json& value) const {
  auto fail = [&](const std::string& expected) -> Json {
    const std::string shown = value.is_string() ? "'" + value.get<std::string>() + "'" : value.dump();
    throw UsageError("invalid " + name + " " + shown + ": expected " + expected);
  };
  auto number = [&](const Json& v, bool whole) {
    if (!v.is_number() || (whole && !integral(v.get<double>()))) fail(whole ? "an integer" : "a number");
    const double d = v.get<double>();
    if (!allowed.admits(d)) fail(std::string(whole ? "an integer " : "a number ") + (allowed.min && allowed.max ? "in " : "") + allowed.text());
    return d;
  };
  switch (type) {
    case OptionType::Bool:
      if (!value.is_boolean()) fail("true or false");
      return value;
    case OptionType::Int: return Json(static_cast<int64_t>(number(value, true)));
    case OptionType::Float: return Json(number(value, false));
    case OptionType::String:
      if (!value.is_string()) fail("a string");
      if (!allowed.admits(value.get<std::string>())) fail(allowed.text());
      return value;
    case OptionType::Ints:
    case OptionType::Floats: {
      const bool whole = type == OptionType::Ints;
      Json items = value.is_array() ? value : Json::array({value});
      Json out = Json::array();
      for (const auto& item : items) {
        const double d = number(item, whole);
        out.push_back(whole ? Json(static_cast<int64_t>(d)) : Json(d));
      }
      if (out.empty()) fail(whole ? "a list of integers" : "a list of numbers");
      return out;
    }
  }
  return value;
}

Json OptionInfo::to_json() const {
  Json out = {{"name", name}, {"type", type_name()}, {"default", default_value}, {"help", help}};
  if (!allowed.words.empty()) out["choices"] = allowed.words;
  if (allowed.min) out[allowed.min_open ? "above" : "min"] = *allowed.min;
  if (allowed.max) out[allowed.max_open ? "below" : "max"] = *allowed.max;
  return out;
}

const OptionInfo* OptionSet::find(const std::string& name) const {
  for (const auto& part : parts_)
    for (const auto& info : part.options)
      if (info.name == name) return &info;
  return nullptr;
}

Json OptionSet::defaults() const {
  Json out = Json::object();
  for (const auto& part : parts_)
    for (const auto& info : part.options) out[info.name] = info.default_value;
  return out;
}

std::string OptionSet::names() const {
  std::vector<std::string> all;
  for (const auto& part : parts_)
    for (const auto& info : part.options) all.push_back(info.name);
  std::sort(all.begin(), all.end());
  std::string out;
  for (const auto& name : all) out += (out.empty() ? "" : ", ") + name;
  return out;
}

Json OptionSet::resolve(const std::vector<std::string>& assignments, const std::string& owner, const Json& base) const {
  Json out = defaults();
  auto unknown = [&](const std::string& key) {
    throw UsageError("unknown option '" + key + "' for " + owner + "; valid keys: " + names());
  };
  for (auto it = base.begin(); it != base.end(); ++it) {
    const OptionInfo* info = find(it.key());
    if (!info) unknown(it.key());
    out[it.key()] = info->check(it.value());
  }
  for (const auto& assignment : assignments) {
    const auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError("--set expects key=value, got '" + assignment + "'");
    const std::string key = assignment.substr(0, eq);
    const OptionInfo* info = find(key);
    if (!info) unknown(key);
    out[key] = info->parse(assignment.substr(eq + 1));
  }
  for (const auto& part : parts_) part.check(out);
  for (const auto& rule : rules_) rule(out);
  return out;
}

}  // namespace zoo
