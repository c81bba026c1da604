// What `zoo models` prints about the registered models' options, read from their declarations
// (lib/core/option_schema.h): one model's table, and the Markdown of docs/MODELS.md's options
// section (tests/cli/test_cli.sh holds the document to it; scripts/update_models_md.sh rewrites it).
#pragma once
#include <string>

#include "lib/core/registry.h"

namespace zoo::cli {

// A value as --set takes it: 0.1, true, rrc, 2,2,6,2; "" for an empty string.
std::string value_text(const Json& value);

// "int, 1 or more", "float in [0, 1)", "gru, lstm or rnn": an option's type and allowed values.
std::string option_values_text(const OptionInfo& option);

// A training recipe as flags: "--opt adamw --lr 0.001 --weight-decay 0.1 ...".
std::string recipe_text(const Recipe& recipe);

// One model: its options as a table (name, values, default, meaning), for a terminal.
std::string model_details_text(const ModelSpec& model);

// Every model's options grouped by the declaration they come from, one Markdown table per
// declaration and task, with each model's default where models differ.
std::string options_markdown(const Registry& registry);

}  // namespace zoo::cli
