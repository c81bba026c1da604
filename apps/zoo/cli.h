// The command line's option tables and their resolution into one JSON object per command:
// defaults <- (for --resume, the run's config.json) <- --config FILE <- flags given.
#pragma once
#include <CLI/CLI.hpp>

#include <map>
#include <string>
#include <vector>

#include "lib/core/options.h"

namespace zoo::cli {

enum class Kind { Value, Flag, List, Positional };  // Positional: the words after the command (a list)

struct OptionSpec {
  std::string flag;    // without dashes: "batch-size"; its JSON key is "batch_size"
  Json default_value;  // null: unset unless given
  Json like;           // a value of the option's type (for parsing text)
  std::string help;
  Kind kind = Kind::Value;
  std::string type_name = "";  // shown in --help
};

// "batch-size" <-> "batch_size": a flag's JSON key, and the flag (with its dashes) of a key.
std::string key_of(const std::string& flag);
std::string flag_of(const std::string& key);

// One subcommand's options bound to CLI11 storage.
class Command {
 public:
  Command(CLI::App& parent, const std::string& name, const std::string& description, std::vector<OptionSpec> specs);
  CLI::App* app() const { return app_; }
  bool parsed() const { return app_->parsed(); }
  // The effective options; `base` (a resumed run's config) sits between defaults and the file.
  Json resolve(const Json& base = Json::object()) const;
  // Whether the user gave this option on the command line or in --config.
  bool given(const std::string& flag) const;
  const std::string& name() const { return app_->get_name(); }
  const std::vector<OptionSpec>& specs() const { return specs_; }

 private:
  CLI::App* app_;
  std::vector<OptionSpec> specs_;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> flags_;
  std::map<std::string, std::vector<std::string>> lists_;
  bool config_file_option_ = false;  // --config is the JSON options file (not so for bench)
};

// Options every command takes (CLI.md): device, threads, seed, config.
std::vector<OptionSpec> common_options();

}  // namespace zoo::cli
