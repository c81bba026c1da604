// Options declared once, beside the config struct they fill: each option's name, type, default
// (read off the struct), allowed values or range, and one line of help. The registry, `zoo
// models` (text, --json, --markdown for docs/MODELS.md), --set parsing and validation and the
// checkpoint's meta all read these declarations, so a bad --set is refused before any data is
// read or model built, with one line naming the option.
//
//   struct GptConfig { int64_t layers = 6; double dropout = 0.2; ... };
//   const OptionSchema<GptConfig>& gpt_options() {
//     static const auto schema = OptionSchema<GptConfig>("gpt")
//         .option("layers", &GptConfig::layers, at_least(1), "transformer blocks")
//         .option("dropout", &GptConfig::dropout, fraction(), "on embeddings, attention and residual branches")
//         .rule([](const GptConfig& c) { if (c.width % c.heads) throw UsageError("..."); });
//     return schema;
//   }
#pragma once
#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/core/error.h"
#include "lib/core/options.h"

namespace zoo {

// The values an option admits: a range for numbers (for lists: each element), or a set of words.
struct Allowed {
  std::optional<double> min, max;
  bool min_open = false, max_open = false;  // the bound itself is excluded
  std::vector<std::string> words;
  bool admits(double value) const;
  bool admits(const std::string& word) const;
  std::string text() const;  // "1 or more", "[0, 1)", "rnn|gru|lstm"; "" for anything
};
Allowed anything();
Allowed at_least(double min);             // [min, inf)
Allowed positive();                       // (0, inf)
Allowed fraction();                       // [0, 1): dropout rates
Allowed probability();                    // [0, 1]
Allowed in_range(double min, double max, const char* ends);  // ends "[]", "[)", "(]" or "()"
Allowed one_of(std::vector<std::string> words);

enum class OptionType { Int, Float, Bool, String, Ints, Floats };

// One option as the user sees it.
struct OptionInfo {
  std::string name;
  OptionType type = OptionType::String;
  Allowed allowed;
  std::string help;
  Json default_value;  // set where a model registers the schema with its defaults

  std::string type_name() const;  // int | float | bool | string | ints | floats
  // The typed value of --set NAME=TEXT: UsageError naming the option, the text and what it expects.
  Json parse(const std::string& text) const;
  // A JSON value (a config file's, a checkpoint's) as this option's type, checked the same way.
  Json check(const Json& value) const;
  Json to_json() const;  // for zoo models --json
};

template <class Config>
class OptionSchema {
 public:
  // `title` heads the schema's table in docs/MODELS.md ("ResNet", "image preprocessing").
  explicit OptionSchema(std::string title) : title_(std::move(title)) {}

  OptionSchema& option(const char* name, int64_t Config::*field, Allowed allowed, const char* help) {
    return add(name, OptionType::Int, std::move(allowed), help, field);
  }
  OptionSchema& option(const char* name, double Config::*field, Allowed allowed, const char* help) {
    return add(name, OptionType::Float, std::move(allowed), help, field);
  }
  OptionSchema& option(const char* name, bool Config::*field, const char* help) {
    return add(name, OptionType::Bool, anything(), help, field);
  }
  OptionSchema& option(const char* name, std::string Config::*field, Allowed allowed, const char* help) {
    return add(name, OptionType::String, std::move(allowed), help, field);
  }
  OptionSchema& option(const char* name, std::vector<int64_t> Config::*field, Allowed allowed, const char* help) {
    return add(name, OptionType::Ints, std::move(allowed), help, field);
  }
  OptionSchema& option(const char* name, std::vector<double> Config::*field, Allowed allowed, const char* help) {
    return add(name, OptionType::Floats, std::move(allowed), help, field);
  }
  // A rule across options (luong_dot needs hidden equal to the encoder's output width); it throws
  // UsageError naming the options and their values.
  OptionSchema& rule(std::function<void(const Config&)> check) {
    rules_.push_back(std::move(check));
    return *this;
  }

  const std::string& title() const { return title_; }
  // The options, with `defaults`' values as their defaults.
  std::vector<OptionInfo> infos(const Config& defaults) const {
    std::vector<OptionInfo> out;
    for (const auto& f : fields_) {
      out.push_back(f.info);
      out.back().default_value = f.get(defaults);
    }
    return out;
  }
  Json to_json(const Config& config) const {
    Json out = Json::object();
    for (const auto& f : fields_) out[f.info.name] = f.get(config);
    return out;
  }
  // `base` (a declared default) with each option that `values` holds set from it, typed and
  // checked, then the rules. Keys of other schemas are left alone.
  Config read(const Json& values, Config base) const {
    for (const auto& f : fields_)
      if (values.contains(f.info.name) && !values.at(f.info.name).is_null()) f.set(base, f.info.check(values.at(f.info.name)));
    for (const auto& rule : rules_) rule(base);
    return base;
  }
  // Every option's allowed values, then the rules: what a constructor calls before it builds.
  void check(const Config& config) const {
    for (const auto& f : fields_) f.info.check(f.get(config));
    for (const auto& rule : rules_) rule(config);
  }

 private:
  struct Field {
    OptionInfo info;
    std::function<Json(const Config&)> get;
    std::function<void(Config&, const Json&)> set;
  };
  template <class T>
  OptionSchema& add(const char* name, OptionType type, Allowed allowed, const char* help, T Config::*field) {
    Field f;
    f.info.name = name, f.info.type = type, f.info.allowed = std::move(allowed), f.info.help = help;
    f.get = [field](const Config& c) { return Json(c.*field); };
    f.set = [field](Config& c, const Json& v) { c.*field = v.get<T>(); };
    fields_.push_back(std::move(f));
    return *this;
  }

  std::string title_;
  std::vector<Field> fields_;
  std::vector<std::function<void(const Config&)>> rules_;
};

// The options of one registered model: pieces of several schemas (its preprocessing or text
// options, its architecture), each with the defaults this model gives them.
class OptionSet {
 public:
  struct Part {
    std::string title;
    std::vector<OptionInfo> options;  // with this model's defaults
    std::function<void(const Json&)> check;  // reads the part's struct from a complete set: allowed values and rules
  };

  // Adds `schema`'s options with `defaults`' values, but for those named in `left_out` (a
  // variant without them: seq2seq has no attention).
  template <class Config>
  OptionSet& add(const OptionSchema<Config>& schema, const Config& defaults, const std::vector<std::string>& left_out = {}) {
    Part part;
    part.title = schema.title();
    for (auto& info : schema.infos(defaults))
      if (std::find(left_out.begin(), left_out.end(), info.name) == left_out.end()) part.options.push_back(std::move(info));
    const auto* s = &schema;  // schemas are function-local statics: they outlive every registry
    part.check = [s, defaults](const Json& values) { s->read(values, defaults); };
    for (const auto& info : part.options)
      if (find(info.name)) throw std::logic_error("option declared twice: " + info.name);
    parts_.push_back(std::move(part));
    return *this;
  }

  // Every part and rule of `other` after this set's (a wrapped model's options, then the
  // wrapper's); a name in both is a logic_error.
  OptionSet& append(const OptionSet& other) {
    for (const auto& part : other.parts_) {
      for (const auto& info : part.options)
        if (find(info.name)) throw std::logic_error("option declared twice: " + info.name);
      parts_.push_back(part);
    }
    rules_.insert(rules_.end(), other.rules_.begin(), other.rules_.end());
    return *this;
  }

  // A rule across parts (a ViT's input_size against its patch_size), on the complete options.
  OptionSet& rule(std::function<void(const Json&)> check) {
    rules_.push_back(std::move(check));
    return *this;
  }

  const std::vector<Part>& parts() const { return parts_; }
  const OptionInfo* find(const std::string& name) const;
  Json defaults() const;
  std::string names() const;  // "a, b, c", sorted, for messages
  // defaults <- `base` (typed values: a config file's, a checkpoint's) <- `assignments`
  // ("key=TEXT" from --set): every key known, every value typed and allowed, every rule kept;
  // else UsageError naming the option and `owner` ("model gpt").
  Json resolve(const std::vector<std::string>& assignments, const std::string& owner, const Json& base = Json::object()) const;

 private:
  std::vector<Part> parts_;
  std::vector<std::function<void(const Json&)>> rules_;
};

}  // namespace zoo
