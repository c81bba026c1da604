// The seq2seq family's entries in the model registry.
#pragma once
#include "lib/core/registry.h"

namespace zoo {

void register_seq2seq_models(Registry& registry);

}  // namespace zoo
