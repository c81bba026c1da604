#include "apps/zoo/cli.h"

#include <algorithm>
#include <fstream>

#include "lib/core/error.h"

namespace zoo::cli {

std::string key_of(const std::string& flag) {
  std::string key = flag;
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

std::string flag_of(const std::string& key) {
  std::string flag = key;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return "--" + flag;
}

std::vector<OptionSpec> common_options() {
  return {
      {"device", "auto", "", "auto | cpu | cuda | cuda:N (auto: CUDA when available, else CPU)", Kind::Value, "DEVICE"},
      {"threads", 0, 0, "intra-op threads (0: every core this process may use)", Kind::Value, "N"},
      {"seed", 0, 0, "random seed", Kind::Value, "N"},
      {"config", nullptr, "", "JSON file of options (keys as the long flags, - or _); flags given win", Kind::Value, "FILE.json"},
  };
}

Command::Command(CLI::App& parent, const std::string& name, const std::string& description, std::vector<OptionSpec> specs)
    : app_(parent.add_subcommand(name, description)), specs_(std::move(specs)) {
  // A command's own meaning of a common flag wins (bench --config names benchmarks, CLI.md).
  for (const auto& extra : common_options()) {
    const bool own = std::any_of(specs_.begin(), specs_.end(), [&](const OptionSpec& s) { return s.flag == extra.flag; });
    if (own) continue;
    if (extra.flag == "config") config_file_option_ = true;
    specs_.push_back(extra);
  }
  for (const auto& spec : specs_) {
    const std::string flag = "--" + spec.flag;
    std::string help = spec.help;
    if (!spec.default_value.is_null() && spec.kind == Kind::Value)
      help += " [default: " + (spec.default_value.is_string() ? spec.default_value.get<std::string>() : spec.default_value.dump()) + "]";
    if (spec.kind == Kind::Flag) {
      app_->add_flag(flag, flags_[spec.flag], help);
    } else if (spec.kind == Kind::Positional) {
      app_->add_option(spec.flag, lists_[spec.flag], help)->type_name(spec.type_name.empty() ? "TEXT" : spec.type_name);
    } else if (spec.kind == Kind::List) {
      app_->add_option(flag, lists_[spec.flag], help)->type_name(spec.type_name.empty() ? "TEXT" : spec.type_name);
    } else {
      // A flag given twice takes its last value, as a script appending to a base command expects.
      app_->add_option(flag, values_[spec.flag], help)
          ->type_name(spec.type_name.empty() ? "TEXT" : spec.type_name)
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  }
}

bool Command::given(const std::string& flag) const {
  for (const auto& spec : specs_)
    if (spec.flag == flag && spec.kind == Kind::Positional) return app_->get_option(flag)->count() > 0;
  return app_->get_option("--" + flag)->count() > 0;
}

Json Command::resolve(const Json& base) const {
  Json out = Json::object();
  std::map<std::string, const OptionSpec*> by_key;
  for (const auto& spec : specs_) {
    out[key_of(spec.flag)] = spec.kind == Kind::Flag                                         ? Json(false)
                             : spec.kind == Kind::List || spec.kind == Kind::Positional ? Json::array()
                                                                                          : spec.default_value;
    by_key[key_of(spec.flag)] = &spec;
  }
  for (auto it = base.begin(); it != base.end(); ++it)
    if (by_key.count(it.key())) out[it.key()] = it.value();

  // --config FILE: any option, command-line flags win.
  const std::string config_path = config_file_option_ && values_.count("config") ? values_.at("config") : "";
  if (!config_path.empty()) {
    std::ifstream in(config_path);
    if (!in) throw Error("cannot read config file " + config_path);
    Json file;
    try {
      file = Json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
      throw Error("config file " + config_path + " is not valid JSON: " + first_line(e.what()));
    }
    if (!file.is_object()) throw UsageError("config file " + config_path + " must hold a JSON object");
    for (auto it = file.begin(); it != file.end(); ++it) {
      const std::string key = key_of(it.key());
      // A run's config.json also records facts that are not options (world_size, the number of
      // processes it ran in); replaying it with --config takes the options.
      if (key == "config" || key == "world_size") continue;
      if (!by_key.count(key)) throw UsageError("unknown option '" + it.key() + "' in config file " + config_path + " for " + app_->get_name());
      const OptionSpec& spec = *by_key.at(key);
      Json value = it.value();
      if (spec.kind == Kind::Positional && value.is_string()) value = Json::array({value});
      if (spec.kind == Kind::List && value.is_object()) {  // "set": {"hidden": 512} -> ["hidden=512"]
        Json list = Json::array();
        for (auto kv = value.begin(); kv != value.end(); ++kv)
          list.push_back(kv.key() + "=" + (kv.value().is_string() ? kv.value().get<std::string>() : kv.value().dump()));
        value = list;
      } else if (spec.kind == Kind::List && value.is_string()) {
        value = Json::array({value});
      }
      if (spec.kind == Kind::Value && value.is_string() && !spec.like.is_string()) value = convert_like(spec.like, value.get<std::string>(), it.key());
      out[key] = value;
    }
  }
  for (const auto& spec : specs_) {
    if (!given(spec.flag)) continue;
    const std::string key = key_of(spec.flag);
    if (spec.kind == Kind::Flag) out[key] = flags_.at(spec.flag);
    else if (spec.kind == Kind::List || spec.kind == Kind::Positional) out[key] = lists_.at(spec.flag);
    else out[key] = convert_like(spec.like, values_.at(spec.flag), "--" + spec.flag);
  }
  if (config_file_option_) out.erase("config");
  return out;
}

}  // namespace zoo::cli
