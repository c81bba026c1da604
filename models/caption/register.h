// The caption family's entries in the model registry.
#pragma once
#include "lib/core/registry.h"

namespace zoo {

// Needs the vision family registered first: the encoder is one of its classifiers.
void register_caption_models(Registry& registry);

}  // namespace zoo
