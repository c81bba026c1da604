// `zoo completion bash|zsh`: a shell-completion script generated from the option tables the
// command line parses (apps/zoo/commands.cpp) and the registry (model names, each model's --set
// keys), so it can never offer a flag zoo does not take.
#pragma once
#include <string>
#include <vector>

#include "apps/zoo/cli.h"

namespace zoo::cli {

// `commands`: every (sub)command by its words ("train", "data synth"). UsageError for another shell.
std::string completion_script(const std::string& shell, const std::vector<std::pair<std::string, const Command*>>& commands);

}  // namespace zoo::cli
