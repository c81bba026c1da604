// The zoo subcommands: their option tables and what each runs.
#pragma once
#include <memory>
#include <vector>

#include "apps/zoo/cli.h"

namespace zoo::cli {

struct Commands {
  std::unique_ptr<Command> models, train, eval, predict, export_, visualize, import, data, data_synth, data_tokenize, bench, plot, runs, completion;
};

Commands make_commands(CLI::App& app);
int run_command(const Commands& commands, CLI::App& app);

}  // namespace zoo::cli
